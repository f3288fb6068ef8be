"""Sensitive personal information: encryption at rest, blind indexes, masking.

Numbers are encrypted with MultiFernet over `MEDIATION_PII_KEY` (comma-separated Fernet
keys, newest first), so keys rotate: prepend a new key, run `mediation pii rotate`, then
drop the old one. Lookups by number go through an HMAC-SHA256 blind index whose key is
derived (HKDF) from the newest key; `mediation pii rotate` recomputes the indexes too.
"""

from __future__ import annotations

import base64
import hmac
import re
from typing import Any

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

# ASCII digits only (re.ASCII): full-width digits would be stored, indexed and masked as
# typed, and never be found again by the same number typed in ASCII.
ID_NUMBER_RE = re.compile(r"^\d{17}[\dXx]$", re.ASCII)
PHONE_RE = re.compile(r"^(\+?86)?1\d{10}$|^0\d{2,3}-?\d{7,8}$", re.ASCII)


class PiiCipher:
    def __init__(self, keys: tuple[str, ...]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        # One index key per Fernet key, newest first: between prepending a new key and
        # `mediation pii rotate`, rows still carry indexes made with the older key.
        self._index_keys = [HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"mediation blind index"
        ).derive(base64.urlsafe_b64decode(k)) for k in keys]

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode()

    def blind_index(self, kind: str, value: str) -> str:
        """The index stored with a number: made with the newest key."""
        return _index(self._index_keys[0], kind, normalize(kind, value))

    def blind_indexes(self, kind: str, value: str) -> list[str]:
        """The number's index under every key, newest first: what a lookup matches."""
        norm = normalize(kind, value)
        return [_index(k, kind, norm) for k in self._index_keys]

    def sealed(self, kind: str, value: str) -> tuple[str, str, str]:
        """A number as a row stores it: encrypted, its index (newest key) and its last four
        characters, all of the normalized number (normalized once)."""
        norm = normalize(kind, value)
        return self.encrypt(norm), _index(self._index_keys[0], kind, norm), norm[-4:]


def _index(key: bytes, kind: str, norm: str) -> str:
    # hmac.digest by the digest's name: the one-shot OpenSSL path, the same bytes as
    # hmac.new(key, message, hashlib.sha256).hexdigest()
    return hmac.digest(key, f"{kind}:{norm}".encode(), "sha256").hex()


def cipher() -> PiiCipher:
    ext = current_app.extensions
    if "mediation.pii" not in ext:
        ext["mediation.pii"] = PiiCipher(current_app.config["MEDIATION_PII_KEYS"])
    return ext["mediation.pii"]


_SEPARATORS = re.compile(r"[\s\-]")
# +86 or 86 before a mobile number is the country code: the same phone
_COUNTRY_CODE = re.compile(r"^\+?86(?=1\d{10}$)")


def normalize(kind: str, value: str) -> str:
    value = _SEPARATORS.sub("", value or "")
    if kind == "id_number":
        return value.upper()
    if kind == "phone":
        return _COUNTRY_CODE.sub("", value)
    return value


# Masks show as few clear digits as still tell one petitioner of a case from another: each
# clear digit divides by ten what someone guessing the number must try.
ID_CLEAR_DIGITS = 2
PHONE_CLEAR_DIGITS = 4


def mask_id_number(tail: str | None) -> str | None:
    """`****************34`: none of the first digits (region and birth date), only the
    last two (the check character among them); always 18 characters."""
    return None if tail is None else "*" * (18 - ID_CLEAR_DIGITS) + tail[-ID_CLEAR_DIGITS:]


def mask_phone(tail: str | None) -> str | None:
    """`*******5678`: the last four digits, the rest hidden — not the carrier prefix either
    (`138****5678` would leave only four unknown digits); always 11 characters, so a
    landline's length is hidden too."""
    return None if tail is None else "*" * 7 + tail[-PHONE_CLEAR_DIGITS:]


def register_encrypted(app: Any, model: Any, *attributes: str) -> None:
    """Columns of `model` holding text encrypted with the PII keys: `mediation pii rotate`
    re-encrypts them under the newest key (so that an old key can then be retired)."""
    from mediation.registry import registry

    for name in attributes:
        registry(app).encrypted_columns.register(f"{model.__tablename__}.{name}", (model, name))


def rotate_registered() -> dict[str, int]:
    """Re-encrypt every registered column's values under the newest key (the caller
    commits): values per column."""
    import sqlalchemy as sa

    from mediation.extensions import db
    from mediation.registry import registry

    c = cipher()
    done: dict[str, int] = {}
    for key, (model, name) in registry().encrypted_columns.items():
        column = getattr(model, name)
        pk = sa.inspect(model).primary_key[0]
        rows = db.session.execute(sa.select(pk, column).where(column.is_not(None))).all()
        for ident, token in rows:
            db.session.execute(sa.update(model).where(pk == ident).values({name: c.rotate(token)})
                               .execution_options(synchronize_session=False))
        done[key] = len(rows)
    return done
