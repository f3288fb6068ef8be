"""Realtime's own tables: read markers. Messages themselves are timeline events."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mediation.extensions import UTCDateTime, db
from mediation.timeline import Event, utcnow


class ReadMarker(db.Model):
    """How far one user has read one case's thread: the highest seq they have seen."""

    __tablename__ = "read_markers"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# The per-user rate limit counts a user's recent messages on the timeline; this index
# keeps that count cheap however long the timelines grow.
events_by_actor = sa.Index("ix_events_actor_id_at", Event.actor_id, Event.at)
