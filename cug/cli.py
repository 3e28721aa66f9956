"""The `cug` command: set up an install, run the service, run a sandboxed Asterisk."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import os
import sys
from pathlib import Path

import click

from cug import settings as settings_mod
from cug.cli_admin import admin
from cug.cli_api import api
from cug.cli_case import case, report
from cug.cli_conference import conference
from cug.cli_directory import directory
from cug.cli_escalation import escalation
from cug.cli_remote import REMOTE_COMMANDS, start_remote
from cug.cli_sms import sms_gateway
from cug.cli_texts import texts
from cug.settings import Settings
from directory.numbers import try_normalise


class CugCommand(click.Group):
    """The `cug` group: a file or folder that cannot be read or written (a mistyped --home,
    --etc or --output, a full disk) is said in one line, not a Python traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Output piped into `head` and the like, which stopped reading: not an error to
            # report (Python's advice: point stdout at devnull so the exit flush is quiet).
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
        except OSError as exc:
            logging.getLogger("cug").debug("stopped on", exc_info=exc)
            where = f": {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from exc


@click.group(cls=CugCommand)
@click.option(
    "--home",
    type=click.Path(path_type=Path),
    envvar="CUG_HOME",
    help="The install's folder (settings, database, logs). Default ~/.local/share/cug.",
)
@click.option(
    "--db",
    type=click.Path(path_type=Path),
    envvar="CUG_DB",
    help="The directory database. Default: cug.db in the install's folder.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debugging detail.")
@click.option(
    "--remote",
    metavar="URL",
    help="Work through the JSON API of the service at URL (its site, e.g. "
    "https://cug.example.org, or its /api), in the token's scope, not on this machine: "
    "`directory list|show|add` and `api get|post`.",
)
@click.option(
    "--token",
    envvar="CUG_API_TOKEN",
    help="The API token for --remote (better in CUG_API_TOKEN: a command line is visible "
    "to other users of the machine).",
)
@click.pass_context
def main(
    ctx: click.Context,
    home: Path | None,
    db: Path | None,
    verbose: bool,
    remote: str | None,
    token: str | None,
) -> None:
    """A closed user group for child-protection workers on Asterisk."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = settings_mod.load(home, db)
    if remote is not None:
        start_remote(ctx, remote, token)
        if ctx.invoked_subcommand not in REMOTE_COMMANDS:
            raise click.UsageError(
                f"`{ctx.invoked_subcommand}` does not work with --remote "
                f"(these do: {', '.join(REMOTE_COMMANDS)})"
            )


main.add_command(directory)
main.add_command(case)
main.add_command(report)
main.add_command(api)
main.add_command(escalation)
main.add_command(sms_gateway)
main.add_command(texts)
main.add_command(conference)
main.add_command(admin)


@main.command()
@click.option("--instance", help="Name of this install's sandboxed Asterisk.")
@click.option("--sip-bind", help="Address SIP listens on (default 127.0.0.1).")
@click.option("--sip-port", type=click.IntRange(1, 65535))
@click.option("--ami-port", type=click.IntRange(1, 65535))
@click.option("--agi-port", type=click.IntRange(1, 65535))
@click.option("--http-port", type=click.IntRange(1, 65535))
@click.option("--ring-seconds", type=click.IntRange(5, 120), help="Ring time before no answer.")
@click.option(
    "--reminder-interval", type=click.IntRange(1, 3600), help="Seconds between follow-up checks."
)
@click.option(
    "--key-seconds",
    type=click.IntRange(2, 30),
    help="Time to press 1 when answering an escalated call or a call on a mobile.",
)
@click.option("--trunk/--no-trunk", default=None, help="Accept a GSM gateway / operator trunk.")
@click.option("--trunk-number", multiple=True, help="A number members dial to reach the CUG.")
@click.option(
    "--callback-number",
    multiple=True,
    help='A "please call me" number: a member rings it, hangs up, and is called back.',
)
@click.option(
    "--cookie-secure/--no-cookie-secure",
    default=None,
    help="The admin site's session cookie over HTTPS only (the default); "
    "--no-cookie-secure only for plain HTTP on loopback (a demo, a test).",
)
@click.option(
    "--dial-in-pin/--no-dial-in-pin",
    default=None,
    help="Members calling in on the CUG's number must enter their PIN (spoofable caller IDs).",
)
@click.pass_obj
def init(
    s: Settings,
    instance: str | None,
    sip_bind: str | None,
    sip_port: int | None,
    ami_port: int | None,
    agi_port: int | None,
    http_port: int | None,
    ring_seconds: int | None,
    reminder_interval: int | None,
    key_seconds: int | None,
    trunk: bool | None,
    trunk_number: tuple[str, ...],
    callback_number: tuple[str, ...],
    cookie_secure: bool | None,
    dial_in_pin: bool | None,
) -> None:
    """Create (or change) the install's settings; secrets are generated the first time."""
    for name, value in (
        ("instance", instance),
        ("sip_bind", sip_bind),
        ("sip_port", sip_port),
        ("ami_port", ami_port),
        ("agi_port", agi_port),
        ("http_port", http_port),
        ("ring_seconds", ring_seconds),
        ("reminder_interval", reminder_interval),
        ("key_seconds", key_seconds),
        ("trunk_enabled", trunk),
        ("admin_cookie_secure", cookie_secure),
    ):
        if value is not None:
            setattr(s, name, value)
    if trunk_number:
        s.trunk_numbers = list(trunk_number)
    if callback_number:
        s.callback_numbers = list(callback_number)
    if dial_in_pin is not None:
        s.callbacks = dataclasses.replace(s.callbacks, dial_in_pin=dial_in_pin)
    reasons = _init_problems(s)
    if reasons:
        raise click.ClickException("nothing saved: " + "; ".join(reasons))
    s.save()
    from directory.schema import open_db

    open_db(s.db).close()
    click.echo(f"settings in {s.settings_path}, directory in {s.db}")


