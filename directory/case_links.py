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

    def case_urgent(self, number: int) -> bool:
        row = self.conn.execute("SELECT urgency FROM cases WHERE id = ?", (number,)).fetchone()
        return bool(row) and row[0] == "urgent"

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


def link_suggestions(db: sqlite_utils.Database, limit: int = 50) -> list[dict[str, object]]:
    """Answered calls not linked to any case between two people who share open cases: the
    links worth offering afterwards (most calls in a closed user group are about no case)."""
    rows = db.execute(
        f"WITH involved AS ({_INVOLVED}) "
        "SELECT k.id, k.placed_at, k.caller_member_id, k.callee_member_id, "
        "       group_concat(DISTINCT a.case_id) "
        "  FROM contacts k "
        "  JOIN involved a ON a.member_id = k.caller_member_id "
        "  JOIN involved b ON b.member_id = k.callee_member_id AND b.case_id = a.case_id "
        " WHERE k.case_id IS NULL AND k.outcome = 'answered' AND k.kind = 'call' "
        " GROUP BY k.id ORDER BY k.placed_at DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [
        {
            "contact_id": r[0],
            "placed_at": r[1],
            "caller_member_id": r[2],
            "callee_member_id": r[3],
            "cases": sorted(int(c) for c in str(r[4]).split(",")),
        }
        for r in rows
    ]
