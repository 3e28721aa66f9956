"""Shared helpers: a directory in memory with a small, known set of members."""

from __future__ import annotations

from typing import Any

import pytest
import sqlite_utils

from directory.lookup import Directory
from directory.members import SaveResult, reference_data, save_members
from directory.schema import open_memory
from directory.validation import MemberValues, clean_member

# name, phone, role, district, supervisor_phone, extension
MEMBERS = [
    ("Grace Akello", "0772100001", "supervisor", "Oyam", "", "2001"),
    ("Okello Denis", "0772100002", "psw", "Oyam", "0772100001", "2002"),
    ("Auma Christine", "0772100003", "psw", "Oyam", "0772100001", "2003"),
    ("Sgt. Opio James", "0772100004", "police", "Oyam", "", "2004"),
    ("Dr. Acen Sarah", "0772100005", "health", "Oyam", "", "2005"),
    ("Ogwang Peter", "0772100006", "probation", "Oyam", "", "2006"),
    ("Ayo Betty", "0772100007", "dac", "Oyam", "", "2007"),
    ("Odongo Sam", "0772100008", "psw", "Oyam", "", "2008"),
    ("Lanyero Joy", "0772100009", "psw", "Oyam", "0772100001", "2009"),
    ("Nakato Ruth", "0772100011", "supervisor", "Jinja", "", "2011"),
    ("Waiswa Moses", "0772100012", "psw", "Jinja", "0772100011", "2012"),
    ("Cpl. Mugisha Paul", "0772100014", "police", "Jinja", "", "2014"),
]
INACTIVE = "2009"


def member_values(row: tuple[str, ...]) -> MemberValues:
    name, phone, role, district, supervisor, extension = row
    return MemberValues(
        name=name,
        phone=phone,
        role=role,
        district=district,
        supervisor_phone=supervisor,
        extension=extension,
    )


def save(db: sqlite_utils.Database, rows: list[Any], actor: str = "test") -> SaveResult:
    """Check and save member rows (tuples as in MEMBERS, or MemberValues); line 2 is the first."""
    roles, districts = reference_data(db)
    items = [
        (
            line,
            clean_member(r if isinstance(r, MemberValues) else member_values(r), roles, districts),
        )
        for line, r in enumerate(rows, 2)
    ]
    return save_members(db, items, actor)


def audit_count(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM audit").fetchone()[0]


@pytest.fixture
def db() -> sqlite_utils.Database:
    return open_memory()


@pytest.fixture
def directory(db: sqlite_utils.Database) -> Directory:
    result = save(db, MEMBERS)
    assert result.ok, result.errors
    assert result.added == len(MEMBERS)
    d = Directory(db)
    inactive = d.member_by_extension(INACTIVE)
    assert inactive is not None
    db.execute("UPDATE members SET active = 0 WHERE id = ?", (inactive.id,))
    return d
