"""`cug directory short-codes ...`: the short codes members dial, listed and edited.

A change reaches the next call at once: the routing service reads the codes at every call.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from cug.settings import Settings
from directory import audit
from directory.bridges import BridgeStore
from directory.chains import ChainStore
from directory.lookup import Directory
from directory.members import reference_data
from directory.model import ShortCode
from directory.schema import open_db
from directory.short_codes import ShortCodeStore
from routing.short_codes import (
    ShortCodeError,
    ShortCodeValues,
    add_short_code,
    describe,
    edit_short_code,
    remove_short_code,
    set_short_code_word,
)

NEXT_CALL = "Members' next calls use it; no reload is needed."


def _refused(exc: ShortCodeError) -> click.ClickException:
    return click.ClickException(
        "short code refused, nothing changed:\n" + "\n".join(f"  {r}" for r in exc.reasons)
    )


def _line(code: ShortCode, word: str | None = None) -> str:
    texted = f"  text: {word} <text>" if word else ""
    return f"{code.code:<6} {code.label:<45} ({describe(code)}){texted}"


@click.group("short-codes", invoke_without_command=True)
@click.pass_context
def short_codes(ctx: click.Context) -> None:
    """The short codes members can dial (listed with no subcommand)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_cmd)


@short_codes.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_cmd(s: Settings, as_json: bool = False) -> None:
    """List the short codes members can dial and whom each reaches."""
    store = ShortCodeStore(open_db(s.db))
    codes, words = store.all(), {c: w for w, c in store.words().items()}
    if as_json:
        listed = [{**asdict(c), "word": words.get(c.code)} for c in codes]
        click.echo(json.dumps(listed, indent=2, ensure_ascii=False))
        return
    for code in codes:
        click.echo(_line(code, words.get(code.code)))


KINDS_HELP = (
    "supervisor: the caller's supervisor; role: every active member of --role in the caller's "
    "district; outside: --number over the trunk; bridge: the standing conference bridge "
    "--bridge; conference: *<case>*<code> starts that case's conference."
)
BRIDGE_HELP = "For kind bridge: a bridge id (`cug conference bridges`)."


def _bridge_ids(db) -> frozenset[int]:  # noqa: ANN001 - a sqlite_utils.Database
    return frozenset(b.id for b in BridgeStore(db).all())


@short_codes.command("add")
@click.argument("code")
@click.option("--kind", required=True, help=KINDS_HELP)
@click.option("--role", default="", help="For kind role: a role code (`cug directory roles`).")
@click.option("--number", default="", help="For kind outside: e.g. 116, or any valid number.")
@click.option("--label", required=True, help="What members and admins see, e.g. 'Police desk'.")
@click.option("--bridge", default="", help=BRIDGE_HELP)
@click.pass_obj
def add_cmd(
    s: Settings, code: str, kind: str, role: str, number: str, label: str, bridge: str
) -> None:
    """Add short code CODE (three digits)."""
    db = open_db(s.db)
    roles, _ = reference_data(db)
    values = ShortCodeValues(code, kind, role, number, label, bridge)
    try:
        added = add_short_code(
            ShortCodeStore(db), Directory(db), roles, values, audit.cli_actor(), _bridge_ids(db)
        )
    except ShortCodeError as exc:
        raise _refused(exc) from None
    click.echo(f"added {_line(added)}")
    click.echo(NEXT_CALL)


@short_codes.command("edit")
@click.argument("code")
@click.option("--kind", help=KINDS_HELP + " A new kind drops the old kind's role or number.")
@click.option("--role", help="For kind role: a role code.")
@click.option("--number", help="For kind outside: the number rung over the trunk.")
@click.option("--label")
@click.option("--bridge", help=BRIDGE_HELP)
@click.pass_obj
def edit_cmd(s: Settings, code: str, **changes: str | None) -> None:
    """Change what short code CODE reaches or its label; options not given stay as they are."""
    db = open_db(s.db)
    roles, _ = reference_data(db)
    try:
        before, after = edit_short_code(
            ShortCodeStore(db),
            ChainStore(db),
            roles,
            code,
            changes,
            audit.cli_actor(),
            _bridge_ids(db),
        )
    except ShortCodeError as exc:
        raise _refused(exc) from None
    if before == after:
        click.echo(f"nothing changed: {_line(after)}")
        return
    click.echo(f"was  {_line(before)}")
    click.echo(f"now  {_line(after)}")
    click.echo(NEXT_CALL)


@short_codes.command("remove")
@click.argument("code")
@click.pass_obj
def remove_cmd(s: Settings, code: str) -> None:
    """Remove short code CODE: members who dial it are refused from their next call."""
    db = open_db(s.db)
    try:
        removed = remove_short_code(ShortCodeStore(db), ChainStore(db), code, audit.cli_actor())
    except ShortCodeError as exc:
        raise _refused(exc) from None
    click.echo(f"removed {_line(removed)}")


@short_codes.command("word")
@click.argument("code")
@click.argument("word")
@click.pass_obj
def word_cmd(s: Settings, code: str, word: str) -> None:
    """Give short code CODE the WORD members text it by from a basic phone (e.g. `word 100
    SUP`: a text `SUP <text>` to the CUG's number reaches the sender's supervisor); `-`
    removes it."""
    db = open_db(s.db)
    try:
        before = set_short_code_word(ShortCodeStore(db), code, word, audit.cli_actor())
    except ShortCodeError as exc:
        raise _refused(exc) from None
    now = ShortCodeStore(db).word_of(code.strip())
    click.echo(f"short code {code.strip()}: word {before or '(none)'} -> {now or '(none)'}")
