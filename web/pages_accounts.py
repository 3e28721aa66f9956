"""Admin accounts on the site: national admins list, create, disable accounts and give them a
new password (`accounts.manage`); every account changes its own password. A password the
site makes is random and shown once; the account's sessions end when it changes. Every change
is in the audit with the address (the directory functions `cug admin` uses)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

from aiohttp import web
from aiohttp_session import get_session

from directory.admin_accounts import (
    ROLES,
    AccountError,
    create_account,
    disable_account,
    list_accounts,
    reset_password,
)
from directory.admin_logins import count_wrong_password, password_matches
from directory.admin_sessions import start_session
from directory.members import reference_data
from web.context import stamped_change
from web.pages import flash, page_account, render, require, see_other, site_db
from web.pages_login import HASHING_KEY, LIMITER_KEY
from web.sessions import begin

routes = web.RouteTableDef()
MAX_FIELD = 300


def new_password() -> str:
    """20 random URL-safe characters, for the account holder to change."""
    return secrets.token_urlsafe(15)


async def _accounts_page(
    request: web.Request, errors: list[str] | None = None, status: int = 200
) -> web.Response:
    require(request, "accounts.manage")
    _, districts = reference_data(site_db(request))
    context = {
        "accounts": list_accounts(site_db(request)),
        "roles": ROLES,
        "districts": sorted(districts.values()),
        "errors": errors or [],
    }
    return await render(request, "accounts.html", context, status)


@routes.get("/accounts")
async def accounts_page(request: web.Request) -> web.Response:
    return await _accounts_page(request)


async def _shown_once(request: web.Request, username: str, password: str) -> web.Response:
    context = {"username": username, "password": password}
    return await render(request, "account_password.html", context)


@routes.post("/accounts")
async def create(request: web.Request) -> web.Response:
    account = require(request, "accounts.manage")
    form = await request.post()
    districts = [str(d)[:80] for d in form.getall("district", [])][:50]
    password = new_password()
    try:
        with stamped_change(site_db(request), request.remote or "unknown"):
            made = create_account(
                site_db(request),
                str(form.get("username", ""))[:MAX_FIELD],
                str(form.get("role", ""))[:20],
                password,
                account.actor,
                districts=districts if form.get("role") == "district" else None,
                member=str(form.get("member", ""))[:40] or None,
            )
    except AccountError as exc:
        return await _accounts_page(request, exc.reasons, 422)
    return await _shown_once(request, made.username, password)


@routes.post("/accounts/{username}/disable")
async def disable(request: web.Request) -> web.Response:
    account = require(request, "accounts.manage")
    username = request.match_info["username"][:64].strip().lower()
    if username == account.username.lower():
        return await _accounts_page(request, ["you cannot disable your own account"], 422)
    try:
        with stamped_change(site_db(request), request.remote or "unknown"):
            disable_account(site_db(request), username, account.actor)
    except AccountError as exc:
        return await _accounts_page(request, exc.reasons, 422)
    await flash(request, f"Account {username} disabled: its sessions have ended.")
    raise see_other("/accounts")


@routes.post("/accounts/{username}/reset-password")
async def reset(request: web.Request) -> web.Response:
    account = require(request, "accounts.manage")
    username = request.match_info["username"][:64]
    password = new_password()
    try:
        with stamped_change(site_db(request), request.remote or "unknown"):
            done = reset_password(site_db(request), username, password, account.actor)
    except AccountError as exc:
        return await _accounts_page(request, exc.reasons, 422)
    return await _shown_once(request, done.username, password)


@routes.get("/password")
async def password_page(request: web.Request) -> web.Response:
    page_account(request)
    return await render(request, "password.html", {"errors": []})


@routes.post("/password")
async def change_password(request: web.Request) -> web.Response:
    account = page_account(request)
    form = await request.post()
    current = str(form.get("current", ""))
    new, again = str(form.get("new", "")), str(form.get("again", ""))
    db = site_db(request)
    row = db.execute(
        "SELECT password_hash FROM admin_accounts WHERE id = ?", (account.id,)
    ).fetchone()
    address = request.remote or "unknown"
    limiter = request.config_dict[LIMITER_KEY]
    if limiter.wait_seconds(address):
        return await render(
            request, "password.html", {"errors": ["too many wrong passwords: wait"]}, 429
        )
    async with request.config_dict[HASHING_KEY]:
        matched = row is not None and await asyncio.to_thread(password_matches, row[0], current)
    errors = []
    if not matched:
        limiter.failed(address)
        # Counted on the account like a wrong login (a stolen session cannot guess it).
        count_wrong_password(db, account.id, account.username, address, datetime.now(UTC))
        errors.append("the current password is wrong")
    if new != again:
        errors.append("the new password and its repetition differ")
    if errors:
        return await render(request, "password.html", {"errors": errors}, 422)
    try:
        with stamped_change(db, address):
            reset_password(db, account.username, new, account.actor)
    except AccountError as exc:
        return await render(request, "password.html", {"errors": exc.reasons}, 422)
    # Every session of the account ended with the change; this one goes on as a new one.
    begin(await get_session(request), start_session(db, account, address))
    await flash(request, "Your password was changed; your other sessions have ended.")
    raise see_other("/members")
