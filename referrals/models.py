"""The provider directory, routing state per need, referrals, and what referrals produce."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mediation.extensions import UTCDateTime, db
from mediation.timeline import utcnow


class ProviderKind(enum.StrEnum):
    MEDIATOR = "mediator"  # 调解员 / 调解组织
    LAWYER = "lawyer"  # 律师
    COUNSELLOR = "counsellor"  # 心理咨询师
    TRADE_UNION = "trade_union"  # 工会
    WOMENS_FEDERATION = "womens_federation"  # 妇联
    DISABLED_PERSONS_FEDERATION = "disabled_persons_federation"  # 残联
    DEPUTY = "deputy"  # 人大代表
    CPPCC_MEMBER = "cppcc_member"  # 政协委员
    WORTHY = "worthy"  # 乡贤


class MediationType(enum.StrEnum):
    PEOPLE = "people"  # 人民调解
    ADMINISTRATIVE = "administrative"  # 行政调解
    INDUSTRY = "industry"  # 行业调解
    PROFESSIONAL = "professional"  # 专业调解


class ReferralStatus(enum.StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    COMPLETED = "completed"


# The referral's one state machine: from each status, where it may go.
REFERRAL_TRANSITIONS: dict[ReferralStatus, frozenset[ReferralStatus]] = {
    ReferralStatus.OFFERED: frozenset({ReferralStatus.ACCEPTED, ReferralStatus.DECLINED,
                                       ReferralStatus.EXPIRED, ReferralStatus.WITHDRAWN}),
    ReferralStatus.ACCEPTED: frozenset({ReferralStatus.COMPLETED, ReferralStatus.WITHDRAWN}),
    ReferralStatus.DECLINED: frozenset(),
    ReferralStatus.EXPIRED: frozenset(),
    ReferralStatus.WITHDRAWN: frozenset(),
    ReferralStatus.COMPLETED: frozenset(),
}
# A live referral holds one unit of its provider's capacity and lets the provider see the case.
LIVE = (ReferralStatus.OFFERED.value, ReferralStatus.ACCEPTED.value)


class DeclineReason(enum.StrEnum):
    CAPACITY = "capacity"
    CONFLICT_OF_INTEREST = "conflict_of_interest"
    OUTSIDE_EXPERTISE = "outside_expertise"
    OUTSIDE_REGION = "outside_region"
    UNAVAILABLE = "unavailable"
    OTHER = "other"  # a note is required


class Outcome(enum.StrEnum):
    AGREEMENT_REACHED = "agreement_reached"  # 达成调解协议
    RESOLVED = "resolved"
    PARTIALLY_RESOLVED = "partially_resolved"
    NOT_RESOLVED = "not_resolved"
    SERVICE_GIVEN = "service_given"  # opinion given, counselling held, support given


class NeedState(enum.StrEnum):
    WAITING = "waiting"  # no provider free: offered when capacity frees, oldest first
    OFFERED = "offered"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    ESCALATED = "escalated"  # too many failed offers: the officer decides
    CANCELLED = "cancelled"  # withdrawn by the officer or no longer a need of the case


class RiskLevel(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class SupportKind(enum.StrEnum):
    LEGAL_AID = "legal_aid"  # 法律援助
    FINANCIAL_ASSISTANCE = "financial_assistance"  # 困难帮扶
    EMPLOYMENT = "employment"  # 就业帮扶
    REHABILITATION = "rehabilitation"  # 康复
    CARE = "care"  # 关爱服务
    ADVOCACY = "advocacy"  # 维权
    OTHER = "other"


class Provider(db.Model):
    """A person or organisation that can take referrals (the directory)."""

    __tablename__ = "providers"
    __table_args__ = (
        sa.CheckConstraint("load >= 0", name="load_not_negative"),
        sa.CheckConstraint("capacity >= 0", name="capacity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(32), index=True)
    mediation_type: Mapped[str | None] = mapped_column(sa.String(20))
    specialities: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Parties or organisations the provider declared a conflict of interest with.
    conflicts: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    capacity: Mapped[int] = mapped_column(default=5)
    # Live referrals held (offered or accepted); changed only by conditional updates.
    load: Mapped[int] = mapped_column(default=0)
    available: Mapped[bool] = mapped_column(default=True)
    away_until: Mapped[dt.date | None]
    # A member's request to change the capacity, pending until an admin or supervisor sets
    # the capacity (granted, in full or in part) or clears the request (refused).
    requested_capacity: Mapped[int | None]
    capacity_request_note: Mapped[str | None] = mapped_column(sa.Text)
    capacity_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    last_offered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # PostgreSQL: the transaction that last changed the provider, its regions or the answers
    # to its referrals, stamped by triggers; the routing's directory cache
    # (`referrals.directory_cache`) re-reads what changed since it last looked. 0 on SQLite.
    change_xid: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0",
                                            index=True)

    regions: Mapped[list[ProviderRegion]] = relationship(
        order_by="ProviderRegion.region_prefix", cascade="all, delete-orphan")
    members: Mapped[list[ProviderMember]] = relationship(
        order_by="ProviderMember.user_id", cascade="all, delete-orphan")

    @property
    def region_codes(self) -> list[str]:
        return sorted(r.region_code for r in self.regions)


class ProviderRegion(db.Model):
    """A region a provider serves, by GB/T 2260 prefix: eligibility is one indexed lookup."""

    __tablename__ = "provider_regions"

    region_prefix: Mapped[str] = mapped_column(sa.String(6), primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"), primary_key=True,
                                             index=True)
    region_code: Mapped[str] = mapped_column(sa.String(6))


class ProviderMember(db.Model):
    """A user account that acts for a provider (one provider per user)."""

    __tablename__ = "provider_members"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"), index=True)


class RoutingNeed(db.Model):
    """Where routing stands for one need of one case."""

    __tablename__ = "routing_needs"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "need", name="uq_routing_needs_case_need"),
        sa.Index("ix_routing_needs_state_waiting_since", "state", "waiting_since"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    need: Mapped[str] = mapped_column(sa.String(32))
    state: Mapped[str] = mapped_column(sa.String(16))
    failed_offers: Mapped[int] = mapped_column(default=0)
    waiting_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Referral(db.Model):
    """An offer of one need of a case to one provider, and what became of it."""

    __tablename__ = "referrals"
    __table_args__ = (
        sa.Index("ix_referrals_status_respond_by", "status", "respond_by"),
        # A case's referrals (its foreign key), and those of a status: the history the
        # ranking excludes (declined or expired) is read by the case, whatever the planner
        # guesses of how many referrals have that status.
        sa.Index("ix_referrals_case_id_status", "case_id", "status"),
        sa.Index("ix_referrals_provider_id_status", "provider_id", "status"),
        sa.Index("ix_referrals_provider_id_offered_at", "provider_id", "offered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    routing_need_id: Mapped[int] = mapped_column(sa.ForeignKey("routing_needs.id"), index=True)
    need: Mapped[str] = mapped_column(sa.String(32))
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"))
    status: Mapped[str] = mapped_column(sa.String(16))
    attempt: Mapped[int] = mapped_column(default=1)
    # "case:need" while live, NULL after: the database allows one live referral per need.
    live_key: Mapped[str | None] = mapped_column(sa.String(48), unique=True)
    offered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    offered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    respond_by: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decline_reason: Mapped[str | None] = mapped_column(sa.String(32))
    decline_note: Mapped[str | None] = mapped_column(sa.Text)
    withdraw_reason: Mapped[str | None] = mapped_column(sa.Text)
    withdrawn_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    outcome: Mapped[str | None] = mapped_column(sa.String(32))
    outcome_note: Mapped[str | None] = mapped_column(sa.Text)
    # Why this provider: the ranking's reasons when it was chosen.
    reasons: Mapped[dict] = mapped_column(sa.JSON, default=dict)

    provider: Mapped[Provider] = relationship()


class LegalOpinion(db.Model):
    """A lawyer's legal opinion (法律意见) on a case."""

    __tablename__ = "legal_opinions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    referral_id: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    summary: Mapped[str] = mapped_column(sa.Text)
    # [{"law": "...", "article": "...", "note": "..."}]
    legal_basis: Mapped[list[dict]] = mapped_column(sa.JSON, default=list)
    recommendation: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CounsellingNote(db.Model):
    """A counsellor's confidential note: the content is encrypted and shown to its author
    only; others see that a session took place and the risk level."""

    __tablename__ = "counselling_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    referral_id: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    session_on: Mapped[dt.date]
    risk_level: Mapped[str] = mapped_column(sa.String(10))
    content_enc: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SupportRecord(db.Model):
    """A mass organisation's record of support given (工会、妇联、残联)."""

    __tablename__ = "support_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    referral_id: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    given_on: Mapped[dt.date]
    description: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
