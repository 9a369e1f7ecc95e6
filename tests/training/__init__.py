"""Tests of ``marlpipe/training/``."""
