"""A failed login's audit row never carries the name typed as given (an attacker's text):
an account's failures are recorded as that account, a name that is no account as one fixed
actor with a short, escaped `name_tried`; and failures fill the audit at a bounded rate."""

from __future__ import annotations

import json

import pytest
import sqlite_utils

from directory import admin_logins
from directory.admin_accounts import create_account
from directory.admin_logins import UNKNOWN_ACTOR, UNKNOWN_SUBJECT, check_login, name_tried
from tests.unit.site_client import PASSWORD

HOSTILE = "<script>alert(1)</script>\n2026-12-05 admin:nat logged in\u202e" + "x" * 10_000


def failures(db: sqlite_utils.Database) -> list[tuple[str, str, dict]]:
    found = db.execute(
        "SELECT actor, subject, after FROM audit WHERE action = 'admin.login_failed' ORDER BY id"
    )
    return [(actor, subject, json.loads(after)) for actor, subject, after in found]


def test_an_unknown_name_is_recorded_as_unknown_short_and_escaped(
    db: sqlite_utils.Database,
) -> None:
    create_account(db, "nat", "national", PASSWORD, "tester")
    assert check_login(db, HOSTILE, PASSWORD, "10.0.0.9").reason == "unknown"
    assert check_login(db, "  NAT ", "a wrong password", "10.0.0.9").reason == "wrong_password"
    assert check_login(db, "nobody", PASSWORD, "10.0.0.9").reason == "unknown"
    (actor, subject, detail), known, typo = failures(db)
    assert actor == UNKNOWN_ACTOR and subject == UNKNOWN_SUBJECT
    assert detail["reason"] == "unknown" and detail["remote_addr"] == "10.0.0.9"
    tried = detail["name_tried"]
    assert len(tried) <= 41 and tried.startswith("%3Cscript%3E")
    assert not set(tried) & set("<>\n\u202e ")
    assert known[:2] == ("admin:nat", "admin_account:nat") and "name_tried" not in known[2]
    assert typo[2]["name_tried"] == "nobody"
    assert name_tried("ok-name_1.x") == "ok-name_1.x"


def test_failures_beyond_the_rate_are_counted_not_written(
    db: sqlite_utils.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_account(db, "nat", "national", PASSWORD, "tester")
    monkeypatch.setattr(admin_logins, "FAILED_ROWS_PER_MINUTE", 3)
    for n in range(5):
        check_login(db, f"guess{n}", PASSWORD, f"10.0.1.{n}")
    # Guessing at a real account is always written, however many unknown names came first.
    check_login(db, "nat", "a wrong password", "10.0.2.1")
    actor, _, detail = failures(db)[-1]
    assert len(failures(db)) == 4 and actor == "admin:nat"
    assert detail["unrecorded_before"] == 2  # the two unknown names left out before it
    assert db.execute("SELECT failures FROM admin_accounts").fetchone()[0] == 1
    check_login(db, "guess5", PASSWORD, "10.0.1.5")  # still over the rate: counted
    monkeypatch.setattr(admin_logins, "FAILED_ROWS_PER_MINUTE", 100)
    check_login(db, "guess9", PASSWORD, "10.0.1.9")
    last = failures(db)[-1][2]
    assert last["unrecorded_before"] == 1 and last["name_tried"] == "guess9"
    check_login(db, "guess10", PASSWORD, "10.0.1.10")
    assert "unrecorded_before" not in failures(db)[-1][2]
