"""Tests of ``marlpipe/pipeline/``."""
