"""`mediation ledger template|import|export`: the ledger (台账) in Excel."""

from __future__ import annotations

import sys
from pathlib import Path

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
@with_appcontext
def ledger_import(file: Path, username: str, dry_run: bool) -> None:
    """Import a ledger: every row validated; all rows or none; same reference skipped."""
    from mediation.errors import DomainError
    from mediation.supervision.ledger import import_ledger
    from mediation.users import User

    actor = db.session.execute(db.select(User).where(User.username == username)).scalar_one_or_none()
    if actor is None or not actor.active:
        click.echo(f"no active user {username}", err=True)
        sys.exit(2)
    try:
        result = import_ledger(file, actor, dry_run=dry_run)
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
               f"(skipped); {result.rows} row(s) read")


@ledger_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def ledger_export(file: Path) -> None:
    """Write the full ledger (xlsx); identity and phone numbers masked."""
    from mediation.supervision.ledger import export_ledger

    n = export_ledger(file)
    click.echo(f"wrote {n} case(s) to {file}")
