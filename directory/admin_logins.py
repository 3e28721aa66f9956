"""Checking a login to the admin site, in three steps so that the slow part (argon2, tens of
milliseconds of CPU) can run off the service's event loop: `begin_login` reads the account,
`password_matches` hashes (thread-safe, no database), `end_login` records what happened.
`check_login` does all three in a row.

Wrong passwords are counted per account: after LOCK_AFTER in a row the account is locked for
LOCK_SECONDS, and while it is locked the password is not even checked, so guessing during the
lock learns nothing (the site also limits failures per address, web/login_limits.py). An
unknown user name costs a hash like any other, so timing does not tell which names exist.

Every attempt is in the audit with the address, but the audit never takes the name typed on
trust (it is the attacker's text): a failure on an account is recorded as that account (its
stored name and id); one on a name that is no account as the fixed actor UNKNOWN_ACTOR, with
the name typed only as a short, percent-escaped `name_tried`. At most FAILED_ROWS_PER_MINUTE
failure rows are written a minute over the whole install; beyond that they are only counted,
and the next row written says how many were left out (`unrecorded_before`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import sqlite_utils
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from directory import audit
from directory.admin_accounts import (
    MAX_PASSWORD,
    USERNAME,
    AdminAccount,
    account_by_id,
    account_row,
    hasher,
    subject,
)
from directory.transactions import writing

log = logging.getLogger(__name__)

LOCK_AFTER = 5
LOCK_SECONDS = 15 * 60
# Checked when the user name is unknown: a wrong name costs as long as a wrong password.
DUMMY_HASH = hasher.hash("not a password of anyone")
# A failed login on a name that is no account; no account can be named so (USERNAME).
UNKNOWN_ACTOR = "admin:(unknown)"
UNKNOWN_SUBJECT = subject("(unknown)")
NAME_TRIED_CHARS = 40
FAILED_ROWS_PER_MINUTE = 60
_LOOK_BACK_ROWS = 1000  # the audit rows the minute's failures are counted in
_UNRECORDED = "admin_login_failures_unrecorded"  # service_state: failures left out since


@dataclass(frozen=True)
class LoginResult:
    account: AdminAccount | None  # set when the login succeeded
    reason: str  # "ok", "unknown", "wrong_password", "locked", "disabled"
    locked_until: str | None = None


@dataclass(frozen=True)
class Attempt:
    name: str
    address: str
    moment: datetime
    row: dict[str, Any] | None
    refused: LoginResult | None  # known before any password is looked at

    @property
    def hash_to_check(self) -> str:
        """The hash the password is checked against: the account's, or a dummy one when the
        attempt is refused whatever the password (unknown, disabled, locked), so that every
        refusal takes as long as a wrong password."""
        if self.refused is not None or self.row is None:
            return DUMMY_HASH
        return self.row["password_hash"]


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def name_tried(typed: str) -> str:
    """The name typed at a failed login, as the audit may keep it: at most NAME_TRIED_CHARS
    characters, everything but letters, digits, '.', '_' and '-' percent-escaped."""
    escaped = quote(typed[:NAME_TRIED_CHARS], safe="abcdefghijklmnopqrstuvwxyz0123456789._-")
    return escaped[:NAME_TRIED_CHARS] + ("…" if len(escaped) > NAME_TRIED_CHARS else "")


def record_failure(
    db: sqlite_utils.Database, account: str | None, typed: str, detail: dict[str, Any]
) -> None:
    """One failed login in the audit (inside the caller's transaction): as `account` (the
    stored user name) when the attempt named one, always; else as UNKNOWN_ACTOR, only
    counted when FAILED_ROWS_PER_MINUTE such rows were written in the last minute (names
    that are no account cannot crowd out the guessing at a real one)."""
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="milliseconds")
    recent = db.execute(
        "SELECT count(*) FROM (SELECT action, actor, at FROM audit ORDER BY id DESC LIMIT ?) "
        "WHERE action = 'admin.login_failed' AND actor = ? AND at >= ?",
        (_LOOK_BACK_ROWS, UNKNOWN_ACTOR, since),
    ).fetchone()[0]
    if account is None and recent >= FAILED_ROWS_PER_MINUTE:
        left_out = db.execute(
            "INSERT INTO service_state (key, value) VALUES (?, '1') ON CONFLICT (key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING value",
            (_UNRECORDED,),
        ).fetchone()[0]
        if int(left_out) % 100 == 1:
            log.warning("admin logins: %s failures not written to the audit so far", left_out)
        return
    row = db.execute("SELECT value FROM service_state WHERE key = ?", (_UNRECORDED,)).fetchone()
    if row and int(row[0]):
        detail = {**detail, "unrecorded_before": int(row[0])}
        db.execute("UPDATE service_state SET value = '0' WHERE key = ?", (_UNRECORDED,))
    if account is None:
        detail = {**detail, "name_tried": name_tried(typed)}
        audit.record(db, UNKNOWN_ACTOR, "admin.login_failed", UNKNOWN_SUBJECT, None, detail)
    else:
        audit.record(db, f"admin:{account}", "admin.login_failed", subject(account), None, detail)


def begin_login(
    db: sqlite_utils.Database, username: str, address: str, now: datetime | None = None
) -> Attempt:
    moment = now or datetime.now(UTC)
    name = (username or "").strip().lower()[:64]
    row = account_row(db, "username", name) if USERNAME.match(name) else None
    refused = None
    if row is None:
        refused = LoginResult(None, "unknown")
    elif row["disabled_at"]:
        refused = LoginResult(None, "disabled")
    elif row["locked_until"] and datetime.fromisoformat(row["locked_until"]) > moment:
        refused = LoginResult(None, "locked", row["locked_until"])
    return Attempt(name, address, moment, row, refused)


def password_matches(hashed: str, password: str) -> bool:
    """Whether `password` matches the argon2 `hashed`."""
    if len(password) > MAX_PASSWORD:
        password = ""  # still hashed: a long guess costs as long as any other
    try:
        return hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def end_login(
    db: sqlite_utils.Database, attempt: Attempt, matched: bool, password: str
) -> LoginResult:
    """Record the attempt (counts, lock, audit) and give its result."""
    name, address, row = attempt.name, attempt.address, attempt.row
    if attempt.refused is not None or row is None:
        refused = attempt.refused or LoginResult(None, "unknown")
        detail = {"reason": refused.reason, "remote_addr": address}
        with writing(db):
            record_failure(db, row["username"] if row else None, name, detail)
        return refused
    if not matched:
        until = count_wrong_password(db, row["id"], row["username"], address, attempt.moment)
        if until:
            return LoginResult(None, "locked", until)
        return LoginResult(None, "wrong_password")
    with writing(db):
        # Looked at again after the hash: a lock set meanwhile by parallel wrong guesses, or
        # the account disabled, still refuses the right password.
        fresh = db.execute(
            "SELECT disabled_at, locked_until FROM admin_accounts WHERE id = ?", (row["id"],)
        ).fetchone()
        if fresh is None or fresh[0]:
            return LoginResult(None, "disabled")
        if fresh[1] and datetime.fromisoformat(fresh[1]) > attempt.moment:
            detail = {"reason": "locked", "remote_addr": address}
            record_failure(db, row["username"], name, detail)
            return LoginResult(None, "locked", fresh[1])
        db.table("admin_accounts").update(
            row["id"],
            {"failures": 0, "locked_until": None, "last_login_at": _stamp(attempt.moment)},
        )
        audit.record(
            db, f"admin:{name}", "admin.login", subject(name), None, {"remote_addr": address}
        )
        if hasher.check_needs_rehash(row["password_hash"]):
            db.table("admin_accounts").update(row["id"], {"password_hash": hasher.hash(password)})
    return LoginResult(account_by_id(db, row["id"]), "ok")


def count_wrong_password(
    db: sqlite_utils.Database, account_id: int, name: str, address: str, moment: datetime
) -> str | None:
    """One more wrong password for the account (at login, or asked again to change it):
    counted in the database itself, not from what the caller read before hashing, so that
    parallel guesses each add one and none clears another's lock; audited with the address.
    The lock's end when this one locked the account, else None."""
    with writing(db):
        failures = db.execute(
            "UPDATE admin_accounts SET failures = failures + 1 WHERE id = ? RETURNING failures",
            (account_id,),
        ).fetchone()[0]
        until = None
        if failures >= LOCK_AFTER:
            until = _stamp(moment + timedelta(seconds=LOCK_SECONDS))
            db.execute(
                "UPDATE admin_accounts SET failures = 0, locked_until = ? WHERE id = ?",
                (until, account_id),
            )
        detail = {"reason": "wrong_password", "remote_addr": address, "failures": failures}
        record_failure(db, name, name, detail)
        if until:
            audit.record(
                db,
                "system",
                "admin_account.locked",
                subject(name),
                None,
                {"locked_until": until, "remote_addr": address},
            )
    if until:
        log.warning("admin account %s locked until %s (from %s)", name, until, address)
    return until


def check_login(
    db: sqlite_utils.Database,
    username: str,
    password: str,
    address: str,
    now: datetime | None = None,
) -> LoginResult:
    """Check a login and record it, all in this thread."""
    attempt = begin_login(db, username, address, now)
    return end_login(db, attempt, password_matches(attempt.hash_to_check, password), password)
