"""What the outbound channels say: Chinese templates, kept as data and translated through
the catalog (English via Flask-Babel). A type without its own template gets the general one.
`urgent` types may send an SMS in quiet hours."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from mediation.notifications.channels import Message


@dataclass(frozen=True)
class Template:
    subject: Any
    body: Any  # %(title)s: the event's words, %(ref)s: the case's reference
    urgent: bool = False


GENERAL = Template(_l("【多元化解平台】%(title)s"),
                   _l("您有一条新通知：%(title)s（案件 %(ref)s）。请登录平台查看。"))

TEMPLATES: dict[str, Template] = {
    "referral.offered": Template(_l("【多元化解平台】新的转介邀请"),
                                 _l("案件 %(ref)s 向您所在机构发出转介邀请，请在期限内登录平台答复。"),
                                 urgent=True),
    "session.scheduled": Template(_l("【多元化解平台】调解会议邀请"),
                                  _l("案件 %(ref)s 已安排调解会议，请登录平台查看时间和地点。")),
    "reminder.due": Template(_l("【多元化解平台】到期提醒"),
                             _l("案件 %(ref)s 有事项即将到期或已逾期，请及时办理。")),
    # To the petitioner, with the receipt: %(title)s is the query code.
    "petitioner.receipt_issued": Template(_l("【多元化解平台】受理告知"),
                                          _l("您反映的事项已登记（案件 %(ref)s），查询码 %(title)s。"
                                             "请凭查询码和登记手机号后四位查询办理进度。"), urgent=True),
    # To the petitioner, with the survey's one-time link: %(title)s is the link.
    "survey.sent": Template(_l("【多元化解平台】满意度评价"),
                            _l("您反映的事项（案件 %(ref)s）已办理，请通过以下链接评价：%(title)s")),
}


def render(type_name: str, title: Any, ref: str, locale: str = "zh") -> Message:
    """The message for an event of this type (`title`: its words, lazily translated)."""
    t = TEMPLATES.get(type_name, GENERAL)
    with force_locale(locale):
        fields = {"title": str(title), "ref": ref}
        return Message(str(t.subject) % fields, str(t.body) % fields, fields)


def urgent(type_name: str) -> bool:
    return TEMPLATES.get(type_name, GENERAL).urgent
