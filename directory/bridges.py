"""Standing conference bridges as stored, their PINs, and the count of wrong PINs per caller.

A bridge is reached by a short code of kind `bridge` (short_codes.bridge_id). Only a salted
scrypt hash of a PIN is kept. Wrong PINs are counted per calling member, over all bridges:
after `attempts` in a row the member is locked out of PIN entry for `lock_minutes`. Every
admin change is in the audit table (never the PIN).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from directory import audit
from directory.model import Member
from directory.pins import hash_pin, matches, valid_pin
from directory.transactions import writing
from routing.bridges import (
    DISTRICT_BRIDGE_KIND,
    DISTRICT_SCOPE,
    TEAM_BRIDGE_KIND,
    TEAM_SCOPE,
    Bridge,
)

MAX_MEMBERS = 50


def _bridge(row: tuple[Any, ...]) -> Bridge:
    bid, label, district, leader, pin_hash, max_members, ends, scope = row
    return Bridge(
        id=bid,
        label=label,
        district=district,
        leader_member_id=leader,
        has_pin=bool(pin_hash),
        max_members=int(max_members or 20),
        ends_with_leader=bool(ends),
        scope=scope,
    )


_COLUMNS = "id, label, district, leader_member_id, pin_hash, max_members, ends_with_leader, scope"
OWN_MAX_MEMBERS = 20  # a district's or team's bridge, as made (an admin may change it)


def pin_problems(pin: str, again: str | None = None) -> list[str]:
    """Why `pin` cannot be a bridge's PIN; `again`: the PIN typed a second time, if asked."""
    reasons = [] if valid_pin(pin) else ["a PIN is 4 to 8 digits"]
    if again is not None and again != pin:
        reasons.append("the PIN was not typed the same both times")
    return reasons


