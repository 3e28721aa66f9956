"""Scope holes a security review found in the admin site, closed: a district admin cannot
hand their cases or members to another district's people, nor read other districts' members
through refusals; the whole directory leaving by export is audited."""

from __future__ import annotations

import sqlite_utils

from directory.cases import open_case
from directory.schema import open_memory
from tests.unit.conftest import MEMBERS, save
from tests.unit.site_client import Browser, accounts, another_browser, site
from tests.unit.test_admin_members import upload

# In the test directory: 2002 and 2008 are Oyam para-social workers, 2011 a Jinja supervisor,
# 2012 and 2014 Jinja members.
FORM = {"role": "psw", "district": "Oyam", "sub_county": "", "organisation": "", "language": ""}


def directory() -> sqlite_utils.Database:
    db = open_memory()
    save(db, MEMBERS)
    accounts(db)
    return db


async def test_a_case_cannot_be_handed_to_another_districts_member_by_the_api() -> None:
    db = directory()
    case = open_case(db, "test", district="Oyam", category="neglect", assign="2002")
    async with site(db) as client:
        oyam = Browser(client)
        assert await oyam.login("oyam") == 303
        await oyam.get("/admin/members")
        headers = {"X-CSRF-Token": oyam.last_csrf}
        answers = []
        for path, body in (
            (f"/api/v1/cases/{case.id}/assign", {"member": "2012"}),
            (
                f"/api/v1/cases/{case.id}/refer",
                {"service": "police", "consent": True, "consent_by": "aunt", "to": "2014"},
            ),
            ("/api/v1/cases", {"category": "neglect", "assign": "2012"}),
        ):
            async with client.post(path, json=body, headers=headers) as response:
                answers.append((response.status, await response.text()))
    assert [status for status, _ in answers] == [400, 400, 400]
    assert all("in your districts" in text for _, text in answers)
    row = db.execute("SELECT assigned_member_id FROM cases WHERE id = ?", (case.id,)).fetchone()
    assert row[0] == db.execute("SELECT id FROM members WHERE extension = '2002'").fetchone()[0]
    assert db.execute("SELECT count(*) FROM referrals").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM cases").fetchone()[0] == 1


async def test_another_districts_supervisor_cannot_be_given_a_member() -> None:
    db = directory()
    async with site(db) as client:
        oyam = Browser(client)
        assert await oyam.login("oyam") == 303
        await oyam.get("/admin/members/2008")
        status, page = await oyam.post(
            "/admin/members/2008",
            {"name": "Odongo Sam", "phone": "0772100008", "supervisor_phone": "0772100011",
             "extension": "2008", **FORM},
        )  # fmt: skip
    assert status == 422
    assert "is not a member of your districts" in page
    sup = db.execute("SELECT supervisor_id FROM members WHERE extension = '2008'").fetchone()
    assert sup[0] != db.execute("SELECT id FROM members WHERE extension = '2011'").fetchone()[0]


async def test_refusals_do_not_name_another_districts_members() -> None:
    db = directory()
    holder = db.execute("SELECT name FROM members WHERE extension = '2012'").fetchone()[0]
    async with site(db) as client:
        oyam = Browser(client)
        assert await oyam.login("oyam") == 303
        await oyam.get("/admin/members/new")
        status, page = await oyam.post(
            "/admin/members/new",
            {"name": "New Worker", "phone": "0772199999", "supervisor_phone": "",
             "extension": "2012", **FORM},
        )  # fmt: skip
    assert status == 422
    assert "extension 2012 is already taken" in page
    assert holder not in page and "0772100012" not in page


async def test_a_csv_naming_another_districts_supervisor_imports_nothing() -> None:
    db = directory()
    before = db.execute("SELECT count(*) FROM members").fetchone()[0]
    csv = "name,phone,role,district,supervisor_phone\nNew Worker,0772199998,psw,Oyam,0772100011\n"
    async with site(db) as client:
        oyam = Browser(client)
        assert await oyam.login("oyam") == 303
        await oyam.get("/admin/members/import")
        status, page = await oyam.post("/admin/members/import", upload(oyam.last_csrf, csv))
    assert status == 422
    assert "is not a member of your districts" in page
    assert db.execute("SELECT count(*) FROM members").fetchone()[0] == before


async def test_an_export_of_the_directory_is_audited_with_the_address() -> None:
    db = directory()
    async with site(db) as client:
        nat = Browser(client)
        assert await nat.login("nat") == 303
        status, _ = await nat.get("/admin/members/export.csv")
    assert status == 200
    rows = db.execute("SELECT actor, after FROM audit WHERE action = 'member.export'").fetchall()
    assert len(rows) == 1 and rows[0][0] == "admin:nat" and "remote_addr" in rows[0][1]


async def test_an_account_disables_itself_by_no_spelling() -> None:
    db = directory()
    async with site(db) as client, another_browser(client) as nat:
        assert await nat.login("nat") == 303
        await nat.get("/admin/accounts")
        status, page = await nat.post("/admin/accounts/NAT/disable", {})
    assert status == 422
    assert "own account" in page
    row = db.execute("SELECT disabled_at FROM admin_accounts WHERE username = 'nat'").fetchone()
    assert row[0] is None
