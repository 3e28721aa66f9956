"""The daily caps on what the system spends on a member, applied: may this SMS or callback
go, count it, and tell the member and their supervisor once a day when a cap is reached.

One `CostGuard` lives in the service (built by the text delivery worker, which sends the
SMS, and handed to whatever places callbacks):

    guard.allowed(member_id, "callback")           # under today's cap?
    guard.record(member_id, "callback", 1, ref)    # count one placed
    guard.notify_cap_reached(member_id, "callback")  # the member and supervisor told, once

What waits for the cap (an SMS) is not dropped: the caller keeps it for the next local day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlite_utils

from directory.spending import Spending
from directory.text_lookups import TextLookups
from directory.texts import ALERT
from routing.costs import CostPolicy, spend_allowed
from routing.text_replies import cap_member_text, cap_supervisor_text

log = logging.getLogger(__name__)

# notify(member_id, text, kind=..., cost_exempt=...): a system text to one member.
Notify = Callable[..., None]


class CostGuard:
    def __init__(self, db: sqlite_utils.Database, policy: CostPolicy, notify: Notify) -> None:
        self.policy = policy
        self.spending = Spending(db, policy.timezone)
        self.lookups = TextLookups(db)
        self.notify = notify

    def allowed(self, member_id: int, kind: str, units: int = 1) -> bool:
        """May `units` of `kind` ('sms' parts, 'callback') be spent on the member today?"""
        return spend_allowed(self.policy, kind, self.spending.today(member_id, kind), units)

    def record(self, member_id: int, kind: str, units: int, reference: str) -> None:
        self.spending.record(member_id, kind, units, reference)

    def notify_cap_reached(self, member_id: int, kind: str) -> bool:
        """Tell the member and their supervisor that the member reached today's cap of `kind`
        ('sms' or 'callback'): once a day, however often it is called. The member's notice
        goes to their SIP phone, else (after `sms_after_seconds`) as one SMS that the cap
        does not hold back; the supervisor's as any system alert. True when told now."""
        cap = self.policy.cap(kind)
        if not self.spending.first_telling_today(member_id, kind):
            return False
        self.notify(member_id, cap_member_text(kind, cap), kind=ALERT, cost_exempt=True)
        supervisor = self.lookups.supervisor(member_id)
        if supervisor is not None:
            member = self.lookups.label(member_id)
            self.notify(supervisor, cap_supervisor_text(member, kind, cap), kind=ALERT)
        log.warning(
            "member %d reached today's %s cap (%d); %s told",
            member_id,
            kind,
            cap,
            "they and their supervisor" if supervisor is not None else "they (no supervisor)",
        )
        return True
