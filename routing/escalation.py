"""Who is next when a call is not taken: an escalation chain turned into concrete steps.

A chain is a list of rules (ring the callee, the callee's supervisor, a role in the callee's
district, a fixed member, an outside number), each with a ring time. `plan` resolves the
rules for one call into steps of members to ring at once; the whole plan is made when the
call starts, so an admin's later edit does not change a call in progress, and the dialplan
can walk the steps without asking Python again.

Pure decisions over plain values: the directory is asked through `DirectoryView`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from directory.chains import ChainStore, StoredChain
from directory.model import Member
from directory.numbers import InvalidNumber, normalise_outside_number
from routing.calls import Decision, DirectoryView, Policy, Target


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
    """Who to ring at one step of a call, for how long, and whether a key must be pressed."""

    targets: tuple[Target, ...] = ()
    outside_number: str | None = None
    ring_seconds: int = 20
    label: str = ""
    confirm: bool = False  # whoever answers must press 1 before the caller is put through
    mobiles: bool = True  # ring members on their mobile when their SIP phone is unreachable


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
# Keyed in front of what is dialed (before any case prefix): *0*2001, *0**42*2001.
URGENT_PREFIX = "*0*"


def split_urgent(dialed: str) -> tuple[str, bool]:
    """`*0*<rest>` → (rest, True); anything else unchanged and not urgent."""
    if dialed.startswith(URGENT_PREFIX) and len(dialed) > len(URGENT_PREFIX):
        return dialed[len(URGENT_PREFIX) :], True
    return dialed, False


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
        if rule.kind is RuleKind.OUTSIDE:
            reason = _outside_problem(directory, rule.value)
            if reason:
                reasons.append(f"step {n}: {reason}")
    if reasons:
        raise ChainError(reasons)


def _outside_problem(directory: DirectoryView, value: str) -> str:
    """Why `value` is not a number an outside step can ring over the trunk ("" if it is):
    a CUG short code or a member's extension would be dialed out to the phone network."""
    if not value.isdigit():
        return f"outside number {value[:20]!r} must be digits"
    code = directory.short_code(value)
    if code is not None and code.kind != "outside":
        return (
            f"{value} is the CUG's short code for {code.label or code.kind!r}, not an outside "
            "number: use supervisor, role=... or member=... for people in the CUG"
        )
    if directory.member_by_extension(value) is not None:
        return f"{value} is a member's extension, not an outside number: write member={value}"
    try:
        normalise_outside_number(value)
    except InvalidNumber:
        return f"outside number {value[:20]} is not a number the trunk can ring"
    return ""


_KINDS = {k.value: k for k in RuleKind}


def parse_rules(text: str) -> list[Rule]:
    """An admin's chain, e.g. `callee:20, supervisor:20, role=probation:20, outside=116:60`.

    Each step is `<kind>[=<value>]:<seconds>`; kinds are callee, supervisor, role (a role
    code), member (an extension) and outside (a number over the trunk)."""
    rules: list[Rule] = []
    reasons: list[str] = []
    for n, part in enumerate((p.strip() for p in text.split(",")), 1):
        if not part:
            continue
        head, sep, seconds = part.rpartition(":")
        kind_text, _, value = (head if sep else part).partition("=")
        kind = _KINDS.get(kind_text.strip().lower())
        if kind is None:
            reasons.append(f"step {n}: unknown kind {kind_text.strip()[:20]!r}")
            continue
        if not sep or not seconds.strip():
            reasons.append(f"step {n}: ring time missing (write {kind.value}:20)")
            continue
        if not seconds.strip().isdigit():
            shown = seconds.strip()[:12]
            reasons.append(f"step {n}: ring time {shown!r} is not seconds (write {kind.value}:20)")
            continue
        value = value.strip()
        needs_value = kind in (RuleKind.ROLE, RuleKind.MEMBER, RuleKind.OUTSIDE)
        if needs_value and not value:
            reasons.append(f"step {n}: {kind.value} needs a value ({kind.value}=...)")
            continue
        if not needs_value and value:
            reasons.append(f"step {n}: {kind.value} takes no value")
            continue
        rules.append(Rule(kind, int(seconds), value))
    if reasons:
        raise ChainError(reasons)
    return rules


