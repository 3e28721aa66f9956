"""`cug escalation ...` as an admin uses it: chains shown, set (or refused with every
reason, changing nothing), cleared, and the notices escalated calls left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.cli_runner import Cug, with_members


@pytest.fixture
def cug(tmp_path: Path) -> Cug:
    return with_members(tmp_path / "home")


def test_with_nothing_set_calls_follow_the_default_chain(cug: Cug) -> None:
    out = cug("escalation", "show", "2003", "--caller", "2002").output
    assert "from default" in out
    assert "step 1: callee" in out and "Auma Christine (2003)" in out
    assert "step 2: supervisor" in out and "Grace Akello (2001)  [must press 1]" in out
    assert "Okello Denis" not in out  # the caller is never rung
    # No trunk: the helpline step is left out, and said so.
    assert "outside numbers need the trunk (`cug init --trunk`)" in out.splitlines()[-1]
    cug("init", "--trunk")
    helpline = cug("escalation", "show", "2003").output.splitlines()[-1]
    assert "116" in helpline and "press 1" not in helpline  # the helpline's staff answer


def test_set_show_list_and_clear(cug: Cug) -> None:
    out = cug("escalation", "set", "callee:15,role=police:10", "--district", "Oyam").output
    assert "district Oyam: callee:15, role=police:10" in out
    show = cug("escalation", "show", "0772100003").output
    assert "from district Oyam" in show and "Sgt. Opio James (2004)" in show
    listed = json.loads(cug("escalation", "list", "--json").output)
    assert listed["chains"][0]["rules"] == "callee:15, role=police:10"
    assert listed["chains"][0]["updated_by"] == "tester"
    audit = cug.sql("SELECT actor, action, subject FROM audit WHERE action LIKE 'chain.%'")
    assert audit == [("tester", "chain.set", "district Oyam")]
    cug("escalation", "clear", "--district", "Oyam")
    assert "from default" in cug("escalation", "show", "2003").output
    assert "no chain set" in cug("escalation", "clear", "--district", "Oyam", ok=False).output


def test_a_bad_chain_is_refused_with_every_reason_and_changes_nothing(cug: Cug) -> None:
    out = cug(
        "escalation", "set", "callee:20, member=2009:20, role=wizard:1", "--role", "x", ok=False
    ).output
    for reason in (
        "unknown role 'x'",
        "Lanyero Joy is not active",
        "unknown role 'wizard'",
        "ring time must be",
    ):
        assert reason in out, out
    assert cug.sql("SELECT count(*) FROM escalation_chains") == [(0,)]


def test_notices_are_listed_per_member(cug: Cug) -> None:
    cug.sql(
        "INSERT INTO call_notices (linkedid, member_id, kind, text, created_at) "
        "VALUES ('1.1', 3, 'missed', 'Missed escalated call from Okello Denis (2002)', "
        "'2026-11-24T10:00:00')"
    )
    assert "Missed escalated call" in cug("escalation", "notices", "--member", "2003").output
    assert "no notices" in cug("escalation", "notices", "--member", "2004").output
