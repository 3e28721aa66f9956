"""Standing conference bridges on the admin site: the bridges an account may see, and for
those who may change them, adding one (with the short code that reaches it) and setting or
clearing a bridge's PIN, with the same checks as `cug conference add-bridge` and
`bridge-pin` (routing/bridge_admin.py, directory/bridges.py): a refused change lists every
reason and changes nothing. The page never shows a PIN or its hash, only whether there is one.

Who sees what: a national admin every bridge; a district admin their districts' bridges (and
changes them); a supervisor their own district's, read-only. Another district's bridge asked
for by URL is refused (403). Every change is in the audit (who, from where, before and after).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from directory.admin_accounts import AdminAccount
from directory.bridges import MAX_MEMBERS, OWN_MAX_MEMBERS, BridgeError, BridgeStore, pin_problems
from directory.lookup import Directory
from directory.members import reference_data
from routing.bridge_admin import BridgeValues, add_bridge, leader_name
from routing.bridges import DISTRICT_SCOPE, TEAM_SCOPE, Bridge
from web.context import audited_change
from web.pages import flash, form_values, page_account, render, require, see_other, site_db

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
KINDS = {None: "admin's", DISTRICT_SCOPE: "district's own", TEAM_SCOPE: "team's"}
ANY_SUPERVISOR = "any supervisor of the district"
ADD_FIELDS = ("code", "district", "label", "leader", "max_members", "stays")


@dataclass(frozen=True)
class BridgeRow:
    """A bridge as the page lists it (never its PIN: `bridge.has_pin` only)."""

    bridge: Bridge
    kind: str
    leader: str
    codes: list[str]
    editable: bool


def _own_district(request: web.Request, account: AdminAccount) -> str | None:
    """A supervisor's district (from their member record): the bridges they may see."""
    if account.member_id is None:
        return None
    member = Directory(site_db(request)).member(account.member_id)
    return member.district if member else None


def _sees(request: web.Request, account: AdminAccount, bridge: Bridge) -> bool:
    if account.team_scoped:
        own = _own_district(request, account)
        return own is not None and own.casefold() == bridge.district.casefold()
    return account.sees(bridge.district)


def _may_change(account: AdminAccount, bridge: Bridge) -> bool:
    return account.can("bridges.write") and account.sees(bridge.district)


def _row(request: web.Request, account: AdminAccount, bridge: Bridge) -> BridgeRow:
    db = site_db(request)
    return BridgeRow(
        bridge=bridge,
        kind=KINDS.get(bridge.scope, bridge.scope or ""),
        leader=leader_name(Directory(db), bridge) or ANY_SUPERVISOR,
        codes=BridgeStore(db).codes(bridge),
        editable=_may_change(account, bridge),
    )


def _addable_districts(request: web.Request, account: AdminAccount) -> list[str]:
    """The districts this account may add a bridge in."""
    if not account.can("bridges.write"):
        return []
    _, districts = reference_data(site_db(request))
    return sorted(d for d in districts.values() if account.sees(d))


async def _page(
    request: web.Request,
    one: Bridge | None = None,
    errors: list[str] | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> web.Response:
    account = require(request, "bridges.read")
    bridges = [one] if one else BridgeStore(site_db(request)).all()
    rows = [_row(request, account, b) for b in bridges if _sees(request, account, b)]
    context = {
        "rows": rows,
        "one": one,
        "districts": [] if one else _addable_districts(request, account),
        "errors": errors or [],
        "form": form or {},
        "max_members": MAX_MEMBERS,
        "default_members": OWN_MAX_MEMBERS,
    }
    return await render(request, "bridges.html", context, status)


def _bridge(request: web.Request, change: bool = False) -> Bridge:
    """The bridge the URL names, if this account may see it (and, with `change`, change
    it); 404 for none, 403 for another district's."""
    account = page_account(request)
    raw = request.match_info["bridge"]
    found = None
    if raw.isdigit() and raw.isascii() and len(raw) <= 12:
        found = BridgeStore(site_db(request)).get(int(raw))
    if found is None:
        raise web.HTTPNotFound(reason=f"no bridge {raw[:20]!r}")
    allowed = _may_change(account, found) if change else _sees(request, account, found)
    if not allowed:
        raise web.HTTPForbidden(reason=f"bridge {found.id} is not of your district")
    return found


@routes.get("/bridges")
async def bridges_page(request: web.Request) -> web.Response:
    return await _page(request)


@routes.get("/bridges/{bridge}")
async def bridge_page(request: web.Request) -> web.Response:
    require(request, "bridges.read")
    return await _page(request, _bridge(request))


def _members(raw: str) -> int:
    """The member limit given; 0 (refused with the limit's reason) when it is no number."""
    raw = raw.strip()
    return int(raw) if raw.isdigit() and raw.isascii() and len(raw) <= 3 else 0


@routes.post("/bridges")
async def add(request: web.Request) -> web.Response:
    account = require(request, "bridges.write")
    form = await form_values(request)
    shown = {k: v for k, v in form.items() if k in ADD_FIELDS}
    district = form.get("district", "").strip()
    if district and not account.sees(district):
        raise web.HTTPForbidden(reason=f"district {district[:40]!r} is not one of yours")
    values = BridgeValues(
        code=form.get("code", ""),
        district=district,
        label=form.get("label", ""),
        leader=form.get("leader", ""),
        max_members=_members(form.get("max_members", "")),
        ends_with_leader=form.get("stays") != "yes",
    )
    try:
        with audited_change(request) as changing:
            bridge, code = add_bridge(changing, values, account.actor)
    except BridgeError as exc:
        return await _page(request, errors=exc.reasons, status=422, form=shown)
    log.info("admin site: %s added bridge %s (code %s)", account.username, bridge.id, code.code)
    await flash(request, f"Bridge {bridge.id} ({bridge.label}) added: members dial {code.code}.")
    raise see_other(f"/bridges/{bridge.id}")


@routes.post("/bridges/{bridge}/pin")
async def set_pin(request: web.Request) -> web.Response:
    account = require(request, "bridges.write")
    bridge = _bridge(request, change=True)
    form = await form_values(request, 20)
    pin = form.get("pin", "")
    reasons = pin_problems(pin, form.get("again", ""))
    if reasons:
        return await _page(request, bridge, reasons, 422)
    try:
        with audited_change(request) as changing:
            BridgeStore(changing).set_pin(bridge.id, pin, account.actor)
    except BridgeError as exc:
        return await _page(request, bridge, exc.reasons, 422)
    log.info("admin site: %s set the PIN of bridge %s", account.username, bridge.id)
    await flash(request, f"Bridge {bridge.id}: PIN set; members of other districts join with it.")
    raise see_other(f"/bridges/{bridge.id}")


@routes.post("/bridges/{bridge}/pin/clear")
async def clear_pin(request: web.Request) -> web.Response:
    account = require(request, "bridges.write")
    bridge = _bridge(request, change=True)
    with audited_change(request) as changing:
        BridgeStore(changing).set_pin(bridge.id, None, account.actor)
    log.info("admin site: %s cleared the PIN of bridge %s", account.username, bridge.id)
    await flash(request, f"Bridge {bridge.id}: no PIN; members of other districts cannot join.")
    raise see_other(f"/bridges/{bridge.id}")
