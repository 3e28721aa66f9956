"""The costs ledger: what the system spends on each member, per district and local day.

Every SMS part sent to a member's mobile and every callback placed to a member is one row
(`spending`): when, the member, their district at the time, the kind (`sms` or `callback`),
the units (SMS parts, or 1 callback) and the sender's reference (a delivery, a call). The
daily caps (routing/costs.py) count units per member and kind within one local day of the
install's time zone (Africa/Kampala by default), kept in the row as `day`.

The figures for `cug report` (per district, and the members who cost most) are read here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlite_utils

from directory.transactions import writing

SMS, CALLBACK = "sms", "callback"
KINDS = (SMS, CALLBACK)
DEFAULT_ZONE = "Africa/Kampala"


def local_day(at: datetime, zone: str = DEFAULT_ZONE) -> str:
    """The install's calendar day (YYYY-MM-DD) of a moment."""
    return at.astimezone(ZoneInfo(zone)).date().isoformat()


@dataclass(frozen=True)
class DistrictSpend:
    district: str
    sms_parts: int
    callbacks: int
    members: int  # members who cost anything


@dataclass(frozen=True)
class MemberSpend:
    extension: str
    name: str
    district: str
    sms_parts: int
    callbacks: int


class Spending:
    def __init__(self, db: sqlite_utils.Database, zone: str = DEFAULT_ZONE) -> None:
        self.db = db
        self.zone = zone

    def record(self, member_id: int, kind: str, units: int, reference: str) -> None:
        """One spend on `member_id`: `kind` 'sms' (units: SMS parts) or 'callback' (1)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if units < 0:
            raise ValueError("units must not be negative")
        at = datetime.now(UTC)
        with writing(self.db):
            row = self.db.execute(
                "SELECT district FROM members WHERE id = ?", (member_id,)
            ).fetchone()
            self.db["spending"].insert(
                {
                    "at": at.isoformat(timespec="milliseconds"),
                    "day": local_day(at, self.zone),
                    "member_id": member_id,
                    "district": row[0] if row else "",
                    "kind": kind,
                    "units": units,
                    "reference": reference[:64],
                }
            )

    def today(self, member_id: int, kind: str) -> int:
        """Units of `kind` spent on the member in today's local day (Africa/Kampala)."""
        return self.on_day(member_id, kind, local_day(datetime.now(UTC), self.zone))

    def on_day(self, member_id: int, kind: str, day: str) -> int:
        row = self.db.execute(
            "SELECT coalesce(sum(units), 0) FROM spending "
            "WHERE member_id = ? AND kind = ? AND day = ?",
            (member_id, kind, day),
        ).fetchone()
        return int(row[0])

    def first_telling_today(self, member_id: int, kind: str) -> bool:
        """True once per member, kind and local day: whoever gets True tells the member and
        their supervisor that the cap was reached (nobody is told twice a day)."""
        now = datetime.now(UTC)
        with writing(self.db):
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO spending_caps_told (member_id, kind, day, told_at) "
                "VALUES (?, ?, ?, ?)",
                (member_id, kind, local_day(now, self.zone), now.isoformat(timespec="seconds")),
            )
        return cursor.rowcount == 1

    def by_district(
        self, since: str, until: str, district: str | None = None
    ) -> list[DistrictSpend]:
        """Totals per district for local days `since` to `until` (inclusive, YYYY-MM-DD)."""
        where, params = self._where(since, until, district)
        rows = self.db.execute(
            "SELECT district, sum(CASE WHEN kind = 'sms' THEN units ELSE 0 END), "
            "sum(CASE WHEN kind = 'callback' THEN units ELSE 0 END), count(DISTINCT member_id) "
            f"FROM spending WHERE {where} GROUP BY district ORDER BY district",
            params,
        ).fetchall()
        return [DistrictSpend(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]

    def top_members(
        self, since: str, until: str, district: str | None = None, limit: int = 5
    ) -> list[MemberSpend]:
        """The members who cost most in the period (SMS parts plus callbacks)."""
        where, params = self._where(since, until, district, prefix="s.")
        rows = self.db.execute(
            "SELECT m.extension, m.name, s.district, "
            "sum(CASE WHEN s.kind = 'sms' THEN s.units ELSE 0 END) AS sms, "
            "sum(CASE WHEN s.kind = 'callback' THEN s.units ELSE 0 END) AS calls "
            f"FROM spending s JOIN members m ON m.id = s.member_id WHERE {where} "
            "GROUP BY s.member_id ORDER BY sms + calls DESC, m.extension LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [MemberSpend(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in rows]

    @staticmethod
    def _where(
        since: str, until: str, district: str | None, prefix: str = ""
    ) -> tuple[str, tuple[str, ...]]:
        where = f"{prefix}day >= ? AND {prefix}day <= ?"
        params: tuple[str, ...] = (since, until)
        if district is not None:
            where += f" AND {prefix}district = ?"
            params += (district,)
        return where, params
