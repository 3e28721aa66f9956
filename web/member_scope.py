"""Which members an admin account (or API token) may see, for pages and the JSON API alike:
outside its scope a member is refused with 403."""

from __future__ import annotations

from aiohttp import web

from directory.admin_accounts import AdminAccount
from directory.lookup import Directory
from directory.member_list import MemberScope
from directory.model import Member
from web.auth import DB_KEY, Principal


def member_scope(principal: Principal) -> MemberScope:
    if isinstance(principal, AdminAccount) and principal.team_scoped:
        return MemberScope(team=principal.team)
    return MemberScope(districts=principal.scoped_districts)


def visible_member(request: web.Request, principal: Principal, ident: str) -> Member:
    """The member `ident` (extension or phone) names: 404 if none, 403 outside the scope."""
    found = Directory(request.config_dict[DB_KEY]).find(ident[:40]) if ident else None
    if found is None:
        raise web.HTTPNotFound(reason=f"no member with extension or number {ident[:40]!r}")
    if not principal.sees_member(found.id, found.district):
        raise web.HTTPForbidden(reason="this member is outside your districts or team")
    return found


def supervisor_errors(request: web.Request, principal: Principal, phone: str) -> list[str]:
    """A supervisor an account of limited scope names must be a member it sees: naming
    another district's supervisor would show them this district's member and cases."""
    if not phone.strip() or principal.scoped_districts is None:
        return []
    found = Directory(request.config_dict[DB_KEY]).find(phone.strip()[:40])
    if found is not None and principal.sees_member(found.id, found.district):
        return []
    return [f"supervisor {phone.strip()[:40]!r} is not a member of your districts"]
