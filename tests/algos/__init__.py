"""Tests of ``marlpipe/algos/``."""
