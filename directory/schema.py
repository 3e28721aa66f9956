"""The directory's tables, created and upgraded through sqlite-utils migrations."""

from __future__ import annotations

import os
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("cug-directory")

# Roles and districts are data: these rows seed a new directory, admins add more.
SEED_ROLES = [
    ("psw", "Para-social worker"),
    ("supervisor", "Supervisor"),
    ("police", "Police (child and family protection desk)"),
    ("health", "Health worker / health focal person"),
    ("probation", "Probation and social welfare officer"),
    ("dac", "District Action Centre officer"),
    ("cdo", "Community development officer"),
    ("helpline", "National Child Helpline"),
    ("admin", "Administrator"),
]
SEED_DISTRICTS = ["Apac", "Bugiri", "Jinja", "Mayuge", "Oyam", "Kampala", "Gulu", "Lira"]

# Short codes a member dials; resolved from the caller's place in the directory.
SEED_SHORT_CODES = [
    ("100", "supervisor", None, None, "My supervisor"),
    ("101", "role", "police", None, "Police desk of my district"),
    ("102", "role", "health", None, "Health focal person of my district"),
    ("103", "role", "probation", None, "Probation / welfare officer of my district"),
    ("104", "role", "dac", None, "District Action Centre of my district"),
    ("116", "outside", None, "116", "National Child Helpline"),
    ("999", "outside", None, "999", "Emergency (police)"),
    ("112", "outside", None, "112", "Emergency"),
]


@migrations(name="0001_directory")
def _m0001(db: sqlite_utils.Database) -> None:
    db["roles"].create({"code": str, "title": str}, pk="code")
    db["districts"].create({"name": str}, pk="name")
    db["members"].create(
        {
            "id": int,
            "name": str,
            "phone": str,
            "extension": str,
            "role": str,
            "district": str,
            "sub_county": str,
            "organisation": str,
            "supervisor_id": int,
            "language": str,
            "active": int,
            "sip_password": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"name", "phone", "extension", "role", "district", "active", "sip_password"},
        defaults={"active": 1, "language": "en", "sub_county": "", "organisation": ""},
        foreign_keys=[
            ("role", "roles", "code"),
            ("district", "districts", "name"),
            ("supervisor_id", "members", "id"),
        ],
    )
    db["members"].create_index(["phone"], unique=True)
    db["members"].create_index(["extension"], unique=True)
    db["members"].create_index(["district", "role", "active"])
    db["members"].create_index(["supervisor_id"])
    db["short_codes"].create(
        {"code": str, "kind": str, "role": str, "number": str, "label": str},
        pk="code",
        not_null={"kind", "label"},
        foreign_keys=[("role", "roles", "code")],
    )
    db["audit"].create(
        {
            "id": int,
            "at": str,
            "actor": str,
            "action": str,
            "subject": str,
            "before": str,
            "after": str,
        },
        pk="id",
        not_null={"at", "actor", "action"},
    )
    db["roles"].insert_all([{"code": c, "title": t} for c, t in SEED_ROLES])
    db["districts"].insert_all([{"name": d} for d in SEED_DISTRICTS])
    db["short_codes"].insert_all(
        [
            {"code": c, "kind": k, "role": r, "number": n, "label": lab}
            for c, k, r, n, lab in SEED_SHORT_CODES
        ]
    )


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) the directory at `path`, readable by its owner only."""
    path = Path(path)
    fresh = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if fresh:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA busy_timeout = 5000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    migrations.apply(db)
    return db


def open_memory() -> sqlite_utils.Database:
    """An in-memory directory with the full schema, for tests and dry runs."""
    db = sqlite_utils.Database(memory=True)
    db.execute("PRAGMA foreign_keys = ON")
    migrations.apply(db)
    return db
