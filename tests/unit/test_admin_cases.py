"""Case pages: list and detail within the account's scope (403 outside it), the timeline
from the contact log, history and referrals, each view audited, linking a contact."""

from __future__ import annotations

import json

import pytest
import sqlite_utils

from directory.case_model import Case
from directory.cases import find_case, open_case
from directory.lookup import Directory
from directory.referrals import make_referral
from tests.unit.site_client import Browser, accounts, site


@pytest.fixture
def staffed(db: sqlite_utils.Database, directory: Directory) -> sqlite_utils.Database:
    accounts(db)
    return db


def add_call(
    db: sqlite_utils.Database,
    contact_id: int,
    at: str,
    caller: str,
    callee: str,
    case_id: int | None = None,
    step: int | None = None,
) -> None:
    d = Directory(db)
    ids = [d.member_by_extension(x).id for x in (caller, callee)]  # type: ignore[union-attr]
    db.table("contacts").insert(
        {
            "id": contact_id,
            "kind": "call",
            "source_key": f"k{contact_id}",
            "caller_member_id": ids[0],
            "callee_member_id": ids[1],
            "placed_at": at,
            "answered_at": at,
            "outcome": "answered",
            "recorded_at": at,
            "case_id": case_id,
            "link": "prefix" if case_id else "",
            "step": step,
            "confirm": 1 if step else None,
        }
    )


def oyam_case(db: sqlite_utils.Database, **extra: str) -> Case:
    """An Oyam neglect case assigned to 2002 (Okello Denis)."""
    return open_case(db, "tester", district="Oyam", category="neglect", assign="2002", **extra)


async def test_a_case_page_shows_its_timeline_and_is_audited(
    staffed: sqlite_utils.Database,
) -> None:
    case = oyam_case(
        staffed,
        reported_at="2025-03-03T11:00+03:00",
        summary="<b>Home visit</b> needed",
    )
    add_call(staffed, 1, "2025-03-03T09:30:00+00:00", "2002", "2001", case.id, step=2)
    make_referral(
        staffed,
        case.id,
        "tester",
        service="health",
        consent=True,
        consent_by="her aunt",
        at="2025-03-03T10:00:00+00:00",
    )
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        status, page = await b.get("/admin/cases")
        assert status == 200 and f'href="/admin/cases/{case.id}"' in page
        status, page = await b.get(f"/admin/cases/{case.id}")
        assert status == 200
        assert "&lt;b&gt;Home visit&lt;/b&gt;" in page
        order = [page.index(t) for t in ("reported: neglect", "call #1", "referral #1 to health")]
        assert order == sorted(order)
        assert "Okello Denis (2002) → Grace Akello (2001), answered, escalation step 2" in page
    views = staffed.execute(
        "SELECT actor, subject, after FROM audit WHERE action = 'case.view'"
    ).fetchall()
    assert views[0][:2] == ("admin:oyam", f"case:{case.id}")
    assert json.loads(views[0][2])["remote_addr"] == "127.0.0.1"


async def test_cases_outside_the_scope_are_answered_as_missing(
    staffed: sqlite_utils.Database,
) -> None:
    jinja = open_case(staffed, "tester", district="Jinja", category="neglect", assign="2012")
    team = open_case(staffed, "tester", district="Oyam", category="neglect", assign="2003")
    other = open_case(staffed, "tester", district="Oyam", category="neglect", assign="2004")
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        assert (await b.get(f"/admin/cases/{jinja.id}"))[0] == 404  # as if it did not exist
        assert (await b.get(f"/admin/cases/{jinja.reference}"))[0] == 404
        assert (await b.get("/admin/cases/99999"))[0] == 404
        assert (await b.get("/admin/cases?district=Jinja"))[0] == 403
        status, page = await b.get("/admin/cases")
        assert f">{jinja.id}</a>" not in page and f">{team.id}</a>" in page
        await b.logout()
        await b.login("grace")
        status, page = await b.get("/admin/cases")
        assert f">{team.id}</a>" in page and f">{other.id}</a>" not in page
        assert (await b.get(f"/admin/cases/{other.id}"))[0] == 404
        assert (await b.get(f"/admin/cases/{team.id}"))[0] == 200
        assert (await b.post(f"/admin/cases/{team.id}/link", {"contact": "1"}))[0] == 403
    assert (
        staffed.execute(
            "SELECT count(*) FROM audit WHERE action = 'case.view' AND subject = ?",
            (f"case:{jinja.id}",),
        ).fetchone()[0]
        == 0
    )


