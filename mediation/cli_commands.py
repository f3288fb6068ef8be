"""The `mediation` command's own commands (users, timeline, pii, serve, demo, settings) and
the supervision groups, as the app factory registers them on `app.cli`. The entry point
(`mediation.cli.main`) is separate: it builds the app, which registers these."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from mediation.errors import Invalid
from mediation.extensions import db
from mediation.notifications.cli import notifications_group
from mediation.supervision.cli import ledger_group, reminders_group, reports_group


def upgrade_database() -> None:
    """Bring the database schema up to date (Alembic migrations; see migrations/env.py
    for the lock that lets several processes start at once)."""
    from flask_migrate import upgrade

    upgrade(directory=current_app.extensions["migrate"].directory)


# --- users ---------------------------------------------------------------------------------

@click.group("users", help="Manage user accounts.")
def users_group() -> None:
    pass


@users_group.command("create")
@click.argument("name")
@click.option("--role", required=True, help="admin, supervisor, case_officer, lead_official, "
              "mediator, lawyer, counsellor, mass_org, evaluator or party")
@click.option("--region", default=None, help="GB/T 2260 code of the user's jurisdiction; "
              "none means national")
@click.option("--display-name", default="", help="The name shown to others")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input")
@with_appcontext
def users_create(name: str, role: str, region: str | None, display_name: str,
                 password_stdin: bool) -> None:
    """Create a user; the password comes from a prompt or standard input."""
    from mediation.users import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(name, password, role, region, display_name)
        db.session.commit()
    except Invalid as exc:
        db.session.rollback()
        for field, messages in exc.extra["errors"].items():
            click.echo(f"{field}: {'; '.join(messages)}", err=True)
        sys.exit(1)
    scope = user.region or "national"
    click.echo(f"created user {user.username} (id {user.id}, role {user.role}, region {scope})")


def _user_named(name: str):
    from mediation.users import User

    user = db.session.execute(db.select(User).where(User.username == name)).scalar_one_or_none()
    if user is None:
        click.echo(f"no user named {name}", err=True)
        sys.exit(1)
    return user


@users_group.command("deactivate")
@click.argument("name")
@with_appcontext
def users_deactivate(name: str) -> None:
    """Deactivate a user: no sign-in, no API, tokens revoked, live connections closed."""
    from mediation.users import deactivate

    user = _user_named(name)
    revoked = deactivate(user)
    db.session.commit()
    click.echo(f"deactivated user {user.username} (id {user.id}); {revoked} token(s) revoked")


@users_group.command("reset-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input")
@with_appcontext
def users_reset_password(name: str, password_stdin: bool) -> None:
    """Set a new password; the user's API tokens are revoked and their page sessions end."""
    from mediation.passwords import password_problems
    from mediation.users import end_sessions, revoke_tokens

    user = _user_named(name)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    if problems := password_problems(password, user.username):
        click.echo(f"password: {'; '.join(problems)}", err=True)
        sys.exit(1)
    user.set_password(password)
    revoked = revoke_tokens(user)
    end_sessions(user)
    db.session.commit()
    click.echo(f"password of {user.username} reset; {revoked} token(s) revoked, sessions ended")


@users_group.command("revoke-tokens")
@click.argument("name")
@with_appcontext
def users_revoke_tokens(name: str) -> None:
    """Revoke every live API token of a user; connections opened with them close."""
    from mediation.users import revoke_tokens

    user = _user_named(name)
    revoked = revoke_tokens(user)
    db.session.commit()
    click.echo(f"revoked {revoked} token(s) of user {user.username} (id {user.id})")


# --- timeline ------------------------------------------------------------------------------

@click.group("timeline", help="Check and publish case timelines.")
def timeline_group() -> None:
    pass


@timeline_group.command("verify")
@click.argument("case_id", required=False, type=int)
@click.option("--checkpoint", "checkpoint", type=click.Path(exists=True, dir_okay=False),
              help="Also check the chains against this signed checkpoint file: a shortened "
                   "chain or a rewound counter since it was written is found.")
@with_appcontext
def timeline_verify(case_id: int | None, checkpoint: str | None) -> None:
    """Check every hash chain (or one case's); exit 1 on a broken one."""
    from pathlib import Path

    from mediation import checkpoints, timeline

    checked, problems = timeline.verify(case_id)
    if case_id is not None and checked == 0:
        click.echo(f"case {case_id} not found", err=True)
        sys.exit(2)
    broken = [str(p) for p in problems]
    if checkpoint is not None:
        try:
            heads, mismatches = checkpoints.check(Path(checkpoint))
        except checkpoints.CheckpointError as exc:
            click.echo(f"BROKEN checkpoint {exc}", err=True)
            sys.exit(1)
        broken += [str(m) for m in mismatches if case_id is None or m.case_id == case_id]
    for line in broken:
        click.echo(f"BROKEN {line}", err=True)
    if broken:
        click.echo(f"{len(broken)} problem(s) in {checked} case(s)", err=True)
        sys.exit(1)
    if checkpoint is not None:
        click.echo(f"ok: {checked} case(s), every chain intact and at or past its {heads} "
                   f"checkpointed head(s)")
    else:
        click.echo(f"ok: {checked} case(s), every chain intact")


