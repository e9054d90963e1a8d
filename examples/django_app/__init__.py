"""custrec in a Django project without a Django database: the project is this package.

    python examples/django_app            # runs the views through Django's test Client
    python examples/django_app runserver  # any other arguments go to Django's manage.py commands

- ``settings.py``: the single settings file. No ``DATABASES``, no contrib apps: customers live
  in custrec's SQLite store (``CUSTREC["DB"]``) under keys from ``CUSTREC["KEY_FILE"]`` or the
  environment.
- ``backend.py``: the one Registry of the process, built on first use.
- ``middleware.py``: the Actor of each request (the authentication stand-in) and the mapping
  of custrec's errors to HTTP answers, in one place (a duplicate names only the customers the
  caller may read: ``readable_ids``).
- ``views.py`` and ``urls.py``: the JSON routes; ``views.py`` holds the fields a client may
  set (``INTAKE_FIELDS``, ``UPDATE_FIELDS``).
- ``__main__.py``: the self-check, or ``manage.py``.
"""
