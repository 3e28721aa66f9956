"""Member pages of the admin site: list (search, filters, pages), add, edit, deactivate, a
new SIP password shown once, CSV import (all or nothing, every bad row shown) and export
(formula cells neutralised); hostile input refused with a reason and changing nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import sqlite_utils
from aiohttp import FormData

from directory.lookup import Directory
from directory.schema import open_db
from tests.unit.conftest import MEMBERS, save
from tests.unit.site_client import Browser, accounts, site
from web import pages_member_files

NEW = {"name": "Apio Grace", "phone": "0772 100050", "role": "psw", "district": "Oyam"}


@pytest.fixture
def staffed(db: sqlite_utils.Database, directory: Directory) -> sqlite_utils.Database:
    accounts(db)
    return db


def upload(csrf: str, text: bytes, name: str = "members.csv") -> FormData:
    form = FormData()
    form.add_field("csrf", csrf)
    form.add_field("file", text, filename=name, content_type="text/csv")
    return form


def members(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM members").fetchone()[0]


async def test_add_shows_the_sip_password_once_and_is_audited(
    staffed: sqlite_utils.Database,
) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        status, page = await b.post("/admin/members/new", NEW)
        assert status == 200 and b.response.headers["Cache-Control"] == "no-store"
        added = Directory(staffed).member_by_phone("+256772100050")
        assert added is not None and added.district == "Oyam"
        assert f'id="sip-password">{added.sip_password}<' in page
        assert f'id="sip-username">{added.extension}<' in page
        status, page = await b.get(f"/admin/members/{added.extension}")
        assert status == 200 and added.sip_password not in page
    row = staffed.execute(
        "SELECT actor, after FROM audit WHERE action = 'member.add.add'"
    ).fetchone()
    assert row[0] == "admin:oyam" and json.loads(row[1])["remote_addr"] == "127.0.0.1"
    assert added.sip_password not in row[1]


async def test_bad_values_are_refused_with_every_reason(staffed: sqlite_utils.Database) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("nat")
        bad = {"name": "", "phone": "12", "role": "king", "district": "Atlantis"}
        status, page = await b.post("/admin/members/new", bad)
        assert status == 422
        for reason in ("name is missing", "phone:", "unknown role", "unknown district"):
            assert reason in page
        huge = {**NEW, "name": "A" * 10_000, "organisation": "x\u0000y"}
        status, page = await b.post("/admin/members/new", huge)
        assert status == 422 and "longer than 120" in page and "control characters" in page
        dup = {**NEW, "phone": "0772100002"}
        assert (await b.post("/admin/members/new", dup))[0] == 422
    assert members(staffed) == 12


async def test_a_script_in_a_name_is_shown_as_text(staffed: sqlite_utils.Database) -> None:
    hostile = '<script>alert("x")</script> O\'Brien; DROP TABLE members;--'
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("nat")
        status, page = await b.post("/admin/members/new", {**NEW, "name": hostile})
        assert status == 200
        for path in ("/admin/members?q=Brien", "/admin/members/0772100050"):
            status, page = await b.get(path)
            assert "<script>alert" not in page
            assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert members(staffed) == 13


async def test_edit_deactivate_and_new_password(staffed: sqlite_utils.Database) -> None:
    d = Directory(staffed)
    before = d.member_by_extension("2003")
    assert before is not None
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        values = {
            "name": "Auma Christine A.",
            "phone": "0772100003",
            "role": "psw",
            "district": "Oyam",
            "supervisor_phone": "0772100001",
            "extension": "2003",
        }
        status, _ = await b.post("/admin/members/2003", values)
        assert status == 303 and b.response.headers["Location"] == "/admin/members/2003"
        status, page = await b.get("/admin/members/2003")
        assert "changed name" in page
        loop = {**values, "supervisor_phone": "0772100003"}
        status, page = await b.post("/admin/members/2003", loop)
        assert status == 422 and "own supervisor" in page
        assert (await b.post("/admin/members/2003/deactivate", {}))[0] == 303
        status, page = await b.get("/admin/members/2003")
        assert "deactivated" in page and ": inactive" in page
        status, page = await b.post("/admin/members/2003/reset-password", {})
        after = d.member_by_extension("2003")
        assert after is not None and after.sip_password != before.sip_password
        assert after.sip_password in page and not after.active
    actions = [
        r[0]
        for r in staffed.execute(
            "SELECT action FROM audit WHERE actor = 'admin:oyam' AND subject = '+256772100003'"
        )
    ]
    assert actions == ["member.update", "member.deactivate", "member.reset_sip_password"]


async def test_list_searches_filters_and_pages(staffed: sqlite_utils.Database) -> None:
    many = [
        (f"Worker {n:03}", f"0772300{n:03}", "psw", "Oyam", "", str(4000 + n)) for n in range(120)
    ]
    assert save(staffed, many).ok
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("nat")
        status, page = await b.get("/admin/members?district=Oyam&role=psw")
        assert "123 members, page 1 of 3" in page
        assert "Worker 046" in page and "Worker 047" not in page
        status, page = await b.get("/admin/members?district=Oyam&role=psw&page=3")
        assert "Worker 119" in page and "next" not in page.split("pager")[-1]
        status, page = await b.get("/admin/members?q=worker%2010")
        assert "10 members" in page
        status, page = await b.get("/admin/members?q=0772300042")
        assert "1 member," not in page and "1 member" in page and "Worker 042" in page
        status, page = await b.get("/admin/members?q=4042")
        assert "Worker 042" in page
        status, page = await b.get("/admin/members?active=no")
        assert "1 member" in page and "Lanyero Joy" in page
        # htmx asks for the table alone.
        status, page = await b.get("/admin/members?q=Okello", headers={"HX-Request": "true"})
        assert "<html" not in page and "Okello Denis" in page
        status, page = await b.get("/admin/members?q=%25&page=abc&active=maybe")
        assert status == 200 and "0 members" in page


async def test_import_shows_every_bad_row_and_imports_nothing(
    staffed: sqlite_utils.Database,
) -> None:
    text = (
        b"name,phone,role,district,supervisor_phone\n"
        b"Good One,0772400001,psw,Oyam,\n"
        b"Bad Phone,12345,psw,Oyam,\n"
        b"<b>Bold</b>,0772400003,wizard,Oyam,\n"
        b"Other,0772400004,psw,Jinja,\n"
    )
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        await b.get("/admin/members/import")
        status, page = await b.post("/admin/members/import", upload(b.last_csrf, text))
        assert status == 422 and "3 bad row(s)" in page
        assert "<td>3</td>" in page and "<td>4</td>" in page and "<td>5</td>" in page
        assert "unknown role" in page and "not one of yours" in page
        assert "<b>Bold" not in page
        assert members(staffed) == 12
        status, page = await b.post(
            "/admin/members/import", upload(b.last_csrf, b"name,phone\n\xff\xfe,1\n")
        )
        assert status == 422 and "not UTF-8" in page
        assert (await b.post("/admin/members/import", upload("stale", text)))[0] == 403
        good = b"name,phone,role,district,supervisor_phone\nGood One,0772400001,psw,Oyam,\n"
        status, _ = await b.post("/admin/members/import", upload(b.last_csrf, good, "../new.csv"))
        assert status == 303
        status, page = await b.get("/admin/members")
        assert "new.csv: 1 added" in page and "/new.csv" not in page
    assert members(staffed) == 13


async def test_a_huge_upload_is_refused(
    staffed: sqlite_utils.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages_member_files, "MAX_UPLOAD", 50_000)
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("nat")
        await b.get("/admin/members/import")
        big = b"name,phone,role,district,supervisor_phone\n" + b"x,0772400001,psw,Oyam,\n" * 5000
        status, page = await b.post("/admin/members/import", upload(b.last_csrf, big))
        assert status == 413 and "larger than" in page
    assert members(staffed) == 12


async def test_export_neutralises_formulas_and_keeps_to_the_districts(
    staffed: sqlite_utils.Database,
) -> None:
    staffed.execute("UPDATE members SET name = '=cmd|'' /C calc''!A0' WHERE extension = '2002'")
    staffed.execute("UPDATE members SET organisation = '@SUM(1+1)' WHERE extension = '2003'")
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        status, text = await b.get("/admin/members/export.csv")
        assert status == 200 and b.response.content_type == "text/csv"
        assert "attachment" in b.response.headers["Content-Disposition"]
    found = list(csv.DictReader(io.StringIO(text)))
    assert {r["district"] for r in found} == {"Oyam"} and len(found) == 9
    by_phone = {r["phone"]: r for r in found}
    assert by_phone["+256772100002"]["name"].startswith("'=cmd")
    assert by_phone["+256772100003"]["organisation"] == "'@SUM(1+1)"


async def test_an_import_into_a_directory_file_runs_beside_the_loop(tmp_path: Path) -> None:
    db = open_db(tmp_path / "cug.db")
    assert save(db, MEMBERS).ok
    accounts(db)
    rows = "".join(f"Worker {n},07725{n:05},psw,Oyam,\n" for n in range(300))
    text = ("name,phone,role,district,supervisor_phone\n" + rows).encode()
    async with site(db) as client:
        b = Browser(client)
        await b.login("oyam")
        await b.get("/admin/members/import")
        status, _ = await b.post("/admin/members/import", upload(b.last_csrf, text))
        assert status == 303
        assert "300 added" in (await b.get("/admin/members"))[1]
    assert members(db) == 312
    stamped = db.execute(
        "SELECT count(*) FROM audit WHERE actor = 'admin:oyam' AND action LIKE 'member.import%' "
        "AND json_extract(after, '$.remote_addr') = '127.0.0.1'"
    ).fetchone()[0]
    assert stamped == 300
    db.close()
