"""Documents of a case file: the papers of the dossier and of its records."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from mediation import clock
from mediation.extensions import UTCDateTime, db


class Kind(enum.StrEnum):
    """The kinds of paper a people's-mediation case file holds, in the file list's order."""

    PETITION_LETTER = "petition_letter"  # 信访件
    IDENTITY = "identity"  # 身份证明
    EVIDENCE = "evidence"  # 证据材料
    INVESTIGATION_RECORD = "investigation_record"  # 调查笔录
    SITE_PHOTO = "site_photo"  # 现场照片
    OPINION_ANNEX = "opinion_annex"  # 法律意见书附件
    MEDIATION_MINUTES = "mediation_minutes"  # 调解笔录
    SIGNED_AGREEMENT = "signed_agreement"  # 调解协议书(签字版)
    PERFORMANCE_PROOF = "performance_proof"  # 履行凭证
    FOLLOWUP_RECORD = "followup_record"  # 回访记录
    OTHER = "other"  # 其他


KIND_LABELS = {
    Kind.PETITION_LETTER: _l("信访件"),
    Kind.IDENTITY: _l("身份证明"),
    Kind.EVIDENCE: _l("证据材料"),
    Kind.INVESTIGATION_RECORD: _l("调查笔录"),
    Kind.SITE_PHOTO: _l("现场照片"),
    Kind.OPINION_ANNEX: _l("法律意见书附件"),
    Kind.MEDIATION_MINUTES: _l("调解笔录"),
    Kind.SIGNED_AGREEMENT: _l("调解协议书(签字版)"),
    Kind.PERFORMANCE_PROOF: _l("履行凭证"),
    Kind.FOLLOWUP_RECORD: _l("回访记录"),
    Kind.OTHER: _l("其他"),
}
# The Chinese names, for the archive's index (卷宗目录), which is always in Chinese.
KIND_NAMES_ZH = {
    Kind.PETITION_LETTER: "信访件", Kind.IDENTITY: "身份证明", Kind.EVIDENCE: "证据材料",
    Kind.INVESTIGATION_RECORD: "调查笔录", Kind.SITE_PHOTO: "现场照片",
    Kind.OPINION_ANNEX: "法律意见书附件", Kind.MEDIATION_MINUTES: "调解笔录",
    Kind.SIGNED_AGREEMENT: "调解协议书(签字版)", Kind.PERFORMANCE_PROOF: "履行凭证",
    Kind.FOLLOWUP_RECORD: "回访记录", Kind.OTHER: "其他",
}


class Visibility(enum.StrEnum):
    CASE = "case"  # whoever sees what it is attached to
    OFFICIALS = "officials"  # internal documents
    AUTHOR = "author"  # counselling attachments: the one who uploaded it


class Document(db.Model):
    """One uploaded paper. Its bytes live in the store under `cases/<case>/<sha256>`;
    withdrawing keeps them (legal hold), only an admin's purge removes them."""

    __tablename__ = "documents"
    __table_args__ = (sa.Index("ix_documents_case_sha", "case_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    # What it is attached to: the case's dossier, or one of its records.
    attached_type: Mapped[str] = mapped_column(sa.String(20), default="case")
    attached_id: Mapped[int | None]
    kind: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    visibility: Mapped[str] = mapped_column(sa.String(12), default=Visibility.CASE.value)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock.now)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    withdrawn_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    withdrawn_reason: Mapped[str | None] = mapped_column(sa.Text)
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
