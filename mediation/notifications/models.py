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


class Preference(db.Model):
    """A user's outbound channels and addresses. The phone is encrypted at rest (the PII
    key); quiet hours are the service's setting unless the user gives their own."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    channels: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone_cipher: Mapped[str | None] = mapped_column(sa.Text)
    wecom_mobile_cipher: Mapped[str | None] = mapped_column(sa.Text)
    quiet_hours: Mapped[str | None] = mapped_column(sa.String(11))


class DeliveryStatus:
    PENDING = "pending"  # waiting to be sent (or for quiet hours to end)
    SENDING = "sending"  # claimed by one worker; never claimed again (at most once)
    RETRY = "retry"  # failed, to be tried again after `not_before`
    SENT = "sent"
    FAILED = "failed"  # given up after the last attempt, or nowhere to send it


class Delivery(db.Model):
    """One (notification, channel): the unique pair makes it at most once; a worker claims
    it by a conditional update of `status` before sending."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("notification_id", "channel", name="uq_notification_deliveries_pair"),
        sa.Index("ix_notification_deliveries_due", "status", "not_before"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.ForeignKey("notifications.id"))
    channel: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    via: Mapped[str | None] = mapped_column(sa.String(32))  # the adapter that sent it (outbox…)
    detail: Mapped[str | None] = mapped_column(sa.Text)  # the provider's id, or why it failed


class QueryCode(db.Model):
    """A petitioner's query code (查询码), printed on the receipt (受理告知书). Only its
    SHA-256 is kept: the code is shown once, when issued; issuing again revokes the old."""

    __tablename__ = "query_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    petitioner_id: Mapped[int] = mapped_column(sa.ForeignKey("petitioners.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    issued_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    consented_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
