"""Admin accounts: roles and scope, argon2 hashes, lockout after wrong passwords, the audit,
and `cug admin ...`."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from directory import audit
from directory.admin_accounts import (
    AccountError,
    create_account,
    disable_account,
    get_account,
    reset_password,
    unlock_account,
)
from directory.admin_logins import LOCK_AFTER, begin_login, check_login, end_login
from directory.lookup import Directory
from tests.unit.cli_runner import with_members

PASSWORD = "correct horse battery"


def audit_actions(db: sqlite_utils.Database) -> list[tuple[str, str, dict]]:
    found = db.execute("SELECT actor, action, after FROM audit ORDER BY id").fetchall()
    return [(a, b, json.loads(c) if c else {}) for a, b, c in found]


def test_no_account_exists_until_one_is_created(db: sqlite_utils.Database) -> None:
    assert db.execute("SELECT count(*) FROM admin_accounts").fetchone()[0] == 0


def test_password_is_kept_as_an_argon2_hash_only(db: sqlite_utils.Database) -> None:
    create_account(db, "nat", "national", PASSWORD, "tester")
    stored = db.execute("SELECT password_hash FROM admin_accounts").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert PASSWORD not in json.dumps(audit_actions(db))


def test_roles_have_named_permissions_and_scopes(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    nat = create_account(db, "nat", "national", PASSWORD, "tester")
    dis = create_account(db, "oyam-admin", "district", PASSWORD, "tester", districts=["oyam"])
    sup = create_account(db, "grace", "supervisor", PASSWORD, "tester", member="2001")
    assert nat.can("accounts.manage") and nat.sees("Jinja") and nat.scoped_districts is None
    assert dis.districts == ("Oyam",) and dis.sees("oyam") and not dis.sees("Jinja")
    assert dis.can("members.write") and not dis.can("accounts.manage")
    assert not dis.can("short_codes.write") and dis.can("chains.write")
    assert sup.can("members.read") and not sup.can("members.write")
    assert not sup.can("cases.write") and sup.can("reports.read")
    okello = directory.member_by_extension("2002")
    opio = directory.member_by_extension("2004")
    assert okello and opio
    assert sup.sees_member(okello.id, "Oyam") and not sup.sees_member(opio.id, "Oyam")
    assert sup.sees_case("Oyam", okello.id) and not sup.sees_case("Oyam", opio.id)
    assert not sup.sees_case("Oyam", None)


def test_bad_accounts_are_refused_with_every_reason(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    with pytest.raises(AccountError) as exc:
        create_account(db, "<x>", "king", "short", "tester")
    assert len(exc.value.reasons) == 3
    with pytest.raises(AccountError) as exc:
        create_account(db, "d", "district", PASSWORD, "tester")
    assert any("user name" in r for r in exc.value.reasons)
    with pytest.raises(AccountError) as exc:
        create_account(db, "dd", "district", PASSWORD, "tester", districts=["Atlantis"])
    assert exc.value.reasons == ["unknown district 'Atlantis'"]
    with pytest.raises(AccountError) as exc:
        create_account(db, "sup", "supervisor", PASSWORD, "tester")
    assert "member record" in exc.value.reasons[0]
    create_account(db, "nat", "national", PASSWORD, "tester")
    with pytest.raises(AccountError, match="already"):
        create_account(db, "NAT", "national", PASSWORD, "tester")
    with pytest.raises(AccountError, match="at most"):
        create_account(db, "long", "national", "x" * 10_000, "tester")
    assert db.execute("SELECT count(*) FROM admin_accounts").fetchone()[0] == 1


def test_login_is_audited_with_the_address(db: sqlite_utils.Database) -> None:
    create_account(db, "nat", "national", PASSWORD, "tester")
    assert check_login(db, "nat", "wrong password!", "10.0.0.9").reason == "wrong_password"
    assert check_login(db, "nobody", PASSWORD, "10.0.0.9").reason == "unknown"
    good = check_login(db, "Nat ", PASSWORD, "10.0.0.8")
    assert good.reason == "ok" and good.account and good.account.last_login_at
    actions = audit_actions(db)[-3:]
    assert [a[1] for a in actions] == ["admin.login_failed", "admin.login_failed", "admin.login"]
    assert actions[0][2] == {"reason": "wrong_password", "remote_addr": "10.0.0.9", "failures": 1}
    assert actions[2][2] == {"remote_addr": "10.0.0.8"}


def test_account_locks_after_wrong_passwords_even_for_the_right_one(
    db: sqlite_utils.Database,
) -> None:
    create_account(db, "nat", "national", PASSWORD, "tester")
    start = datetime.now(UTC)
    results = [
        check_login(db, "nat", f"guess {i:08}", "10.0.0.9", start) for i in range(LOCK_AFTER)
    ]
    assert [r.reason for r in results] == ["wrong_password"] * (LOCK_AFTER - 1) + ["locked"]
    assert check_login(db, "nat", PASSWORD, "10.0.0.1", start).reason == "locked"
    later = start + timedelta(minutes=16)
    assert check_login(db, "nat", PASSWORD, "10.0.0.1", later).reason == "ok"
    assert any(a[1] == "admin_account.locked" for a in audit_actions(db))


def test_disable_and_reset_password(db: sqlite_utils.Database) -> None:
    create_account(db, "nat", "national", PASSWORD, "tester")
    create_account(db, "nat2", "national", PASSWORD, "tester")
    disable_account(db, "nat", "boss")
    assert check_login(db, "nat", PASSWORD, "10.0.0.1").reason == "disabled"
    with pytest.raises(AccountError, match="already"):
        disable_account(db, "nat", "boss")
    with pytest.raises(AccountError, match="at least"):
        reset_password(db, "nat", "short", "boss")
    reset_password(db, "nat", "another long password", "boss")
    assert check_login(db, "nat", PASSWORD, "10.0.0.1").reason == "wrong_password"
    assert check_login(db, "nat", "another long password", "10.0.0.1").reason == "ok"
    account = get_account(db, "nat")
    assert account and account.disabled_at is None
    actions = [a[1] for a in audit_actions(db) if a[0] == "boss"]
    assert actions == ["admin_account.disable", "admin_account.reset_password"]


def test_cli_create_list_disable_reset(tmp_path: Path) -> None:
    cug = with_members(tmp_path)
    out = cug("admin", "create", "nat", "--password-stdin", input=PASSWORD + "\n").output
    assert "national" in out
    cug(
        "admin",
        "create",
        "oyam",
        "--role",
        "district",
        "--district",
        "Oyam",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    cug(
        "admin",
        "create",
        "grace",
        "--role",
        "supervisor",
        "--member",
        "2001",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    bad = cug("admin", "create", "x", "--password-stdin", input="short\n", ok=False)
    assert "at least" in bad.output
    listed = json.loads(cug("admin", "list", "--json").output)
    assert [(a["username"], a["role"], a["districts"]) for a in listed] == [
        ("grace", "supervisor", []),
        ("nat", "national", []),
        ("oyam", "district", ["Oyam"]),
    ]
    assert "password" not in json.dumps(listed)
    cug("admin", "disable", "oyam")
    assert "disabled" in cug("admin", "list").output
    cug("admin", "reset-password", "oyam", "--password-stdin", input="a brand new password\n")
    assert cug.sql("SELECT disabled_at FROM admin_accounts WHERE username='oyam'") == [(None,)]
    actors = cug.sql("SELECT DISTINCT actor FROM audit WHERE action LIKE 'admin_account.%'")
    assert actors == [("tester",)]
    token = cug("api", "token", "create", "oyam-script", "--account", "Oyam").output
    assert token.strip().splitlines()[-1].startswith("cug_")
    assert "as oyam" in cug("api", "token", "list").output
    refused = cug("api", "token", "create", "x", "--account", "nobody", ok=False).output
    assert "no admin account" in refused


def test_the_audit_is_append_only(db: sqlite_utils.Database) -> None:
    create_account(db, "nat", "national", PASSWORD, "tester")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit SET actor = 'someone else'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit")
    assert [a[0] for a in audit_actions(db)] == ["tester"]


def test_rows_written_for_a_client_carry_its_address(db: sqlite_utils.Database) -> None:
    with audit.from_address("10.1.2.3"):
        audit.record(db, "admin:nat", "thing.change", "x", {"a": 1}, None)
    audit.record(db, "cli:root", "thing.change", "x", None, {"a": 2})
    assert [a[2] for a in audit_actions(db)] == [{"remote_addr": "10.1.2.3"}, {"a": 2}]


def test_the_last_national_admin_cannot_be_disabled(db: sqlite_utils.Database) -> None:
    create_account(db, "nat", "national", PASSWORD, "tester")
    with pytest.raises(AccountError, match="last national admin"):
        disable_account(db, "nat", "boss")
    assert get_account(db, "nat").disabled_at is None


def test_parallel_wrong_guesses_all_count_and_the_lock_holds_for_the_right_one(
    db: sqlite_utils.Database,
) -> None:
    # Six guesses read the account before any is hashed (an attacker's burst), then the
    # right password's attempt: each wrong one counts, and the lock they set refuses it.
    create_account(db, "nat", "national", PASSWORD, "tester")
    guesses = [begin_login(db, "nat", "10.0.0.9") for _ in range(6)]
    right = begin_login(db, "nat", "10.0.0.9")
    reasons = [end_login(db, g, False, "guess").reason for g in guesses]
    assert "locked" in reasons
    assert end_login(db, right, True, PASSWORD).reason == "locked"
    locked = [a for a in audit_actions(db) if a[1] == "admin_account.locked"]
    assert locked


def test_unlock_lifts_the_lock_and_keeps_the_password(db: sqlite_utils.Database) -> None:
    create_account(db, "nat", "national", PASSWORD, "tester")
    for _ in range(5):
        check_login(db, "nat", "wrong", "10.0.0.1")
    assert check_login(db, "nat", PASSWORD, "10.0.0.1").reason == "locked"
    unlock_account(db, "nat", "boss")
    assert check_login(db, "nat", PASSWORD, "10.0.0.1").reason == "ok"
    assert ("boss", "admin_account.unlock") in [a[:2] for a in audit_actions(db)]
