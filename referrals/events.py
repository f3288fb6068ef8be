"""The event types of routing and referrals (the catalogue: `mediation/events.py`).

A referral's events (`referral.*`) are for staff (officials) and that referral's own
provider: an offer carries the ranking's reasons, which name other providers' load and
acceptance rates, and a decline carries the provider's note to staff — neither is for
another provider on the case. Each event carries the user ids acting for its provider when
it happened (`audience`), so deciding needs no query; events written before they carried
it are decided from the provider's members as they are now.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from mediation.events import OFFICIALS, EventType, officials_and, per_context
from mediation.extensions import db


def provider_users(provider_id: int, session: Any = None) -> list[int]:
    """The users acting for a provider, as they are now."""
    from referrals.models import ProviderMember

    return sorted((session or db.session).execute(sa.select(ProviderMember.user_id).where(
        ProviderMember.provider_id == provider_id)).scalars())


def referral_members(data: dict) -> frozenset[int]:
    """The users (besides officials) a referral event is for: its `audience`, else its
    provider's members."""
    if "audience" in data:
        return frozenset(int(u) for u in data["audience"] or ())
    provider_id = data.get("provider_id")
    if provider_id is None:
        return frozenset()
    return per_context(f"provider-members:{provider_id}",
                       lambda: frozenset(provider_users(int(provider_id))))


# Officials join the case's `#referral` room (admitted with no data); the provider's users
# get each event in their `user:<id>` inbox, named by `referral_recipients`.
REFERRAL_PARTIES = officials_and(
    "referral", referral_members,
    doc="the officials who see the case, and the users acting for the referral's provider")


def referral_recipients(session: Any, envelope: dict) -> list[int]:
    """A referral's event reaches the inbox of each user acting for its provider."""
    data = envelope.get("data") or {}
    if "audience" in data:
        return [int(u) for u in data["audience"] or ()]
    provider_id = data.get("provider_id")
    return provider_users(int(provider_id), session) if provider_id is not None else []


def _referral(name: str, label: Any, progress: bool = True, changes_access: bool = False) -> EventType:
    return EventType(name, label, audience=REFERRAL_PARTIES, recipients=(referral_recipients,),
                     progress=progress, changes_access=changes_access)


# A referral that is no longer live no longer shows its provider the case
# (`changes_access`: their live connections are re-checked).
REFERRAL_OFFERED = _referral("referral.offered", _l("发出转介邀请"))
REFERRAL_ACCEPTED = _referral("referral.accepted", _l("接受转介"))
REFERRAL_DECLINED = _referral("referral.declined", _l("拒绝转介"), changes_access=True)
# The sweep's doing: an offer nobody answered in time is no work on the case.
REFERRAL_EXPIRED = _referral("referral.expired", _l("转介邀请超时"), progress=False, changes_access=True)
REFERRAL_WITHDRAWN = _referral("referral.withdrawn", _l("撤回转介"), changes_access=True)
REFERRAL_COMPLETED = _referral("referral.completed", _l("转介完成"), changes_access=True)
ROUTING_CANCELLED = EventType("routing.cancelled", _l("取消转介需求"))
# Nobody could take a need: the system hands it back (and takes the flag down when someone
# does); an escalation is a call for work, not work.
CASE_ESCALATED = EventType("case.escalated", _l("提级处理"), progress=False)
CASE_ESCALATION_CLEARED = EventType("case.escalation_cleared", _l("解除提级"), progress=False)
OPINION_POSTED = EventType("opinion.posted", _l("发表法律意见"))
# Whether a petitioner is counselled, and the risk level, is for officials' eyes.
COUNSELLING_RECORDED = EventType("counselling.session_recorded", _l("心理疏导记录"), audience=OFFICIALS)
SUPPORT_RECORDED = EventType("support.recorded", _l("群团帮扶记录"))

ALL = (REFERRAL_OFFERED, REFERRAL_ACCEPTED, REFERRAL_DECLINED, REFERRAL_EXPIRED, REFERRAL_WITHDRAWN,
       REFERRAL_COMPLETED, ROUTING_CANCELLED, CASE_ESCALATED, CASE_ESCALATION_CLEARED, OPINION_POSTED,
       COUNSELLING_RECORDED, SUPPORT_RECORDED)
