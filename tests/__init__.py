"""marlpipe's tests: a folder per package folder, the project-level tests here, shared builders
and services in ``helpers/``."""
