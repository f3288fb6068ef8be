"""Live delivery of the timeline over Socket.IO (issue 4). Registered by the app factory."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Nothing yet: live delivery plugs into `mediation.timeline.register_publisher`."""
