"""What the system may spend on one member in a day: SMS parts to their mobile, callbacks.

Pure decisions over plain numbers (the units already spent come from directory/spending.py).
A member at their cap is not cut off silently: they and their supervisor are told once that
day, and what would cost more waits for the next local day (agi/cost_notices.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

SMS, CALLBACK = "sms", "callback"


@dataclass(frozen=True)
class CostPolicy:
    """An install's daily caps per member (cug.ini [costs])."""

    sms_per_day: int = 30  # SMS parts sent to one member's mobile in a local day
    callbacks_per_day: int = 20  # callbacks placed to one member in a local day
    timezone: str = "Africa/Kampala"  # whose midnight starts a new day

    def cap(self, kind: str) -> int:
        if kind == SMS:
            return self.sms_per_day
        if kind == CALLBACK:
            return self.callbacks_per_day
        raise ValueError(f"unknown kind of spending {kind!r}")


def spend_allowed(policy: CostPolicy, kind: str, spent_today: int, units: int = 1) -> bool:
    """May `units` more of `kind` be spent on a member who had `spent_today` today? A cap of
    0 or less means no cap. A spend that would cross the cap is not allowed (a long text is
    not sent in part)."""
    cap = policy.cap(kind)
    return cap <= 0 or spent_today + units <= cap


def next_local_midnight(now: datetime, zone: str) -> datetime:
    """When the next local day starts (as an aware datetime): what waited for it goes then."""
    local = now.astimezone(ZoneInfo(zone))
    tomorrow = local.date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0, 0, 5), tzinfo=ZoneInfo(zone))
