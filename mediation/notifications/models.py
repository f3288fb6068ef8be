"""A user's notifications: one row per (user, event) that an event's recipient rules name."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mediation.extensions import UTCDateTime, db


class Notification(db.Model):
    """An event that concerns a user, in their list until they read it.

    Written in the event's own transaction (`centre.record`), so a notification exists
    exactly when its event does. `read_at` is set once, by a conditional update.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "event_id", name="uq_notifications_user_event"),
        sa.Index("ix_notifications_user_unread", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id"), index=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    type: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
