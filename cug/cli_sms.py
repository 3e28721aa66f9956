"""`cug sms-gateway ...`: the outbound SMS gateway texts to members' mobiles go through."""

from __future__ import annotations

import asyncio
import sys
import uuid
from dataclasses import replace

import click

from cug.settings import Settings
from directory.numbers import InvalidNumber, normalise
from sms_gateway.config import KINDS, METHODS, GatewayConfig, GatewayConfigError, build_gateway
from sms_gateway.gateway import send_once

DEFAULT_TEST_TEXT = "CUG: a test text through the SMS gateway. No reply is needed."


@click.group("sms-gateway")
def sms_gateway() -> None:
    """The outbound SMS gateway: texts to members reachable only on their mobile."""


@sms_gateway.command("set")
@click.option("--kind", type=click.Choice(KINDS), help="kannel, or none to send no texts.")
@click.option("--url", help="The sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms.")
@click.option("--username", help="The sendsms-user's name.")
@click.option("--sender", help="The sender members see: a sender id or the CUG's number.")
@click.option("--method", type=click.Choice(METHODS), help="post (default) or get.")
@click.option("--timeout", type=float, help="Seconds for one request (default 10).")
@click.option("--max-messages", type=int, help="As the sendsms-user's max-messages (24).")
@click.option("--dlr-url", help="Delivery-report URL; {reference} becomes the text's id.")
@click.option("--dlr-mask", type=int, help="Which delivery reports to ask for (default 31).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input's first line."
)
@click.option("--new-password", is_flag=True, help="Ask for the password again.")
@click.pass_obj
def set_cmd(
    s: Settings, password_stdin: bool, new_password: bool, **values: str | float | int | None
) -> None:
    """Choose and configure the gateway; the password is asked for (hidden) or read from
    stdin, and kept only in the install's owner-only cug.ini."""
    config = replace(s.sms_gateway, **{k: v for k, v in values.items() if v is not None})
    if password_stdin:
        config.password = sys.stdin.readline().rstrip("\r\n")
    elif config.kind != "none" and (new_password or not config.password):
        config.password = click.prompt(
            "gateway password", hide_input=True, confirmation_prompt=True
        )
    problems = config.problems()
    if problems:
        raise click.ClickException("gateway not changed:\n" + "\n".join(f"  {p}" for p in problems))
    s.sms_gateway = config
    s.save()
    click.echo(f"SMS gateway: {describe(config)}")


@sms_gateway.command("show")
@click.pass_obj
def show_cmd(s: Settings) -> None:
    """The configured gateway (never its password) and anything wrong with it."""
    config = s.sms_gateway
    click.echo(f"SMS gateway: {describe(config)}")
    if config.kind != "none":
        click.echo(f"  password: {'set' if config.password else 'not set'}")
        click.echo(
            f"  method {config.method}, timeout {config.timeout:g} s, "
            f"up to {config.max_messages} SMS parts a text"
        )
        if config.dlr_url:
            click.echo(f"  delivery reports: {config.dlr_url} (mask {config.dlr_mask})")
    for problem in config.problems():
        click.echo(f"  problem: {problem}")


@sms_gateway.command("test")
@click.argument("number")
@click.argument("text", required=False, default=DEFAULT_TEST_TEXT)
@click.pass_obj
def test_cmd(s: Settings, number: str, text: str) -> None:
    """Send one text (TEXT, or a standard test text) to NUMBER through the configured gateway
    and print how the gateway answered."""
    try:
        to = normalise(number)
        gateway = build_gateway(s.sms_gateway)
    except (InvalidNumber, GatewayConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    if gateway is None:
        raise click.ClickException("no SMS gateway configured (`cug sms-gateway set --kind ...`)")
    reference = f"test-{uuid.uuid4().hex[:12]}"
    result = asyncio.run(send_once(gateway, to, text, reference))
    line = f"{result.status.value}: {result.reason}"
    if result.message_id:
        line += f" (gateway id {result.message_id})"
    if not result.accepted:
        raise click.ClickException(f"{to} ({reference}) {line}")
    click.echo(f"{to} ({reference}) {line}")


def describe(config: GatewayConfig) -> str:
    if config.kind == "none":
        return "none (no texts go to mobiles)"
    where, who, sender = config.url or "?", config.username or "?", config.sender or "?"
    return f"{config.kind} at {where} as {who}, sender {sender}"
