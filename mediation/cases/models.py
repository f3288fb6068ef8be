"""The case file (一案一档): the case, its petitioners, investigations, ownership."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mediation import clock
from mediation.extensions import UTCDateTime, db
from mediation.users import User


class Status(enum.StrEnum):
    INTAKE = "intake"
    IN_PROGRESS = "in_progress"
    AGREEMENT_REACHED = "agreement_reached"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


# The case's one state machine: from each status, where it may go.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.INTAKE: frozenset({Status.IN_PROGRESS}),
    Status.IN_PROGRESS: frozenset({Status.AGREEMENT_REACHED, Status.RESOLVED}),
    # An agreement that falls through sends the case back to work.
    Status.AGREEMENT_REACHED: frozenset({Status.RESOLVED, Status.IN_PROGRESS}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.REOPENED}),
    Status.CLOSED: frozenset({Status.REOPENED}),
    Status.REOPENED: frozenset({Status.IN_PROGRESS}),
}


class LivelihoodField(enum.StrEnum):
    """民生领域 named by the plan for category 2."""

    LAND_DEMOLITION = "land_demolition"  # 征地拆迁
    LABOUR_SOCIAL_SECURITY = "labour_social_security"  # 劳动保障
    EDUCATION = "education"  # 教育
    HEALTHCARE = "healthcare"  # 医疗
    PROPERTY_MANAGEMENT = "property_management"  # 物业管理
    OTHER = "other"


class Assessment(enum.StrEnum):
    """The task force's assessment of the demand (一案一策)."""

    REASONABLE = "reasonable"  # 合理且有政策依据
    PARTLY_REASONABLE = "partly_reasonable"  # 部分合理
    UNREASONABLE_HARDSHIP = "unreasonable_hardship"  # 不合理但生活困难
    POLICY_GAP = "policy_gap"  # 政策不衔接、不完善
    LAW_RELATED = "law_related"  # 涉法涉诉


class Need(enum.StrEnum):
    ECONOMIC_COMPENSATION = "economic_compensation"  # 经济补偿、权益保障 -> mediators
    LEGAL_OPINION = "legal_opinion"  # 法律关系明确 -> lawyer
    COUNSELLING = "counselling"  # 情绪激动、长期缠访 -> counsellor
    GROUP_SUPPORT = "group_support"  # workers, women, disabled -> mass organisations
    NEUTRAL_PARTICIPATION = "neutral_participation"  # deputies, CPPCC, worthies


class Group(enum.StrEnum):
    WORKER = "worker"  # 职工 -> trade union
    WOMAN = "woman"  # 妇女 -> women's federation
    DISABLED = "disabled"  # 残疾人 -> disabled persons' federation
    ELDERLY = "elderly"
    MINOR = "minor"
    VETERAN = "veteran"
    EMOTIONAL = "emotional"  # 情绪激动、长期缠访: calls for counselling


class InvestigationMethod(enum.StrEnum):
    ARCHIVE_REVIEW = "archive_review"  # 调阅原始档案
    ON_SITE_CHECK = "on_site_check"  # 实地走访核查
    FACE_TO_FACE = "face_to_face"  # 面对面沟通


