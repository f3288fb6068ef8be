"""Oversight (督办与责任): the people who answer for a region (第一责任人, 直接责任人), a
task force per case (工作专班) whose members see the case, supervision orders (督办单) with
a deadline and a required answer that the periodic sweep escalates one level when late,
and warning talks / accountability (约谈提醒, 问责) counted in the quarterly evaluation.

Decisions where the plan is silent:
- an order goes to the region's 直接责任人, or to its 第一责任人 when no 直接责任人 is
  named (the issuer may ask for one capacity);
- "one level up" is the nearest region above (county → city → province) with someone
  named; with no one above, the order stays open and shows as overdue;
- the escalated order has as many days as the late one had, from the sweep's day;
- an addressee sees the order's case; a task force member sees the case while a member.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

SWEEP_SECONDS = 300.0


def init_app(app: Flask) -> None:
    from mediation.events import declare
    from mediation.oversight import api, commands, events, pages, rules, tasks
    from mediation.permissions import register_rules
    from mediation.registry import registry
    from mediation.server import add_periodic_job
    from mediation.tasks import add_beat

    register_rules(app, *rules.RULES)
    declare(app, *events.ALL)
    reg = registry(app)
    reg.case_access.register("oversight.task_force", rules.task_force_cases)
    reg.case_access.register("oversight.orders", rules.ordered_cases)
    api.init_app(app)
    pages.init_app(app)
    add_periodic_job(app, "oversight-order-escalation", commands.escalate_overdue)
    add_beat(app, "oversight-order-escalation", tasks.ESCALATE, SWEEP_SECONDS)
