"""Routing: whom a member's call reaches, and every reason it may not."""

from __future__ import annotations

import pytest

from directory.lookup import Directory
from routing.calls import (
    CallRequest,
    Decision,
    Policy,
    Refusal,
    identify_by_caller_id,
    route_call,
)
from routing.dialed import DialedKind, parse_dialed

TRUNK = Policy(trunk_available=True)
NO_TRUNK = Policy(trunk_available=False)


def call(d: Directory, caller_ext: str, dialed: str, policy: Policy = NO_TRUNK) -> Decision:
    caller = d.member_by_extension(caller_ext)
    assert caller is not None
    return route_call(d, CallRequest(caller, dialed, policy))


def endpoints(decision: Decision) -> list[str]:
    assert decision.refusal is None, decision
    return [t.endpoint for t in decision.targets]


@pytest.mark.parametrize(
    "dialed",
    ["2003", "0772100003", "+256772100003", "256772100003", "00256772100003", "772100003"],
)
def test_member_by_extension_or_any_number_format(directory: Directory, dialed: str) -> None:
    decision = call(directory, "2002", dialed)
    assert decision.connects
    assert endpoints(decision) == ["2003"]
    assert decision.label == "Auma Christine"
    assert decision.targets[0].name == "Auma Christine"


def test_mobile_is_offered_only_with_a_trunk(directory: Directory) -> None:
    assert call(directory, "2002", "2003", NO_TRUNK).targets[0].mobile is None
    assert call(directory, "2002", "2003", TRUNK).targets[0].mobile == "+256772100003"


def test_100_reaches_the_callers_own_supervisor(directory: Directory) -> None:
    assert endpoints(call(directory, "2002", "100")) == ["2001"]
    assert endpoints(call(directory, "2012", "100")) == ["2011"]
    assert call(directory, "2002", "100").label == "My supervisor"


def test_101_reaches_only_the_police_of_the_callers_district(directory: Directory) -> None:
    assert endpoints(call(directory, "2002", "101")) == ["2004"]
    assert endpoints(call(directory, "2012", "101")) == ["2014"]
    for ext in ("2001", "2002", "2003", "2005", "2008"):
        assert "2014" not in endpoints(call(directory, ext, "101"))


@pytest.mark.parametrize(("code", "expected"), [("102", "2005"), ("103", "2006"), ("104", "2007")])
def test_role_codes(directory: Directory, code: str, expected: str) -> None:
    assert endpoints(call(directory, "2002", code)) == [expected]


def test_role_code_rings_everyone_in_the_role_but_the_caller(directory: Directory) -> None:
    # Oyam psw: 2002, 2003, 2008 (2009 is inactive).
    directory.db.execute("INSERT INTO short_codes VALUES ('105', 'role', 'psw', NULL, 'PSWs')")
    assert endpoints(call(directory, "2002", "105")) == ["2003", "2008"]
    assert call(directory, "2002", "105", TRUNK).targets[0].mobile == "+256772100003"


def test_role_with_nobody_in_the_district(directory: Directory) -> None:
    decision = call(directory, "2012", "102")  # no health worker in Jinja
    assert decision.refusal is Refusal.NOBODY_IN_ROLE
    assert decision.targets == ()
    # The only police officer of Oyam calling the police desk reaches nobody (not themself).
    assert call(directory, "2004", "101").refusal is Refusal.NOBODY_IN_ROLE


@pytest.mark.parametrize("code", ["116", "999", "112"])
def test_outside_numbers_need_the_trunk(directory: Directory, code: str) -> None:
    refused = call(directory, "2002", code, NO_TRUNK)
    assert refused.refusal is Refusal.NO_TRUNK
    allowed = call(directory, "2002", code, TRUNK)
    assert allowed.connects
    assert allowed.outside_number == code
    assert allowed.targets == ()


@pytest.mark.parametrize(
    ("caller", "dialed", "reason"),
    [
        ("2002", "105", Refusal.UNKNOWN_SHORT_CODE),
        ("2002", "0772999999", Refusal.NOT_A_MEMBER),
        ("2002", "+254712345678", Refusal.NOT_A_MEMBER),
        ("2002", "0414123456", Refusal.NOT_A_MEMBER),
        ("2002", "9999", Refusal.NOT_A_MEMBER),
        ("2002", "2009", Refusal.INACTIVE_MEMBER),
        ("2002", "0772100009", Refusal.INACTIVE_MEMBER),
        ("2002", "2002", Refusal.SELF),
        ("2002", "+256772100002", Refusal.SELF),
        ("2008", "100", Refusal.NO_SUPERVISOR),
        ("2002", "", Refusal.INVALID_DIALED),
        ("2002", "abc", Refusal.INVALID_DIALED),
        ("2002", "1" * 40, Refusal.INVALID_DIALED),
        ("2002", "abc;drop", Refusal.INVALID_DIALED),
        ("2002", "2003\n2004", Refusal.INVALID_DIALED),
        ("2002", "*#06#", Refusal.INVALID_DIALED),
    ],
)
def test_refusals(directory: Directory, caller: str, dialed: str, reason: Refusal) -> None:
    for policy in (NO_TRUNK, TRUNK):
        decision = call(directory, caller, dialed, policy)
        assert decision.refusal is reason, decision
        assert not decision.connects
        assert decision.targets == () and decision.outside_number is None


