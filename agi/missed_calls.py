"""Settling escalated calls once they are over: who took them, and the missed-call notices.

Runs in the service beside the contact log, every second. An escalated call is settled a
few seconds after its caller's CDRs were stored (they arrive when the caller hangs up), so
every leg's contact is in by then. Settling is idempotent (one notice per call, person and
kind), so a restart or a second pass changes nothing. Notices are kept in `call_notices`
and logged; they go out as texts once the SMS relay exists.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from directory.audit import now
from directory.transactions import writing
from routing.missed_calls import Notice, NoticeKind, Rung, settle

log = logging.getLogger(__name__)

SETTLE_AFTER = timedelta(seconds=3)
# Who hears about a call nobody took, besides its caller's supervisor.
DISTRICT_ROLES = ("probation", "dac")


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


class MissedCalls:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def _name(self, member_id: int | None) -> str:
        if member_id is None:
            return "an unknown caller"
        row = self.db.execute(
            "SELECT name, extension FROM members WHERE id = ?", (member_id,)
        ).fetchone()
        return f"{row[0]} ({row[1]})" if row else f"member {member_id}"

    def _escalate_to(self, caller_id: int | None, district: str | None) -> list[int]:
        ids: list[int] = []
        if caller_id is not None:
            row = self.db.execute(
                "SELECT s.id FROM members m JOIN members s ON s.id = m.supervisor_id "
                "WHERE m.id = ? AND s.active = 1",
                (caller_id,),
            ).fetchone()
            if row:
                ids.append(row[0])
        if district:
            marks = ", ".join("?" * len(DISTRICT_ROLES))
            ids += [
                r[0]
                for r in self.db.execute(
                    f"SELECT id FROM members WHERE district = ? AND role IN ({marks}) "
                    "AND active = 1 ORDER BY role, id",
                    (district, *DISTRICT_ROLES),
                )
            ]
        return ids

    def _text(self, notice: Notice, esc: dict[str, Any], taken_by: int | None) -> str:
        caller = self._name(esc["caller_member_id"])
        case = f" about case {esc['case_id']}" if esc["case_id"] else ""
        if notice.kind is NoticeKind.TAKEN_BY_COLLEAGUE:
            return f"Escalated call from {caller}{case} was taken by {self._name(taken_by)}."
        if notice.kind is NoticeKind.MISSED:
            outcome = f"taken by {self._name(taken_by)}" if taken_by else "nobody took it"
            return f"Missed escalated call from {caller}{case}: {outcome}."
        return (
            f"Nobody took an escalated call from {caller}{case} "
            f"({esc['started_at'][:16]}): please call them back."
        )

    def due(self, at: datetime | None = None) -> list[dict[str, Any]]:
        cutoff = ((at or datetime.now(UTC)) - SETTLE_AFTER).isoformat(timespec="milliseconds")
        return [
            dict(r)
            for r in self.db.query(
                "SELECT * FROM escalations WHERE settled_at IS NULL AND seen_at <= ? "
                "ORDER BY seen_at LIMIT 500",
                [cutoff],
            )
        ]

    def settle_one(self, esc: dict[str, Any]) -> int:
        """Settle one escalated call; returns how many notices it made."""
        linkedid = esc["linkedid"]
        contacts = list(
            self.db.query(
                "SELECT callee_member_id, step, outcome, answered_at, placed_at, ended_at, "
                "case_id FROM contacts WHERE linkedid = ? AND step IS NOT NULL",
                [linkedid],
            )
        )
        rung = [
            Rung(c["callee_member_id"], c["step"], c["outcome"] or "", c["answered_at"])
            for c in contacts
            if c["callee_member_id"] is not None
        ]
        result = settle(
            rung,
            esc["caller_member_id"],
            bool(esc["exhausted"]),
            self._escalate_to(esc["caller_member_id"], esc["district"]),
        )
        case_id = next((c["case_id"] for c in contacts if c["case_id"]), None)
        esc = {**esc, "case_id": case_id}
        taken_by = result.taken_by.member_id if result.taken_by else None
        ended = max((c["ended_at"] or "" for c in contacts), default="") or None
        waited_until = result.taken_by.answered_at if result.taken_by else ended
        stamp = now()
        with writing(self.db):
            flagged = self.db.execute(
                "SELECT 1 FROM call_notices WHERE linkedid = ? AND kind = ?",
                (linkedid, NoticeKind.CHAIN_EXHAUSTED.value),
            ).fetchone()
            for notice in result.notices:
                self.db.execute(
                    "INSERT OR IGNORE INTO call_notices (linkedid, member_id, kind, "
                    "caller_member_id, case_id, taken_by_member_id, text, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        linkedid,
                        notice.member_id,
                        notice.kind.value,
                        esc["caller_member_id"],
                        case_id,
                        taken_by,
                        self._text(notice, esc, taken_by),
                        stamp,
                    ),
                )
            if taken_by is None and esc["exhausted"] and case_id is not None and not flagged:
                self.db["case_events"].insert(
                    {
                        "case_id": case_id,
                        "at": stamp,
                        "actor": "system",
                        "action": "escalation_exhausted",
                        "detail": "nobody took an escalated call from "
                        + self._name(esc["caller_member_id"]),
                    }
                )
            self.db["escalations"].update(
                linkedid,
                {
                    "taken_by_member_id": taken_by,
                    "taken_step": result.taken_by.step if result.taken_by else None,
                    "reached_step": max((r.step for r in rung), default=None),
                    "waited_seconds": _seconds_between(esc["started_at"], waited_until),
                    "case_id": case_id,
                    "settled_at": stamp,
                },
            )
        for notice in result.notices:
            log.info(
                "notice to member %d (%s) for call %s",
                notice.member_id,
                notice.kind.value,
                linkedid,
            )
        return len(result.notices)

    def settle_plain(self, at: datetime | None = None) -> int:
        """Settle, in one statement, the due calls that never left the callee's step (most
        calls: the callee took it, or the caller hung up while it rang). No notices."""
        cutoff = ((at or datetime.now(UTC)) - SETTLE_AFTER).isoformat(timespec="milliseconds")
        cursor = self.db.execute(
            "UPDATE escalations SET settled_at = :now, reached_step = 1, "
            "taken_step = CASE WHEN taken.callee_member_id IS NULL THEN NULL ELSE 1 END, "
            "taken_by_member_id = taken.callee_member_id "
            "FROM (SELECT e.linkedid AS linkedid, (SELECT k.callee_member_id FROM contacts k "
            "      WHERE k.linkedid = e.linkedid AND k.step = 1 AND k.outcome = 'answered' "
            "      LIMIT 1) AS callee_member_id "
            "      FROM escalations e WHERE e.settled_at IS NULL AND e.seen_at <= :cutoff "
            "      AND e.exhausted = 0 AND NOT EXISTS (SELECT 1 FROM contacts k "
            "      WHERE k.linkedid = e.linkedid AND k.step > 1)) AS taken "
            "WHERE escalations.linkedid = taken.linkedid",
            {"now": now(), "cutoff": cutoff},
        )
        return cursor.rowcount

    def settle_due(self, at: datetime | None = None) -> int:
        """Settle every call that is due, in one transaction (one disk sync, not one each);
        returns how many notices were made. With nothing due it only reads: a write
        transaction every second would keep other writers (admins, the CLI) waiting."""
        if not self.due(at):
            return 0
        with writing(self.db):
            self.settle_plain(at)
            return sum(self.settle_one(esc) for esc in self.due(at))
