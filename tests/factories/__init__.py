"""Test data: one way to make each thing, and one shape of world (`World`, in base).

- base: the password, unique numbers, dates, `World`;
- users: `make_user` (the one way to make a user; `build_user` uncommitted, `app_user` in
  an app context of its own), `make_world` (people with
  tokens and their cases, in an app's own context), `Api` (tokens, JSON calls);
- cases: `case_payload`, `make_case` (through intake), `case_row` (a dated row), `events`;
- referrals: `make_provider`, `referral`, `provider`;
- sessions: `sessions_world`, `session_body`, `complete_content`, `call`, `consent` /
  `record_consents` (parties' consent, recorded from paper, before a session starts);
- supervision: `survey_answer`;
- departments: `make_department`;
- documents: `pdf_bytes`, `png_bytes`, `docx_bytes` (small real files), `upload`.
"""

from tests.factories.base import PASSWORD, World, at, days_ago, later, past, seq
from tests.factories.cases import case_payload, case_row, events, make_case
from tests.factories.departments import make_department
from tests.factories.documents import docx_bytes, pdf_bytes, png_bytes, upload
from tests.factories.referrals import make_provider, provider, referral
from tests.factories.sessions import (
    call,
    complete_content,
    consent,
    consent_via,
    record_consents,
    session_body,
    sessions_world,
)
from tests.factories.supervision import survey_answer
from tests.factories.users import FAST_HASH, ROLES, Api, app_user, build_user, make_user, make_world

__all__ = [
    "FAST_HASH", "PASSWORD", "ROLES", "Api", "World", "app_user", "at", "build_user", "call", "case_payload",
    "case_row", "complete_content", "consent", "consent_via", "record_consents",
    "days_ago", "docx_bytes", "events", "later", "make_case", "make_department", "make_provider",
    "make_user", "make_world", "past", "provider", "referral", "seq", "session_body", "sessions_world",
    "pdf_bytes", "png_bytes", "survey_answer", "upload",
]
