"""Escalation through the real Asterisk: an unanswered call moves up its chain, and only
someone who presses 1 is put through. SIPp phones ring out, answer and press 1 (RFC 2833),
answer and press nothing, or are busy; the timings come from their message traces.

Chains are set per test with short ring times; Anna (3002) calls Ben (3003), whose
supervisor is Sarah (3001)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.e2e.handset import Handset, received_texts
from tests.e2e.harness import Pbx, Phone, final_response, received_requests, request_times


@pytest.fixture
def chain(pbx: Pbx) -> Iterator[Callable[[str], None]]:
    """Set the chain every call follows; the harness's short chain is back afterwards."""
    with ExitStack() as stack:
        yield lambda rules: stack.enter_context(pbx.chain(rules))


def registered(pbx: Pbx, *extensions: str) -> list[Phone]:
    """The members' phones, each registered."""
    phones = [pbx.phone(e) for e in extensions]
    for phone in phones:
        assert phone.register() == 200
    return phones


def outcomes(pbx: Pbx, linkedid: str) -> dict[str, tuple[int | None, str]]:
    rows = pbx.contacts("linkedid = ? AND step IS NOT NULL", (linkedid,))
    db = pbx.db()
    try:
        ext = {r[0]: r[1] for r in db.execute("SELECT id, extension FROM members")}
    finally:
        db.close()
    return {ext.get(r["callee_member_id"], "?"): (r["step"], r["outcome"]) for r in rows}


def _settled_escalation(pbx: Pbx, after: int, timeout: float) -> dict:
    """The first escalated call stored after row `after`, once it is settled (notices made)."""
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        db = pbx.db()
        try:
            row = db.execute(
                "SELECT rowid, settled_at FROM escalations WHERE rowid > ? ORDER BY rowid LIMIT 1",
                (after,),
            ).fetchone()
            if row is not None and row[1] is not None:
                return dict(next(db["escalations"].rows_where("rowid = ?", [row[0]])))
        finally:
            db.close()
        time.sleep(0.3)
    raise AssertionError(f"no settled escalation after row {after}: {row}")


@pytest.fixture
def new_escalation(pbx: Pbx) -> Callable[..., dict]:
    """Waits for this test's escalated call (not an earlier test's) to be settled."""
    db = pbx.db()
    try:
        after = db.execute("SELECT coalesce(max(rowid), 0) FROM escalations").fetchone()[0]
    finally:
        db.close()
    return lambda timeout=20: _settled_escalation(pbx, after, timeout)


def notices(pbx: Pbx, linkedid: str) -> dict[str, str]:
    db = pbx.db()
    try:
        return {
            r[0]: r[1]
            for r in db.execute(
                "SELECT m.extension, n.kind FROM call_notices n JOIN members m "
                "ON m.id = n.member_id WHERE n.linkedid = ?",
                (linkedid,),
            )
        }
    finally:
        db.close()


def missed_notices_reach(pbx: Pbx, extensions: tuple[str, ...], naming: str) -> dict[str, bool]:
    """Each member's phone comes on and gets its missed-call notices as texts from the
    service number (so no later test finds them queued); per extension, whether one naming
    `naming` came (earlier tests' notices may come first)."""
    got = {}
    for extension in extensions:
        with Handset(pbx.phone(extension)).online(stay_ms=30000) as inbox:
            deadline = time.monotonic() + 20
            found = False
            while not found and time.monotonic() < deadline:
                found = any(t.sender == "199" and naming in t.body for t in received_texts(inbox))
                time.sleep(0.3)
        got[extension] = found
    return got


