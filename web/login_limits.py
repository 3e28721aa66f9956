"""Failed logins per remote address: past a limit within a window, that address's logins are
refused (429) until the window has passed. Accounts are locked on their own count in the
directory (directory/admin_accounts.py); this stops one address trying many accounts."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque

log = logging.getLogger(__name__)


class AddressLimiter:
    def __init__(self, limit: int = 10, window: float = 600.0, max_addresses: int = 10_000):
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, moment: float) -> deque[float]:
        times = self._failures.get(address) or deque()
        while times and times[0] <= moment - self.window:
            times.popleft()
        return times

    def wait_seconds(self, address: str, now: float | None = None) -> int:
        """0 when `address` may try to log in now, else the seconds until it may."""
        moment = time.monotonic() if now is None else now
        times = self._recent(address, moment)
        if len(times) < self.limit:
            return 0
        return max(1, int(times[-self.limit] + self.window - moment) + 1)

    def failed(self, address: str, now: float | None = None) -> None:
        moment = time.monotonic() if now is None else now
        times = self._recent(address, moment)
        times.append(moment)
        self._failures[address] = times
        self._failures.move_to_end(address)
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)
        if len(times) == self.limit:
            log.warning(
                "admin site: %d failed logins from %s within %ds; refusing it for now",
                len(times),
                address,
                int(self.window),
            )

    def succeeded(self, address: str) -> None:
        """A right password from `address`: its own attempt no longer counts against it
        (counted before the hash), earlier failures still do."""
        times = self._failures.get(address)
        if times:
            times.pop()
