"""The flash log: every "please call me" ring the trunk brought, and the call back it earned.

One row per flash, written when the flash ends, whatever became of it (a stranger's flash is
logged and ignored; a member's is called back): the rate limit, "already calling" and the
daily count of call backs are all read from here, so they hold across a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils

from directory.audit import now
from directory.transactions import writing

# A call back still counts as "calling" this long after it was placed at most (its retries
# included), whatever Asterisk said or did not say about it (a lost OriginateResponse must
# not block a member).
CALLING_GUARD = timedelta(minutes=5)


@dataclass(frozen=True)
class Flash:
    id: int
    received_at: str
    caller_id: str
    e164: str | None
    member_id: int | None
    outcome: str
    callback_outcome: str | None


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


class FlashLog:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def recent(self, caller_id: str, e164: str | None, seconds: int) -> int:
        """Flashes from this number (by E.164 when known, else as given) in the last seconds."""
        since = _iso(datetime.now(UTC) - timedelta(seconds=seconds))
        if e164:
            sql = "SELECT count(*) FROM flashes WHERE e164 = ? AND received_at >= ?"
            return self.db.execute(sql, (e164, since)).fetchone()[0]
        sql = (
            "SELECT count(*) FROM flashes WHERE e164 IS NULL AND caller_id = ? AND received_at >= ?"
        )
        return self.db.execute(sql, (caller_id, since)).fetchone()[0]

    def calling(self, member_id: int) -> bool:
        """A call back to this member is placed and Asterisk has not said how it ended."""
        since = _iso(datetime.now(UTC) - CALLING_GUARD)
        row = self.db.execute(
            "SELECT 1 FROM flashes WHERE member_id = ? AND outcome = 'called_back' "
            "AND callback_outcome IS NULL AND called_at >= ? LIMIT 1",
            (member_id, since),
        ).fetchone()
        return row is not None

    def record(
        self,
        caller_id: str,
        e164: str | None,
        member_id: int | None,
        outcome: str,
        received_at: str | None = None,
    ) -> int:
        with writing(self.db):
            row = {
                "received_at": received_at or now(),
                "caller_id": caller_id,
                "e164": e164,
                "member_id": member_id,
                "outcome": outcome,
                "called_at": now() if outcome == "called_back" else None,
            }
            return self.db["flashes"].insert(row).last_pk

    def callback_ended(self, flash_id: int, outcome: str, tries: int | None = 1) -> bool:
        """How Asterisk's call back went (answered, no_answer, busy, failed...) on its
        `tries`-th try; False when the flash is unknown or its outcome was already written
        (an outcome `unknown`, for want of Asterisk's word, gives way to the word itself)."""
        with writing(self.db):
            cursor = self.db.execute(
                "UPDATE flashes SET callback_outcome = ?, answered_at = ?, "
                "callback_tries = coalesce(?, callback_tries) "
                "WHERE id = ? AND outcome = 'called_back' "
                "AND (callback_outcome IS NULL OR callback_outcome = 'unknown')",
                (outcome, now() if outcome == "answered" else None, tries, flash_id),
            )
            return cursor.rowcount == 1

    def left_open(self) -> list[int]:
        """Call backs placed longer ago than CALLING_GUARD that nobody said the end of (the
        service restarted while one was placed, or before its next try)."""
        before = _iso(datetime.now(UTC) - CALLING_GUARD)
        rows = self.db.execute(
            "SELECT id FROM flashes WHERE outcome = 'called_back' AND callback_outcome IS NULL "
            "AND called_at < ? ORDER BY id LIMIT 500",
            (before,),
        )
        return [r[0] for r in rows]

    def get(self, flash_id: int) -> Flash | None:
        row = self.db.execute(
            "SELECT id, received_at, caller_id, e164, member_id, outcome, callback_outcome "
            "FROM flashes WHERE id = ?",
            (flash_id,),
        ).fetchone()
        return Flash(*row) if row else None

    def answered_member(self, flash_id: int, within: timedelta) -> int | None:
        """The member a call back that was answered reached, if it was placed within `within`
        (what the dialplan's call back asks the routing service for, with the flash's id)."""
        since = _iso(datetime.now(UTC) - within)
        row = self.db.execute(
            "SELECT member_id FROM flashes WHERE id = ? AND outcome = 'called_back' "
            "AND called_at >= ?",
            (flash_id, since),
        ).fetchone()
        return row[0] if row else None

    def latest(self, limit: int = 20) -> list[Flash]:
        rows = self.db.execute(
            "SELECT id, received_at, caller_id, e164, member_id, outcome, callback_outcome "
            "FROM flashes ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [Flash(*row) for row in rows]