def test_unanswered_call_moves_to_the_supervisor_who_takes_it_with_the_key(
    pbx: Pbx, chain, new_escalation
) -> None:
    chain("callee:5, supervisor:8, role=dac:8")
    anna, ben, sarah = registered(pbx, "3002", "3003", "3001")
    with ben.behaving("ignore") as ben_trace, sarah.behaving("key") as sarah_trace:
        result = anna.call("3003", talk_ms=500, timeout=60)
    assert result.code == 200
    ben_rang, sarah_rang = request_times(ben_trace, "INVITE"), request_times(sarah_trace, "INVITE")
    assert len(ben_rang) == 1 and len(sarah_rang) == 1
    waited = (sarah_rang[0] - ben_rang[0]).total_seconds()
    assert 4.5 <= waited <= 6.0, waited  # Ben's 5 s, then Sarah rang within a second
    assert received_requests(ben_trace, "CANCEL")  # Ben's phone stopped ringing
    esc = new_escalation()
    assert outcomes(pbx, esc["linkedid"]) == {"3003": (1, "no_answer"), "3001": (2, "answered")}
    assert esc["taken_step"] == 2 and esc["exhausted"] == 0
    assert notices(pbx, esc["linkedid"]) == {"3003": "missed"}
    # The notice reaches Ben as a text from the CUG's service number once his phone is on.
    with Handset(ben).online(stay_ms=30000) as inbox:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            missed = [t for t in received_texts(inbox) if "Missed escalated call" in t.body]
            if missed:
                break
            time.sleep(0.5)
    assert missed and missed[0].sender == "199"
    assert "from Worker Anna (3002)" in missed[0].body
    assert "taken by Supervisor Sarah (3001)" in missed[0].body


def test_an_answer_without_the_key_is_not_taken_and_the_chain_goes_on(
    pbx: Pbx, chain, new_escalation
) -> None:
    chain("callee:5, supervisor:8, role=dac:8")
    anna, ben, sarah, dac = registered(pbx, "3002", "3003", "3001", "3010")
    with (
        ben.behaving("busy") as ben_trace,
        sarah.behaving("no-key") as sarah_trace,
        dac.behaving("key") as dac_trace,
    ):
        result = anna.call("3003", talk_ms=500, timeout=90)
    assert result.code == 200
    assert final_response(ben_trace, "INVITE") is None  # Ben's phone sent 486 itself
    sarah_rang, dac_rang = request_times(sarah_trace, "INVITE"), request_times(dac_trace, "INVITE")
    # Busy moves on at once; Sarah answered (her phone sent 200) but pressed nothing, so
    # she was hung up and the DAC officer rang: the caller was put through to the DAC only.
    assert (sarah_rang[0] - request_times(ben_trace, "INVITE")[0]).total_seconds() < 1.5
    assert received_requests(sarah_trace, "BYE")
    assert dac_rang and dac_rang[0] > sarah_rang[0]
    esc = new_escalation()
    assert outcomes(pbx, esc["linkedid"]) == {
        "3003": (1, "busy"),
        "3001": (2, "not_taken"),
        "3010": (3, "answered"),
    }
    assert notices(pbx, esc["linkedid"]) == {"3003": "missed", "3001": "missed"}


def test_two_people_at_one_step_the_first_key_wins_the_other_stops_ringing(
    pbx: Pbx, chain, new_escalation
) -> None:
    # Step 2 rings the other para-social workers of Ben's district at once: 3006 and 3009.
    chain("callee:5, role=psw:10")
    anna, ben, first, other = registered(pbx, "3002", "3003", "3006", "3009")
    with (
        ben.behaving("ignore"),
        first.behaving("key") as first_trace,
        other.behaving("ignore") as other_trace,
    ):
        result = anna.call("3003", talk_ms=500, timeout=60)
    assert result.code == 200
    assert received_requests(first_trace, "INVITE") and received_requests(other_trace, "INVITE")
    assert received_requests(other_trace, "CANCEL")
    esc = new_escalation()
    assert outcomes(pbx, esc["linkedid"])["3006"] == (2, "answered")
    # 3009 rang at the same step as the one who took it: "taken by", not "missed" (as did
    # any other para-social worker of the district another test added).
    told = notices(pbx, esc["linkedid"])
    assert told["3003"] == "missed" and told["3009"] == "taken_by_colleague"
    assert set(told.values()) == {"missed", "taken_by_colleague"} and "3006" not in told


