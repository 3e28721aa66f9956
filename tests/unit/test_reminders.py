"""Which follow-ups are due for a reminder call, and how a reminder's outcome is logged."""

from __future__ import annotations

import pytest
import sqlite_utils

from agi.contact_log import ContactLog
from agi.reminders import Reminders
from directory.schema import open_memory
from tests.unit.conftest import MEMBERS, save

NOW = "2026-11-24T12:00:00+00:00"


class DownAmi:
    up = False


@pytest.fixture()
def db() -> sqlite_utils.Database:
    database = open_memory()
    assert save(database, MEMBERS).ok
    anna = database.execute("SELECT id FROM members WHERE extension = '2002'").fetchone()[0]
    for case_id, due, status in [
        (1, "2026-11-20T17:00:00+00:00", "open"),  # due, nobody called: remind
        (2, "2026-11-30T17:00:00+00:00", "open"),  # not due yet
        (3, "2026-11-20T17:00:00+00:00", "closed"),  # closed: never
        (4, "2026-11-20T17:00:00+00:00", "referred"),  # due, but called since: no
        (5, None, "open"),  # no follow-up date
    ]:
        database["cases"].insert(
            {
                "id": case_id,
                "reference": f"R-{case_id}",
                "district": "Oyam",
                "category": "neglect",
                "status": status,
                "assigned_member_id": anna,
                "reported_at": "2026-11-01T08:00:00+00:00",
                "follow_up_due": due,
            }
        )
    database["contacts"].insert(
        {
            "kind": "call",
            "source_key": "call:x:1",
            "case_id": 4,
            "placed_at": "2026-11-21T09:00:00+00:00",
            "outcome": "no_answer",
            "recorded_at": NOW,
        }
    )
    return database


def test_only_open_cases_past_due_with_no_contact_since_are_due(db) -> None:
    reminders = Reminders(db, DownAmi(), ContactLog(db))  # type: ignore[arg-type]
    assert [row[0] for row in reminders.due(NOW)] == [1]


def test_a_reminder_is_placed_once_per_follow_up_date_and_logged_on_the_case(db) -> None:
    contacts = ContactLog(db)
    reminders = Reminders(db, DownAmi(), contacts)  # type: ignore[arg-type]
    case_id, due, member_id, _ = reminders.due(NOW)[0]
    db["reminders"].insert(
        {"id": 9, "case_id": case_id, "due": due, "member_id": member_id, "originated_at": NOW}
    )
    assert reminders.due(NOW) == []
    reminders.on_originate_response(
        {
            "Event": "OriginateResponse",
            "ActionID": "cug-reminder-9",
            "Response": "Failure",
            "Reason": "3",
        }
    )
    (row,) = db["contacts"].rows_where("kind = 'reminder'")
    assert (row["case_id"], row["callee_member_id"], row["outcome"]) == (1, member_id, "no_answer")
    # A new follow-up date after that gets a reminder of its own.
    db["cases"].update(1, {"follow_up_due": "2026-11-24T12:30:00+00:00"})
    assert reminders.due("2026-11-24T12:20:00+00:00") == []
    assert [r[0] for r in reminders.due("2026-11-24T13:00:00+00:00")] == [1]


def test_other_originate_responses_are_ignored(db) -> None:
    reminders = Reminders(db, DownAmi(), ContactLog(db))  # type: ignore[arg-type]
    reminders.on_originate_response({"ActionID": "action/x/1", "Response": "Success"})
    reminders.on_originate_response({"ActionID": "cug-reminder-abc", "Response": "Success"})
    reminders.on_originate_response({"ActionID": "cug-reminder-404", "Response": "Success"})
    assert db["contacts"].count == 1