class OwnerLevel(enum.StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"


class ContactKind(enum.StrEnum):
    PROGRESS_HEARING = "progress_hearing"  # 听取汇报, at least monthly
    PETITIONER_MEETING = "petitioner_meeting"  # 接访约谈, at least half-monthly


class CaseFlag(enum.StrEnum):
    """Facts an officer records that the six-category rules read."""

    POLICY_CHANGE = "policy_change"  # 政策调整
    HISTORICAL_LEGACY = "historical_legacy"  # 历史遗留
    ASSIGNED_FROM_ABOVE = "assigned_from_above"  # 上级交办
    LEADER_INSTRUCTION = "leader_instruction"  # 领导批示
    HIGH_ATTENTION = "high_attention"  # 社会高度关注
    CROSS_REGION = "cross_region"  # 跨地区
    CROSS_DEPARTMENT = "cross_department"  # 跨部门
    CROSS_LEVEL = "cross_level"  # 跨层级
    RESPONSIBILITY_UNCLEAR = "responsibility_unclear"  # 责任主体不明确或职责交叉
    TYPICAL_PROBLEM = "typical_problem"  # 典型性、代表性问题
    PETITIONING_CEASED = "petitioning_ceased"  # 已息诉罢访
    ESCALATED = "escalated"  # no provider could be found: back to the officer
    REOPENED_AFTER_RESOLUTION = "reopened_after_resolution"  # a signal for supervision


class Case(db.Model):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    region_code: Mapped[str] = mapped_column(sa.String(6), index=True)
    departments: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    received_on: Mapped[dt.date | None] = mapped_column(index=True)  # the board sorts by it
    accepted_on: Mapped[dt.date | None]
    replied_on: Mapped[dt.date | None]  # the written reply (书面答复意见)
    review_requested_on: Mapped[dt.date | None]
    review_answered_on: Mapped[dt.date | None]
    rereview_requested_on: Mapped[dt.date | None]
    rereview_answered_on: Mapped[dt.date | None]
    extension_days: Mapped[int] = mapped_column(default=0)
    extension_approver: Mapped[str | None] = mapped_column(sa.String(100))
    extension_reason: Mapped[str | None] = mapped_column(sa.Text)
    times_handled: Mapped[int] = mapped_column(default=0)
    livelihood_fields: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    visits_in_person: Mapped[int] = mapped_column(default=0)
    online_complaints: Mapped[int] = mapped_column(default=0)
    flags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Dossier sections (一案一档); their history is the timeline.
    background: Mapped[str] = mapped_column(sa.Text, default="")
    demand_basis: Mapped[str] = mapped_column(sa.Text, default="")
    focal_conflict: Mapped[str] = mapped_column(sa.Text, default="")
    # One case, one strategy (一案一策).
    assessment: Mapped[str | None] = mapped_column(sa.String(32))
    strategy_note: Mapped[str] = mapped_column(sa.Text, default="")
    # None: needs follow from the assessment and the groups; a list: set by hand.
    needs_set: Mapped[list[str] | None] = mapped_column(sa.JSON)
    # Categories as a bitmask (bit n-1 for category n), kept in step on every change so
    # that lists filter by category in SQL on SQLite and PostgreSQL alike.
    category_mask: Mapped[int] = mapped_column(default=0, index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default=Status.INTAKE.value, index=True)
    status_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock.now)
    lead_official_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    owner_level: Mapped[str | None] = mapped_column(sa.String(10))
    owner_assigned_on: Mapped[dt.date | None]
    # The earliest open deadline (clocks and owner duties), kept in step on every change,
    # so "overdue" is one indexed comparison in SQL.
    next_deadline_on: Mapped[dt.date | None] = mapped_column(index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)
    # Allocated by timeline.append with a conditional update; never set by hand.
    last_seq: Mapped[int] = mapped_column(default=0)
    # 件次 (petitions on the case, first and repeats) and 人次 (people who came, summed over
    # the petitions: a visit of six counts six), kept in step by the petition commands.
    petition_count: Mapped[int] = mapped_column(default=0)
    person_count: Mapped[int] = mapped_column(default=0)
    # 纳入专项行动: the day the case was listed in the special action (the ledger's date, not
    # the row's insert time; NULL: not in the action), and the officer's reason, required to
    # count a case that has no category (kpis.py: who is counted).
    action_listed_on: Mapped[dt.date | None] = mapped_column(index=True)
    action_reason: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    # Set once when the case is absorbed by another (closed as merged): the survivor.
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"), index=True)

    petitioners: Mapped[list[Petitioner]] = relationship(
        back_populates="case", order_by="Petitioner.id", cascade="all, delete-orphan"
    )
    investigations: Mapped[list[Investigation]] = relationship(
        order_by="Investigation.id", cascade="all, delete-orphan"
    )
    category_overrides: Mapped[list[CategoryOverride]] = relationship(
        order_by="CategoryOverride.id", cascade="all, delete-orphan"
    )
    contacts: Mapped[list[OwnerContact]] = relationship(
        order_by="OwnerContact.id", cascade="all, delete-orphan"
    )
    lead_official = relationship(User, foreign_keys=[lead_official_id])

    def has_flag(self, flag: CaseFlag) -> bool:
        return flag.value in (self.flags or [])


