"""Escalated calls in the contact log: each leg a contact with its step, who took the call,
and the missed-call notices. The CDRs are shaped as Asterisk 22 wrote them for real calls
through dialplan/extensions-cug.conf (a callee ringing out, then the supervisor's leg)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils

from agi.contact_log import Cdr, ContactLog, Leg
from agi.missed_calls import MissedCalls
from directory.schema import open_memory
from routing.missed_calls import NoticeKind, Rung, settle
from tests.unit.conftest import MEMBERS, save

TAGS = "cug1;d=2003;c={c};e={e};s=4"
LINKED = "1795563995.0"


@pytest.fixture()
def db() -> sqlite_utils.Database:
    database = open_memory()
    assert save(database, MEMBERS).ok
    return database


def mid(db: sqlite_utils.Database, ext: str) -> int:
    return db.execute("SELECT id FROM members WHERE extension = ?", (ext,)).fetchone()[0]


def cdr(
    channel: str,
    dst: str,
    disposition: str,
    start: str,
    answer: str,
    end: str,
    userfield: str,
    lastapp: str = "Dial",
) -> Cdr:
    return Cdr(
        uniqueid=f"u-{channel}-{dst}",
        linkedid=LINKED,
        channel=channel,
        dstchannel=dst,
        lastapp=lastapp,
        start=f"2026-11-24 10:{start}",
        answer=f"2026-11-24 10:{answer}" if answer else "",
        end=f"2026-11-24 10:{end}",
        disposition=disposition,
        userfield=userfield,
        src="2002",
        dst="2003",
    )


def call_taken_by_supervisor(db: sqlite_utils.Database, key: str = "1") -> list[Cdr]:
    """2002 calls 2003 (two phones, no answer for 5 s), then 2001 answers and presses 1."""
    tags = TAGS.format(c=mid(db, "2002"), e=mid(db, "2003"))
    leg = "Local/2001-+256772100001-c-2@cug-leg-00000001"
    caller = "PJSIP/2002-00000003"
    outer_answered = key == "1"
    return [
        cdr(caller, "PJSIP/2003-00000004", "NO ANSWER", "00:00", "", "00:05", tags),
        cdr(caller, "PJSIP/2003-00000005", "NO ANSWER", "00:00", "", "00:05", tags),
        cdr(
            f"{leg};2",
            "PJSIP/2001-00000006",
            "ANSWERED" if outer_answered else "BUSY",
            "00:05",
            "00:14" if outer_answered else "",
            "01:00" if outer_answered else "00:30",
            f"{tags};a={key}",
        ),
        cdr(
            caller,
            f"{leg};1",
            "ANSWERED" if outer_answered else "BUSY",
            "00:05",
            "00:14" if outer_answered else "",
            "01:00" if outer_answered else "00:30",
            tags,
        ),
    ]


def test_legs_are_parsed_from_their_local_channel_names() -> None:
    leg = Leg.parse("Local/2001-+256772100001-c-2@cug-leg-0000001a;1")
    assert leg == Leg("2001", "+256772100001", "c", 2, 1)
    assert Leg.parse("Local/0-116-m-5@cug-leg-00000002;2") == Leg("0", "116", "m", 5, 2)
    assert Leg.parse("PJSIP/2001-00000001") is None
    assert Leg.parse("Local/2001-x-c-2@elsewhere-0001;1") is None


def test_every_step_is_a_contact_of_the_same_call(db) -> None:
    log = ContactLog(db)
    log.write(call_taken_by_supervisor(db))
    rows = {
        r["callee_member_id"]: r
        for r in db.query("SELECT * FROM contacts WHERE linkedid = ?", [LINKED])
    }
    assert set(rows) == {mid(db, "2003"), mid(db, "2001")}
    callee, supervisor = rows[mid(db, "2003")], rows[mid(db, "2001")]
    assert (callee["step"], callee["confirm"], callee["outcome"]) == (1, 0, "no_answer")
    assert (supervisor["step"], supervisor["confirm"], supervisor["outcome"]) == (2, 1, "answered")
    assert supervisor["caller_member_id"] == mid(db, "2002")
    esc = db["escalations"].get(LINKED)
    assert esc["steps"] == 4 and esc["district"] == "Oyam" and not esc["exhausted"]


def test_answered_without_the_key_is_not_taken(db) -> None:
    ContactLog(db).write(call_taken_by_supervisor(db, key="0"))
    row = db.execute(
        "SELECT outcome FROM contacts WHERE callee_member_id = ?", (mid(db, "2001"),)
    ).fetchone()
    assert row[0] == "not_taken"


def test_the_leg_seen_in_either_order_or_twice_gives_the_same_contacts(db) -> None:
    cdrs = call_taken_by_supervisor(db)
    log = ContactLog(db)
    log.write(list(reversed(cdrs)))
    log.write(cdrs)
    rows = list(db.query("SELECT callee_member_id, outcome FROM contacts ORDER BY step"))
    assert [r["outcome"] for r in rows] == ["no_answer", "answered"]


def settled_at(minutes: int = 1) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def test_the_missed_callee_is_told_who_took_the_call(db) -> None:
    ContactLog(db).write(call_taken_by_supervisor(db))
    missed = MissedCalls(db)
    assert missed.settle_due(datetime.now(UTC) - timedelta(minutes=5)) == 0  # not yet due
    assert missed.settle_due(settled_at()) == 1
    notices = list(db.query("SELECT member_id, kind, text FROM call_notices"))
    assert notices == [
        {
            "member_id": mid(db, "2003"),
            "kind": "missed",
            "text": "Missed escalated call from Okello Denis (2002): taken by Grace Akello (2001).",
        }
    ]
    esc = db["escalations"].get(LINKED)
    assert (esc["taken_by_member_id"], esc["taken_step"]) == (mid(db, "2001"), 2)
    assert esc["waited_seconds"] == 14.0
    assert missed.settle_due(settled_at()) == 0  # settled once


def test_an_exhausted_chain_tells_supervisor_and_district_and_flags_the_case(db) -> None:
    db["cases"].insert(
        {
            "id": 9,
            "reference": "NCH-9",
            "district": "Oyam",
            "category": "neglect",
            "status": "open",
            "reported_at": "2026-11-01T08:00:00+00:00",
        }
    )
    tags = TAGS.format(c=mid(db, "2002"), e=mid(db, "2003")) + ";k=9"
    cdrs = [
        cdr("PJSIP/2002-1", "PJSIP/2003-2", "NO ANSWER", "00:00", "", "00:20", tags),
        cdr("PJSIP/2002-1", "", "NO ANSWER", "00:20", "", "00:26", tags + ";z=1", "Hangup"),
    ]
    ContactLog(db).write(cdrs)
    MissedCalls(db).settle_due(settled_at())
    kinds = {
        (r["member_id"], r["kind"]) for r in db.query("SELECT member_id, kind FROM call_notices")
    }
    # The callee missed it; the caller's supervisor (2001), the probation (2006) and DAC
    # (2007) officers of the caller's district hear nobody took it; the caller hears nothing.
    assert kinds == {
        (mid(db, "2003"), "missed"),
        (mid(db, "2001"), "chain_exhausted"),
        (mid(db, "2006"), "chain_exhausted"),
        (mid(db, "2007"), "chain_exhausted"),
    }
    events = list(db.query("SELECT action FROM case_events WHERE case_id = 9"))
    assert events == [{"action": "escalation_exhausted"}]
    esc = db["escalations"].get(LINKED)
    assert esc["exhausted"] == 1 and esc["taken_by_member_id"] is None
    assert esc["waited_seconds"] == 26.0


def test_exhaustion_seen_after_settling_settles_again_without_doubling(db) -> None:
    tags = TAGS.format(c=mid(db, "2002"), e=mid(db, "2003"))
    first = cdr("PJSIP/2002-1", "PJSIP/2003-2", "NO ANSWER", "00:00", "", "00:20", tags)
    last = cdr("PJSIP/2002-1", "", "NO ANSWER", "00:20", "", "00:26", tags + ";z=1", "Hangup")
    log, missed = ContactLog(db), MissedCalls(db)
    log.write([first])
    missed.settle_due(settled_at())
    log.write([last, first])
    missed.settle_due(settled_at(2))
    missed.settle_due(settled_at(3))
    counts = dict(db.execute("SELECT kind, count(*) FROM call_notices GROUP BY kind").fetchall())
    assert counts == {"missed": 1, "chain_exhausted": 3}


def test_a_colleague_at_the_same_step_taking_it_is_not_a_missed_call() -> None:
    rung = [
        Rung(10, 1, "no_answer"),
        Rung(20, 2, "no_answer"),
        Rung(21, 2, "answered", "2026-11-24T10:00:30"),
        Rung(22, 2, "not_taken"),
    ]
    result = settle(rung, caller_id=1, exhausted=False, escalate_to=[5, 6])
    assert result.taken_by == rung[2]
    assert {(n.member_id, n.kind) for n in result.notices} == {
        (10, NoticeKind.MISSED),
        (20, NoticeKind.TAKEN_BY_COLLEAGUE),
        (22, NoticeKind.TAKEN_BY_COLLEAGUE),
    }


def test_nobody_is_told_twice_and_the_caller_never() -> None:
    rung = [Rung(5, 2, "no_answer"), Rung(1, 3, "busy")]
    result = settle(rung, caller_id=1, exhausted=True, escalate_to=[5, 6, 1])
    assert [(n.member_id, n.kind) for n in result.notices] == [
        (5, NoticeKind.MISSED),
        (6, NoticeKind.CHAIN_EXHAUSTED),
    ]


def test_a_caller_who_hangs_up_is_not_an_exhausted_chain() -> None:
    result = settle(
        [Rung(5, 1, "no_answer"), Rung(7, 2, "no_answer")],
        caller_id=1,
        exhausted=False,
        escalate_to=[6],
    )
    assert [n.kind for n in result.notices] == [NoticeKind.MISSED, NoticeKind.MISSED]


def test_a_call_that_never_left_the_callee_leaves_no_notice() -> None:
    # The caller hung up while the callee's own phone rang: the phone shows that missed call.
    result = settle([Rung(5, 1, "no_answer")], caller_id=1, exhausted=False, escalate_to=[6])
    assert result.notices == ()


def test_unrelated_records_are_untouched(db) -> None:
    plain = replace(
        call_taken_by_supervisor(db)[0], userfield="cug1;d=2003;c=2;e=3", linkedid="other"
    )
    ContactLog(db).write([plain])
    assert db["escalations"].count == 0
    row = db.execute("SELECT step, confirm FROM contacts").fetchone()
    assert row == (None, None)


def test_the_report_counts_escalated_calls_per_district_and_month(db) -> None:
    from directory.report import district_month_report

    log, missed = ContactLog(db), MissedCalls(db)
    log.write(call_taken_by_supervisor(db))
    tags = TAGS.format(c=mid(db, "2002"), e=mid(db, "2003"))
    other = [
        replace(c, linkedid="other", uniqueid=c.uniqueid + "x")
        for c in (
            cdr("PJSIP/2002-1", "PJSIP/2003-2", "NO ANSWER", "02:00", "", "02:20", tags),
            cdr("PJSIP/2002-1", "", "NO ANSWER", "02:20", "", "02:26", tags + ";z=1", "Hangup"),
        )
    ]
    log.write(other)
    missed.settle_due(settled_at())
    (oyam,) = district_month_report(db, "Oyam", "2026-11")
    assert oyam.escalated_calls == 2
    assert oyam.escalations_taken_at_step == {"2": 1}
    assert (oyam.escalation_wait_median_s, oyam.escalation_wait_p90_s) == (14, 14)
    assert oyam.escalations_exhausted == 1
    assert district_month_report(db, "Oyam", "2026-10") == []


def test_a_call_the_callee_took_is_settled_in_bulk_without_notices(db) -> None:
    from directory.report import district_month_report

    tags = TAGS.format(c=mid(db, "2002"), e=mid(db, "2003"))
    ContactLog(db).write(
        [cdr("PJSIP/2002-1", "PJSIP/2003-2", "ANSWERED", "00:00", "00:03", "00:30", tags)]
    )
    missed = MissedCalls(db)
    assert missed.settle_plain(settled_at()) == 1
    esc = db["escalations"].get(LINKED)
    assert (esc["taken_step"], esc["reached_step"]) == (1, 1)
    assert esc["taken_by_member_id"] == mid(db, "2003") and esc["settled_at"]
    assert missed.settle_due(settled_at()) == 0
    assert db["call_notices"].count == 0
    assert district_month_report(db, "Oyam", "2026-11")[0].escalated_calls == 0
