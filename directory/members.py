"""Adding, changing and deactivating members: every write checks first and is audited."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from directory import audit
from directory.case_model import rows
from directory.member_list import MemberScope
from directory.schema import counters_moved_once
from directory.transactions import writing
from directory.validation import CleanMember, MemberError

FIRST_EXTENSION = 2000
MAX_EXTENSION = 999_999
# Fields an import or an edit may change; id, password and timestamps are the system's.
EDITABLE = (
    "name",
    "phone",
    "extension",
    "role",
    "district",
    "sub_county",
    "organisation",
    "supervisor_id",
    "language",
)


def new_sip_password() -> str:
    """24 random URL-safe characters: far beyond any digest-guessing rate."""
    return secrets.token_urlsafe(18)


def reference_data(db: sqlite_utils.Database) -> tuple[set[str], dict[str, str]]:
    roles = {r[0] for r in db.execute("SELECT code FROM roles").fetchall()}
    districts = {r[0].lower(): r[0] for r in db.execute("SELECT name FROM districts").fetchall()}
    return roles, districts


@dataclass
class SaveResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _existing(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    return {row["phone"]: row for row in db["members"].rows}


def supervisor_loop(supervisor_of: dict[str, str], start: str) -> list[str] | None:
    """The loop `start` is in when each key's supervisor is its value (A's is B, B's is A),
    as the keys from `start` round to it again; None when following supervisors ends."""
    path = [start]
    seen = {start}
    current = supervisor_of.get(start)
    while current:
        if current == start:
            return path + [start]
        if current in seen:
            return None  # a loop further up that `start` is not part of
        path.append(current)
        seen.add(current)
        current = supervisor_of.get(current)
    return None


def _loop_through(db: sqlite_utils.Database, member_id: int, supervisor_id: int) -> list[str]:
    """The names round the loop if `member_id` got `supervisor_id` as supervisor, else []."""
    names = [db.execute("SELECT name FROM members WHERE id = ?", (member_id,)).fetchone()[0]]
    current: int | None = supervisor_id
    seen = {member_id}
    while current is not None and current not in seen:
        seen.add(current)
        name, current = db.execute(
            "SELECT name, supervisor_id FROM members WHERE id = ?", (current,)
        ).fetchone()
        names.append(name)
    return names + [names[0]] if current == member_id else []


def taken(
    what: str,
    value: str,
    holder: dict[str, Any],
    scope: MemberScope | None,
    with_phone: bool = False,
) -> str:
    """Why `value` (a phone or extension) cannot be used: `holder` (a members row) has it.
    Named ("extension 2012 belongs to Waiswa Moses", with their phone if asked) only to whom
    the holder is in `scope` (None: the CLI, a national admin); others learn only that it is
    taken, nothing of a member they may not see."""
    if scope is not None and not scope.sees(holder["id"], holder["district"]):
        return f"{what} {value} is already taken"
    phone = f" ({holder['phone']})" if with_phone else ""
    return f"{what} {value} belongs to {holder['name']}{phone}"


def save_members(
    db: sqlite_utils.Database,
    members: Iterable[tuple[int, CleanMember]],
    actor: str,
    action: str = "member.import",
    given: set[str] | None = None,
    scope: MemberScope | None = None,
) -> SaveResult:
    """Insert new members and update changed ones, matched by phone number: all or nothing.

    Each item is (line number, checked values). If any item is wrong (its own errors, a
    duplicate within the batch, an unknown supervisor, an extension already taken) nothing is
    written and `errors` lists every wrong line with its reason. `given` names the fields the
    source had (a CSV's columns); an existing member keeps the others as they were. The
    reasons name no member outside `scope` (the acting account's, see `taken`).
    """
    items = list(members)
    result = SaveResult()
    existing = _existing(db)
    by_extension = {row["extension"]: row for row in existing.values()}
    seen_phone: dict[str, int] = {}
    seen_extension: dict[str, int] = {}
    batch_phones = {m.phone for _, m in items if m.phone}
    for line, m in items:
        for reason in m.errors:
            result.errors.append((line, reason))
        if m.phone:
            if m.phone in seen_phone:
                result.errors.append(
                    (line, f"phone {m.phone} appears again (first on line {seen_phone[m.phone]})")
                )
            else:
                seen_phone[m.phone] = line
        if m.extension:
            if m.extension in seen_extension:
                result.errors.append(
                    (
                        line,
                        f"extension {m.extension} appears again "
                        f"(first on line {seen_extension[m.extension]})",
                    )
                )
            else:
                seen_extension[m.extension] = line
            holder = by_extension.get(m.extension)
            if holder is not None and holder["phone"] != m.phone:
                reason = taken("extension", m.extension, holder, scope, with_phone=True)
                result.errors.append((line, reason))
        if (
            m.supervisor_phone
            and m.supervisor_phone not in batch_phones
            and m.supervisor_phone not in existing
        ):
            result.errors.append((line, f"unknown supervisor {m.supervisor_phone}"))
    if not result.errors:
        # A chain of supervisors must end: escalation walks it (A's supervisor is B, B's A).
        by_id = {row["id"]: phone for phone, row in existing.items()}
        supervisor_of = {
            phone: by_id.get(row["supervisor_id"], "") for phone, row in existing.items()
        }
        for _, m in items:
            if m.phone in existing and given is not None and "supervisor_id" not in given:
                continue
            supervisor_of[m.phone] = m.supervisor_phone or ""
        for line, m in items:
            loop = supervisor_loop(supervisor_of, m.phone)
            if loop:
                result.errors.append((line, "supervisors go round in a loop: " + " → ".join(loop)))
    if result.errors:
        result.errors.sort(key=lambda e: e[0])
        return result

    used = {int(e) for e in by_extension}
    next_ext = FIRST_EXTENSION

    def allocate() -> str:
        nonlocal next_ext
        while next_ext in used or str(next_ext) in seen_extension:
            next_ext += 1
        if next_ext > MAX_EXTENSION:
            raise MemberError(["no free extension left"])
        used.add(next_ext)
        return str(next_ext)

    stamp = audit.now()
    inserts: list[dict[str, Any]] = []
    updates: list[tuple[dict[str, Any], dict[str, Any]]] = []
    audits: list[dict[str, Any]] = []
    # A batch moves the members' version counters once, not once a row; one member's change
    # leaves the triggers in place (dropping them changes the schema every connection reads).
    once = counters_moved_once(db, "members") if len(items) > 1 else nullcontext()
    with writing(db), once:
        # New members and changed ones, as read from the file.
        for _, m in items:
            old = existing.get(m.phone)
            values = {
                "name": m.name,
                "phone": m.phone,
                "role": m.role,
                "district": m.district,
                "sub_county": m.sub_county,
                "organisation": m.organisation,
                "language": m.language,
            }
            if old is None:
                values["extension"] = m.extension or allocate()
                values.update(
                    active=1,
                    sip_password=new_sip_password(),
                    created_at=stamp,
                    updated_at=stamp,
                    supervisor_id=None,
                )
                inserts.append(values)
            else:
                values["extension"] = m.extension or old["extension"]
                if given is not None:
                    values = {k: v for k, v in values.items() if k in given or k == "phone"}
                updates.append((old, values))
        # New members get their ids here, so each is written once with its supervisor
        # (who may be on a later line: the foreign key is checked at commit).
        ids = {phone: row["id"] for phone, row in existing.items()}
        next_id = int(db.execute("SELECT coalesce(max(id), 0) FROM members").fetchone()[0]) + 1
        for values in inserts:
            values["id"] = next_id
            ids[values["phone"]] = next_id
            next_id += 1
        supervisor_of = {m.phone: m.supervisor_phone for _, m in items}
        for values in inserts:
            sup_phone = supervisor_of.get(values["phone"])
            values["supervisor_id"] = ids.get(sup_phone) if sup_phone else None
            after = {k: values[k] for k in EDITABLE}
            audits.append(audit.audit_rows(actor, f"{action}.add", values["phone"], None, after))
        if inserts:
            db.execute("PRAGMA defer_foreign_keys = ON")  # back off at the commit
            columns = list(inserts[0])
            db.conn.executemany(
                f"INSERT INTO members ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})",
                [tuple(v[c] for c in columns) for v in inserts],
            )
        result.added = len(inserts)
        for old, values in updates:
            if given is None or "supervisor_id" in given:
                sup_phone = supervisor_of.get(values["phone"])
                values["supervisor_id"] = ids.get(sup_phone) if sup_phone else None
            changed = {k: v for k, v in values.items() if old.get(k) != v}
            if not changed:
                result.unchanged += 1
                continue
            before = {k: old.get(k) for k in changed}
            audits.append(
                audit.audit_rows(actor, f"{action}.update", values["phone"], before, changed)
            )
            changed["updated_at"] = stamp
            db["members"].update(old["id"], changed)
            result.updated += 1
        if audits:
            columns = list(audits[0])
            db.conn.executemany(
                f"INSERT INTO audit ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})",
                [tuple(a[c] for c in columns) for a in audits],
            )
    return result


def _member_row(db: sqlite_utils.Database, member_id: int) -> dict[str, Any]:
    return db["members"].get(member_id)


def update_member(
    db: sqlite_utils.Database,
    member_id: int,
    m: CleanMember,
    actor: str,
    scope: MemberScope | None = None,
) -> dict[str, Any]:
    """Change one member to the checked values `m`; returns the fields that changed. The
    reasons of a refusal name no member outside `scope` (see `taken`)."""
    old = _member_row(db, member_id)
    errors = list(m.errors)
    extension = m.extension or old["extension"]
    for what, value in (("phone", m.phone), ("extension", extension)):
        other = rows(
            db.execute(
                f"SELECT id, name, district FROM members WHERE {what} = ? AND id != ?",
                (value, member_id),
            )
        )
        if other:
            errors.append(taken(what, value, other[0], scope))
    supervisor_id = None
    if m.supervisor_phone:
        row = db.execute("SELECT id FROM members WHERE phone = ?", (m.supervisor_phone,)).fetchone()
        if row is None:
            errors.append(f"unknown supervisor {m.supervisor_phone}")
        elif row[0] == member_id:
            errors.append("a member cannot be their own supervisor")
        else:
            supervisor_id = row[0]
            loop = _loop_through(db, member_id, supervisor_id)
            if loop:
                errors.append("supervisors go round in a loop: " + " → ".join(loop))
    if errors:
        raise MemberError(errors)
    values = {
        "name": m.name,
        "phone": m.phone,
        "extension": extension,
        "role": m.role,
        "district": m.district,
        "sub_county": m.sub_county,
        "organisation": m.organisation,
        "language": m.language,
        "supervisor_id": supervisor_id,
    }
    changed = {k: v for k, v in values.items() if old.get(k) != v}
    if changed:
        with writing(db):
            before = {k: old.get(k) for k in changed}
            db["members"].update(member_id, {**changed, "updated_at": audit.now()})
            audit.record(db, actor, "member.update", old["phone"], before, changed)
    return changed


def set_active(db: sqlite_utils.Database, member_id: int, active: bool, actor: str) -> bool:
    """Deactivate (or reactivate) a member; True when that changed anything."""
    old = _member_row(db, member_id)
    if bool(old["active"]) == active:
        return False
    with writing(db):
        db["members"].update(member_id, {"active": int(active), "updated_at": audit.now()})
        audit.record(
            db,
            actor,
            "member.activate" if active else "member.deactivate",
            old["phone"],
            {"active": old["active"]},
            {"active": int(active)},
        )
    return True


def reset_sip_password(db: sqlite_utils.Database, member_id: int, actor: str) -> str:
    """Give a member a new SIP password (their phone must be re-provisioned); returns it."""
    old = _member_row(db, member_id)
    password = new_sip_password()
    with writing(db):
        db["members"].update(member_id, {"sip_password": password, "updated_at": audit.now()})
        audit.record(db, actor, "member.reset_sip_password", old["phone"])
    return password
