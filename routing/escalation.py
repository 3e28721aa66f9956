"""Who is next when a call is not taken: an escalation chain turned into concrete steps.

A chain is a list of rules (ring the callee, the callee's supervisor, a role in the callee's
district, a fixed member, an outside number), each with a ring time. `plan` resolves the
rules for one call into steps of members to ring at once; the whole plan is made when the
call starts, so an admin's later edit does not change a call in progress, and the dialplan
can walk the steps without asking Python again.

Pure decisions over plain values: the directory is asked through `DirectoryView`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from directory.model import Member
from routing.calls import DirectoryView, Policy, Target


class RuleKind(Enum):
    CALLEE = "callee"
    SUPERVISOR = "supervisor"  # the callee's supervisor
    ROLE = "role"  # every active member of a role in the callee's district
    MEMBER = "member"  # one named member (by extension)
    OUTSIDE = "outside"  # an outside number over the trunk, e.g. the Child Helpline 116


@dataclass(frozen=True)
class Rule:
    kind: RuleKind
    ring_seconds: int
    value: str = ""  # the role, the member's extension or the outside number


@dataclass(frozen=True)
class Step:
    targets: tuple[Target, ...] = ()
    outside_number: str | None = None
    ring_seconds: int = 20
    label: str = ""


MIN_RING, MAX_RING = 5, 120

# The chain with no configuration: the callee, their supervisor, the district's probation
# and DAC officers, then the National Child Helpline.
DEFAULT_CHAIN = (
    Rule(RuleKind.CALLEE, 20),
    Rule(RuleKind.SUPERVISOR, 20),
    Rule(RuleKind.ROLE, 20, "probation"),
    Rule(RuleKind.ROLE, 20, "dac"),
    Rule(RuleKind.OUTSIDE, 60, "116"),
)
# An urgent call (a prefix, or a call on an urgent case) gives each step less time.
URGENT_RING_SECONDS = 10


class ChainError(ValueError):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def check_chain(directory: DirectoryView, rules: list[Rule], roles: set[str]) -> None:
    """Refuse a chain an admin wrote that could never reach anyone or would misbehave."""
    reasons: list[str] = []
    if not rules:
        reasons.append("the chain is empty")
    seen_members: set[str] = set()
    for n, rule in enumerate(rules, 1):
        if not MIN_RING <= rule.ring_seconds <= MAX_RING:
            reasons.append(f"step {n}: ring time must be {MIN_RING}-{MAX_RING} s")
        if rule.kind is RuleKind.ROLE and rule.value not in roles:
            reasons.append(f"step {n}: unknown role {rule.value[:30]!r}")
        if rule.kind is RuleKind.MEMBER:
            member = directory.member_by_extension(rule.value)
            if member is None:
                reasons.append(f"step {n}: {rule.value[:30]!r} is not a member")
            elif not member.active:
                reasons.append(f"step {n}: {member.name} is not active")
            if rule.value in seen_members:
                reasons.append(f"step {n}: {rule.value} is already rung at an earlier step")
            seen_members.add(rule.value)
        if rule.kind is RuleKind.OUTSIDE and not rule.value.isdigit():
            reasons.append(f"step {n}: outside number {rule.value[:20]!r} must be digits")
    if reasons:
        raise ChainError(reasons)


def _members_for(
    directory: DirectoryView, rule: Rule, callee: Member, policy: Policy
) -> list[Member]:
    if rule.kind is RuleKind.CALLEE:
        return [callee]
    if rule.kind is RuleKind.SUPERVISOR:
        if callee.supervisor_id is None:
            return []
        supervisor = directory.member(callee.supervisor_id)
        return [supervisor] if supervisor is not None else []
    if rule.kind is RuleKind.ROLE:
        return directory.members_with_role(callee.district, rule.value, policy.max_ring_group)
    if rule.kind is RuleKind.MEMBER:
        member = directory.member_by_extension(rule.value)
        return [member] if member is not None else []
    return []


def plan(
    directory: DirectoryView,
    caller: Member,
    callee: Member,
    rules: tuple[Rule, ...] | list[Rule] = DEFAULT_CHAIN,
    policy: Policy | None = None,
    urgent: bool = False,
) -> list[Step]:
    """The steps of one call's escalation. Nobody is rung twice (so a loop of supervisors
    ends), inactive members and the caller are skipped, a step with nobody left is dropped,
    and an outside step needs the trunk. The result may be just the callee's own step."""
    policy = policy or Policy()
    rung: set[int] = {caller.id}
    steps: list[Step] = []
    for rule in rules:
        seconds = min(rule.ring_seconds, URGENT_RING_SECONDS) if urgent else rule.ring_seconds
        if rule.kind is RuleKind.OUTSIDE:
            if policy.trunk_available and rule.value:
                steps.append(
                    Step(outside_number=rule.value, ring_seconds=seconds, label=rule.value)
                )
            continue
        members = [
            m
            for m in _members_for(directory, rule, callee, policy)
            if m.active and m.id not in rung
        ]
        if not members:
            continue
        rung.update(m.id for m in members)
        targets = tuple(
            Target(m.id, m.name, m.extension, m.phone if policy.trunk_available else None)
            for m in members
        )
        steps.append(Step(targets=targets, ring_seconds=seconds, label=rule.kind.value))
    return steps
