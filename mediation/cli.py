"""The `mediation` command: a Flask CLI group (so `run`, `shell`, `db` come with it) over
the app built and checked by `mediation.startup`; the commands themselves are in
`mediation.cli_commands` (the app registers them)."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup, ScriptInfo

from mediation.cli_commands import settings_group, upgrade_database


def _create_app():
    from mediation.startup import create_checked_app

    return create_checked_app()


class _MediationGroup(FlaskGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        # Flask prints a traceback and goes on when the app cannot load for --help; say it in
        # one line instead, and list what works without the app.
        from mediation.settings import ConfigurationError

        try:
            ctx.ensure_object(ScriptInfo).load_app()
        except ConfigurationError as exc:
            click.echo(f"configuration error: {exc}", err=True)
            return sorted(self.commands)
        return super().list_commands(ctx)


def main() -> None:
    """Console script entry point."""
    from mediation.about import version
    from mediation.settings import ConfigurationError
    from mediation.startup import fail

    group = _MediationGroup(create_app=_create_app, add_version_option=False,
                            help="Multi-party mediation coordination service (信访积案多元化解).")
    # Built in, not added by the app: the settings' documentation needs no working settings.
    group.add_command(settings_group)
    group.params.append(click.Option(
        ["--version"], is_flag=True, expose_value=False, is_eager=True,
        help="Show the version and exit.",
        callback=lambda ctx, _param, value: _print_version(ctx, version()) if value else None))
    try:
        group.main(prog_name="mediation")
    except ConfigurationError as exc:
        fail(exc)


def _print_version(ctx: click.Context, version: str) -> None:
    click.echo(f"mediation {version}")
    ctx.exit()


__all__ = ["main", "upgrade_database"]
