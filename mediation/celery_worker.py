"""Entry point for `celery -A mediation.celery_worker worker|beat`."""

from mediation.startup import app_or_exit

flask_app = app_or_exit()
celery = flask_app.extensions["celery"]
