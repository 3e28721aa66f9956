"""Delivering stored texts: to members' registered phones over AMI MessageSend, else by SMS.

One asyncio task in the service. It is woken when a text is stored and when a member's phone
registers (agi/phone_presence.py: AMI SuccessfulAuth; ContactStatus too where Asterisk sends
it), and looks over the whole queue now and then for retries and for phones that vanished.
Per recipient, texts go out oldest first, one at a time, and are marked delivered in small
batches (one disk sync per batch), so a restart loses no text; a service killed mid-batch
sends that batch's texts again.

What "delivered" means: Asterisk's MessageSend fails at once when the member has no
reachable phone (no registration, or the phone stopped answering Asterisk's qualify), so a
text is marked delivered when Asterisk handed it to a phone that was registered and
answering. A member with no phone reachable for `sms_after_seconds` gets it by SMS on their
mobile through the configured gateway (sms_gateway/), when there is one; the answers to a
text that came by SMS go to the sender's mobile by SMS at once. Every SMS counts against
the member's daily cap (agi/cost_notices.py): past it, their SMS wait for the next day.

The same task expires texts nobody could be reached for in time, sends each sender the
notice their text is owed (delivered after waiting, expired, failed), sends missed-call
notices (agi/missed_calls.py) as texts, and purges old bodies.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from agi.ami import AmiLink
from agi.cost_notices import CostGuard
from agi.phone_presence import SUSPECT_WINDOW, PhonePresence
from directory.audit import now
from directory.spending import SMS
from directory.text_lookups import TextLookups
from directory.texts import ALERT, EXPIRED, FAILED, NOTICE, Pending, TextStore
from directory.transactions import writing
from routing.costs import CostPolicy, next_local_midnight
from routing.text_replies import Outcome, outcome_text, queued_text
from routing.texts import TextPolicy
from sms_gateway.encoding import segments
from sms_gateway.gateway import SmsGateway

log = logging.getLogger(__name__)

PENDING_BATCH = 50  # texts read from the queue at a time
DELIVERED_BATCH = 10  # texts marked delivered per transaction
SCAN_INTERVAL = 5.0  # seconds between looks at the whole queue (retries, SMS, expiry)
RETRY_AFTER = timedelta(seconds=60)  # an unreachable member is tried again (or when they register)
PURGE_INTERVAL = 3600.0
NOTICES_WITHIN = timedelta(days=1)  # older missed-call notices (from before the relay) stay unsent
SYSTEM_NAME = "CUG"
_REACHABLE = {"Created", "Reachable", "Updated"}


def display_name(name: str) -> str:
    """A member's name as a SIP display name: printable, no quote, bracket or backslash."""
    cleaned = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>\\')
    return cleaned.strip()[:40] or "Member"


