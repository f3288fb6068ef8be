"""Every `MEDIATION_*` setting, declared once: name, type, default, meaning, validation.

This module is the only place that reads the environment. `create_app` calls `load()`
once: each setting comes from the mapping given to `create_app`, else the environment,
else its default; all of them are checked before anything starts, and every bad value is
named in one `ConfigurationError`. The checked, typed values land in `app.config` under
the setting's name; code reads them with `get(name)` (or `app.config[name]`).

To add a setting: append a `Setting` to `SETTINGS` (in its area's block), read it with
`settings.get("MEDIATION_…")`, and run `mediation settings doc --write` to refresh the
README's table (a test keeps the two equal).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet

MIN_SECRET_LENGTH = 32
MIN_SECRET_DISTINCT = 12  # a 32-character key of a few repeated characters is no secret


class ConfigurationError(RuntimeError):
    """The configuration cannot be used. `errors` holds one message per bad value; the
    message joins them on one line (it is what an operator sees)."""

    def __init__(self, errors: str | Iterable[str]) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("; ".join(self.errors))


class _Bad(ValueError):
    """A value a setting's parser refuses; the message completes "NAME …"."""


# --- parsers: raw value (a string from the environment, or whatever create_app was given)
# to the typed value, or _Bad.


def _integer(low: int | None = None, high: int | None = None) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        if isinstance(raw, bool):
            raise _Bad("must be a whole number")
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise _Bad(f"must be a whole number, not {str(raw)!r}") from None
        if low is not None and high is not None and not low <= value <= high:
            raise _Bad(f"must be between {low} and {high}, not {value}")
        if low is not None and value < low:
            raise _Bad(f"must be at least {low}, not {value}")
        if high is not None and value > high:
            raise _Bad(f"must be at most {high}, not {value}")
        return value

    return parse


def _day_list(raw: Any) -> tuple[int, ...]:
    """Days as a comma-separated list (`30,90`), each 1–3660, distinct, in order."""
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    days = tuple(_integer(1, 3660)(item) for item in items if str(item).strip())
    if not days:
        raise _Bad("must list at least one number of days, e.g. 30,90")
    if len(set(days)) != len(days):
        raise _Bad("must not list a number of days twice")
    return tuple(sorted(days))


def _positive_number(raw: Any) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise _Bad(f"must be a number, not {str(raw)!r}") from None
    if not value > 0:  # also refuses nan
        raise _Bad(f"must be positive, not {str(raw).strip()}")
    return value


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = str(raw).strip()
        if value not in choices:
            raise _Bad(f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    return parse


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise _Bad(f"must be true or false, not {str(raw)!r}")


def _text(raw: Any) -> str:
    return str(raw)


def _path(raw: Any) -> str:
    return str(Path(str(raw)).expanduser())


def _timezone(raw: Any) -> str:
    name = str(raw).strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Bad(f"must be an IANA time zone such as Asia/Shanghai, not {name!r}") from None
    return name


def _rate(raw: Any) -> str:
    value = str(raw).strip()
    match = re.fullmatch(r"(\d+)(?:/(\d+))?", value)
    if not match or int(match.group(1)) < 1 or (match.group(2) and int(match.group(2)) < 1):
        raise _Bad(f"must be count/seconds such as 20/60, not {value!r}")
    return value


def _iso_day(raw: Any) -> dt.date:
    """A calendar day as YYYY-MM-DD."""
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw).strip())
    except ValueError:
        raise _Bad(f"must be a day as YYYY-MM-DD, not {str(raw)!r}") from None


def _quiet_hours(raw: Any) -> str:
    text = str(raw).strip()
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", text):
        raise _Bad(f"must be HH:MM-HH:MM such as 22:00-07:00, not {text!r}")
    return text


def _limit(raw: Any) -> str:
    from limits import parse

    value = str(raw).strip()
    try:
        parse(value)
    except ValueError:
        raise _Bad(f"must read like '5 per 15 minutes', not {value!r}") from None
    return value


