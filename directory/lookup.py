"""Read-only lookups on the directory, fast enough for the hot path of a call."""

from __future__ import annotations

import sqlite3

import sqlite_utils

from directory.model import Member, ShortCode
from directory.numbers import try_normalise

_MEMBER_COLUMNS = (
    "id, name, phone, extension, role, district, sub_county, organisation, "
    "supervisor_id, language, active, sip_password"
)
_CODE_COLUMNS = "s.code, s.kind, s.role, s.number, s.label, b.bridge_id"
_CODE_BRIDGE = "LEFT JOIN short_code_bridges b ON b.code = s.code"


def _member(cursor: sqlite3.Cursor) -> Member | None:
    row = cursor.fetchone()
    if row is None:
        return None
    names = [d[0] for d in cursor.description]
    return Member.from_row(dict(zip(names, row, strict=True)))


class Directory:
    """The directory as routing sees it: members, short codes, nothing else."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.conn = db.conn

    def member(self, member_id: int) -> Member | None:
        return _member(
            self.conn.execute(f"SELECT {_MEMBER_COLUMNS} FROM members WHERE id = ?", (member_id,))
        )

    def member_by_extension(self, extension: str) -> Member | None:
        return _member(
            self.conn.execute(
                f"SELECT {_MEMBER_COLUMNS} FROM members WHERE extension = ?", (extension,)
            )
        )

    def member_by_phone(self, e164: str) -> Member | None:
        return _member(
            self.conn.execute(f"SELECT {_MEMBER_COLUMNS} FROM members WHERE phone = ?", (e164,))
        )

    def find(self, ident: str) -> Member | None:
        """A member by extension or by their phone number in any format."""
        ident = ident.strip()
        found = self.member_by_extension(ident)
        if found is not None:
            return found
        e164 = try_normalise(ident)
        return self.member_by_phone(e164) if e164 else None

    def members_with_role(self, district: str, role: str, limit: int = 5) -> list[Member]:
        cursor = self.conn.execute(
            f"SELECT {_MEMBER_COLUMNS} FROM members "
            "WHERE district = ? AND role = ? AND active = 1 ORDER BY id LIMIT ?",
            (district, role, limit),
        )
        names = [d[0] for d in cursor.description]
        return [Member.from_row(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]

    def routing_version(self) -> int | None:
        """A number that moves whenever members or escalation chains change (triggers);
        None in a directory without the counter."""
        row = self.conn.execute(
            "SELECT value FROM service_state WHERE key = 'routing_version'"
        ).fetchone()
        return int(row[0]) if row else None

    def short_code(self, code: str) -> ShortCode | None:
        cursor = self.conn.execute(
            f"SELECT {_CODE_COLUMNS} FROM short_codes s {_CODE_BRIDGE} WHERE s.code = ?",
            (code,),
        )
        row = cursor.fetchone()
        if row is None:
            return None
        return ShortCode(*row)

    def short_codes(self) -> list[ShortCode]:
        rows = self.conn.execute(
            f"SELECT {_CODE_COLUMNS} FROM short_codes s {_CODE_BRIDGE} ORDER BY s.code"
        ).fetchall()
        return [ShortCode(*row) for row in rows]

    def active_members(self) -> list[Member]:
        cursor = self.conn.execute(
            f"SELECT {_MEMBER_COLUMNS} FROM members WHERE active = 1 ORDER BY extension"
        )
        names = [d[0] for d in cursor.description]
        return [Member.from_row(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]

    def sip_accounts(self) -> list[tuple[str, str, str]]:
        """(extension, name, SIP password) of every active member: what their phone's PJSIP
        endpoint is made from."""
        return self.conn.execute(
            "SELECT extension, name, sip_password FROM members WHERE active = 1"
        ).fetchall()
