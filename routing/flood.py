"""How many texts one sender may send in a minute, and how often they are told they sent too
many. Every text counts (refused ones and commands too), whatever it came by; `now` is a
monotonic clock in seconds, passed in so that the decisions stay plain."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Hashable

WINDOW = 60.0  # seconds
MAX_SENDERS = 10_000  # senders remembered before the quiet ones are forgotten


class FloodWindow:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._recent: dict[Hashable, deque[float]] = defaultdict(deque)
        self._told: dict[Hashable, float] = {}

    def over(self, key: Hashable, now: float) -> bool:
        """Count one text from `key`: True when it is over the limit (not to be handled)."""
        recent = self._recent[key]
        while recent and now - recent[0] > WINDOW:
            recent.popleft()
        recent.append(now)
        if len(self._recent) > MAX_SENDERS:
            self._forget_quiet(now)
        return len(recent) > self.per_minute

    def _forget_quiet(self, now: float) -> None:
        for key in [k for k, times in self._recent.items() if now - times[-1] > WINDOW]:
            del self._recent[key]
            self._told.pop(key, None)

    def tell(self, key: Hashable, now: float) -> bool:
        """True at most once a minute per sender: the answers must not flood either."""
        if now - self._told.get(key, -WINDOW * 60) < WINDOW:
            return False
        self._told[key] = now
        return True
