"""Who hears about an escalated call that they did not take, and what they hear.

Pure decisions over the call's contacts (one per person rung, with the step they were rung
at and how it ended): the person who took it, a "missed" notice for everyone rung who did
not (naming who took it in the end, or that nobody did), "taken by a colleague" instead for
someone whose step was taken by another person rung at the same time, and when nobody took
it, notices to the caller's supervisor and the district's officers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class NoticeKind(Enum):
    MISSED = "missed"
    TAKEN_BY_COLLEAGUE = "taken_by_colleague"
    CHAIN_EXHAUSTED = "chain_exhausted"


@dataclass(frozen=True)
class Rung:
    member_id: int
    step: int
    outcome: str  # as in the contact log: answered, not_taken, busy, no_answer, ...
    answered_at: str | None = None


@dataclass(frozen=True)
class Notice:
    member_id: int
    kind: NoticeKind


@dataclass(frozen=True)
class Settled:
    taken_by: Rung | None
    notices: tuple[Notice, ...]


def settle(
    rung: list[Rung], caller_id: int | None, exhausted: bool, escalate_to: list[int]
) -> Settled:
    """Notices only for a call that escalated (rang a second step, or ran out).
    `escalate_to`: who hears when nobody took the call (the caller's supervisor and the
    district's officers), in order; nobody is told twice and the caller is never told."""
    taken = [r for r in rung if r.outcome == "answered"]
    taken_by = min(taken, key=lambda r: (r.answered_at or "", r.step)) if taken else None
    notices: list[Notice] = []
    if not exhausted and all(r.step <= 1 for r in rung):
        # Taken by the callee, or the caller hung up while the callee's phone rang: the call
        # never escalated, and a phone shows its own missed calls.
        return Settled(taken_by, ())
    told: set[int] = set()
    for r in sorted(rung, key=lambda r: (r.step, r.member_id)):
        if r.member_id in told or r.member_id == caller_id:
            continue
        if taken_by is not None and r.member_id == taken_by.member_id:
            continue
        same_step = taken_by is not None and r.step == taken_by.step
        kind = NoticeKind.TAKEN_BY_COLLEAGUE if same_step else NoticeKind.MISSED
        notices.append(Notice(r.member_id, kind))
        told.add(r.member_id)
    if taken_by is None and exhausted:
        for member_id in escalate_to:
            if member_id in told or member_id == caller_id:
                continue
            notices.append(Notice(member_id, NoticeKind.CHAIN_EXHAUSTED))
            told.add(member_id)
    return Settled(taken_by, tuple(notices))
