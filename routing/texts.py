"""What a member's text means: its body checked, a case tag, a command, who it goes to.

Pure decisions for the SMS relay (issue 5, in progress): the relay's Asterisk side hands
over the sender (the authenticated endpoint), what they addressed and the raw body; these
functions say whether the text is accepted, what it is about and who gets it. Recipients
are found by the same routing as calls (`routing.calls.route_call`), so a text reaches an
extension, a member's number in any format or a short code exactly as a call would; texts
to outside numbers are refused (the relay is members-only).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

from directory.model import Member
from routing.calls import CallRequest, DirectoryView, Policy, Target, route_call

MAX_BODY = 1600  # characters, as ten SMS parts


class TextRefusal(Enum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    NOT_TEXT = "not_text"  # not UTF-8, or control characters: a binary or broken body
    NOT_A_MEMBER = "not_a_member"
    OUTSIDE_NUMBER = "outside_number"
    SENDER_NOT_ALLOWED = "sender_not_allowed"


def check_body(raw: bytes | str) -> str | TextRefusal:
    """The body as text (trimmed, NFC), or why it is refused."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return TextRefusal.NOT_TEXT
    else:
        text = raw
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t\r" for ch in text):
        return TextRefusal.NOT_TEXT
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        return TextRefusal.EMPTY
    if len(text) > MAX_BODY:
        return TextRefusal.TOO_LONG
    return text


_CASE_TAG = re.compile(r"^#(\d{1,9})\b[\s:,.-]*(.*)$", re.DOTALL)


def split_case_tag(body: str) -> tuple[int | None, str]:
    """`#<case> rest` → (case, rest); a body without a tag → (None, body)."""
    match = _CASE_TAG.match(body)
    if not match:
        return None, body
    return int(match.group(1)), match.group(2).strip()


class CommandKind(Enum):
    HELP = "help"
    WHO = "who"
    CASES = "cases"


@dataclass(frozen=True)
class Command:
    kind: CommandKind
    argument: str = ""


_COMMAND = re.compile(r"^\s*(HELP|WHO|CASES)\b\s*(\S*)\s*$", re.IGNORECASE)


def parse_command(body: str) -> Command | None:
    """A text to the system's own number that is a command: HELP, WHO <ext>, CASES."""
    match = _COMMAND.match(body)
    if not match:
        return None
    kind = CommandKind(match.group(1).lower())
    argument = match.group(2)
    if kind is CommandKind.WHO and not argument.isdigit():
        return Command(CommandKind.HELP)  # WHO needs an extension: say how
    if kind is not CommandKind.WHO and argument:
        return None
    return Command(kind, argument)


@dataclass(frozen=True)
class TextDecision:
    recipients: tuple[Target, ...] = ()
    refusal: TextRefusal | None = None
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.refusal is None


def recipients(
    directory: DirectoryView, sender: Member | None, addressed: str, policy: Policy
) -> TextDecision:
    """Who a text from `sender` to `addressed` goes to: one member, or every member of a
    team short code; never an outside number."""
    decision = route_call(directory, CallRequest(sender, addressed, policy))
    if decision.refusal is not None:
        refusal = (
            TextRefusal.SENDER_NOT_ALLOWED
            if decision.refusal.value in ("unknown_caller", "inactive_caller")
            else TextRefusal.NOT_A_MEMBER
        )
        return TextDecision(refusal=refusal, detail=decision.refusal.value)
    if decision.outside_number:
        return TextDecision(refusal=TextRefusal.OUTSIDE_NUMBER, detail=decision.outside_number)
    return TextDecision(recipients=decision.targets)
