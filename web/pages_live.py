"""The live view: the AMI link, members' phones registered now, calls and conferences in
progress, from Asterisk (web/live_view.py), refreshed in place every few seconds (htmx). An
account sees the phones, calls and conference participants of the members it may see (a
conference with none of them is not shown; the others in it are only counted)."""

from __future__ import annotations

import sqlite_utils
from aiohttp import web

from agi.conference_log import Conference
from directory.admin_accounts import AdminAccount
from web.live_view import LiveView
from web.pages import render, require, site_db

routes = web.RouteTableDef()
LIVE_KEY = web.AppKey("live_view", LiveView)
REFRESH_SECONDS = 5


def visible_extensions(db: sqlite_utils.Database, account: AdminAccount) -> set[str] | None:
    """The extensions of the members `account` sees (None: every member)."""
    if account.team_scoped:
        ids = sorted(account.team)
        marks = ", ".join("?" * len(ids)) or "NULL"
        found = db.execute(f"SELECT extension FROM members WHERE id IN ({marks})", ids)
    elif account.scoped_districts is not None:
        names = list(account.scoped_districts)
        marks = ", ".join("?" * len(names)) or "NULL"
        found = db.execute(f"SELECT extension FROM members WHERE district IN ({marks})", names)
    else:
        return None
    return {row[0] for row in found}


def visible_conferences(
    db: sqlite_utils.Database, conferences: list[Conference], seen: set[str] | None
) -> list[dict[str, object]]:
    """Each conference with a participant the account sees: its name, those participants
    (extension, name, leader, waiting, muted, seconds) and how many others are in it."""
    ids = sorted({p.member_id for c in conferences for p in c.participants if p.member_id})
    marks = ", ".join("?" * len(ids)) or "NULL"
    members = {
        row[0]: (row[1], row[2])
        for row in db.execute(f"SELECT id, extension, name FROM members WHERE id IN ({marks})", ids)
    }
    out: list[dict[str, object]] = []
    for conference in conferences:
        shown = []
        for p in conference.participants:
            extension, name = members.get(p.member_id or 0, (p.caller_id, ""))
            if seen is None or extension in seen:
                shown.append({"extension": extension, "name": name, "person": p})
        if shown:
            others = len(conference.participants) - len(shown)
            out.append({"name": conference.name, "people": shown, "others": others})
    return out


async def _context(request: web.Request) -> dict[str, object]:
    account = require(request, "members.read")
    snapshot = await request.config_dict[LIVE_KEY].snapshot()
    seen = visible_extensions(site_db(request), account)
    phones = [p for p in snapshot.phones if seen is None or p.extension in seen]
    calls = [c for c in snapshot.calls if seen is None or c.extensions & seen]
    names = dict(site_db(request).execute("SELECT extension, name FROM members").fetchall())
    return {
        "snapshot": snapshot,
        "phones": phones,
        "calls": calls,
        "conferences": visible_conferences(site_db(request), snapshot.conferences, seen),
        "names": names,
        "refresh": REFRESH_SECONDS,
    }


@routes.get("/live")
async def live_page(request: web.Request) -> web.Response:
    return await render(request, "live.html", await _context(request))


@routes.get("/live/panel")
async def live_panel(request: web.Request) -> web.Response:
    return await render(request, "live_panel.html", await _context(request))
