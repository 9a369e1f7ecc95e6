"""Tests of ``marlpipe/envs/``."""
