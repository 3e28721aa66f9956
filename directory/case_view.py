"""Reading cases back: lists, and one case with its referrals, history and contacts."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from directory.case_model import CASE_STATUSES, Case, rows
from directory.case_values import CaseError
from directory.cases import case_events
from directory.conference_view import case_conferences
from directory.referrals import case_referrals, referral_history
from directory.report import case_response

_CONTACT_COLUMNS = (
    "id, kind, placed_at, answered_at, ended_at, outcome, refusal, caller_member_id, "
    "caller_number, callee_member_id, callee_number, dialed, link, link_note, after_close"
)


def list_cases(
    db: sqlite_utils.Database,
    district: str | None = None,
    status: str | None = None,
    assigned_member_id: int | None = None,
) -> list[Case]:
    """Cases, newest report first, narrowed by district (any letter case), status, worker."""
    where, params = ["1"], []
    if district:
        where.append("district = ? COLLATE NOCASE")
        params.append(district.strip())
    if status:
        if status not in CASE_STATUSES:
            raise CaseError([f"status {status[:20]!r} must be one of {', '.join(CASE_STATUSES)}"])
        where.append("status = ?")
        params.append(status)
    if assigned_member_id is not None:
        where.append("assigned_member_id = ?")
        params.append(assigned_member_id)
    found = rows(
        db.execute(
            f"SELECT * FROM cases WHERE {' AND '.join(where)} "
            "ORDER BY julianday(reported_at) DESC, id DESC",
            params,
        )
    )
    return [Case.from_row(row) for row in found]


def member_label(db: sqlite_utils.Database, member_id: int | None) -> dict[str, Any] | None:
    """A member as shown beside a case: id, extension, name, role, district (no secrets)."""
    if member_id is None:
        return None
    row = db.execute(
        "SELECT id, extension, name, role, district FROM members WHERE id = ?", (member_id,)
    ).fetchone()
    if row is None:
        return {"id": member_id}
    return dict(zip(("id", "extension", "name", "role", "district"), row, strict=True))


def case_contacts(db: sqlite_utils.Database, case_id: int) -> list[dict[str, Any]]:
    """The contacts linked to the case, in the order they were placed."""
    return rows(
        db.execute(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE case_id = ? "
            "ORDER BY julianday(placed_at), id",
            (case_id,),
        )
    )


def case_details(db: sqlite_utils.Database, case: Case) -> dict[str, Any]:
    """Everything about one case, JSON-ready: the case, its response figures, its referrals
    with their steps, its history, and its contacts as a timeline."""
    labels: dict[int, dict[str, Any] | None] = {}

    def label(member_id: int | None) -> dict[str, Any] | None:
        if member_id is None:
            return None
        if member_id not in labels:
            labels[member_id] = member_label(db, member_id)
        return labels[member_id]

    referrals = []
    for referral in case_referrals(db, case.id):
        data = referral.to_dict()
        data["to"] = label(referral.to_member_id)
        data["history"] = referral_history(db, referral.id)
        referrals.append(data)
    contacts = case_contacts(db, case.id)
    for contact in contacts:
        contact["caller"] = label(contact["caller_member_id"])
        contact["callee"] = label(contact["callee_member_id"])
        contact["after_close"] = bool(contact["after_close"])
    return {
        "case": {**case.to_dict(), "assigned": label(case.assigned_member_id)},
        "response": case_response(db, case.id).to_dict(),
        "referrals": referrals,
        "events": case_events(db, case.id),
        "contacts": contacts,
        "conferences": case_conferences(db, case.id),
    }