class TextDelivery:
    def __init__(
        self,
        db: sqlite_utils.Database,
        ami: AmiLink,
        policy: TextPolicy,
        gateway: SmsGateway | None = None,
        costs: CostPolicy | None = None,
        suspect_window: timedelta | None = SUSPECT_WINDOW,
    ) -> None:
        self.db = db
        self.store = TextStore(db)
        self.lookups = TextLookups(db)
        self.costs = CostGuard(db, costs or CostPolicy(), self.notify)
        self.ami = ami
        self.policy = policy
        self.gateway = gateway
        self._wanted: set[int] = set()
        self._wake = asyncio.Event()
        self._last_scan = 0.0
        self._last_purge = 0.0
        self._sms_due = False  # an SMS meant to go at once was stored
        self.presence = PhonePresence(
            ami,
            self.store.waiting_member,
            self.wake,
            self.store.requeue_recent,
            window=suspect_window,
        )
        # Texts handed over lately, before a restart, are watched as if this process had
        # (those whose look fell while the service was down are looked at now).
        if suspect_window is not None:
            since = datetime.now(UTC) - 2 * suspect_window
            self.presence.resume(self.store.handed_since(since))
        self.delivered_sip = 0
        self.delivered_sms = 0

    # ------------------------------------------------------------------ what wakes it
    def wake(self, member_id: int) -> None:
        """A text for `member_id` was stored (or their phone is back): try them now."""
        self._wanted.add(member_id)
        self._wake.set()

    def on_contact_status(self, event: dict[str, str]) -> None:
        """AMI ContactStatus, where Asterisk sends it for members (not with the shipped
        sorcery.conf; agi/phone_presence.py stands in): a member's phone registered or
        answers again (texts waiting go out), or stopped answering Asterisk's qualify (texts
        handed to it lately may never have arrived: they go out again)."""
        status = event.get("ContactStatus")
        extension = event.get("AOR") or event.get("EndpointName") or ""
        member_id = self.lookups.active_id(extension)
        if member_id is None:
            return
        if status in _REACHABLE:
            self.wake(member_id)
        elif status == "Unreachable":
            window = self.presence.window or SUSPECT_WINDOW
            again = self.store.requeue_recent(member_id, datetime.now(UTC) - window)
            if again:
                log.warning("member %s stopped answering: %d texts queued again", extension, again)

    def on_login(self) -> Any:
        async def everyone() -> None:  # Asterisk (re)started: phones registered meanwhile
            self._wanted.update(self.store.recipients_waiting())
            self._wake.set()

        return everyone

    # ------------------------------------------------------------------ texts from the system
    def notify(
        self,
        member_id: int,
        body: str,
        kind: str = NOTICE,
        *,
        by_sms: bool = False,
        cost_exempt: bool = False,
    ) -> None:
        """A text from the system to one member (a notice, an answer), delivered like any;
        `by_sms`: to their mobile at once (they texted from it); `cost_exempt`: the daily
        SMS cap does not hold it back."""
        self.store.store(
            kind=kind,
            sender_id=None,
            addressed=self.policy.service_number,
            body=body,
            recipients=[member_id],
            expires_at=datetime.now(UTC) + timedelta(hours=self.policy.expiry_hours),
            by_sms=by_sms,
            cost_exempt=cost_exempt,
        )
        if by_sms:
            self._sms_due = True
            self._wake.set()
        else:
            self.wake(member_id)

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=SCAN_INTERVAL)
            self._wake.clear()
            try:
                await self.pass_once()
            except Exception:
                log.exception("text delivery pass failed; will retry")
                await asyncio.sleep(1)

    async def pass_once(self) -> None:
        wanted, self._wanted = self._wanted, set()
        scan = time.monotonic() - self._last_scan >= SCAN_INTERVAL
        if scan:
            self._last_scan = time.monotonic()
            wanted |= set(self.store.due_recipients())
        waiting: dict[int, list[str]] = defaultdict(list)  # text id -> who could not be reached
        for member_id in sorted(wanted):
            await self._deliver_to(member_id, waiting)
        self._tell_waiting(waiting)
        if scan or self._sms_due:
            self._sms_due = False
            await self._by_sms()
        if scan:
            await self.presence.check_due()
            self.store.expire_due()
            self._send_outcomes()
            self._send_call_notices()
            if time.monotonic() - self._last_purge >= PURGE_INTERVAL:
                self._last_purge = time.monotonic()
                purged = self.store.purge_bodies(timedelta(days=self.policy.retention_days))
                if purged:
                    log.info("purged the bodies of %d texts", purged)

    # ------------------------------------------------------------------ over SIP
    def _message(self, text: Pending) -> tuple[str, str]:
        """(From, body) of the MESSAGE the recipient's phone gets."""
        if text.sender_extension is None:
            sender = f'"{SYSTEM_NAME}" <sip:{self.policy.service_number}@cug>'
        else:
            sender = f'"{display_name(text.sender_name or "")}" <sip:{text.sender_extension}@cug>'
        body = f"(to {text.team}) {text.body}" if text.team else text.body
        return sender, body

    async def _send_sip(self, text: Pending) -> str:
        """'' when Asterisk took the text for a reachable phone, else why not."""
        sender, body = self._message(text)
        try:
            reply = await self.ami.action(
                {
                    "Action": "MessageSend",
                    "Destination": f"pjsip:{text.recipient_extension}",
                    "From": sender,
                    "Base64Body": base64.b64encode(body.encode()).decode("ascii"),
                }
            )
        except (ConnectionError, TimeoutError) as exc:
            return f"AMI: {exc or type(exc).__name__}"
        if getattr(reply, "success", False):
            return ""
        return str(getattr(reply, "message", "") or reply)[:100] or "not reachable"

    async def _deliver_to(self, member_id: int, waiting: dict[int, list[str]]) -> None:
        """Send the member's queued texts in order until none is left or their phone does
        not take one. Deliveries are marked in batches of DELIVERED_BATCH (one disk sync
        each): a service killed mid-batch sends those again, it loses none."""
        if not self.ami.up:
            return  # our link to Asterisk is down, not their phone: nobody is told anything
        if not self.lookups.is_active(member_id):
            for text in self.store.pending_for(member_id, 10_000):
                self.store.fail(text.delivery_id, FAILED, "no longer a member")
            return
        done: list[int] = []
        extension = ""  # set once a text was handed to their phone
        try:
            while True:
                self._flush(done)  # before reading the queue again: nothing is sent twice
                batch = self.store.pending_for(member_id, PENDING_BATCH)
                for text in batch:
                    if text.body is None:
                        self.store.fail(text.delivery_id, FAILED, "body purged")
                        continue
                    error = await self._send_sip(text)
                    if error:
                        self._flush(done)
                        self._hold(member_id, error, waiting)
                        return
                    done.append(text.delivery_id)
                    extension = text.recipient_extension
                    if len(done) >= DELIVERED_BATCH:
                        self._flush(done)
                if len(batch) < PENDING_BATCH:
                    return
        finally:
            self._flush(done)
            if extension:
                self.presence.handed(member_id, extension)

    def _flush(self, done: list[int]) -> None:
        if done:
            self.store.delivered(list(done), "sip")
            self.delivered_sip += len(done)
            done.clear()

    def _hold(self, member_id: int, error: str, waiting: dict[int, list[str]]) -> None:
        """Not reachable: all the member's texts wait, their order kept; the senders of
        texts tried for the first time are told."""
        for text_id in self.store.hold(member_id, error, datetime.now(UTC) + RETRY_AFTER):
            waiting[text_id].append(self.lookups.label(member_id))
        log.info("member %d not reachable (%s): texts wait", member_id, error)

    def _tell_waiting(self, waiting: dict[int, list[str]]) -> None:
        for text_id, names in waiting.items():
            sender = self.store.sender_of(text_id)
            if sender is not None:
                self.notify(sender, queued_text(names, self.policy.expiry_hours))

    # ------------------------------------------------------------------ by SMS
    async def _by_sms(self) -> None:
        if self.gateway is None:
            return
        older = datetime.now(UTC) - timedelta(seconds=self.policy.sms_after_seconds)
        for text in self.store.due_by_mobile(older):
            if not text.recipient_mobile or text.body is None:
                continue
            body = self._sms_body(text)
            parts = segments(body).parts
            if not text.cost_exempt and not self.costs.allowed(text.recipient_id, SMS, parts):
                self._wait_for_tomorrow(text)
                continue
            result = await self.gateway.send(
                text.recipient_mobile, body, reference=f"cug-{text.delivery_id}"
            )
            if result.accepted:
                with writing(self.db):  # sent and counted together
                    self.store.delivered([text.delivery_id], "sms")
                    self.costs.record(text.recipient_id, SMS, parts, f"delivery:{text.delivery_id}")
                self.delivered_sms += 1
            elif result.retry_later:
                retry = datetime.now(UTC) + timedelta(seconds=self.policy.sms_retry_seconds)
                self.store.retry_later(
                    text.delivery_id,
                    f"sms: {result.reason}",
                    retry,
                    notify=text.sender_id is not None,
                )
                log.warning("SMS gateway: %s; SMS wait for the next look", result.reason)
                return  # the gateway is down: the rest would only wait for its timeout too
            else:
                # Refused for good (a number or length it will not take): the text waits
                # for the member's phone until it expires; it is not lost.
                self.store.sms_refused(text.delivery_id, result.reason)

    def _sms_body(self, text: Pending) -> str:
        """What the member's mobile shows: a member's text names its sender."""
        if not text.sender_extension:
            return text.body
        who = display_name(text.sender_name or "")
        team = f"(to {text.team}) " if text.team else ""
        return f"CUG from {who} ({text.sender_extension}): {team}{text.body}"

    def _wait_for_tomorrow(self, text: Pending) -> None:
        """The member reached today's SMS cap: this SMS waits for the next local day (it
        still goes to their SIP phone if it comes back); they and their supervisor are told
        once."""
        tomorrow = next_local_midnight(datetime.now(UTC), self.costs.policy.timezone)
        self.store.retry_later(text.delivery_id, "sms: daily cap reached", tomorrow, notify=False)
        self.costs.notify_cap_reached(text.recipient_id, SMS)

    # ------------------------------------------------------------------ notices
    def _send_outcomes(self) -> None:
        for items in self.store.to_notify():
            first = items[0]
            if first.sender_id is not None:
                outcomes = [
                    Outcome(
                        f"{i.recipient_name} ({i.recipient_extension})",
                        i.status not in (EXPIRED, FAILED),
                    )
                    for i in items
                ]
                self.notify(
                    first.sender_id,
                    outcome_text(
                        first.team,
                        first.created_at,
                        first.body or "",
                        outcomes,
                        self.policy.timezone,
                    ),
                )
            self.store.notified([i.delivery_id for i in items])

    def _send_call_notices(self) -> None:
        rows = self.db.execute(
            "SELECT id, member_id, text FROM call_notices WHERE sent_at IS NULL "
            "AND created_at >= ? ORDER BY id LIMIT 200",
            ((datetime.now(UTC) - NOTICES_WITHIN).isoformat(timespec="seconds"),),
        ).fetchall()
        for notice_id, member_id, text in rows:
            with writing(self.db):  # stored and marked sent together: never sent twice
                self.notify(int(member_id), text, kind=ALERT)
                self.db.execute(
                    "UPDATE call_notices SET sent_at = ? WHERE id = ?", (now(), notice_id)
                )
