"""The audit trail on the admin site, for national admins: every change and every reading of
case data, newest first, filtered by who and what (read-only: the site never edits it)."""

from __future__ import annotations

from aiohttp import web

from directory.case_model import rows
from web.pages import render, require, site_db

routes = web.RouteTableDef()
PAGE = 100


@routes.get("/audit")
async def audit_page(request: web.Request) -> web.Response:
    require(request, "audit.read")
    asked = {k: request.query.get(k, "")[:80].strip() for k in ("actor", "action", "subject")}
    page_text = request.query.get("page", "1")
    page = int(page_text) if page_text.isdigit() and len(page_text) < 7 else 1
    where, params = [], []
    for column, value in asked.items():
        if value:
            where.append(f"{column} LIKE ? ESCAPE '\\'")
            escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(escaped + "%")
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    db = site_db(request)
    total = db.execute(f"SELECT count(*) FROM audit{clause}", params).fetchone()[0]
    found = rows(
        db.execute(
            f"SELECT id, at, actor, action, subject, before, after FROM audit{clause} "
            "ORDER BY id DESC LIMIT ? OFFSET ?",
            [*params, PAGE, (page - 1) * PAGE],
        )
    )
    context = {
        "entries": found,
        "total": total,
        "page": page,
        "pages": max(1, (total + PAGE - 1) // PAGE),
        "query": {k: v for k, v in asked.items() if v},
        "asked": asked,
    }
    return await render(request, "audit.html", context)
