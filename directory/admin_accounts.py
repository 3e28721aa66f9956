"""Accounts of the admin site: who may log in, what they may do, and where.

Separate from members' SIP credentials. Passwords are kept only as argon2 hashes. There is no
default account: the first national admin is made with `cug admin create`.

Roles, each a set of named permissions (the site and the JSON API ask `account.can(...)`):
- national: everything, every district;
- district: members, cases, figures, texts waiting, escalation chains and conference
  bridges of their own districts;
- supervisor: read-only, their team (the members they supervise, and themselves), the
  cases assigned to it, its figures, the texts waiting for it, and their district's
  conference bridges.

Logins are checked in directory/admin_logins.py. Every change to an account is in the audit.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlite_utils
from argon2 import PasswordHasher

from directory import audit
from directory.case_model import rows
from directory.transactions import writing

log = logging.getLogger(__name__)

ROLES = ("national", "district", "supervisor")
_SUPERVISOR = frozenset(
    {"members.read", "cases.read", "reports.read", "bridges.read", "texts.read"}
)
_DISTRICT = _SUPERVISOR | {
    "members.write",
    "members.export",
    "cases.write",
    "reports.read",
    "short_codes.read",
    "chains.read",
    "chains.write",
    "bridges.write",
}
PERMISSIONS: dict[str, frozenset[str]] = {
    "national": _DISTRICT | {"short_codes.write", "audit.read", "accounts.manage"},
    "district": _DISTRICT,
    "supervisor": _SUPERVISOR,
}
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 256  # argon2 hashes anything, but a 10 MB "password" costs memory and time

hasher = PasswordHasher()


class AccountError(ValueError):
    """Why an account cannot be made or changed; nothing was changed."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class AdminAccount:
    id: int
    username: str
    role: str
    districts: tuple[str, ...]  # a district admin's; () for the others
    member_id: int | None  # a supervisor's own member record
    team: frozenset[int]  # member ids a supervisor sees (their team and themselves)
    disabled_at: str | None
    locked_until: str | None
    last_login_at: str | None
    password_set_at: str

    @property
    def actor(self) -> str:
        """Who acts in the audit and the case history."""
        return f"admin:{self.username}"

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    @property
    def scoped_districts(self) -> tuple[str, ...] | None:
        """The districts this account is limited to, or None for every district. A supervisor
        is limited by team, not district: their team's districts are not theirs to browse."""
        if self.role == "national":
            return None
        return self.districts

    @property
    def team_scoped(self) -> bool:
        """Limited to a team (member ids) rather than to districts."""
        return self.role == "supervisor"

    def sees(self, district: str | None) -> bool:
        """May this account see (and, with the permission, change) things of `district`?"""
        if self.role == "national":
            return True
        wanted = (district or "").casefold()
        return any(wanted == d.casefold() for d in self.districts)

    def sees_member(self, member_id: int, district: str | None) -> bool:
        if self.role == "supervisor":
            return member_id in self.team
        return self.sees(district)

    def sees_case(self, district: str | None, assigned_member_id: int | None) -> bool:
        if self.role == "supervisor":
            return assigned_member_id is not None and assigned_member_id in self.team
        return self.sees(district)

    def to_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "role": self.role,
            "districts": list(self.districts),
            "member_id": self.member_id,
            "disabled_at": self.disabled_at,
            "locked_until": self.locked_until,
            "last_login_at": self.last_login_at,
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def subject(username: str) -> str:
    return f"admin_account:{username}"


def password_problems(password: str) -> list[str]:
    if len(password) < MIN_PASSWORD:
        return [f"the password must have at least {MIN_PASSWORD} characters"]
    if len(password) > MAX_PASSWORD:
        return [f"the password must have at most {MAX_PASSWORD} characters"]
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):
        return ["the password must not contain control characters"]
    return []


def _team(db: sqlite_utils.Database, member_id: int | None) -> frozenset[int]:
    if member_id is None:
        return frozenset()
    found = db.execute("SELECT id FROM members WHERE supervisor_id = ?", (member_id,)).fetchall()
    return frozenset({member_id, *(r[0] for r in found)})


def _from_row(db: sqlite_utils.Database, row: dict[str, Any]) -> AdminAccount:
    districts = tuple(
        r[0]
        for r in db.execute(
            "SELECT district FROM admin_account_districts WHERE account_id = ? ORDER BY district",
            (row["id"],),
        )
    )
    return AdminAccount(
        id=row["id"],
        username=row["username"],
        role=row["role"],
        districts=districts,
        member_id=row["member_id"],
        team=_team(db, row["member_id"]) if row["role"] == "supervisor" else frozenset(),
        disabled_at=row["disabled_at"] or None,
        locked_until=row["locked_until"] or None,
        last_login_at=row["last_login_at"] or None,
        password_set_at=row["password_set_at"],
    )


def account_row(db: sqlite_utils.Database, where: str, value: Any) -> dict[str, Any] | None:
    found = rows(db.execute(f"SELECT * FROM admin_accounts WHERE {where} = ?", (value,)))
    return found[0] if found else None


def get_account(db: sqlite_utils.Database, username: str) -> AdminAccount | None:
    row = account_row(db, "username", (username or "").strip().lower())
    return _from_row(db, row) if row else None


def account_by_id(db: sqlite_utils.Database, account_id: int) -> AdminAccount | None:
    row = account_row(db, "id", account_id)
    return _from_row(db, row) if row else None


def list_accounts(db: sqlite_utils.Database) -> list[AdminAccount]:
    found = rows(db.execute("SELECT * FROM admin_accounts ORDER BY username"))
    return [_from_row(db, row) for row in found]