def test_a_chain_that_runs_out_tells_the_caller_and_the_district(
    pbx: Pbx, chain, new_escalation
) -> None:
    chain("callee:5, supervisor:5")
    anna, ben, sarah = registered(pbx, "3002", "3003", "3001")
    with ben.behaving("ignore"), sarah.behaving("ignore"):
        result = anna.call("3003", talk_ms=500, timeout=60)
    assert result.code == 480  # after "I'm sorry, I was unable to locate..."
    esc = new_escalation()
    assert esc["exhausted"] == 1 and esc["taken_by_member_id"] is None
    # Sarah is Anna's supervisor too: she hears once (missed); the DAC officer hears that
    # nobody took it.
    assert notices(pbx, esc["linkedid"]) == {
        "3003": "missed",
        "3001": "missed",
        "3010": "chain_exhausted",
    }


def test_the_chain_finishes_when_the_service_dies_mid_call(pbx: Pbx, chain, new_escalation) -> None:
    chain("callee:5, supervisor:10")
    anna, ben, sarah = registered(pbx, "3002", "3003", "3001")
    results = []
    with ben.behaving("ignore") as ben_trace, sarah.behaving("key"):
        caller = threading.Thread(
            target=lambda: results.append(anna.call("3003", talk_ms=500, timeout=60))
        )
        caller.start()
        deadline = time.monotonic() + 10
        while not request_times(ben_trace, "INVITE") and time.monotonic() < deadline:
            time.sleep(0.1)
        pbx.stop_service()  # Ben is ringing: the rest of the chain is Asterisk's own
        # An admin edits the chain meanwhile: this call keeps the one it started with.
        pbx.cug("escalation", "set", "callee:5, role=police:5")
        caller.join(60)
    try:
        assert results and results[0].code == 200  # Sarah took it with the key
    finally:
        pbx.start_service()
    esc = new_escalation(timeout=30)  # logged from Asterisk's CDR file after restart
    assert outcomes(pbx, esc["linkedid"]) == {"3003": (1, "no_answer"), "3001": (2, "answered")}


@pytest.mark.parametrize(("key", "low", "high"), [("#", 1.5, 4.0), ("5", 9.0, 11.0)])
def test_the_caller_skips_a_step_with_the_hash_key_and_no_other(
    pbx: Pbx, chain, new_escalation, key: str, low: float, high: float
) -> None:
    chain("callee:5, supervisor:10, role=dac:8")
    anna, ben, sarah, dac = registered(pbx, "3002", "3003", "3001", "3010")
    with (
        ben.behaving("ignore"),
        sarah.behaving("ignore") as sarah_trace,
        dac.behaving("key") as dac_trace,
    ):
        # Early media starts with Sarah's step; Anna presses the key 2 s into it: # skips
        # Sarah's 10 s; 5 means nothing there and the chain goes on as it was.
        result = anna.call("3003", talk_ms=500, timeout=60, press=key)
    assert result.code == 200
    sarah_rang, dac_rang = request_times(sarah_trace, "INVITE"), request_times(dac_trace, "INVITE")
    after = (dac_rang[0] - sarah_rang[0]).total_seconds()
    assert low <= after <= high, after
    assert received_requests(sarah_trace, "CANCEL")
    esc = new_escalation()
    assert outcomes(pbx, esc["linkedid"])["3010"] == (3, "answered")


def test_a_step_nobody_can_be_reached_at_is_passed_at_once(pbx: Pbx, chain, new_escalation) -> None:
    # The health worker (3005) has no phone registered, and with the trunk gone nobody's
    # mobile can be rung: that step is unreachable and the chain goes straight on.
    chain("callee:5, role=health:15, supervisor:8")
    trunk = pbx.trunk()
    assert trunk.register(expires=0) == 200  # the gateway is offline
    anna, ben, sarah = registered(pbx, "3002", "3003", "3001")
    with ben.behaving("ignore") as ben_trace, sarah.behaving("key") as sarah_trace:
        result = anna.call("3003", talk_ms=500, timeout=60)
    assert result.code == 200
    waited = (
        request_times(sarah_trace, "INVITE")[0] - request_times(ben_trace, "INVITE")[0]
    ).total_seconds()
    assert 4.5 <= waited <= 7.0, waited  # Ben's 5 s, then not the health step's 15 s
    esc = new_escalation()
    steps = outcomes(pbx, esc["linkedid"])
    assert steps["3005"][0] == 2 and steps["3005"][1] in ("failed", "unavailable")
    assert steps["3001"] == (3, "answered")


