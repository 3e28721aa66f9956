"""What the text relay asks the directory about members and cases (the answers to WHO,
CASES and DONE, names in notices, who is active), so that no SQL lives on the relay's
Asterisk or HTTP side."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils


@dataclass(frozen=True)
class OpenCase:
    id: int
    category: str
    follow_up_due: str  # "" when none


@dataclass(frozen=True)
class MemberReferral:
    id: int
    case_id: int
    service: str
    status: str


class TextLookups:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def who(self, extension: str) -> tuple[str, str, str] | None:
        """(name, role title, district) of the active member with `extension`."""
        row = self.db.execute(
            "SELECT m.name, coalesce(r.title, m.role), m.district FROM members m "
            "LEFT JOIN roles r ON r.code = m.role WHERE m.extension = ? AND m.active = 1",
            (extension,),
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def open_cases(self, member_id: int) -> list[OpenCase]:
        """The member's cases that are not closed, the next follow-up first."""
        rows = self.db.execute(
            "SELECT id, category, coalesce(follow_up_due, '') FROM cases "
            "WHERE assigned_member_id = ? AND status != 'closed' "
            "ORDER BY coalesce(follow_up_due, '9999'), id",
            (member_id,),
        ).fetchall()
        return [OpenCase(int(r[0]), r[1], r[2]) for r in rows]

    def label(self, member_id: int) -> str:
        """`Name (extension)` of a member, for notices."""
        row = self.db.execute(
            "SELECT name, extension FROM members WHERE id = ?", (member_id,)
        ).fetchone()
        return f"{row[0]} ({row[1]})" if row else f"member {member_id}"

    def is_active(self, member_id: int) -> bool:
        row = self.db.execute("SELECT active FROM members WHERE id = ?", (member_id,)).fetchone()
        return bool(row and row[0])

    def active_id(self, extension: str) -> int | None:
        """The id of the active member with `extension` (an AMI event names the endpoint)."""
        row = self.db.execute(
            "SELECT id FROM members WHERE extension = ? AND active = 1", (extension[:8],)
        ).fetchone()
        return int(row[0]) if row else None

    def supervisor(self, member_id: int) -> int | None:
        """The member's supervisor, when they have an active one."""
        row = self.db.execute(
            "SELECT s.id FROM members m JOIN members s ON s.id = m.supervisor_id "
            "WHERE m.id = ? AND s.active = 1",
            (member_id,),
        ).fetchone()
        return int(row[0]) if row else None

    def referrals_to(self, member_id: int, case_id: int) -> list[MemberReferral]:
        """The referrals of a case made to the member, newest first."""
        rows = self.db.execute(
            "SELECT id, case_id, service, status FROM referrals "
            "WHERE case_id = ? AND to_member_id = ? ORDER BY id DESC",
            (case_id, member_id),
        ).fetchall()
        return [MemberReferral(int(r[0]), int(r[1]), r[2], r[3]) for r in rows]