def _districts(db: sqlite_utils.Database, given: list[str], errors: list[str]) -> list[str]:
    known = {r[0].casefold(): r[0] for r in db.execute("SELECT name FROM districts")}
    out: list[str] = []
    for name in given:
        stored = known.get(name.strip().casefold())
        if stored is None:
            errors.append(f"unknown district {name.strip()[:40]!r}")
        elif stored not in out:
            out.append(stored)
    return out


def create_account(
    db: sqlite_utils.Database,
    username: str,
    role: str,
    password: str,
    actor: str,
    districts: list[str] | None = None,
    member: str | None = None,
) -> AdminAccount:
    """A new account. A district admin needs at least one district; a supervisor names their
    own member record (extension or phone: `member`), whose team they then see."""
    from directory.lookup import Directory

    errors: list[str] = []
    username = (username or "").strip().lower()
    if not USERNAME.match(username):
        errors.append(
            "the user name must be 2-64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    elif account_row(db, "username", username):
        errors.append(f"there is already an account named {username!r}")
    if role not in ROLES:
        errors.append(f"unknown role {role[:20]!r} (one of {', '.join(ROLES)})")
    chosen = _districts(db, districts or [], errors)
    if role == "district" and not chosen and not districts:
        errors.append("a district admin needs at least one district (--district)")
    if role != "district" and districts:
        errors.append("only a district admin has districts")
    member_id = None
    if role == "supervisor":
        found = Directory(db).find(member or "") if member else None
        if not member:
            errors.append("a supervisor names their own member record (--member extension)")
        elif found is None:
            errors.append(f"no member with extension or number {member[:40]!r}")
        elif found.role != "supervisor" or not found.active:
            what = found.role if found.active else "deactivated"
            errors.append(
                f"member {found.extension} ({found.name}) is {what}, not an active supervisor: "
                "a supervisor account sees that member's team"
            )
        else:
            member_id = found.id
    elif member:
        errors.append("only a supervisor is linked to a member record")
    errors += password_problems(password)
    if not actor or not actor.strip():
        errors.append("who is acting (actor) is missing")
    if errors:
        raise AccountError(errors)
    stamp = _stamp(_now())
    with writing(db):
        account_id = (
            db.table("admin_accounts")
            .insert(
                {
                    "username": username,
                    "role": role,
                    "password_hash": hasher.hash(password),
                    "member_id": member_id,
                    "created_at": stamp,
                    "created_by": actor,
                    "password_set_at": stamp,
                }
            )
            .last_pk
        )
        db.table("admin_account_districts").insert_all(
            [{"account_id": account_id, "district": d} for d in chosen]
        )
        audit.record(
            db,
            actor,
            "admin_account.create",
            subject(username),
            None,
            {"role": role, "districts": chosen, "member_id": member_id},
        )
    log.info("admin account %s (%s) created by %s", username, role, actor)
    made = get_account(db, username)
    assert made is not None
    return made


def _existing(db: sqlite_utils.Database, username: str) -> AdminAccount:
    found = get_account(db, username)
    if found is None:
        raise AccountError([f"no account named {(username or '')[:64]!r}"])
    return found


def disable_account(db: sqlite_utils.Database, username: str, actor: str) -> AdminAccount:
    """Refuse the account's logins and end its sessions (the site checks at every request)."""
    found = _existing(db, username)
    if found.disabled_at:
        raise AccountError([f"account {found.username!r} was already disabled"])
    stamp = _stamp(_now())
    with writing(db):
        if found.role == "national":
            others = db.execute(
                "SELECT count(*) FROM admin_accounts WHERE role = 'national' "
                "AND disabled_at IS NULL AND id != ?",
                (found.id,),
            ).fetchone()[0]
            if not others:
                raise AccountError(
                    [f"{found.username!r} is the last national admin: create another first"]
                )
        db.table("admin_accounts").update(found.id, {"disabled_at": stamp})
        _end_sessions(db, found.id)
        audit.record(
            db,
            actor,
            "admin_account.disable",
            subject(found.username),
            {"disabled_at": None},
            {"disabled_at": stamp},
        )
    return _existing(db, found.username)


def unlock_account(db: sqlite_utils.Database, username: str, actor: str) -> AdminAccount:
    """Lift a lock set by wrong passwords, and its count, without changing the password."""
    found = _existing(db, username)
    with writing(db):
        before = db.execute(
            "SELECT failures, locked_until FROM admin_accounts WHERE id = ?", (found.id,)
        ).fetchone()
        db.table("admin_accounts").update(found.id, {"failures": 0, "locked_until": None})
        audit.record(
            db,
            actor,
            "admin_account.unlock",
            subject(found.username),
            {"failures": before[0], "locked_until": before[1]},
            {"failures": 0, "locked_until": None},
        )
    return _existing(db, found.username)


def reset_password(
    db: sqlite_utils.Database, username: str, password: str, actor: str
) -> AdminAccount:
    """A new password; it unlocks the account, re-enables it, and ends its sessions."""
    found = _existing(db, username)
    errors = password_problems(password)
    if errors:
        raise AccountError(errors)
    stamp = _stamp(_now())
    with writing(db):
        db.table("admin_accounts").update(
            found.id,
            {
                "password_hash": hasher.hash(password),
                "password_set_at": stamp,
                "failures": 0,
                "locked_until": None,
                "disabled_at": None,
            },
        )
        _end_sessions(db, found.id)
        audit.record(
            db,
            actor,
            "admin_account.reset_password",
            subject(found.username),
            {"disabled_at": found.disabled_at},
            {"password_set_at": stamp, "disabled_at": None},
        )
    return _existing(db, found.username)


def _end_sessions(db: sqlite_utils.Database, account_id: int) -> None:
    from directory.admin_sessions import end_all_sessions

    end_all_sessions(db, account_id)
