"""`cug admin ...`: accounts of the admin site (there is no default account)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import click

from cug.settings import Settings
from directory import audit
from directory.admin_accounts import (
    ROLES,
    AccountError,
    AdminAccount,
    create_account,
    disable_account,
    list_accounts,
    reset_password,
    unlock_account,
)
from directory.schema import open_db


def _password(from_stdin: bool) -> str:
    """The new password: one line from stdin (for scripts), else asked twice, hidden."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


@click.group("admin")
def admin() -> None:
    """Accounts of the admin site: create, list, disable, reset-password."""


@admin.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="national", show_default=True)
@click.option("--district", "districts", multiple=True, help="A district admin's district.")
@click.option("--member", help="A supervisor's own member record (extension or phone).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.pass_obj
def create_cmd(
    s: Settings,
    username: str,
    role: str,
    districts: tuple[str, ...],
    member: str | None,
    password_stdin: bool,
) -> None:
    """Create the account USERNAME (the first one: a national admin)."""
    password = _password(password_stdin)
    try:
        made = create_account(
            open_db(s.db),
            username,
            role,
            password,
            audit.cli_actor(),
            districts=list(districts),
            member=member,
        )
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    where = f" for {', '.join(made.districts)}" if made.districts else ""
    click.echo(f"account {made.username!r} created: {made.role} admin{where}")


@admin.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_cmd(s: Settings, as_json: bool) -> None:
    """The accounts, their roles and districts (never the password hashes)."""
    found = list_accounts(open_db(s.db))
    if as_json:
        click.echo(json.dumps([a.to_dict() for a in found], indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("no admin accounts (create the first with `cug admin create NAME`)")
    for a in found:
        state = f"disabled {a.disabled_at[:19]}" if a.disabled_at else "active"
        where = ", ".join(a.districts) or ("all districts" if a.role == "national" else "team")
        last = a.last_login_at[:19] if a.last_login_at else "never"
        click.echo(f"{a.username:<24} {a.role:<11} {where:<24} {state:<28} last login {last}")


def _change(s: Settings, change: Callable[..., AdminAccount], *args: str) -> AdminAccount:
    """An account change made from the CLI (audited as the CLI's user); a refusal as the
    command's error."""
    try:
        return change(open_db(s.db), *args, audit.cli_actor())
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None


@admin.command("disable")
@click.argument("username")
@click.pass_obj
def disable_cmd(s: Settings, username: str) -> None:
    """Refuse USERNAME's logins and end its sessions."""
    done = _change(s, disable_account, username)
    click.echo(f"account {done.username!r} disabled")


@admin.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.pass_obj
def reset_password_cmd(s: Settings, username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME (unlocks and re-enables it, ends its sessions)."""
    done = _change(s, reset_password, username, _password(password_stdin))
    click.echo(
        f"new password set for {done.username!r}: the account is enabled and unlocked, "
        "its sessions ended"
    )


@admin.command("unlock")
@click.argument("username")
@click.pass_obj
def unlock_cmd(s: Settings, username: str) -> None:
    """Lift the lock wrong passwords put on USERNAME (the password stays)."""
    done = _change(s, unlock_account, username)
    click.echo(f"account {done.username!r} unlocked")
