"""Escalation chains as stored: the text of each chain an admin set, per district and role.

A chain is kept per district and/or role ("" = any), normal or urgent, as the text
routing/escalation.py parses and checks (e.g. `callee:20, supervisor:20, outside=116:60`).
`candidates` lists the rows that could apply to a member, most specific first: their
district and role, their district, their role, every member.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from directory.audit import now, record
from directory.transactions import writing


@dataclass(frozen=True)
class StoredChain:
    district: str
    role: str
    urgent: bool
    rules: str
    updated_at: str = ""
    updated_by: str = ""

    @property
    def scope(self) -> str:
        return describe_scope(self.district, self.role, self.urgent)


def describe_scope(district: str, role: str, urgent: bool = False) -> str:
    parts = [f"district {district}" if district else "", f"role {role}" if role else ""]
    return (", ".join(p for p in parts if p) or "every member") + (" (urgent)" if urgent else "")


_COLUMNS = "district, role, urgent, rules, updated_at, updated_by"


def _chain(row: Any) -> StoredChain:
    return StoredChain(row[0], row[1], bool(row[2]), row[3], row[4] or "", row[5] or "")


class ChainStore:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def get(self, district: str, role: str, urgent: bool) -> StoredChain | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM escalation_chains "
            "WHERE district = ? AND role = ? AND urgent = ?",
            (district, role, 1 if urgent else 0),
        ).fetchone()
        return _chain(row) if row else None

    def candidates(self, district: str, role: str, urgent: bool) -> list[StoredChain]:
        """The chains that could apply to a member of `role` in `district`, best first
        (one query: it runs for every call)."""
        found = [
            _chain(row)
            for row in self.db.execute(
                f"SELECT {_COLUMNS} FROM escalation_chains WHERE urgent = ? "
                "AND district IN (?, '') AND role IN (?, '')",
                (1 if urgent else 0, district, role),
            )
        ]
        # district and role, district, role, everyone
        return sorted(found, key=lambda c: (c.district == "", c.role == ""))

    def all(self) -> list[StoredChain]:
        return [
            _chain(row)
            for row in self.db.execute(
                f"SELECT {_COLUMNS} FROM escalation_chains ORDER BY district, role, urgent"
            )
        ]

    def known_scope(self, district: str, role: str) -> list[str]:
        """Why a district or role is not one the directory has (empty when both are)."""
        reasons = []
        if (
            district
            and not self.db.execute(
                "SELECT 1 FROM districts WHERE name = ?", (district,)
            ).fetchone()
        ):
            reasons.append(f"unknown district {district[:40]!r}")
        if role and not self.db.execute("SELECT 1 FROM roles WHERE code = ?", (role,)).fetchone():
            reasons.append(f"unknown role {role[:40]!r}")
        return reasons

    def roles(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT code FROM roles")}

    def save(self, district: str, role: str, urgent: bool, rules: str, actor: str) -> StoredChain:
        """Store a chain (already checked by the caller), with an audit row."""
        before = self.get(district, role, urgent)
        after = {
            "district": district,
            "role": role,
            "urgent": 1 if urgent else 0,
            "rules": rules,
            "updated_at": now(),
            "updated_by": actor,
        }
        with writing(self.db):
            self.db.execute(
                "DELETE FROM escalation_chains WHERE district = ? AND role = ? AND urgent = ?",
                (district, role, after["urgent"]),
            )
            self.db["escalation_chains"].insert(after)
            record(
                self.db,
                actor,
                "chain.set",
                describe_scope(district, role, urgent),
                {"rules": before.rules} if before else None,
                {"rules": rules},
            )
        return _chain(tuple(after[c.strip()] for c in _COLUMNS.split(",")))

    def clear(self, district: str, role: str, urgent: bool, actor: str) -> bool:
        before = self.get(district, role, urgent)
        if before is None:
            return False
        with writing(self.db):
            self.db.execute(
                "DELETE FROM escalation_chains WHERE district = ? AND role = ? AND urgent = ?",
                (district, role, 1 if urgent else 0),
            )
            record(
                self.db,
                actor,
                "chain.clear",
                describe_scope(district, role, urgent),
                {"rules": before.rules},
                None,
            )
        return True
