"""A user's outbound channels: which, where, and their own quiet hours. Numbers are
encrypted at rest and shown masked, even to the user themselves."""

from __future__ import annotations

from typing import Any

from mediation.errors import Invalid
from mediation.extensions import db
from mediation.notifications.models import Preference
from mediation.pii import cipher, mask_phone
from mediation.users import User


def save(user: User, data: dict[str, Any]) -> Preference:
    pref = db.session.get(Preference, user.id) or Preference(user_id=user.id, channels=[])
    pref.channels = sorted(set(data["channels"]))
    if "email" in data:
        pref.email = data["email"]
    if "phone" in data:
        pref.phone_cipher = cipher().encrypt(data["phone"]) if data["phone"] else None
    if "wecom_mobile" in data:
        pref.wecom_mobile_cipher = cipher().encrypt(data["wecom_mobile"]) if data["wecom_mobile"] else None
    if "quiet_hours" in data:
        pref.quiet_hours = data["quiet_hours"]
    # A channel needs its address: given now, or kept from before (a form leaves a stored
    # number blank, since it shows it masked).
    missing = {"email": ("email", pref.email), "sms": ("phone", pref.phone_cipher)}
    errors = {field: [f"{ch} needs an address"] for ch, (field, have) in missing.items()
              if ch in pref.channels and not have}
    if errors:
        raise Invalid(errors)
    db.session.add(pref)
    return pref


def _masked(token: str | None) -> str | None:
    return mask_phone(cipher().decrypt(token)[-4:]) if token else None


def view(user: User) -> dict[str, Any]:
    pref = db.session.get(Preference, user.id)
    if pref is None:
        return {"channels": [], "email": None, "phone": None, "wecom_mobile": None, "quiet_hours": None}
    return {"channels": list(pref.channels or []), "email": pref.email, "phone": _masked(pref.phone_cipher),
            "wecom_mobile": _masked(pref.wecom_mobile_cipher), "quiet_hours": pref.quiet_hours}