async def test_linking_a_contact_from_the_case_page(staffed: sqlite_utils.Database) -> None:
    case = oyam_case(staffed, reported_at="2025-03-01T08:00:00+00:00")
    add_call(staffed, 7, "2025-03-02T09:00:00+00:00", "2002", "2003")
    add_call(staffed, 8, "2025-03-02T09:00:00+00:00", "2012", "2014")  # Jinja's
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        assert (await b.post(f"/admin/cases/{case.id}/link", {"contact": "7"}, csrf=None))[0] == 403
        status, _ = await b.post(f"/admin/cases/{case.id}/link", {"contact": "8"})
        assert status == 303
        status, page = await b.get(f"/admin/cases/{case.id}")
        assert "Not linked: no contact 8" in page
        status, _ = await b.post(f"/admin/cases/{case.id}/link", {"contact": "7"})
        status, page = await b.get(f"/admin/cases/{case.id}")
        assert "Contact 7 linked." in page and "call #7" in page
    linked = staffed.execute("SELECT id, case_id, link FROM contacts ORDER BY id").fetchall()
    assert linked == [(7, case.id, "manual"), (8, None, "")]
    actor = staffed.execute(
        "SELECT actor, after FROM audit WHERE action = 'contact.link'"
    ).fetchone()
    assert actor[0] == "admin:oyam" and json.loads(actor[1])["remote_addr"] == "127.0.0.1"


async def test_a_district_admin_assigns_follows_up_closes_and_reopens(
    staffed: sqlite_utils.Database,
) -> None:
    case = oyam_case(staffed)
    jinja = open_case(staffed, "tester", district="Jinja", category="neglect")
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        path = f"/admin/cases/{case.id}"
        assert (await b.post(f"{path}/assign", {"member": "2012"}))[0] == 303  # Jinja's
        assert "no member &#39;2012&#39; in your districts" in (await b.get(path))[1]
        assert (await b.post(f"{path}/assign", {"member": "0772100003"}))[0] == 303
        assert "Assigned to Auma Christine." in (await b.get(path))[1]
        await b.post(f"{path}/follow-up", {"follow_up_due": "2030-01-15"})
        await b.post(f"{path}/close", {"reason": ""})
        assert "Not changed:" in (await b.get(path))[1]
        await b.post(f"{path}/close", {"reason": "child safe with her aunt"})
        status, page = await b.get(path)
        assert "Case closed." in page and "Reopen" in page
        await b.post(f"{path}/reopen", {})
        assert (await b.post(f"/admin/cases/{jinja.id}/close", {"reason": "x"}))[0] == 404
        await b.logout()
        await b.login("grace")
        assert (await b.post(f"{path}/assign", {"member": "2002"}))[0] == 403
    after = find_case(staffed, case.id)
    assert after is not None and after.status == "open"
    assert after.follow_up_due and after.follow_up_due.startswith("2030-01-15")
    assert Directory(staffed).member(after.assigned_member_id).extension == "2003"  # type: ignore[arg-type,union-attr]
    actions = [
        r[0]
        for r in staffed.execute(
            "SELECT action FROM audit WHERE actor = 'admin:oyam' AND action LIKE 'case.%' "
            "AND action != 'case.view' AND json_extract(after, '$.remote_addr') = '127.0.0.1'"
        )
    ]
    assert actions == ["case.assign", "case.follow_up", "case.close", "case.reopen"]
    assert find_case(staffed, jinja.id).status == "open"  # type: ignore[union-attr]
