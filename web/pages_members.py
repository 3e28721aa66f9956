"""Member pages: the list (search, filters, pages), one member, adding, editing,
deactivating, a new SIP password (shown once). Every change goes through the directory
functions `cug directory` uses, so it is checked the same way, audited (with the address) and
reaches Asterisk the same way (the service writes the member's realtime rows)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from directory.lookup import Directory
from directory.member_list import PAGE, MemberFilter, search_members
from directory.members import (
    reference_data,
    reset_sip_password,
    save_members,
    set_active,
    update_member,
)
from directory.model import Member
from directory.validation import MemberError, MemberValues, clean_member
from web.context import audited_change
from web.member_scope import member_scope, supervisor_errors, visible_member
from web.pages import flash, page_account, render, require, see_other, site_db
from web.pages_live import LIVE_KEY
from web.readers import readers

routes = web.RouteTableDef()
FORM_FIELDS = (
    "name",
    "phone",
    "role",
    "district",
    "supervisor_phone",
    "extension",
    "sub_county",
    "organisation",
    "language",
)
ACTIVE = {"yes": True, "no": False, "all": None}
MAX_FIELD = 1000  # longer form values are cut here, then refused by the checks for length


def _choices(request: web.Request) -> dict[str, Any]:
    account = page_account(request)
    roles, districts = reference_data(site_db(request))
    shown = sorted(districts.values())
    if account.scoped_districts is not None and not account.team_scoped:
        shown = [d for d in shown if account.sees(d)]
    return {"roles": sorted(roles), "districts": shown}


async def _filters(request: web.Request) -> tuple[MemberFilter, int, dict[str, str]]:
    q = request.query
    names = ("q", "district", "role", "active", "registered", "page")
    raw = {k: q.get(k, "")[:100] for k in names}
    raw["active"] = raw["active"] if raw["active"] in ACTIVE else "yes"
    raw["registered"] = raw["registered"] if raw["registered"] in ("yes", "no") else ""
    page = int(raw["page"]) if raw["page"].isdigit() and len(raw["page"]) < 7 else 1
    registered: frozenset[str] = frozenset()
    if raw["registered"]:
        snapshot = await request.config_dict[LIVE_KEY].snapshot()
        registered = frozenset(p.extension for p in snapshot.phones)
    f = MemberFilter(
        search=raw["q"],
        district=raw["district"] or None,
        role=raw["role"] or None,
        active=ACTIVE[raw["active"]],
        registered={"yes": True, "no": False}.get(raw["registered"]),
        registered_extensions=registered,
    )
    return f, max(page, 1), raw


@routes.get("/members")
async def list_page(request: web.Request) -> web.Response:
    account = require(request, "members.read")
    f, page, raw = await _filters(request)
    scope = member_scope(account)
    found, total = await readers(request).read(
        lambda db: search_members(db, f, scope, PAGE, (page - 1) * PAGE)
    )
    pages = max(1, (total + PAGE - 1) // PAGE)
    query = {k: v for k, v in raw.items() if v and k != "page"}
    context = {
        "members": found,
        "total": total,
        "page": page,
        "pages": pages,
        "query": query,
        "raw": raw,
        **_choices(request),
    }
    template = "members_table.html" if request.headers.get("HX-Request") else "members.html"
    return await render(request, template, context)


def _values(form: Any) -> MemberValues:
    return MemberValues(**{k: str(form.get(k, ""))[:MAX_FIELD] for k in FORM_FIELDS})


def _current(request: web.Request, m: Member) -> MemberValues:
    sup = Directory(site_db(request)).member(m.supervisor_id) if m.supervisor_id else None
    return MemberValues(
        name=m.name,
        phone=m.phone,
        role=m.role,
        district=m.district,
        supervisor_phone=sup.phone if sup else "",
        extension=m.extension,
        sub_county=m.sub_county,
        organisation=m.organisation,
        language=m.language,
    )


async def _form(
    request: web.Request, values: MemberValues, errors: list[str], member: Member | None
) -> web.Response:
    status = 422 if errors else 200
    context = {"values": values, "errors": errors, "member": member, **_choices(request)}
    return await render(request, "member_form.html", context, status)


def _district_errors(request: web.Request, values: MemberValues) -> list[str]:
    account = page_account(request)
    errors = supervisor_errors(request, account, values.supervisor_phone)
    if account.sees(values.district.strip()):
        return errors
    return [f"district {values.district.strip()[:40]!r} is not one of yours", *errors]


@routes.get("/members/new")
async def new_page(request: web.Request) -> web.Response:
    require(request, "members.write")
    return await _form(request, MemberValues(), [], None)


@routes.post("/members/new")
async def add(request: web.Request) -> web.Response:
    require(request, "members.write")
    values = _values(await request.post())
    db = site_db(request)
    roles, districts = reference_data(db)
    clean = clean_member(values, roles, districts)
    clean.errors += _district_errors(request, values)
    if clean.phone and Directory(db).member_by_phone(clean.phone):
        clean.errors.append(f"{clean.phone} is already a member")
    if clean.errors:
        return await _form(request, values, clean.errors, None)
    with audited_change(request) as changing:
        account = page_account(request)
        result = save_members(
            changing, [(0, clean)], account.actor, "member.add", scope=member_scope(account)
        )
    if not result.ok:
        return await _form(request, values, [r for _, r in result.errors], None)
    member = Directory(db).member_by_phone(clean.phone)
    assert member is not None
    return await render(request, "member_password.html", {"member": member, "added": True})


@routes.get("/members/{ext}")
async def show_page(request: web.Request) -> web.Response:
    account = require(request, "members.read")
    member = visible_member(request, account, request.match_info["ext"])
    return await _form(request, _current(request, member), [], member)


@routes.post("/members/{ext}")
async def edit(request: web.Request) -> web.Response:
    account = require(request, "members.write")
    member = visible_member(request, account, request.match_info["ext"])
    values = _values(await request.post())
    db = site_db(request)
    roles, districts = reference_data(db)
    clean = clean_member(values, roles, districts)
    clean.errors += _district_errors(request, values)
    if clean.errors:
        return await _form(request, values, clean.errors, member)
    try:
        with audited_change(request) as changing:
            changed = update_member(
                changing, member.id, clean, account.actor, member_scope(account)
            )
    except MemberError as exc:
        return await _form(request, values, exc.reasons, member)
    await flash(request, f"{clean.name}: changed {', '.join(sorted(changed)) or 'nothing'}.")
    raise see_other(f"/members/{clean.extension or member.extension}")


async def _set_active(request: web.Request, active: bool) -> web.Response:
    account = require(request, "members.write")
    member = visible_member(request, account, request.match_info["ext"])
    with audited_change(request) as changing:
        changed = set_active(changing, member.id, active, account.actor)
    state = "activated" if active else "deactivated"
    await flash(request, f"{member.name} {state}." if changed else f"{member.name}: no change.")
    raise see_other(f"/members/{member.extension}")


@routes.post("/members/{ext}/deactivate")
async def deactivate(request: web.Request) -> web.Response:
    return await _set_active(request, False)


@routes.post("/members/{ext}/activate")
async def activate(request: web.Request) -> web.Response:
    return await _set_active(request, True)


@routes.post("/members/{ext}/reset-password")
async def new_password(request: web.Request) -> web.Response:
    account = require(request, "members.write")
    member = visible_member(request, account, request.match_info["ext"])
    with audited_change(request) as changing:
        reset_sip_password(changing, member.id, account.actor)
    fresh = Directory(site_db(request)).member(member.id)
    return await render(request, "member_password.html", {"member": fresh, "added": False})
