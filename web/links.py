"""Linking contacts to cases through the API, within the token's district.

A district token may link a contact that is already on one of its cases, or an unlinked one
that a member of its district placed or received; any other contact is answered as unknown,
so that a token cannot pull another district's calls into its own case to read them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from directory.case_links import link_suggestions
from directory.case_model import Case
from directory.case_values import CaseError
from directory.case_view import member_label
from directory.cases import find_case
from directory.manual_links import get_contact, link_contact
from web.auth import request_token
from web.body import SQLITE_MAX_INT
from web.context import actor, audited_change, directory_db
from web.errors import ApiError

# A district token's suggestions are filtered after the query: look this far.
SCOPED_LOOKAHEAD = 5000
_SHOWN = ("id", "kind", "placed_at", "outcome", "case_id", "link", "link_note", "after_close")


def _contact_visible(request: web.Request, contact: dict[str, Any]) -> bool:
    token = request_token(request)
    if token.scoped_districts is None and not token.team_scoped:
        return True
    db = directory_db(request)
    if contact["case_id"] is not None:
        linked = find_case(db, int(contact["case_id"]))
        return linked is not None and token.sees(linked.district)
    for key in ("caller_member_id", "callee_member_id"):
        label = member_label(db, contact[key])
        if label and token.sees(label.get("district")):
            return True
    return False


def link_visible_contact(
    request: web.Request, raw_id: str, target: Case, force: bool
) -> tuple[dict[str, Any], bool]:
    """Link contact `raw_id` to `target` (a case the token sees) as the token's actor."""
    missing = ApiError(404, [f"no contact {raw_id[:20]} in the contact log"])
    if len(raw_id) > 19 or int(raw_id) > SQLITE_MAX_INT:
        raise missing
    db = directory_db(request)
    try:
        contact = get_contact(db, int(raw_id))
    except CaseError:
        raise missing from None
    if not _contact_visible(request, contact):
        raise missing
    with audited_change(request):
        linked, changed = link_contact(db, contact["id"], target.id, actor(request), force)
    shown = {k: linked[k] for k in _SHOWN}
    shown["after_close"] = bool(shown["after_close"])
    return shown, changed


def visible_suggestions(request: web.Request, limit: int) -> list[dict[str, Any]]:
    """`cug case suggest` for this token: calls to link, with only the cases it may see."""
    token = request_token(request)
    db = directory_db(request)
    everywhere = token.scoped_districts is None and not token.team_scoped
    found = link_suggestions(db, limit if everywhere else SCOPED_LOOKAHEAD)
    out: list[dict[str, Any]] = []
    for item in found:
        cases = [int(c) for c in item["cases"]]  # type: ignore[attr-defined]
        if not everywhere:
            visible = (find_case(db, c) for c in cases)
            cases = [
                c.id
                for c in visible
                if c is not None and token.sees_case(c.district, c.assigned_member_id)
            ]
        if not cases:
            continue
        out.append(
            {
                **item,
                "cases": cases,
                "caller": member_label(db, item["caller_member_id"]),  # type: ignore[arg-type]
                "callee": member_label(db, item["callee_member_id"]),  # type: ignore[arg-type]
            }
        )
        if len(out) >= limit:
            break
    return out
