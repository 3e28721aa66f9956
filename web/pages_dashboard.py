"""The dashboard: the figures of `cug report` per district and month (the same function,
directory/report.py, so the numbers are the same), as SVG bar charts with the numbers beside
them, and as CSV. District admins see their districts, supervisors their team's figures;
reading it is audited (report.view).
The figures are at most a minute old (FigureCache)."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Callable
from typing import Any

import sqlite_utils
from aiohttp import web

from directory.case_values import CaseError
from directory.csv_io import safe_cell
from directory.report import DistrictMonth, district_month_report
from directory.schema import open_db
from directory.text_figures import TextFigures, texts_by_district_month
from web.context import record_read
from web.pages import db_file, render, require, site_db
from web.svg_charts import Series, bar_chart

routes = web.RouteTableDef()
MEDIAN = Series("median", "#2a5a8a")
P90 = Series("90th percentile", "#9bbbd9")
DONE = Series("completed", "#2e7d32")
CALLS = Series("escalated", "#b26a00")
TAKEN = Series("taken", "#2e7d32")
NOBODY = Series("nobody took it", "#c62828")
SMS = Series("SMS parts", "#6a4c93")
TEXTS = Series("texts sent", "#00695c")
DELIVERED = Series("deliveries made", "#80cbc4")
CSV_COLUMNS = (
    "district",
    "month",
    "cases",
    "responded",
    "no_contact_yet",
    "unassigned",
    "response_median_s",
    "response_p90_s",
    "referrals_made",
    "referrals_accepted",
    "referrals_declined",
    "referrals_completed",
    "referrals_failed",
    "referral_completion_median_s",
    "follow_ups_overdue",
    "contacts",
    "contacts_linked",
    "escalated_calls",
    "escalations_taken_at_step",
    "escalation_wait_median_s",
    "escalation_wait_p90_s",
    "escalations_exhausted",
    "sms_parts",
    "callbacks",
)


DISTRICTS_A_PAGE = 8
MONTHS_SHOWN = 12
# Not in `cug report`: the dashboard's own (directory/text_figures.py).
TEXT_COLUMNS = ("texts_sent", "text_deliveries_made", "text_deliveries_by_sms", "texts_expired")


def hours(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class FigureCache:
    """The report's rows per (district, month) asked, kept CACHE_SECONDS: on a large contact
    log the report takes a second or more, and a dashboard is opened again and again."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str, frozenset[int] | None], tuple[float, Figures]] = {}

    async def rows(
        self,
        db: sqlite_utils.Database,
        district: str,
        month: str,
        team: frozenset[int] | None = None,
    ) -> Figures:
        now = time.monotonic()
        key = (district, month, team)
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < CACHE_SECONDS:
            return kept[1]
        path = db_file(db)
        if path:  # seconds on a large contact log: in a thread, beside the calls' loop
            table = await asyncio.to_thread(_report_at, path, district, month, team)
        else:
            table = _report(db, district, month, team)
        if len(self._kept) > 256:
            self._kept.clear()
        self._kept[key] = (now, table)
        return table


Figures = tuple[list[DistrictMonth], dict[tuple[str, str], TextFigures]]


def _report(
    db: sqlite_utils.Database, district: str, month: str, team: frozenset[int] | None
) -> Figures:
    return (
        district_month_report(db, district or None, month or None, team=team),
        texts_by_district_month(db, team),
    )


def _report_at(path: str, district: str, month: str, team: frozenset[int] | None) -> Figures:
    db = open_db(path)
    try:
        return _report(db, district, month, team)
    finally:
        db.close()


CACHE_SECONDS = 60.0
CACHE_KEY = web.AppKey("figure_cache", FigureCache)


async def _figures(
    request: web.Request,
) -> tuple[list[DistrictMonth], dict[tuple[str, str], TextFigures], dict[str, str]]:
    account = require(request, "reports.read")
    asked = {k: request.query.get(k, "")[:40].strip() for k in ("district", "month")}
    # A supervisor's figures are their team's, counted so in the directory (whatever the
    # districts); the others' are their districts'.
    team = account.team if account.team_scoped else None
    if asked["district"] and team is None and not account.sees(asked["district"]):
        raise web.HTTPForbidden(reason=f"district {asked['district']!r} is not one of yours")
    cache = request.config_dict.get(CACHE_KEY) or FigureCache()
    try:
        table, texts = await cache.rows(site_db(request), asked["district"], asked["month"], team)
    except CaseError as exc:
        raise web.HTTPBadRequest(reason="; ".join(exc.reasons)) from None
    if team is None:
        table = [r for r in table if account.sees(r.district)]
    record_read(request, "report.view", "report", {**asked, "rows": len(table)})
    return table, texts, asked


