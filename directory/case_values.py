"""Checks shared by cases and referrals: times, members, codes and free text.

Every check appends a reason to an `errors` list instead of raising, so a caller can report
everything that is wrong at once (then raise CaseError with the whole list).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta

import sqlite_utils

from directory.lookup import Directory
from directory.model import Member

LIMITS = {
    "reference": 64,
    "summary": 4000,
    "reason": 300,
    "consent_by": 120,
}
# A time this far ahead of the clock is still accepted (a phone's clock, a typing delay).
CLOCK_SKEW = timedelta(minutes=5)
_DATE_ONLY = re.compile(r"^\d{4}-?\d{2}-?\d{2}$")


class CaseError(ValueError):
    """One or more reasons why a case or referral change cannot be made; nothing was changed."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def to_text(moment: datetime) -> str:
    """How the case tables store a time: ISO-8601 in UTC to the second, with its offset."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_time(
    value: str | None, field_name: str, errors: list[str], end_of_day: bool = False
) -> datetime | None:
    """An ISO-8601 date or date-time given by a person, as an aware UTC datetime.

    A time without an offset is taken as UTC (give `+03:00` for East Africa Time). A date
    alone means the start of that day (UTC), or its last second when `end_of_day` (a due date
    is met if the follow-up happens any time that day). Empty gives None.
    """
    text = (value or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        errors.append(
            f"{field_name} {text[:40]!r} is not an ISO date or date-time "
            "(e.g. 2025-03-14 or 2025-03-14T09:30+03:00)"
        )
        return None
    if _DATE_ONLY.match(text) and end_of_day:
        moment = moment.replace(hour=23, minute=59, second=59)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def from_text(value: str | None) -> datetime | None:
    """A stored time back as an aware UTC datetime (naive stored values are UTC)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def not_in_future(moment: datetime | None, field_name: str, errors: list[str]) -> None:
    if moment is not None and moment > datetime.now(UTC) + CLOCK_SKEW:
        errors.append(f"{field_name} {to_text(moment)} is in the future")


def active_member(
    db: sqlite_utils.Database, ident: int | str, field_name: str, errors: list[str]
) -> Member | None:
    """The active member `ident` names (an id, or an extension or phone number in any form)."""
    directory = Directory(db)
    member = directory.member(ident) if isinstance(ident, int) else directory.find(ident)
    shown = str(ident)[:40]
    if member is None:
        errors.append(f"{field_name}: no member with extension or number {shown!r}")
        return None
    if not member.active:
        errors.append(f"{field_name}: {member.name} ({member.extension}) is deactivated")
        return None
    return member


def known_code(
    db: sqlite_utils.Database, table: str, value: str | None, field_name: str, errors: list[str]
) -> str:
    """`value` (any case) as one of the codes of `table` (case_categories, referral_services)."""
    codes = [row[0] for row in db.execute(f"SELECT code FROM {table} ORDER BY code").fetchall()]
    given = (value or "").strip().lower()
    if not given:
        errors.append(f"{field_name} is missing")
    elif given not in codes:
        errors.append(f"unknown {field_name} {given[:40]!r} (known: {', '.join(codes)})")
    return given


def known_district(db: sqlite_utils.Database, value: str | None, errors: list[str]) -> str:
    """`value` in the directory's spelling of the district, matched without regard to case."""
    given = (value or "").strip()
    if not given:
        errors.append("district is missing")
        return ""
    row = db.execute(
        "SELECT name FROM districts WHERE name = ? COLLATE NOCASE", (given,)
    ).fetchone()
    if row is None:
        errors.append(
            f"unknown district {given[:40]!r} (add it with `cug directory districts --add`)"
        )
        return ""
    return row[0]


def clean_long_text(value: str | None, field_name: str, errors: list[str]) -> str:
    """Free text that may span lines (a case summary): line breaks and tabs are kept (as \\n),
    other control and format characters are refused, the length is capped."""
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    bad = {
        ch
        for ch in text
        if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
    }
    if bad:
        errors.append(
            f"{field_name} contains control characters "
            f"({', '.join(f'U+{ord(ch):04X}' for ch in sorted(bad))})"
        )
        return text
    limit = LIMITS.get(field_name, 4000)
    if len(text) > limit:
        errors.append(f"{field_name} is longer than {limit} characters ({len(text)})")
    return text
