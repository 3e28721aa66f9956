"""Escalation chains resolved into steps: who is rung after whom, and chains refused."""

from __future__ import annotations

import pytest
import sqlite_utils

from directory.lookup import Directory
from directory.schema import open_memory
from routing.calls import Policy
from routing.escalation import DEFAULT_CHAIN, ChainError, Rule, RuleKind, check_chain, plan
from tests.unit.conftest import INACTIVE, MEMBERS, save


@pytest.fixture()
def directory() -> Directory:
    db = open_memory()
    assert save(db, MEMBERS).ok
    db.execute("UPDATE members SET active = 0 WHERE extension = ?", (INACTIVE,))
    return Directory(db)


def names(steps) -> list[list[str]]:  # noqa: ANN001
    return [[t.endpoint for t in s.targets] or [s.outside_number] for s in steps]


def test_default_chain_callee_supervisor_probation_dac_then_helpline(directory) -> None:
    caller, callee = directory.find("2004"), directory.find("2003")
    steps = plan(directory, caller, callee, policy=Policy(trunk_available=True))
    assert names(steps) == [["2003"], ["2001"], ["2006"], ["2007"], ["116"]]
    assert [s.ring_seconds for s in steps] == [20, 20, 20, 20, 60]


def test_without_a_trunk_the_helpline_step_is_left_out(directory) -> None:
    steps = plan(directory, directory.find("2004"), directory.find("2003"))
    assert names(steps)[-1] == ["2007"]


def test_nobody_is_rung_twice_and_the_caller_never(directory) -> None:
    # The caller is the callee's supervisor: that step is skipped, not rung back.
    steps = plan(directory, directory.find("2001"), directory.find("2003"))
    assert ["2001"] not in names(steps)
    everyone = [e for step in names(steps) for e in step]
    assert len(everyone) == len(set(everyone))


def test_loop_of_supervisors_ends(directory) -> None:
    db: sqlite_utils.Database = directory.db
    a, b = directory.find("2002"), directory.find("2008")
    db["members"].update(a.id, {"supervisor_id": b.id})
    db["members"].update(b.id, {"supervisor_id": a.id})
    rules = [
        Rule(RuleKind.CALLEE, 20),
        Rule(RuleKind.SUPERVISOR, 20),
        Rule(RuleKind.SUPERVISOR, 20),
    ]
    steps = plan(directory, directory.find("2004"), directory.find("2002"), rules)
    assert names(steps) == [["2002"], ["2008"]]


def test_member_with_no_supervisor_falls_through_to_the_district(directory) -> None:
    steps = plan(directory, directory.find("2002"), directory.find("2008"))  # no supervisor
    assert names(steps)[:2] == [["2008"], ["2006"]]


def test_urgent_calls_ring_each_step_for_less_time(directory) -> None:
    steps = plan(directory, directory.find("2004"), directory.find("2003"), urgent=True)
    assert {s.ring_seconds for s in steps} == {10}


def test_inactive_members_are_skipped(directory) -> None:
    # 2009 is deactivated: as a fixed step it is left out of the plan.
    rules = [Rule(RuleKind.CALLEE, 20), Rule(RuleKind.MEMBER, 20, "2009")]
    assert names(plan(directory, directory.find("2004"), directory.find("2003"), rules)) == [
        ["2003"]
    ]


def test_bad_chains_are_refused_with_every_reason(directory) -> None:
    roles = {"psw", "supervisor", "police", "health", "probation", "dac"}
    check_chain(directory, list(DEFAULT_CHAIN), roles)
    with pytest.raises(ChainError) as refused:
        check_chain(
            directory,
            [
                Rule(RuleKind.MEMBER, 20, "9999"),
                Rule(RuleKind.MEMBER, 20, "2009"),
                Rule(RuleKind.ROLE, 20, "wizard"),
                Rule(RuleKind.CALLEE, 500),
                Rule(RuleKind.OUTSIDE, 20, "116;x"),
            ],
            roles,
        )
    reasons = " | ".join(refused.value.reasons)
    for part in ("not a member", "not active", "unknown role", "ring time", "must be digits"):
        assert part in reasons
    with pytest.raises(ChainError, match="empty"):
        check_chain(directory, [], roles)
