""" "Please call me": whether a flash (a ring to the CUG's callback number, never answered)
earns the caller a call back, and the rules for members calling in over the trunk.

A member with a basic phone and no airtime rings the callback number and hangs up; the CUG
calls them back at its own cost and they dial as from a SIP phone. Everything here is a pure
decision: the caller ID as the network gave it, what the directory and the flash log say.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from directory.model import Member
from directory.numbers import try_normalise

# What networks and gateways put in the caller ID when the number is withheld.
WITHHELD = frozenset(
    {"", "anonymous", "unknown", "private", "restricted", "withheld", "unavailable"}
)
MAX_CALLER_ID = 32  # characters of a caller ID kept in the flash log


class FlashOutcome(Enum):
    """What became of one flash; the value is what the flash log and `cug report` show."""

    CALL_BACK = "called_back"
    NO_CALLER_ID = "no_caller_id"
    NOT_A_MEMBER = "not_a_member"
    INACTIVE = "inactive_member"
    TOO_MANY = "rate_limited"
    ALREADY_CALLING = "already_calling"
    CAP_REACHED = "cap_reached"
    NO_LINK = "service_down"  # the AMI link was down: Asterisk could not be asked to call


class CallbackOutcome(Enum):
    """How a call back ended, as Asterisk told it (OriginateResponse)."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"
    CONGESTED = "congested"
    FAILED = "failed"  # Asterisk could not place it (the AMI link was down, it was refused)
    DECLINED = "declined"  # the mobile hung up or refused it before answering
    UNKNOWN = "unknown"  # no word from Asterisk (the link dropped, the service restarted)


@dataclass(frozen=True)
class CallbackPolicy:
    """The install's rules for flashes and callbacks (cug.ini [callbacks])."""

    per_window: int = 3  # flashes from one number that are answered in a window ...
    window_seconds: int = 600  # ... of this many seconds; more are logged and ignored
    ring_seconds: int = 30  # how long the member's mobile rings for the call back
    delay_ms: int = 500  # pause after the flash ended before calling (the phone hangs up)
    flash_ring_seconds: int = 20  # a flash the caller does not end is rejected after this
    reject_at_once: bool = False  # reject a flash at once (busy) instead of letting it ring
    digits_seconds: int = 10  # time to dial on the call back before the prompt repeats
    dial_in_pin: bool = False  # members calling in on the CUG's number must enter their PIN
    pin_attempts: int = 3  # wrong PINs in a row before the member is locked out ...
    pin_lock_minutes: int = 15  # ... for this long
    retries: int = 2  # a call back the trunk could not place is placed again this often ...
    retry_seconds: int = 15  # ... this long after it failed


@dataclass(frozen=True)
class Caller:
    """A flash's caller as far as the caller ID tells: the number as given, and in E.164."""

    raw: str
    e164: str | None

    @property
    def withheld(self) -> bool:
        return self.raw.strip().lower() in WITHHELD


def caller_of(caller_id: str) -> Caller:
    """The caller ID as the network sent it (kept short), and as E.164 when it is a number."""
    raw = caller_id.strip()[:MAX_CALLER_ID]
    if raw.lower() in WITHHELD:
        return Caller(raw, None)
    return Caller(raw, try_normalise(raw))


@dataclass(frozen=True)
class FlashFacts:
    """What the flash log says about the caller right now."""

    recent: int  # flashes from this number within the policy's window, this one not counted
    calling: bool  # a call back to this member is ringing or in progress
    within_cap: bool  # the member's call backs today are under their daily cap ([costs])


def decide_flash(
    caller: Caller, member: Member | None, facts: FlashFacts, policy: CallbackPolicy
) -> FlashOutcome:
    """Whether this flash is called back, or why not. Checks go from the cheapest refusal to
    the one that needs the member: a stranger never learns more than that nothing happens."""
    if caller.withheld or caller.e164 is None:
        return FlashOutcome.NO_CALLER_ID if caller.withheld else FlashOutcome.NOT_A_MEMBER
    if facts.recent >= policy.per_window:
        return FlashOutcome.TOO_MANY
    if member is None:
        return FlashOutcome.NOT_A_MEMBER
    if not member.active:
        return FlashOutcome.INACTIVE
    if facts.calling:
        return FlashOutcome.ALREADY_CALLING
    if not facts.within_cap:
        return FlashOutcome.CAP_REACHED
    return FlashOutcome.CALL_BACK


# How a call back ends when the fault is the trunk's (the gateway was unreachable a moment,
# its channels were busy, the call could not be placed), not the member's.
TRUNK_FAULTS = frozenset(
    {CallbackOutcome.UNAVAILABLE, CallbackOutcome.CONGESTED, CallbackOutcome.FAILED}
)


def retry_after(
    outcome: CallbackOutcome, tries: int, policy: CallbackPolicy, trunk_reachable: bool = False
) -> int | None:
    """Seconds until a call back that ended `outcome` on its `tries`-th try is placed again,
    or None when that was its last word. Only the trunk's faults are tried again: a member who
    did not answer, or was busy, is not rung again and again (they flash again when they
    can); a gateway that dropped off for a moment must not cost them their call.

    `unavailable` (Asterisk's Reason 0) is said both for a gateway Asterisk could not reach and
    for a mobile behind it that refused the call (a 486 or a 603, seen with a real Asterisk
    22): with the trunk's contact reachable (`trunk_reachable`), it was the member's word."""
    if outcome is CallbackOutcome.UNAVAILABLE and trunk_reachable:
        return None
    if outcome in TRUNK_FAULTS and tries <= policy.retries:
        return policy.retry_seconds
    return None
