"""What every API handler needs from its request: the directory, the token's scope, and the
audit (who, from which address).

Scope: a district token sees only its district's cases. A case outside it is answered exactly
as an unknown case (404, the same words), so a token cannot learn that it exists.

Audit: a change runs in one transaction with the audit rows the directory writes for it, and
those rows get the client's address (`remote_addr` in `after`). Reads of case data write
their own row (`case.view`, `case.list`, `report.view`, `link.suggestions`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlite_utils
from aiohttp import web

from directory import audit
from directory.case_model import Case, Referral
from directory.case_view import member_label
from directory.cases import find_case
from directory.transactions import writing
from web.auth import DB_KEY, Principal, request_token
from web.body import SQLITE_MAX_INT
from web.errors import ApiError, not_found


def directory_db(request: web.Request) -> sqlite_utils.Database:
    return request.config_dict[DB_KEY]


def remote(request: web.Request) -> str:
    """The client's address as the server saw it (a reverse proxy's, behind one)."""
    return request.remote or "unknown"


def actor(request: web.Request) -> str:
    return request_token(request).actor


def no_case(ident: int | str) -> ApiError:
    return not_found(f"no case with number or reference {str(ident)[:40]!r}")


def visible_case(request: web.Request, ident: int | str) -> Case:
    """The case `ident` (number or reference) names, if this token may see it; else 404."""
    token = request_token(request)
    found = None
    if isinstance(ident, int):
        if 0 < ident <= SQLITE_MAX_INT:
            found = find_case(directory_db(request), ident)
    elif ident.isdigit():
        # Only ASCII digits are case numbers; longer than any id is nothing.
        if ident.isascii() and len(ident) <= 19 and int(ident) <= SQLITE_MAX_INT:
            found = find_case(directory_db(request), int(ident))
    else:
        found = find_case(directory_db(request), ident)
    if found is None or not token.sees_case(found.district, found.assigned_member_id):
        raise no_case(ident)
    return found


def scoped_district(token: Principal, requested: str | None) -> str | None:
    """The district a list or report is narrowed to: for a token or account limited to
    districts, the one asked for among its own (its only one when none is asked; another
    one is refused), else what was asked (None: all). A supervisor's lists are narrowed to
    their team afterwards (`sees_case`)."""
    districts = token.scoped_districts
    if districts is None or token.team_scoped:
        return requested
    if requested is None:
        if len(districts) == 1:
            return districts[0]
        raise ApiError(403, [f"name one of your districts: {', '.join(districts)}"])
    for district in districts:
        if requested.strip().casefold() == district.casefold():
            return district
    raise ApiError(403, [f"this token sees only district {', '.join(districts)}"])


@contextmanager
def stamped_change(db: sqlite_utils.Database, address: str) -> Iterator[None]:
    """Run a change in one transaction; the audit rows it writes get `address`."""
    with writing(db), audit.from_address(address):
        yield


@contextmanager
def audited_change(request: web.Request) -> Iterator[sqlite_utils.Database]:
    """Run a change in one transaction; the audit rows it writes get the client's address."""
    db = directory_db(request)
    with stamped_change(db, remote(request)):
        yield db


def record_read(
    request: web.Request, action: str, subject: str, detail: dict[str, Any] | None = None
) -> None:
    """Write to the audit that this token read case data (before the data is sent)."""
    db = directory_db(request)
    with writing(db):
        audit.record(
            db,
            actor(request),
            action,
            subject,
            None,
            {**(detail or {}), "remote_addr": remote(request)},
        )


def case_brief(db: sqlite_utils.Database, case: Case) -> dict[str, Any]:
    """A case as lists and change answers show it: everything but the summary (only
    GET /cases/{case}, which is audited as case.view, returns the summary)."""
    data = {k: v for k, v in case.to_dict().items() if k != "summary"}
    data["assigned"] = member_label(db, case.assigned_member_id)
    return data


def referral_brief(db: sqlite_utils.Database, referral: Referral) -> dict[str, Any]:
    return {**referral.to_dict(), "to": member_label(db, referral.to_member_id)}
