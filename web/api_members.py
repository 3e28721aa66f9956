"""The member routes of the JSON API (read-only; members are changed on the site's pages or
with `cug directory`), scoped like the site: a member outside the caller's districts or team
is refused with 403.

    GET /v1/members            ?q&district&role&active(yes|no|all)&limit&offset
    GET /v1/members/{member}   extension or phone number (never the SIP password)
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from directory.member_list import PAGE, MemberFilter, search_members
from directory.model import Member
from web.auth import request_token
from web.body import int_param, path_ident, query
from web.context import directory_db, record_read
from web.errors import ApiError, json_response
from web.member_scope import member_scope, visible_member

routes = web.RouteTableDef()
MAX_PAGE = 200
ACTIVE = {"yes": True, "no": False, "all": None}


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


@routes.get("/v1/members/{member}")
async def show_route(request: web.Request) -> web.Response:
    ident = path_ident(request, "member")
    try:
        member = visible_member(request, request_token(request), str(ident))
    except web.HTTPForbidden:
        raise ApiError(403, ["this member is outside your districts or team"]) from None
    except web.HTTPNotFound:
        raise ApiError(404, [f"no member with extension or number {str(ident)[:40]!r}"]) from None
    return json_response({"member": _shown(member)})