def format_rules(rules: tuple[Rule, ...] | list[Rule]) -> str:
    return ", ".join(
        f"{r.kind.value}{'=' + r.value if r.value else ''}:{r.ring_seconds}" for r in rules
    )


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
    already: frozenset[int] = frozenset(),
) -> list[Step]:
    """The steps of one call's escalation. Nobody is rung twice (so a loop of supervisors
    ends), inactive members and the caller are skipped, a step with nobody left is dropped,
    and an outside step needs the trunk. The result may be just the callee's own step.
    `already`: members the call rings before the chain (a team it was dialed to)."""
    policy = policy or Policy()
    rung: set[int] = {caller.id, *already}
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


@dataclass(frozen=True)
class Chain:
    rules: tuple[Rule, ...]
    source: str  # where it came from: "default" or the scope of the stored chain


def chain_for(store: ChainStore, callee: Member, urgent: bool = False) -> Chain:
    """The chain a call to `callee` follows: the most specific stored chain (an urgent one
    first for an urgent call), else the default. A stored chain that no longer parses is
    passed over, never a reason to fail a call."""
    for want_urgent in (True, False) if urgent else (False,):
        for stored in store.candidates(callee.district, callee.role, want_urgent):
            try:
                return Chain(tuple(parse_rules(stored.rules)), stored.scope)
            except ChainError:
                continue
    return Chain(DEFAULT_CHAIN, "default")


def steps_for_call(
    directory: DirectoryView,
    store: ChainStore,
    caller: Member,
    callee: Member,
    policy: Policy,
    urgent: bool = False,
    already: frozenset[int] = frozenset(),
) -> tuple[Chain, list[Step]]:
    """The chain a call to `callee` follows and its steps now. The callee is always rung
    first: a stored chain that does not start with them gets their step put in front."""
    chain = chain_for(store, callee, urgent)
    rules = chain.rules
    if not rules or rules[0].kind is not RuleKind.CALLEE:
        rules = (Rule(RuleKind.CALLEE, policy.ring_seconds), *rules)
    steps = [
        # Everyone after the callee's own step must press a key (the helpline's staff not).
        replace(step, confirm=step.label != RuleKind.CALLEE.value and not step.outside_number)
        for step in plan(directory, caller, callee, rules, policy, urgent, already)
    ]
    return chain, steps


def call_steps(
    directory: DirectoryView,
    store: ChainStore,
    caller: Member,
    decision: Decision,
    policy: Policy,
    urgent: bool = False,
) -> list[Step]:
    """The steps of a call routing let through: a call to one member follows the callee's
    escalation chain; a call to a team (a role short code) rings the team first, then the
    chain of its first member, so nobody hits a dead end when the whole desk is out; an
    outside number is one step. (Anyone on a mobile must press a key too: the dialplan
    sees to it.)"""
    if decision.outside_number or not decision.targets:
        return [Step(outside_number=decision.outside_number, ring_seconds=policy.ring_seconds)]
    first = directory.member(decision.targets[0].member_id)
    if first is None:
        return [Step(targets=decision.targets, ring_seconds=policy.ring_seconds)]
    team = len(decision.targets) > 1
    already = frozenset(t.member_id for t in decision.targets) if team else frozenset()
    _, steps = steps_for_call(directory, store, caller, first, policy, urgent, already)
    if team:  # a team is rung at once, on SIP phones only
        steps.insert(
            0, Step(targets=decision.targets, ring_seconds=policy.ring_seconds, mobiles=False)
        )
    return steps


def edit_chain(
    store: ChainStore,
    directory: DirectoryView,
    district: str,
    role: str,
    urgent: bool,
    text: str,
    actor: str,
) -> StoredChain:
    """An admin's new chain, checked (every reason at once) and stored with an audit row."""
    reasons = store.known_scope(district, role)
    try:
        rules = parse_rules(text)
    except ChainError as exc:
        raise ChainError(reasons + exc.reasons) from None
    try:
        check_chain(directory, rules, store.roles())
    except ChainError as exc:
        reasons += exc.reasons
    if reasons:
        raise ChainError(reasons)
    return store.save(district, role, urgent, format_rules(rules), actor)
