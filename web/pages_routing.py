"""Short codes and escalation chains on the admin site, changed through the same checks as
`cug directory short-codes` and `cug escalation` (routing/short_codes.py,
routing/escalation.py): a refused change lists every reason and changes nothing. The routing
service reads both at every call, so a change applies to the next call, with no reload.

Short codes are the whole CUG's: national admins change them, others read them. Chains are
per district and role: a district admin sets and clears the chains of their own districts;
the chains for every district are national admins' (everyone sees all of them)."""

from __future__ import annotations

from aiohttp import web

from directory.admin_accounts import AdminAccount
from directory.bridges import BridgeStore
from directory.chains import ChainStore, describe_scope
from directory.lookup import Directory
from directory.members import reference_data
from directory.short_codes import ShortCodeStore
from routing.escalation import (
    DEFAULT_CHAIN,
    ChainError,
    RuleKind,
    edit_chain,
    format_rules,
    parse_rules,
)
from routing.short_codes import (
    ShortCodeError,
    ShortCodeValues,
    add_short_code,
    describe,
    edit_short_code,
    remove_short_code,
)
from web.context import audited_change
from web.pages import (
    flash,
    form_values,
    page_account,
    render,
    require,
    see_other,
    site_db,
)

routes = web.RouteTableDef()


async def _codes_page(
    request: web.Request, errors: list[str] | None = None, status: int = 200
) -> web.Response:
    require(request, "short_codes.read")
    store = ShortCodeStore(site_db(request))
    words = {c: w for w, c in store.words().items()}
    roles, _ = reference_data(site_db(request))
    codes = [(c, describe(c), words.get(c.code)) for c in store.all()]
    context = {"codes": codes, "roles": sorted(roles), "errors": errors or []}
    return await render(request, "short_codes.html", context, status)


@routes.get("/short-codes")
async def codes_page(request: web.Request) -> web.Response:
    return await _codes_page(request)


@routes.post("/short-codes")
async def add_code(request: web.Request) -> web.Response:
    account = require(request, "short_codes.write")
    form = await form_values(request)
    values = ShortCodeValues(
        form.get("code", ""),
        form.get("kind", ""),
        form.get("role", ""),
        form.get("number", ""),
        form.get("label", ""),
    )
    db = site_db(request)
    roles, _ = reference_data(db)
    try:
        with audited_change(request) as changing:
            added = add_short_code(
                ShortCodeStore(changing), Directory(changing), roles, values, account.actor
            )
    except ShortCodeError as exc:
        return await _codes_page(request, exc.reasons, 422)
    await flash(request, f"Short code {added.code} added: members' next calls use it.")
    raise see_other("/short-codes")


@routes.post("/short-codes/{code}")
async def edit_code(request: web.Request) -> web.Response:
    account = require(request, "short_codes.write")
    form = await form_values(request)
    changes = {k: form.get(k) for k in ("kind", "role", "number", "label")}
    if changes["kind"] and changes["kind"] != "role":
        changes["role"] = None
    if changes["kind"] and changes["kind"] != "outside":
        changes["number"] = None
    db = site_db(request)
    roles, _ = reference_data(db)
    code = request.match_info["code"][:20]
    try:
        with audited_change(request) as changing:
            # A bridge code keeps its bridge (the form does not change which one).
            bridges = frozenset(b.id for b in BridgeStore(changing).all())
            before, after = edit_short_code(
                ShortCodeStore(changing),
                ChainStore(changing),
                roles,
                code,
                changes,
                account.actor,
                bridges,
            )
    except ShortCodeError as exc:
        return await _codes_page(request, exc.reasons, 422)
    changed = "no change" if before == after else f"now {describe(after)}, {after.label}"
    await flash(request, f"Short code {after.code}: {changed}.")
    raise see_other("/short-codes")


@routes.post("/short-codes/{code}/remove")
async def remove_code(request: web.Request) -> web.Response:
    account = require(request, "short_codes.write")
    code = request.match_info["code"][:20]
    try:
        with audited_change(request) as changing:
            removed = remove_short_code(
                ShortCodeStore(changing), ChainStore(changing), code, account.actor
            )
    except ShortCodeError as exc:
        return await _codes_page(request, exc.reasons, 422)
    await flash(request, f"Short code {removed.code} removed: dialing it is refused.")
    raise see_other("/short-codes")


