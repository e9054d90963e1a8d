"""``python -m custrec``: the same as the ``custrec`` command."""

from __future__ import annotations

from custrec.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
