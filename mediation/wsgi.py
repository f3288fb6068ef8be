"""The WSGI application for gunicorn: `gunicorn … 'mediation.wsgi:app'`.

On a configuration error the process ends with gunicorn's "app failed to load" status (4):
the arbiter then stops instead of booting the worker again and again.
"""

from mediation.startup import app_or_exit

GUNICORN_APP_LOAD_ERROR = 4

app = app_or_exit(status=GUNICORN_APP_LOAD_ERROR)
