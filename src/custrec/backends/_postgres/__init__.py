"""The PostgreSQL dialect of custrec's SQL backend (private; see custrec.backends.postgres)."""
