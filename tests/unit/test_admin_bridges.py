"""Standing conference bridges on the admin site: who sees which, adding one with the CLI's
checks (every reason, nothing changed), setting and clearing a PIN (never shown), the 403s of
another district's bridge and of a supervisor's change, and the audit of every change."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import sqlite_utils

from directory.bridges import BridgeStore
from directory.lookup import Directory
from routing.bridge_admin import BridgeValues, add_bridge
from routing.bridges import Bridge
from tests.unit.site_client import Browser, accounts, site


@pytest.fixture
def staffed(db: sqlite_utils.Database, directory: Directory) -> sqlite_utils.Database:
    accounts(db)
    return db


@pytest.fixture
def bridges(staffed: sqlite_utils.Database, directory: Directory) -> dict[str, Bridge]:
    """Oyam's (code 150, led by Grace), Jinja's (151), Oyam's own and Nakato's team's."""
    oyam, _ = add_bridge(staffed, BridgeValues("150", "Oyam", "Oyam meeting", "2001"), "test")
    jinja, _ = add_bridge(staffed, BridgeValues("151", "Jinja", "Jinja meeting"), "test")
    store = BridgeStore(staffed)
    nakato = directory.member_by_extension("2011")
    assert nakato is not None
    return {
        "oyam": oyam,
        "jinja": jinja,
        "oyam_own": store.district_bridge("Oyam"),
        "nakato_team": store.team_bridge(nakato),
    }


def row(page: str, label: str) -> str:
    """The table row of the page that holds `label` ("" when none does)."""
    for found in re.findall(r"<tr>.*?</tr>", page, re.S):
        if label in found:
            return found
    return ""


def counts(db: sqlite_utils.Database) -> tuple[int, int, int]:
    """Bridges, short codes, and audit rows but logins'."""
    return tuple(  # type: ignore[return-value]
        db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("bridges", "short_codes", "audit WHERE action NOT LIKE 'admin.%'")
    )


def audit_of(db: sqlite_utils.Database, action: str) -> list[tuple[str, str | None, str]]:
    return db.execute(
        "SELECT actor, before, after FROM audit WHERE action = ? ORDER BY id", (action,)
    ).fetchall()


@asynccontextmanager
async def logged_in(db: sqlite_utils.Database, username: str) -> AsyncIterator[Browser]:
    """A browser on the site, logged in as `username` (see site_client.accounts)."""
    async with site(db) as client:
        b = Browser(client)
        await b.login(username)
        yield b


@asynccontextmanager
async def refused(db: sqlite_utils.Database, username: str) -> AsyncIterator[Browser]:
    """Logged in as `username`, for changes that are all refused: nothing changed after."""
    before = counts(db)
    async with logged_in(db, username) as b:
        yield b
    assert counts(db) == before


async def changes(b: Browser, bridge: int, district: str, csrf: str | None = "auto") -> list[int]:
    """The answers to setting and clearing `bridge`'s PIN and adding a bridge in `district`."""
    pin = {"pin": "1234", "again": "1234"}
    add = {"code": "160", "district": district, "label": "Mine", "max_members": "5"}
    return [
        (await b.post(f"/admin/bridges/{bridge}/pin", pin, csrf))[0],
        (await b.post(f"/admin/bridges/{bridge}/pin/clear", {}, csrf))[0],
        (await b.post("/admin/bridges", add, csrf))[0],
    ]


