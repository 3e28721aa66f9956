"""What routing looked up, kept until the directory says it may have changed.

Every call a member places is routed and planned in full when it starts: the caller and
the callee looked up, the escalation steps planned (routing/escalation.py) with several
look-ups of members and chains. Answers to the same questions stay the same as long as no
member and no stored chain changed in between; the directory's `routing_version` moves on
any such change (a trigger, whichever process made it), so one read per call tells whether
what is kept still holds.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from directory.model import Member

V = TypeVar("V")
DEFAULT_SIZE = 4096


class VersionedCache(Generic[V]):
    """At most `size` answers, the least recently used dropped first; all of them dropped
    when the version moves. Answers are shared: keep only values nobody changes (tuples,
    frozen dataclasses)."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self.version: int | None = None
        self._kept: OrderedDict[Hashable, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, version: int | None, key: Hashable, make: Callable[[], V]) -> V:
        """The answer kept for `key`, else `make()`'s (kept). No version: nothing is kept."""
        if version is None:
            return make()
        if version != self.version:
            self._kept.clear()
            self.version = version
        try:
            value = self._kept[key]
        except KeyError:
            pass
        else:
            self._kept.move_to_end(key)
            self.hits += 1
            return value
        self.misses += 1
        value = make()
        self._kept[key] = value
        if len(self._kept) > self.size:
            self._kept.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._kept)


class MembersAsOf:
    """The directory as routing reads it for one call: members by extension come from
    `kept` while `version` holds; everything else is asked of `directory` itself."""

    def __init__(
        self, directory: Any, version: int | None, kept: VersionedCache[Member | None]
    ) -> None:
        self._directory = directory
        self.version = version
        self._kept = kept

    def member_by_extension(self, extension: str) -> Member | None:
        return self._kept.get(
            self.version, extension, lambda: self._directory.member_by_extension(extension)
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._directory, name)
