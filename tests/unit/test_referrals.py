"""Referrals: making one (service, member, consent), and each step of its lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils

from directory.case_model import Case
from directory.case_values import CaseError
from directory.cases import case_events, close_case, find_case, open_case, reopen_case
from directory.lookup import Directory
from directory.referrals import (
    case_referrals,
    make_referral,
    move_referral,
    referral_history,
)
from tests.unit.conftest import audit_count

ACTOR = "cli:psw"


def state(db: sqlite_utils.Database) -> tuple[int, ...]:
    """Row counts a refused step must leave as they were."""
    return tuple(
        db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("referrals", "referral_events", "case_events", "audit")
    )


def statuses(db: sqlite_utils.Database) -> list[str]:
    return [r[0] for r in db.execute("SELECT status FROM referrals ORDER BY id")]


@pytest.fixture
def case(directory: Directory) -> Case:
    return open_case(
        directory.db,
        "cli:admin",
        district="Oyam",
        category="sexual_abuse",
        reported_at="2025-03-01T08:00:00+00:00",
        assign="2002",
    )


def test_a_referral_moves_an_open_case_to_referred(directory: Directory, case: Case) -> None:
    db = directory.db
    audits = audit_count(db)
    referral = make_referral(
        db,
        case.id,
        ACTOR,
        service="Health",
        to_member="2005",
        consent=True,
        consent_by="the child's aunt",
    )
    health_worker = directory.member_by_extension("2005")
    assert health_worker is not None
    assert (referral.service, referral.to_member_id, referral.status) == (
        "health",
        health_worker.id,
        "made",
    )
    assert (referral.consent, referral.consent_by, referral.made_by) == (
        True,
        "the child's aunt",
        ACTOR,
    )
    assert find_case(db, case.id).status == "referred"  # type: ignore[union-attr]
    event = case_events(db, case.id)[-1]
    assert event["action"] == "referral.made"
    assert event["detail"]["case_status"] == "referred"
    assert event["detail"]["to"] == "2005"
    assert audit_count(db) == audits + 1
    # A second referral on the referred case leaves it referred.
    make_referral(db, case.id, ACTOR, service="police", consent=False)
    assert find_case(db, case.reference).status == "referred"  # type: ignore[union-attr]
    assert [r.service for r in case_referrals(db, case.id)] == ["health", "police"]


def test_the_full_lifecycle_is_dated_and_signed(directory: Directory, case: Case) -> None:
    db = directory.db
    r = make_referral(
        db, case.id, ACTOR, service="health", consent=True, consent_by="mother", at="2025-03-02"
    )
    move_referral(db, r.id, "accepted", "cli:nurse", at="2025-03-02T15:00:00+03:00")
    done = move_referral(db, r.id, "completed", "cli:nurse", at="2025-03-05T09:00")
    assert done.status == "completed"
    assert referral_history(db, r.id) == [
        {"at": "2025-03-02T00:00:00+00:00", "actor": ACTOR, "status": "made", "reason": None},
        {"at": "2025-03-02T12:00:00+00:00", "actor": "cli:nurse", "status": "accepted",
         "reason": None},
        {"at": "2025-03-05T09:00:00+00:00", "actor": "cli:nurse", "status": "completed",
         "reason": None},
    ]  # fmt: skip
    actions = [e["action"] for e in case_events(db, case.id)]
    assert actions == ["open", "referral.made", "referral.accepted", "referral.completed"]
    audit_actions = [
        row[0] for row in db.execute("SELECT action FROM audit WHERE subject LIKE 'referral:%'")
    ]
    assert audit_actions == ["referral.make", "referral.accept", "referral.complete"]


def test_declining_and_failing_need_a_reason(directory: Directory, case: Case) -> None:
    db = directory.db
    first = make_referral(db, case.id, ACTOR, service="shelter", consent=False)
    second = make_referral(db, case.id, ACTOR, service="legal_aid", consent=False)
    before = state(db)
    with pytest.raises(CaseError, match="reason is missing: say why the referral was declined"):
        move_referral(db, first.id, "declined", ACTOR)
    with pytest.raises(CaseError, match="a reason is recorded only when"):
        move_referral(db, first.id, "accepted", ACTOR, reason="happy to")
    assert state(db) == before
    declined = move_referral(db, first.id, "declined", ACTOR, reason="No bed free")
    assert (declined.status, declined.reason) == ("declined", "No bed free")
    move_referral(db, second.id, "accepted", ACTOR)
    with pytest.raises(CaseError, match="reason is missing: say why the referral failed"):
        move_referral(db, second.id, "failed", ACTOR, reason=" ")
    failed = move_referral(db, second.id, "failed", ACTOR, reason="Family moved to Kampala")
    assert (failed.status, failed.reason) == ("failed", "Family moved to Kampala")
    assert referral_history(db, second.id)[-1]["reason"] == "Family moved to Kampala"


@pytest.mark.parametrize(
    ("steps", "then", "message"),
    [
        ([], "completed", "referral 1 is made: only an accepted referral can be completed"),
        ([], "failed", "referral 1 is made: only an accepted referral can be failed"),
        (
            [("declined", "no capacity")],
            "completed",
            "referral 1 is already declined, which is final: cannot complete it",
        ),
        (
            [("accepted", None)],
            "declined",
            "referral 1 is accepted: only a referral still waiting for an answer can be declined",
        ),
        ([("accepted", None)], "accepted", "referral 1 is already accepted"),
        (
            [("accepted", None), ("completed", None)],
            "failed",
            "referral 1 is already completed, which is final: cannot fail it",
        ),
    ],
)
def test_illegal_steps_are_refused_and_change_nothing(
    directory: Directory,
    case: Case,
    steps: list[tuple[str, str | None]],
    then: str,
    message: str,
) -> None:
    db = directory.db
    r = make_referral(db, case.id, ACTOR, service="health", consent=False)
    for status, reason in steps:
        move_referral(db, r.id, status, ACTOR, reason=reason)
    before, before_statuses = state(db), statuses(db)
    with pytest.raises(CaseError) as caught:
        move_referral(db, r.id, then, ACTOR, reason="some reason")
    assert caught.value.reasons[0] == message
    assert (state(db), statuses(db)) == (before, before_statuses)


def test_consent_is_recorded_explicitly(directory: Directory, case: Case) -> None:
    db = directory.db
    before = state(db)
    with pytest.raises(CaseError, match="consent is missing"):
        make_referral(db, case.id, ACTOR, service="health", consent=None)
    with pytest.raises(CaseError, match="consent_by is missing: say who gave consent"):
        make_referral(db, case.id, ACTOR, service="health", consent=True)
    with pytest.raises(CaseError, match="consent_by names who gave consent"):
        make_referral(db, case.id, ACTOR, service="health", consent=False, consent_by="uncle")
    with pytest.raises(CaseError, match="consent_by contains control characters"):
        make_referral(db, case.id, ACTOR, service="health", consent=True, consent_by="a\nb")
    assert state(db) == before


def test_every_wrong_value_of_a_referral_is_listed(directory: Directory, case: Case) -> None:
    db = directory.db
    before = state(db)
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    with pytest.raises(CaseError) as caught:
        make_referral(
            db, case.id, ACTOR, service="magic", to_member="2009", consent=None, at=future
        )
    reasons = caught.value.reasons
    assert len(reasons) == 4, reasons
    assert reasons[0].startswith("unknown service 'magic' (known: education, health,")
    assert reasons[1] == "to: Lanyero Joy (2009) is deactivated"
    assert reasons[2].startswith("consent is missing")
    assert reasons[3].endswith("is in the future")
    with pytest.raises(CaseError, match="at 2025-02-28T00:00:00.00:00 is before the report"):
        make_referral(db, case.id, ACTOR, service="health", consent=False, at="2025-02-28")
    assert state(db) == before


def test_a_step_cannot_be_dated_before_the_previous_one(directory: Directory, case: Case) -> None:
    db = directory.db
    r = make_referral(db, case.id, ACTOR, service="health", consent=False, at="2025-03-03T10:00")
    with pytest.raises(CaseError, match="is before its previous step"):
        move_referral(db, r.id, "accepted", ACTOR, at="2025-03-03T09:59")
    assert move_referral(db, r.id, "accepted", ACTOR, at="2025-03-03T10:00").status == "accepted"


def test_referrals_on_a_closed_case(directory: Directory, case: Case) -> None:
    db = directory.db
    r = make_referral(db, case.id, ACTOR, service="police", consent=False)
    close_case(db, case.id, "moved away", ACTOR)
    # A referral already under way can still be answered: it is a fact about the service.
    assert move_referral(db, r.id, "accepted", ACTOR).status == "accepted"
    with pytest.raises(CaseError, match="is closed: reopen it before referring it"):
        make_referral(db, case.id, ACTOR, service="health", consent=False)
    reopen_case(db, case.id, ACTOR)
    assert make_referral(db, case.id, ACTOR, service="health", consent=False).status == "made"


def test_unknown_referral_or_step(directory: Directory, case: Case) -> None:
    db = directory.db
    with pytest.raises(CaseError, match="no referral 42"):
        move_referral(db, 42, "accepted", ACTOR)
    r = make_referral(db, case.id, ACTOR, service="health", consent=False)
    with pytest.raises(CaseError, match="'made' is not a step"):
        move_referral(db, r.id, "made", ACTOR)
