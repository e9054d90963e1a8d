"""The SQLite dialect of custrec's SQL backend (private; see :mod:`custrec.backends.sqlite`)."""
