"""Accounts on the site: national admins create, disable and reset accounts (passwords made
at random, shown once); everyone changes their own password; nobody else gets in."""

from __future__ import annotations

import json
import re

import pytest
import sqlite_utils

from directory.admin_logins import check_login
from directory.lookup import Directory
from tests.unit.site_client import PASSWORD, Browser, accounts, another_browser, site

SHOWN = re.compile(r'id="account-password">([^<]+)<')


@pytest.fixture
def staffed(db: sqlite_utils.Database, directory: Directory) -> sqlite_utils.Database:
    accounts(db)
    return db


async def test_a_national_admin_creates_and_resets_accounts(staffed: sqlite_utils.Database) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("nat")
        assert "Admin accounts" in (await b.get("/admin/accounts"))[1]
        new = {"username": "apac", "role": "district", "district": "Apac", "member": ""}
        status, page = await b.post("/admin/accounts", new)
        found = SHOWN.search(page)
        assert status == 200 and found
        assert check_login(staffed, "apac", found.group(1), "127.0.0.1").reason == "ok"
        bad = {"username": "x", "role": "king", "district": "Atlantis", "member": ""}
        status, page = await b.post("/admin/accounts", bad)
        assert status == 422 and "unknown role" in page
        status, page = await b.post("/admin/accounts/apac/reset-password", {})
        again = SHOWN.search(page)
        assert again and again.group(1) != found.group(1)
        assert check_login(staffed, "apac", found.group(1), "127.0.0.1").reason != "ok"
        assert (await b.post("/admin/accounts/apac/disable", {}))[0] == 303
        status, page = await b.post("/admin/accounts/nat/disable", {})
        assert status == 422 and "your own account" in page
    made = staffed.execute(
        "SELECT actor, after FROM audit WHERE action = 'admin_account.create' "
        "AND subject = 'admin_account:apac'"
    ).fetchone()
    assert made[0] == "admin:nat" and json.loads(made[1])["remote_addr"] == "127.0.0.1"


async def test_only_national_admins_manage_accounts(staffed: sqlite_utils.Database) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        assert (await b.get("/admin/accounts"))[0] == 403
        new = {"username": "mine", "role": "national", "member": ""}
        assert (await b.post("/admin/accounts", new))[0] == 403
        assert (await b.post("/admin/accounts/nat/reset-password", {}))[0] == 403
        assert (await b.post("/admin/accounts/nat/disable", {}))[0] == 403
    assert staffed.execute("SELECT count(*) FROM admin_accounts").fetchone()[0] == 4


async def test_changing_my_password_ends_my_other_sessions(staffed: sqlite_utils.Database) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        async with another_browser(client) as elsewhere:
            await elsewhere.login("oyam")
            await b.get("/admin/password")
            wrong = {"current": "not my password", "new": "x" * 12, "again": "x" * 12}
            status, page = await b.post("/admin/password", wrong)
            assert status == 422 and "current password is wrong" in page
            differ = {"current": PASSWORD, "new": "y" * 12, "again": "z" * 12}
            assert (await b.post("/admin/password", differ))[0] == 422
            short = {"current": PASSWORD, "new": "short", "again": "short"}
            assert "at least 12" in (await b.post("/admin/password", short))[1]
            good = {
                "current": PASSWORD,
                "new": "my own new password",
                "again": "my own new password",
            }
            assert (await b.post("/admin/password", good))[0] == 303
            status, page = await b.get("/admin/members")
            assert status == 200 and "Your password was changed" in page
            assert (await elsewhere.get("/admin/members"))[0] == 302
    assert check_login(staffed, "oyam", "my own new password", "127.0.0.1").reason == "ok"
