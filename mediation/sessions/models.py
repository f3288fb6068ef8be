"""Sessions, their participants, agreements and their signatures."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mediation.extensions import UTCDateTime, db
from mediation.timeline import utcnow


class SessionStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    POSTPONED = "postponed"  # scheduled again for a new time
    IN_PROGRESS = "in_progress"
    ENDED = "ended"
    CANCELLED = "cancelled"


# The session's one state machine. Postponing sets a new time; a postponed session may be
# postponed again, started or cancelled like a scheduled one.
SESSION_TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    SessionStatus.SCHEDULED: frozenset({SessionStatus.IN_PROGRESS, SessionStatus.POSTPONED,
                                        SessionStatus.CANCELLED}),
    SessionStatus.POSTPONED: frozenset({SessionStatus.IN_PROGRESS, SessionStatus.POSTPONED,
                                        SessionStatus.CANCELLED}),
    SessionStatus.IN_PROGRESS: frozenset({SessionStatus.ENDED}),
    SessionStatus.ENDED: frozenset(),
    SessionStatus.CANCELLED: frozenset(),
}


class ParticipantKind(enum.StrEnum):
    MEDIATOR = "mediator"
    PETITIONER = "petitioner"  # 信访人, by petitioner id
    RESPONDENT = "respondent"  # 被反映单位的代表, by name
    PROVIDER = "provider"  # lawyers, counsellors, mass organisations with accepted referrals
    INVITED = "invited"  # deputies, CPPCC members, worthies from the directory
    LEAD_OFFICIAL = "lead_official"  # 包案领导


class MediationSession(db.Model):
    """A mediation session (调解会) of a case."""

    __tablename__ = "mediation_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    mediator_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=SessionStatus.SCHEDULED.value)
    scheduled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    place: Mapped[str] = mapped_column(sa.String(200), default="")
    online_link: Mapped[str] = mapped_column(sa.String(500), default="")
    topic: Mapped[str] = mapped_column(sa.String(200), default="")
    postponements: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    minutes: Mapped[str] = mapped_column(sa.Text, default="")  # 笔录, written at the end
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    participants: Mapped[list[SessionParticipant]] = relationship(
        order_by="SessionParticipant.id", cascade="all, delete-orphan")


class SessionParticipant(db.Model):
    """Someone in a session's room, and whether they attended."""

    __tablename__ = "session_participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("mediation_sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(200))
    unit: Mapped[str] = mapped_column(sa.String(200), default="")  # a respondent's unit
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    petitioner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("petitioners.id"))
    provider_id: Mapped[int | None]  # the directory's id; no foreign key: mediation owns no providers
    attended: Mapped[bool | None]  # None: not recorded yet
    attendance_recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AgreementStatus(enum.StrEnum):
    DRAFT = "draft"
    FINAL = "final"  # the text is fixed; signatures are being collected
    IN_EFFECT = "in_effect"  # every party and the mediator signed
    SUPERSEDED = "superseded"  # a later agreement took effect


# The parts the People's Mediation Law (人民调解法 第29条) asks of an agreement, in the order
# of the printed agreement: (field, Chinese heading).
STATUTORY_PARTS: tuple[tuple[str, str], ...] = (
    ("parties", "当事人的基本情况"),
    ("facts", "纠纷的主要事实"),
    ("matters_in_dispute", "争议事项"),
    ("responsibilities", "各方当事人的责任"),
    ("terms", "当事人达成调解协议的内容"),
    ("performance_manner", "履行方式"),
    ("performance_time_limit", "履行期限"),
)


class Agreement(db.Model):
    """A mediation agreement (调解协议). Versioned while a draft; fixed once final."""

    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(sa.ForeignKey("mediation_sessions.id"))
    mediator_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(sa.String(16), default=AgreementStatus.DRAFT.value)
    # Optimistic concurrency: an edit names the version it was made on.
    version: Mapped[int] = mapped_column(default=1)
    # [{"name", "role": "petitioner" | "respondent" | "organ", "details", "user_id"?}];
    # "organ": the respondent is an administrative organ (行政机关), which makes the agreement
    # an administrative one (行政调解协议书), not a people's mediation agreement.

    parties: Mapped[list[dict]] = mapped_column(sa.JSON, default=list)
    facts: Mapped[str] = mapped_column(sa.Text, default="")
    matters_in_dispute: Mapped[str] = mapped_column(sa.Text, default="")
    responsibilities: Mapped[str] = mapped_column(sa.Text, default="")
    terms: Mapped[str] = mapped_column(sa.Text, default="")
    performance_manner: Mapped[str] = mapped_column(sa.Text, default="")
    performance_time_limit: Mapped[str] = mapped_column(sa.Text, default="")
    supersedes_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agreements.id"))
    # Judicial confirmation (司法确认): the joint application and the court's decision.
    judicial_applied_on: Mapped[dt.date | None]
    judicial_court: Mapped[str | None] = mapped_column(sa.String(200))
    judicial_decision: Mapped[str | None] = mapped_column(sa.String(16))  # confirmed | rejected
    judicial_decided_on: Mapped[dt.date | None]
    judicial_note: Mapped[str | None] = mapped_column(sa.Text)
    finalised_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Fixed when the agreement is finalised (`commands.finalise`): which document it is
    # (AgreementKind), the committee or organ that issues it, and its number (文号).
    kind: Mapped[str | None] = mapped_column(sa.String(16))
    issuer: Mapped[str | None] = mapped_column(sa.String(200))
    document_no: Mapped[str | None] = mapped_column(sa.String(64))
    effective_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    signatures: Mapped[list[AgreementSignature]] = relationship(
        order_by="AgreementSignature.id", cascade="all, delete-orphan")


