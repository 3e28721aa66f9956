"""What the routing service knows about a call, carried in the call's CDR userfield.

Asterisk writes the userfield into every CDR of the caller's channel, so the record of the
call (live over AMI, or read back from the CDR file after a gap) holds the routing's view
beside Asterisk's own account: who called, what was dialed, the case, why it was refused.
Only values the service made itself go in (digits, ids, short codes), so nothing a caller
typed can break the format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION = "cug1"
_SAFE = re.compile(r"^[A-Za-z0-9_:+*#.\-]{0,40}$")
MAX_USERFIELD = 250  # Asterisk's CDR userfield holds 256 characters


@dataclass(frozen=True)
class CallTags:
    dialed: str = ""
    caller_id: int | None = None  # the calling member
    callee_id: int | None = None  # the called member, when there is exactly one
    callee_number: str = ""  # the number dialed out on the trunk, if any
    case_id: int | None = None
    link: str = ""
    note: str = ""
    refusal: str = ""
    after_close: bool = False
    kind: str = ""  # "reminder" for a follow-up reminder call; empty for a member's call
    reminder_id: int | None = None
    steps: int | None = None  # how many escalation steps the call was planned with (>1)
    urgent: bool = False
    exhausted: bool = False  # z=1: the dialplan rang every step and nobody took the call
    key: bool | None = None  # a=1 / a=0: whoever answered a leg pressed the key, or not


_FIELDS = {
    "d": "dialed",
    "c": "caller_id",
    "e": "callee_id",
    "m": "callee_number",
    "k": "case_id",
    "l": "link",
    "n": "note",
    "r": "refusal",
    "x": "after_close",
    "t": "kind",
    "p": "reminder_id",
    "s": "steps",
    "u": "urgent",
    "z": "exhausted",
    "a": "key",
}
_INT_FIELDS = {"caller_id", "callee_id", "case_id", "reminder_id", "steps"}
_BOOL_FIELDS = {"after_close", "urgent", "exhausted", "key"}


def _clean(value: object) -> str:
    text = str(value)
    return text if _SAFE.match(text) else "invalid"


def encode(tags: CallTags) -> str:
    parts = [VERSION]
    for key, name in _FIELDS.items():
        value = getattr(tags, name)
        if value is None or (value in ("", False) and name != "key"):
            continue
        if isinstance(value, bool):
            value = 1 if value else 0
        parts.append(f"{key}={_clean(value)}")
    return ";".join(parts)[:MAX_USERFIELD]


def decode(userfield: str) -> CallTags | None:
    """The tags of a userfield the service wrote, or None for anything else."""
    parts = (userfield or "").split(";")
    if parts[0] != VERSION:
        return None
    values: dict[str, object] = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        name = _FIELDS.get(key)
        if name is None or not _SAFE.match(value):
            continue
        if name in _INT_FIELDS:
            if value.isdigit():
                values[name] = int(value)
        elif name in _BOOL_FIELDS:
            values[name] = value == "1"
        else:
            values[name] = value
    return CallTags(**values)  # type: ignore[arg-type]
