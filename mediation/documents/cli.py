"""`mediation archive export|verify` and `mediation documents sweep`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group("archive", help="The case archive (卷宗): export and verify.")
def archive_group() -> None:
    pass


@archive_group.command("export")
@click.argument("case_id", type=int)
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def archive_export(case_id: int, file: str) -> None:
    """Write CASE_ID's archive as a ZIP to FILE."""
    from mediation.documents import archive
    from mediation.errors import DomainError

    try:
        with open(file, "wb") as out:
            manifest = archive.export(case_id, out)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{file}: case {manifest['reference']}, {len(manifest['documents'])} document(s), "
               f"timeline head {manifest['timeline_head']}")


@archive_group.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def archive_verify(file: str) -> None:
    """Check every document's hash and the timeline's chain in FILE, offline."""
    from mediation.documents.verify_archive import verify

    problems = verify(file)
    for problem in problems:
        click.echo(problem)
    if problems:
        raise click.ClickException(f"{file} is NOT intact: {len(problems)} problem(s)")
    click.echo(f"{file}: OK, every document matches its hash and the timeline's chain is whole")


@click.group("documents", help="The document store.")
def documents_group() -> None:
    pass


@documents_group.command("sweep")
@with_appcontext
def documents_sweep() -> None:
    """Remove stored objects no document points to (older than the grace period)."""
    from mediation.documents import commands

    click.echo(f"removed {commands.sweep_orphans(force=True)} orphaned object(s)")
