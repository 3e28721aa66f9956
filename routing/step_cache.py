"""The escalation steps of calls alike, kept until the directory says they may have changed.

Every call a member places is planned in full when it starts (routing/escalation.py), which
costs several look-ups of members and chains. Calls from the same caller to the same callee
(or team, or outside number), urgent or not, get the same steps as long as no member and no
stored chain changed in between; the directory's `routing_version` moves on any such change
(a trigger, whichever process made it), so one read per call tells whether what is kept
still holds.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

from routing.escalation import Step

DEFAULT_SIZE = 4096


class StepCache:
    """At most `size` plans, the least recently used dropped first; all of them dropped when
    the version moves."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self.version: int | None = None
        self._plans: OrderedDict[Hashable, tuple[Step, ...]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def steps(
        self, version: int | None, key: Hashable, plan: Callable[[], list[Step]]
    ) -> list[Step]:
        """The steps kept for `key`, else `plan()`'s (kept). No version: nothing is kept."""
        if version is None:
            return plan()
        if version != self.version:
            self._plans.clear()
            self.version = version
        kept = self._plans.get(key)
        if kept is not None:
            self._plans.move_to_end(key)
            self.hits += 1
            return list(kept)
        self.misses += 1
        steps = plan()
        self._plans[key] = tuple(steps)
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return steps

    def __len__(self) -> int:
        return len(self._plans)
