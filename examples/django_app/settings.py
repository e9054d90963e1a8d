"""The project's only settings file (``DJANGO_SETTINGS_MODULE=django_app.settings``).

Secrets and paths come from the environment; nothing here is a key.
"""

from __future__ import annotations

import os

# Django signs nothing here (no sessions, no CSRF cookies), but it refuses to start without a
# SECRET_KEY: set DJANGO_SECRET_KEY (the self-check sets a random one for its run).
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",")
USE_TZ = True

INSTALLED_APPS: list[str] = []  # no models, no admin, no contrib.auth
DATABASES: dict[str, dict[str, str]] = {}  # custrec's store holds the data, not Django's ORM
ROOT_URLCONF = "django_app.urls"
# A JSON API authenticated by a bearer header sends no cookies, so no CSRF middleware; an app
# that authenticates with a session cookie keeps django.middleware.csrf.CsrfViewMiddleware.
MIDDLEWARE = ["django_app.middleware.CustrecMiddleware"]

CUSTREC = {
    "DB": os.environ.get("CUSTREC_DB", "customers.sqlite"),
    # A key file made once with `custrec keys init` (mode 0600, kept apart from the database and
    # its backups); unset: the keys come from CUSTREC_MASTER_KEYS and CUSTREC_INDEX_KEYS.
    "KEY_FILE": os.environ.get("CUSTREC_KEY_FILE"),
    # How long a write waits for SQLite's write lock before the request is answered 503.
    "BUSY_TIMEOUT": float(os.environ.get("CUSTREC_BUSY_TIMEOUT", "5")),
}
