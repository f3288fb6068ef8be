"""What a password must be, wherever one is set: long enough, and not a common one.

The list of common passwords ships with the package (`mediation/data/common-passwords.txt`)
and is read once; nothing is fetched from the network.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

MIN_PASSWORD_LENGTH = 12
MIN_DISTINCT_CHARACTERS = 5
# Digits, punctuation and spaces people put around a common word to pass a length rule.
_PADDING = re.compile(r"^[\d\W_]+|[\d\W_]+$")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list, lower case."""
    text = resources.files("mediation").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def is_common(password: str) -> bool:
    """A common password, or a common word padded with digits and punctuation."""
    lowered = password.lower()
    common = common_passwords()
    return lowered in common or _PADDING.sub("", lowered) in common


def password_problems(password: str, username: str = "") -> list[str]:
    """What is wrong with a new password (empty when it may be used)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return [f"at least {MIN_PASSWORD_LENGTH} characters"]
    problems = []
    if not _PADDING.sub("", password):
        problems.append("not only digits and punctuation: add letters")
    elif is_common(password):
        problems.append("too common: choose a password that is not on lists of common passwords")
    elif len(set(password)) < MIN_DISTINCT_CHARACTERS:
        problems.append(f"at least {MIN_DISTINCT_CHARACTERS} different characters")
    if username and username.lower() in password.lower():
        problems.append("must not contain the username")
    return problems