def _rows(
    table: list[DistrictMonth], values: Callable[[DistrictMonth], list[float | None]]
) -> list[tuple[str, list[float | None]]]:
    return [(f"{r.district} {r.month}", values(r)) for r in table]


def _share(done: int, made: int) -> float | None:
    return done / made if made else None


def _count(value: float) -> str:
    return f"{value:.0f}"


def _charts(table: list[DistrictMonth], texts: dict[tuple[str, str], TextFigures]) -> list[Any]:
    def sent(r: DistrictMonth) -> TextFigures:
        return texts.get((r.district, r.month), TextFigures())

    return [
        bar_chart(
            "Report to first contact",
            [MEDIAN, P90],
            _rows(table, lambda r: [r.response_median_s, r.response_p90_s]),
            hours,
        ),
        bar_chart(
            "Referrals completed (share of those made)",
            [DONE],
            _rows(table, lambda r: [_share(r.referrals_completed, r.referrals_made)]),
            lambda v: f"{v:.0%}",
            top=1.0,
        ),
        bar_chart(
            "Escalated calls",
            [CALLS, TAKEN, NOBODY],
            _rows(
                table,
                lambda r: [
                    r.escalated_calls,
                    sum(r.escalations_taken_at_step.values()),
                    r.escalations_exhausted,
                ],
            ),
            _count,
        ),
        bar_chart(
            "Texts between members (by the sender's district)",
            [TEXTS, DELIVERED],
            _rows(table, lambda r: [sent(r).texts, sent(r).delivered]),
            _count,
        ),
        bar_chart(
            "SMS parts to members' mobiles", [SMS], _rows(table, lambda r: [r.sms_parts]), _count
        ),
    ]


def page_of(
    table: list[DistrictMonth], page: int, all_months: bool
) -> tuple[list[DistrictMonth], int]:
    """The rows one page shows: DISTRICTS_A_PAGE districts, their last MONTHS_SHOWN months
    (all months when a month was asked), so a page stays small with every district of the
    country; the CSV has every row. Returns the rows and the number of pages."""
    months = sorted({r.month for r in table})
    shown_months = set(months if all_months else months[-MONTHS_SHOWN:])
    districts = sorted({r.district for r in table})
    pages = max(1, (len(districts) + DISTRICTS_A_PAGE - 1) // DISTRICTS_A_PAGE)
    on_page = set(districts[(page - 1) * DISTRICTS_A_PAGE : page * DISTRICTS_A_PAGE])
    rows = [r for r in table if r.district in on_page and r.month in shown_months]
    return rows, pages


@routes.get("/dashboard")
async def dashboard(request: web.Request) -> web.Response:
    table, texts, asked = await _figures(request)
    page_text = request.query.get("page", "1")
    page = int(page_text) if page_text.isdigit() and len(page_text) < 5 else 1
    rows, pages = page_of(table, max(page, 1), bool(asked["month"]))
    context = {
        "rows": rows,
        "texts": texts,
        "charts": _charts(rows, texts) if rows else [],
        "asked": asked,
        "hours": hours,
        "page": page,
        "pages": pages,
        "query": {k: v for k, v in asked.items() if v},
        "months_shown": MONTHS_SHOWN,
    }
    return await render(request, "dashboard.html", context)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return safe_cell(value)


@routes.get("/dashboard.csv")
async def dashboard_csv(request: web.Request) -> web.Response:
    table, texts, _ = await _figures(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS + TEXT_COLUMNS)
    for r in table:
        data = r.to_dict()
        shown = texts.get((r.district, r.month), TextFigures())
        writer.writerow(
            [_cell(data[c]) for c in CSV_COLUMNS]
            + [shown.texts, shown.delivered, shown.delivered_by_sms, shown.expired]
        )
    return web.Response(
        body=out.getvalue().encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="cug-figures.csv"'},
    )
