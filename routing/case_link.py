"""Which case a call is about: a case number keyed in front of the dialed number, or the one
open case both people are on. Never a prompt: linking costs the caller nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

MAX_CASE_DIGITS = 9
_PREFIX = re.compile(r"^\*([0-9]*)\*(.*)$")


class CaseView(Protocol):
    def case_status(self, number: int) -> str | None: ...
    def open_cases_involving(self, member_a: int, member_b: int) -> list[int]: ...


@dataclass(frozen=True)
class KeyedCase:
    """What the caller keyed in as a case number; `malformed` when it is not a number."""

    text: str
    malformed: bool = False

    @property
    def number(self) -> int | None:
        return None if self.malformed else int(self.text)


@dataclass(frozen=True)
class CaseLink:
    case_id: int | None = None
    source: str = ""  # "prefix" | "auto" | "" (not linked)
    note: str = ""  # why a keyed-in case was not linked, as a short code
    after_close: bool = False


def split_case_prefix(dialed: str) -> tuple[str, KeyedCase | None]:
    """`*<case>*<number>` → (number, the keyed case); anything else is returned unchanged."""
    text = (dialed or "").strip()
    match = _PREFIX.match(text)
    if match is None:
        return text, None
    digits, rest = match.groups()
    if not digits or len(digits) > MAX_CASE_DIGITS:
        return rest, KeyedCase(digits[:MAX_CASE_DIGITS], malformed=True)
    return rest, KeyedCase(digits)


def link_call(
    cases: CaseView, keyed: KeyedCase | None, caller_id: int, callee_id: int | None
) -> CaseLink:
    """The case a call goes on record against. A keyed-in case wins; an unknown or malformed
    one leaves the call unlinked with the reason noted (the call itself goes ahead)."""
    if keyed is not None:
        number = keyed.number
        if number is None:
            return CaseLink(note="malformed_case_prefix")
        status = cases.case_status(number)
        if status is None:
            return CaseLink(note=f"unknown_case:{number}")
        return CaseLink(case_id=number, source="prefix", after_close=status == "closed")
    if callee_id is not None:
        candidates = cases.open_cases_involving(caller_id, callee_id)
        if len(candidates) == 1:
            return CaseLink(case_id=candidates[0], source="auto")
    return CaseLink()
