"""Follow-up reminders: when a case's follow-up date passes with no contact on the case, the
assigned worker's phone rings and says which case (AMI Originate into cug-reminder).

One reminder per case and follow-up date; the reminder is itself a contact on the case, with
how it ended (answered, or why not), so the record shows that the system chased it.
"""

from __future__ import annotations

import asyncio
import logging

import sqlite_utils

from agi.ami import FAILED_ORIGINATE, AmiLink, originate
from agi.contact_log import ContactLog, reminder_contact
from agi.variables import CONTEXT_REMINDER
from directory.audit import now
from directory.transactions import writing

log = logging.getLogger(__name__)

RING_MS = 30000
# Asterisk's Reason in OriginateResponse: what happened to a reminder that was not answered.
_REASON = {"0": "unavailable", "1": "failed", "3": "no_answer", "5": "busy", "8": "failed"}

_DUE = """
SELECT c.id, c.follow_up_due, m.id, m.extension FROM cases c
  JOIN members m ON m.id = c.assigned_member_id
 WHERE c.status != 'closed' AND c.follow_up_due IS NOT NULL AND c.follow_up_due <= ?
   AND m.active = 1
   AND NOT EXISTS (SELECT 1 FROM contacts k
                    WHERE k.case_id = c.id AND k.placed_at >= c.follow_up_due)
   AND NOT EXISTS (SELECT 1 FROM reminders r WHERE r.case_id = c.id AND r.due = c.follow_up_due)
 ORDER BY c.follow_up_due LIMIT 20
"""


class Reminders:
    def __init__(
        self,
        db: sqlite_utils.Database,
        ami: AmiLink,
        contacts: ContactLog,
        ring_seconds: int = RING_MS // 1000,
    ) -> None:
        self.ring_ms = ring_seconds * 1000
        self.db = db
        self.ami = ami
        self.contacts = contacts
        self.placed = 0
        self._calls: set[asyncio.Task[None]] = set()

    def due(self, at: str | None = None) -> list[tuple[int, str, int, str]]:
        return [tuple(r) for r in self.db.execute(_DUE, (at or now(),)).fetchall()]

    async def check(self) -> int:
        """Place the reminders that are due now; returns how many were placed."""
        if not self.ami.up:
            return 0
        placed = 0
        for case_id, due, member_id, extension in self.due():
            with writing(self.db):
                self.db["reminders"].insert(
                    {"case_id": case_id, "due": due, "member_id": member_id, "originated_at": now()}
                )
                reminder_id = self.db.execute("SELECT last_insert_rowid()").fetchone()[0]
            task = asyncio.create_task(self._originate(reminder_id, case_id, member_id, extension))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
            placed += 1
        self.placed += placed
        return placed

    async def _originate(self, reminder_id: int, case_id: int, member_id: int, ext: str) -> None:
        action = {
            "Action": "Originate",
            "Channel": f"PJSIP/{ext}",
            "Context": CONTEXT_REMINDER,
            "Exten": "s",
            "Priority": "1",
            "CallerID": '"CUG follow-up" <100>',
            "Timeout": str(self.ring_ms),
            "Async": "true",
            "Variable": f"CUG_CASE={case_id},CUG_REMINDER={reminder_id}",
            "ActionID": f"cug-reminder-{reminder_id}",
        }
        log.info("follow-up reminder %d: case %d, calling %s", reminder_id, case_id, ext)
        # The answer is Asterisk's OriginateResponse once the phone answered or not.
        answer = await originate(self.ami, action, self.ring_ms / 1000)
        if answer is FAILED_ORIGINATE:
            self._record(reminder_id, case_id, member_id, "failed")
        elif answer:
            self.on_originate_response(answer)

    def on_originate_response(self, event: dict[str, str]) -> None:
        """Asterisk's word on a reminder: answered (Success) or why not (Reason)."""
        action_id = event.get("ActionID", "")
        if not action_id.startswith("cug-reminder-"):
            return
        try:
            reminder_id = int(action_id.removeprefix("cug-reminder-"))
        except ValueError:
            return
        row = self.db.execute(
            "SELECT case_id, member_id FROM reminders WHERE id = ?", (reminder_id,)
        ).fetchone()
        if row is None:
            return
        success = event.get("Response") == "Success"
        outcome = "answered" if success else _REASON.get(event.get("Reason", ""), "failed")
        self._record(reminder_id, row[0], row[1], outcome)

    def _record(self, reminder_id: int, case_id: int, member_id: int, outcome: str) -> None:
        with writing(self.db):
            self.db["reminders"].update(reminder_id, {"outcome": outcome})
            self.contacts.write_rows(
                [
                    reminder_contact(
                        reminder_id,
                        case_id=case_id,
                        member_id=member_id,
                        outcome=outcome,
                        placed_at=self._originated_at(reminder_id),
                    )
                ]
            )

    def _originated_at(self, reminder_id: int) -> str | None:
        row = self.db.execute(
            "SELECT originated_at FROM reminders WHERE id = ?", (reminder_id,)
        ).fetchone()
        return row[0] if row else None

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("follow-up reminders failed; will retry")
            await asyncio.sleep(interval)
