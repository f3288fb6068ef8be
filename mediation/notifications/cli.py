"""`mediation notifications …`: try a channel with the configuration in force."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext


@click.group("notifications", help="Outbound notification channels.")
def notifications_group() -> None:
    pass


@notifications_group.command("test")
@click.argument("channel", type=click.Choice(["email", "wecom", "sms"]))
@click.argument("address")
@with_appcontext
def notifications_test(channel: str, address: str) -> None:
    """Send a test message on CHANNEL to ADDRESS (an e-mail address, or a mobile number for
    SMS and WeCom's @-mention) through the configured adapter, or the outbox if none is."""
    from mediation.notifications import channels, messages

    adapter = channels.channel(channel)
    message = messages.render("notifications.test", "测试消息", "TEST")
    try:
        detail = adapter.send(address, message)
    except channels.DeliveryError as exc:
        click.echo(f"{channel}: failed via {adapter.name}: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{channel}: sent via {adapter.name} ({detail})")
