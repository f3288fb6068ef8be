"""Supervision's own records: survey links and answers, inspections, deductions and
rectifications (季考评)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mediation.extensions import UTCDateTime, db
from mediation.timeline import utcnow


class SurveyInvite(db.Model):
    """A one-time link for the petitioner. Only the SHA-256 of the token is stored, so a
    leaked database gives no working link; `used_at` is set by one conditional update."""

    __tablename__ = "survey_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class SurveyAnswer(db.Model):
    """满意度评价: a rating from 1 to 5 and a comment, one per invite."""

    __tablename__ = "survey_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    invite_id: Mapped[int] = mapped_column(sa.ForeignKey("survey_invites.id"), unique=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    rating: Mapped[int]
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    answered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Inspection(db.Model):
    """An on-site, unannounced inspection of one case (四不两直) with the four checks."""

    __tablename__ = "inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    inspected_on: Mapped[dt.date] = mapped_column(index=True)
    responsibility_in_place: Mapped[bool]  # 责任落实
    truly_resolved: Mapped[bool]  # 诉求真正解决
    procedure_regular: Mapped[bool]  # 程序规范
    file_complete: Mapped[bool]  # 档案完整
    findings: Mapped[str] = mapped_column(sa.Text, default="")
    inspector_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Deduction(db.Model):
    """Annual assessment points lost for fake resolution or idle handling (虚假化解、空转)."""

    __tablename__ = "deductions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    inspection_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inspections.id"))
    kind: Mapped[str] = mapped_column(sa.String(24))  # fake_resolution | idle_handling
    points: Mapped[float] = mapped_column(sa.Numeric(6, 2))
    reason: Mapped[str] = mapped_column(sa.Text)
    decided_on: Mapped[dt.date] = mapped_column(index=True)
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class Rectification(db.Model):
    """整改: what must be put right by when, tracked until done."""

    __tablename__ = "rectifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    deduction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("deductions.id"))
    inspection_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inspections.id"))
    requirement: Mapped[str] = mapped_column(sa.Text)
    due_on: Mapped[dt.date] = mapped_column(index=True)
    done_on: Mapped[dt.date | None]
    done_note: Mapped[str] = mapped_column(sa.Text, default="")
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class Reminder(db.Model):
    """One reminder sent to one user about one item on one day. The unique key is what
    makes the daily job send each item once a day however many times, and in however many
    processes, it runs: an insert that finds the key taken sends nothing."""

    __tablename__ = "reminders"
    __table_args__ = (sa.UniqueConstraint("day", "user_id", "item_key", name="uq_reminders_day_user_item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    # kind:case:name:due, e.g. "owner_duty:12:petitioner_meeting:2026-01-03"
    item_key: Mapped[str] = mapped_column(sa.String(160))
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(24))  # owner_duty | statutory_clock | performance
    due_on: Mapped[dt.date]
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
