""" "Please call me" on the Asterisk side: a flash ends, the service decides, Asterisk calls
the member back (AMI Originate over the trunk) and hands them the CUG prompt.

The flash itself is never answered (dialplan cug-flash): when it ends, the dialplan asks
FastAGI `flash-ended`, which writes the flash to the log with what became of it and, for a
member, places the call back. The member's mobile answers into cug-callback, which reads the
digits they dial and asks FastAGI `callback-call` with the flash's id: the call is then
routed as the member's own, with the same routing, escalation and contact log as a call from
their SIP phone. The call back itself is a contact (kind `callback`) with how it ended.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import sqlite_utils

from agi.ami import FAILED_ORIGINATE, NOT_KNOWN, AmiLink, originate
from agi.aor_status import aor_status
from agi.call_routing import CallRoutes
from agi.contact_log import ContactLog, system_contact
from agi.cost_notices import CostGuard
from agi.fastagi import AgiCall
from agi.variables import CONTEXT_CALLBACK, TRUNK_ENDPOINT
from directory.audit import now
from directory.flashes import FlashLog
from directory.lookup import Directory
from routing.callbacks import (
    CallbackOutcome,
    CallbackPolicy,
    FlashFacts,
    FlashOutcome,
    caller_of,
    decide_flash,
    retry_after,
)

log = logging.getLogger(__name__)

ACTION_PREFIX = "cug-callback-"
# Asterisk's Reason in OriginateResponse: how a call back that was not answered ended.
# Reason 1 is a hang-up before the answer: the member refused it (or their network did).
_REASON = {"0": "unavailable", "1": "declined", "3": "no_answer", "5": "busy", "8": "congested"}
# How long after it was placed a call back may still be routed (the member is on the line).
ROUTABLE_FOR = timedelta(minutes=30)


class Callbacks:
    """FastAGI routes `flash-ended` and `callback-call`, and the call backs they place."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        directory: Directory,
        ami: AmiLink,
        routes: CallRoutes,
        contacts: ContactLog,
        policy: CallbackPolicy,
        costs: CostGuard,
        cug_number: str,
    ) -> None:
        self.db = db
        self.directory = directory
        self.ami = ami
        self.routes = routes
        self.contacts = contacts
        self.policy = policy
        self.costs = costs
        self.cug_number = cug_number
        self.flashes = FlashLog(db)
        self.placed = 0
        self._calls: set[asyncio.Task[None]] = set()
        # Call backs being placed: the flash's id, its member and number, and the try's
        # number (1, then one more for each time the trunk could not place it).
        self._placing: dict[int, tuple[int, str, int]] = {}
        self._unlogged = 0  # a flood's flashes beyond what the log keeps

    async def flash_ended(self, call: AgiCall) -> None:
        """A ring to the callback number ended unanswered: call the member back, or log why
        not. The caller ID is the network's (the dialplan let only digits, + and letters in)."""
        caller = caller_of(call.headers.get("agi_callerid", ""))
        member = self.directory.member_by_phone(caller.e164) if caller.e164 else None
        recent = self.flashes.recent(caller.raw, caller.e164, self.policy.window_seconds)
        facts = FlashFacts(
            recent=recent,
            calling=member is not None and self.flashes.calling(member.id),
            within_cap=member is None or self.costs.allowed(member.id, "callback"),
        )
        outcome = decide_flash(caller, member, facts, self.policy)
        if outcome is FlashOutcome.CALL_BACK and not self.ami.up:
            outcome = FlashOutcome.NO_LINK
        if outcome is FlashOutcome.TOO_MANY and recent >= 2 * self.policy.per_window:
            # A flood: the log keeps a window's worth; the rest is only counted.
            self._unlogged += 1
            log.debug("flash flood from %r: %d not logged", caller.raw, self._unlogged)
            return
        member_id = member.id if member is not None else None
        flash_id = self.flashes.record(caller.raw, caller.e164, member_id, outcome.value)
        log.info(
            "flash %d from %r (%s): %s",
            flash_id,
            caller.raw,
            member.extension if member is not None else "no member",
            outcome.value,
        )
        if outcome is FlashOutcome.CAP_REACHED and member is not None:
            # The member and their supervisor are told (once a day), not left wondering.
            self.costs.notify_cap_reached(member.id, "callback")
        if outcome is FlashOutcome.CALL_BACK and member is not None:
            self.costs.record(member.id, "callback", 1, f"flash:{flash_id}")
            self._place(flash_id, member.id, member.phone, 1, self.policy.delay_ms / 1000)

    def _place(self, flash_id: int, member_id: int, number: str, tries: int, after: float) -> None:
        self._placing[flash_id] = (member_id, number, tries)
        task = asyncio.create_task(self._call_back(flash_id, after))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _call_back(self, flash_id: int, after: float) -> None:
        await asyncio.sleep(after)
        member_id, number, tries = self._placing[flash_id]
        ring_ms = self.policy.ring_seconds * 1000
        action = {
            "Action": "Originate",
            "Channel": f"PJSIP/{number}@{TRUNK_ENDPOINT}",
            "Context": CONTEXT_CALLBACK,
            "Exten": "s",
            "Priority": "1",
            "CallerID": f'"CUG" <{self.cug_number}>',
            "Timeout": str(ring_ms),
            "Async": "true",
            "Variable": f"CUG_CALLBACK={flash_id},CUG_CALLBACK_NUMBER={number}",
            "ActionID": f"{ACTION_PREFIX}{flash_id}-{tries}",
        }
        self.placed += 1
        log.info("call back %d: calling member %d (try %d)", flash_id, member_id, tries)
        # No word in time: it may be ringing or answered, so it is not placed again.
        answer = await originate(self.ami, action, ring_ms / 1000, lost=NOT_KNOWN)
        if answer is FAILED_ORIGINATE:
            self._told(flash_id, tries, CallbackOutcome.FAILED)
        elif answer is NOT_KNOWN:
            self._told(flash_id, tries, CallbackOutcome.UNKNOWN)
        elif answer:
            self.on_originate_response(answer)

    def on_originate_response(self, event: dict[str, str]) -> None:
        """Asterisk's word on a call back: answered (Success), or why not (Reason)."""
        action_id = event.get("ActionID", "")
        if not action_id.startswith(ACTION_PREFIX):
            return
        flash, _, tries = action_id.removeprefix(ACTION_PREFIX).partition("-")
        if not flash.isdigit() or not (tries or "1").isdigit():
            return
        if event.get("Response") == "Success":
            outcome = CallbackOutcome.ANSWERED
        else:
            outcome = CallbackOutcome(_REASON.get(event.get("Reason", ""), "failed"))
        self._told(int(flash), int(tries or "1"), outcome)

    def _told(self, flash_id: int, tries: int, outcome: CallbackOutcome) -> None:
        """How one try ended (told once by the Originate's reply, maybe again by the event):
        the trunk's fault is tried again while tries are left, anything else is the end."""
        placing = self._placing.get(flash_id)
        if placing is not None and placing[2] != tries:
            return  # an earlier try, told again: its retry is already on its way
        wait = retry_after(outcome, tries, self.policy)
        if placing is not None and wait is not None:
            member_id, number, _ = placing
            self._placing[flash_id] = (member_id, number, tries + 1)  # told twice: one retry
            task = asyncio.create_task(self._retry(flash_id, tries, outcome, wait))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
            return
        self._placing.pop(flash_id, None)
        self._ended(flash_id, outcome, tries)

    async def _retry(self, flash_id: int, tries: int, outcome: CallbackOutcome, wait: int) -> None:
        """Place try `tries` + 1 after `wait`, unless the trunk's qualify status says the
        refusal was the member's (routing/callbacks.py retry_after)."""
        if outcome is CallbackOutcome.UNAVAILABLE:
            reachable = await aor_status(self.ami, TRUNK_ENDPOINT) == "Reachable"
            if retry_after(outcome, tries, self.policy, trunk_reachable=reachable) is None:
                log.info("call back %d: refused beyond the trunk on try %d", flash_id, tries)
                self._placing.pop(flash_id, None)
                self._ended(flash_id, outcome, tries)
                return
        log.warning(
            "call back %d: %s on try %d; trying again in %d s",
            flash_id,
            outcome.value,
            tries,
            wait,
        )
        await self._call_back(flash_id, wait)

    def close_left_open(self) -> int:
        """End the call backs nobody said the end of (the service restarted while one rang,
        or before its next try): `unknown`, with a contact, so that no flash stays open.
        Asterisk's word, if it comes later, still replaces it."""
        left = [f for f in self.flashes.left_open() if f not in self._placing]
        for flash_id in left:
            self._ended(flash_id, CallbackOutcome.UNKNOWN, None)
        return len(left)

    def _ended(self, flash_id: int, outcome: CallbackOutcome, tries: int | None) -> None:
        if not self.flashes.callback_ended(flash_id, outcome.value, tries):
            return  # told twice (the reply and the event): the first one counts
        flash = self.flashes.get(flash_id)
        if flash is None:
            return
        log.info("call back %d: %s (try %s)", flash_id, outcome.value, tries or "?")
        self.contacts.write_rows(
            [
                system_contact(
                    "callback",
                    flash_id,
                    member_id=flash.member_id,
                    callee_number=flash.e164 or "",
                    outcome=outcome.value,
                    placed_at=flash.received_at,
                    answered_at=now() if outcome is CallbackOutcome.ANSWERED else None,
                )
            ]
        )

    async def callback_call(self, call: AgiCall) -> None:
        """A member on a call back dialed: arg 1 the flash's id, arg 2 what they dialed."""
        flash = call.arg(1)
        member_id = (
            self.flashes.answered_member(int(flash), ROUTABLE_FOR) if flash.isdigit() else None
        )
        member = self.directory.member(member_id) if member_id is not None else None
        await self.routes.route(call, member, call.arg(2), f"call back {flash[:12]!r}")
