"""The JSON API (/api/v1) as a program uses it: tokens, the case story, district scope, input."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
import sqlite_utils
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cug.serve import health_app
from directory.lookup import Directory
from web.app import mount_api
from web.auth import FailureLog, create_token, revoke_token, token_hash, verify_token

Body = Any


class Api:
    """A client of the API mounted beside /health, as the service mounts it."""

    def __init__(self, client: TestClient, db: sqlite_utils.Database) -> None:
        self.client = client
        self.db = db
        self.all_token = create_token(db, "nch-app", "tester")[0]
        self.jinja_token = create_token(db, "jinja-app", "tester", "jinja")[0]

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        who: str | None = "all",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Body]:
        sent = dict(headers or {})
        secret = {"all": self.all_token, "jinja": self.jinja_token}.get(who or "", who)
        if secret:
            sent["Authorization"] = f"Bearer {secret}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        async with self.client.request(method, path, data=data, headers=sent) as response:
            text = await response.text()
            self.last = response
            return response.status, json.loads(text) if text else None

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Body:
        status, answer = await self.call(method, path, body, **kw)
        assert status in (200, 201), (status, answer)
        return answer

    def audit(self, actor: str) -> list[dict[str, Any]]:
        found = self.db.execute(
            "SELECT action, subject, after FROM audit WHERE actor = ? ORDER BY id", (actor,)
        ).fetchall()
        return [
            {"action": a, "subject": s, "after": json.loads(after) if after else None}
            for a, s, after in found
        ]

    def add_contact(self, contact_id: int, placed_at: str, caller: str, callee: str) -> None:
        d = Directory(self.db)
        ids = [d.member_by_extension(x).id for x in (caller, callee)]  # type: ignore[union-attr]
        self.db.table("contacts").insert(
            {
                "id": contact_id,
                "kind": "call",
                "source_key": f"k{contact_id}",
                "caller_member_id": ids[0],
                "callee_member_id": ids[1],
                "placed_at": placed_at,
                "answered_at": placed_at,
                "outcome": "answered",
                "recorded_at": placed_at,
            }
        )


@pytest.fixture
async def api(db: sqlite_utils.Database, directory: Directory) -> AsyncIterator[Api]:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/health", health)
    mount_api(app, db)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, db)


async def open_case(api: Api, who: str = "all", **fields: Any) -> dict[str, Any]:
    """Open a case (in Oyam; a district token's in its own district, left to the API)."""
    body = {"category": "neglect", **fields}
    if who == "all":
        body.setdefault("district", "Oyam")
    return (await api.ok("POST", "/api/v1/cases", body, who=who))["case"]


# ------------------------------------------------------------------------- authentication


async def test_the_service_mounts_the_api_beside_an_open_health(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    stub: Any = SimpleNamespace(up=True, served=0, written=0)
    app = health_app(stub, stub, None, stub)
    mount_api(app, db)
    token = create_token(db, "svc", "tester")[0]
    async with TestClient(TestServer(app)) as client:
        async with client.get("/health") as response:
            assert (response.status, (await response.json())["status"]) == (200, "ok")
        async with client.get("/api/v1/cases") as response:
            assert response.status == 401
        headers = {"Authorization": f"Bearer {token}"}
        async with client.get("/api/v1/cases", headers=headers) as response:
            assert (response.status, (await response.json())["total"]) == (200, 0)


async def test_health_is_open_and_every_api_route_needs_a_token(api: Api) -> None:
    async with api.client.get("/health") as response:
        assert response.status == 200
    for method, path in [
        ("GET", "/api/v1/cases"),
        ("POST", "/api/v1/cases"),
        ("GET", "/api/v1/cases/1"),
        ("POST", "/api/v1/referrals/1/accept"),
        ("GET", "/api/v1/report"),
        ("GET", "/api/v1/no-such-route"),
        ("GET", "/api/"),
    ]:
        status, body = await api.call(method, path, who=None)
        assert status == 401, (method, path)
        assert body["error"] == "unauthorized"
        assert body["reasons"] == ["send an API token: Authorization: Bearer <token>"]
        assert api.last.headers["WWW-Authenticate"].startswith("Bearer")
        assert api.last.headers["Cache-Control"] == "no-store"
    # With a token, an unknown route is a plain (JSON) 404.
    status, body = await api.call("GET", "/api/v1/no-such-route")
    assert (status, body["error"]) == (404, "not found")


async def test_wrong_malformed_and_revoked_tokens_get_401(api: Api) -> None:
    case = await open_case(api)
    for header, invalid in [
        ("Bearer cug_not-a-real-token-at-all-000000000", True),
        ("Bearer " + api.all_token + "x", True),
        ("bearer " + api.all_token[:-1], True),
        ("Bearer a b", True),
        ("Basic " + api.all_token, False),
        ("Bearer", False),
        (api.all_token, False),
    ]:
        status, body = await api.call(
            "GET", f"/api/v1/cases/{case['id']}", who=None, headers={"Authorization": header}
        )
        assert status == 401, header
        assert "case" not in body
        challenge = api.last.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="cug"')
        assert ('error="invalid_token"' in challenge) is invalid, header
    assert (await api.call("GET", "/api/v1/cases"))[0] == 200
    revoke_token(api.db, "nch-app", "tester")
    status, body = await api.call("GET", "/api/v1/cases")
    assert status == 401
    assert body["reasons"] == ["the API token is not valid (unknown or revoked)"]
    status, _ = await api.call("POST", "/api/v1/cases", {"district": "Oyam", "category": "hiv"})
    assert status == 401
    assert api.db.execute("SELECT count(*) FROM cases").fetchone()[0] == 1


async def test_tokens_are_stored_only_as_hashes_and_stamped_when_used(api: Api) -> None:
    stored = dict(api.db.execute("SELECT name, token_hash FROM api_tokens").fetchall())
    assert stored["nch-app"] == token_hash(api.all_token) != api.all_token
    assert api.all_token.startswith("cug_") and len(api.all_token) >= 40
    before = api.db.execute("SELECT last_used_at FROM api_tokens WHERE name = 'nch-app'")
    assert before.fetchone()[0] is None
    await api.ok("GET", "/api/v1/cases")
    after = api.db.execute("SELECT last_used_at FROM api_tokens WHERE name = 'nch-app'")
    assert after.fetchone()[0] is not None
    assert verify_token(api.db, api.all_token) is not None
    assert verify_token(api.db, stored["nch-app"]) is None  # the hash is no token


async def test_repeated_failures_from_one_address_are_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="web.auth"):
        for _ in range(5):
            await api.call("GET", "/api/v1/cases", who="cug_guessing-guessing-guessing")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("failed 5 times" in w and "127.0.0.1" in w for w in warnings), warnings


def test_failure_log_forgets_old_failures() -> None:
    failures = FailureLog(threshold=3, window=60)
    assert [failures.failed("10.0.0.1", "x", now=t) for t in (0, 1, 2)] == [1, 2, 3]
    assert failures.failed("10.0.0.1", "x", now=100) == 1
    assert failures.failed("10.0.0.2", "x", now=100) == 1


# ------------------------------------------------------------------------------ the story


async def test_a_case_through_the_api_from_report_to_closing(api: Api) -> None:
    opened = await open_case(
        api,
        reference="NCH-2025-0042",
        urgency="urgent",
        assign="2002",
        reported_at="2025-03-03T11:00:00+03:00",
        follow_up_due="2025-03-10",
        summary="Boy, 9, left alone for days.\nNeighbour reported.",
    )
    number = opened["id"]
    assert api.last.status == 201
    assert api.last.headers["Location"] == f"/api/v1/cases/{number}"
    assert "summary" not in opened  # only GET /cases/{case} (audited) returns it
    assert (opened["reference"], opened["status"], opened["assigned"]["extension"]) == (
        "NCH-2025-0042",
        "open",
        "2002",
    )
    assigned = await api.ok("POST", f"/api/v1/cases/{number}/assign", {"member": "0772100003"})
    assert (assigned["changed"], assigned["case"]["assigned"]["extension"]) == (True, "2003")
    again = await api.ok("POST", "/api/v1/cases/nch-2025-0042/assign", {"member": "2003"})
    assert again["changed"] is False
    due = await api.ok("POST", f"/api/v1/cases/{number}/follow-up", {"follow_up_due": "2025-03-12"})
    assert due["case"]["follow_up_due"] == "2025-03-12T23:59:59+00:00"
    referral = (
        await api.ok(
            "POST",
            f"/api/v1/cases/{number}/refer",
            {
                "service": "health",
                "to": "2005",
                "consent": True,
                "consent_by": "the boy's grandmother",
                "at": "2025-03-04T09:00",
            },
        )
    )["referral"]
    assert (referral["status"], referral["to"]["name"]) == ("made", "Dr. Acen Sarah")
    rid = referral["id"]
    accepted = await api.ok("POST", f"/api/v1/referrals/{rid}/accept", {"at": "2025-03-04T12:00"})
    assert accepted["referral"]["status"] == "accepted"
    done = await api.ok("POST", f"/api/v1/referrals/{rid}/complete", {"at": "2025-03-06T09:00"})
    assert done["referral"]["status"] == "completed"
    api.add_contact(1, "2025-03-03T10:00:00+00:00", "2003", "2005")
    linked = await api.ok("POST", "/api/v1/contacts/1/link", {"case": number})
    assert (linked["changed"], linked["contact"]["link"]) == (True, "manual")
    closed = await api.ok(
        "POST", f"/api/v1/cases/{number}/close", {"reason": "Grandmother takes care of him"}
    )
    assert (closed["case"]["status"], closed["pending_referrals"]) == ("closed", [])

    shown = await api.ok("GET", f"/api/v1/cases/{number}")
    case = shown["case"]
    assert (case["status"], case["urgency"], case["close_reason"]) == (
        "closed",
        "urgent",
        "Grandmother takes care of him",
    )
    assert case["summary"] == "Boy, 9, left alone for days.\nNeighbour reported."
    assert case["created_by"] == "api:nch-app"
    [ref] = shown["referrals"]
    assert [(h["status"], h["at"], h["actor"]) for h in ref["history"]] == [
        ("made", "2025-03-04T09:00:00+00:00", "api:nch-app"),
        ("accepted", "2025-03-04T12:00:00+00:00", "api:nch-app"),
        ("completed", "2025-03-06T09:00:00+00:00", "api:nch-app"),
    ]
    assert [e["action"] for e in shown["events"]] == [
        "open",
        "reassign",
        "follow_up",
        "referral.made",
        "referral.accepted",
        "referral.completed",
        "contact.link",
        "close",
    ]
    assert {e["actor"] for e in shown["events"]} == {"api:nch-app"}
    assert [c["id"] for c in shown["contacts"]] == [1]
    assert shown["response"]["first_contact_seconds"] == 7200

    audited = api.audit("api:nch-app")
    assert [a["action"] for a in audited] == [
        "case.open",
        "case.assign",
        "case.follow_up",
        "referral.make",
        "referral.accept",
        "referral.complete",
        "contact.link",
        "case.close",
        "case.view",
    ]
    assert {a["after"]["remote_addr"] for a in audited} == {"127.0.0.1"}
    assert audited[-1]["subject"] == f"case:{number}"
    # The summary never reaches the audit (only its length).
    assert "left alone" not in json.dumps(audited)

    reopened = await api.ok("POST", f"/api/v1/cases/{number}/reopen")
    assert reopened["case"]["status"] == "referred"
    report = await api.ok("GET", "/api/v1/report?month=2025-03")
    [row] = report["report"]
    assert (row["district"], row["cases"], row["referrals_completed"]) == ("Oyam", 1, 1)
    figures = await api.ok("GET", f"/api/v1/report?case={number}")
    assert figures["case"]["first_contact_id"] == 1


async def test_viewing_a_case_is_recorded_each_time(api: Api) -> None:
    number = (await open_case(api))["id"]
    for _ in range(2):
        await api.ok("GET", f"/api/v1/cases/{number}")
    views = [a for a in api.audit("api:nch-app") if a["action"] == "case.view"]
    assert [(v["subject"], v["after"]) for v in views] == [
        (f"case:{number}", {"remote_addr": "127.0.0.1"})
    ] * 2
    # A failed look (unknown case) shows nothing and records no view.
    assert (await api.call("GET", "/api/v1/cases/99"))[0] == 404
    assert len([a for a in api.audit("api:nch-app") if a["action"] == "case.view"]) == 2


async def test_list_filters_and_pages(api: Api) -> None:
    for category in ("hiv", "neglect", "other"):
        await open_case(api, category=category, assign="2002")
    await open_case(api, who="jinja", category="hiv")
    await api.ok("POST", "/api/v1/cases/1/close", {"reason": "Family moved"})
    listed = await api.ok("GET", "/api/v1/cases?district=oyam&status=open")
    assert (listed["total"], [c["id"] for c in listed["cases"]]) == (2, [3, 2])
    assert all("summary" not in c for c in listed["cases"])
    page = await api.ok("GET", "/api/v1/cases?limit=1&offset=1")
    assert (page["total"], page["limit"], [c["id"] for c in page["cases"]]) == (4, 1, [3])
    capped = await api.ok("GET", "/api/v1/cases?limit=5000")
    assert capped["limit"] == 200
    mine = await api.ok("GET", "/api/v1/cases?assigned=0772100002")
    assert mine["total"] == 3
    for bad in (
        "limit=0",
        "limit=ten",
        "offset=-1",
        "status=lost",
        "colour=red",
        "limit=1&limit=2",
    ):
        status, body = await api.call("GET", f"/api/v1/cases?{bad}")
        assert status == 400, bad
        assert body["reasons"], bad
    status, body = await api.call("GET", "/api/v1/cases?assigned=2999")
    assert status == 422
    assert "no member" in body["reasons"][0]
    assert [a["action"] for a in api.audit("api:nch-app")].count("case.list") == 4


# ------------------------------------------------------------------------- district scope


async def test_a_district_token_sees_and_changes_only_its_district(api: Api) -> None:
    oyam = await open_case(api, reference="NCH-OYAM-1", assign="2002")
    oyam_ref = (
        await api.ok(
            "POST", f"/api/v1/cases/{oyam['id']}/refer", {"service": "police", "consent": False}
        )
    )["referral"]
    jinja = await open_case(api, who="jinja", category="hiv", assign="2012")
    assert jinja["district"] == "Jinja"  # a district token's cases open in its district

    unknown = await api.call("GET", "/api/v1/cases/999", who="jinja")
    for ident in (str(oyam["id"]), "NCH-OYAM-1", "nch-oyam-1"):
        hidden = await api.call("GET", f"/api/v1/cases/{ident}", who="jinja")
        assert hidden[0] == unknown[0] == 404
        assert hidden[1]["error"] == unknown[1]["error"]
        assert "Oyam" not in json.dumps(hidden[1])
    for path, body in [
        (f"/api/v1/cases/{oyam['id']}/assign", {"member": "2012"}),
        (f"/api/v1/cases/{oyam['id']}/follow-up", {"follow_up_due": None}),
        (f"/api/v1/cases/{oyam['id']}/refer", {"service": "health", "consent": False}),
        (f"/api/v1/cases/{oyam['id']}/close", {"reason": "not mine"}),
        (f"/api/v1/cases/{oyam['id']}/reopen", {}),
        (f"/api/v1/referrals/{oyam_ref['id']}/accept", {}),
        ("/api/v1/contacts/1/link", {"case": oyam["id"]}),
    ]:
        status, answer = await api.call("POST", path, body, who="jinja")
        assert status == 404, (path, answer)
    # Nothing changed on the Oyam case; the Jinja token left no trace on it.
    shown = await api.ok("GET", f"/api/v1/cases/{oyam['id']}")
    assert (shown["case"]["status"], shown["case"]["assigned"]["extension"]) == ("referred", "2002")
    assert shown["referrals"][0]["status"] == "made"
    assert {e["actor"] for e in shown["events"]} == {"api:nch-app"}

    listed = await api.ok("GET", "/api/v1/cases", who="jinja")
    assert [c["id"] for c in listed["cases"]] == [jinja["id"]]
    status, body = await api.call("GET", "/api/v1/cases?district=Oyam", who="jinja")
    assert (status, body["reasons"]) == (403, ["this token sees only district Jinja"])
    report = await api.ok("GET", "/api/v1/report", who="jinja")
    assert {r["district"] for r in report["report"]} == {"Jinja"}
    assert (await api.call("GET", "/api/v1/report?district=Oyam", who="jinja"))[0] == 403
    assert (await api.call("GET", f"/api/v1/report?case={oyam['id']}", who="jinja"))[0] == 404
    assert (
        await api.call(
            "POST", "/api/v1/cases", {"district": "Oyam", "category": "hiv"}, who="jinja"
        )
    )[0] == 403
    everything = await api.ok("GET", "/api/v1/report")
    assert {r["district"] for r in everything["report"]} == {"Jinja", "Oyam"}


async def test_a_district_token_links_only_its_districts_contacts(api: Api) -> None:
    oyam = await open_case(api, assign="2002")
    jinja = await open_case(api, who="jinja", category="hiv", assign="2012")
    await api.ok(
        "POST",
        f"/api/v1/cases/{jinja['id']}/refer",
        {"service": "police", "to": "2014", "consent": False},
    )
    await api.ok(
        "POST",
        f"/api/v1/cases/{oyam['id']}/refer",
        {"service": "health", "to": "2005", "consent": False},
    )
    api.add_contact(1, "2025-03-03T10:00:00+00:00", "2002", "2005")  # Oyam people
    api.add_contact(2, "2025-03-03T11:00:00+00:00", "2012", "2014")  # Jinja people
    api.add_contact(3, "2025-03-03T12:00:00+00:00", "2012", "2002")  # across the two
    suggested = await api.ok("GET", "/api/v1/link-suggestions", who="jinja")
    assert [(s["contact_id"], s["cases"]) for s in suggested["suggestions"]] == [(2, [jinja["id"]])]
    everything = await api.ok("GET", "/api/v1/link-suggestions")
    assert {s["contact_id"] for s in everything["suggestions"]} == {1, 2}
    assert (await api.call("POST", "/api/v1/contacts/1/link", {"case": jinja["id"]}, who="jinja"))[
        0
    ] == 404
    ok = await api.ok("POST", "/api/v1/contacts/3/link", {"case": jinja["id"]}, who="jinja")
    assert ok["contact"]["case_id"] == jinja["id"]
    await api.ok("POST", "/api/v1/contacts/1/link", {"case": oyam["id"]})
    # Moving a contact off an Oyam case is as unknown to the Jinja token as the case.
    moved = await api.call(
        "POST", "/api/v1/contacts/1/link", {"case": jinja["id"], "force": True}, who="jinja"
    )
    assert moved[0] == 404
    assert (await api.call("POST", "/api/v1/contacts/99999999999999999999/link", {"case": 1}))[
        0
    ] == 404


# ------------------------------------------------------------------------------ bad input


async def test_bodies_that_are_not_a_json_object_get_400(api: Api) -> None:
    cases: list[tuple[bytes, str]] = [
        (b'{"district": "Oyam", "category": ', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'["Oyam"]', "must be a JSON object, not an array"),
        (b'{"category": "hiv", "category": "neglect"}', "given twice"),
        (b'{"category": NaN}', "NaN"),
        (b"[" * 5000 + b"]" * 5000, ""),
        (json.dumps({"category": "x" * 70 * 1024}).encode(), "larger than 64 kB"),
    ]
    for raw, words in cases:
        status, body = await api.call("POST", "/api/v1/cases", raw=raw)
        assert status == 400, raw[:40]
        assert body["error"] == "bad request"
        assert words in body["reasons"][0], body
    assert api.db.execute("SELECT count(*) FROM cases").fetchone()[0] == 0


async def test_fields_are_checked_and_every_reason_listed(api: Api) -> None:
    status, body = await api.call(
        "POST",
        "/api/v1/cases",
        {"district": 7, "urgency": ["urgent"], "colour": "red", "summary": None},
    )
    assert status == 400
    assert body["reasons"] == [
        "unknown field 'colour' (known: assign, category, district, follow_up_due, "
        "reference, reported_at, summary, urgency)",
        "field 'district' must be a string, not a number",
        "field 'category' is missing",
        "field 'urgency' must be a string, not an array",
    ]
    number = (await open_case(api))["id"]
    status, body = await api.call(
        "POST", f"/api/v1/cases/{number}/refer", {"service": "health", "consent": "yes"}
    )
    assert (status, body["reasons"]) == (
        400,
        ["field 'consent' must be true or false, not a string"],
    )
    status, body = await api.call("POST", f"/api/v1/cases/{number}/assign", {"member": 2002})
    assert (status, body["reasons"]) == (400, ["field 'member' must be a string, not a number"])
    status, body = await api.call("POST", f"/api/v1/cases/{number}/reopen", {"why": "x"})
    assert status == 400
    status, body = await api.call("POST", f"/api/v1/cases/{number}/follow-up", {})
    assert (status, body["reasons"]) == (400, ["field 'follow_up_due' is missing"])
    due = "2099-01-01"
    set_due = await api.ok("POST", f"/api/v1/cases/{number}/follow-up", {"follow_up_due": due})
    assert set_due["case"]["follow_up_due"] == "2099-01-01T23:59:59+00:00"
    cleared = await api.ok("POST", f"/api/v1/cases/{number}/follow-up", {"follow_up_due": None})
    assert (cleared["case"]["follow_up_due"], cleared["changed"]) == (None, True)


async def test_refused_changes_get_422_with_every_reason(api: Api) -> None:
    status, body = await api.call(
        "POST",
        "/api/v1/cases",
        {"district": "Atlantis", "category": "magic", "reference": "NCH-1\nDROP", "assign": "2009"},
    )
    assert status == 422
    assert body["error"] == "refused"
    assert len(body["reasons"]) == 4
    assert any("reference contains control characters or line breaks" in r for r in body["reasons"])
    number = (await open_case(api))["id"]
    status, body = await api.call(
        "POST", f"/api/v1/cases/{number}/refer", {"service": "health", "consent": True}
    )
    assert status == 422
    assert body["reasons"] == [
        "consent_by is missing: say who gave consent (e.g. the child's aunt)"
    ]
    await api.ok("POST", f"/api/v1/cases/{number}/close", {"reason": "done"})
    status, body = await api.call("POST", f"/api/v1/cases/{number}/close", {"reason": "again"})
    assert status == 422 and "already closed" in body["reasons"][0]
    assert (await api.call("POST", "/api/v1/referrals/42/accept", {}))[0] == 404
    assert (await api.call("POST", "/api/v1/referrals/1/approve", {}))[0] == 404
    assert (await api.call("GET", "/api/v1/report?month=March"))[0] == 422
    assert (await api.call("DELETE", f"/api/v1/cases/{number}"))[0] == 405


async def test_odd_identifiers_in_the_path(api: Api) -> None:
    await open_case(api, reference="NCH-7")
    assert (await api.call("GET", "/api/v1/cases/NCH-7%0A"))[0] == 400
    assert (await api.call("GET", "/api/v1/cases/NCH-7%00"))[0] == 400
    for ident in ("99999999999999999999999", "%D9%A1", "1%20OR%201=1", "'%20OR%20''='"):
        assert (await api.call("GET", f"/api/v1/cases/{ident}"))[0] == 404, ident
    assert (await api.call("GET", "/api/v1/cases/nch-7"))[0] == 200


async def test_text_is_stored_exactly_as_sent(api: Api) -> None:
    summary = (
        "Robert'); DROP TABLE cases;-- \" % _ \\ \n"
        "Mtoto wa miaka 9 — alilala nje; naïve café ✓ 子供 😀"
    )
    reference = "DAC/Jinja'; --ñ"
    opened = await open_case(api, reference=reference, summary=summary)
    shown = await api.ok("GET", f"/api/v1/cases/{opened['id']}")
    assert (shown["case"]["summary"], shown["case"]["reference"]) == (summary, reference)
    stored = api.db.execute("SELECT summary, reference FROM cases").fetchone()
    assert stored == (summary, reference)
    assert api.db.execute("SELECT count(*) FROM cases").fetchone()[0] == 1
    closed = await api.ok(
        "POST", f"/api/v1/cases/{opened['id']}/close", {"reason": "Ссылка'; DELETE FROM audit;"}
    )
    assert closed["case"]["close_reason"] == "Ссылка'; DELETE FROM audit;"
    assert api.db.execute("SELECT count(*) FROM audit").fetchone()[0] > 0
