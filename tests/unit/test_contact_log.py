"""CDRs into contacts: mapping, one record per callee and call, idempotent, reconciled."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlite_utils

from agi.call_tags import CallTags, decode, encode
from agi.contact_log import Cdr, ContactLog, iso
from directory.schema import open_memory
from routing.case_link import KeyedCase, link_call, split_case_prefix
from tests.unit.conftest import MEMBERS, save


@pytest.fixture()
def db() -> sqlite_utils.Database:
    database = open_memory()
    assert save(database, MEMBERS).ok
    database["cases"].insert(
        {
            "id": 7,
            "reference": "NCH-7",
            "district": "Oyam",
            "category": "neglect",
            "status": "open",
            "reported_at": "2026-11-01T08:00:00+00:00",
        }
    )
    return database


def mid(db: sqlite_utils.Database, ext: str) -> int:
    return db.execute("SELECT id FROM members WHERE extension = ?", (ext,)).fetchone()[0]


def cdr(**over: str) -> Cdr:
    base = Cdr(
        uniqueid="1700000000.1",
        linkedid="1700000000.1",
        channel="PJSIP/2002-00000001",
        dstchannel="PJSIP/2003-00000002",
        lastapp="Dial",
        start="2026-11-24 10:00:00",
        answer="2026-11-24 10:00:04",
        end="2026-11-24 10:01:00",
        disposition="ANSWERED",
        userfield="",
        src="2002",
        dst="s",
    )
    return replace(base, **over)


def test_tags_round_trip_and_refuse_what_the_service_did_not_write() -> None:
    tags = CallTags(dialed="*7*2003", caller_id=2, callee_id=3, case_id=7, link="prefix")
    assert decode(encode(tags)) == tags
    assert decode("") is None
    assert decode("case=7") is None
    # A value that would break the format is stored as "invalid", never as given.
    assert decode(encode(CallTags(dialed="20;03=x"))).dialed == "invalid"


def test_answered_call_becomes_one_contact_with_asterisks_times(db) -> None:
    log = ContactLog(db)
    tags = encode(CallTags(dialed="2003", caller_id=mid(db, "2002"), case_id=7, link="prefix"))
    assert log.write([cdr(userfield=tags)]) == 1
    (row,) = db["contacts"].rows
    assert row["caller_member_id"] == mid(db, "2002")
    assert row["callee_member_id"] == mid(db, "2003")
    assert row["outcome"] == "answered"
    assert row["case_id"] == 7 and row["link"] == "prefix"
    assert row["placed_at"] == iso("2026-11-24 10:00:00")
    assert row["answered_at"] == iso("2026-11-24 10:00:04")
    assert row["ended_at"] == iso("2026-11-24 10:01:00")


def test_the_same_record_twice_is_stored_once(db) -> None:
    log = ContactLog(db)
    record = cdr(userfield=encode(CallTags(dialed="2003", caller_id=mid(db, "2002"))))
    log.write([record])
    assert log.write([record]) == 0
    assert db["contacts"].count == 1


def test_a_member_with_two_phones_is_one_contact_with_the_best_outcome(db) -> None:
    log = ContactLog(db)
    rang = cdr(dstchannel="PJSIP/2003-00000003", answer="", disposition="NO ANSWER")
    log.write([rang, cdr()])
    (row,) = db["contacts"].rows
    assert row["outcome"] == "answered"
    assert row["answered_at"] == iso("2026-11-24 10:00:04")


@pytest.mark.parametrize(
    ("over", "outcome"),
    [
        ({"disposition": "BUSY", "answer": ""}, "busy"),
        ({"disposition": "NO ANSWER", "answer": ""}, "no_answer"),
        (
            {"disposition": "NO ANSWER", "answer": "", "dstchannel": "", "lastapp": "Hangup"},
            "unavailable",
        ),
        (
            {"disposition": "FAILED", "answer": "", "dstchannel": "", "lastapp": "Dial"},
            "unavailable",
        ),
        ({"disposition": "CONGESTION", "answer": "", "lastapp": "Dial"}, "failed"),
    ],
)
def test_outcomes(db, over: dict[str, str], outcome: str) -> None:
    ContactLog(db).write([cdr(**over)])
    assert next(iter(db["contacts"].rows))["outcome"] == outcome


def test_refused_call_keeps_the_reason_and_what_was_dialed(db) -> None:
    tags = encode(CallTags(dialed="0772999999", caller_id=mid(db, "2002"), refusal="not_a_member"))
    ContactLog(db).write([cdr(dstchannel="", answer="", disposition="NO ANSWER", userfield=tags)])
    (row,) = db["contacts"].rows
    assert (row["outcome"], row["refusal"], row["dialed"]) == (
        "refused",
        "not_a_member",
        "0772999999",
    )


def test_a_mobile_reached_over_the_trunk_is_the_member_called(db) -> None:
    tags = encode(
        CallTags(
            dialed="2005",
            caller_id=mid(db, "2002"),
            callee_id=mid(db, "2005"),
            callee_number="+256772100005",
        )
    )
    ContactLog(db).write([cdr(dstchannel="PJSIP/cug-trunk-00000009", userfield=tags)])
    (row,) = db["contacts"].rows
    assert row["callee_member_id"] == mid(db, "2005")
    assert row["callee_number"] == "+256772100005"


def test_a_case_that_does_not_exist_is_never_linked(db) -> None:
    tags = encode(CallTags(dialed="2003", caller_id=mid(db, "2002"), case_id=404, link="prefix"))
    ContactLog(db).write([cdr(userfield=tags)])
    (row,) = db["contacts"].rows
    assert row["case_id"] is None and row["link_note"] == "unknown_case:404"


def test_events_queued_while_writing_fails_are_kept_for_the_next_flush(db) -> None:
    log = ContactLog(db)
    log.on_event(
        {
            "UniqueID": "1.1",
            "LinkedID": "1.1",
            "Channel": "PJSIP/2002-1",
            "DestinationChannel": "PJSIP/2003-2",
            "Disposition": "ANSWERED",
            "StartTime": "2026-11-24 10:00:00",
            "AnswerTime": "2026-11-24 10:00:01",
            "EndTime": "2026-11-24 10:00:09",
        }
    )
    db.execute("DROP INDEX idx_contacts_source_key")
    db.execute("ALTER TABLE contacts RENAME TO contacts_moved")
    with pytest.raises(sqlite3.Error):
        log.flush()
    assert len(log.queue) == 1
    db.execute("ALTER TABLE contacts_moved RENAME TO contacts")
    assert log.flush() == 1 and log.queue == []


def _cdr_file(path: Path, rows: list[Cdr]) -> None:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE cdr (AcctId INTEGER PRIMARY KEY, uniqueid, linkedid, sequence, src, dst, "
        "dcontext, channel, dstchannel, lastapp, start, answer, end, duration, billsec, "
        "disposition, userfield)"
    )
    for r in rows:
        conn.execute(
            "INSERT INTO cdr (uniqueid, linkedid, sequence, src, dst, dcontext, channel, "
            "dstchannel, lastapp, start, answer, end, duration, billsec, disposition, userfield) "
            "VALUES (?,?,0,?,?,'',?,?,?,?,?,?,0,0,?,?)",
            (
                r.uniqueid,
                r.linkedid,
                r.src,
                r.dst,
                r.channel,
                r.dstchannel,
                r.lastapp,
                r.start,
                r.answer,
                r.end,
                r.disposition,
                r.userfield,
            ),
        )
    conn.commit()
    conn.close()


def test_reconciling_from_asterisks_cdr_file_adds_only_what_is_missing(db, tmp_path: Path) -> None:
    first = cdr()
    second = cdr(uniqueid="1700000100.5", linkedid="1700000100.5", dstchannel="PJSIP/2004-0000000a")
    log = ContactLog(db)
    log.write([first])  # seen live before the gap
    path = tmp_path / "master.db"
    _cdr_file(path, [first, second])
    assert log.reconcile(path) == 1
    assert db["contacts"].count == 2
    assert log.reconcile(path) == 0  # read up to the end already
    assert db["contacts"].count == 2


def test_records_logged_live_are_passed_over_when_met_in_the_cdr_file(db, tmp_path: Path) -> None:
    """Asterisk writes every record both to AMI and to its CDR file: the reconciliation
    passes over what was logged live, and still logs what AMI never delivered."""
    live = cdr()
    missed = cdr(uniqueid="1700000100.5", linkedid="1700000100.5", dstchannel="PJSIP/2004-0000000a")
    log = ContactLog(db)
    log.on_event(
        {
            "UniqueID": live.uniqueid,
            "LinkedID": live.linkedid,
            "Channel": live.channel,
            "DestinationChannel": live.dstchannel,
            "LastApplication": live.lastapp,
            "StartTime": live.start,
            "AnswerTime": live.answer,
            "EndTime": live.end,
            "Disposition": live.disposition,
            "UserField": live.userfield,
            "Source": live.src,
            "Destination": live.dst,
        }
    )
    assert log.flush() == 1
    path = tmp_path / "master.db"
    _cdr_file(path, [live, missed])
    assert log.reconcile(path) == 1
    assert log.passed_over == 1
    assert {r["callee_member_id"] for r in db["contacts"].rows} == {
        mid(db, "2003"),
        mid(db, "2004"),
    }
    # A live record excuses one row of a file: met again, it is checked in full (and,
    # being logged already, changes nothing).
    again = tmp_path / "again.db"
    _cdr_file(again, [live])
    assert log.reconcile(again) == 0 and log.passed_over == 1
    assert db["contacts"].count == 2


def test_case_prefix_and_links() -> None:
    assert split_case_prefix("*42*2003") == ("2003", KeyedCase("42"))
    assert split_case_prefix("2003") == ("2003", None)
    assert split_case_prefix("**2003") == ("2003", KeyedCase("", malformed=True))
    assert split_case_prefix("*1234567890*2003")[1].malformed

    class Cases:
        def case_status(self, number: int) -> str | None:
            return {1: "open", 2: "closed"}.get(number)

        def open_cases_involving(self, a: int, b: int) -> list[int]:
            return {(10, 20): [1], (10, 30): [1, 3]}.get((a, b), [])

    cases = Cases()
    assert link_call(cases, KeyedCase("1"), 10, 20).source == "prefix"
    assert link_call(cases, KeyedCase("2"), 10, 20).after_close
    assert link_call(cases, KeyedCase("9"), 10, 20).note == "unknown_case:9"
    assert link_call(cases, KeyedCase("", malformed=True), 10, 20).note == "malformed_case_prefix"
    assert link_call(cases, None, 10, 20).case_id == 1  # the one open case both are on
    assert link_call(cases, None, 10, 30).case_id is None  # two: ambiguous, not linked
    assert link_call(cases, None, 10, None).case_id is None


def case_7_between_anna_and_police(db: sqlite_utils.Database) -> tuple[int, int, int]:
    """Case 7 assigned to Okello (2002) and referred to the Oyam police desk (2004)."""
    anna, ben, police = mid(db, "2002"), mid(db, "2003"), mid(db, "2004")
    db["cases"].update(7, {"assigned_member_id": anna})
    db["referrals"].insert(
        {
            "case_id": 7,
            "service": "police",
            "to_member_id": police,
            "status": "made",
            "made_at": "2026-11-02T08:00:00+00:00",
            "made_by": "test",
        }
    )
    return anna, ben, police


def test_case_lookup_finds_the_open_case_two_members_share(db) -> None:
    from directory.case_links import CaseLookup

    anna, ben, police = case_7_between_anna_and_police(db)
    lookup = CaseLookup(db)
    assert lookup.case_status(7) == "open" and lookup.case_status(8) is None
    assert lookup.open_cases_involving(anna, police) == [7]
    assert lookup.open_cases_involving(police, anna) == [7]
    assert lookup.open_cases_involving(anna, ben) == []
    db["cases"].update(7, {"status": "closed"})
    assert lookup.open_cases_involving(anna, police) == []


def test_unlinked_answered_calls_between_people_on_a_shared_case_are_suggested(db) -> None:
    from directory.case_links import link_suggestions

    anna, ben, police = case_7_between_anna_and_police(db)
    log = ContactLog(db)
    log.write(
        [
            cdr(uniqueid="1.1", linkedid="1.1", dstchannel="PJSIP/2004-1"),  # anna -> police
            cdr(uniqueid="1.2", linkedid="1.2", dstchannel="PJSIP/2003-1"),  # anna -> ben: no case
            cdr(
                uniqueid="1.3",
                linkedid="1.3",
                dstchannel="PJSIP/2004-2",
                disposition="NO ANSWER",
                answer="",
            ),  # not answered: nothing to link
        ]
    )
    (suggestion,) = link_suggestions(db)
    assert suggestion["cases"] == [7]
    assert suggestion["callee_member_id"] == police
    assert ben not in (suggestion["caller_member_id"], suggestion["callee_member_id"])


@pytest.mark.parametrize(
    "given", ["", "2026-12-04", "2026-12-04T22:38:15", "2026-13-04 22:38:15", "garbage 12345678 xx"]
)
def test_a_cdr_time_asterisk_would_not_write_is_no_time(given: str) -> None:
    assert iso(given) is None


def test_a_cdr_time_is_read_as_the_machines_local_time() -> None:
    local = datetime(2026, 12, 4, 22, 38, 15).astimezone()
    assert iso("2026-12-04 22:38:15") == local.astimezone(UTC).isoformat(timespec="seconds")
