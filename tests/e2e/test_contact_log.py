"""The contact log against the real Asterisk: every call on record, from Asterisk's CDRs, with
its case, exactly once, whatever restarts in between."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from directory.transactions import writing
from tests.e2e.harness import CallResult, Pbx, received_requests

pytestmark = pytest.mark.e2e


def open_case(pbx: Pbx, assigned: str, referral_to: str | None = None, status: str = "open") -> int:
    """A case straight in the database (the case commands have tests of their own), in a
    transaction that takes the write lock first, as the service's own do: sqlite-utils'
    atomic() reads the schema first and then cannot take the lock if the service wrote
    meanwhile ("database is locked" at once, whatever the busy timeout)."""
    db = pbx.db()
    try:
        with writing(db):
            db["cases"].insert(
                {
                    "reference": f"E2E-{time.monotonic_ns()}",
                    "district": "Oyam",
                    "category": "neglect",
                    "urgency": "normal",
                    "status": status,
                    "assigned_member_id": pbx.member_id(assigned),
                    "reported_at": "2026-11-20T08:00:00+00:00",
                }
            )
            case_id = db.execute("SELECT max(id) FROM cases").fetchone()[0]
            if referral_to:
                db["referrals"].insert(
                    {
                        "case_id": case_id,
                        "service": "police",
                        "to_member_id": pbx.member_id(referral_to),
                        "status": "made",
                        "made_at": "2026-11-20T09:00:00+00:00",
                        "made_by": "e2e",
                    }
                )
        return case_id
    finally:
        db.close()


def test_call_with_a_case_number_in_front_is_logged_against_the_case(pbx: Pbx) -> None:
    case = open_case(pbx, assigned="3002")
    anna, ben = pbx.phone("3002"), pbx.phone("3003")
    assert ben.register() == 200
    with ben.listening(ring_ms=1000):
        assert anna.call(f"*{case}*3003", talk_ms=2000).code == 200
    (contact,) = pbx.wait_contacts("case_id = ?", (case,))
    assert contact["link"] == "prefix"
    assert contact["caller_member_id"] == pbx.member_id("3002")
    assert contact["callee_member_id"] == pbx.member_id("3003")
    assert contact["outcome"] == "answered"
    assert contact["dialed"] == "3003"
    # Placed, answered after about a second of ringing, ended after about two of talking.
    assert contact["placed_at"] <= contact["answered_at"] < contact["ended_at"]


def test_call_between_the_two_people_on_one_open_case_is_linked_by_itself(pbx: Pbx) -> None:
    case = open_case(pbx, assigned="3002", referral_to="3004")
    anna, police = pbx.phone("3002"), pbx.phone("3004")
    assert police.register() == 200
    with police.listening():
        assert anna.call("3004").code == 200
    (contact,) = pbx.wait_contacts("case_id = ?", (case,))
    assert contact["link"] == "auto"
    assert contact["callee_member_id"] == pbx.member_id("3004")


def test_unknown_case_number_connects_the_call_and_logs_it_unlinked_with_the_reason(
    pbx: Pbx,
) -> None:
    anna, ben = pbx.phone("3002"), pbx.phone("3003")
    assert ben.register() == 200
    mark = pbx.ami.mark()
    with ben.listening():
        anna.call("*99999*3003")
    # The call went through to Ben: Asterisk dialed his phone, or his mobile over the trunk
    # when his phone's contact was not seen reachable at that moment (the test phones'
    # qualify status can lag; whether a phone then answers is other tests' subject).
    pbx.ami.wait_for(
        mark,
        "DialBegin",
        lambda e: (
            e["Channel"].startswith("PJSIP/3002-")
            and e["DestChannel"].startswith(("PJSIP/3003-", "PJSIP/cug-trunk-"))
        ),
    )
    (contact,) = pbx.wait_contacts("link_note = ?", ("unknown_case:99999",))
    assert contact["case_id"] is None
    assert contact["callee_member_id"] == pbx.member_id("3003")
    assert contact["dialed"] == "3003"


def test_call_on_a_closed_case_shows_in_the_record(pbx: Pbx) -> None:
    case = open_case(pbx, assigned="3002", status="closed")
    anna, ben = pbx.phone("3002"), pbx.phone("3003")
    assert ben.register() == 200
    with ben.listening():
        assert anna.call(f"*{case}*3003").code == 200
    (contact,) = pbx.wait_contacts("case_id = ?", (case,))
    assert contact["after_close"] == 1


def test_unanswered_and_refused_calls_are_logged_with_how_they_ended(pbx: Pbx) -> None:
    anna, ben = pbx.phone("3002"), pbx.phone("3003")
    assert ben.register() == 200
    mark = pbx.ami.mark()
    with pbx.chain("callee:6"), ben.listening(ring_ms=20000):
        assert anna.call("3003").code == 480  # rang out after 6 s, nobody after Ben
    linkedid = pbx.ami.wait_for(mark, "Cdr", lambda e: e["Channel"].startswith("PJSIP/3002-"))[
        "LinkedID"
    ]
    (contact,) = pbx.wait_contacts("linkedid = ?", (linkedid,))
    assert contact["outcome"] == "no_answer"
    assert contact["answered_at"] is None
    refused = anna.call("0772999999")
    assert refused.code == 403
    rows = pbx.wait_contacts("dialed = ? AND outcome = 'refused'", ("0772999999",))
    assert rows[-1]["refusal"] == "not_a_member"


@contextmanager
def case_call_answered(pbx: Pbx, talk_ms: int) -> Iterator[tuple[int, list[CallResult]]]:
    """Anna calls Ben on a new case; yields (case, results) once Ben has answered, and
    returns when the call is over."""
    case = open_case(pbx, assigned="3002")
    ben = pbx.phone("3003")
    assert ben.register() == 200
    mark = pbx.ami.mark()
    results: list[CallResult] = []
    with ben.listening():
        thread = threading.Thread(
            target=lambda: results.append(pbx.phone("3002").call(f"*{case}*3003", talk_ms=talk_ms))
        )
        thread.start()
        pbx.ami.wait_for(mark, "DialEnd", lambda e: e.get("DialStatus") == "ANSWER")
        yield case, results
        thread.join(timeout=40)


def test_service_restart_in_the_middle_of_a_call_loses_and_doubles_nothing(pbx: Pbx) -> None:
    with case_call_answered(pbx, talk_ms=4000) as (case, results):
        pbx.stop_service()  # the call ends while nobody listens to AMI
    assert results[0].code == 200
    pbx.start_service()  # reconciles from Asterisk's CDR file
    (contact,) = pbx.wait_contacts("case_id = ?", (case,))
    assert contact["outcome"] == "answered"
    # And once more, live and from the file at the same time: still one record.
    time.sleep(1)
    pbx.stop_service()
    pbx.start_service()
    assert len(pbx.contacts("case_id = ?", (case,))) == 1


def test_asterisk_restart_in_the_middle_of_a_call_loses_and_doubles_nothing(pbx: Pbx) -> None:
    with case_call_answered(pbx, talk_ms=8000) as (case, _):
        pbx.restart_asterisk()
    pbx.wait_service()
    pbx.wait_contacts("case_id = ?", (case,))
    time.sleep(2)  # anything arriving twice (live and from the CDR file) would show by now
    rows = pbx.contacts("case_id = ?", (case,))
    assert len(rows) == 1
    assert rows[0]["outcome"] == "answered"
    assert rows[0]["ended_at"] is not None


def _set_follow_up(pbx: Pbx, case: int, due: str) -> None:
    db = pbx.db()
    try:
        db["cases"].update(case, {"follow_up_due": due})
    finally:
        db.close()


def test_follow_up_due_with_no_contact_rings_the_assigned_worker_once(pbx: Pbx) -> None:
    case = open_case(pbx, assigned="3006")
    worker = pbx.phone("3006")
    assert worker.register() == 200
    mark = pbx.ami.mark()
    with worker.listening() as trace:
        _set_follow_up(pbx, case, "2026-11-21T17:00:00+00:00")
        pbx.ami.wait_for(mark, "OriginateResponse", timeout=15)
    (invite,) = received_requests(trace, "INVITE")
    assert "CUG follow-up" in invite
    (contact,) = pbx.wait_contacts("case_id = ? AND kind = 'reminder'", (case,))
    assert contact["outcome"] == "answered"
    assert contact["callee_member_id"] == pbx.member_id("3006")
    # The reminder is a contact on the case: no second reminder for the same date.
    time.sleep(3)
    assert len(pbx.contacts("case_id = ? AND kind = 'reminder'", (case,))) == 1


def test_reminder_to_an_unreachable_worker_is_logged_with_why(pbx: Pbx) -> None:
    case = open_case(pbx, assigned="3005")  # Oyam health: no phone registered in these tests
    _set_follow_up(pbx, case, "2026-11-21T17:00:00+00:00")
    (contact,) = pbx.wait_contacts("case_id = ? AND kind = 'reminder'", (case,))
    assert contact["outcome"] in ("unavailable", "failed")
    assert contact["answered_at"] is None