class BridgeError(ValueError):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class BridgeStore:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def get(self, bridge_id: int) -> Bridge | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM bridges WHERE id = ?", (bridge_id,)
        ).fetchone()
        return _bridge(row) if row else None

    def all(self) -> list[Bridge]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM bridges ORDER BY id").fetchall()
        return [_bridge(r) for r in rows]

    def codes(self, bridge: Bridge) -> list[str]:
        """The short codes that reach `bridge`: its own, or for a district's or team's bridge
        the codes every member dials for theirs."""
        if bridge.scope is not None:
            kind = DISTRICT_BRIDGE_KIND if bridge.scope == DISTRICT_SCOPE else TEAM_BRIDGE_KIND
            sql = "SELECT code FROM short_codes WHERE kind = ? ORDER BY code"
            return [r[0] for r in self.db.execute(sql, (kind,))]
        sql = (
            "SELECT s.code FROM short_codes s JOIN short_code_bridges b ON b.code = s.code "
            "WHERE s.kind = 'bridge' AND b.bridge_id = ? ORDER BY s.code"
        )
        return [r[0] for r in self.db.execute(sql, (bridge.id,))]

    def problems(self, label: str, district: str, pin: str | None, max_members: int) -> list[str]:
        """Why a bridge with these values cannot be added (empty when it can)."""
        reasons = []
        if not label.strip():
            reasons.append("the label is missing")
        known = self.db.execute("SELECT 1 FROM districts WHERE name = ?", (district,))
        if known.fetchone() is None:
            reasons.append(f"unknown district {district[:40]!r}")
        if pin is not None:
            reasons += pin_problems(pin)
        if not 2 <= max_members <= MAX_MEMBERS:
            reasons.append(f"the member limit is 2 to {MAX_MEMBERS}")
        return reasons

    def add(
        self,
        label: str,
        district: str,
        leader_member_id: int | None,
        pin: str | None,
        max_members: int,
        ends_with_leader: bool,
        actor: str,
    ) -> Bridge:
        reasons = self.problems(label, district, pin, max_members)
        if reasons:
            raise BridgeError(reasons)
        values = {
            "label": label.strip()[:60],
            "district": district,
            "leader_member_id": leader_member_id,
            "pin_hash": hash_pin(pin) if pin else None,
            "max_members": max_members,
            "ends_with_leader": 1 if ends_with_leader else 0,
            "created_at": audit.now(),
        }
        with writing(self.db):
            bridge_id = self.db["bridges"].insert(values).last_pk
            shown = {k: v for k, v in values.items() if k != "pin_hash"}
            shown["pin"] = bool(pin)
            audit.record(self.db, actor, "bridge.add", f"bridge:{bridge_id}", None, shown)
        found = self.get(int(bridge_id))
        assert found is not None
        return found

    def district_bridge(self, district: str) -> Bridge:
        """The district's own bridge (led by any supervisor of the district), made now if
        nobody dialed it before."""
        return self._own(DISTRICT_SCOPE, district, None, f"{district} district bridge")

    def team_bridge(self, supervisor: Member) -> Bridge:
        """The supervisor's own bridge for their team (they lead it), made now if nobody
        dialed it before."""
        label = f"{supervisor.name}'s team bridge"
        return self._own(TEAM_SCOPE, supervisor.district, supervisor.id, label)

    def _own(self, scope: str, district: str, leader: int | None, label: str) -> Bridge:
        """The bridge of `scope` for `district` (or for the supervisor `leader`). A call to
        110 or 111 only reads it; the write lock is taken only to make it, or to move a team
        bridge along with its supervisor (then it is read again under the lock)."""
        where = "scope = ? AND " + ("district = ?" if leader is None else "leader_member_id = ?")
        key = (scope, district if leader is None else leader)

        def current() -> Bridge | None:
            row = self.db.execute(f"SELECT {_COLUMNS} FROM bridges WHERE {where}", key).fetchone()
            return _bridge(row) if row else None

        found = current()
        if found is not None and found.district == district:
            return found
        with writing(self.db):
            found = current()
            if found is None:
                values = {
                    "label": label[:60],
                    "district": district,
                    "leader_member_id": leader,
                    "max_members": OWN_MAX_MEMBERS,
                    "ends_with_leader": 1,
                    "created_at": audit.now(),
                    "scope": scope,
                }
                bridge_id = int(self.db["bridges"].insert(values).last_pk)
                audit.record(self.db, "system", "bridge.add", f"bridge:{bridge_id}", None, values)
            elif found.district != district:
                # A supervisor who moved takes their team bridge along: its district's
                # admins keep it, and its district's members join it.
                bridge_id = found.id
                self.db.execute(
                    "UPDATE bridges SET district = ? WHERE id = ?", (district, bridge_id)
                )
                audit.record(
                    self.db,
                    "system",
                    "bridge.move",
                    f"bridge:{bridge_id}",
                    {"district": found.district},
                    {"district": district},
                )
            else:
                return found  # made or moved meanwhile by another caller
        made = self.get(bridge_id)
        assert made is not None
        return made

    def set_pin(self, bridge_id: int, pin: str | None, actor: str) -> Bridge:
        """Set (None: clear) the PIN of bridge `bridge_id`; audited as whether it has one,
        before and after (never the PIN). Returns the bridge as it was."""
        reasons = pin_problems(pin) if pin is not None else []
        with writing(self.db):
            before = self.get(bridge_id)
            if before is None:
                raise BridgeError([f"no bridge {bridge_id}", *reasons])
            if reasons:
                raise BridgeError(reasons)
            self.db["bridges"].update(bridge_id, {"pin_hash": hash_pin(pin) if pin else None})
            audit.record(
                self.db,
                actor,
                "bridge.pin",
                f"bridge:{bridge_id}",
                {"pin": before.has_pin},
                {"pin": bool(pin)},
            )
        return before

    # ------------------------------------------------------------------ PIN tries
    def pin_locked(self, member_id: int, at: datetime | None = None) -> bool:
        row = self.db.execute(
            "SELECT locked_until FROM bridge_pin_failures WHERE member_id = ?", (member_id,)
        ).fetchone()
        at = at or datetime.now(UTC)
        return bool(row and row[0] and datetime.fromisoformat(row[0]) > at)

    def check_pin(
        self, bridge_id: int, member_id: int, pin: str, attempts: int, lock_minutes: int
    ) -> bool | None:
        """True for the bridge's PIN, False for a wrong one (counted), None when the member
        is locked out (a wrong PIN that reaches `attempts` in a row locks them out)."""
        at = datetime.now(UTC)
        if self.pin_locked(member_id, at):
            return None
        row = self.db.execute("SELECT pin_hash FROM bridges WHERE id = ?", (bridge_id,)).fetchone()
        right = bool(row and row[0] and valid_pin(pin) and matches(pin, row[0]))
        with writing(self.db):
            if right:
                self.db.execute("DELETE FROM bridge_pin_failures WHERE member_id = ?", (member_id,))
                return True
            found = self.db.execute(
                "SELECT failures FROM bridge_pin_failures WHERE member_id = ?", (member_id,)
            ).fetchone()
            failures = (found[0] if found else 0) + 1
            locked = None
            if failures >= attempts:
                locked = (at + timedelta(minutes=lock_minutes)).isoformat(timespec="seconds")
                failures = 0
            self.db["bridge_pin_failures"].upsert(
                {"member_id": member_id, "failures": failures, "locked_until": locked},
                pk="member_id",
            )
        return None if locked else False
