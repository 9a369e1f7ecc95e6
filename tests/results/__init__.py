"""Tests of ``marlpipe/results/``."""
