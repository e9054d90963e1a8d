"""What custrec's SQL backends share, written once (private).

- :mod:`.dialect`: what a dialect decides (statement rendering, how values are stored);
- :mod:`.session`: the session life cycle and the operation decorator;
- :mod:`.tables`: the table methods whose SQL is the same in every dialect;
- :mod:`.filters`: ``CustomerFilter`` to ``WHERE``;
- :mod:`.rows`: stored rows to ``CustomerRow``, ``ActivityRow``, ``AuditRecord``, ...;
- :mod:`.workflow`: the work table and the change feed (columns, rows, shared statements);
- :mod:`.documents`: the documents table and its links (columns, rows, shared statements);
- :mod:`.migrations`: the forward-only schema runner.

Shared statements are templates: ``{s}.`` prefixes a table (the PostgreSQL schema; nothing in
SQLite) and ``%s`` marks a parameter (``?`` in SQLite).
"""
