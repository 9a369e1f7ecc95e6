"""What the tests share (builders, a DVC repo, local services, Ray runs): plain modules, not
test modules; no test module imports another."""