async def test_each_role_sees_the_bridges_of_its_scope(
    staffed: sqlite_utils.Database, bridges: dict[str, Bridge]
) -> None:
    async with logged_in(staffed, "nat") as b:
        status, page = await b.get("/admin/bridges")
        assert status == 200 and 'href="/admin/bridges">Bridges</a>' in page
        for label in ("Oyam meeting", "Jinja meeting", "Oyam district bridge", "Nakato Ruth"):
            assert row(page, label), label
        oyam = row(page, "Oyam meeting")
        assert "Grace Akello (2001)" in oyam and "admin&#39;s" in oyam and "150" in oyam
        assert "<td>no</td>" in oyam and "up to 20" in oyam and "it ends" in oyam
        own = row(page, "Oyam district bridge")
        assert "district&#39;s own" in own and "any supervisor of the district" in own
        assert "110" in own
        team = row(page, "Nakato Ruth")
        assert "team&#39;s" in team and "111" in team and "Nakato Ruth (2011)" in team
        assert "Add a bridge" in page and "Jinja</option>" in page
        await b.logout()

        await b.login("oyam")
        status, page = await b.get("/admin/bridges")
        assert status == 200 and row(page, "Oyam meeting") and row(page, "Oyam district bridge")
        assert not row(page, "Jinja meeting") and not row(page, "Nakato Ruth")
        assert "Add a bridge" in page and "Jinja</option>" not in page
        assert f"/bridges/{bridges['oyam'].id}/pin" in page
        await b.logout()

        await b.login("grace")
        status, page = await b.get("/admin/bridges")
        assert status == 200 and 'href="/admin/bridges">Bridges</a>' in page
        assert row(page, "Oyam meeting") and row(page, "Oyam district bridge")
        assert not row(page, "Jinja meeting") and not row(page, "Nakato Ruth")
        assert "Add a bridge" not in page and "/pin" not in page


async def test_a_national_admin_adds_a_bridge_and_its_code(staffed: sqlite_utils.Database) -> None:
    form = {
        "code": "152",
        "district": "Oyam",
        "label": "Case meeting",
        "leader": "2001",
        "max_members": "7",
        "stays": "yes",
    }
    async with logged_in(staffed, "nat") as b:
        await b.get("/admin/bridges")
        status, _ = await b.post("/admin/bridges", form)
        assert status == 303 and b.response.headers["Location"] == "/admin/bridges/1"
        status, page = await b.get("/admin/bridges/1")
        assert status == 200 and "Bridge 1 (Case meeting) added: members dial 152." in page
        assert "it goes on" in row(page, "Case meeting") and "up to 7" in page
    found = BridgeStore(staffed).get(1)
    grace = Directory(staffed).member_by_extension("2001")
    assert found is not None and grace is not None
    assert (found.district, found.leader_member_id, found.max_members) == ("Oyam", grace.id, 7)
    assert not found.ends_with_leader and not found.has_pin and found.scope is None
    code = Directory(staffed).short_code("152")
    assert code is not None and (code.kind, code.bridge_id) == ("bridge", 1)
    ((actor, before, after),) = audit_of(staffed, "bridge.add")
    assert actor == "admin:nat" and before is None
    assert json.loads(after)["remote_addr"] == "127.0.0.1" and json.loads(after)["pin"] is False
    assert audit_of(staffed, "short_code.add")[-1][0] == "admin:nat"


async def test_a_refused_bridge_gives_every_reason_and_changes_nothing(
    staffed: sqlite_utils.Database, bridges: dict[str, Bridge]
) -> None:
    async with refused(staffed, "oyam") as b:
        await b.get("/admin/bridges")
        bad = {"code": "1a", "district": "Oyam", "label": " ", "leader": "2002"}
        status, page = await b.post("/admin/bridges", {**bad, "max_members": "99"})
        assert status == 422 and "Refused, nothing changed" in page
        for reason in (
            "the label is missing",
            "the member limit is 2 to 50",
            "the leader must be a supervisor: Okello Denis (2002) is psw",
            "short code &#39;1a&#39; must be digits only",
        ):
            assert reason in page, reason
        assert 'value="1a"' in page  # the form keeps what was typed
        # Another district's supervisor, an inactive member, a code in use.
        other = {"code": "150", "district": "Oyam", "label": "x", "leader": "2011"}
        status, page = await b.post("/admin/bridges", {**other, "max_members": "5"})
        assert status == 422
        # Another district's member is not named, nor said to exist.
        assert "no active supervisor of Oyam with extension &#39;2011&#39;" in page
        assert "Nakato" not in page and "Jinja" not in page.split("<form")[0]
        assert "short code 150 already exists" in page
        status, page = await b.post("/admin/bridges", {**other, "leader": "2009"})
        assert (
            status == 422 and "no active supervisor of Oyam with extension &#39;2009&#39;" in page
        )
        assert "the member limit is 2 to 50" in page  # no number given
        # A label too long for its short code refuses the bridge too (one transaction).
        long = {"code": "153", "district": "Oyam", "label": "L" * 61, "max_members": "5"}
        status, page = await b.post("/admin/bridges", long)
        assert status == 422 and "label is longer than 60 characters" in page


