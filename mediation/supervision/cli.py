"""`mediation ledger template|import|export`: the ledger (台账) in Excel."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from mediation.extensions import db


@click.group("ledger", help="The ledger (台账) in Excel: template, import, export.")
def ledger_group() -> None:
    pass


@ledger_group.command("template")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def ledger_template(file: Path) -> None:
    """Write the import template (xlsx)."""
    from mediation.supervision.ledger import write_template

    write_template(file)
    click.echo(f"wrote the ledger template to {file}")


@ledger_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "username", required=True, help="The case officer or admin taking the cases in")
@click.option("--dry-run", is_flag=True, help="Validate and import, then roll everything back")
@click.option("--listed-on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The ledger's date (纳入专项行动) for rows that give none; default today")
@with_appcontext
def ledger_import(file: Path, username: str, dry_run: bool, listed_on: Any = None) -> None:
    """Import a ledger: every row validated; all rows or none; same reference skipped."""
    from mediation.errors import DomainError
    from mediation.supervision.ledger import import_ledger
    from mediation.users import User

    actor = db.session.execute(db.select(User).where(User.username == username)).scalar_one_or_none()
    if actor is None or not actor.active:
        click.echo(f"no active user {username}", err=True)
        sys.exit(2)
    try:
        result = import_ledger(file, actor, dry_run=dry_run,
                               listed_on=listed_on.date() if listed_on else None)
    except DomainError as exc:
        click.echo(exc.message, err=True)
        sys.exit(2)
    for e in result.errors:
        click.echo(f"row {e['row']}, column {e['column']}: {e['message']}", err=True)
    if result.errors:
        click.echo(f"{len(result.errors)} error(s) in {result.rows} row(s): nothing imported", err=True)
        sys.exit(1)
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} {len(result.created)} case(s); {len(result.skipped)} already in the ledger "
               f"(skipped); {result.rows} row(s) read; {len(result.linked)} repeat petition(s) "
               "added to existing cases")
    if result.unlisted:
        click.echo(f"{len(result.unlisted)} case(s) not in the action (no category, no 纳入理由): "
                   + ", ".join(result.unlisted))


@ledger_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def ledger_export(file: Path) -> None:
    """Write the full ledger (xlsx); identity and phone numbers masked."""
    from mediation.supervision.ledger import export_ledger

    n = export_ledger(file)
    click.echo(f"wrote {n} case(s) to {file}")


@click.group("reminders", help="Daily reminders of duties, clocks and performance items due.")
def reminders_group() -> None:
    pass


@reminders_group.command("send")
@click.option("--dry-run", is_flag=True, help="List what is due and not yet sent today; send nothing")
@with_appcontext
def reminders_send(dry_run: bool) -> None:
    """Send today's reminders not sent yet (each item once a day per user, however often run).

    With Redis (MEDIATION_REDIS_URL) they go live at once; in the embedded default they are
    committed to the outbox and the running server's sweep delivers them (within seconds)."""
    from flask import current_app
    from sqlalchemy.orm import Session

    from mediation import clock, timeline
    from mediation.supervision import reminders

    day = clock.today()
    if dry_run:
        items = reminders.due_items(db.session, day)
        sent = reminders.already_sent(db.session, day)
        todo = [d for d in items if (d.user_id, d.key) not in sent]
        for d in todo:
            click.echo(f"user {d.user_id}  case {d.case_id}  {d.kind}  {d.name}  due {d.due_on.isoformat()}")
        click.echo(f"{len(todo)} reminder(s) to send; {len(items) - len(todo)} already sent today")
        return
    if current_app.config.get("MEDIATION_REDIS_URL"):
        result = reminders.send(day)
        timeline.drain(30)  # the Redis emitter runs on this process's publisher thread
        where = "delivered live through Redis"
    else:
        # No hook on this session: nothing is published from this process (it has no
        # clients); the events wait in the outbox for the server's sweep.
        with Session(db.engine) as session:
            result = reminders.send(day, session=session)
        where = "queued for the running server to deliver"
    click.echo(f"sent {result.sent} reminder(s) in {result.events} event(s) for {day.isoformat()} "
               f"({where}); {result.due - result.sent} already sent today")
    if result.failed_cases:
        click.echo(f"failed for case(s) {', '.join(map(str, result.failed_cases))}; run again", err=True)
        sys.exit(1)


@click.group("reports", help="The KPI rollup behind the supervision reports.")
def reports_group() -> None:
    pass


@reports_group.command("rebuild")
@with_appcontext
def reports_rebuild() -> None:
    """Derive the KPI rollup again from the base tables (after a bulk load or raw SQL writes)."""
    from mediation.supervision import rollup

    built = rollup.rebuild(db.session.connection())
    db.session.commit()
    click.echo(f"rebuilt the KPI rollup: {built['steps']} case step(s), {built['rollup_rows']} rollup row(s)")


@reports_group.command("check")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None, help="As of (default today)")
@with_appcontext
def reports_check(day) -> None:
    """Compare the rollup's figures with the base tables' (every grouping, the whole action,
    its backlog and its increment); exit 1 if any differ."""
    from mediation import clock
    from mediation.supervision import kpis
    from mediation.supervision.scope import Scope

    when = day.date() if day else clock.today()
    bad = 0
    for segment in (None, *kpis.SEGMENTS):  # the whole action, its backlog, its increment
        for grouping in (None, *kpis.GROUPINGS):
            fast = kpis.counts_many(Scope(""), [when], grouping, segment)[0]
            live = kpis.counts_many_live(Scope(""), [when], grouping, segment)[0]
            if fast != live:
                bad += 1
                click.echo(f"{segment or 'all'} {grouping or 'all'}: rollup {fast} != base tables {live}",
                           err=True)
    db.session.rollback()
    if bad:
        click.echo("the rollup differs: run `mediation reports rebuild`", err=True)
        sys.exit(1)
    click.echo(f"the rollup agrees with the base tables as of {when.isoformat()}")
