"""The admin site: server-made pages under /admin on the service's HTTP side (loopback).

Every page needs a logged-in admin account (web/pages_login.py), except the login page and
the static files; every change (any POST) needs the session's CSRF token; each page asks for
the named permission it needs and checks the account's scope on the server (web/pages.py).
Answers are never cached and carry a strict Content-Security-Policy: scripts only from the
site itself (the vendored htmx), nothing inline.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp_jinja2
import jinja2
import sqlite_utils
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import get_session, session_middleware

from web import (
    openapi_doc,
    pages_accounts,
    pages_audit,
    pages_bridges,
    pages_cases,
    pages_dashboard,
    pages_live,
    pages_login,
    pages_member_files,
    pages_members,
    pages_routing,
    pages_texts,
)
from web.auth import DB_KEY, TOKEN
from web.live_view import AmiActions, LiveView
from web.login_limits import AddressLimiter
from web.pages import PREFIX, render, site_db
from web.pages_dashboard import CACHE_KEY, FigureCache
from web.pages_live import LIVE_KEY
from web.pages_login import HASHING_AT_ONCE, HASHING_KEY, LIMITER_KEY, login_redirect
from web.pages_texts import SMS_FALLBACK_KEY, SmsFallback
from web.readers import READERS_KEY, Readers
from web.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    STORAGE_KEY,
    csrf_ok,
    make_storage,
    session_account,
)

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
OPEN_PATHS = {f"{PREFIX}/login", f"{PREFIX}/openapi.json"}
# Routes taking a file upload read their form as a stream and check the CSRF token themselves.
UPLOAD_PATHS = {f"{PREFIX}/members/import"}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
MESSAGES = {
    400: "The request was not understood.",
    403: "Your account may not see or do this.",
    404: "There is no such page.",
    405: "That is not allowed here.",
    413: "What you sent is too large.",
}


def _who(request: web.Request) -> str:
    account = request.get(TOKEN)
    return getattr(account, "username", "nobody")


@web.middleware
async def page_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refusals as pages (with the reason); crashes logged and hidden."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or request.path.startswith(f"{PREFIX}/static/"):
            raise
        if exc.status == 403:
            # Someone asking for what their account may not see (a guessed member or case
            # number in the URL): worth a line with who and from where.
            log.warning(
                "admin site: %s %s refused (403) to %s from %s: %s",
                request.method,
                request.path[:120],
                _who(request),
                request.remote,
                exc.reason,
            )
        message = MESSAGES.get(exc.status, "The request was refused.")
        reason = exc.reason if exc.reason and exc.reason[0].islower() else ""
        return await render(
            request, "error.html", {"message": message, "reason": reason}, exc.status
        )
    except Exception:
        log.exception("admin site: %s %s failed", request.method, request.path)
        return await render(
            request, "error.html", {"message": "Something went wrong; see the log."}, 500
        )


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    for key, value in HEADERS.items():
        response.headers.setdefault(key, value)
    if not request.path.startswith(f"{PREFIX}/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


@web.middleware
async def require_login(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let in only a live session's account (put on the request), but for the login page and
    static files. A forged or stale cookie is no session."""
    path = request.path
    if path in OPEN_PATHS or path.startswith(f"{PREFIX}/static/"):
        return await handler(request)
    account = session_account(site_db(request), await get_session(request))
    if account is None:
        if request.method in ("GET", "HEAD"):
            raise login_redirect(request)
        log.info(
            "admin site: %s %s without a session from %s", request.method, path, request.remote
        )
        raise web.HTTPSeeOther(f"{PREFIX}/login")
    request[TOKEN] = account
    return await handler(request)


@web.middleware
async def require_csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every change carries the session's CSRF token (form field or header)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return await handler(request)
    if request.content_type.startswith("multipart/") and request.path in UPLOAD_PATHS:
        return await handler(request)  # the handler checks the token (see UPLOAD_PATHS)
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.content_type == "application/x-www-form-urlencoded":
        value = (await request.post()).get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if not csrf_ok(await get_session(request), presented):
        log.warning(
            "admin site: %s %s refused from %s: CSRF token missing or wrong",
            request.method,
            request.path,
            request.remote,
        )
        raise web.HTTPForbidden(
            reason="the form was sent without this session's token: reload the page and try again"
        )
    return await handler(request)


def admin_site(
    db: sqlite_utils.Database,
    storage: object,
    limiter: AddressLimiter | None = None,
    ami: AmiActions | None = None,
    sms_fallback: SmsFallback | None = None,
) -> web.Application:
    """The site's application (mount it under PREFIX with `mount_admin_site`); `ami` is the
    service's AMI link, for the live view; `sms_fallback` when texts go by SMS, for the
    Texts page (cug.ini [texts] sms_after_seconds, None without an SMS gateway)."""
    app = web.Application(
        middlewares=[
            security_headers,
            session_middleware(storage),  # type: ignore[arg-type]
            page_errors,
            require_login,
            require_csrf,
        ]
    )
    app[DB_KEY] = db
    app[LIMITER_KEY] = limiter or AddressLimiter()
    app[HASHING_KEY] = asyncio.Semaphore(HASHING_AT_ONCE)
    app[LIVE_KEY] = LiveView(ami)
    app[CACHE_KEY] = FigureCache()
    app[READERS_KEY] = Readers(db)
    app[SMS_FALLBACK_KEY] = sms_fallback or SmsFallback()

    async def close_readers(app: web.Application) -> None:
        app[READERS_KEY].close()

    app.on_cleanup.append(close_readers)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    app.router.add_static("/static", HERE / "static")
    app.add_routes(pages_login.routes)
    app.add_routes(pages_member_files.routes)  # before /members/{ext}
    app.add_routes(pages_members.routes)
    app.add_routes(pages_cases.routes)
    app.add_routes(pages_routing.routes)
    app.add_routes(pages_bridges.routes)
    app.add_routes(pages_dashboard.routes)
    app.add_routes(pages_audit.routes)
    app.add_routes(pages_live.routes)
    app.add_routes(pages_texts.routes)
    app.add_routes(openapi_doc.routes)
    app.add_routes(pages_accounts.routes)
    return app


def mount_admin_site(
    app: web.Application,
    db: sqlite_utils.Database,
    session_key: str,
    cookie_secure: bool = True,
    limiter: AddressLimiter | None = None,
    ami: AmiActions | None = None,
    sms_fallback: SmsFallback | None = None,
) -> web.Application:
    """Serve the site under /admin beside the app's own routes; the JSON API mounted on the
    same app accepts the site's session cookie too. Returns the site's application. The
    session cookie is Secure unless `cookie_secure` is turned off (plain HTTP on loopback: a
    demo, a test)."""
    if not session_key:
        raise ValueError("the admin site needs a session key (cug.ini [admin_site])")
    storage = make_storage(session_key, cookie_secure)
    app[STORAGE_KEY] = storage
    site = admin_site(db, storage, limiter, ami, sms_fallback)
    app.add_subapp(PREFIX, site)

    async def to_site(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{PREFIX}/")

    app.router.add_get("/", to_site)
    return site
