"""The member routes of the JSON API, scoped like the site: a member outside the caller's
districts or team is refused with 403. Adding a member needs members.write (an admin
account's token or session) and goes through the same checks as the site and `cug directory
add` (`cug --remote URL directory add` uses it).

    GET  /v1/members            ?q&district&role&active(yes|no|all)&limit&offset
    GET  /v1/members/{member}   extension or phone number (never the SIP password)
    POST /v1/members            {name, phone, role, district, ...}: 201, with the new member's
                                SIP user name and password (shown this once)
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from directory.lookup import Directory
from directory.member_list import PAGE, MemberFilter, search_members
from directory.members import reference_data, save_members
from directory.model import Member
from directory.validation import MemberValues, clean_member
from web.auth import request_token
from web.body import Field, int_param, json_fields, path_ident, query
from web.context import actor, audited_change, directory_db, record_read
from web.errors import ApiError, json_response
from web.member_scope import member_scope, supervisor_errors, visible_member

routes = web.RouteTableDef()
MAX_PAGE = 200
ACTIVE = {"yes": True, "no": False, "all": None}
REQUIRED = ("name", "phone", "role", "district")
MEMBER_FIELDS = {
    name: Field((str,), required=name in REQUIRED)
    for name in (*REQUIRED, "supervisor_phone", "extension", "sub_county", "organisation")
} | {"language": Field((str,))}


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "active": bool(row["active"])}


def _shown(member: Member) -> dict[str, Any]:
    return member.public_dict()


@routes.get("/v1/members")
async def list_route(request: web.Request) -> web.Response:
    q = query(request, {"q", "district", "role", "active", "limit", "offset"})
    limit = int_param(q, "limit", PAGE, minimum=1, maximum=MAX_PAGE)
    offset = int_param(q, "offset", 0, minimum=0)
    active = q.get("active", "yes")
    if active not in ACTIVE:
        raise ApiError(400, ["active must be yes, no or all"])
    principal = request_token(request)
    district = q.get("district")
    scope = member_scope(principal)
    if district and scope.districts is not None and not principal.sees(district):
        raise ApiError(403, [f"district {district[:40]!r} is outside your districts"])
    f = MemberFilter(q.get("q", ""), district, q.get("role"), ACTIVE[active])
    found, total = search_members(directory_db(request), f, scope, limit, offset)
    record_read(request, "member.list", "members", {"members": len(found)})
    return json_response(
        {"members": [_brief(r) for r in found], "total": total, "limit": limit, "offset": offset}
    )


@routes.get("/v1/members/{member}", name="member")
async def show_route(request: web.Request) -> web.Response:
    ident = path_ident(request, "member")
    try:
        member = visible_member(request, request_token(request), str(ident))
    except web.HTTPForbidden:
        raise ApiError(403, ["this member is outside your districts or team"]) from None
    except web.HTTPNotFound:
        raise ApiError(404, [f"no member with extension or number {str(ident)[:40]!r}"]) from None
    return json_response({"member": _shown(member)})


@routes.post("/v1/members")
async def add_route(request: web.Request) -> web.Response:
    values = MemberValues(**(await json_fields(request, MEMBER_FIELDS)))
    principal = request_token(request)
    if not principal.sees(values.district.strip()):
        raise ApiError(403, [f"district {values.district.strip()[:40]!r} is not one of yours"])
    db = directory_db(request)
    roles, districts = reference_data(db)
    clean = clean_member(values, roles, districts)
    clean.errors += supervisor_errors(request, principal, values.supervisor_phone)
    if clean.phone and Directory(db).member_by_phone(clean.phone):
        clean.errors.append(f"{clean.phone} is already a member")
    if clean.errors:
        raise ApiError(422, clean.errors)
    with audited_change(request) as changing:
        scope = member_scope(principal)
        result = save_members(changing, [(0, clean)], actor(request), "member.add", scope=scope)
    if not result.ok:
        raise ApiError(422, [reason for _, reason in result.errors])
    member = Directory(db).member_by_phone(clean.phone)
    assert member is not None
    sip = {"username": member.sip_username, "password": member.sip_password}
    return json_response(
        {"member": _shown(member), "sip": sip},
        status=201,
        headers={"Location": f"{request.app.router['member'].url_for(member=member.extension)}"},
    )
