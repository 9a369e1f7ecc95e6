"""Tests of ``marlpipe/evolution/``."""
