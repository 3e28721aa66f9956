"""The admin site (and the JSON API beside it) in-process, driven like a browser: a cookie
jar, forms with their CSRF token."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlite_utils
from aiohttp import ClientSession, CookieJar, FormData, web
from aiohttp.test_utils import TestClient, TestServer

from cug.settings import new_session_key
from directory.admin_accounts import create_account
from web.app import mount_api
from web.login_limits import AddressLimiter
from web.site import mount_admin_site

PASSWORD = "a long enough password"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browser:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.last_csrf = ""

    async def _send(self, method: str, path: str, **kw: Any) -> tuple[int, str]:
        request = self.client.get if method == "GET" else self.client.post
        async with request(path, allow_redirects=False, **kw) as response:
            self.response = response
            text = await response.text()
        found = CSRF.search(text)
        if found:
            self.last_csrf = html.unescape(found.group(1))
        return response.status, text

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        return await self._send("GET", path, **kw)

    async def post(
        self, path: str, data: dict[str, Any] | FormData, csrf: str | None = "auto", **kw: Any
    ) -> tuple[int, str]:
        if isinstance(data, dict) and csrf is not None:
            data = {"csrf": self.last_csrf if csrf == "auto" else csrf, **data}
        return await self._send("POST", path, data=data, **kw)

    async def login(self, username: str, password: str = PASSWORD) -> int:
        await self.get("/admin/login")
        status, _ = await self.post(
            "/admin/login", {"username": username, "password": password, "next": "/admin/"}
        )
        if status == 303:
            await self.get("/admin/members")  # picks up the session's token
        return status

    async def logout(self) -> None:
        await self.post("/admin/logout", {})

    def cookie(self) -> str:
        found = [c for c in self.client.session.cookie_jar if c.key == "cug_admin"]
        return found[0].value if found else ""


def accounts(db: sqlite_utils.Database) -> None:
    """national `nat`, Oyam's `oyam`, Jinja's `jinja`, and supervisor `grace` (2001)."""
    create_account(db, "nat", "national", PASSWORD, "tester")
    create_account(db, "oyam", "district", PASSWORD, "tester", districts=["Oyam"])
    create_account(db, "jinja", "district", PASSWORD, "tester", districts=["Jinja"])
    create_account(db, "grace", "supervisor", PASSWORD, "tester", member="2001")


@asynccontextmanager
async def site(
    db: sqlite_utils.Database,
    key: str | None = None,
    limiter: AddressLimiter | None = None,
    ami: Any = None,
) -> AsyncIterator[TestClient]:
    app = web.Application()
    mount_api(app, db)
    # The test client speaks plain HTTP: a Secure cookie would never come back.
    mount_admin_site(app, db, key or new_session_key(), False, limiter=limiter, ami=ami)
    async with TestClient(TestServer(app)) as client:
        yield client


class _OwnCookies:
    """What Browser uses of a TestClient, with a cookie jar of its own, on the same server."""

    def __init__(self, client: TestClient) -> None:
        self.make_url = client.make_url
        self.session = ClientSession(cookie_jar=CookieJar(unsafe=True))

    def get(self, path: str, **kw: Any) -> Any:
        return self.session.get(self.make_url(path), **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.session.post(self.make_url(path), **kw)


@asynccontextmanager
async def another_browser(client: TestClient) -> AsyncIterator[Browser]:
    """A second browser (its own cookies) on the same site."""
    own = _OwnCookies(client)
    try:
        yield Browser(own)  # type: ignore[arg-type]
    finally:
        await own.session.close()
