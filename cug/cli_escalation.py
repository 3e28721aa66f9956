"""`cug escalation ...`: the chains unanswered calls move up, and the notices they leave."""

from __future__ import annotations

import json
from dataclasses import replace

import click

from cug.settings import Settings
from directory import audit
from directory.chains import ChainStore, describe_scope
from directory.lookup import Directory
from directory.schema import open_db
from routing.calls import Policy
from routing.escalation import (
    DEFAULT_CHAIN,
    ChainError,
    RuleKind,
    edit_chain,
    format_rules,
    steps_for_call,
)

RULES_HELP = (
    "Steps in order, comma-separated, each <kind>[=<value>]:<ring seconds>. Kinds: callee, "
    "supervisor (the callee's), role=<role code> (that role in the callee's district), "
    "member=<extension>, outside=<number> (over the trunk). "
    "Example: 'callee:20, supervisor:20, role=probation:20, role=dac:20, outside=116:60'."
)


@click.group("escalation")
def escalation() -> None:
    """Escalation chains: who a call goes to when the person called does not take it."""


def _scope_options(fn):  # noqa: ANN001, ANN202 - a click decorator
    fn = click.option("--urgent", is_flag=True, help="The chain for urgent calls.")(fn)
    fn = click.option("--role", default="", help="Only for callees of this role (code).")(fn)
    fn = click.option("--district", default="", help="Only for callees in this district.")(fn)
    return fn


@escalation.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_cmd(s: Settings, as_json: bool) -> None:
    """The chains admins set, and the default every other call follows."""
    stored = ChainStore(open_db(s.db)).all()
    if as_json:
        rows = [
            {
                "district": c.district,
                "role": c.role,
                "urgent": c.urgent,
                "rules": c.rules,
                "updated_at": c.updated_at,
                "updated_by": c.updated_by,
            }
            for c in stored
        ]
        click.echo(json.dumps({"default": format_rules(DEFAULT_CHAIN), "chains": rows}, indent=2))
        return
    click.echo(f"{'default':<36} {format_rules(DEFAULT_CHAIN)}")
    for c in stored:
        click.echo(f"{c.scope:<36} {c.rules}   (set {c.updated_at[:19]} by {c.updated_by})")


@escalation.command("set")
@click.argument("rules")
@_scope_options
@click.pass_obj
def set_cmd(s: Settings, rules: str, district: str, role: str, urgent: bool) -> None:
    """Set the chain for calls to members of a district and/or role (or everyone).

    RULES:"""
    db = open_db(s.db)
    try:
        saved = edit_chain(
            ChainStore(db), Directory(db), district, role, urgent, rules, audit.cli_actor()
        )
    except ChainError as exc:
        raise click.ClickException(
            "chain refused, nothing changed:\n" + "\n".join(f"  {r}" for r in exc.reasons)
        ) from None
    click.echo(f"{saved.scope}: {saved.rules}")
    click.echo("Calls already in progress keep the chain they started with.")


set_cmd.help = (set_cmd.help or "") + RULES_HELP


@escalation.command("clear")
@_scope_options
@click.pass_obj
def clear_cmd(s: Settings, district: str, role: str, urgent: bool) -> None:
    """Remove a chain: its calls follow the next most specific one (or the default)."""
    if not ChainStore(open_db(s.db)).clear(district, role, urgent, audit.cli_actor()):
        raise click.ClickException(f"no chain set for {describe_scope(district, role, urgent)}")
    click.echo(f"chain for {describe_scope(district, role, urgent)} removed")


@escalation.command("show")
@click.argument("callee")
@click.option("--urgent", is_flag=True, help="As an urgent call.")
@click.option("--caller", help="The calling member (default: nobody in the chain).")
@click.pass_obj
def show_cmd(s: Settings, callee: str, urgent: bool, caller: str | None) -> None:
    """Who a call to CALLEE (extension or number) would ring, step by step, right now."""
    db = open_db(s.db)
    directory = Directory(db)
    member = directory.find(callee)
    if member is None:
        raise click.ClickException(f"{callee!r} is not a member")
    calling = directory.find(caller) if caller else None
    if caller and calling is None:
        raise click.ClickException(f"{caller!r} is not a member")
    policy = Policy(trunk_available=s.trunk_enabled, ring_seconds=s.ring_seconds)
    nobody = calling or replace(member, id=-1)  # a caller who is in no chain
    chain, steps = steps_for_call(directory, ChainStore(db), nobody, member, policy, urgent)
    click.echo(f"chain: {format_rules(chain.rules)}  (from {chain.source})")
    for n, step in enumerate(steps, 1):
        who = ", ".join(f"{t.name} ({t.endpoint})" for t in step.targets) or step.outside_number
        key = "  [must press 1]" if step.confirm else ""
        click.echo(f"  step {n}: {step.label:<10} {step.ring_seconds:>3} s  {who}{key}")
    if len(steps) < len(chain.rules):
        left_out = len(chain.rules) - len(steps)
        why = "nobody to ring for this call (no supervisor, nobody active in the role, or "
        why += "the same people as an earlier step)"
        if not s.trunk_enabled and any(r.kind is RuleKind.OUTSIDE for r in chain.rules):
            why += "; outside numbers need the trunk (`cug init --trunk`)"
        click.echo(f"  ({left_out} rule(s) of the chain left out: {why})")


@escalation.command("notices")
@click.option("--member", help="Only the notices for this member (extension or number).")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def notices_cmd(s: Settings, member: str | None, limit: int, as_json: bool) -> None:
    """Missed-call notices left by escalated calls, newest first."""
    db = open_db(s.db)
    where, params = "", []
    if member:
        found = Directory(db).find(member)
        if found is None:
            raise click.ClickException(f"{member!r} is not a member")
        where, params = "WHERE n.member_id = ?", [found.id]
    rows = list(
        db.query(
            "SELECT n.created_at, m.name, m.extension, n.kind, n.text, n.sent_at "
            f"FROM call_notices n JOIN members m ON m.id = n.member_id {where} "
            "ORDER BY n.id DESC LIMIT ?",
            [*params, limit],
        )
    )
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no notices")
    for r in rows:
        click.echo(f"{r['created_at'][:19]}  {r['name']} ({r['extension']})  {r['text']}")
