"""Entry point for `celery -A mediation.celery_worker worker|beat`."""

from mediation import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
