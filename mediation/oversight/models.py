"""Oversight's records (督办与责任): who answers for a region (第一责任人, 直接责任人), a
case's task force (工作专班), supervision orders (督办单) and warning talks / accountability
(约谈提醒, 问责) with the cases they concern."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mediation.extensions import UTCDateTime, db
from mediation.timeline import utcnow

# 第一责任人 (the region's principal leader) and 直接责任人 (the leader in charge).
RESPONSIBLE_KINDS = ("first", "direct")
# 分管领导, 业务骨干, 信访干部
MEMBER_ROLES = ("leader", "backbone", "petition_cadre")
# An order is open until its addressee answers it; an open order past its deadline is
# escalated by the sweep to the next level (the order itself then stays as `escalated`).
ORDER_STATES = ("open", "answered", "escalated")
ORDER_SUBJECTS = ("case", "handover")
RECORD_KINDS = ("warning_talk", "accountability")  # 约谈提醒, 问责
SUBJECT_KINDS = ("person", "region", "department")


class RegionResponsible(db.Model):
    """The person named for a region in one capacity; one per region and capacity (naming
    another replaces them)."""

    __tablename__ = "region_responsibles"
    __table_args__ = (sa.UniqueConstraint("region_code", "kind", name="uq_region_responsibles_region_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(sa.String(6), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    named_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    named_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TaskForceMember(db.Model):
    """A member of a case's 工作专班, in one role; members see the case."""

    __tablename__ = "task_force_members"
    __table_args__ = (sa.UniqueConstraint("case_id", "user_id", name="uq_task_force_members_case_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SupervisionOrder(db.Model):
    """督办单: what must be done by when, addressed to a person, answered in writing.

    `level` counts escalations (0: the first order); an escalated order points at the one
    it replaced (`parent_id`). `state` changes only by conditional updates."""

    __tablename__ = "supervision_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    subject: Mapped[str] = mapped_column(sa.String(12), default="case")
    handover_id: Mapped[int | None] = mapped_column(sa.ForeignKey("handovers.id"), index=True)
    region_code: Mapped[str] = mapped_column(sa.String(6), index=True)  # the addressee's region
    # A person (a region's responsible person), or a department (on an overdue hand-over:
    # any of its users answers).
    addressee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    addressee_capacity: Mapped[str] = mapped_column(sa.String(12))  # first | direct | department
    requirement: Mapped[str] = mapped_column(sa.Text)
    issued_on: Mapped[dt.date]
    due_on: Mapped[dt.date] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(sa.String(12), default="open", index=True)
    level: Mapped[int] = mapped_column(default=0)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("supervision_orders.id"))
    issued_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answer: Mapped[str] = mapped_column(sa.Text, default="")
    answered_on: Mapped[dt.date | None]
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AccountabilityRecord(db.Model):
    """约谈提醒 or 问责 against a person, a region or a department, with the cases concerned.
    `region_code` places it for the evaluation: the region itself, the person's region, or
    the department's region."""

    __tablename__ = "accountability_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    subject_kind: Mapped[str] = mapped_column(sa.String(12))
    subject_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    department: Mapped[str | None] = mapped_column(sa.String(100))
    region_code: Mapped[str] = mapped_column(sa.String(6), index=True)
    decided_on: Mapped[dt.date] = mapped_column(index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    measures: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AccountabilityCase(db.Model):
    __tablename__ = "accountability_cases"

    record_id: Mapped[int] = mapped_column(sa.ForeignKey("accountability_records.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), primary_key=True, index=True)
