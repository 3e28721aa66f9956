"""`cug directory pin ...`: a member's dial-in PIN set, shown once, kept as a hash, cleared."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.cli_runner import Cug

CSV = "name,phone,role,district,supervisor_phone,extension\nAnna,0772200002,psw,Oyam,,3002\n"


@pytest.fixture
def cug(tmp_path: Path) -> Cug:
    runner = Cug(tmp_path / "home")
    runner("init")
    csv = tmp_path / "members.csv"
    csv.write_text(CSV)
    runner("directory", "import", str(csv))
    return runner


def stored(cug: Cug) -> list[tuple]:
    return cug.sql("SELECT member_id, pin_hash FROM member_pins")


def test_a_random_pin_is_shown_once_and_kept_only_hashed(cug: Cug) -> None:
    out = cug("directory", "pin", "set", "0772 200002").output
    pin = re.search(r"\(3002\): (\d{4})$", out.strip())
    assert pin, out
    [(_, digest)] = stored(cug)
    assert pin.group(1) not in digest
    assert cug.sql("SELECT actor, action FROM audit WHERE action LIKE 'pin.%'") == [
        ("tester", "pin.set")
    ]


def test_a_given_pin_is_checked_and_a_bad_one_changes_nothing(cug: Cug) -> None:
    out = cug("directory", "pin", "set", "3002", "--pin", "12a4", ok=False).output
    assert "4 to 8 digits" in out
    assert stored(cug) == []
    assert "as given" in cug("directory", "pin", "set", "3002", "--pin", "482193").output
    assert len(stored(cug)) == 1


def test_clear_and_an_unknown_member(cug: Cug) -> None:
    cug("directory", "pin", "set", "3002", "--pin", "4821")
    assert "PIN removed" in cug("directory", "pin", "clear", "3002").output
    assert "had no PIN" in cug("directory", "pin", "clear", "3002").output
    assert stored(cug) == []
    assert "no member" in cug("directory", "pin", "set", "9999", ok=False).output
