"""Tests of ``marlpipe/config/``."""
