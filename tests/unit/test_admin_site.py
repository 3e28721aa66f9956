"""The admin site's logins, sessions, CSRF and scope: who sees and changes what, by page and
by the JSON API with the same session."""

from __future__ import annotations

import json
import logging

import pytest
import sqlite_utils
from cryptography.fernet import Fernet

from cug.settings import new_session_key
from directory.admin_accounts import disable_account
from directory.cases import open_case
from directory.lookup import Directory
from tests.unit.site_client import PASSWORD, Browser, accounts, another_browser, site
from web.auth import TokenError, create_token
from web.login_limits import AddressLimiter


@pytest.fixture
def staffed(db: sqlite_utils.Database, directory: Directory) -> sqlite_utils.Database:
    accounts(db)
    return db


def audit_rows(db: sqlite_utils.Database, action: str) -> list[dict]:
    found = db.execute(
        "SELECT actor, subject, after FROM audit WHERE action = ? ORDER BY id", (action,)
    ).fetchall()
    return [{"actor": a, "subject": s, "after": json.loads(x) if x else None} for a, s, x in found]


def member_count(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM members").fetchone()[0]


async def test_every_page_needs_a_login(staffed: sqlite_utils.Database) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        status, _ = await b.get("/admin/members?district=Oyam")
        assert status == 302
        assert b.response.headers["Location"] == "/admin/login?next=/admin/members?district%3DOyam"
        assert (await b.get("/"))[0] == 302
        status, page = await b.get("/admin/login")
        assert status == 200 and "Log in" in page
        headers = b.response.headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["Cache-Control"] == "no-store" and headers["X-Frame-Options"] == "DENY"
        cookie = next(c for c in client.session.cookie_jar if c.key == "cug_admin")
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        status, _ = await b.post("/admin/members/new", {"name": "x"})
        assert status == 303 and member_count(staffed) == 12


async def test_login_and_logout_are_audited_with_the_address(
    staffed: sqlite_utils.Database,
) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        assert await b.login("nat", "wrong password, long") == 401
        assert await b.login("nobody", PASSWORD) == 401
        assert await b.login("nat") == 303
        status, page = await b.get("/admin/members")
        assert status == 200 and "Okello Denis" in page and "Waiswa Moses" in page
        await b.logout()
        assert (await b.get("/admin/members"))[0] == 302
    failed = audit_rows(staffed, "admin.login_failed")
    assert [r["after"]["reason"] for r in failed] == ["wrong_password", "unknown"]
    assert audit_rows(staffed, "admin.login")[0]["after"] == {"remote_addr": "127.0.0.1"}
    assert audit_rows(staffed, "admin.logout")[0]["actor"] == "admin:nat"


async def test_the_login_page_says_the_same_for_every_refusal(
    staffed: sqlite_utils.Database,
) -> None:
    disable_account(staffed, "jinja", "tester")
    async with site(staffed) as client:
        b = Browser(client)
        answers = set()
        for name, password in (
            ("nat", "wrong password!!"),
            ("ghost", PASSWORD),
            ("jinja", PASSWORD),
        ):
            await b.get("/admin/login")
            status, page = await b.post("/admin/login", {"username": name, "password": password})
            answers.add((status, page.count("Wrong user name or password")))
        assert answers == {(401, 1)}


async def test_the_session_cookie_is_secure_unless_turned_off(db: sqlite_utils.Database) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from web.site import mount_admin_site

    for given, secure in (({}, True), ({"cookie_secure": False}, False)):
        app = web.Application()
        mount_admin_site(app, db, new_session_key(), **given)
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/admin/login")
            cookie = response.headers["Set-Cookie"]
        attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
        assert "httponly" in attributes and "samesite=strict" in attributes
        assert ("secure" in attributes) is secure, cookie


async def test_login_without_its_csrf_token_is_refused(staffed: sqlite_utils.Database) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        await b.get("/admin/login")
        status, _ = await b.post("/admin/login", {"username": "nat", "password": PASSWORD}, None)
        assert status == 403
        assert audit_rows(staffed, "admin.login") == []


async def test_a_forged_or_altered_cookie_is_no_session(staffed: sqlite_utils.Database) -> None:
    key = new_session_key()
    async with site(staffed, key) as client:
        b = Browser(client)
        assert await b.login("nat") == 303
        real = b.cookie()
        forged = {
            "altered": real[:-6] + ("AAAAAA" if not real.endswith("AAAAAA") else "BBBBBB"),
            "other key": Fernet(Fernet.generate_key())
            .encrypt(json.dumps({"created": 1, "session": {"sid": "x" * 32, "csrf": "y"}}).encode())
            .decode(),
            "garbage": "not-a-cookie",
        }
        for what, value in forged.items():
            client.session.cookie_jar.clear()
            status, _ = await b.get("/admin/members", cookies={"cug_admin": value})
            assert status == 302, what
            status, _ = await b.get("/api/v1/members", cookies={"cug_admin": value})
            assert status == 401, what


async def test_a_copied_cookie_dies_with_logout_and_with_disable(
    staffed: sqlite_utils.Database,
) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        copied = b.cookie()
        async with another_browser(client) as thief:
            assert (await thief.get("/admin/members", cookies={"cug_admin": copied}))[0] == 200
            await b.logout()
            assert (await thief.get("/admin/members", cookies={"cug_admin": copied}))[0] == 302
        await b.login("oyam")
        assert (await b.get("/admin/members"))[0] == 200
        disable_account(staffed, "oyam", "tester")
        assert (await b.get("/admin/members"))[0] == 302


async def test_changes_need_this_sessions_csrf_token(staffed: sqlite_utils.Database) -> None:
    new = {"name": "Apio Grace", "phone": "0772100050", "role": "psw", "district": "Oyam"}
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("nat")
        old_token = b.last_csrf
        assert (await b.post("/admin/members/new", new, csrf=None))[0] == 403
        assert (await b.post("/admin/members/new", new, csrf="forged-token"))[0] == 403
        await b.logout()
        await b.login("nat")
        assert b.last_csrf != old_token
        # A token of an earlier session, replayed, is refused.
        assert (await b.post("/admin/members/new", new, csrf=old_token))[0] == 403
        async with another_browser(client) as other:
            await other.login("oyam")
            assert (await other.post("/admin/members/new", new, csrf=b.last_csrf))[0] == 403
        assert member_count(staffed) == 12
        status, page = await b.post("/admin/members/new", new)
        assert status == 200 and "Added Apio Grace" in page
        assert member_count(staffed) == 13


async def test_a_district_admin_sees_and_changes_only_their_districts(
    staffed: sqlite_utils.Database,
) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        status, page = await b.get("/admin/members")
        assert "Okello Denis" in page and "Waiswa Moses" not in page
        status, page = await b.get("/admin/members?district=Jinja")
        assert "Waiswa Moses" not in page and "0 members" in page
        assert (await b.get("/admin/members/2012"))[0] == 403  # Waiswa, Jinja
        assert (await b.get("/admin/members/0772100012"))[0] == 403
        assert (await b.get("/admin/members/2002"))[0] == 200
        moves = {"name": "Waiswa Moses", "phone": "0772100012", "role": "psw", "district": "Oyam"}
        assert (await b.post("/admin/members/2012", moves))[0] == 403
        assert (await b.post("/admin/members/2012/deactivate", {}))[0] == 403
        assert (await b.post("/admin/members/2012/reset-password", {}))[0] == 403
        away = {"name": "Okello Denis", "phone": "0772100002", "role": "psw", "district": "Jinja"}
        status, page = await b.post("/admin/members/2002", away)
        assert status == 422 and "not one of yours" in page
        new = {"name": "Someone", "phone": "0772100051", "role": "psw", "district": "Jinja"}
        assert (await b.post("/admin/members/new", new))[0] == 422
        # The JSON API with the same session: the same scope.
        status, _ = await b.get("/api/v1/members/2012")
        assert status == 403
        status, body = await b.get("/api/v1/members/2002")
        assert status == 200 and json.loads(body)["member"]["name"] == "Okello Denis"
        assert "sip_password" not in body
        status, body = await b.get("/api/v1/members?active=all")
        names = {m["name"] for m in json.loads(body)["members"]}
        assert "Waiswa Moses" not in names and "Lanyero Joy" in names
        assert (await b.get("/api/v1/members?district=Jinja"))[0] == 403
    row = staffed.execute("SELECT district, active FROM members WHERE extension='2012'").fetchone()
    assert row == ("Jinja", 1)
    assert audit_rows(staffed, "member.add") == []


async def test_the_api_scopes_cases_for_a_session_and_needs_csrf_to_change(
    staffed: sqlite_utils.Database,
) -> None:
    jinja_case = open_case(staffed, "tester", district="Jinja", category="neglect")
    oyam_case = open_case(staffed, "tester", district="Oyam", category="neglect", assign="2002")
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        assert (await b.get(f"/api/v1/cases/{jinja_case.id}"))[0] == 404  # as if unknown
        assert (await b.get(f"/api/v1/cases/{oyam_case.id}"))[0] == 200
        status, body = await b.get("/api/v1/cases")
        assert [c["id"] for c in json.loads(body)["cases"]] == [oyam_case.id]
        assert (await b.get("/api/v1/cases?district=Jinja"))[0] == 403
        path = f"/api/v1/cases/{oyam_case.id}/follow-up"
        body = json.dumps({"follow_up_due": "2030-01-01"})
        headers = {"Content-Type": "application/json"}
        assert (await b.post(path, body, csrf=None, headers=headers))[0] == 403
        headers["X-CSRF-Token"] = b.last_csrf
        assert (await b.post(path, body, csrf=None, headers=headers))[0] == 200
        views = audit_rows(staffed, "case.view")
        assert views[-1]["actor"] == "admin:oyam"
        assert views[-1]["after"]["remote_addr"] == "127.0.0.1"


async def test_a_supervisor_reads_their_team_only_and_changes_nothing(
    staffed: sqlite_utils.Database,
) -> None:
    team_case = open_case(staffed, "tester", district="Oyam", category="neglect", assign="2002")
    other_case = open_case(staffed, "tester", district="Oyam", category="neglect", assign="2004")
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("grace")
        status, page = await b.get("/admin/members?active=all")
        assert "Okello Denis" in page and "Lanyero Joy" in page
        assert "Sgt. Opio James" not in page
        assert (await b.get("/admin/members/2004"))[0] == 403
        status, page = await b.get("/admin/members/2002")
        assert status == 200 and "Save" not in page and "Deactivate" not in page
        assert (await b.get("/admin/members/new"))[0] == 403
        new = {"name": "Someone", "phone": "0772100051", "role": "psw", "district": "Oyam"}
        assert (await b.post("/admin/members/new", new))[0] == 403
        assert (await b.post("/admin/members/2002/deactivate", {}))[0] == 403
        assert (await b.get("/admin/members/export.csv"))[0] == 403
        status, body = await b.get("/api/v1/cases")
        assert [c["id"] for c in json.loads(body)["cases"]] == [team_case.id]
        assert (await b.get(f"/api/v1/cases/{other_case.id}"))[0] == 404
        status, body = await b.get("/api/v1/report")  # figures: her team's case only
        assert status == 200 and sum(r["cases"] for r in json.loads(body)["report"]) == 1
        headers = {"Content-Type": "application/json", "X-CSRF-Token": b.last_csrf}
        path = f"/api/v1/cases/{team_case.id}/follow-up"
        body = json.dumps({"follow_up_due": "2030-01-01"})
        assert (await b.post(path, body, csrf=None, headers=headers))[0] == 403
    assert member_count(staffed) == 12
    assert staffed.execute("SELECT active FROM members WHERE extension='2002'").fetchone() == (1,)


async def test_failed_logins_from_one_address_are_refused_for_a_while(
    staffed: sqlite_utils.Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with site(staffed, limiter=AddressLimiter(limit=3)) as client:
        b = Browser(client)
        for name in ("nat", "oyam", "jinja"):
            assert await b.login(name, "wrong password, long") == 401
        # Even the right password: this address has to wait.
        assert await b.login("grace") == 429
        assert "Too many failed logins" in (await b.post("/admin/login", {}))[1]
    assert "failed logins from 127.0.0.1" in caplog.text


async def test_an_account_locks_after_five_wrong_passwords(staffed: sqlite_utils.Database) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        for _ in range(5):
            assert await b.login("oyam", "wrong password, long") == 401
        assert await b.login("oyam") == 401  # locked: the right password is refused too
        assert await b.login("jinja") == 303
    assert audit_rows(staffed, "admin_account.locked")[0]["subject"] == "admin_account:oyam"


async def test_the_audit_trail_is_for_national_admins(staffed: sqlite_utils.Database) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        assert (await b.get("/admin/audit"))[0] == 403
        await b.logout()
        await b.login("nat")
        status, page = await b.get("/admin/audit?actor=admin:oyam&action=admin.log")
        assert status == 200 and "2 entries" in page
        assert "admin.logout" in page and "remote_addr" in page
        status, page = await b.get("/admin/audit?action=%25")
        assert "0 entries" in page


async def test_an_api_token_of_an_account_has_the_accounts_scope(
    staffed: sqlite_utils.Database,
) -> None:
    oyam_token = create_token(staffed, "oyam-script", "tester", account="oyam")[0]
    grace_token = create_token(staffed, "grace-script", "tester", account="grace")[0]
    with pytest.raises(TokenError, match="no admin account"):
        create_token(staffed, "ghost-script", "tester", account="ghost")
    with pytest.raises(TokenError, match="account's districts"):
        create_token(staffed, "mixed", "tester", district="Jinja", account="oyam")
    case = open_case(staffed, "tester", district="Oyam", category="neglect", assign="2002")
    async with site(staffed) as client:

        async def status(token: str, method: str, path: str, body: str | None = None) -> int:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            async with client.request(method, path, data=body, headers=headers) as response:
                return response.status

        assert await status(oyam_token, "GET", "/api/v1/members/2012") == 403
        assert await status(oyam_token, "GET", "/api/v1/members/2002") == 200
        follow = json.dumps({"follow_up_due": "2030-01-01"})
        path = f"/api/v1/cases/{case.id}/follow-up"
        assert await status(oyam_token, "POST", path, follow) == 200  # no CSRF: a token
        assert await status(grace_token, "GET", f"/api/v1/cases/{case.id}") == 200
        assert await status(grace_token, "POST", path, follow) == 403
        disable_account(staffed, "oyam", "tester")
        assert await status(oyam_token, "GET", "/api/v1/members/2002") == 401
    actors = staffed.execute(
        "SELECT DISTINCT actor FROM audit WHERE action = 'case.follow_up'"
    ).fetchall()
    assert actors == [("admin:oyam",)]
