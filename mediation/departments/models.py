"""Departments (责任单位) of the directory, their users, and hand-overs (交办/转送) with
the departments' replies (办理回复)."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mediation.extensions import UTCDateTime, db
from mediation.timeline import utcnow


class DepartmentKind(enum.StrEnum):
    """What a department does: the strategy routes pick a department by its kind."""

    CIVIL_AFFAIRS = "civil_affairs"  # 民政 (社会救助)
    COURT = "court"  # 人民法院
    PROCURATORATE = "procuratorate"  # 人民检察院
    POLITICAL_LEGAL = "political_legal"  # 政法委
    POLICY = "policy"  # 政策研究 / 司法行政 (the department that makes the supplementary rule)
    HOUSING = "housing"  # 住建
    HUMAN_RESOURCES = "human_resources"  # 人社
    NATURAL_RESOURCES = "natural_resources"  # 自然资源
    EDUCATION = "education"  # 教育
    HEALTH = "health"  # 卫健
    OTHER = "other"


class HandoverStatus(enum.StrEnum):
    SUGGESTED = "suggested"  # proposed by a strategy route: the officer sends or cancels it
    SENT = "sent"  # 已交办: the department has it
    ACKNOWLEDGED = "acknowledged"  # 已签收
    REPLIED = "replied"  # 已回复: the officer accepts or sends back
    RETURNED = "returned"  # 退回重办: the department replies again
    ACCEPTED = "accepted"  # 已办结
    WITHDRAWN = "withdrawn"  # 已撤回 (also a suggestion the officer cancels)


HANDOVER_TRANSITIONS: dict[HandoverStatus, frozenset[HandoverStatus]] = {
    HandoverStatus.SUGGESTED: frozenset({HandoverStatus.SENT, HandoverStatus.WITHDRAWN}),
    # a reply to a hand-over not yet acknowledged acknowledges it too
    HandoverStatus.SENT: frozenset({HandoverStatus.ACKNOWLEDGED, HandoverStatus.REPLIED,
                                    HandoverStatus.WITHDRAWN}),
    HandoverStatus.ACKNOWLEDGED: frozenset({HandoverStatus.REPLIED, HandoverStatus.WITHDRAWN}),
    HandoverStatus.REPLIED: frozenset({HandoverStatus.ACCEPTED, HandoverStatus.RETURNED}),
    HandoverStatus.RETURNED: frozenset({HandoverStatus.REPLIED, HandoverStatus.WITHDRAWN}),
    HandoverStatus.ACCEPTED: frozenset(),
    HandoverStatus.WITHDRAWN: frozenset(),
}
# The department owes work (and a reply by the deadline) in these states: "overdue" is one
# of them past its due day (a Beijing day).
OWING = (HandoverStatus.SENT.value, HandoverStatus.ACKNOWLEDGED.value, HandoverStatus.RETURNED.value)
# The department sees its hand-over in these states (not a suggestion it was never sent).
SHOWN_TO_DEPARTMENT = tuple(s.value for s in HandoverStatus if s != HandoverStatus.SUGGESTED)


class Department(db.Model):
    """A 责任单位 of a region: 成都市民政局 is (civil_affairs, 510100)."""

    __tablename__ = "departments"
    __table_args__ = (sa.UniqueConstraint("region_code", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    kind: Mapped[str] = mapped_column(sa.String(30))
    # The region it belongs to (GB/T 2260, six digits); its level follows from the code.
    region_code: Mapped[str] = mapped_column(sa.String(6), index=True)
    contact: Mapped[str] = mapped_column(sa.String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    members: Mapped[list[DepartmentMember]] = relationship(
        back_populates="department", cascade="all, delete-orphan", order_by="DepartmentMember.user_id")


class DepartmentMember(db.Model):
    """A user (role `department`) acting for a department; a user acts for one department."""

    __tablename__ = "department_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)

    department: Mapped[Department] = relationship(back_populates="members")


class Handover(db.Model):
    """交办/转送: a matter of a case handed to one department, with what is asked and the
    day the reply is due. Its status changes only by conditional updates (`commands`)."""

    __tablename__ = "handovers"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    matter: Mapped[str] = mapped_column(sa.String(200))  # 交办事项
    ask: Mapped[str] = mapped_column(sa.Text, default="")  # 办理要求
    due_on: Mapped[dt.date | None] = mapped_column(sa.Date)  # 办理时限 (a Beijing day)
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    # "officer" or the strategy that suggested it (assistance_and_counselling, …)
    source: Mapped[str] = mapped_column(sa.String(40), default="officer")
    rounds: Mapped[int] = mapped_column(default=0)  # how many times sent back
    return_reason: Mapped[str] = mapped_column(sa.Text, default="")
    withdraw_reason: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    replied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    department: Mapped[Department] = relationship()
    replies: Mapped[list[HandoverReply]] = relationship(
        back_populates="handover", order_by="HandoverReply.id")


class HandoverReply(db.Model):
    """办理回复: what the department did (result, measures), with documents attached
    (documents target `handover_reply`); the officer's decision on it."""

    __tablename__ = "handover_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    handover_id: Mapped[int] = mapped_column(sa.ForeignKey("handovers.id"), index=True)
    result: Mapped[str] = mapped_column(sa.Text)  # 办理结果
    measures: Mapped[str] = mapped_column(sa.Text, default="")  # 采取措施
    replied_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    replied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decision: Mapped[str | None] = mapped_column(sa.String(20))  # accepted | returned
    decision_reason: Mapped[str] = mapped_column(sa.Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    handover: Mapped[Handover] = relationship(back_populates="replies")