async def test_a_pin_is_set_and_cleared_but_never_shown(
    staffed: sqlite_utils.Database, bridges: dict[str, Bridge]
) -> None:
    bridge = bridges["oyam"].id
    async with logged_in(staffed, "oyam") as b:
        await b.get(f"/admin/bridges/{bridge}")
        path = f"/admin/bridges/{bridge}/pin"
        status, page = await b.post(path, {"pin": "12", "again": "13"})
        assert status == 422
        assert "a PIN is 4 to 8 digits" in page and "not typed the same both times" in page
        status, page = await b.post(path, {"pin": "4321", "again": "4322"})
        assert status == 422 and "not typed the same both times" in page
        assert "4321" not in page and "4322" not in page
        assert not BridgeStore(staffed).get(bridge).has_pin  # type: ignore[union-attr]
        assert (await b.post(path, {"pin": "4321", "again": "4321"}))[0] == 303
        status, page = await b.get(f"/admin/bridges/{bridge}")
        assert "PIN set" in page and "<td>yes</td>" in row(page, "Oyam meeting")
        assert "4321" not in page and "scrypt" not in page
        status, page = await b.get("/admin/bridges")
        assert "4321" not in page and "scrypt" not in page
        assert (await b.post(f"{path}/clear", {}))[0] == 303
        status, page = await b.get(f"/admin/bridges/{bridge}")
        assert "no PIN" in page and "<td>no</td>" in row(page, "Oyam meeting")
    assert not BridgeStore(staffed).get(bridge).has_pin  # type: ignore[union-attr]
    rows = audit_of(staffed, "bridge.pin")
    assert [(a, json.loads(x)["pin"], json.loads(y)["pin"]) for a, x, y in rows] == [
        ("admin:oyam", False, True),
        ("admin:oyam", True, False),
    ]
    assert all(json.loads(y)["remote_addr"] == "127.0.0.1" for _, _, y in rows)
    assert all("4321" not in (x + y) for _, x, y in rows)


async def test_another_districts_bridge_is_refused_by_url(
    staffed: sqlite_utils.Database, bridges: dict[str, Bridge]
) -> None:
    jinja = bridges["jinja"].id
    async with refused(staffed, "oyam") as b:
        assert (await b.get(f"/admin/bridges/{bridges['oyam'].id}"))[0] == 200
        status, page = await b.get(f"/admin/bridges/{jinja}")
        assert status == 403 and "Jinja meeting" not in page
        assert await changes(b, jinja, "Jinja") == [403, 403, 403]
        assert (await b.get("/admin/bridges/999"))[0] == 404
        assert (await b.get("/admin/bridges/x1"))[0] == 404


async def test_a_supervisor_only_reads(
    staffed: sqlite_utils.Database, bridges: dict[str, Bridge]
) -> None:
    oyam = bridges["oyam"].id
    async with refused(staffed, "grace") as b:
        status, page = await b.get(f"/admin/bridges/{oyam}")
        assert status == 200 and "Oyam meeting" in page and "/pin" not in page
        assert (await b.get(f"/admin/bridges/{bridges['jinja'].id}"))[0] == 403
        assert await changes(b, oyam, "Oyam") == [403, 403, 403]


async def test_a_change_without_the_csrf_token_is_refused(
    staffed: sqlite_utils.Database, bridges: dict[str, Bridge]
) -> None:
    oyam = bridges["oyam"].id
    async with refused(staffed, "nat") as b:
        await b.get("/admin/bridges")
        assert await changes(b, oyam, "Oyam", csrf=None) == [403, 403, 403]
        assert await changes(b, oyam, "Oyam", csrf="forged") == [403, 403, 403]
    assert not BridgeStore(staffed).get(oyam).has_pin  # type: ignore[union-attr]


async def test_a_label_is_shown_escaped(staffed: sqlite_utils.Database) -> None:
    label = "<script>alert(1)</script>"
    add_bridge(staffed, BridgeValues("150", "Oyam", label), "test")
    async with logged_in(staffed, "nat") as b:
        for path in ("/admin/bridges", "/admin/bridges/1"):
            status, page = await b.get(path)
            assert status == 200 and label not in page
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
