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
        # A user's list, newest first a page at a time (`centre.listing`): their newest
        # rows by index, whatever the planner guesses of how many a user has.
        sa.Index("ix_notifications_user_newest", "user_id", "id"),
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
    it by a conditional update of `status` before sending.

    A message to a party without an account (a petitioner's receipt with its query code, the
    survey's link) has no notification: it is one (subject, party, channel) — `subject` the
    thing sent (`query_code:<id>`, `survey_invite:<id>`), `party` whom it goes to
    (`petitioner:<id>`, `respondent:<id>`) — unique the same way. Its text carries a secret
    (the code, the link), so it is kept encrypted (`message_cipher`) only until the row is
    sent or given up."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("notification_id", "channel", name="uq_notification_deliveries_pair"),
        sa.UniqueConstraint("subject", "party", "channel", name="uq_notification_deliveries_party"),
        sa.Index("ix_notification_deliveries_due", "status", "not_before"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.ForeignKey("notifications.id"))
    # A party's message (no notification): the case, the template, what and to whom.
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"))
    template: Mapped[str | None] = mapped_column(sa.String(64))
    subject: Mapped[str | None] = mapped_column(sa.String(40))
    party: Mapped[str | None] = mapped_column(sa.String(32))
    message_cipher: Mapped[str | None] = mapped_column(sa.Text)
    channel: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    via: Mapped[str | None] = mapped_column(sa.String(32))  # the adapter that sent it (outbox…)
    detail: Mapped[str | None] = mapped_column(sa.Text)  # the provider's id, or why it failed


class QueryCode(db.Model):
    """A party's query code (查询码), printed on the receipt (受理告知书) for a petitioner or
    on the notice of mediation (调解告知书) for a respondent: exactly one of `petitioner_id`,
    `respondent_id`. Only its SHA-256 is kept: the code is shown once, when issued; issuing
    again revokes the old."""

    __tablename__ = "query_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    petitioner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("petitioners.id"), index=True)
    respondent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_respondents.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    issued_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    consented_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Respondent(db.Model):
    """被申请人: a party on the other side of the dispute (a person, or a unit and the one who
    speaks for it), entered by the case's officers so that it has a channel of its own — a
    query code, consent to mediation, the session's time and place. The phone is encrypted
    at rest like a petitioner's; its last four digits open the query page."""

    __tablename__ = "case_respondents"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    unit: Mapped[str] = mapped_column(sa.String(200), default="")
    phone_enc: Mapped[str | None] = mapped_column(sa.Text)
    phone_tail: Mapped[str | None] = mapped_column(sa.String(4))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ConsentMethod:
    QUERY_PAGE = "query_page"  # the party on the public page, with its code
    WRITTEN = "written"  # a signed paper (书面同意), recorded by an officer
    ORAL = "oral"  # said to an officer in person or by phone, written into the record (口头)


RECORDED_METHODS = (ConsentMethod.WRITTEN, ConsentMethod.ORAL)


class Consent(db.Model):
    """A party's consent to mediation (人民调解法 第十七条), once per party: exactly one of
    `petitioner_id`, `respondent_id`; the unique columns decide between two recorders.
    `given_on` is the Beijing day the party consented; `recorded_by_id` is the officer who
    recorded a paper or oral consent (None: the party on the query page)."""

    __tablename__ = "party_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    petitioner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("petitioners.id"), unique=True)
    respondent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_respondents.id"), unique=True)
    method: Mapped[str] = mapped_column(sa.String(16))
    given_on: Mapped[dt.date]
    note: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
