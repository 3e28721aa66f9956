"""Cases: opening with checks, assignment, follow-up, closing and reopening, and their history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlite_utils

from directory.case_values import CaseError
from directory.cases import (
    assign_case,
    case_events,
    close_case,
    find_case,
    open_case,
    reopen_case,
    set_follow_up,
)
from directory.lookup import Directory
from directory.referrals import make_referral
from tests.unit.conftest import audit_count

ACTOR = "cli:tester"


def counts(db: sqlite_utils.Database) -> tuple[int, int, int]:
    """Cases, case events and audit rows: what a refused change must leave alone."""
    cases = db.execute("SELECT count(*) FROM cases").fetchone()[0]
    events = db.execute("SELECT count(*) FROM case_events").fetchone()[0]
    return cases, events, audit_count(db)


def audit_rows(db: sqlite_utils.Database, action: str) -> list[dict[str, Any]]:
    cursor = db.execute(
        "SELECT actor, subject, before, after FROM audit WHERE action = ?", (action,)
    )
    return [dict(zip(("actor", "subject", "before", "after"), r, strict=True)) for r in cursor]


def new_case(db: sqlite_utils.Database, **values: Any) -> Any:
    given = {"district": "Oyam", "category": "neglect", "reported_at": "2025-03-01T08:00"}
    given.update(values)
    return open_case(db, ACTOR, **given)


def member_id(directory: Directory, extension: str) -> int:
    member = directory.member_by_extension(extension)
    assert member is not None
    return member.id


def test_a_case_without_reference_gets_cug_and_its_number(directory: Directory) -> None:
    db = directory.db
    first = new_case(db)
    second = new_case(db, district="jinja", category="Sexual_Abuse", urgency="URGENT")
    assert (first.reference, second.reference) == (f"CUG-{first.id}", f"CUG-{second.id}")
    assert second.id == first.id + 1
    # District and category are matched regardless of letter case, stored as the directory has them.
    assert (second.district, second.category, second.urgency) == ("Jinja", "sexual_abuse", "urgent")
    assert first.status == "open" and first.created_by == ACTOR


def test_open_stores_every_field_and_writes_history_and_audit(directory: Directory) -> None:
    db = directory.db
    case = new_case(
        db,
        reference="NCH-2025-0042",
        assign="0772 100002",  # Okello Denis, by his number in another format
        reported_at="2025-03-01T11:00:00+03:00",
        follow_up_due="2025-03-04",
        summary="Girl, 12, not at school since January.",
    )
    assert case.reference == "NCH-2025-0042"
    assert case.assigned_member_id == member_id(directory, "2002")
    assert case.reported_at == "2025-03-01T08:00:00+00:00"  # kept in UTC
    assert case.follow_up_due == "2025-03-04T23:59:59+00:00"  # a date: by the end of that day
    events = case_events(db, case.id)
    assert [e["action"] for e in events] == ["open"]
    assert events[0]["actor"] == ACTOR
    assert events[0]["detail"]["assigned"] == "2002"
    [row] = audit_rows(db, "case.open")
    assert row["actor"] == ACTOR and row["subject"] == f"case:{case.id}"
    # The summary (details of a child) is kept on the case only: history and audit get its length.
    assert "school" not in json.dumps(events) and "school" not in row["after"]
    assert json.loads(row["after"])["summary_chars"] == len(case.summary)


def test_every_wrong_value_is_reported_at_once_and_nothing_is_stored(
    directory: Directory,
) -> None:
    db = directory.db
    before = counts(db)
    with pytest.raises(CaseError) as caught:
        open_case(
            db,
            ACTOR,
            district="Atlantis",
            category="theft",
            urgency="whenever",
            reference="NCH\n42",
            reported_at="yesterday",
            follow_up_due="2025-02-30",
            assign="2999",
            summary="ok\x00",
        )
    reasons = caught.value.reasons
    assert len(reasons) == 8, reasons
    assert "unknown district 'Atlantis' (add it with `cug directory districts --add`)" in reasons
    assert any(r.startswith("unknown category 'theft' (known: child_labour,") for r in reasons)
    assert "urgency 'whenever' must be one of normal, urgent" in reasons
    assert "reference contains control characters or line breaks" in reasons
    assert any(r.startswith("reported_at 'yesterday' is not an ISO date") for r in reasons)
    assert any(r.startswith("follow_up_due '2025-02-30' is not an ISO date") for r in reasons)
    assert "assign: no member with extension or number '2999'" in reasons
    assert "summary contains control characters (U+0000)" in reasons
    assert counts(db) == before


def test_references_must_be_unique_and_recognisable(directory: Directory) -> None:
    db = directory.db
    new_case(db, reference="NCH-7")
    before = counts(db)
    for reference, reason in (
        ("nch-7", "reference 'nch-7' is already case 1"),
        ("12345", "reference '12345' is only digits and would be mistaken for a case number"),
        ("CUG-99", "references starting CUG- are given by the system"),
        ("x" * 65, "reference is longer than 64 characters (65)"),
    ):
        with pytest.raises(CaseError) as caught:
            new_case(db, reference=reference)
        assert caught.value.reasons[0].startswith(reason)
    assert counts(db) == before


def test_times_are_checked(directory: Directory) -> None:
    db = directory.db
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with pytest.raises(CaseError, match="reported_at .* is in the future"):
        new_case(db, reported_at=tomorrow)
    with pytest.raises(CaseError, match="follow_up_due 2025-02-20T23:59:59.00:00 is before"):
        new_case(db, follow_up_due="2025-02-20")
    # Without reported_at the report is now.
    case = open_case(db, ACTOR, district="Oyam", category="neglect")
    reported = datetime.fromisoformat(case.reported_at)
    assert abs(reported - datetime.now(UTC)) < timedelta(minutes=1)


def test_assigning_needs_an_active_member(directory: Directory) -> None:
    db = directory.db
    before = counts(db)
    with pytest.raises(CaseError, match=r"assign: Lanyero Joy \(2009\) is deactivated"):
        new_case(db, assign="2009")
    assert counts(db) == before
    case = new_case(db)
    with pytest.raises(CaseError, match="member: no member with extension or number '7777'"):
        assign_case(db, case.id, "7777", ACTOR)
    with pytest.raises(CaseError, match="no case with number or reference '999'"):
        assign_case(db, "999", "2002", ACTOR)


def test_assign_then_reassign_is_recorded(directory: Directory) -> None:
    db = directory.db
    case = new_case(db)
    assigned = assign_case(db, case.id, "2002", ACTOR)
    assert assigned.assigned_member_id == member_id(directory, "2002")
    again = assign_case(db, case.reference, "2002", ACTOR)  # same worker: nothing to record
    assert again == assigned
    moved = assign_case(db, str(case.id), "2003", "cli:supervisor")
    assert moved.assigned_member_id == member_id(directory, "2003")
    events = case_events(db, case.id)
    assert [(e["action"], e["actor"]) for e in events] == [
        ("open", ACTOR),
        ("assign", ACTOR),
        ("reassign", "cli:supervisor"),
    ]
    assert events[2]["detail"]["from_member_id"] == member_id(directory, "2002")
    assert events[2]["detail"]["to"] == "2003"
    assert len(audit_rows(db, "case.assign")) == 2


def test_follow_up_is_set_changed_and_cleared(directory: Directory) -> None:
    db = directory.db
    case = new_case(db)
    assert set_follow_up(db, case.id, "2025-03-10T09:00+03:00", ACTOR).follow_up_due == (
        "2025-03-10T06:00:00+00:00"
    )
    with pytest.raises(CaseError, match="is before the report"):
        set_follow_up(db, case.id, "2025-02-01", ACTOR)
    assert set_follow_up(db, case.id, None, ACTOR).follow_up_due is None
    assert [e["action"] for e in case_events(db, case.id)] == ["open", "follow_up", "follow_up"]
    assert len(audit_rows(db, "case.follow_up")) == 2


def test_close_needs_a_reason_and_a_closed_case_is_frozen_until_reopened(
    directory: Directory,
) -> None:
    db = directory.db
    case = new_case(db, assign="2002")
    with pytest.raises(CaseError, match="reason is missing"):
        close_case(db, case.id, "  ", ACTOR)
    with pytest.raises(CaseError, match="reason contains control characters or line breaks"):
        close_case(db, case.id, "safe\nnow", ACTOR)
    closed = close_case(db, case.id, "Child back in school", ACTOR)
    assert (closed.status, closed.close_reason) == ("closed", "Child back in school")
    assert closed.closed_at is not None
    before = counts(db)
    for attempt in (
        lambda: assign_case(db, case.id, "2003", ACTOR),
        lambda: set_follow_up(db, case.id, "2025-04-01", ACTOR),
        lambda: make_referral(db, case.id, ACTOR, service="health", consent=False),
    ):
        with pytest.raises(CaseError, match=rf"case {case.id} \(CUG-{case.id}\) is closed: reopen"):
            attempt()
    with pytest.raises(CaseError, match="is already closed"):
        close_case(db, case.id, "again", ACTOR)
    assert counts(db) == before
    reopened = reopen_case(db, case.id, ACTOR)
    assert (reopened.status, reopened.closed_at, reopened.close_reason) == ("open", None, None)
    assert assign_case(db, case.id, "2003", ACTOR).assigned_member_id == member_id(
        directory, "2003"
    )
    with pytest.raises(CaseError, match="is not closed"):
        reopen_case(db, case.id, ACTOR)
    actions = [e["action"] for e in case_events(db, case.id)]
    assert actions == ["open", "close", "reopen", "reassign"]
    close_event = case_events(db, case.id)[1]
    assert close_event["detail"] == {"reason": "Child back in school"}


def test_a_reopened_case_with_referrals_is_referred_again(directory: Directory) -> None:
    db = directory.db
    case = new_case(db)
    make_referral(db, case.id, ACTOR, service="health", consent=True, consent_by="mother")
    close_case(db, case.id, "done", ACTOR)
    assert reopen_case(db, case.id, ACTOR).status == "referred"


def test_summary_keeps_lines_and_any_text_exactly(directory: Directory) -> None:
    db = directory.db
    text = 'Robert\'); DROP TABLE cases;-- "quoted" 100% _x_\nAbwor ni ŋwec — Ölçü 😀\n\tindented'
    case = new_case(db, summary=text.replace("\n", "\r\n", 1))
    assert find_case(db, case.id).summary == text  # type: ignore[union-attr]
    assert db.execute("SELECT count(*) FROM cases").fetchone()[0] == 1
    with pytest.raises(CaseError, match=r"summary contains control characters \(U\+001B\)"):
        new_case(db, summary="colour \x1b[31m red")
    with pytest.raises(CaseError, match="summary is longer than 4000 characters"):
        new_case(db, summary="a" * 4001)


def test_a_case_is_found_by_number_or_reference(directory: Directory) -> None:
    db = directory.db
    case = new_case(db, reference="DAC-Oyam-3")
    assert find_case(db, case.id) == case
    assert find_case(db, f" {case.id} ") == case
    assert find_case(db, "dac-oyam-3") == case
    assert find_case(db, "DAC-Oyam-4") is None
    assert find_case(db, "77") is None
