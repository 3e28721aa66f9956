"""Who a member's call reaches: a chain of small decisions, each of which may refuse."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from directory.model import Member, ShortCode
from directory.numbers import try_normalise
from routing.dialed import DialedKind, parse_dialed


class DirectoryView(Protocol):
    """The part of the directory routing reads."""

    def member(self, member_id: int) -> Member | None: ...
    def member_by_extension(self, extension: str) -> Member | None: ...
    def member_by_phone(self, e164: str) -> Member | None: ...
    def members_with_role(self, district: str, role: str, limit: int = 5) -> list[Member]: ...
    def short_code(self, code: str) -> ShortCode | None: ...


class Refusal(Enum):
    """Why a call is not connected; the value is what the dialplan and the log see."""

    UNKNOWN_CALLER = "unknown_caller"
    INACTIVE_CALLER = "inactive_caller"
    INVALID_DIALED = "invalid_dialed"
    NOT_A_MEMBER = "not_a_member"
    INACTIVE_MEMBER = "inactive_member"
    UNKNOWN_SHORT_CODE = "unknown_short_code"
    NO_SUPERVISOR = "no_supervisor"
    NOBODY_IN_ROLE = "nobody_in_role"
    NO_TRUNK = "no_trunk"
    SELF = "self"


@dataclass(frozen=True)
class Target:
    """One member to ring: on their SIP phone, and on their mobile when the trunk allows."""

    member_id: int
    name: str
    endpoint: str
    mobile: str | None


@dataclass(frozen=True)
class Decision:
    targets: tuple[Target, ...] = ()
    outside_number: str | None = None
    refusal: Refusal | None = None
    label: str = ""
    detail: str = ""

    @property
    def connects(self) -> bool:
        return self.refusal is None


@dataclass(frozen=True)
class Policy:
    """Install-wide settings the decisions depend on."""

    trunk_available: bool = False
    max_ring_group: int = 5
    own_numbers: frozenset[str] = frozenset()  # E.164 numbers members dial to reach the CUG
    ring_seconds: int = 30  # how long a call that is not escalated rings


def refuse(reason: Refusal, detail: str = "") -> Decision:
    return Decision(refusal=reason, detail=detail)


@dataclass
class CallRequest:
    caller: Member | None
    dialed: str
    policy: Policy = field(default_factory=Policy)


def check_caller(caller: Member | None) -> Decision | None:
    if caller is None:
        return refuse(Refusal.UNKNOWN_CALLER)
    if not caller.active:
        return refuse(Refusal.INACTIVE_CALLER, caller.extension)
    return None


def _target(member: Member, policy: Policy) -> Target:
    return Target(
        member_id=member.id,
        name=member.name,
        endpoint=member.extension,
        mobile=member.phone if policy.trunk_available else None,
    )


def to_member(caller: Member, callee: Member | None, policy: Policy, label: str) -> Decision:
    if callee is None:
        return refuse(Refusal.NOT_A_MEMBER)
    if not callee.active:
        return refuse(Refusal.INACTIVE_MEMBER, callee.extension)
    if callee.id == caller.id:
        return refuse(Refusal.SELF)
    return Decision(targets=(_target(callee, policy),), label=label or callee.name)


def to_short_code(
    directory: DirectoryView, caller: Member, code: ShortCode, policy: Policy
) -> Decision:
    if code.kind == "supervisor":
        if caller.supervisor_id is None:
            return refuse(Refusal.NO_SUPERVISOR, code.code)
        supervisor = directory.member(caller.supervisor_id)
        decision = to_member(caller, supervisor, policy, code.label)
        if decision.refusal in (Refusal.NOT_A_MEMBER, Refusal.INACTIVE_MEMBER):
            return refuse(Refusal.NO_SUPERVISOR, code.code)
        return decision
    if code.kind == "role" and code.role:
        # One more than the group holds: the caller may be among them and is left out.
        found = directory.members_with_role(caller.district, code.role, policy.max_ring_group + 1)
        members = [m for m in found if m.id != caller.id][: policy.max_ring_group]
        if not members:
            return refuse(Refusal.NOBODY_IN_ROLE, f"{code.role} in {caller.district}")
        return Decision(targets=tuple(_target(m, policy) for m in members), label=code.label)
    if code.kind == "outside" and code.number:
        if not policy.trunk_available:
            return refuse(Refusal.NO_TRUNK, code.code)
        return Decision(outside_number=code.number, label=code.label)
    return refuse(Refusal.UNKNOWN_SHORT_CODE, code.code)


def route_call(directory: DirectoryView, request: CallRequest) -> Decision:
    """Decide where a call from `request.caller` to `request.dialed` goes, or why it may not."""
    refused = check_caller(request.caller)
    if refused is not None:
        return refused
    caller = request.caller
    assert caller is not None
    dialed = parse_dialed(request.dialed)
    policy = request.policy
    if dialed.kind is DialedKind.INVALID:
        return refuse(Refusal.INVALID_DIALED, dialed.reason)
    if dialed.kind is DialedKind.SHORT_CODE:
        code = directory.short_code(dialed.value)
        if code is None:
            return refuse(Refusal.UNKNOWN_SHORT_CODE, dialed.value)
        return to_short_code(directory, caller, code, policy)
    if dialed.kind is DialedKind.EXTENSION:
        return to_member(caller, directory.member_by_extension(dialed.value), policy, "")
    return to_member(caller, directory.member_by_phone(dialed.value), policy, "")


def identify_by_caller_id(directory: DirectoryView, caller_id: str) -> Member | None:
    """The member whose mobile number a trunk call comes from, in whatever format it arrives."""
    e164 = try_normalise(caller_id)
    return directory.member_by_phone(e164) if e164 else None
