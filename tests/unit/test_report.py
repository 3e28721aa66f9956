"""The report's figures on a fixed, hand-built set of cases, referrals and contacts.

Every expected value is worked out by hand in the comments. Rows go straight into the tables
(as the contact log and the case commands would leave them), with times in the forms the
tables may hold: UTC with +00:00, with Z, without an offset, with another offset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

import pytest
import sqlite_utils

from directory.case_values import CaseError
from directory.lookup import Directory
from directory.report import DistrictMonth, case_response, district_month_report

AS_OF = datetime(2025, 4, 15, tzinfo=UTC)
_keys = count(1)


def ids(directory: Directory) -> dict[str, int]:
    """Member ids by a short name: A, B (Oyam PSWs), P (Oyam police), H (Oyam health),
    J (Jinja PSW), JP (Jinja police)."""
    names = {"A": "2002", "B": "2003", "P": "2004", "H": "2005", "J": "2012", "JP": "2014"}
    found = {}
    for short, extension in names.items():
        member = directory.member_by_extension(extension)
        assert member is not None
        found[short] = member.id
    return found


def add_case(
    db: sqlite_utils.Database,
    case_id: int,
    district: str,
    reported_at: str,
    assigned: int | None,
    status: str = "open",
    due: str | None = None,
) -> None:
    db["cases"].insert(
        {
            "id": case_id,
            "reference": f"T-{case_id}",
            "district": district,
            "category": "neglect",
            "urgency": "normal",
            "status": status,
            "assigned_member_id": assigned,
            "reported_at": reported_at,
            "follow_up_due": due,
        }
    )


def add_contact(
    db: sqlite_utils.Database,
    contact_id: int,
    placed_at: str,
    caller: int | None,
    callee: int | None,
    case_id: int | None,
    outcome: str = "answered",
    answered_at: str | None = None,
) -> None:
    db["contacts"].insert(
        {
            "id": contact_id,
            "kind": "call",
            "source_key": f"test-{next(_keys)}",
            "caller_member_id": caller,
            "caller_number": None if caller else "+256700000000",
            "callee_member_id": callee,
            "placed_at": placed_at,
            "answered_at": answered_at,
            "outcome": outcome,
            "case_id": case_id,
            "recorded_at": placed_at,
        }
    )


def utc(day_time: str) -> str:
    """'03-05T12:00' -> '2025-03-05T12:00:00+00:00'."""
    return f"2025-{day_time}:00+00:00"


def add_referral(
    db: sqlite_utils.Database, referral_id: int, case_id: int, made: str, *steps: tuple[str, ...]
) -> None:
    """A referral made at `made`, then `steps`: (status, day_time) or (status, day_time, reason)."""
    history = [
        ("made", made, None),
        *((st[0], st[1], st[2] if len(st) > 2 else None) for st in steps),
    ]
    db["referrals"].insert(
        {
            "id": referral_id,
            "case_id": case_id,
            "service": "health",
            "status": history[-1][0],
            "reason": history[-1][2],
            "made_at": utc(made),
            "made_by": "test",
        }
    )
    for status, at, why in history:
        db["referral_events"].insert(
            {
                "referral_id": referral_id,
                "at": utc(at),
                "actor": "test",
                "status": status,
                "reason": why,
            }
        )


@pytest.fixture
def log(directory: Directory) -> sqlite_utils.Database:
    db = directory.db
    m = ids(directory)
    A, B, P, H, J, JP = m["A"], m["B"], m["P"], m["H"], m["J"], m["JP"]  # noqa: N806
    # --- Oyam, cases reported in March 2025 (UTC) -------------------------------------------
    add_case(db, 1, "Oyam", "2025-03-03T08:00:00+00:00", A, due="2025-03-10T23:59:59+00:00")
    add_case(db, 2, "Oyam", "2025-03-05T10:00:00", B, due="2025-03-08T23:59:59+00:00")
    add_case(db, 3, "Oyam", "2025-03-10T00:00:00Z", A, status="closed", due="2025-03-12")
    add_case(db, 4, "Oyam", "2025-03-20T06:00:00+00:00", None, due="2025-05-01")
    # 01:30 on 1 April in Kampala is 22:30 on 31 March in UTC: a March case.
    add_case(db, 5, "Oyam", "2025-04-01T01:30:00+03:00", A, due="2025-04-05")
    add_case(db, 6, "Oyam", "2025-03-25T08:00:00+00:00", B, due="2025-03-26T00:00:00+00:00")
    # Case 1: a call by A before the report (not a response), A's unanswered call 10 min
    # after it (first contact: 600 s), P's call answered by A at 09:00:20 (first answered:
    # 1 h 0 min 20 s = 3620 s). No contact after its follow-up (10 March): overdue.
    add_contact(db, 100, "2025-03-03T07:00:00+00:00", A, P, 1)
    add_contact(db, 101, "2025-03-03T08:10:00+00:00", A, P, 1, outcome="no_answer")
    add_contact(
        db, 102, "2025-03-03T09:00:00+00:00", P, A, 1, answered_at="2025-03-03T09:00:20+00:00"
    )
    # Case 2: B called at 14:00 Kampala time = 11:00 UTC, 1 h after the report: 3600 s (and
    # answered, no answered_at: 3600 s too). P called H about it on 9 March, after its due
    # date (8 March): not overdue.
    add_contact(db, 103, "2025-03-05T14:00:00+03:00", B, H, 2)
    add_contact(db, 105, "2025-03-09T10:00:00+00:00", P, H, 2)
    # Case 3: only P and H spoke about it: no contact by its worker A. Closed: not overdue.
    add_contact(db, 104, "2025-03-10T09:00:00+00:00", P, H, 3)
    # Case 4: nobody assigned, no contact; due 1 May, after AS_OF: not overdue.
    # Case 5: A called at 00:00 UTC on 1 April, 1 h 30 min after the report: 5400 s (an April
    # contact). Due 5 April, nothing since: overdue.
    add_contact(db, 106, "2025-04-01T00:00:00+00:00", A, P, 5)
    # Case 6: P called B (B is the callee) a day after the report: 86400 s; that was 8 h
    # after the due time: not overdue.
    add_contact(db, 107, "2025-03-26T08:00:00+00:00", P, B, 6)
    # Contacts about no case: two in March, one in April (23:30 at -02:00 is 01:30 UTC on
    # 1 April), one from an outsider (no calling member: left out of the linked share).
    add_contact(db, 108, "2025-03-15T12:00:00+00:00", A, B, None)
    add_contact(db, 109, "2025-03-16T12:00:00+00:00", B, A, None)
    add_contact(db, 110, "2025-03-17T12:00:00+00:00", None, A, None, outcome="refused")
    add_contact(db, 111, "2025-03-31T23:30:00-02:00", A, P, None)
    # Referrals of Oyam's March cases (made -> completed in seconds where completed).
    add_referral(db, 1, 1, "03-03T12:00", ("accepted", "03-04T09:00"), ("completed", "03-05T12:00"))
    add_referral(db, 2, 1, "03-03T12:00", ("declined", "03-04T09:00", "No transport"))
    add_referral(db, 3, 2, "03-05T12:00", ("declined", "03-06T09:00", " no transport "))
    add_referral(
        db,
        4,
        2,
        "03-05T12:00",
        ("accepted", "03-06T09:00"),
        ("failed", "03-20T09:00", "Family moved"),
    )
    add_referral(db, 5, 5, "04-01T02:00", ("accepted", "04-01T08:00"), ("completed", "04-02T02:00"))
    add_referral(db, 6, 6, "03-25T12:00")
    add_referral(db, 7, 6, "03-25T12:00", ("accepted", "03-26T09:00"))
    add_referral(db, 8, 3, "03-10T10:00", ("accepted", "03-10T11:00"), ("completed", "03-13T10:00"))
    # Completion times: referral 1: 2 days = 172800 s; 5: 1 day = 86400 s; 8: 3 days = 259200 s.
    # --- Jinja, ten cases in March, J's first call i minutes after report i ------------------
    for i in range(1, 11):
        add_case(db, 100 + i, "Jinja", f"2025-03-{i:02d}T08:00:00+00:00", J)
        add_contact(db, 200 + i, f"2025-03-{i:02d}T08:{i:02d}:00+00:00", J, JP, 100 + i)
    return db


def row(report: list[DistrictMonth], district: str, month: str) -> DistrictMonth:
    [found] = [r for r in report if (r.district, r.month) == (district, month)]
    return found


def test_per_case_response_times(log: sqlite_utils.Database) -> None:
    one = case_response(log, 1)
    assert (one.first_contact_id, one.first_contact_seconds) == (101, 600)
    assert (one.first_answered_id, one.first_answered_seconds) == (102, 3620)
    assert one.first_answered_at == "2025-03-03T09:00:20+00:00"
    two = case_response(log, "T-2")
    assert (two.first_contact_seconds, two.first_answered_seconds) == (3600, 3600)
    six = case_response(log, 6)  # the worker was called, not calling
    assert (six.first_contact_id, six.first_contact_seconds) == (107, 86400)
    for nobody in (3, 4):  # case 3: its worker took part in nothing; case 4: no worker
        figures = case_response(log, nobody)
        assert figures.first_contact_seconds is None and figures.first_answered_seconds is None
    with pytest.raises(CaseError, match="no case with number or reference '77'"):
        case_response(log, 77)


def test_oyam_march(log: sqlite_utils.Database) -> None:
    r = row(district_month_report(log, as_of=AS_OF), "Oyam", "2025-03")
    # Cases 1-6 (case 5 is March in UTC). Responses: 600, 3600, 5400, 86400 (cases 1, 2, 5,
    # 6); cases 3 and 4 have none, case 4 has nobody assigned.
    assert (r.cases, r.responded, r.no_contact_yet, r.unassigned) == (6, 4, 2, 1)
    # Nearest rank, n = 4: median rank ceil(0.5 * 4) = 2 -> 3600; p90 rank ceil(3.6) = 4.
    assert (r.response_median_s, r.response_p90_s) == (3600, 86400)
    # Referrals 1-8; reached accepted: 1, 4, 5, 7, 8; declined 2, 3; completed 1, 5, 8;
    # failed 4. "No transport" and " no transport " are one reason.
    assert (
        r.referrals_made,
        r.referrals_accepted,
        r.referrals_declined,
        r.referrals_completed,
        r.referrals_failed,
    ) == (8, 5, 2, 3, 1)
    assert r.decline_reasons == {"No transport": 2}
    assert r.failure_reasons == {"Family moved": 1}
    # Made -> completed: 172800, 86400, 259200; sorted, rank ceil(1.5) = 2 -> 172800.
    assert r.referral_completion_median_s == 172800
    # Overdue on 15 April: cases 1 and 5 (2 had a contact after its due date, 3 is closed,
    # 4 is due later, 6 had a contact after its due time).
    assert r.follow_ups_overdue == 2
    # March contacts placed by Oyam members: 100-105, 107, 108, 109 = 9; linked: 100-105,
    # 107 = 7. Contact 110 has no calling member; 106 and 111 are April's.
    assert (r.contacts, r.contacts_linked) == (9, 7)
    assert r.linked_share == pytest.approx(7 / 9)


def test_months_follow_utc(log: sqlite_utils.Database) -> None:
    report = district_month_report(log, as_of=AS_OF)
    assert [(r.district, r.month) for r in report] == [
        ("Jinja", "2025-03"),
        ("Oyam", "2025-03"),
        ("Oyam", "2025-04"),
    ]
    april = row(report, "Oyam", "2025-04")
    # No case reported in April; contacts 106 (linked) and 111 (not): half linked.
    assert (april.cases, april.referrals_made, april.follow_ups_overdue) == (0, 0, 0)
    assert (april.response_median_s, april.response_p90_s) == (None, None)
    assert (april.contacts, april.contacts_linked, april.linked_share) == (2, 1, 0.5)


def test_percentiles_are_nearest_rank(log: sqlite_utils.Database) -> None:
    r = row(district_month_report(log, as_of=AS_OF), "Jinja", "2025-03")
    # Responses 60, 120, ..., 600 s. Median rank ceil(0.5 * 10) = 5 -> 300 s; p90 rank
    # ceil(0.9 * 10) = 9 -> 540 s (not the largest, 600).
    assert (r.cases, r.responded, r.no_contact_yet) == (10, 10, 0)
    assert (r.response_median_s, r.response_p90_s) == (300, 540)
    assert (r.contacts, r.contacts_linked, r.linked_share) == (10, 10, 1.0)
    assert r.referrals_made == 0 and r.referral_completion_median_s is None
    assert r.decline_reasons == {} and r.failure_reasons == {}


def test_filters_by_district_and_month(log: sqlite_utils.Database) -> None:
    everything = district_month_report(log, as_of=AS_OF)
    oyam = district_month_report(log, district="oyam", as_of=AS_OF)
    assert [(r.district, r.month) for r in oyam] == [("Oyam", "2025-03"), ("Oyam", "2025-04")]
    assert oyam == [r for r in everything if r.district == "Oyam"]
    march = district_month_report(log, month="2025-03", as_of=AS_OF)
    assert [(r.district, r.month) for r in march] == [("Jinja", "2025-03"), ("Oyam", "2025-03")]
    assert march == [r for r in everything if r.month == "2025-03"]
    assert district_month_report(log, district="Jinja", month="2025-04", as_of=AS_OF) == []


def test_overdue_depends_on_the_day_asked(log: sqlite_utils.Database) -> None:
    def overdue(on: datetime) -> int:
        report = district_month_report(log, "Oyam", "2025-03", as_of=on)
        return row(report, "Oyam", "2025-03").follow_ups_overdue

    # Start of 9 March: case 2 was due by the end of 8 March, but the log already holds
    # contact 105 (9 March 10:00, after that): not overdue. Case 1 is due by 10 March: not yet.
    assert overdue(datetime(2025, 3, 9, tzinfo=UTC)) == 0
    # Start of 11 March: case 1's day has passed with no contact since: overdue.
    assert overdue(datetime(2025, 3, 11, tzinfo=UTC)) == 1


def test_bad_choices_are_refused(log: sqlite_utils.Database) -> None:
    with pytest.raises(CaseError) as caught:
        district_month_report(log, district="Atlantis", month="2025-13")
    assert caught.value.reasons == [
        "month '2025-13' must be YYYY-MM",
        "unknown district 'Atlantis'",
    ]


def test_an_empty_log_gives_an_empty_report(db: sqlite_utils.Database) -> None:
    assert district_month_report(db) == []


def test_the_report_leaves_no_transaction_or_scratch_table(log: sqlite_utils.Database) -> None:
    log.conn.commit()
    district_month_report(log, as_of=AS_OF)
    assert not log.conn.in_transaction
    assert log.execute("SELECT count(*) FROM temp.sqlite_master").fetchone()[0] == 0


def test_rows_are_plain_data(log: sqlite_utils.Database) -> None:
    data = row(district_month_report(log, as_of=AS_OF), "Oyam", "2025-04").to_dict()
    assert data["linked_share"] == 0.5
    assert data["district"] == "Oyam" and data["decline_reasons"] == {}


def test_unreadable_times_are_left_out_not_fatal(log: sqlite_utils.Database) -> None:
    add_case(log, 50, "Oyam", "sometime in March", None)
    add_contact(log, 300, "garbage", None, None, None)
    member = log.execute("SELECT id FROM members WHERE extension = '2002'").fetchone()[0]
    add_contact(log, 301, "not a time", member, None, 50)
    report = district_month_report(log, as_of=AS_OF)
    assert [(r.district, r.month) for r in report] == [
        ("Jinja", "2025-03"),
        ("Oyam", "2025-03"),
        ("Oyam", "2025-04"),
    ]
    assert row(report, "Oyam", "2025-03").cases == 6
    assert row(report, "Oyam", "2025-03").contacts == 9
