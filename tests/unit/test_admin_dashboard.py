"""The dashboard: the same figures as `cug report` on the same data, as SVG charts with the
numbers beside them and as CSV; district admins see their districts; reading is audited."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import sqlite_utils

from directory.admin_accounts import get_account
from directory.cases import open_case
from directory.lookup import Directory
from directory.referrals import make_referral, move_referral
from directory.report import DistrictMonth, district_month_report
from directory.schema import open_db
from directory.text_figures import TextFigures, texts_by_district_month
from tests.unit.cli_runner import with_members
from tests.unit.site_client import Browser, accounts, site
from tests.unit.test_admin_cases import add_call
from web import pages_dashboard
from web.pages_dashboard import FigureCache, page_of


def some_cases(db: sqlite_utils.Database) -> None:
    """Cases in Oyam and Jinja over two months, with first contacts and referrals."""
    for n, (district, worker, month, minutes) in enumerate(
        [
            ("Oyam", "2002", "03", 30),
            ("Oyam", "2003", "03", 150),
            ("Oyam", "2002", "04", 600),
            ("Jinja", "2012", "03", 45),
        ],
        start=1,
    ):
        case = open_case(
            db,
            "tester",
            district=district,
            category="neglect",
            assign=worker,
            reported_at=f"2025-{month}-02T08:00:00+00:00",
        )
        callee = "2001" if district == "Oyam" else "2011"
        hour, minute = divmod(minutes, 60)
        add_call(
            db, n, f"2025-{month}-02T{8 + hour:02}:{minute:02}:00+00:00", worker, callee, case.id
        )
        referral = make_referral(
            db,
            case.id,
            "tester",
            service="health",
            consent=True,
            consent_by="aunt",
            at=f"2025-{month}-02T12:00:00+00:00",
        )
        if n % 2:
            move_referral(
                db, referral.id, "accepted", "tester", at=f"2025-{month}-03T12:00:00+00:00"
            )
            move_referral(
                db, referral.id, "completed", "tester", at=f"2025-{month}-04T12:00:00+00:00"
            )


async def test_the_dashboard_shows_the_figures_of_cug_report(tmp_path: Path) -> None:
    cug = with_members(tmp_path)
    db = open_db(tmp_path / "cug.db")
    some_cases(db)
    accounts(db)
    reported = json.loads(cug("report", "--json", "--as-of", "2025-06-01T00:00Z").output)
    async with site(db) as client:
        b = Browser(client)
        await b.login("nat")
        status, page = await b.get("/admin/dashboard")
        assert status == 200 and page.count("<svg") == 5
        assert "Oyam 2025-03" in page and "Jinja 2025-03" in page
        status, text = await b.get("/admin/dashboard.csv")
        assert status == 200 and b.response.content_type == "text/csv"
    shown = list(csv.DictReader(io.StringIO(text)))
    assert [(r["district"], r["month"]) for r in shown] == [
        (r["district"], r["month"]) for r in reported
    ]
    for row, figures in zip(shown, reported, strict=True):
        for column in (
            "cases",
            "response_median_s",
            "response_p90_s",
            "referrals_made",
            "referrals_completed",
            "escalated_calls",
            "sms_parts",
            "no_contact_yet",
        ):
            assert row[column] == ("" if figures[column] is None else str(figures[column])), column
    oyam_march = next(r for r in shown if (r["district"], r["month"]) == ("Oyam", "2025-03"))
    assert oyam_march["response_median_s"] == str(30 * 60)
    assert oyam_march["response_p90_s"] == str(150 * 60)
    assert oyam_march["referrals_completed"] == "1"
    db.close()


async def test_a_district_admin_sees_their_districts_figures(tmp_path: Path) -> None:
    with_members(tmp_path)
    db = open_db(tmp_path / "cug.db")
    some_cases(db)
    accounts(db)
    async with site(db) as client:
        b = Browser(client)
        await b.login("oyam")
        status, page = await b.get("/admin/dashboard")
        assert "Oyam 2025-04" in page and "Jinja" not in page.split("<h1>")[1]
        assert (await b.get("/admin/dashboard?district=Jinja"))[0] == 403
        assert (await b.get("/admin/dashboard.csv?district=Jinja"))[0] == 403
        assert (await b.get("/admin/dashboard?month=2025-13"))[0] == 400
    views = db.execute(
        "SELECT actor, after FROM audit WHERE action = 'report.view' ORDER BY id"
    ).fetchall()
    assert views[0][0] == "admin:oyam" and json.loads(views[0][1])["remote_addr"] == "127.0.0.1"
    db.close()


async def test_a_supervisor_sees_their_teams_figures_only(tmp_path: Path) -> None:
    with_members(tmp_path)
    db = open_db(tmp_path / "cug.db")
    some_cases(db)
    accounts(db)
    # Grace (2001) supervises 2002 and 2003; Opio (2004) is Oyam's police, not her team.
    other = open_case(
        db,
        "tester",
        district="Oyam",
        category="neglect",
        assign="2004",
        reported_at="2025-03-09T08:00:00+00:00",
    )
    add_call(db, 10, "2025-03-09T09:00:00+00:00", "2004", "2005", other.id)
    add_call(db, 11, "2025-03-10T09:00:00+00:00", "2004", "2005")
    grace = get_account(db, "grace")
    assert grace is not None
    async with site(db) as client:
        b = Browser(client)
        await b.login("oyam")
        district_view = await csv_rows(b)
        await b.logout()
        await b.login("grace")
        status, page = await b.get("/admin/dashboard")
        assert status == 200 and "Oyam 2025-03" in page and "Jinja" not in page
        team_view = await csv_rows(b)
        status, api = await b.get("/api/v1/report")
        assert status == 200
        # Read-only: no change is offered, and none is taken.
        assert 'method="post"' not in page.split("<main")[1]
        assert (await b.post("/admin/members/2002/deactivate", {}))[0] == 403
    assert district_view["Oyam", "2025-03"]["cases"] == "3"
    assert district_view["Oyam", "2025-03"]["contacts"] == "4"
    assert [key for key in team_view] == [("Oyam", "2025-03"), ("Oyam", "2025-04")]
    assert team_view["Oyam", "2025-03"]["cases"] == "2"
    assert team_view["Oyam", "2025-03"]["contacts"] == "2"
    assert team_view["Oyam", "2025-03"]["response_median_s"] == str(30 * 60)
    # The same figures as the report narrowed to her team, by the page and by the API.
    reported = district_month_report(db, team=grace.team)
    assert [(r.district, r.month, str(r.cases), str(r.contacts)) for r in reported] == [
        (*key, row["cases"], row["contacts"]) for key, row in team_view.items()
    ]
    assert [r["cases"] for r in json.loads(api)["report"]] == [r.cases for r in reported]
    db.close()


async def csv_rows(b: Browser) -> dict[tuple[str, str], dict[str, str]]:
    status, text = await b.get("/admin/dashboard.csv")
    assert status == 200
    return {(r["district"], r["month"]): r for r in csv.DictReader(io.StringIO(text))}


async def test_figures_are_kept_a_minute(
    db: sqlite_utils.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = FigureCache()
    first = await cache.rows(db, "", "")
    assert await cache.rows(db, "", "") is first
    monkeypatch.setattr(pages_dashboard, "CACHE_SECONDS", 0.0)
    assert await cache.rows(db, "", "") is not first


def test_texts_are_counted_by_the_senders_district_and_month(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    okello = directory.member_by_extension("2002")
    auma = directory.member_by_extension("2003")
    assert okello and auma
    texts = db.table("texts")
    texts.insert_all(
        [
            {
                "id": 1,
                "kind": "text",
                "sender_member_id": okello.id,
                "addressed": "104",
                "created_at": "2025-03-05T10:00:00+00:00",
            },
            {
                "id": 2,
                "kind": "notice",
                "sender_member_id": None,
                "addressed": "2002",
                "created_at": "2025-03-05T10:01:00+00:00",
            },
        ]
    )
    deliveries = [("delivered", "sms"), ("expired", None), ("delivered", "sip")]
    db.table("text_deliveries").insert_all(
        [
            {
                "text_id": 1 if n < 2 else 2,
                "recipient_member_id": auma.id,
                "status": status,
                "via": via,
                "expires_at": "2025-03-08T10:00:00+00:00",
            }
            for n, (status, via) in enumerate(deliveries)
        ]
    )
    assert texts_by_district_month(db) == {
        ("Oyam", "2025-03"): TextFigures(
            texts=1, deliveries=2, delivered=1, delivered_by_sms=1, expired=1
        )
    }


def test_a_dashboard_page_shows_eight_districts_and_the_last_twelve_months() -> None:
    table = [
        DistrictMonth(district=f"D{d:02}", month=f"{2024 + m // 12}-{m % 12 + 1:02}")
        for d in range(20)
        for m in range(18)
    ]
    rows, pages = page_of(table, 1, all_months=False)
    assert pages == 3 and len(rows) == 8 * 12
    assert {r.district for r in rows} == {f"D{d:02}" for d in range(8)}
    assert min(r.month for r in rows) == "2024-07"
    rows, _ = page_of(table, 3, all_months=True)
    assert len(rows) == 4 * 18
