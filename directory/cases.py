"""Opening, assigning, following up, closing and reopening cases.

Every change checks everything first (raising CaseError with every reason, changing nothing),
then writes the case, a `case_events` row and an `audit` row in one transaction. A case's
summary is child-protection detail: it is stored on the case only, never copied into events
or the audit (they record its length).
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from directory import audit
from directory.case_model import URGENCIES, Case, rows
from directory.case_values import (
    LIMITS,
    CaseError,
    active_member,
    clean_long_text,
    from_text,
    known_code,
    known_district,
    not_in_future,
    parse_time,
    to_text,
)
from directory.transactions import writing
from directory.validation import clean_text

log = logging.getLogger(__name__)

ASSIGNED_PREFIX = "CUG-"


def find_case(db: sqlite_utils.Database, ident: int | str) -> Case | None:
    """A case by its number (digits) or its reference (any letter case)."""
    if isinstance(ident, int):
        found = db.execute("SELECT * FROM cases WHERE id = ?", (ident,))
    else:
        text = ident.strip()
        if text.isdigit():
            found = db.execute("SELECT * FROM cases WHERE id = ?", (int(text),))
        else:
            found = db.execute("SELECT * FROM cases WHERE reference = ? COLLATE NOCASE", (text,))
    matches = rows(found)
    return Case.from_row(matches[0]) if matches else None


def get_case(db: sqlite_utils.Database, ident: int | str) -> Case:
    case = find_case(db, ident)
    if case is None:
        raise CaseError([f"no case with number or reference {str(ident)[:40]!r}"])
    return case


def record_event(
    db: sqlite_utils.Database,
    case_id: int,
    actor: str,
    action: str,
    detail: dict[str, Any] | None = None,
    at: str | None = None,
) -> None:
    """One row of the case's history (call inside the change's transaction)."""
    db["case_events"].insert(
        {
            "case_id": case_id,
            "at": at or audit.now(),
            "actor": actor,
            "action": action,
            "detail": json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        }
    )


def case_events(db: sqlite_utils.Database, case_id: int) -> list[dict[str, Any]]:
    """The case's history in the order it was recorded (a step may be dated earlier than
    when it was recorded); `detail` decoded."""
    events = rows(
        db.execute(
            "SELECT id, at, actor, action, detail FROM case_events WHERE case_id = ? ORDER BY id",
            (case_id,),
        )
    )
    for event in events:
        event["detail"] = json.loads(event["detail"] or "{}")
    return events


def _subject(case_id: int) -> str:
    return f"case:{case_id}"


def _require_actor(actor: str) -> None:
    if not actor or not actor.strip():
        raise CaseError(["who is acting (actor) is missing"])


def _not_closed(case: Case, doing: str, errors: list[str]) -> None:
    if case.closed:
        errors.append(
            f"case {case.id} ({case.reference}) is closed: reopen it before {doing} "
            f"(`cug case reopen {case.id}`)"
        )


def _check_reference(db: sqlite_utils.Database, value: str | None, errors: list[str]) -> str:
    reference = clean_text(value, "reference", errors, limit=LIMITS["reference"])
    if not reference:
        return ""
    if reference.isdigit():
        errors.append(
            f"reference {reference!r} is only digits and would be mistaken for a case number: "
            f"give it with its source, e.g. NCH-{reference}"
        )
    elif reference.upper().startswith(ASSIGNED_PREFIX):
        errors.append(f"references starting {ASSIGNED_PREFIX} are given by the system")
    else:
        row = db.execute(
            "SELECT id FROM cases WHERE reference = ? COLLATE NOCASE", (reference,)
        ).fetchone()
        if row:
            errors.append(f"reference {reference!r} is already case {row[0]}")
    return reference


def open_case(
    db: sqlite_utils.Database,
    actor: str,
    *,
    district: str,
    category: str,
    reference: str | None = None,
    urgency: str = "normal",
    reported_at: str | None = None,
    assign: int | str | None = None,
    follow_up_due: str | None = None,
    summary: str | None = None,
) -> Case:
    """Record a new case and return it; its number is what members key in before a call.

    `reference` is the outside reference (the Helpline's, a DAC's); without one the case gets
    CUG-<number>. `reported_at` (ISO date or date-time; default now) is when the abuse was
    reported: response times count from it. `assign` names an active member (id, extension or
    phone number).
    """
    _require_actor(actor)
    errors: list[str] = []
    district_name = known_district(db, district, errors)
    category_code = known_code(db, "case_categories", category, "category", errors)
    urgency_value = (urgency or "normal").strip().lower()
    if urgency_value not in URGENCIES:
        errors.append(f"urgency {urgency_value[:20]!r} must be one of {', '.join(URGENCIES)}")
    reference_text = _check_reference(db, reference, errors)
    reported = parse_time(reported_at, "reported_at", errors) or datetime.now(UTC)
    not_in_future(reported, "reported_at", errors)
    due = parse_time(follow_up_due, "follow_up_due", errors, end_of_day=True)
    if due is not None and due < reported:
        errors.append(f"follow_up_due {to_text(due)} is before the report ({to_text(reported)})")
    member = None
    if assign is not None and assign != "":
        member = active_member(db, assign, "assign", errors)
    summary_text = clean_long_text(summary, "summary", errors)
    if errors:
        raise CaseError(errors)

    stamp = audit.now()
    values: dict[str, Any] = {
        "district": district_name,
        "category": category_code,
        "urgency": urgency_value,
        "status": "open",
        "assigned_member_id": member.id if member else None,
        "reported_at": to_text(reported),
        "opened_at": stamp,
        "follow_up_due": to_text(due) if due else None,
        "summary": summary_text,
        "created_by": actor,
    }
    try:
        with writing(db):
            # A unique placeholder until the number is known; replaced before the commit.
            placeholder = f"{ASSIGNED_PREFIX}pending-{secrets.token_hex(8)}"
            case_id = db["cases"].insert({**values, "reference": placeholder}).last_pk
            values["reference"] = reference_text or f"{ASSIGNED_PREFIX}{case_id}"
            db["cases"].update(case_id, {"reference": values["reference"]})
            detail = {k: v for k, v in values.items() if k not in ("summary", "created_by")}
            detail["assigned"] = member.extension if member else None
            detail["summary_chars"] = len(summary_text)
            record_event(db, case_id, actor, "open", detail, at=stamp)
            audit.record(db, actor, "case.open", _subject(case_id), None, detail)
    except sqlite3.IntegrityError as exc:  # another admin took the reference meanwhile
        raise CaseError([f"the case could not be stored: {exc}"]) from None
    log.debug("case %s (%s) opened by %s", case_id, values["reference"], actor)
    return get_case(db, case_id)


def assign_case(
    db: sqlite_utils.Database, case_ident: int | str, member_ident: int | str, actor: str
) -> Case:
    """Give the case to an active member (or to another one); a closed case is refused."""
    _require_actor(actor)
    case = get_case(db, case_ident)
    errors: list[str] = []
    _not_closed(case, "assigning it", errors)
    member = active_member(db, member_ident, "member", errors)
    if errors:
        raise CaseError(errors)
    assert member is not None
    if case.assigned_member_id == member.id:
        return case
    before = {"assigned_member_id": case.assigned_member_id}
    after = {"assigned_member_id": member.id}
    with writing(db):
        db["cases"].update(case.id, after)
        record_event(
            db,
            case.id,
            actor,
            "reassign" if case.assigned_member_id else "assign",
            {"from_member_id": case.assigned_member_id, "to": member.extension, **after},
        )
        audit.record(db, actor, "case.assign", _subject(case.id), before, after)
    return get_case(db, case.id)


def set_follow_up(
    db: sqlite_utils.Database, case_ident: int | str, due: str | None, actor: str
) -> Case:
    """Set when the case must next be followed up (a date alone: by the end of that day, UTC);
    an empty `due` clears it."""
    _require_actor(actor)
    case = get_case(db, case_ident)
    errors: list[str] = []
    _not_closed(case, "setting a follow-up", errors)
    moment = parse_time(due, "follow_up_due", errors, end_of_day=True)
    reported = from_text(case.reported_at)
    if moment is not None and reported is not None and moment < reported:
        errors.append(f"follow_up_due {to_text(moment)} is before the report ({case.reported_at})")
    if errors:
        raise CaseError(errors)
    value = to_text(moment) if moment else None
    if value == case.follow_up_due:
        return case
    with writing(db):
        db["cases"].update(case.id, {"follow_up_due": value})
        record_event(
            db, case.id, actor, "follow_up", {"from": case.follow_up_due, "follow_up_due": value}
        )
        audit.record(
            db,
            actor,
            "case.follow_up",
            _subject(case.id),
            {"follow_up_due": case.follow_up_due},
            {"follow_up_due": value},
        )
    return get_case(db, case.id)


def close_case(db: sqlite_utils.Database, case_ident: int | str, reason: str, actor: str) -> Case:
    """Close the case with a reason (required). Referrals still in progress stay as they are."""
    _require_actor(actor)
    case = get_case(db, case_ident)
    errors: list[str] = []
    if case.closed:
        errors.append(f"case {case.id} ({case.reference}) is already closed")
    reason_text = clean_text(reason, "reason", errors, required=True, limit=LIMITS["reason"])
    if errors:
        raise CaseError(errors)
    after = {"status": "closed", "closed_at": audit.now(), "close_reason": reason_text}
    with writing(db):
        db["cases"].update(case.id, after)
        record_event(db, case.id, actor, "close", {"reason": reason_text}, at=after["closed_at"])
        audit.record(db, actor, "case.close", _subject(case.id), {"status": case.status}, after)
    log.debug("case %s closed by %s", case.id, actor)
    return get_case(db, case.id)


def reopen_case(db: sqlite_utils.Database, case_ident: int | str, actor: str) -> Case:
    """Reopen a closed case: back to `referred` if it has referrals, else `open`."""
    _require_actor(actor)
    case = get_case(db, case_ident)
    if not case.closed:
        raise CaseError([f"case {case.id} ({case.reference}) is not closed (it is {case.status})"])
    has_referrals = db.execute(
        "SELECT 1 FROM referrals WHERE case_id = ? LIMIT 1", (case.id,)
    ).fetchone()
    status = "referred" if has_referrals else "open"
    before = {
        "status": case.status,
        "closed_at": case.closed_at,
        "close_reason": case.close_reason,
    }
    with writing(db):
        db["cases"].update(case.id, {"status": status, "closed_at": None, "close_reason": None})
        record_event(
            db,
            case.id,
            actor,
            "reopen",
            {"status": status, "was_closed_at": case.closed_at, "close_reason": case.close_reason},
        )
        audit.record(db, actor, "case.reopen", _subject(case.id), before, {"status": status})
    return get_case(db, case.id)
