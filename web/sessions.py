"""The admin site's sessions: an encrypted cookie (Fernet, the install's own key), HttpOnly
and SameSite=Strict, that names a session row (directory/admin_sessions.py) and holds the
session's CSRF token. The JSON API accepts the same cookie (web/auth.py), so the site's pages
and scripts in the admin's browser use one login with one scope.

A cookie that does not decrypt (forged, altered, from another install) is no session: the
request is treated as not logged in. Changes need the session's CSRF token: a form field
`csrf` or the header X-CSRF-Token; a token of an earlier session is refused.
"""

from __future__ import annotations

import hmac
import logging
import secrets

import sqlite_utils
from aiohttp import web
from aiohttp_session import AbstractStorage, Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from directory.admin_accounts import AdminAccount
from directory.admin_sessions import SESSION_HOURS, live_account

log = logging.getLogger(__name__)

COOKIE = "cug_admin"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SID = "sid"
CSRF = "csrf"

STORAGE_KEY = web.AppKey("cug_session_storage", AbstractStorage)


def make_storage(key: str, secure: bool = True) -> EncryptedCookieStorage:
    """The cookie storage for `key` (a Fernet key, cug.ini [admin_site] session_key); the
    cookie is Secure (sent over HTTPS only) unless `secure` is turned off."""
    return EncryptedCookieStorage(
        key,
        cookie_name=COOKIE,
        max_age=SESSION_HOURS * 3600,
        path="/",
        secure=secure,
        httponly=True,
        samesite="Strict",
    )


async def read_session(request: web.Request) -> Session:
    """The request's session as its cookie says (a new, empty one when there is none or it
    does not decrypt), without the session middleware (the API app has none)."""
    storage = request.config_dict[STORAGE_KEY]
    return await storage.load_session(request)


def session_account(db: sqlite_utils.Database, session: Session) -> AdminAccount | None:
    sid = session.get(SID)
    return live_account(db, sid) if isinstance(sid, str) else None


def begin(session: Session, sid: str) -> str:
    """Fill a fresh session after a login: its row id and a new CSRF token (returned)."""
    session.invalidate()
    session[SID] = sid
    session[CSRF] = secrets.token_urlsafe(32)
    return session[CSRF]


def ensure_csrf(session: Session) -> str:
    """The session's CSRF token, made if it has none (a visitor's, for the login form)."""
    if not isinstance(session.get(CSRF), str):
        session[CSRF] = secrets.token_urlsafe(32)
    return session[CSRF]


def csrf_ok(session: Session, presented: str | None) -> bool:
    expected = session.get(CSRF)
    if not isinstance(expected, str) or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode("utf-8", "replace"))