def secret_weakness(secret: str) -> str | None:
    """Why a session-signing key is too weak to use, or None."""
    if any(ch.isspace() for ch in secret):
        return "it holds whitespace (a copy-paste slip?)"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"shorter than {MIN_SECRET_LENGTH} characters"
    if len(set(secret)) < MIN_SECRET_DISTINCT:
        return f"fewer than {MIN_SECRET_DISTINCT} different characters"
    return None


def _database_url(raw: Any) -> str:
    import sqlalchemy as sa

    url = str(raw).strip()
    if url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise _Bad(f"is not a database URL: {url!r} (e.g. postgresql://user@host/db "
                   "or sqlite:////path/mediation.db)") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise _Bad(f"must be a PostgreSQL or SQLite URL, not {parsed.get_backend_name()}://")
    try:
        parsed.get_dialect()
    except Exception:  # noqa: BLE001 - sa raises NoSuchModuleError or the driver's ImportError
        raise _Bad(f"names a driver that is not installed: {parsed.drivername}") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).expanduser().resolve().parent
        if not folder.is_dir():
            raise _Bad(f"names a SQLite file in a folder that does not exist: {folder}")
    return url


def _redis_url(raw: Any) -> str:
    url = str(raw).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise _Bad(f"must be a redis://, rediss:// or unix:// URL, not {url!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise _Bad(f"has a port that is not a number: {url!r}") from None
    if parts.scheme != "unix":
        if not parts.hostname:
            raise _Bad(f"names no host: {url!r}")
        db = parts.path.lstrip("/")
        if db and not db.isdigit():
            raise _Bad(f"must end with a database number such as /0, not {parts.path!r}")
    return url


def _pii_keys(raw: Any) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in str(raw).split(",") if k.strip())
    if not keys:  # " , " is set but names no key: it would fail at the first number
        raise _Bad("names no key: one or more Fernet keys, comma-separated")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise _Bad("holds a key that is not a Fernet key") from None
    return keys


def _storage_url(raw: Any) -> str:
    value = str(raw).strip()
    parts = urlsplit(value)
    if parts.scheme == "file" and parts.path.startswith("/"):
        return value
    if parts.scheme == "s3" and parts.netloc:
        return value
    raise _Bad(f"must be file:///absolute/path or s3://bucket/prefix, not {value!r}")


