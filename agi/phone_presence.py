"""Whether a member's phone is there, as Asterisk sees it, for the text relay.

Asterisk does not load every member's endpoint at start (`allow_unqualified_fetch=no` in
sorcery.conf): that is what lets one Asterisk boot a 100,000-member directory in a second.
It then sends no AMI ContactStatus for members, so two other signals tell the relay what it
needs:

* A phone that comes (back) on registers, and every REGISTER is authenticated: AMI
  `SuccessfulAuth` (class security) names the member. When they have texts waiting, those
  are tried a moment later (the registrar stores the contact just after the check) and once
  more after that, so a slow registrar costs seconds, not the minute of the next retry.
* A phone that vanished without unregistering (battery, coverage) still looks registered
  until Asterisk's qualify finds it gone (qualify_frequency 60 s + qualify_timeout 3 s in
  pjsip.conf's member AOR template, read from there). One qualify period after texts were
  handed to a phone, the status of its
  contacts is read by id (`PJSIP_AOR(<ext>,contact)` and `PJSIP_CONTACT(<id>,status)` over
  AMI Getvar, a look-up each, not a list of every member): if none of them answers any
  more, the texts handed since are queued again. A text may arrive twice; none is lost.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from agi.aor_status import aor_status

log = logging.getLogger(__name__)

# Seconds after a member's successful authentication at which their waiting texts are tried.
TRIES_AFTER_AUTH = (0.5, 3.0)
# A phone that vanished looks registered until Asterisk's next qualify fails:
# qualify_frequency (60 s, pjsip.conf) + qualify_timeout (3 s), and a margin.
SUSPECT_WINDOW = timedelta(seconds=63 + 5)
MARGIN = timedelta(seconds=5)


def suspect_window(aor_options: dict[str, str]) -> timedelta | None:
    """How long after texts were handed to a phone one of Asterisk's qualifies has surely
    come back, from the member AOR template's options (pjsip.conf); None with qualify off
    (then a phone that vanished is noticed only when its registration expires)."""
    try:
        frequency = float(aor_options.get("qualify_frequency", "0") or 0)
        timeout = float(aor_options.get("qualify_timeout", "3") or 3)
    except ValueError:
        return SUSPECT_WINDOW
    if frequency <= 0:
        return None
    return timedelta(seconds=frequency + timeout) + MARGIN


CHECKS_PER_PASS = 200  # phones read per look (two AMI look-ups each); the rest at the next
_EXTENSION = re.compile(r"[0-9]{2,8}")


@dataclass
class _Handed:
    """Texts handed to one member's phone that no qualify has vouched for yet."""

    since: datetime  # when the first of them was handed over
    first: float  # the same, monotonic
    due: float  # when to read their phone's status


class PhonePresence:
    """`waiting(extension)`: the active member with texts waiting for their SIP phone, if
    any; `wake(member_id)`: try their texts now; `requeue(member_id, since)`: put back the
    texts handed to their phone since then, returning how many."""

    def __init__(
        self,
        ami: Any,
        waiting: Callable[[str], int | None],
        wake: Callable[[int], None],
        requeue: Callable[[int, datetime], int],
        clock: Callable[[], float] = time.monotonic,
        window: timedelta | None = SUSPECT_WINDOW,
    ) -> None:
        self.ami = ami
        self.window = window  # None: Asterisk does not qualify members, nothing to read
        self._waiting = waiting
        self._wake = wake
        self._requeue = requeue
        self.clock = clock
        self._handed: dict[int, tuple[str, _Handed]] = {}
        self.requeued = 0

    # ------------------------------------------------------------------ phones coming on
    def on_authenticated(self, event: dict[str, str]) -> None:
        """AMI SuccessfulAuth: a member's phone just made an authenticated SIP request."""
        if event.get("Service") != "PJSIP":
            return  # an AMI login, not a phone
        extension = event.get("AccountID", "")
        if not _EXTENSION.fullmatch(extension):
            return
        member_id = self._waiting(extension)
        if member_id is None:
            return
        loop = asyncio.get_running_loop()
        for delay in TRIES_AFTER_AUTH:
            loop.call_later(delay, self._wake, member_id)

    # ------------------------------------------------------------------ phones that vanished
    def handed(self, member_id: int, extension: str) -> None:
        """Texts were just handed to the member's phone: read its status a qualify later
        (texts handed meanwhile push that back, up to two qualify periods)."""
        if self.window is None:
            return
        now = self.clock()
        window = self.window.total_seconds()
        found = self._handed.get(member_id)
        if found is None:
            self._handed[member_id] = (
                extension,
                _Handed(datetime.now(UTC), now, now + window),
            )
        else:
            found[1].due = min(found[1].first + 2 * window, now + window)

    def resume(self, handed: list[tuple[int, str, datetime]]) -> None:
        """After a restart: (member, extension, first hand-over) of the texts handed to
        phones lately, before this process could watch them; each is read when it would
        have been."""
        if self.window is None:
            return
        now, wall = self.clock(), datetime.now(UTC)
        window = self.window.total_seconds()
        for member_id, extension, since in handed:
            if member_id in self._handed:
                continue
            first = now - max(0.0, (wall - since).total_seconds())
            self._handed[member_id] = (extension, _Handed(since, first, first + window))

    async def check_due(self) -> int:
        """Read the status of the phones whose check is due; returns how many texts were
        queued again. A phone whose status cannot be read now (AMI down) is read later."""
        now = self.clock()
        again = 0
        due = [(m, e, h) for m, (e, h) in self._handed.items() if h.due <= now]
        for member_id, extension, handed in due[:CHECKS_PER_PASS]:
            status = await self.status(extension)
            if status is None:
                continue
            del self._handed[member_id]
            if status == "Unreachable":
                count = self._requeue(member_id, handed.since - timedelta(seconds=1))
                if count:
                    log.warning(
                        "member %s stopped answering: %d texts queued again", extension, count
                    )
                again += count
        self.requeued += again
        return again

    async def status(self, extension: str) -> str | None:
        """The member's phones as Asterisk's qualify finds them (agi/aor_status.py)."""
        return await aor_status(self.ami, extension)
