"""The synthetic customer generator's parts (private; the public API is
:mod:`custrec.testing.synthetic`)."""
