"""The conformance contracts, one module per table or area (private; import them from
:mod:`custrec.testing.contracts`)."""
