"""Logging in and out of the admin site.

A login is refused the same way whatever was wrong (unknown name, wrong password, locked or
disabled account), so the page does not tell which accounts exist; the audit and the log say
which. An address with too many failures is refused (429) for a while (web/login_limits.py).
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote

from aiohttp import web
from aiohttp_session import get_session

from directory.admin_logins import begin_login, end_login, password_matches
from directory.admin_sessions import end_session, start_session
from web.login_limits import AddressLimiter
from web.pages import PREFIX, page_account, render, see_other, site_db
from web.sessions import SID, begin, ensure_csrf

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
LIMITER_KEY = web.AppKey("login_limiter", AddressLimiter)
HASHING_KEY = web.AppKey("password_hashing", asyncio.Semaphore)
HASHING_AT_ONCE = 2
REFUSED = (
    "Wrong user name or password, or the account is locked after too many wrong passwords "
    "(wait 15 minutes, or ask a national admin)."
)


def _next_page(raw: str | None) -> str:
    """Where to go after the login: only a path of this site (never another host)."""
    if raw and raw.startswith(PREFIX + "/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return PREFIX + "/"


def login_redirect(request: web.Request) -> web.HTTPFound:
    return web.HTTPFound(f"{PREFIX}/login?next={quote(request.path_qs, safe='/')}")


@routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    ensure_csrf(await get_session(request))  # the login form is protected too
    return await render(request, "login.html", {"next": _next_page(request.query.get("next"))})


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    address = request.remote or "unknown"
    limiter = request.config_dict[LIMITER_KEY]
    next_page = _next_page(str(form.get("next", "")))
    wait = limiter.wait_seconds(address)
    if wait:
        log.info("admin login refused for %s: too many failures (%ds left)", address, wait)
        message = f"Too many failed logins from your address: try again in {wait // 60 + 1} min."
        return await render(request, "login.html", {"error": message, "next": next_page}, 429)
    username = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))
    db = site_db(request)
    # Counted before the hash, not after: parallel guesses from one address all count.
    limiter.failed(address)
    attempt = begin_login(db, username, address)
    # argon2 costs tens of milliseconds of CPU: in a thread, a few at a time, so that logins
    # never hold up the calls the same event loop routes.
    async with request.config_dict[HASHING_KEY]:
        matched = await asyncio.to_thread(password_matches, attempt.hash_to_check, password)
    result = end_login(db, attempt, matched, password)
    if result.account is None:
        log.info("admin login failed for %r from %s: %s", username, address, result.reason)
        return await render(
            request, "login.html", {"error": REFUSED, "next": next_page, "username": username}, 401
        )
    limiter.succeeded(address)
    session = await get_session(request)
    begin(session, start_session(site_db(request), result.account, address))
    log.info("admin %s logged in from %s", result.account.username, address)
    raise web.HTTPSeeOther(next_page)


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    account = page_account(request)
    session = await get_session(request)
    end_session(site_db(request), session.get(SID, ""), account, request.remote or "unknown")
    session.invalidate()
    raise see_other("/login")


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    page_account(request)
    raise see_other("/members")