class AgreementKind(enum.StrEnum):
    PEOPLE = "people"  # 人民调解协议书, under the People's Mediation Law
    ADMINISTRATIVE = "administrative"  # 行政调解协议书: a party is an administrative organ


class AgreementNumber(db.Model):
    """The last document number (文号) given by one issuer in one year: the next agreement
    it finalises takes last + 1, by a conditional update in the finalising transaction."""

    __tablename__ = "agreement_numbers"

    issuer_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class SignMethod(enum.StrEnum):
    ACCOUNT = "account"  # through the signer's own account
    HAND = "hand"  # 签名, in person, recorded by an official who is not the mediator
    SEAL = "seal"  # 盖章
    FINGERPRINT = "fingerprint"  # 按指印


class AgreementSignature(db.Model):
    """One signature on a final agreement: who, when and how."""

    __tablename__ = "agreement_signatures"
    __table_args__ = (
        # The database refuses a second signature by the same signer, even in a race.
        sa.UniqueConstraint("agreement_id", "signer", name="uq_agreement_signatures_signer"),
        # One account signs for one signer of an agreement at most: a signature through an
        # account proves that account's holder, so it can stand for one person only.
        sa.Index("uq_agreement_signatures_account", "agreement_id", "user_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    signer: Mapped[str] = mapped_column(sa.String(16))  # "mediator" or "party:<index>"
    signer_name: Mapped[str] = mapped_column(sa.String(200))
    method: Mapped[str] = mapped_column(sa.String(16))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))  # signed via account
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PerformanceKind(enum.StrEnum):
    PAYMENT = "payment"
    ACTION = "action"


class PerformanceItem(db.Model):
    """One thing an agreement in effect obliges someone to do, by a deadline."""

    __tablename__ = "performance_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    description: Mapped[str] = mapped_column(sa.Text)
    obligor: Mapped[str] = mapped_column(sa.String(200), default="")  # who performs
    amount: Mapped[str | None] = mapped_column(sa.String(32))  # yuan, as written (decimal text)
    due_on: Mapped[dt.date]
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    done_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    evidence: Mapped[str | None] = mapped_column(sa.Text)  # a note of the evidence of performance
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ResolutionBasis(enum.StrEnum):
    AGREEMENT_PERFORMED = "agreement_performed"  # the agreement in effect was performed
    OTHERWISE_SETTLED = "otherwise_settled"  # the demand was settled another way


class Resolution(db.Model):
    """The decision that a case is resolved (化解), with its reason."""

    __tablename__ = "case_resolutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    basis: Mapped[str] = mapped_column(sa.String(24))
    decision: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text)
    agreement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agreements.id"))
    resolved_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    resolved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SessionPresence(db.Model):
    """Someone with a session's room open: one row per socket connection (`sid`) in the room.

    Kept in the database so every web process sees the same room. A row lives while its
    connection does and its client's heartbeat keeps `seen_at` fresh; a row older than the
    heartbeat window (a process that died without saying goodbye) is ignored by readers
    and removed by the sweep (`mediation.sessions.presence`)."""

    __tablename__ = "session_presence"
    __table_args__ = (
        sa.UniqueConstraint("session_id", "sid", name="uq_session_presence_session_sid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("mediation_sessions.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    sid: Mapped[str] = mapped_column(sa.String(64), index=True)  # the Socket.IO connection
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow,
                                                 index=True)


class VisitMethod(enum.StrEnum):
    PHONE = "phone"  # 电话回访
    HOME = "home"  # 上门回访
    OFFICE = "office"  # 来访约谈
    ONLINE = "online"  # 网上回访


class Honoured(enum.StrEnum):
    YES = "yes"  # 履行良好
    PARTLY = "partly"  # 部分履行
    NO = "no"  # 未履行
    NOT_APPLICABLE = "not_applicable"  # no agreement to honour (a resolution otherwise settled)


class FollowupVisit(db.Model):
    """A follow-up visit (回访) after an agreement took effect or a case was resolved:
    scheduled at each of `MEDIATION_FOLLOWUP_VISIT_DAYS` (one row per basis and offset,
    unique, so scheduling twice schedules once), or recorded unscheduled (no offset)."""

    __tablename__ = "followup_visits"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "basis", "offset_days", name="uq_followup_visits_schedule"),
        sa.CheckConstraint("satisfaction IS NULL OR (satisfaction BETWEEN 1 AND 5)",
                           name="satisfaction_1_to_5"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    # "agreement:<id>" or "resolution:<id>": what the visit follows up
    basis: Mapped[str] = mapped_column(sa.String(40))
    agreement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agreements.id"))
    offset_days: Mapped[int | None]
    due_on: Mapped[dt.date | None] = mapped_column(index=True)
    visited_on: Mapped[dt.date | None]
    method: Mapped[str | None] = mapped_column(sa.String(16))
    visited_whom: Mapped[str | None] = mapped_column(sa.String(200))
    findings: Mapped[str | None] = mapped_column(sa.Text)
    honoured: Mapped[str | None] = mapped_column(sa.String(16))
    satisfaction: Mapped[int | None]
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
