"""Tests of ``marlpipe/tracking/``."""
