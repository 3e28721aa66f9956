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
from dataclasses import dataclass, replace
from enum import Enum

from directory.model import Member
from routing.calls import CallRequest, DirectoryView, Policy, Target, route_call

MAX_BODY = 1600  # characters, as ten SMS parts
MAX_TEAM = 500  # members a team text reaches at most
# What Asterisk 22 hands its message dialplan: res_pjsip_messaging copies a MESSAGE body
# into a 1,024-byte buffer and drops a longer one (the dialplan sees an empty body), so
# longer texts are refused with a clear answer rather than relayed empty.
MAX_SIP_BODY_BYTES = 1023


@dataclass(frozen=True)
class TextPolicy:
    """An install's rules for texts (cug.ini [texts])."""

    service_number: str = "199"  # texts to it are commands (HELP, WHO, CASES, DONE); notices too
    per_minute: int = 20  # texts a member may send in a minute
    expiry_hours: int = 72  # a text nobody could be reached for in time expires (sender told)
    sms_after_seconds: int = 120  # a member with no phone registered this long gets an SMS
    sms_retry_seconds: int = 60  # an SMS the gateway could not take (down) is tried again
    retention_days: int = 30  # bodies of texts that ended are purged after this
    timezone: str = "Africa/Kampala"  # the members' clock, for times in notices
    team_limit: int = 25  # a team text to more members is for the roles below only
    lead_roles: tuple[str, ...] = ("supervisor", "probation", "dac", "admin")


class TextRefusal(Enum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    TOO_MANY = "too_many"  # over the per-minute limit
    TEAM_TOO_BIG = "team_too_big"  # a large team only the district's leads may text
    NOT_TEXT = "not_text"  # not UTF-8, or control characters: a binary or broken body
    NOT_A_MEMBER = "not_a_member"
    OUTSIDE_NUMBER = "outside_number"
    SENDER_NOT_ALLOWED = "sender_not_allowed"
    NOBODY = "nobody"  # a short code with nobody in it for the sender (no supervisor...)
    NO_LONGER_A_MEMBER = "no_longer_a_member"
    SELF = "self"


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
    DONE = "done"  # DONE <case>: the member's referral on that case is completed


@dataclass(frozen=True)
class Command:
    kind: CommandKind
    argument: str = ""
    incomplete: bool = False  # the command word without the argument it needs (say how)


COMMAND_WORDS = frozenset(kind.name for kind in CommandKind)
_COMMAND = re.compile(r"^\s*(HELP|WHO|CASES|DONE)\b\s*(.*?)\s*$", re.IGNORECASE | re.DOTALL)
_NEEDS = {
    CommandKind.WHO: re.compile(r"^[0-9]{3,8}$"),
    CommandKind.DONE: re.compile(r"^#?[0-9]{1,9}$"),
}


def parse_command(body: str) -> Command | None:
    """A command: HELP, WHO <extension>, CASES, DONE <case>. WHO or DONE without a usable
    argument is `incomplete` (the answer says how); HELP or CASES with words after them is
    not a command (None)."""
    match = _COMMAND.match(body)
    if not match:
        return None
    kind = CommandKind(match.group(1).lower())
    argument = match.group(2)
    needed = _NEEDS.get(kind)
    if needed is not None:
        if not needed.match(argument):
            return Command(kind, incomplete=True)
        return Command(kind, argument.lstrip("#"))
    if argument:
        return None
    return Command(kind)


@dataclass(frozen=True)
class TextDecision:
    recipients: tuple[Target, ...] = ()
    refusal: TextRefusal | None = None
    detail: str = ""
    team: str = ""  # the short code's label when the text goes to a team

    @property
    def accepted(self) -> bool:
        return self.refusal is None


_TEXT_REFUSAL = {
    "unknown_caller": TextRefusal.SENDER_NOT_ALLOWED,
    "inactive_caller": TextRefusal.SENDER_NOT_ALLOWED,
    "no_trunk": TextRefusal.OUTSIDE_NUMBER,  # 116, 999: outside numbers
    "no_supervisor": TextRefusal.NOBODY,
    "nobody_in_role": TextRefusal.NOBODY,
    "inactive_member": TextRefusal.NO_LONGER_A_MEMBER,
    "self": TextRefusal.SELF,
}


def recipients(
    directory: DirectoryView, sender: Member | None, addressed: str, policy: Policy
) -> TextDecision:
    """Who a text from `sender` to `addressed` goes to: one member, or every member of a
    team short code (all of them, not only the few a call rings at once); never an outside
    number."""
    policy = replace(policy, max_ring_group=MAX_TEAM)
    decision = route_call(directory, CallRequest(sender, addressed, policy))
    if decision.refusal is not None:
        refusal = _TEXT_REFUSAL.get(decision.refusal.value, TextRefusal.NOT_A_MEMBER)
        return TextDecision(refusal=refusal, detail=decision.refusal.value)
    if decision.outside_number:
        return TextDecision(refusal=TextRefusal.OUTSIDE_NUMBER, detail=decision.outside_number)
    team = decision.label if len(decision.targets) > 1 else ""
    return TextDecision(recipients=decision.targets, team=team)


def may_text_team(sender: Member, size: int, policy: TextPolicy) -> bool:
    """A text to a team bigger than `team_limit` is a broadcast: only the district's leads
    (supervisors, probation and DAC officers, admins) send those, so one member's phone
    cannot flood a whole district."""
    return size <= policy.team_limit or sender.role in policy.lead_roles
