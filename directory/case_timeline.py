"""One case's story in time order, for people to read: its calls and texts from the contact
log (with the escalation step that rang and whether a key was needed), its conferences (one
line each: "case conference 14:02-14:19: A, B; C did not answer", from the contact log's
participations, directory/conference_view.py), its history (opened, assigned, follow-ups,
links, closed) and its referrals' steps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from directory.conference_view import describe as describe_conference

OUTCOMES = {
    "answered": "answered",
    "no_answer": "no answer",
    "busy": "busy",
    "unavailable": "unreachable",
    "refused": "refused",
    "failed": "failed",
}


def _moment(text: str | None) -> datetime:
    try:
        moment = datetime.fromisoformat(text or "")
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _who(label: dict[str, Any] | None, number: str | None) -> str:
    if label and label.get("name"):
        return f"{label['name']} ({label.get('extension', '?')})"
    return number or "someone outside the CUG"


def _contact_line(db: sqlite_utils.Database, contact: dict[str, Any]) -> str:
    row = db.execute("SELECT step, confirm FROM contacts WHERE id = ?", (contact["id"],)).fetchone()
    step, confirm = row if row else (None, None)
    caller = _who(contact.get("caller"), contact.get("caller_number"))
    callee = _who(contact.get("callee"), contact.get("callee_number"))
    outcome = OUTCOMES.get(contact.get("outcome") or "", contact.get("outcome") or "")
    parts = [f"{contact['kind']} #{contact['id']}: {caller} → {callee}", outcome]
    if contact.get("refusal"):
        parts.append(f"reason {contact['refusal']}")
    if step:
        parts.append(f"escalation step {step}" + (", key needed" if confirm else ""))
    if contact.get("after_close"):
        parts.append("after the case was closed")
    return ", ".join(p for p in parts if p)


def case_timeline(db: sqlite_utils.Database, details: dict[str, Any]) -> list[dict[str, str]]:
    """Entries {at, kind, text} from `details` (directory.case_view.case_details), oldest first."""
    entries: list[tuple[datetime, int, dict[str, str]]] = []

    def add(at: str | None, order: int, kind: str, text: str) -> None:
        entries.append((_moment(at), order, {"at": at or "", "kind": kind, "text": text}))

    case = details["case"]
    add(
        case["reported_at"],
        -1,
        "report",
        f"reported: {case['category']}, {case['urgency']}, {case['district']}",
    )
    conferences = details.get("conferences", [])
    for conference in conferences:
        add(conference["started_at"], 0, "conference", describe_conference(conference))
    # Each participation in a conference on the case is told by the conference's line.
    bridges = {conference["bridge"] for conference in conferences}
    for contact in details["contacts"]:
        if contact["kind"] == "conference" and contact.get("dialed") in bridges:
            continue
        add(contact["placed_at"], 0, contact["kind"], _contact_line(db, contact))
    for event in details["events"]:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(event["detail"].items()))
        text = f"{event['action']} by {event['actor']}" + (f": {detail}" if detail else "")
        add(event["at"], 1, "history", text)
    for referral in details["referrals"]:
        to = _who(referral.get("to"), None) if referral.get("to") else "no one named"
        for step in referral["history"]:
            reason = f" ({step['reason']})" if step.get("reason") else ""
            text = f"referral #{referral['id']} to {referral['service']}, {to}: {step['status']}"
            add(step["at"], 2, "referral", text + reason + f" by {step['actor']}")
    entries.sort(key=lambda e: (e[0], e[1]))
    return [entry for _, _, entry in entries]
