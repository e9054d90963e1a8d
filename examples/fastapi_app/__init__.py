"""custrec behind a FastAPI service: a small customer service and a duplicate review queue.

    python examples/fastapi_app          # the self-check, through FastAPI's TestClient
    python -m fastapi_app                # the same, from examples/

Serving it for real (``pip install -r examples/fastapi_app/requirements.txt``):

    cd examples
    CUSTREC_DB=crm.sqlite CUSTREC_KEY_FILE=/etc/crm/custrec.keys.json \\
        uvicorn fastapi_app.app:app

``CUSTREC_KEY_FILE`` names a key file made once with ``custrec keys init`` (mode 0600, kept
apart from the database and its backups); without it the keys come from ``CUSTREC_MASTER_KEYS``
and ``CUSTREC_INDEX_KEYS`` (``KeyRing.from_env``). The service never makes up a key: a missing
key source stops it at start-up. The review pages' cookie is ``Secure``: serve them over HTTPS,
or set ``CUSTREC_INSECURE_COOKIES=1`` to try them on http://127.0.0.1.

- ``core.py``: settings, the one Registry of the process, who is calling (the authentication
  stand-in), custrec's errors as HTTP answers (one function), the fields a client may set
  (``INTAKE_FIELDS``, ``UPDATE_FIELDS``), the ids a caller may be told of (``readable_ids``),
  intake with the duplicate check.
- ``app.py``: the JSON routes (customers, search, history, consent, service cases) and the app.
- ``review.py``: the duplicate review queue on ``registry.review`` and ``registry.matching``.
- ``pages.py``: the queue's server-rendered pages (plain HTML forms, sessions, CSRF).
- ``__main__.py``: the self-check.
"""
