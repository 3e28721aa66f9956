"""What every page handler of the admin site uses: who is logged in, permission and scope
checks that refuse with 403, rendering with the session's CSRF token and flash messages."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
import sqlite_utils
from aiohttp import web
from aiohttp_session import Session, get_session

from directory.admin_accounts import AdminAccount
from web.auth import DB_KEY, TOKEN
from web.sessions import CSRF, CSRF_FIELD

PREFIX = "/admin"
FLASHES = "flashes"
MAX_FIELD = 500


def site_db(request: web.Request) -> sqlite_utils.Database:
    return request.config_dict[DB_KEY]


def db_file(db: sqlite_utils.Database) -> str:
    """The directory's file ("" for a database in memory): work that takes seconds opens its
    own connection to it in a thread, beside the loop the service routes calls on."""
    return db.execute("PRAGMA database_list").fetchone()[2] or ""


def page_account(request: web.Request) -> AdminAccount:
    """The logged-in account (the site's middleware let the request in only with one)."""
    account = request.get(TOKEN)
    if not isinstance(account, AdminAccount):
        raise web.HTTPFound(f"{PREFIX}/login")
    return account


def require(request: web.Request, permission: str) -> AdminAccount:
    account = page_account(request)
    if not account.can(permission):
        raise web.HTTPForbidden(reason=f"your account may not do this ({permission})")
    return account


async def form_values(request: web.Request, limit: int = MAX_FIELD) -> dict[str, str]:
    """A posted form's fields (but its CSRF token), each cut to `limit` characters."""
    form = await request.post()
    return {k: str(v)[:limit] for k, v in form.items() if k != CSRF_FIELD}


async def flash(request: web.Request, message: str) -> None:
    """A message for the next page this session sees (after a redirect)."""
    session = await get_session(request)
    session[FLASHES] = [*session.get(FLASHES, []), message][-5:]


async def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    session: Session = await get_session(request)
    shown = session.pop(FLASHES, []) if FLASHES in session else []
    values = {
        "account": request.get(TOKEN),
        "csrf": session.get(CSRF, ""),
        "prefix": PREFIX,
        "flashes": shown,
        **context,
    }
    return aiohttp_jinja2.render_template(template, request, values, status=status)


def see_other(path: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{PREFIX}{path}")