def test_inactive_caller_reaches_nobody(directory: Directory) -> None:
    for dialed in ("2003", "100", "101", "116"):
        assert call(directory, "2009", dialed, TRUNK).refusal is Refusal.INACTIVE_CALLER


def test_unknown_caller_reaches_nobody(directory: Directory) -> None:
    for dialed in ("2003", "100", "116"):
        decision = route_call(directory, CallRequest(None, dialed, TRUNK))
        assert decision.refusal is Refusal.UNKNOWN_CALLER


def test_inactive_supervisor_is_no_supervisor(directory: Directory) -> None:
    directory.db.execute("UPDATE members SET active = 0 WHERE extension = '2001'")
    assert call(directory, "2002", "100").refusal is Refusal.NO_SUPERVISOR


def test_unknown_short_code_row_kind(directory: Directory) -> None:
    directory.db.execute("INSERT INTO short_codes VALUES ('106', 'mystery', NULL, NULL, 'x')")
    assert call(directory, "2002", "106", TRUNK).refusal is Refusal.UNKNOWN_SHORT_CODE


@pytest.mark.parametrize(
    "caller_id", ["0772100002", "+256772100002", "256772100002", "00256772100002", "772100002"]
)
def test_identify_by_caller_id(directory: Directory, caller_id: str) -> None:
    member = identify_by_caller_id(directory, caller_id)
    assert member is not None and member.extension == "2002"


@pytest.mark.parametrize(
    "caller_id",
    [
        "",
        "unknown",
        "anonymous",
        "0772999999",
        "2002",
        "7" * 10_000,
        "0772100002\n0772100003",
        '"0772100002" <sip:0772100002@x>',
        "'0772100002'",
        "0772100002'; DROP TABLE members;--",
        "\x00",
    ],
)
def test_identify_by_hostile_caller_id_is_none(directory: Directory, caller_id: str) -> None:
    assert identify_by_caller_id(directory, caller_id) is None
    assert directory.db.execute("SELECT count(*) FROM members").fetchone()[0] == 12


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("100", DialedKind.SHORT_CODE, "100"),
        ("999", DialedKind.SHORT_CODE, "999"),
        (" 116 ", DialedKind.SHORT_CODE, "116"),
        ("2003", DialedKind.EXTENSION, "2003"),
        ("20031", DialedKind.EXTENSION, "20031"),
        ("200310", DialedKind.EXTENSION, "200310"),
        ("0772100003", DialedKind.NUMBER, "+256772100003"),
        ("+256772100003", DialedKind.NUMBER, "+256772100003"),
        ("00256772100003", DialedKind.NUMBER, "+256772100003"),
        ("772100003", DialedKind.NUMBER, "+256772100003"),
        ("+254712345678", DialedKind.NUMBER, "+254712345678"),
        ("0414123456", DialedKind.NUMBER, "+256414123456"),
        ("0123", DialedKind.INVALID, ""),
        ("12", DialedKind.INVALID, ""),
        ("", DialedKind.INVALID, ""),
        ("   ", DialedKind.INVALID, ""),
        ("abc", DialedKind.INVALID, ""),
        ("abc;drop", DialedKind.INVALID, ""),
        ("1" * 40, DialedKind.INVALID, ""),
        ("0772 100003", DialedKind.INVALID, ""),
        ("*#06#", DialedKind.INVALID, ""),
        ("1234567", DialedKind.INVALID, ""),
    ],
)
def test_parse_dialed(raw: str, kind: DialedKind, value: str) -> None:
    dialed = parse_dialed(raw)
    assert dialed.kind is kind
    assert dialed.value == value
    assert bool(dialed.reason) == (kind is DialedKind.INVALID)


def test_ring_group_is_full_even_when_the_caller_is_in_it(directory: Directory) -> None:
    directory.db.execute("INSERT INTO short_codes VALUES ('105', 'role', 'psw', NULL, 'PSWs')")
    # Oyam psw are 2002, 2003, 2008: a group of two leaves the caller out and is still two.
    small = Policy(max_ring_group=2)
    assert endpoints(call(directory, "2002", "105", small)) == ["2003", "2008"]
    assert endpoints(call(directory, "2008", "105", small)) == ["2002", "2003"]
    assert endpoints(call(directory, "2002", "105", Policy(max_ring_group=1))) == ["2003"]
