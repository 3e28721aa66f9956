"""Referrals on a case and their lifecycle, each step dated and signed in `referral_events`.

    made ──► accepted ──► completed
      │          └──────► failed     (reason required)
      └────► declined                (reason required)

declined, completed and failed are final. A referral can only be made on a case that is not
closed; making one moves an open case to `referred`. Each step also writes a case event and
an audit row, in the same transaction; a refused step changes nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from directory import audit
from directory.case_model import Referral, rows
from directory.case_values import (
    LIMITS,
    CaseError,
    active_member,
    from_text,
    known_code,
    not_in_future,
    parse_time,
    to_text,
)
from directory.cases import get_case, record_event
from directory.transactions import writing
from directory.validation import clean_text

log = logging.getLogger(__name__)

# The step each status can be reached from.
REACHED_FROM = {
    "accepted": "made",
    "declined": "made",
    "completed": "accepted",
    "failed": "accepted",
}
NEEDS_REASON = {"declined", "failed"}
FINAL = {"declined", "completed", "failed"}
_FROM_WORDS = {"made": "a referral still waiting for an answer", "accepted": "an accepted referral"}
_REASON_WORDS = {"declined": "was declined", "failed": "failed"}
_VERBS = {"accepted": "accept", "declined": "decline", "completed": "complete", "failed": "fail"}


def get_referral(db: sqlite_utils.Database, referral_id: int) -> Referral:
    found = rows(db.execute("SELECT * FROM referrals WHERE id = ?", (referral_id,)))
    if not found:
        raise CaseError([f"no referral {referral_id}"])
    return Referral.from_row(found[0])


def case_referrals(db: sqlite_utils.Database, case_id: int) -> list[Referral]:
    found = rows(db.execute("SELECT * FROM referrals WHERE case_id = ? ORDER BY id", (case_id,)))
    return [Referral.from_row(row) for row in found]


def referral_history(db: sqlite_utils.Database, referral_id: int) -> list[dict[str, Any]]:
    """The referral's steps in order (each dated no earlier than the one before)."""
    return rows(
        db.execute(
            "SELECT at, actor, status, reason FROM referral_events WHERE referral_id = ? "
            "ORDER BY id",
            (referral_id,),
        )
    )


def _step_time(at: str | None, not_before: str | None, what: str, errors: list[str]) -> str:
    """When a step happened, as stored: `at` (checked: not ahead of the clock, not before
    `not_before`) or now."""
    moment = parse_time(at, "at", errors) or datetime.now(UTC)
    not_in_future(moment, "at", errors)
    earliest = from_text(not_before)
    if earliest is not None and moment < earliest.replace(microsecond=0):
        errors.append(f"at {to_text(moment)} is before {what} ({not_before})")
    return to_text(moment) if at else audit.now()