def _init_problems(s: Settings) -> list[str]:
    """Why these settings cannot be saved (every reason); empty when they can."""
    reasons = []
    try:
        ipaddress.IPv4Address(s.sip_bind)
    except ValueError:
        # (IPv6 would need brackets in the transport and the phones' server: not yet.)
        reasons.append(f"--sip-bind {s.sip_bind[:40]!r} is not an IPv4 address")
    ports = {"sip": s.sip_port, "ami": s.ami_port, "agi": s.agi_port, "http": s.http_port}
    for port in sorted(set(ports.values())):
        same = [name for name, value in ports.items() if value == port]
        if len(same) > 1:
            reasons.append(f"the {' and '.join(same)} ports are all {port}: each needs its own")
    for number in [*s.trunk_numbers, *s.callback_numbers]:
        if try_normalise(number) is None:  # as the service reads them (cug/serve.py)
            reasons.append(f"{number[:20]!r} is not a phone number the trunk could dial")
    return reasons


@main.command()
@click.pass_obj
def serve(s: Settings) -> None:
    """Run the routing service (FastAGI, AMI link, HTTP health) in the foreground."""
    import uvloop

    from cug.serve import run

    if not s.settings_path.exists():
        raise click.ClickException(f"no settings in {s.home}: run `cug init` first")
    # uvloop: every call is a FastAGI connection accepted, read, answered and closed; on
    # uvloop that costs the service about a third less CPU than on asyncio's own loop.
    uvloop.run(run(s))


@main.group()
def sandbox() -> None:
    """A sandboxed Asterisk 22 (built once from Debian unstable) and the service beside it."""


@sandbox.command("build")
def sandbox_build() -> None:
    """Build the Asterisk root now (it is otherwise built on first use)."""
    from cug.sandbox import SandboxError, default_root, ensure_root

    try:
        root = ensure_root(default_root())
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Asterisk root ready in {root}")


@sandbox.command("up")
@click.option("--no-service", is_flag=True, help="Start Asterisk only, not `cug serve`.")
@click.pass_obj
def sandbox_up(s: Settings, no_service: bool) -> None:
    """Build the root if needed, install the configuration, start Asterisk and the service."""
    from cug.sandbox import Sandbox, SandboxError, ServiceProcess

    if not s.settings_path.exists():
        s.save()
    box = Sandbox(s)
    try:
        box.prepare()
        if not no_service:
            ServiceProcess(s).start()
        box.start()
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from None
    version = box.cli("core show version").stdout.strip()
    click.echo(f"Asterisk up: {version}")
    click.echo(f"  SIP on {s.sip_bind}:{s.sip_port} (udp, tcp), AMI on 127.0.0.1:{s.ami_port}")
    if not no_service:
        click.echo(
            f"  routing service: FastAGI 127.0.0.1:{s.agi_port}, "
            f"http://127.0.0.1:{s.http_port}/health, log {s.home / 'serve.log'}"
        )


@sandbox.command("down")
@click.option("--remove", is_flag=True, help="Also delete the instance's files in the root.")
@click.pass_obj
def sandbox_down(s: Settings, remove: bool) -> None:
    """Stop the service and the sandboxed Asterisk."""
    from cug.sandbox import Sandbox, ServiceProcess

    ServiceProcess(s).stop()
    box = Sandbox(s)
    box.remove() if remove else box.stop()
    click.echo("stopped")


@sandbox.command("status")
@click.pass_obj
def sandbox_status(s: Settings) -> None:
    """Is Asterisk running, are phones registered, is the service up."""
    from cug.sandbox import Sandbox, ServiceProcess

    box = Sandbox(s)
    status = {
        "instance": s.instance,
        "asterisk": "running" if box.running() else "stopped",
        "service_pid": ServiceProcess(s).pid(),
    }
    click.echo(json.dumps(status, indent=2))
    if status["asterisk"] == "running":
        click.echo(box.cli("pjsip show contacts").stdout)


@sandbox.command("cli")
@click.argument("command", nargs=-1, required=True)
@click.pass_obj
def sandbox_cli(s: Settings, command: tuple[str, ...]) -> None:
    """Run one Asterisk CLI command in the sandbox, e.g. `cug sandbox cli pjsip show endpoints`."""
    from cug.sandbox import Sandbox

    result = Sandbox(s).cli(" ".join(command))
    click.echo(result.stdout + result.stderr, nl=False)


@main.group()
def asterisk() -> None:
    """Install the configuration into a system Asterisk."""


@asterisk.command("install")
@click.option(
    "--etc",
    type=click.Path(exists=True, file_okay=False, writable=True, path_type=Path),
    default=Path("/etc/asterisk"),
    show_default=True,
    help="Asterisk's configuration folder.",
)
@click.pass_obj
def asterisk_install(s: Settings, etc: Path) -> None:
    """Write asterisk-conf/ and dialplan/ plus this install's values into ETC, and the members'
    endpoints into /var/lib/asterisk/cug-endpoints.db."""
    from agi.endpoint_db import FILE_NAME
    from cug.asterisk_config import VARLIB, install

    s.asterisk_etc = etc.resolve()
    s.asterisk_root = None
    s.endpoints_db = Path(VARLIB) / FILE_NAME
    if s.cdr_file is None:
        s.cdr_file = Path("/var/log/asterisk/master.db")
    s.save()
    install(s, s.asterisk_etc)
    click.echo(f"installed into {s.asterisk_etc}; then: asterisk -rx 'core restart gracefully'")


if __name__ == "__main__":
    main()
