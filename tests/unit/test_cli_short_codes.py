"""`cug directory short-codes ...` as an admin uses it: listed, added, edited and removed,
or refused with every reason and nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.cli_runner import Cug


@pytest.fixture
def cug(tmp_path: Path) -> Cug:
    runner = Cug(tmp_path / "home")
    runner("init")
    return runner


def codes(cug: Cug, *args: str, ok: bool = True) -> str:
    """What `cug directory short-codes ARGS` printed."""
    return cug("directory", "short-codes", *args, ok=ok).output


def test_the_seeded_codes_are_listed_with_and_without_list(cug: Cug) -> None:
    out = cug("directory", "short-codes").output
    assert out == codes(cug, "list")
    assert "100    My supervisor" in out and "(supervisor: the caller's supervisor)" in out
    assert "101    Police desk of my district" in out and "(role: police)" in out
    assert "116    National Child Helpline" in out and "(outside: 116)" in out
    listed = json.loads(codes(cug, "list", "--json"))
    assert "110    My district's bridge" in out and "(district_bridge: the caller's" in out
    seeded = ["100", "101", "102", "103", "104", "110", "111", "112", "116", "999"]
    assert [c["code"] for c in listed] == seeded


def test_add_edit_and_remove_a_code(cug: Cug) -> None:
    out = codes(cug, "add", "105", "--kind", "role", "--role", "psw", "--label", "PSWs")
    assert "added 105    PSWs" in out and "(role: psw)" in out
    assert "next calls use it" in out
    out = codes(cug, "edit", "105", "--kind", "outside", "--number", "0800100116")
    assert "was  105" in out and "(role: psw)" in out
    assert "now  105" in out and "(outside: +256800100116)" in out
    assert "nothing changed" in codes(cug, "edit", "105")
    assert "removed 105" in codes(cug, "remove", "105")
    assert "105" not in cug("directory", "short-codes").output
    audit = cug.sql("SELECT actor, action, subject FROM audit WHERE action LIKE 'short_code.%'")
    assert audit == [
        ("tester", "short_code.add", "105"),
        ("tester", "short_code.edit", "105"),
        ("tester", "short_code.remove", "105"),
    ]


def test_a_bad_code_is_refused_with_every_reason_and_nothing_changes(cug: Cug) -> None:
    before = cug.sql("SELECT * FROM short_codes ORDER BY code")
    args = ["--kind", "role", "--role", "wizard", "--number", "+1 555", "--label", "Team"]
    out = codes(cug, "add", "*0*", *args, ok=False)
    assert "short code refused, nothing changed:" in out
    for reason in (
        "short code '*0*' cannot hold * or #",
        "unknown role 'wizard'",
        "outside number: not a valid phone number: '+1 555'",
        "--number is only for kind outside",
    ):
        assert reason in out, out
    out = codes(cug, "add", "1050", "--kind", "supervisor", "--label", "x", ok=False)
    assert "short code '1050' is too long" in out
    out = codes(cug, "edit", "101", "--role", "", ok=False)
    assert "kind role needs --role" in out
    assert cug.sql("SELECT * FROM short_codes ORDER BY code") == before
    assert cug.sql("SELECT count(*) FROM audit WHERE action LIKE 'short_code.%'") == [(0,)]


def test_the_helpline_code_cannot_go_while_a_chain_rings_it(cug: Cug) -> None:
    out = codes(cug, "remove", "116", ok=False)
    assert "the default escalation chain rings 116 (National Child Helpline)" in out
    cug("escalation", "set", "callee:20, outside=116:60", "--district", "Oyam")
    out = codes(cug, "remove", "116", ok=False)
    assert "the escalation chain for district Oyam rings 116" in out
    assert "116    National Child Helpline" in cug("directory", "short-codes").output
    assert "no short code '555'" in codes(cug, "remove", "555", ok=False)


def test_a_code_gets_a_word_for_texting_it_by_sms(cug: Cug) -> None:
    assert "text: SUP <text>" in codes(cug, "list")  # seeded
    assert codes(cug, "word", "101", "desk") == "short code 101: word POLICE -> DESK\n"
    out = codes(cug, "word", "102", "who", ok=False)
    assert "WHO is a command" in out
    out = codes(cug, "word", "102", "DESK", ok=False)
    assert "DESK is already the word of short code 101" in out
    assert "must be 2 to 12 letters" in codes(cug, "word", "102", "h3alth", ok=False)
    assert codes(cug, "word", "101", "-") == "short code 101: word DESK -> (none)\n"
    listed = json.loads(codes(cug, "list", "--json"))
    assert {c["code"]: c["word"] for c in listed}["100"] == "SUP"
    actions = cug.sql("SELECT action FROM audit WHERE action = 'short_code.word'")
    assert len(actions) == 2


def test_the_bridges_are_listed_with_the_codes_that_reach_them(cug: Cug) -> None:
    out = cug(
        "conference", "add-bridge", "--code", "150", "--district", "Oyam", "--label", "Oyam meeting"
    ).output
    assert out.startswith("bridge 1")
    codes(cug, "add", "151", "--kind", "bridge", "--bridge", "1", "--label", "Old code")
    listed = cug("conference", "bridges").output
    assert "Oyam meeting" in listed and "codes 150,151" in listed
    assert "the district's supervisors" in listed


def test_a_bridge_whose_code_is_refused_is_not_added(cug: Cug) -> None:
    """add-bridge checks the bridge, its leader and its code at once: both or neither."""
    add = ("conference", "add-bridge", "--district", "Oyam", "--label", "Oyam meeting")
    out = cug(*add, "--code", "100", ok=False).output
    assert "bridge refused: " in out and "short code 100 already exists" in out
    assert cug.sql("SELECT count(*) FROM bridges") == [(0,)]
    assert cug.sql("SELECT count(*) FROM audit WHERE action = 'bridge.add'") == [(0,)]