def test_a_team_nobody_answers_goes_on_up_the_chain(pbx: Pbx, chain, new_escalation) -> None:
    # A short code for the para-social workers of the caller's district: Ben (3003) and the
    # others ring at once for the install's 6 s; then Ben's chain goes on to his supervisor.
    chain("callee:5, supervisor:8")
    db = pbx.db()
    try:
        db.execute("INSERT INTO short_codes VALUES ('105', 'role', 'psw', NULL, 'PSWs')")
        db.conn.commit()
    finally:
        db.close()
    anna, ben, sarah = pbx.phone("3002"), pbx.phone("3003"), pbx.phone("3001")
    try:
        for phone in (anna, ben, sarah):
            assert phone.register() == 200
        with ben.behaving("ignore") as ben_trace, sarah.behaving("key") as sarah_trace:
            result = anna.call("105", talk_ms=500, timeout=60)
    finally:
        db = pbx.db()
        db.execute("DELETE FROM short_codes WHERE code = '105'")
        db.conn.commit()
        db.close()
    assert result.code == 200
    waited = (
        request_times(sarah_trace, "INVITE")[0] - request_times(ben_trace, "INVITE")[0]
    ).total_seconds()
    assert 5.5 <= waited <= 7.0, waited  # the team's 6 s, then Sarah
    esc = new_escalation()
    steps = outcomes(pbx, esc["linkedid"])
    assert steps["3003"] == (1, "no_answer") and steps["3001"] == (2, "answered")


def test_an_urgent_call_rings_each_step_for_less_time(pbx: Pbx, chain, new_escalation) -> None:
    # Sarah's step is 20 s for a normal call; *0* in front makes it urgent: 10 s at most.
    chain("callee:5, supervisor:20, role=dac:8")
    anna, ben, sarah, dac = registered(pbx, "3002", "3003", "3001", "3010")
    with (
        ben.behaving("ignore"),
        sarah.behaving("ignore") as sarah_trace,
        dac.behaving("key") as dac_trace,
    ):
        result = anna.call("*0*3003", talk_ms=500, timeout=60)
    assert result.code == 200
    after = (
        request_times(dac_trace, "INVITE")[0] - request_times(sarah_trace, "INVITE")[0]
    ).total_seconds()
    assert 9.0 <= after <= 11.5, after
    esc = new_escalation()
    assert esc["urgent"] == 1
    assert outcomes(pbx, esc["linkedid"])["3010"] == (3, "answered")
    told = missed_notices_reach(pbx, ("3003", "3001"), "taken by DAC Oyam (3010)")
    assert told == {"3003": True, "3001": True}


def test_an_urgent_chain_set_by_an_admin_is_used_for_urgent_calls_only(
    pbx: Pbx, chain, new_escalation
) -> None:
    chain("callee:5, supervisor:8")
    pbx.cug("escalation", "set", "callee:5, role=dac:8", "--urgent")
    try:
        anna, ben, sarah, dac = registered(pbx, "3002", "3003", "3001", "3010")
        with (
            ben.behaving("ignore"),
            sarah.behaving("ignore") as sarah_trace,
            dac.behaving("key") as dac_trace,
        ):
            result = anna.call("*0*3003", talk_ms=500, timeout=60)
    finally:
        pbx.cug("escalation", "clear", "--urgent")
    assert result.code == 200
    # The urgent chain goes from Ben straight to the DAC officer: Sarah is not rung.
    assert received_requests(dac_trace, "INVITE")
    assert received_requests(sarah_trace, "INVITE") == []
    esc = new_escalation()
    assert outcomes(pbx, esc["linkedid"]) == {"3003": (1, "no_answer"), "3010": (2, "answered")}
    assert missed_notices_reach(pbx, ("3003",), "taken by DAC Oyam (3010)") == {"3003": True}
