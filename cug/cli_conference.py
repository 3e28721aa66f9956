"""`cug conference ...`: standing conference bridges (and, below, case conferences)."""

from __future__ import annotations

import asyncio

import click

from cug.settings import Settings
from directory import audit
from directory.bridges import BridgeError, BridgeStore
from directory.lookup import Directory
from directory.model import Member
from directory.schema import open_db
from routing.bridge_admin import BridgeValues, add_bridge, leader_name
from routing.bridges import Bridge


@click.group("conference")
def conference() -> None:
    """Conference bridges: standing bridges, case conferences, who is in them now."""


def _describe(bridge: Bridge, codes: list[str], leader: str) -> str:
    ends = "ends when the leader leaves" if bridge.ends_with_leader else "goes on without leader"
    return (
        f"{bridge.id:<4} {bridge.label:<32} {bridge.district:<10} codes {','.join(codes) or '-':<8}"
        f" leader {leader:<22} PIN {'yes' if bridge.has_pin else 'no':<3} "
        f"up to {bridge.max_members}, {ends}"
    )


@conference.command("bridges")
@click.pass_obj
def bridges_cmd(s: Settings) -> None:
    """The standing bridges, their short codes and leaders (never their PINs)."""
    db = open_db(s.db)
    store, directory = BridgeStore(db), Directory(db)
    for bridge in store.all():
        leader = leader_name(directory, bridge) or "the district's supervisors"
        click.echo(_describe(bridge, store.codes(bridge), leader))


def _active_member(directory: Directory, extension: str) -> Member:
    found = directory.member_by_extension(extension.strip())
    if found is None or not found.active:
        raise click.ClickException(f"no active member with extension {extension[:10]!r}")
    return found


def _pin(ask: bool) -> str | None:
    if not ask:
        return None
    return click.prompt("PIN (4 to 8 digits)", hide_input=True, confirmation_prompt=True)


@conference.command("add-bridge")
@click.option("--code", required=True, help="The short code members dial (3 digits).")
@click.option("--district", required=True, help="The district whose bridge it is.")
@click.option("--leader", default="", help="A supervisor's extension: their own bridge.")
@click.option("--label", required=True, help="e.g. 'Oyam case meeting'.")
@click.option("--pin", "ask_pin", is_flag=True, help="Ask for a PIN for other districts.")
@click.option("--max-members", type=int, default=20, show_default=True)
@click.option("--stays", is_flag=True, help="Go on when the leader leaves (default: end).")
@click.pass_obj
def add_bridge_cmd(
    s: Settings,
    code: str,
    district: str,
    leader: str,
    label: str,
    ask_pin: bool,
    max_members: int,
    stays: bool,
) -> None:
    """Add a standing bridge and the short code that reaches it (both or neither)."""
    values = BridgeValues(code, district, label, leader, _pin(ask_pin), max_members, not stays)
    try:
        bridge, added = add_bridge(open_db(s.db), values, audit.cli_actor())
    except BridgeError as exc:
        raise click.ClickException("bridge refused: " + "; ".join(exc.reasons)) from None
    click.echo(f"bridge {bridge.id} added; members dial {added.code}")


@conference.command("bridge-pin")
@click.argument("bridge_id", type=int)
@click.option("--clear", is_flag=True, help="No PIN: other districts cannot join.")
@click.pass_obj
def bridge_pin_cmd(s: Settings, bridge_id: int, clear: bool) -> None:
    """Set (asked for, hidden) or clear the PIN of bridge BRIDGE_ID."""
    store = BridgeStore(open_db(s.db))
    if store.get(bridge_id) is None:
        raise click.ClickException(f"no bridge {bridge_id}")
    try:
        store.set_pin(bridge_id, None if clear else _pin(True), audit.cli_actor())
    except BridgeError as exc:
        raise click.ClickException("; ".join(exc.reasons)) from None
    click.echo(f"bridge {bridge_id}: PIN {'cleared' if clear else 'set'}")


async def _listed(s: Settings):  # noqa: ANN202 - list[Conference]
    from agi.ami import AmiLink
    from agi.conference_log import running_conferences

    ami = AmiLink("127.0.0.1", s.ami_port, s.ami_username, s.ami_secret)
    ami.connect()
    try:
        for _ in range(100):
            if ami.up:
                return await running_conferences(ami)
            await asyncio.sleep(0.05)
        raise click.ClickException(f"Asterisk's AMI does not answer on port {s.ami_port}")
    finally:
        ami.close()


@conference.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_cmd(s: Settings, as_json: bool) -> None:
    """The conferences running now and who is in them, as Asterisk reports them (AMI
    ConfbridgeListRooms and ConfbridgeList), not as the service believes: locked, muted (the
    leader muted everyone else), and each participant's own state."""
    import dataclasses
    import json

    conferences = asyncio.run(_listed(s))
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(c) for c in conferences], indent=2))
        return
    if not conferences:
        click.echo("no conference is running")
    directory = Directory(open_db(s.db))
    for c in conferences:
        state = ", ".join(x for x, on in (("locked", c.locked), ("muted", c.muted)) if on)
        click.echo(f"{c.name}{f' ({state})' if state else ''}: {len(c.participants)} in it")
        for p in c.participants:
            m = directory.member(p.member_id) if p.member_id is not None else None
            name = f"{m.name} ({m.extension})" if m else p.caller_id or p.channel
            state = [
                "leader" if p.leader else "",
                "waiting" if p.waiting else "",
                "muted" if p.muted else "",
            ]
            click.echo(f"  {name:<36} {p.seconds:>5} s  {' '.join(x for x in state if x)}")


@conference.command("start")
@click.argument("case")
@click.option(
    "--leader", default="", help="Who leads it (an extension; default: the worker's supervisor)."
)
@click.pass_obj
def start_cmd(s: Settings, case: str, leader: str) -> None:
    """Start the conference on CASE (number or reference): the service calls in the assigned
    worker, their supervisor (the leader) and the district contacts the case's category calls
    for; each hears who calls them into which case and presses 1. Started twice, it is one
    conference and nobody is called twice."""
    from agi.case_conferences import start_case_conference

    db = open_db(s.db)
    directory = Directory(db)
    lead = _active_member(directory, leader) if leader else None
    name, calls, refusal = start_case_conference(directory, case, None, audit.cli_actor(), lead)
    if refusal is not None:
        raise click.ClickException(f"no conference started: {refusal.value}")
    _print_calls(db, name, calls)


@conference.command("invite")
@click.argument("case")
@click.argument("extension")
@click.pass_obj
def invite_cmd(s: Settings, case: str, extension: str) -> None:
    """Call one more member (EXTENSION) into the running conference on CASE (a case number,
    or a bridge's conference name cug-bridge-<id>), announced like the others."""
    from agi.case_conferences import conference_name, invite_by_admin

    db = open_db(s.db)
    name = conference_name(case)
    calls, refusal = invite_by_admin(Directory(db), name, extension, audit.cli_actor())
    if refusal:
        raise click.ClickException(refusal)
    _print_calls(db, name, calls)


def _print_calls(db, name: str, calls: list[int]) -> None:  # noqa: ANN001
    directory = Directory(db)
    click.echo(f"{name}: {len(calls)} to call (the routing service calls them now)")
    for call_id in calls:
        row = db["conference_calls"].get(call_id)
        m = directory.member(row["member_id"])
        if m is not None:
            role = " (leads it)" if row["leader"] else ""
            click.echo(f"  {m.name} ({m.extension}, {m.role}){role}")