@timeline_group.command("checkpoint")
@click.option("--dir", "folder", type=click.Path(file_okay=False), default=None,
              help="Where to write it (default MEDIATION_CHECKPOINT_DIR)")
@with_appcontext
def timeline_checkpoint(folder: str | None) -> None:
    """Write a signed checkpoint of every case's chain head; print its path and digest."""
    from pathlib import Path

    from mediation import checkpoints

    path = checkpoints.write(Path(folder) if folder else None)
    click.echo(f"{path} sha256={checkpoints.digest(path)}")


@timeline_group.command("publish-pending")
@with_appcontext
def timeline_publish() -> None:
    """Publish committed events that were not yet published (the outbox sweep)."""
    from mediation import timeline

    total = 0
    while (n := timeline.publish()) > 0:
        total += n
    click.echo(f"published {total} event(s); {timeline.pending_count()} still pending")


# --- personal data -------------------------------------------------------------------------

@click.group("pii", help="Personal data keys.")
def pii_group() -> None:
    pass


@pii_group.command("rotate")
@with_appcontext
def pii_rotate() -> None:
    """Re-encrypt all personal data under the newest MEDIATION_PII_KEY and rebuild the indexes."""
    from mediation.cases.commands import rotate_pii

    done = rotate_pii()
    click.echo(f"re-encrypted {done['petitioners']} petitioner record(s)")
    for column, n in done.items():
        if column != "petitioners":
            click.echo(f"re-encrypted {n} value(s) of {column}")


# --- serving -------------------------------------------------------------------------------

@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=None, type=int,
              help="gunicorn threads (default MEDIATION_THREADS or 100); not in the embedded mode")
@with_appcontext
def serve(host: str, port: int, threads: int | None) -> None:
    """Bring the database up to date and serve the app: gunicorn (one worker with threads)
    outside the embedded mode, Werkzeug's threaded server in it."""
    from mediation.server import exec_gunicorn, run

    upgrade_database()
    app = current_app._get_current_object()
    if app.config["MEDIATION_EMBEDDED"]:
        run(app, host, port)
        return
    db.engine.dispose()  # gunicorn's worker opens its own connections
    try:
        exec_gunicorn(host, port, threads)
    except RuntimeError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Load the demo data and stop")
# For the test suite's PostgreSQL pass only: the demo's users have a published password.
@click.option("--outside-embedded-mode", "outside_embedded", is_flag=True, hidden=True)
@with_appcontext
def demo(host: str, port: int, no_serve: bool, outside_embedded: bool) -> None:
    """Create the database, load demo data, print the logins and serve (embedded mode only)."""
    from mediation.demo import DEMO_PASSWORD, load_demo
    from mediation.server import run

    if not current_app.config["MEDIATION_EMBEDDED"] and not outside_embedded:
        click.echo("configuration error: mediation demo runs only in the embedded mode (SQLite, "
                   "no Redis): its users share a published password", err=True)
        sys.exit(2)
    if outside_embedded and not no_serve:
        click.echo("configuration error: the demo is served only in the embedded mode", err=True)
        sys.exit(2)
    upgrade_database()
    users = load_demo()
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for u in users:
        click.echo(f"  {u.username:<16} {u.role:<14} {u.region or 'national':<8} {u.display_name}")
    click.echo(f"Open http://{host}:{port}/  ·  API docs: http://{host}:{port}/api/docs")
    if not no_serve:
        run(current_app._get_current_object(), host, port)


# --- settings ------------------------------------------------------------------------------

@click.group("settings", help="The MEDIATION_* settings.")
def settings_group() -> None:
    pass


@settings_group.command("doc")
@click.option("--write", "readme", type=click.Path(exists=True, dir_okay=False),
              help="Replace the table between the markers in this file (the README)")
def settings_doc(readme: str | None) -> None:
    """Print the configuration table (Markdown), generated from the settings table."""
    from pathlib import Path

    from mediation import settings

    if readme is None:
        click.echo(settings.markdown_table(), nl=False)
        return
    path = Path(readme)
    path.write_text(settings.replace_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    click.echo(f"wrote the settings table into {path}")


COMMANDS = [users_group, timeline_group, pii_group, serve, demo, ledger_group, reminders_group, reports_group,
            notifications_group]
