"""The case's own event types (the catalogue: `mediation/events.py`)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from mediation.events import OFFICIALS, EventType

CASE_CREATED = EventType("case.created", _l("案件登记"))
CASE_UPDATED = EventType("case.updated", _l("案件信息更新"))
# Derived from the case's data by the rules, not anyone's work on it.
CASE_CLASSIFIED = EventType("case.classified", _l("积案归类"), progress=False)
CASE_STATUS_CHANGED = EventType("case.status_changed", _l("状态变更"))
CASE_RESOLVED = EventType("case.resolved", _l("案件化解"))
CASE_CLOSED = EventType("case.closed", _l("案件办结"))
CASE_REOPENED = EventType("case.reopened", _l("重新信访"))
# The former lead official of a case given another owner may no longer see it.
CASE_OWNER_ASSIGNED = EventType("case.owner_assigned", _l("确定包案领导"), changes_access=True)
CLOCK_EXTENDED = EventType("clock.extended", _l("延长办理期限"))
PETITIONER_ADDED = EventType("petitioner.added", _l("添加信访人"))
INVESTIGATION_ADDED = EventType("dossier.investigation_added", _l("调查核实记录"))
OWNER_CONTACT_RECORDED = EventType("owner.contact_recorded", _l("包案领导履职记录"))
# Who was shown a petitioner's full numbers, and why, is for officials' eyes; reading a
# number is no work on the case.
PII_REVEALED = EventType("pii.revealed", _l("查看个人信息"), audience=OFFICIALS, progress=False)

# Every petition on the case, the first and each repeat (件次, 人次, 越级访).
PETITION_RECEIVED = EventType("petition.received", _l("收到信访件"))
# Two cases of one person kept apart on purpose, each naming the other, with the reason.
CASE_LINKED = EventType("case.linked", _l("关联案件"))
# The absorbed case, closed as merged, points to the survivor; the survivor records the
# absorbed case's last hash, so both chains stay whole and are tied together.
CASE_MERGED = EventType("case.merged", _l("并入其他案件"))
CASE_ABSORBED = EventType("case.absorbed", _l("合并案件"))

# 纳入专项行动 and its correction: who decided that the case counts in the action, from
# which day, and why (a decision about counting, no work on the matter itself).
CASE_ACTION_LISTED = EventType("case.action_listed", _l("纳入专项行动"), progress=False)
CASE_ACTION_UNLISTED = EventType("case.action_unlisted", _l("移出专项行动"), progress=False)

ALL = (CASE_CREATED, CASE_UPDATED, CASE_CLASSIFIED, CASE_STATUS_CHANGED, CASE_RESOLVED, CASE_CLOSED,
       CASE_REOPENED, CASE_OWNER_ASSIGNED, CLOCK_EXTENDED, PETITIONER_ADDED, INVESTIGATION_ADDED,
       OWNER_CONTACT_RECORDED, PII_REVEALED, PETITION_RECEIVED, CASE_LINKED, CASE_MERGED,
       CASE_ABSORBED, CASE_ACTION_LISTED, CASE_ACTION_UNLISTED)