async def _chains_page(
    request: web.Request, errors: list[str] | None = None, status: int = 200
) -> web.Response:
    account = require(request, "chains.read")
    db = site_db(request)
    roles, districts = reference_data(db)
    mine = sorted(d for d in districts.values() if account.sees(d))
    # A district admin sees the chains that apply in their districts (theirs, and those for
    # every district), not other districts' (which name their members).
    chains = [
        (c, account.can("chains.write") and _may_set(account, c.district))
        for c in ChainStore(db).all()
        if not c.district or account.sees(c.district)
    ]
    context = {
        "default": format_rules(DEFAULT_CHAIN),
        "chains": chains,
        "roles": sorted(roles),
        "districts": mine,
        "everywhere": account.scoped_districts is None,
        "errors": errors or [],
    }
    return await render(request, "chains.html", context, status)


def _may_set(account: AdminAccount, district: str) -> bool:
    """A district admin sets their districts' chains; chains for every district ("") are
    national admins'."""
    if account.scoped_districts is None:
        return True
    return bool(district) and account.sees(district)


@routes.get("/chains")
async def chains_page(request: web.Request) -> web.Response:
    return await _chains_page(request)


async def _chain_scope(request: web.Request) -> tuple[str, str, bool, dict[str, str]]:
    account = require(request, "chains.write")
    form = await form_values(request)
    district = form.get("district", "").strip()
    if not _may_set(account, district):
        raise web.HTTPForbidden(
            reason=f"the chains of {describe_scope(district, '')} are not yours to change"
        )
    return district, form.get("role", "").strip(), form.get("urgent") == "yes", form


def _scope_problems(request: web.Request, account: AdminAccount, rules: str) -> list[str]:
    """What a district admin's chain may not ring: a member outside their districts (the
    call's child-protection details would go to them), or an outside number that is not one
    of the CUG's own short-code numbers (a national admin's choice, such as 116)."""
    if account.scoped_districts is None:
        return []
    try:
        parsed = parse_rules(rules)
    except ChainError:
        return []  # edit_chain gives every reason of a chain that does not parse
    db = site_db(request)
    known = {c.number for c in ShortCodeStore(db).all() if c.kind == "outside" and c.number}
    problems = []
    for n, rule in enumerate(parsed, 1):
        if rule.kind is RuleKind.MEMBER:
            m = Directory(db).member_by_extension(rule.value)
            if m is not None and not account.sees_member(m.id, m.district):
                problems.append(f"step {n}: {rule.value[:20]} is not a member of your districts")
        if rule.kind is RuleKind.OUTSIDE and rule.value not in known:
            problems.append(
                f"step {n}: outside number {rule.value[:20]} is not one of the CUG's short "
                "code numbers (ask a national admin)"
            )
    return problems


@routes.post("/chains")
async def set_chain(request: web.Request) -> web.Response:
    district, role, urgent, form = await _chain_scope(request)
    problems = _scope_problems(request, page_account(request), form.get("rules", ""))
    if problems:
        return await _chains_page(request, problems, 422)
    try:
        with audited_change(request) as changing:
            saved = edit_chain(
                ChainStore(changing),
                Directory(changing),
                district,
                role,
                urgent,
                form.get("rules", ""),
                page_account(request).actor,
            )
    except ChainError as exc:
        return await _chains_page(request, exc.reasons, 422)
    await flash(request, f"{saved.scope}: {saved.rules}. Calls in progress keep their chain.")
    raise see_other("/chains")


@routes.post("/chains/clear")
async def clear_chain(request: web.Request) -> web.Response:
    district, role, urgent, _ = await _chain_scope(request)
    with audited_change(request) as changing:
        cleared = ChainStore(changing).clear(district, role, urgent, page_account(request).actor)
    scope = describe_scope(district, role, urgent)
    await flash(request, f"Chain for {scope} removed." if cleared else f"No chain for {scope}.")
    raise see_other("/chains")
