"""Pages of members for the admin site and the API: search, filters and a scope, at any size.

Filters and the scope are SQL conditions over indexed columns (district, role, active,
extension); pages are LIMIT/OFFSET in extension order (the unique index on extension), the
total a count over the same conditions. A search matches the extension or phone number
exactly or by prefix, else a part of the name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from directory.case_model import rows

PAGE = 50
MAX_PAGE = 200
MAX_SEARCH = 100
LISTED = (
    "m.id, m.name, m.phone, m.extension, m.role, m.district, m.sub_county, m.organisation, "
    "m.language, m.active, m.supervisor_id"
)


@dataclass(frozen=True)
class MemberFilter:
    search: str = ""
    district: str | None = None
    role: str | None = None
    active: bool | None = True  # None: active and inactive
    # With a phone registered now (these extensions: True) or not (False); None: either.
    registered: bool | None = None
    registered_extensions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MemberScope:
    """What an account may see: districts (None: all) or a team of member ids."""

    districts: tuple[str, ...] | None = None
    team: frozenset[int] | None = None

    def sees(self, member_id: int, district: str | None) -> bool:
        """Whether member `member_id` (of `district`) is inside this scope."""
        if self.team is not None and member_id not in self.team:
            return False
        if self.districts is not None:
            return (district or "").casefold() in {d.casefold() for d in self.districts}
        return True


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def scope_conditions(scope: MemberScope) -> tuple[list[str], list[Any]]:
    """SQL conditions on members (as `m`) that keep a query inside `scope`, and their
    parameters."""
    where: list[str] = []
    params: list[Any] = []
    if scope.team is not None:
        where.append(f"m.id IN ({', '.join('?' * len(scope.team)) or 'NULL'})")
        params += sorted(scope.team)
    if scope.districts is not None:
        where.append(f"m.district IN ({', '.join('?' * len(scope.districts)) or 'NULL'})")
        params += list(scope.districts)
    return where, params


def _conditions(f: MemberFilter, scope: MemberScope) -> tuple[list[str], list[Any]]:
    where, params = scope_conditions(scope)
    if f.district:
        where.append("m.district = ?")
        params.append(f.district)
    if f.role:
        where.append("m.role = ?")
        params.append(f.role)
    if f.active is not None:
        where.append("m.active = ?")
        params.append(int(f.active))
    if f.registered is not None:
        where.append(
            f"m.extension {'' if f.registered else 'NOT '}IN (SELECT value FROM json_each(?))"
        )
        params.append(json.dumps(sorted(f.registered_extensions)))
    text = f.search.strip()[:MAX_SEARCH]
    if text:
        digits = text.lstrip("+").replace(" ", "")
        if digits.isdigit():
            where.append(
                "(m.extension LIKE ? ESCAPE '\\' OR m.phone LIKE ? ESCAPE '\\' "
                "OR m.phone LIKE ? ESCAPE '\\')"
            )
            local = digits[1:] if digits.startswith("0") else digits
            params += [_like(digits) + "%", "+" + _like(digits) + "%", "%" + _like(local) + "%"]
        else:
            where.append("m.name LIKE ? ESCAPE '\\'")
            params.append("%" + _like(text) + "%")
    return where, params


def search_members(
    db: sqlite_utils.Database,
    f: MemberFilter,
    scope: MemberScope,
    limit: int = PAGE,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the members `f` and `scope` select, in extension order, and their total."""
    where, params = _conditions(f, scope)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    total = db.execute(f"SELECT count(*) FROM members m{clause}", params).fetchone()[0]
    found = rows(
        db.execute(
            f"SELECT {LISTED} FROM members m{clause} ORDER BY m.extension LIMIT ? OFFSET ?",
            [*params, max(1, min(limit, MAX_PAGE)), max(0, offset)],
        )
    )
    return found, total
