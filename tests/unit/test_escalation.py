"""Escalation chains resolved into steps: who is rung after whom, and chains refused."""

from __future__ import annotations

import pytest
import sqlite_utils

from agi.call_plan import MAX_ROUTE, dial_route, first_extension, refuse_route
from directory.chains import ChainStore
from directory.lookup import Directory
from directory.schema import open_memory
from routing.calls import Policy, Target
from routing.escalation import (
    DEFAULT_CHAIN,
    ChainError,
    Rule,
    RuleKind,
    Step,
    chain_for,
    check_chain,
    edit_chain,
    format_rules,
    parse_rules,
    plan,
    split_urgent,
    steps_for_call,
)
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


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("100", "short code for 'My supervisor'"),  # would be dialed out to the network
        ("2003", "write member=2003"),
        ("07721234", "not a number the trunk can ring"),
    ],
)
def test_an_outside_step_must_be_a_number_the_trunk_can_ring(
    directory, number: str, reason: str
) -> None:
    roles = {"probation"}
    with pytest.raises(ChainError, match=reason):
        check_chain(
            directory, [Rule(RuleKind.CALLEE, 20), Rule(RuleKind.OUTSIDE, 30, number)], roles
        )
    for fine in ("116", "0772123456", "+256800100116"[1:]):
        check_chain(directory, [Rule(RuleKind.OUTSIDE, 30, fine)], roles)


# ---------------------------------------------------------------- chains as data


def test_rules_parse_and_print_back() -> None:
    text = "callee:20, supervisor:15, role=probation:20, member=2005:10, outside=116:60"
    rules = parse_rules(text)
    assert [r.kind for r in rules] == [
        RuleKind.CALLEE,
        RuleKind.SUPERVISOR,
        RuleKind.ROLE,
        RuleKind.MEMBER,
        RuleKind.OUTSIDE,
    ]
    assert format_rules(rules) == text
    assert parse_rules(format_rules(DEFAULT_CHAIN)) == list(DEFAULT_CHAIN)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("callee", "ring time missing"),
        ("callee:abc", "ring time 'abc' is not seconds"),
        ("callee:-5", "ring time '-5' is not seconds"),
        ("boss:20", "unknown kind 'boss'"),
        ("role:20", "role needs a value"),
        ("callee=2001:20", "callee takes no value"),
    ],
)
def test_unreadable_rules_say_why(text: str, reason: str) -> None:
    with pytest.raises(ChainError, match=reason):
        parse_rules(text)


def test_the_most_specific_chain_applies(directory) -> None:
    store = ChainStore(directory.db)
    callee = directory.find("2003")  # a psw in Oyam
    assert chain_for(store, callee).source == "default"
    store.save("", "", False, "callee:30, supervisor:30", "t")
    store.save("", "psw", False, "callee:25, supervisor:25", "t")
    assert chain_for(store, callee).source == "role psw"
    store.save("Oyam", "", False, "callee:21, supervisor:21", "t")
    assert chain_for(store, callee).source == "district Oyam"
    store.save("Oyam", "psw", False, "callee:22", "t")
    assert chain_for(store, callee).source == "district Oyam, role psw"
    assert chain_for(store, directory.find("2012")).source == "role psw"  # a psw in Jinja
    assert chain_for(store, directory.find("2014")).source == "every member"
    # An urgent call without an urgent chain uses the normal one (with shorter rings).
    assert chain_for(store, callee, urgent=True).source == "district Oyam, role psw"
    store.save("", "", True, "callee:8, role=dac:8", "t")
    assert chain_for(store, callee, urgent=True).source == "every member (urgent)"


def test_a_chain_that_no_longer_parses_is_passed_over_not_fatal(directory) -> None:
    store = ChainStore(directory.db)
    directory.db["escalation_chains"].insert(
        {
            "district": "Oyam",
            "role": "",
            "urgent": 0,
            "rules": "garbage!",
            "updated_at": "x",
            "updated_by": "x",
        }
    )
    store.save("", "", False, "callee:30", "t")
    assert chain_for(store, directory.find("2003")).source == "every member"


