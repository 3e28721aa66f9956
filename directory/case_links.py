"""Case look-ups the routing service makes during a call: is this case known, which open case
do two members share."""

from __future__ import annotations

import sqlite_utils

# A case involves its assigned worker and every member a referral of it went to.
_INVOLVED = """
    SELECT id AS case_id, assigned_member_id AS member_id FROM cases
     WHERE status != 'closed' AND assigned_member_id IS NOT NULL
    UNION
    SELECT r.case_id, r.to_member_id FROM referrals r JOIN cases c ON c.id = r.case_id
     WHERE c.status != 'closed' AND r.to_member_id IS NOT NULL
"""


class CaseLookup:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.conn = db.conn

    def case_status(self, number: int) -> str | None:
        row = self.conn.execute("SELECT status FROM cases WHERE id = ?", (number,)).fetchone()
        return row[0] if row else None

    def open_cases_involving(self, member_a: int, member_b: int) -> list[int]:
        """Open cases involving both members (at most two: more than one is ambiguous)."""
        rows = self.conn.execute(
            f"WITH involved AS ({_INVOLVED}) "
            "SELECT case_id FROM involved WHERE member_id = ? "
            "INTERSECT SELECT case_id FROM involved WHERE member_id = ? LIMIT 2",
            (member_a, member_b),
        ).fetchall()
        return [r[0] for r in rows]
