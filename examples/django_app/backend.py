"""The one Registry of this process, built on first use from ``settings.CUSTREC``.

Django runs requests on several threads (runserver, a threaded WSGI server, ASGI's thread pool
for sync views); they all share this Registry, which is thread-safe (see
docs/concurrency-and-frameworks.md). A server that forks worker processes builds one per
worker: the first request of each worker calls :func:`registry` after the fork.
"""

from __future__ import annotations

import atexit
import threading

from django.conf import settings

from custrec import KeyRing, Registry, SQLiteStore

_lock = threading.Lock()
_backend: tuple[Registry, SQLiteStore] | None = None


def registry() -> Registry:
    """The process's Registry (opened once, by whichever request comes first)."""
    global _backend
    if _backend is None:
        with _lock:
            if _backend is None:
                _backend = _open()
                atexit.register(close)
    return _backend[0]


def _open() -> tuple[Registry, SQLiteStore]:
    config = settings.CUSTREC
    # from_env raises KeyConfigurationError when its variables are unset: no key, no start
    keyring = KeyRing.from_file(config["KEY_FILE"]) if config["KEY_FILE"] else KeyRing.from_env()
    store = SQLiteStore(config["DB"], busy_timeout=config["BUSY_TIMEOUT"])
    return Registry(store, keyring=keyring), store


def close() -> None:
    """Close the store (at exit, or when a test is done with it); the next call opens it anew."""
    global _backend
    with _lock:
        if _backend is not None:
            _backend[1].close()
            _backend = None
