"""Short codes and escalation chains on the admin site: the CLI's checks (every reason,
nothing changed), national admins change codes, district admins their districts' chains."""

from __future__ import annotations

import json

import pytest
import sqlite_utils

from directory.chains import ChainStore
from directory.lookup import Directory
from tests.unit.site_client import Browser, accounts, site


@pytest.fixture
def staffed(db: sqlite_utils.Database, directory: Directory) -> sqlite_utils.Database:
    accounts(db)
    return db


def code_row(db: sqlite_utils.Database, code: str) -> tuple | None:
    return db.execute(
        "SELECT kind, role, number, label FROM short_codes WHERE code = ?", (code,)
    ).fetchone()


async def test_national_admin_adds_edits_and_removes_a_short_code(
    staffed: sqlite_utils.Database,
) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("nat")
        status, page = await b.get("/admin/short-codes")
        assert status == 200 and "National Child Helpline" in page
        new = {"code": "105", "kind": "role", "role": "psw", "number": "", "label": "PSWs"}
        assert (await b.post("/admin/short-codes", new))[0] == 303
        assert code_row(staffed, "105") == ("role", "psw", None, "PSWs")
        bad = {"code": "1a", "kind": "wizard", "role": "", "number": "", "label": ""}
        status, page = await b.post("/admin/short-codes", bad)
        assert status == 422 and page.count("<li>") >= 3
        edit = {"kind": "outside", "role": "psw", "number": "0800 100 116", "label": "Line"}
        assert (await b.post("/admin/short-codes/105", edit))[0] == 303
        assert code_row(staffed, "105") == ("outside", None, "+256800100116", "Line")
        # The default chain rings 116: it cannot go while no other code has that number.
        status, page = await b.post("/admin/short-codes/116/remove", {})
        assert status == 422 and "116" in page
        assert (await b.post("/admin/short-codes/105/remove", {}))[0] == 303
        assert code_row(staffed, "105") is None
    actions = staffed.execute(
        "SELECT action, after FROM audit WHERE actor = 'admin:nat' AND action LIKE 'short_code.%'"
    ).fetchall()
    assert [a for a, _ in actions] == ["short_code.add", "short_code.edit", "short_code.remove"]
    assert json.loads(actions[0][1])["remote_addr"] == "127.0.0.1"


async def test_district_admins_and_supervisors_only_read_short_codes(
    staffed: sqlite_utils.Database,
) -> None:
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        status, page = await b.get("/admin/short-codes")
        assert status == 200 and "Add a short code" not in page
        new = {"code": "105", "kind": "supervisor", "label": "Mine"}
        assert (await b.post("/admin/short-codes", new))[0] == 403
        assert (await b.post("/admin/short-codes/100/remove", {}))[0] == 403
        await b.logout()
        await b.login("grace")
        assert (await b.get("/admin/short-codes"))[0] == 403
        assert (await b.get("/admin/chains"))[0] == 403
    assert code_row(staffed, "105") is None and code_row(staffed, "100") is not None


async def test_a_district_admin_sets_their_districts_chains_with_the_same_checks(
    staffed: sqlite_utils.Database,
) -> None:
    chains = ChainStore(staffed)
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        good = {"district": "Oyam", "role": "", "rules": "callee:20, role=police:20"}
        assert (await b.post("/admin/chains", good))[0] == 303
        assert chains.get("Oyam", "", False).rules == "callee:20, role=police:20"  # type: ignore[union-attr]
        bad = {"district": "Oyam", "role": "psw", "rules": "member=2009:20, member=7777:20"}
        status, page = await b.post("/admin/chains", bad)
        assert status == 422 and "Lanyero Joy is not active" in page and "7777" in page
        status, page = await b.post("/admin/chains", {**bad, "rules": "callee:20, wizard:3"})
        assert status == 422 and "unknown kind &#39;wizard&#39;" in page
        assert (await b.post("/admin/chains", {**good, "rules": ""}))[0] == 422
        assert chains.get("Oyam", "psw", False) is None
        for district in ("Jinja", ""):
            assert (await b.post("/admin/chains", {**good, "district": district}))[0] == 403
        status, page = await b.get("/admin/chains")
        assert "district Oyam" in page and "every district" not in page
        urgent = {"district": "Oyam", "role": "", "urgent": "yes"}
        assert (await b.post("/admin/chains/clear", urgent))[0] == 303
        assert "No chain for district Oyam (urgent)" in (await b.get("/admin/chains"))[1]
        assert (await b.post("/admin/chains/clear", {"district": "Oyam", "role": ""}))[0] == 303
        assert chains.get("Oyam", "", False) is None
    actions = staffed.execute(
        "SELECT action FROM audit WHERE actor = 'admin:oyam' AND action LIKE 'chain.%'"
    ).fetchall()
    assert actions == [("chain.set",), ("chain.clear",)]


async def test_a_district_admins_chain_rings_only_their_members_and_the_cugs_numbers(
    staffed: sqlite_utils.Database,
) -> None:
    chains = ChainStore(staffed)
    ChainStore(staffed).save("Jinja", "", False, "callee:20, member=2012:20", "tester")
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("oyam")
        # 2012 is a Jinja member; 0772999999 no number of the CUG's short codes (116 is).
        bad = {"district": "Oyam", "role": "", "rules": "callee:20, member=2012:20"}
        status, page = await b.post("/admin/chains", bad)
        assert status == 422 and "2012 is not a member of your districts" in page
        status, page = await b.post(
            "/admin/chains", {**bad, "rules": "callee:20, outside=0772999999:30"}
        )
        assert status == 422 and "not one of the CUG" in page
        assert chains.get("Oyam", "", False) is None
        good = {**bad, "rules": "callee:20, outside=116:60"}
        assert (await b.post("/admin/chains", good))[0] == 303
        # Jinja's chain (naming a Jinja member) is not shown to Oyam's admin.
        status, page = await b.get("/admin/chains")
        assert "member=2012" not in page


async def test_a_bridge_codes_label_is_changed_and_it_stays_a_bridge(
    staffed: sqlite_utils.Database,
) -> None:
    from directory.bridges import BridgeStore
    from directory.members import reference_data
    from directory.short_codes import ShortCodeStore
    from routing.short_codes import ShortCodeValues, add_short_code

    bridge = BridgeStore(staffed).add("Oyam meeting", "Oyam", None, None, 10, True, "test")
    roles, _ = reference_data(staffed)
    values = ShortCodeValues("150", "bridge", label="Meeting", bridge=str(bridge.id))
    add_short_code(
        ShortCodeStore(staffed), Directory(staffed), roles, values, "test", frozenset({bridge.id})
    )
    async with site(staffed) as client:
        b = Browser(client)
        await b.login("nat")
        status, page = await b.get("/admin/short-codes")
        # The change form offers the code's own kind, selected: saving keeps it.
        assert status == 200 and "<option selected>bridge</option>" in page
        assert "<option>district_bridge</option>" in page  # kinds an admin may add
        edit = {"kind": "bridge", "role": "", "number": "", "label": "Oyam weekly meeting"}
        assert (await b.post("/admin/short-codes/150", edit))[0] == 303
    assert code_row(staffed, "150") == ("bridge", None, None, "Oyam weekly meeting")
    assert ShortCodeStore(staffed).get("150").bridge_id == bridge.id
