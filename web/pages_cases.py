"""Case pages: the list (status, district, pages) and one case with its timeline; a contact
can be linked to the case from there. Scope as everywhere: district admins their districts'
cases, supervisors the cases assigned to their team; any other case is refused (403). Opening
a case is recorded in the audit (`case.view`, with the address): child-protection data. With
`cases.write`, a case is assigned (to a member the account sees), given a follow-up date,
closed and reopened from its page, through the functions `cug case` uses."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NoReturn

from aiohttp import web

from directory.case_model import CASE_STATUSES, Case
from directory.case_timeline import case_timeline
from directory.case_values import CaseError
from directory.case_view import case_details, list_cases, member_label
from directory.cases import assign_case, close_case, find_case, reopen_case, set_follow_up
from directory.lookup import Directory
from web.context import audited_change, record_read
from web.errors import ApiError
from web.links import link_visible_contact, visible_suggestions
from web.pages import flash, page_account, render, require, see_other, site_db
from web.readers import readers

routes = web.RouteTableDef()
PAGE = 50
MAX_FIELD = 4000

log = logging.getLogger(__name__)


def _visible_case(request: web.Request, raw: str) -> Case:
    account = page_account(request)
    found = None
    if raw.isdigit() and raw.isascii() and len(raw) <= 18:
        found = find_case(site_db(request), int(raw))
    elif 0 < len(raw) <= 64:
        found = find_case(site_db(request), raw)
    if found is not None and not account.sees_case(found.district, found.assigned_member_id):
        # Answered as a case that does not exist (as the API does): another district's case
        # numbers and references cannot be probed. The refusal is still logged.
        log.warning(
            "admin %s asked for case %s outside their scope, from %s",
            account.username,
            found.id,
            request.remote,
        )
        found = None
    if found is None:
        raise web.HTTPNotFound(reason=f"no case {raw[:40]!r} among yours")
    return found


@routes.get("/cases")
async def list_page(request: web.Request) -> web.Response:
    account = require(request, "cases.read")
    status = request.query.get("status", "")
    status = status if status in CASE_STATUSES else ""
    district = request.query.get("district", "")[:80]
    page_text = request.query.get("page", "1")
    page = int(page_text) if page_text.isdigit() and len(page_text) < 7 else 1
    if district and not account.team_scoped and not account.sees(district):
        raise web.HTTPForbidden(reason=f"district {district!r} is not one of yours")
    db = site_db(request)
    every = await readers(request).read(
        lambda reading: list_cases(reading, district or None, status or None)
    )
    found = [c for c in every if account.sees_case(c.district, c.assigned_member_id)]
    pages = max(1, (len(found) + PAGE - 1) // PAGE)
    shown = found[(page - 1) * PAGE : page * PAGE]
    record_read(request, "case.list", "cases", {"cases": [c.id for c in shown]})
    context = {
        "cases": [(c, member_label(db, c.assigned_member_id)) for c in shown],
        "total": len(found),
        "page": page,
        "pages": pages,
        "statuses": CASE_STATUSES,
        "status": status,
        "district": district,
        "query": {k: v for k, v in (("status", status), ("district", district)) if v},
    }
    return await render(request, "cases.html", context)


@routes.get("/cases/{case}")
async def case_page(request: web.Request) -> web.Response:
    account = require(request, "cases.read")
    case = _visible_case(request, request.match_info["case"])
    record_read(request, "case.view", f"case:{case.id}")
    details = case_details(site_db(request), case)
    suggestions = []
    if account.can("cases.write"):
        suggestions = [s for s in visible_suggestions(request, 200) if case.id in s["cases"]]
    context = {
        "case": case,
        "details": details,
        "timeline": case_timeline(site_db(request), details),
        "suggestions": suggestions[:20],
    }
    return await render(request, "case.html", context)


async def _change(request: web.Request, done: str, change: Callable[[Case], object]) -> NoReturn:
    """Run `change(case)` as the account, audited with the address; the outcome (or every
    reason it was refused) is shown on the case's page."""
    require(request, "cases.write")
    case = _visible_case(request, request.match_info["case"])
    try:
        with audited_change(request):
            change(case)
    except CaseError as exc:
        await flash(request, "Not changed: " + "; ".join(exc.reasons))
    else:
        await flash(request, done)
    raise see_other(f"/cases/{case.id}")


async def _field(request: web.Request, name: str) -> str:
    return str((await request.post()).get(name, ""))[:MAX_FIELD]


@routes.post("/cases/{case}/assign")
async def assign(request: web.Request) -> web.Response:
    account = require(request, "cases.write")
    ident = (await _field(request, "member")).strip()
    member = Directory(site_db(request)).find(ident) if ident else None
    if member is None or not account.sees_member(member.id, member.district):
        await flash(request, f"Not changed: no member {ident[:40]!r} in your districts")
        raise see_other(f"/cases/{request.match_info['case'][:64]}")
    await _change(
        request,
        f"Assigned to {member.name}.",
        lambda case: assign_case(site_db(request), case.id, member.extension, account.actor),
    )


@routes.post("/cases/{case}/follow-up")
async def follow_up(request: web.Request) -> web.Response:
    due = (await _field(request, "follow_up_due")).strip() or None
    actor = page_account(request).actor
    await _change(
        request,
        f"Follow-up {'set to ' + due if due else 'cleared'}.",
        lambda case: set_follow_up(site_db(request), case.id, due, actor),
    )


@routes.post("/cases/{case}/close")
async def close(request: web.Request) -> web.Response:
    reason = await _field(request, "reason")
    actor = page_account(request).actor
    await _change(
        request, "Case closed.", lambda case: close_case(site_db(request), case.id, reason, actor)
    )


@routes.post("/cases/{case}/reopen")
async def reopen(request: web.Request) -> web.Response:
    actor = page_account(request).actor
    await _change(
        request, "Case reopened.", lambda case: reopen_case(site_db(request), case.id, actor)
    )


@routes.post("/cases/{case}/link")
async def link(request: web.Request) -> web.Response:
    require(request, "cases.write")
    case = _visible_case(request, request.match_info["case"])
    raw = str((await request.post()).get("contact", "")).strip()
    if not raw.isdigit() or not raw.isascii():
        await flash(request, "Give the contact's number (digits) to link it.")
        raise see_other(f"/cases/{case.id}")
    try:
        _, changed = link_visible_contact(request, raw, case, force=False)
    except (ApiError, CaseError) as exc:
        await flash(request, "Not linked: " + "; ".join(exc.reasons))
        raise see_other(f"/cases/{case.id}") from None
    await flash(request, f"Contact {raw} linked." if changed else f"Contact {raw} was linked.")
    raise see_other(f"/cases/{case.id}")