def test_edits_are_checked_stored_and_audited(directory) -> None:
    store = ChainStore(directory.db)
    audits = directory.db["audit"].count
    with pytest.raises(ChainError) as refused:
        edit_chain(store, directory, "Atlantis", "wizard", False, "callee:20, member=2009:20", "t")
    assert refused.value.reasons == [
        "unknown district 'Atlantis'",
        "unknown role 'wizard'",
        "step 2: Lanyero Joy is not active",
    ]
    with pytest.raises(ChainError, match="the chain is empty"):
        edit_chain(store, directory, "", "", False, " , ", "t")
    assert store.all() == [] and directory.db["audit"].count == audits
    saved = edit_chain(store, directory, "Oyam", "", False, "callee:20,supervisor:25", "admin:j")
    assert saved.rules == "callee:20, supervisor:25"
    row = directory.db.execute(
        "SELECT actor, action, subject FROM audit ORDER BY id DESC"
    ).fetchone()
    assert row == ("admin:j", "chain.set", "district Oyam")


def test_a_call_keeps_the_steps_it_was_planned_with(directory) -> None:
    store = ChainStore(directory.db)
    caller, callee = directory.find("2002"), directory.find("2003")
    _, before = steps_for_call(directory, store, caller, callee, Policy())
    store.save("", "", False, "callee:5, role=police:5", "t")
    _, after = steps_for_call(directory, store, caller, callee, Policy())
    assert names(before) == [["2003"], ["2001"], ["2006"], ["2007"]]  # already handed over
    assert names(after) == [["2003"], ["2004"]]


def test_a_chain_without_the_callee_still_rings_them_first(directory) -> None:
    store = ChainStore(directory.db)
    store.save("", "", False, "supervisor:20, role=dac:20", "t")
    _, steps = steps_for_call(
        directory, store, directory.find("2004"), directory.find("2003"), Policy(ring_seconds=17)
    )
    assert names(steps) == [["2003"], ["2001"], ["2007"]]
    assert steps[0].ring_seconds == 17


@pytest.mark.parametrize(
    ("dialed", "rest", "urgent"),
    [
        ("*0*2003", "2003", True),
        ("*0**7*2003", "*7*2003", True),
        ("2003", "2003", False),
        ("*0*", "*0*", False),
        ("*7*2003", "*7*2003", False),
    ],
)
def test_urgent_prefix(dialed: str, rest: str, urgent: bool) -> None:
    assert split_urgent(dialed) == (rest, urgent)


# ---------------------------------------------------------------- the route for the dialplan


def test_route_steps_for_the_dialplan() -> None:
    a = Target(1, "A", "2001", "+256772100001")
    b = Target(2, "B", "2002", None)
    steps = [
        Step(targets=(a,), ring_seconds=20),
        Step(targets=(a, b), ring_seconds=15, confirm=True),
        Step(targets=(a,), ring_seconds=20, mobiles=False),
        Step(outside_number="116", ring_seconds=60),
    ]
    route = dial_route("cug1;c=1", "2002", "Anna Ñ", 7, True, steps)
    assert route.split("|") == [
        "dial",
        "cug1;c=1",
        "2002:7:1:QW5uYSDDkQ==",  # the caller's name in base64 (UTF-8)
        "20",  # the first step's one member rings straight away for 20 s
        "2001",
        "20:0:2001-+256772100001",
        "15:1:2001-+256772100001&2002-",
        "20:0:2001-",
        "60:0:0-116",
    ]


def test_only_a_plain_step_for_one_member_is_rung_straight_away() -> None:
    a = Target(1, "A", "2001", "+256772100001")
    b = Target(2, "B", "2002", None)
    assert first_extension(Step(targets=(a,))) == "2001"
    assert first_extension(Step(targets=(a, b))) == ""  # a team: the walk rings them all
    assert first_extension(Step(targets=(a,), confirm=True)) == ""  # a key to press
    assert first_extension(Step(outside_number="116")) == ""
    assert first_extension(Step(targets=(Target(3, "C", "20|1", None),))) == ""


def test_route_values_cannot_add_fields() -> None:
    hostile = Target(1, "A|B", "2001|x", "+2567|72")
    route = dial_route("cug1|refuse", "20|01", "x|y", None, False, [Step(targets=(hostile,))])
    assert route.count("|") == 5  # dial, tags, call, (nobody to ring first), one step
    assert route.endswith("|0:0:0:eHx5|||20:0:")
    assert refuse_route("no|thing", "t|x").split("|") == ["refuse", "nothing", "tx"]


def test_a_route_too_long_for_agi_drops_its_last_steps() -> None:
    many = tuple(Target(n, "x", str(2000 + n), f"+2567721{n:05d}") for n in range(5))
    route = dial_route("t", "2002", "x", None, False, [Step(targets=many)] * 40)
    assert len(route) <= MAX_ROUTE
    assert 10 < route.count("|") < 40
