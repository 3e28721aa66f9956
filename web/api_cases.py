"""The case routes of the JSON API (mounted under /api): the operations of `cug case ...` and
`cug report`, made by the same directory functions, as the token's `api:<name>`.

    GET  /v1/cases                          ?district&status&assigned&limit&offset
    POST /v1/cases                          open a case
    GET  /v1/cases/{case}                   the case, referrals, history, contacts (case.view)
    POST /v1/cases/{case}/assign            {"member"}
    POST /v1/cases/{case}/follow-up         {"follow_up_due": date or null}
    POST /v1/cases/{case}/refer             {"service", "consent", "consent_by", "to", "at"}
    POST /v1/cases/{case}/close             {"reason"}
    POST /v1/cases/{case}/reopen            {}
    POST /v1/referrals/{id}/{step}          accept | decline | complete | fail  {"reason", "at"}
    POST /v1/contacts/{id}/link             {"case", "force"}
    GET  /v1/link-suggestions               ?limit
    GET  /v1/report                         ?district&month&case&as_of
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from directory.admin_accounts import AdminAccount
from directory.case_model import CASE_STATUSES
from directory.case_values import CaseError, parse_time
from directory.case_view import case_details, list_cases
from directory.cases import assign_case, close_case, open_case, reopen_case, set_follow_up
from directory.lookup import Directory
from directory.referrals import case_referrals, get_referral, make_referral, move_referral
from directory.report import case_response, district_month_report
from web.auth import request_token
from web.body import Field, int_param, json_fields, path_ident, query
from web.context import (
    actor,
    audited_change,
    case_brief,
    directory_db,
    record_read,
    referral_brief,
    scoped_district,
    visible_case,
)
from web.errors import ApiError, json_response
from web.links import link_visible_contact, visible_suggestions

routes = web.RouteTableDef()

PAGE = 50
MAX_PAGE = 200
STEPS = {"accept": "accepted", "decline": "declined", "complete": "completed", "fail": "failed"}

TEXT = Field((str,))
OPEN_FIELDS = {
    "district": TEXT,
    "category": Field((str,), required=True),
    "reference": TEXT,
    "urgency": TEXT,
    "assign": TEXT,
    "reported_at": TEXT,
    "follow_up_due": TEXT,
    "summary": TEXT,
}
REFER_FIELDS = {
    "service": Field((str,), required=True),
    "consent": Field((bool,), required=True),
    "consent_by": TEXT,
    "to": TEXT,
    "at": TEXT,
}


def _case_answer(request: web.Request, case_id: int, **extra: Any) -> web.Response:
    db = directory_db(request)
    return json_response({"case": case_brief(db, visible_case(request, case_id)), **extra})


@routes.get("/v1/cases")
async def list_route(request: web.Request) -> web.Response:
    q = query(request, {"district", "status", "assigned", "limit", "offset"})
    limit = int_param(q, "limit", PAGE, minimum=1, maximum=MAX_PAGE)
    offset = int_param(q, "offset", 0, minimum=0)
    district = scoped_district(request_token(request), q.get("district"))
    status = q.get("status")
    if status is not None and status not in CASE_STATUSES:
        raise ApiError(400, [f"status must be one of {', '.join(CASE_STATUSES)}"])
    db = directory_db(request)
    member_id = None
    if "assigned" in q:
        member = Directory(db).find(q["assigned"])
        if member is None:
            raise CaseError(
                [f"assigned: no member with extension or number {q['assigned'][:40]!r}"]
            )
        member_id = member.id
    found = list_cases(db, district, status, member_id)
    principal = request_token(request)
    if principal.team_scoped:
        found = [c for c in found if principal.sees_case(c.district, c.assigned_member_id)]
    page = found[offset : offset + limit]
    filters = {"district": district, "status": status, "assigned": q.get("assigned")}
    record_read(
        request,
        "case.list",
        "cases",
        {**filters, "limit": limit, "offset": offset, "cases": [c.id for c in page]},
    )
    return json_response(
        {
            "cases": [case_brief(db, c) for c in page],
            "total": len(found),
            "limit": limit,
            "offset": offset,
        }
    )


def member_in_scope(request: web.Request, ident: str | None) -> None:
    """A member a case is handed to (assigned, referred) must be one this token may see: a
    district admin cannot give their district's case to another district's member, who would
    then see it. Unknown and out-of-scope members get the same answer."""
    if not ident:
        return
    found = Directory(directory_db(request)).find(str(ident)[:40])
    if found is not None and request_token(request).sees_member(found.id, found.district):
        return
    raise ApiError(400, [f"no member {str(ident)[:40]!r} in your districts or team"])


@routes.post("/v1/cases")
async def open_route(request: web.Request) -> web.Response:
    values = await json_fields(request, OPEN_FIELDS)
    token = request_token(request)
    if token.scoped_districts is not None:
        values["district"] = scoped_district(token, values.get("district"))
    elif "district" not in values:
        raise ApiError(400, ["field 'district' is missing"])
    member_in_scope(request, values.get("assign"))
    with audited_change(request) as db:
        new = open_case(db, actor(request), **values)
    location = f"{request.app.router['case'].url_for(case=str(new.id))}"
    return json_response({"case": case_brief(db, new)}, status=201, headers={"Location": location})


@routes.get("/v1/cases/{case}", name="case")
async def show_route(request: web.Request) -> web.Response:
    query(request, set())
    found = visible_case(request, path_ident(request, "case"))
    db = directory_db(request)
    details = case_details(db, found)
    record_read(request, "case.view", f"case:{found.id}")
    return json_response(details)


@routes.post("/v1/cases/{case}/assign")
async def assign_route(request: web.Request) -> web.Response:
    found = visible_case(request, path_ident(request, "case"))
    values = await json_fields(request, {"member": Field((str,), required=True)})
    member_in_scope(request, values["member"])
    with audited_change(request) as db:
        after = assign_case(db, found.id, values["member"], actor(request))
    changed = after.assigned_member_id != found.assigned_member_id
    return _case_answer(request, after.id, changed=changed)


@routes.post("/v1/cases/{case}/follow-up")
async def follow_up_route(request: web.Request) -> web.Response:
    found = visible_case(request, path_ident(request, "case"))
    values = await json_fields(
        request, {"follow_up_due": Field((str,), required=True, nullable=True)}
    )
    with audited_change(request) as db:
        after = set_follow_up(db, found.id, values["follow_up_due"], actor(request))
    return _case_answer(request, after.id, changed=after.follow_up_due != found.follow_up_due)


@routes.post("/v1/cases/{case}/refer")
async def refer_route(request: web.Request) -> web.Response:
    found = visible_case(request, path_ident(request, "case"))
    values = await json_fields(request, REFER_FIELDS)
    member_in_scope(request, values.get("to"))
    with audited_change(request) as db:
        referral = make_referral(
            db,
            found.id,
            actor(request),
            service=values["service"],
            consent=values["consent"],
            consent_by=values.get("consent_by"),
            to_member=values.get("to"),
            at=values.get("at"),
        )
    return json_response({"referral": referral_brief(db, referral)}, status=201)


@routes.post("/v1/cases/{case}/close")
async def close_route(request: web.Request) -> web.Response:
    found = visible_case(request, path_ident(request, "case"))
    values = await json_fields(request, {"reason": Field((str,), required=True)})
    with audited_change(request) as db:
        closed = close_case(db, found.id, values["reason"], actor(request))
    pending = [
        {"id": r.id, "service": r.service, "status": r.status}
        for r in case_referrals(db, closed.id)
        if r.status in ("made", "accepted")
    ]
    return _case_answer(request, closed.id, pending_referrals=pending)


@routes.post("/v1/cases/{case}/reopen")
async def reopen_route(request: web.Request) -> web.Response:
    found = visible_case(request, path_ident(request, "case"))
    await json_fields(request, {})
    with audited_change(request) as db:
        reopened = reopen_case(db, found.id, actor(request))
    return _case_answer(request, reopened.id)


@routes.post("/v1/referrals/{referral:[0-9]+}/{step:accept|decline|complete|fail}")
async def referral_step_route(request: web.Request) -> web.Response:
    raw = request.match_info["referral"]
    db = directory_db(request)
    missing = ApiError(404, [f"no referral {raw[:20]}"])
    if len(raw) > 18:
        raise missing
    try:
        referral = get_referral(db, int(raw))
    except CaseError:
        raise missing from None
    try:
        visible_case(request, referral.case_id)
    except ApiError:
        raise missing from None
    values = await json_fields(request, {"reason": TEXT, "at": TEXT})
    status = STEPS[request.match_info["step"]]
    with audited_change(request) as db:
        moved = move_referral(
            db, referral.id, status, actor(request), values.get("reason"), values.get("at")
        )
    return json_response({"referral": referral_brief(db, moved)})


@routes.post("/v1/contacts/{contact:[0-9]+}/link")
async def link_route(request: web.Request) -> web.Response:
    values = await json_fields(
        request, {"case": Field((str, int), required=True), "force": Field((bool,))}
    )
    ident = values["case"]
    if isinstance(ident, str):
        ident = ident.strip()
        if not ident or len(ident) > 80:
            raise ApiError(400, ["field 'case' must be a case number or reference"])
    target = visible_case(request, ident)
    contact, changed = link_visible_contact(
        request, request.match_info["contact"], target, bool(values.get("force"))
    )
    return json_response({"contact": contact, "changed": changed})


@routes.get("/v1/link-suggestions")
async def suggestions_route(request: web.Request) -> web.Response:
    q = query(request, {"limit"})
    limit = int_param(q, "limit", PAGE, minimum=1, maximum=MAX_PAGE)
    found = visible_suggestions(request, limit)
    record_read(
        request, "link.suggestions", "contacts", {"contacts": [s["contact_id"] for s in found]}
    )
    return json_response({"suggestions": found})


@routes.get("/v1/report")
async def report_route(request: web.Request) -> web.Response:
    q = query(request, {"district", "month", "case", "as_of"})
    db = directory_db(request)
    if "case" in q:
        if set(q) - {"case"}:
            raise ApiError(
                400, ["'case' is given alone: one case's figures have no district or month"]
            )
        found = visible_case(request, q["case"])
        figures = case_response(db, found.id)
        record_read(request, "report.view", f"case:{found.id}")
        return json_response({"case": figures.to_dict()})
    errors: list[str] = []
    as_of = parse_time(q.get("as_of"), "as_of", errors)
    if errors:
        raise ApiError(400, errors)
    principal = request_token(request)
    district = scoped_district(principal, q.get("district"))
    team = principal.team if isinstance(principal, AdminAccount) and principal.team_scoped else None
    table = district_month_report(db, district, q.get("month"), as_of=as_of, team=team)
    record_read(request, "report.view", "report", {"district": district, "month": q.get("month")})
    return json_response({"report": [r.to_dict() for r in table]})