def make_referral(
    db: sqlite_utils.Database,
    case_ident: int | str,
    actor: str,
    *,
    service: str,
    consent: bool | None,
    consent_by: str | None = None,
    to_member: int | str | None = None,
    at: str | None = None,
) -> Referral:
    """Refer the case to a service (optionally to a member who provides it).

    `consent` must be stated (True or False); when given, `consent_by` says who gave it (the
    child, a carer: the carer may be the one reported, so this is recorded, not assumed).
    `at` backdates the referral (ISO; default now).
    """
    if not actor or not actor.strip():
        raise CaseError(["who is acting (actor) is missing"])
    case = get_case(db, case_ident)
    errors: list[str] = []
    if case.closed:
        errors.append(
            f"case {case.id} ({case.reference}) is closed: reopen it before referring it "
            f"(`cug case reopen {case.id}`)"
        )
    service_code = known_code(db, "referral_services", service, "service", errors)
    member = None
    if to_member is not None and to_member != "":
        member = active_member(db, to_member, "to", errors)
    consent_text = clean_text(consent_by, "consent_by", errors, limit=LIMITS["consent_by"])
    if consent is None:
        errors.append("consent is missing: record whether consent was given (yes or no)")
    elif consent and not consent_text:
        errors.append("consent_by is missing: say who gave consent (e.g. the child's aunt)")
    elif not consent and consent_text:
        errors.append("consent_by names who gave consent: leave it out when there was none")
    made_at = _step_time(at, case.reported_at, "the report", errors)
    if errors:
        raise CaseError(errors)

    values: dict[str, Any] = {
        "case_id": case.id,
        "service": service_code,
        "to_member_id": member.id if member else None,
        "consent": int(bool(consent)),
        "consent_by": consent_text,
        "status": "made",
        "reason": "",
        "made_at": made_at,
        "made_by": actor,
        "updated_at": made_at,
    }
    with writing(db):
        referral_id = db["referrals"].insert(values).last_pk
        db["referral_events"].insert(
            {"referral_id": referral_id, "at": made_at, "actor": actor, "status": "made"}
        )
        detail: dict[str, Any] = {
            "referral": referral_id,
            "service": service_code,
            "to": member.extension if member else None,
            "consent": bool(consent),
        }
        if case.status == "open":
            db["cases"].update(case.id, {"status": "referred"})
            detail["case_status"] = "referred"
        record_event(db, case.id, actor, "referral.made", detail, at=made_at)
        audit.record(
            db,
            actor,
            "referral.make",
            f"referral:{referral_id}",
            None,
            {k: v for k, v in values.items() if k != "reason"},
        )
    log.debug("referral %s on case %s to %s made by %s", referral_id, case.id, service_code, actor)
    return get_referral(db, referral_id)


def _refusal(referral: Referral, to_status: str) -> str | None:
    verb = _VERBS[to_status]
    if referral.status in FINAL:
        return (
            f"referral {referral.id} is already {referral.status}, which is final: cannot {verb} it"
        )
    if referral.status == to_status:
        return f"referral {referral.id} is already {to_status}"
    needed = REACHED_FROM[to_status]
    if referral.status != needed:
        return (
            f"referral {referral.id} is {referral.status}: only {_FROM_WORDS[needed]} "
            f"can be {to_status}"
        )
    return None


def move_referral(
    db: sqlite_utils.Database,
    referral_id: int,
    to_status: str,
    actor: str,
    reason: str | None = None,
    at: str | None = None,
) -> Referral:
    """Take the referral one step: accepted | declined (reason) | completed | failed (reason)."""
    if to_status not in REACHED_FROM:
        raise CaseError([f"{to_status!r} is not a step (one of {', '.join(REACHED_FROM)})"])
    if not actor or not actor.strip():
        raise CaseError(["who is acting (actor) is missing"])
    referral = get_referral(db, referral_id)
    errors: list[str] = []
    refusal = _refusal(referral, to_status)
    if refusal:
        errors.append(refusal)
    reason_text = clean_text(reason, "reason", errors, limit=LIMITS["reason"])
    if to_status in NEEDS_REASON and not reason_text:
        errors.append(f"reason is missing: say why the referral {_REASON_WORDS[to_status]}")
    elif reason_text and to_status not in NEEDS_REASON:
        errors.append("a reason is recorded only when a referral is declined or fails")
    last = referral.updated_at or referral.made_at
    stamp = _step_time(at, last, "its previous step", errors)
    if errors:
        raise CaseError(errors)

    after = {"status": to_status, "reason": reason_text, "updated_at": stamp}
    with writing(db):
        db["referrals"].update(referral.id, after)
        db["referral_events"].insert(
            {
                "referral_id": referral.id,
                "at": stamp,
                "actor": actor,
                "status": to_status,
                "reason": reason_text or None,
            }
        )
        detail: dict[str, Any] = {"referral": referral.id, "service": referral.service}
        if reason_text:
            detail["reason"] = reason_text
        record_event(db, referral.case_id, actor, f"referral.{to_status}", detail, at=stamp)
        audit.record(
            db,
            actor,
            f"referral.{_VERBS[to_status]}",
            f"referral:{referral.id}",
            {"status": referral.status},
            {"status": to_status, "reason": reason_text},
        )
    return get_referral(db, referral.id)
