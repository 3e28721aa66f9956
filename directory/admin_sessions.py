"""Sessions of the admin site: one row per login, named by a random id the (encrypted) cookie
carries. A session is live until its account logs out, is disabled or gets a new password, or
it is older than the site's limit; a copied cookie is refused from then on."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import sqlite_utils

from directory import audit
from directory.admin_accounts import AdminAccount, account_by_id
from directory.transactions import writing

SESSION_HOURS = 8


def start_session(db: sqlite_utils.Database, account: AdminAccount, address: str) -> str:
    sid = secrets.token_urlsafe(24)
    with writing(db):
        db.table("admin_sessions").insert(
            {
                "id": sid,
                "account_id": account.id,
                "started_at": audit.now(),
                "remote_addr": address,
            }
        )
    return sid


def live_account(
    db: sqlite_utils.Database, sid: str, now: datetime | None = None
) -> AdminAccount | None:
    """The account of live session `sid`, or None (unknown, ended, too old, account disabled
    or its password changed since the login)."""
    if not isinstance(sid, str) or not 16 <= len(sid) <= 64:
        return None
    row = db.execute(
        "SELECT account_id, started_at, ended_at FROM admin_sessions WHERE id = ?", (sid,)
    ).fetchone()
    if row is None or row[2]:
        return None
    started = datetime.fromisoformat(row[1])
    if (now or datetime.now(UTC)) - started > timedelta(hours=SESSION_HOURS):
        return None
    account = account_by_id(db, row[0])
    if account is None or account.disabled_at or account.password_set_at > row[1]:
        return None
    return account


def end_session(db: sqlite_utils.Database, sid: str, account: AdminAccount, address: str) -> None:
    with writing(db):
        db.execute(
            "UPDATE admin_sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL",
            (audit.now(), sid),
        )
        audit.record(
            db,
            account.actor,
            "admin.logout",
            f"admin_account:{account.username}",
            None,
            {"remote_addr": address},
        )


def end_all_sessions(db: sqlite_utils.Database, account_id: int) -> None:
    """End every session of an account (inside the caller's transaction, if any)."""
    db.execute(
        "UPDATE admin_sessions SET ended_at = ? WHERE account_id = ? AND ended_at IS NULL",
        (audit.now(), account_id),
    )