class Petitioner(db.Model):
    """信访人. Identity and phone numbers are stored only encrypted, with blind indexes."""

    __tablename__ = "petitioners"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    id_number_enc: Mapped[str | None] = mapped_column(sa.Text)
    id_number_index: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    id_number_tail: Mapped[str | None] = mapped_column(sa.String(4))
    phone_enc: Mapped[str | None] = mapped_column(sa.Text)
    phone_index: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    phone_tail: Mapped[str | None] = mapped_column(sa.String(4))
    groups: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    # PostgreSQL: the transaction that last wrote the row, set by a trigger (migration
    # 0032) for the repeat check's copy of the county's names (cases/name_cache.py);
    # never read or written by the application otherwise.
    change_xid: Mapped[int | None] = mapped_column(sa.BigInteger, server_default="0", index=True,
                                                   deferred=True)

    case: Mapped[Case] = relationship(back_populates="petitioners")


class Investigation(db.Model):
    """An investigation record of the dossier: archive review, on-site check, talk."""

    __tablename__ = "investigations"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    method: Mapped[str] = mapped_column(sa.String(20))
    conducted_on: Mapped[dt.date]
    investigators: Mapped[str] = mapped_column(sa.String(200), default="")
    findings: Mapped[str] = mapped_column(sa.Text)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock.now)


class CategoryOverride(db.Model):
    """An officer's addition or removal of one of the six categories, with the reason."""

    __tablename__ = "category_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    category: Mapped[int]
    action: Mapped[str] = mapped_column(sa.String(10))  # add | remove
    reason: Mapped[str] = mapped_column(sa.Text)
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock.now)


class OwnerContact(db.Model):
    """A lead official's progress hearing or meeting with the petitioner (五包 ledger)."""

    __tablename__ = "owner_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(sa.String(24))
    held_on: Mapped[dt.date]
    note: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock.now)


class Channel(enum.StrEnum):
    """How a petition came in (信访形式)."""

    LETTER = "letter"  # 来信
    VISIT = "visit"  # 来访
    ONLINE = "online"  # 网上
    PHONE = "phone"  # 电话
    LEADER_MAILBOX = "leader_mailbox"  # 领导信箱


class LodgedLevel(enum.StrEnum):
    """The level of the office a petition was lodged with, lowest first."""

    COUNTY = "county"
    CITY = "city"
    PROVINCE = "province"
    NATIONAL = "national"


LEVEL_ORDER = {lvl.value: i for i, lvl in enumerate(LodgedLevel)}
# 集体访: a visit by five or more people.
GROUP_VISIT_MIN = 5


class Petition(db.Model):
    """One petition (信访件) on a case: the first, and every repeat linked to it."""

    __tablename__ = "petitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    received_on: Mapped[dt.date] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(sa.String(20))
    level: Mapped[str] = mapped_column(sa.String(10))
    head_count: Mapped[int] = mapped_column(default=1)
    # A repeat: not the case's first petition (重复信访).
    repeat: Mapped[bool] = mapped_column(default=False)
    # Lodged above the level responsible for the case (越级访).
    skip_level: Mapped[bool] = mapped_column(default=False)
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    # The ledger reference of a row imported as this repeat petition (re-imports skip it).
    source_reference: Mapped[str | None] = mapped_column(sa.String(32), unique=True, index=True)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock.now)

    @property
    def group_visit(self) -> bool:
        return self.channel == Channel.VISIT.value and self.head_count >= GROUP_VISIT_MIN


class CaseLink(db.Model):
    """Two cases of one person kept apart on purpose (a different matter), or merged: one row
    per direction, so each case lists the other."""

    __tablename__ = "case_links"
    __table_args__ = (sa.UniqueConstraint("case_id", "other_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    other_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(sa.String(20))  # related | merged_into | absorbed
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock.now)


class SavedView(db.Model):
    """A board view a user named ("我的超期案件"): the board's filters and order as its query
    string. One user's own: listed on their board, deleted by them; a second save under the
    same name replaces the first."""

    __tablename__ = "saved_views"
    __table_args__ = (sa.UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    query: Mapped[str] = mapped_column(sa.String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock.now)


def enum_values(e: type[enum.Enum]) -> list[Any]:
    return [m.value for m in e]
