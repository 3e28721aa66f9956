"""`cug directory pin ...`: members' dial-in PINs, for trunks whose caller IDs may be spoofed
(cug.ini [callbacks] dial_in_pin = yes)."""

from __future__ import annotations

import secrets

import click

from cug.settings import Settings
from directory import audit
from directory.lookup import Directory
from directory.pins import PinStore, valid_pin
from directory.schema import open_db


@click.group("pin")
def pins() -> None:
    """Dial-in PINs: a member calling in on the CUG's number keys theirs after the prompt."""


def _member(s: Settings, ident: str):  # noqa: ANN202 - (database, member)
    db = open_db(s.db)
    member = Directory(db).find(ident)
    if member is None:
        raise click.ClickException(f"no member with extension or number {ident[:40]!r}")
    return db, member


@pins.command("set")
@click.argument("ident")
@click.option("--pin", help="The PIN (4 to 8 digits); without it a random one is made.")
@click.pass_obj
def set_cmd(s: Settings, ident: str, pin: str | None) -> None:
    """Give a member a PIN, shown once: hand it to them, it is kept only as a hash."""
    if pin is not None and not valid_pin(pin):
        raise click.BadParameter("a PIN is 4 to 8 digits 0-9", param_hint="--pin")
    db, member = _member(s, ident)
    chosen = pin or f"{secrets.randbelow(10_000):04d}"
    PinStore(db).set(member.id, chosen, audit.cli_actor())
    shown = chosen if pin is None else "as given"
    click.echo(f"dial-in PIN for {member.name} ({member.extension}): {shown}")


@pins.command("clear")
@click.argument("ident")
@click.pass_obj
def clear_cmd(s: Settings, ident: str) -> None:
    """Remove a member's PIN (where PINs are required they can then only be called back)."""
    db, member = _member(s, ident)
    removed = PinStore(db).clear(member.id, audit.cli_actor())
    click.echo(f"{member.name} ({member.extension}): {'PIN removed' if removed else 'had no PIN'}")