@dataclass(frozen=True)
class Setting:
    """One `MEDIATION_*` setting. `default` is the typed value used when it is not set
    (None: unset); `default_doc` says it in words where the value alone would not."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    doc: str
    area: str = "core"
    default_doc: str | None = None
    secret: bool = field(default=False)

    def describe_default(self) -> str:
        if self.default_doc is not None:
            return self.default_doc
        return "unset" if self.default is None else f"`{self.default}`"


# Statutory time limits of the 2022 信访工作条例, in days, each a setting
# MEDIATION_CLOCK_<NAME>; together they are app.config["MEDIATION_CLOCKS"].
DEFAULT_CLOCKS: dict[str, int] = {
    "acceptance_decision": 15,  # decide whether and where to accept, from receipt
    "handling": 60,  # handle the matter, from acceptance
    "handling_extension_max": 30,  # one extension, with approval
    "review_request": 30,  # 复查 may be requested, from the written reply
    "review_answer": 30,  # 复查 answered, from the request
    "rereview_request": 30,  # 复核 may be requested, from the review answer
    "rereview_answer": 30,  # 复核 answered, from the request
    # 五包: the owner hears progress at least monthly, meets the petitioner half-monthly.
    "owner_progress_hearing": 30,
    "owner_petitioner_meeting": 15,
}
_CLOCK_DOCS = {
    "acceptance_decision": "days to decide whether and where to accept, from receipt",
    "handling": "days to handle the matter, from acceptance",
    "handling_extension_max": "days one extension may add (with approver and reason)",
    "review_request": "days to request a review (复查), from the written reply",
    "review_answer": "days to answer a review (复查), from the request",
    "rereview_request": "days to request a re-review (复核), from the review answer",
    "rereview_answer": "days to answer a re-review (复核), from the request",
    "owner_progress_hearing": "the lead official hears progress at least every this many days",
    "owner_petitioner_meeting": "the lead official meets the petitioner at least every this many days",
}


def clock_setting(name: str) -> str:
    return f"MEDIATION_CLOCK_{name.upper()}"


SETTINGS: tuple[Setting, ...] = (
    # --- core ---------------------------------------------------------------------------
    Setting("MEDIATION_DATABASE_URL", _database_url, None,
            "SQLAlchemy URL, PostgreSQL or SQLite; `postgresql://…` uses psycopg 3",
            default_doc="SQLite file `mediation.db` in the instance folder"),
    Setting("MEDIATION_REDIS_URL", _redis_url, None,
            "Redis for the Socket.IO queue and the Celery broker",
            default_doc="unset: embedded (in-process delivery, eager tasks)"),
    Setting("MEDIATION_SECRET_KEY", _text, None,
            f"session signing; **required** (≥ {MIN_SECRET_LENGTH} chars) outside the embedded mode",
            default_doc="embedded: generated once into the instance folder", secret=True),
    Setting("MEDIATION_PII_KEY", _pii_keys, None,
            "Fernet key(s), comma-separated, newest first; **required** outside the embedded mode",
            default_doc="embedded: generated once into the instance folder", secret=True),
    Setting("MEDIATION_CHECKPOINT_KEY", _text, None,
            "HMAC key signing the daily checkpoints of the case chains' heads",
            default_doc="embedded: generated once into the instance folder; otherwise "
                        "derived from MEDIATION_SECRET_KEY", secret=True),
    Setting("MEDIATION_CHECKPOINT_DIR", _path, None,
            "where the signed daily checkpoints of the chains' heads are written (keep them "
            "where whoever can write the database cannot)",
            default_doc="`checkpoints/` in the instance folder"),
    Setting("MEDIATION_INSTANCE_PATH", _path, None,
            "where the SQLite file and generated keys live",
            default_doc="Flask's instance folder"),
    Setting("MEDIATION_TIMEZONE", _timezone, "Asia/Shanghai",
            "the service's local day: today, due dates, signatures, printed dates and "
            "report dates are days in this zone (timestamps are stored in UTC)"),
    # 20 an hour: more than intake needs, far too few to confirm guessed numbers one by one.
    Setting("MEDIATION_PII_SEARCH_RATE", _rate, "20/3600",
            "`N/S`: at most N searches by number per user in S seconds (then 429 and an "
            "alert to admins)"),
    Setting("MEDIATION_IDEMPOTENCY_TTL_HOURS", _integer(1, 24 * 31), 24,
            "how long the response to a POST's `Idempotency-Key` is kept for retries, in hours"),
    Setting("MEDIATION_TOKEN_TTL_HOURS", _integer(1, 24 * 366), 12,
            "lifetime of API bearer tokens, in hours"),
    # --- sign-in and sessions --------------------------------------------------------------
    Setting("MEDIATION_LOGIN_ACCOUNT_LIMIT", _limit, "5 per 15 minutes",
            "failed sign-ins per account name, then 429 until the window has passed "
            "(pages and API count together)", area="security"),
    # Far above what a person does in a minute, low enough to stop a script flooding cases.
    Setting("MEDIATION_WRITE_LIMIT", _limit, "120 per minute",
            "changes (writes that append events) per user, then 429 until the window has "
            "passed; counted in Redis when configured", area="security"),
    Setting("MEDIATION_LOGIN_IP_LIMIT", _limit, "30 per 15 minutes",
            "failed sign-ins per client address, then 429 until the window has passed",
            area="security"),
    Setting("MEDIATION_SESSION_IDLE_MINUTES", _integer(1, 24 * 60), 30,
            "a pages session ends after this many minutes without a request", area="security"),
    Setting("MEDIATION_SESSION_MAX_HOURS", _integer(1, 24 * 31), 12,
            "a pages session ends this many hours after signing in, however active",
            area="security"),
    # --- operations ---------------------------------------------------------------------
    Setting("MEDIATION_LOG_FORMAT", _choice("text", "json"), "text",
            "`text`: one line per record (UTC time, level, logger, request id, message); "
            "`json`: one JSON object per line", area="operations"),
    Setting("MEDIATION_LOG_LEVEL", _choice("DEBUG", "INFO", "WARNING", "ERROR"), "INFO",
            "the lowest level logged", area="operations"),
    Setting("MEDIATION_SECURE_COOKIES", _boolean, None,
            "session and remember-me cookies only over HTTPS",
            default_doc="`true` outside the embedded mode, `false` in it", area="operations"),
    Setting("MEDIATION_PROXY_HOPS", _integer(0, 10), 0,
            "how many proxies in front set X-Forwarded-For/-Proto/-Host/-Prefix (nginx alone: "
            "1); 0 trusts none", area="operations"),
    Setting("MEDIATION_THREADS", _integer(1, 10000), 100,
            "gunicorn threads per web process (`mediation serve` outside the embedded mode): "
            "each open WebSocket holds one; the process accepts that many connections plus 900 "
            "idle keep-alive ones", area="operations"),
    Setting("MEDIATION_DB_POOL_SIZE", _integer(1, 1000), 10,
            "PostgreSQL connections a process keeps open for reuse; size it to the requests "
            "and background threads that use the database at once (a connection opened past "
            "it is closed when returned, and the next one is a new server process)",
            area="operations"),
    Setting("MEDIATION_DB_MAX_OVERFLOW", _integer(0, 1000), 20,
            "PostgreSQL connections a process may open beyond the pool in a burst (closed when "
            "returned); past pool and overflow a request waits for a free connection",
            area="operations"),
    Setting("MEDIATION_GRACEFUL_TIMEOUT", _integer(1, 3600), 10,
            "seconds a stopping web process waits for open requests (WebSockets never end "
            "by themselves)", area="operations"),
    *(Setting(clock_setting(name), _integer(1, 3660), days, _CLOCK_DOCS[name], area="clocks")
      for name, days in DEFAULT_CLOCKS.items()),
    # --- supervision --------------------------------------------------------------------
    Setting("MEDIATION_STALL_DAYS", _integer(1, 3660), 14,
            "an open case with no progress event for this many days is stalled (周调度)",
            area="supervision"),
    Setting("MEDIATION_ACTION_BACKLOG_UNTIL", _iso_day, dt.date(2025, 3, 31),
            "the special action's cut-off: cases listed (纳入专项行动) on or before this day are "
            "its backlog (存量), cases listed later its increment (增量); after changing it run "
            "`mediation reports rebuild`", area="supervision", default_doc="`2025-03-31`"),
    Setting("MEDIATION_REOPEN_WINDOW_DAYS", _integer(1, 3660), 180,
            "a case reopened within this many days of being resolved or closed is flagged "
            "(possible fake resolution)", area="supervision"),
    Setting("MEDIATION_DUE_SOON_DAYS", _integer(0, 366), 7,
            "a clock due within this many days is \"close\" in the weekly report",
            area="supervision"),
    Setting("MEDIATION_SURVEY_TTL_DAYS", _integer(1, 366), 14,
            "how long a satisfaction survey link stays valid, in days", area="supervision"),
    Setting("MEDIATION_REMINDER_DAYS", _integer(0, 366), 3,
            "owners' contact duties and performance items due within this many days (or "
            "overdue) are reminded of, once a day", area="supervision"),
    Setting("MEDIATION_REMINDER_CLOCK_DAYS", _integer(0, 366), 7,
            "statutory clocks running out within this many days (or overdue) are reminded of",
            area="supervision"),
    Setting("MEDIATION_REMINDER_HOUR", _integer(0, 23), 8,
            "the daily reminders start at this hour of the service's day (MEDIATION_TIMEZONE)",
            area="supervision"),
    Setting("MEDIATION_REMINDER_AUTO", _integer(0, 1), 1,
            "1: beat or the embedded loop runs the day's reminders; 0: only "
            "`mediation reminders send` does (say, from cron)", area="supervision"),
    Setting("MEDIATION_REMINDER_START_DELAY", _integer(0, 86400), 300,
            "the embedded loop's first reminder run waits this many seconds after the start",
            area="supervision"),
    Setting("MEDIATION_REMINDER_CHECK_SECONDS", _integer(1, 86400), 3600,
            "how often beat asks whether today's reminder run is due, in seconds",
            area="supervision"),
    Setting("MEDIATION_LEDGER_MAX_ROWS", _integer(1, 1_000_000), 5000,
            "rows a ledger upload may have (more: split the file)", area="supervision"),
    Setting("MEDIATION_LEDGER_PARSE_SECONDS", _positive_number, 20.0,
            "seconds reading a ledger upload may take, then it is refused (422)",
            default_doc="`20`", area="supervision"),
    Setting("MEDIATION_LEDGER_UPLOAD_MINUTES", _integer(1, 7 * 24 * 60), 60,
            "minutes a checked ledger upload waits (encrypted) for its import, then it is deleted",
            area="supervision"),
    # --- sessions -----------------------------------------------------------------------
    Setting("MEDIATION_CESSATION_QUIET_DAYS", _integer(1, 3660), 180,
            "days after the resolution without a new petition after which petitioning "
            "counts as ceased (息诉罢访)", area="sessions"),
    Setting("MEDIATION_PRESENCE_HEARTBEAT_SECONDS", _integer(1, 3600), 25,
            "how often a session room's client says it is still there, in seconds "
            "(three missed: gone)", area="sessions"),
    Setting("MEDIATION_REPEAT_INTAKE", _choice("refuse", "warn"), "refuse",
            "`refuse`: an intake whose petitioner strongly matches an existing case is refused "
            "(409 with the candidates) until it says repeat or new case; `warn`: it goes "
            "through (the page still shows the candidates) — for loading a history of cases"),
    Setting("MEDIATION_FOLLOWUP_VISIT_DAYS", _day_list, (30, 90),
            "follow-up visits (回访) scheduled this many (Beijing) days after an agreement "
            "takes effect, or after a case is resolved otherwise; comma-separated",
            default_doc="`30,90`", area="sessions"),
    # --- referrals ----------------------------------------------------------------------
    Setting("MEDIATION_ROUTING_RULES", _path, None,
            "path of the routing rules file (JSON)",
            default_doc="`routing_rules.json` in the instance folder if present, else the "
                        "packaged `referrals/routing_rules.json`", area="referrals"),
    Setting("MEDIATION_ROUTING_ON_INTAKE", _choice("confirm", "auto"), "confirm",
            "`confirm`: the officer confirms the routing; `auto`: offers go out as soon as "
            "a case's needs are set", area="referrals"),
    Setting("MEDIATION_REFERRAL_SWEEP_SECONDS", _positive_number, 60.0,
            "how often beat (or the embedded loop) sweeps overdue offers, in seconds",
            default_doc="`60`", area="referrals"),
    Setting("MEDIATION_PROVIDER_RECORD_DAYS", _integer(0, 3660), 365,
            "days after a referral's completion during which its provider's members still "
            "read the case's timeline up to completion and what they authored on it "
            "(`GET /api/referrals/<id>/record`); 0: not after completion", area="referrals"),
    # --- notifications --------------------------------------------------------------------
    Setting("MEDIATION_NOTIFY_OUTBOX", _path, None,
            "file (JSON lines) where messages for channels that are not configured are written",
            default_doc="`outbox.jsonl` in the instance folder", area="notifications"),
    Setting("MEDIATION_NOTIFY_QUIET_HOURS", _quiet_hours, "22:00-07:00",
            "`HH:MM-HH:MM` in the service's local time (MEDIATION_TIMEZONE): no SMS in these "
            "hours except urgent ones (they wait until the end)", area="notifications"),
    Setting("MEDIATION_NOTIFY_MAX_ATTEMPTS", _integer(1, 20), 5,
            "attempts per (notification, channel) before the delivery is logged as failed",
            area="notifications"),
    Setting("MEDIATION_QUERY_IP_LIMIT", _limit, "20 per 15 minutes",
            "lookups on the public query page per client address", area="notifications"),
    Setting("MEDIATION_QUERY_CODE_LIMIT", _limit, "5 per 15 minutes",
            "lookups of one query code (wrong phone digits included)", area="notifications"),
    Setting("MEDIATION_SMTP_HOST", _text, None, "SMTP server for e-mail (STARTTLS required)",
            default_doc="unset: e-mail goes to the outbox file", area="notifications"),
    Setting("MEDIATION_SMTP_PORT", _integer(1, 65535), 587, "SMTP port", area="notifications"),
    Setting("MEDIATION_SMTP_FROM", _text, "noreply@mediation.local", "the From address",
            area="notifications"),
    Setting("MEDIATION_SMTP_USER", _text, None, "SMTP AUTH user (after STARTTLS)", area="notifications"),
    Setting("MEDIATION_SMTP_PASSWORD", _text, None, "SMTP AUTH password", area="notifications",
            secret=True),
    Setting("MEDIATION_SMTP_CA_FILE", _path, None, "CA bundle the SMTP server's certificate is "
            "checked against", default_doc="the system's", area="notifications"),
    Setting("MEDIATION_WECOM_WEBHOOK", _text, None,
            "WeCom (企业微信) group robot webhook URL (`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`)",
            default_doc="unset: WeCom messages go to the outbox file", area="notifications", secret=True),
    Setting("MEDIATION_ALIYUN_SMS_ENDPOINT", _text, "https://dysmsapi.aliyuncs.com/",
            "Aliyun SMS API endpoint", area="notifications"),
    Setting("MEDIATION_ALIYUN_SMS_ACCESS_KEY_ID", _text, None, "Aliyun AccessKey ID for SMS",
            default_doc="unset: SMS go to the outbox file", area="notifications"),
    Setting("MEDIATION_ALIYUN_SMS_ACCESS_KEY_SECRET", _text, None, "Aliyun AccessKey secret",
            area="notifications", secret=True),
    Setting("MEDIATION_ALIYUN_SMS_SIGN_NAME", _text, None, "the approved SMS signature (签名)",
            area="notifications"),
    Setting("MEDIATION_ALIYUN_SMS_TEMPLATE", _text, None,
            "the approved template code; it takes `${title}` and `${ref}`", area="notifications"),
    # --- realtime -----------------------------------------------------------------------
    # 20 messages a minute: more than a person types, fewer than a runaway script sends.
    Setting("MEDIATION_MESSAGE_RATE", _rate, "20/60",
            "`N/S`: at most N messages per user in S seconds (then 429)", area="realtime"),
    # A person has a few tabs and a phone open; each connection holds a thread of its process.
    Setting("MEDIATION_MAX_SOCKETS_PER_USER", _integer(1, 1000), 20,
            "live connections one user may hold open on one web process (more are refused)",
            area="realtime"),
    Setting("MEDIATION_ACCESS_RECHECK_SECONDS", _positive_number, 60.0,
            "how often each web process re-checks all its live connections against the "
            "database (deactivated users, revoked or expired tokens, lost cases), in seconds",
            default_doc="`60`", area="realtime"),
    # A client that stops reading would otherwise hold its writer thread (under gunicorn,
    # one of the worker's threads) and an ever-growing queue for as long as it stays.
    Setting("MEDIATION_SOCKET_SEND_STALL_SECONDS", _positive_number, 20.0,
            "a live connection whose send buffer stays full this long (the client reads "
            "nothing) is disconnected, in seconds", default_doc="`20`", area="realtime"),
    # --- documents ------------------------------------------------------------------------
    Setting("MEDIATION_STORAGE_URL", _storage_url, None,
            "where documents are kept: `file:///path` (a folder every web process shares) or "
            "`s3://bucket/prefix` (an S3-compatible object store)",
            default_doc="`file://` the instance folder's `documents/`", area="documents"),
    Setting("MEDIATION_STORAGE_ENDPOINT", _text, None,
            "the S3 endpoint URL (MinIO, Ceph, a cloud's); unset: the client's default",
            area="documents"),
    Setting("MEDIATION_STORAGE_REGION", _text, "us-east-1", "the S3 region name", area="documents"),
    Setting("MEDIATION_STORAGE_ACCESS_KEY", _text, None, "the S3 access key id", area="documents",
            secret=True),
    Setting("MEDIATION_STORAGE_SECRET_KEY", _text, None, "the S3 secret access key",
            area="documents", secret=True),
    Setting("MEDIATION_UPLOAD_MAX_MB", _integer(1, 2048), 25,
            "the largest document one may upload, in MB", area="documents"),
    Setting("MEDIATION_DOCUMENT_CHECKLIST", _path, None,
            "a JSON file of the papers each stage of a case should hold (status -> document "
            "kinds), instead of the shipped `mediation/documents/checklist.json`", area="documents"),
    Setting("MEDIATION_ORPHAN_GRACE_HOURS", _integer(1, 24 * 31), 24,
            "stored objects no document points to are removed after this many hours",
            area="documents"),
)

DECLARED: dict[str, Setting] = {}
for _setting in SETTINGS:
    if _setting.name in DECLARED:  # pragma: no cover - caught by the first import
        raise RuntimeError(f"setting {_setting.name} declared twice")
    DECLARED[_setting.name] = _setting
del _setting


# --- reading ---------------------------------------------------------------------------------

def _raw(name: str, config: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """The value given to create_app, else the environment's; None when neither sets it
    (an empty environment variable counts as unset)."""
    if config.get(name) is not None:
        return config[name]
    value = env.get(name)
    return value if value not in (None, "") else None


def instance_path(config: Mapping[str, Any] | None = None,
                  env: Mapping[str, str] | None = None) -> str | None:
    """Where the instance folder is, before the app exists (None: Flask's default)."""
    env = os.environ if env is None else env
    raw = _raw("MEDIATION_INSTANCE_PATH", config or {}, env)
    if raw is None:
        raw = (config or {}).get("INSTANCE_PATH")
    return _path(raw) if raw is not None else None


def _instance_secret(folder: Path, name: str, make: Callable[[], str]) -> str:
    """Read a generated secret from the instance folder, creating it once (race-safe)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(make())
    return path.read_text().strip()


def load(config: Mapping[str, Any] | None, instance: Path,
         env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every setting, typed and checked, as app config keys (plus the derived
    `MEDIATION_CLOCKS`, `MEDIATION_PII_KEYS` and `MEDIATION_EMBEDDED`). Raise one
    ConfigurationError naming every bad value."""
    config = config or {}
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    errors: list[str] = []
    for setting in SETTINGS:
        raw = _raw(setting.name, config, env)
        if raw is None:
            values[setting.name] = setting.default
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except _Bad as exc:
            errors.append(f"{setting.name} {exc}")
            values[setting.name] = setting.default

    if values["MEDIATION_DATABASE_URL"] is None:
        values["MEDIATION_DATABASE_URL"] = f"sqlite:///{instance / 'mediation.db'}"
    database_url = values["MEDIATION_DATABASE_URL"]
    embedded = database_url.startswith("sqlite") and values["MEDIATION_REDIS_URL"] is None
    secret_key = values["MEDIATION_SECRET_KEY"] or ""
    pii_bad = any(e.startswith("MEDIATION_PII_KEY ") for e in errors)
    if embedded:
        if not errors:  # a broken configuration writes nothing into the instance folder
            secret_key = secret_key or _instance_secret(
                instance, "secret_key", lambda: secrets.token_urlsafe(48))
            if values["MEDIATION_PII_KEY"] is None:
                values["MEDIATION_PII_KEY"] = _pii_keys(_instance_secret(
                    instance, "pii_key", lambda: Fernet.generate_key().decode()))
            if values["MEDIATION_CHECKPOINT_KEY"] is None:
                values["MEDIATION_CHECKPOINT_KEY"] = _instance_secret(
                    instance, "checkpoint_key", lambda: secrets.token_urlsafe(32))
    else:
        if len(secret_key) < MIN_SECRET_LENGTH:
            errors.append(f"MEDIATION_SECRET_KEY must be set to a random string of at least "
                          f"{MIN_SECRET_LENGTH} characters outside the embedded SQLite mode")
        if values["MEDIATION_PII_KEY"] is None and not pii_bad:
            errors.append(
                "MEDIATION_PII_KEY must be set outside the embedded SQLite mode: one or more "
                "Fernet keys, comma-separated, newest first "
                '(python -c "from cryptography.fernet import Fernet;'
                'print(Fernet.generate_key().decode())")')
    said = any(e.startswith("MEDIATION_SECRET_KEY") for e in errors)
    if secret_key and not said and (problem := secret_weakness(secret_key)):
        errors.append(f"MEDIATION_SECRET_KEY is weak: {problem} "
                      '(python -c "import secrets; print(secrets.token_urlsafe(48))")')
    if errors:
        raise ConfigurationError(errors)
    values["MEDIATION_SECRET_KEY"] = secret_key
    values["MEDIATION_PII_KEYS"] = values["MEDIATION_PII_KEY"]
    values["MEDIATION_EMBEDDED"] = embedded
    values["MEDIATION_CLOCKS"] = {name: values[clock_setting(name)] for name in DEFAULT_CLOCKS}
    return values


def from_env(name: str, env: Mapping[str, str] | None = None) -> Any:
    """One setting straight from the environment, for what runs before any app exists
    (logging, gunicorn's settings); raise ConfigurationError when it is bad."""
    setting = DECLARED[name]
    raw = _raw(name, {}, os.environ if env is None else env)
    if raw is None:
        return setting.default
    try:
        return setting.parse(raw)
    except _Bad as exc:
        raise ConfigurationError(f"{name} {exc}") from None


def get(name: str, app: Any = None) -> Any:
    """A setting's checked value in the app (current_app by default); its default when the
    app's config no longer holds it."""
    if app is None:
        from flask import current_app

        app = current_app
    setting = DECLARED[name]  # KeyError: an undeclared setting is a bug, not a default
    value = app.config.get(name)
    return setting.default if value is None else value


# --- documentation ---------------------------------------------------------------------------

DOC_BEGIN = "<!-- settings table: generated by `mediation settings doc --write`; do not edit -->"
DOC_END = "<!-- end of settings table -->"


def markdown_table() -> str:
    """The README's configuration table, generated from SETTINGS."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        doc = setting.doc.replace("|", "\\|")
        lines.append(f"| `{setting.name}` | {setting.describe_default()} | {doc} |")
    return "\n".join(lines) + "\n"


def replace_table(readme: str) -> str:
    """`readme` with the text between the markers replaced by the generated table."""
    start = readme.index(DOC_BEGIN) + len(DOC_BEGIN)
    end = readme.index(DOC_END)
    return readme[:start] + "\n" + markdown_table() + readme[end:]
