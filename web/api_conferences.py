"""The case conference routes of the JSON API (mounted under /api), as `cug conference start`
and `invite` do them, by the token's `api:<name>` and within its district.

    POST /v1/cases/{case}/conference            {"leader": extension}  start (or join) it
    POST /v1/cases/{case}/conference/invite     {"member": extension}  call one more in

The routing service calls the people in (it picks up the requested calls within a second).
"""

from __future__ import annotations

from aiohttp import web

from agi.case_conferences import conference_name, invite_by_admin, start_case_conference
from directory.lookup import Directory
from web.body import Field, json_fields, path_ident
from web.context import actor, audited_change, visible_case
from web.errors import ApiError, json_response

routes = web.RouteTableDef()


def _calls(db, calls: list[int]) -> list[dict[str, object]]:  # noqa: ANN001
    directory = Directory(db)
    out = []
    for call_id in calls:
        row = db["conference_calls"].get(call_id)
        m = directory.member(row["member_id"])
        if m is not None:
            out.append({"extension": m.extension, "name": m.name, "role": m.role,
                        "leads": bool(row["leader"])})  # fmt: skip
    return out


@routes.post("/v1/cases/{case}/conference")
async def start_route(request: web.Request) -> web.Response:
    found = visible_case(request, path_ident(request, "case"))
    values = await json_fields(request, {"leader": Field((str,))})
    with audited_change(request) as db:
        directory = Directory(db)
        lead = None
        if values.get("leader"):
            lead = directory.member_by_extension(values["leader"].strip())
            if lead is None or not lead.active:
                raise ApiError(400, [f"leader {values['leader'][:10]!r} is not an active member"])
        name, calls, refusal = start_case_conference(
            directory, found.id, None, actor(request), lead
        )
    if refusal is not None:
        raise ApiError(409, [f"no conference started: {refusal.value}"])
    return json_response({"conference": name, "calls": _calls(db, calls)}, status=201)


@routes.post("/v1/cases/{case}/conference/invite")
async def invite_route(request: web.Request) -> web.Response:
    found = visible_case(request, path_ident(request, "case"))
    values = await json_fields(request, {"member": Field((str,), required=True)})
    name = conference_name(str(found.id))
    with audited_change(request) as db:
        calls, refusal = invite_by_admin(Directory(db), name, values["member"], actor(request))
    if refusal:
        raise ApiError(409, [refusal])
    return json_response({"conference": name, "calls": _calls(db, calls)}, status=201)
