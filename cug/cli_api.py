"""`cug api token ...`: the tokens programs use for the JSON API (`/api/v1` on the HTTP side)."""

from __future__ import annotations

import json

import click

from cug.cli_remote import get_cmd, post_cmd, refuse_local
from cug.settings import Settings
from directory import audit
from directory.schema import open_db

# web.auth (and aiohttp with it) is imported inside the commands: other `cug` commands stay
# quick to start.


@click.group("api")
@click.pass_context
def api(ctx: click.Context) -> None:
    """The JSON API: its tokens, and calls to it (get, post) as a script would make them."""
    refuse_local(ctx, "api")


@api.group("token")
def token() -> None:
    """API tokens: create (shown once), list, revoke."""


@token.command("create")
@click.argument("name")
@click.option("--district", help="Limit the token to this district's cases (default: all).")
@click.option(
    "--account", help="Act as this admin account (`cug admin`): its scope and permissions."
)
@click.pass_obj
def create_cmd(s: Settings, name: str, district: str | None, account: str | None) -> None:
    """Create a token named NAME and print it: it is shown this once and never again."""
    from web.auth import TokenError, create_token

    db = open_db(s.db)
    try:
        secret, made = create_token(db, name, audit.cli_actor(), district, account)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    scope = f"district {made.district}" if made.district else "all districts"
    if account:
        scope = f"admin account {account.strip().lower()!r}"
    click.echo(f"token {made.name!r} created for {scope}.", err=True)
    click.echo("Store it now: it is not shown again (only its hash is kept).", err=True)
    click.echo(secret)


@token.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_cmd(s: Settings, as_json: bool) -> None:
    """The tokens, their districts and when they were last used (never the tokens)."""
    from directory.admin_accounts import account_by_id
    from web.auth import list_tokens

    db = open_db(s.db)
    found = list_tokens(db)
    accounts = {
        t.account_id: getattr(account_by_id(db, t.account_id), "username", "?")
        for t in found
        if t.account_id is not None
    }
    if as_json:
        click.echo(json.dumps([t.to_dict() for t in found], indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("no API tokens (create one with `cug api token create NAME`)")
    for t in found:
        state = f"revoked {t.revoked_at[:19]}" if t.revoked_at else "live"
        scope = t.district or "all districts"
        if t.account_id is not None:
            scope = f"as {accounts[t.account_id]}"
        click.echo(
            f"{t.name:<24} {scope:<14} {state:<28} "
            f"created {t.created_at[:19]} by {t.created_by}, "
            f"last used {t.last_used_at[:19] if t.last_used_at else 'never'}"
        )


@token.command("revoke")
@click.argument("name")
@click.pass_obj
def revoke_cmd(s: Settings, name: str) -> None:
    """Refuse the token NAME from now on."""
    from web.auth import TokenError, revoke_token

    try:
        revoked = revoke_token(open_db(s.db), name, audit.cli_actor())
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"token {revoked.name!r} revoked")


api.add_command(get_cmd)
api.add_command(post_cmd)
