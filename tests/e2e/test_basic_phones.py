"""Members on basic phones: "please call me" over the trunk, against the real Asterisk.

The trunk's SIPp brings a flash (INVITE from a mobile's number, cancelled when it rings);
the CUG must call that mobile back over the trunk, and the member's keyed digits must reach
the member they dialed, as from a SIP phone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import CALLBACK_NUMBER, CUG_NUMBER
from tests.e2e.harness import QUALIFY_TIMEOUT, Pbx, messages, received_requests
from tests.e2e.mobiles import (
    answering_mobile,
    dial_in,
    flash,
    poll,
    wait_hung_up,
    wait_requests,
)

ANNA_MOBILE = "+256772200002"


def flashes(pbx: Pbx, since_id: int) -> list[dict]:
    with pbx.db() as db:
        rows = db.execute(
            "SELECT id, caller_id, e164, member_id, outcome, callback_outcome FROM flashes "
            "WHERE id > ? ORDER BY id",
            (since_id,),
        ).fetchall()
    keys = ("id", "caller_id", "e164", "member_id", "outcome", "callback_outcome")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def last_flash_id(pbx: Pbx) -> int:
    with pbx.db() as db:
        return db.execute("SELECT coalesce(max(id), 0) FROM flashes").fetchone()[0]


def wait_flashes(pbx: Pbx, since_id: int, count: int = 1, timeout: float = 15) -> list[dict]:
    return poll(lambda: flashes(pbx, since_id), count, timeout)


def gateway(pbx: Pbx):  # noqa: ANN201 - a second SIPp with the trunk's credentials
    """The GSM gateway bringing flashes in, on a port of its own: the trunk's registered
    contact (pbx.trunk()) is busy being the mobiles that Asterisk calls."""
    from tests.e2e.harness import Phone

    trunk = pbx.trunk()
    return Phone(pbx, trunk.username, trunk.password)


def test_a_members_flash_is_called_back_and_their_keys_reach_a_member(pbx: Pbx) -> None:
    trunk, ben = pbx.trunk(), pbx.phone("3003")
    assert trunk.register() == 200
    assert ben.register() == 200
    before = last_flash_id(pbx)
    with ben.listening() as ben_trace, answering_mobile(trunk, keys="3003#") as mobile_trace:
        # Anna's basic phone rings the callback number and hangs up once it rings.
        assert flash(gateway(pbx), CALLBACK_NUMBER, caller="0772200002") == 487
        callbacks = wait_requests(mobile_trace, "INVITE")
        assert callbacks, "the CUG did not call the mobile back"
        assert callbacks[0].startswith(f"INVITE sip:{ANNA_MOBILE}@")
        # She keyed 3003#: Ben's phone rings, with Anna's name.
        rung = wait_requests(ben_trace, "INVITE", timeout=25)
        assert rung, "the member the call back dialed was not rung"
        assert "Worker Anna" in rung[0]
        assert wait_hung_up(mobile_trace), "the call back never ended"
    rows = wait_flashes(pbx, before)
    assert [(r["e164"], r["outcome"]) for r in rows] == [(ANNA_MOBILE, "called_back")]
    assert rows[0]["callback_outcome"] == "answered"
    anna, ben_id = pbx.member_id("3002"), pbx.member_id("3003")
    # The call back is a contact of its own, and the call Anna made from it is hers.
    assert pbx.wait_contacts("kind = 'callback' AND callee_member_id = ?", (anna,))
    calls = pbx.wait_contacts(
        "kind = 'call' AND caller_member_id = ? AND callee_member_id = ? "
        "AND answered_at IS NOT NULL",
        (anna, ben_id),
    )
    assert calls


def test_a_call_back_the_trunk_could_not_place_is_placed_again(pbx: Pbx) -> None:
    """The gateway dropped off a moment (Asterisk's qualify found it unreachable) as a member
    flashed: the call back fails at once, and is placed again once the gateway is back."""
    trunk = pbx.trunk()
    assert trunk.register() == 200
    time.sleep(QUALIFY_TIMEOUT)  # the qualify on registering times out: nobody listens
    pbx.cli("pjsip qualify cug-trunk")
    poll(lambda: [1] if "Unavail" in pbx.cli("pjsip show contacts like cug-trunk") else [], 1, 8)
    before, mark = last_flash_id(pbx), pbx.ami.mark()
    assert flash(gateway(pbx), CALLBACK_NUMBER, caller="0772200010") == 487
    (flashed,) = wait_flashes(pbx, before)
    # Asterisk's word on the first try: Failure, Reason 0 (the endpoint is unavailable).
    first = pbx.ami.wait_for(
        mark,
        "OriginateResponse",
        lambda e: e.get("ActionID") == f"cug-callback-{flashed['id']}-1",
        timeout=10,
    )
    assert (first["Response"], first["Reason"]) == ("Failure", "0")
    # The gateway is back: the call back comes again within retry_seconds (15 s).
    with answering_mobile(trunk, keys="") as mobile_trace:
        callbacks = wait_requests(mobile_trace, "INVITE", timeout=25)
        assert callbacks, "the call back was not placed again"
        assert callbacks[0].startswith("INVITE sip:+256772200010@")
        assert wait_hung_up(mobile_trace)
    rows = poll(lambda: [r for r in flashes(pbx, before) if r["callback_outcome"]], 1, 10)
    assert [(r["e164"], r["outcome"], r["callback_outcome"]) for r in rows] == [
        ("+256772200010", "called_back", "answered")
    ]
    with pbx.db() as db:
        (tries,) = db.execute(
            "SELECT callback_tries FROM flashes WHERE id = ?", (rows[0]["id"],)
        ).fetchone()
    assert tries == 2
    # One call back contact for the member, answered: the failed try is not a contact.
    dac = pbx.member_id("3010")
    contacts = pbx.wait_contacts("kind = 'callback' AND callee_member_id = ?", (dac,))
    assert [c["outcome"] for c in contacts] == ["answered"]


@pytest.mark.parametrize(
    ("behaviour", "caller"), [("busy", "0772200004"), ("decline", "0772200005")]
)
def test_a_member_who_refuses_the_call_back_is_not_rung_again(
    pbx: Pbx, behaviour: str, caller: str
) -> None:
    """The member's mobile is busy, or they press the red button: that is their word, not a
    fault of the trunk, so the call back is not placed again. (Asterisk 22 says Reason 0,
    as for a gateway it could not reach: the trunk's qualify status tells them apart.)"""
    trunk = pbx.trunk()
    assert trunk.register() == 200
    before, mark = last_flash_id(pbx), pbx.ami.mark()
    with trunk.behaving(behaviour, ring_ms=1000) as mobile_trace:
        assert flash(gateway(pbx), CALLBACK_NUMBER, caller=caller) == 487
        (flashed,) = wait_flashes(pbx, before)
        said = pbx.ami.wait_for(
            mark, "OriginateResponse", lambda e: flashed["e164"] in e.get("Channel", ""), 15
        )
        assert said["Response"] == "Failure"
        time.sleep(17)  # a retry would come 15 s after the first try failed
    assert len(received_requests(mobile_trace, "INVITE")) == 1
    row = poll(lambda: [r for r in flashes(pbx, before) if r["callback_outcome"]], 1, 10)
    assert [r["callback_outcome"] for r in row] == ["unavailable"], said


@pytest.mark.parametrize(
    ("caller", "logged"),
    [
        ("0772999999", ("0772999999", "+256772999999", None, "not_a_member")),
        ("anonymous", ("anonymous", None, None, "no_caller_id")),
        ("+447700900123", ("+447700900123", None, None, "not_a_member")),
    ],
)
def test_a_flash_from_no_member_is_logged_and_never_called_back(
    pbx: Pbx, caller: str, logged: tuple
) -> None:
    trunk = pbx.trunk()
    assert trunk.register() == 200
    before = last_flash_id(pbx)
    # Other tests' calls from the same stranger number may be logged: only this one counts.
    contacts_before = max((r["id"] for r in pbx.contacts("1 = 1")), default=0)
    with answering_mobile(trunk, keys="") as mobile_trace:
        assert flash(gateway(pbx), CALLBACK_NUMBER, caller=caller) == 487
        rows = wait_flashes(pbx, before)
        time.sleep(3)  # a call back would have gone out by now (0.5 s after the flash)
        assert received_requests(mobile_trace, "INVITE") == []
    assert [(r["caller_id"], r["e164"], r["member_id"], r["outcome"]) for r in rows] == [logged]
    # A flash is in the flash log, not in the contact log as a failed call.
    assert pbx.contacts("caller_number = ? AND id > ?", (caller, contacts_before)) == []


def test_a_double_flash_gets_one_call_back(pbx: Pbx) -> None:
    trunk = pbx.trunk()
    assert trunk.register() == 200
    before = last_flash_id(pbx)
    # The mobile lets the call back ring 6 s before answering: the second flash comes while
    # the CUG is still calling.
    with answering_mobile(trunk, keys="", ring_ms=6000) as mobile_trace:
        assert flash(gateway(pbx), CALLBACK_NUMBER, caller="+256772200003") == 487
        assert wait_requests(mobile_trace, "INVITE")
        assert flash(gateway(pbx), CALLBACK_NUMBER, caller="0772200003") == 487
        rows = wait_flashes(pbx, before, count=2)
        time.sleep(3)
        assert len(received_requests(mobile_trace, "INVITE")) == 1
    assert [r["outcome"] for r in rows] == ["called_back", "already_calling"]


# ------------------------------------------------------------------ direct dial-in


def call_contacts(pbx: Pbx, caller: str, callee: str) -> list[dict]:
    return pbx.wait_contacts(
        "kind = 'call' AND caller_member_id = ? AND callee_member_id = ? "
        "AND answered_at IS NOT NULL",
        (pbx.member_id(caller), pbx.member_id(callee)),
    )


def test_a_member_with_airtime_calls_in_and_dials_a_member_at_the_prompt(pbx: Pbx) -> None:
    ben = pbx.phone("3003")
    assert ben.register() == 200
    with ben.listening() as ben_trace:
        # Anna calls the CUG's number from her mobile: answered at once with the prompt.
        code, trace = dial_in(gateway(pbx), CUG_NUMBER, caller="0772200002", keys="3003#")
        rung = received_requests(ben_trace, "INVITE")
    assert code == 200, messages(trace)[-3:]
    assert rung, "the member dialed at the prompt was not rung"
    assert "Worker Anna" in rung[0]
    assert call_contacts(pbx, "3002", "3003")


def test_a_stranger_calling_in_is_refused_unanswered(pbx: Pbx) -> None:
    code, trace = dial_in(gateway(pbx), CUG_NUMBER, caller="0772999999", keys="")
    # Rejected before answer (a 200 would come first): it costs the stranger nothing and
    # plays them no prompt.
    assert code == 403, messages(trace)[-3:]


@pytest.fixture
def pins_required(pbx: Pbx) -> Iterator[None]:
    """The trunk's caller IDs may be spoofed: members calling in must key their PIN."""
    pbx.cug("init", "--dial-in-pin")
    pbx.stop_service()
    pbx.start_service(reinstall=False)
    try:
        yield
    finally:
        pbx.cug("init", "--no-dial-in-pin")
        pbx.stop_service()
        pbx.start_service(reinstall=False)


def pin_row(pbx: Pbx, extension: str) -> tuple[int, str | None]:
    with pbx.db() as db:
        return db.execute(
            "SELECT failures, locked_until FROM member_pins WHERE member_id = ?",
            (pbx.member_id(extension),),
        ).fetchone()


def test_with_pins_a_member_keys_a_wrong_then_the_right_pin_and_gets_through(
    pbx: Pbx, pins_required: None
) -> None:
    pbx.cug("directory", "pin", "set", "3002", "--pin", "4821")
    ben = pbx.phone("3003")
    assert ben.register() == 200
    with ben.listening() as ben_trace:
        # A wrong PIN is said so and asked again; the right one leads to the prompt.
        code, trace = dial_in(
            gateway(pbx), CUG_NUMBER, caller="+256772200002", keys="1111# 4821# 3003#"
        )
        rung = received_requests(ben_trace, "INVITE")
    assert code == 200, messages(trace)[-3:]
    assert rung, "the right PIN did not lead to the member dialed"
    assert pin_row(pbx, "3002") == (0, None)  # the right PIN cleared the count


def test_with_pins_wrong_pins_lock_the_member_out_even_for_the_right_one(
    pbx: Pbx, pins_required: None
) -> None:
    pbx.cug("directory", "pin", "set", "3005", "--pin", "7351")
    cleo = pbx.phone("3004")
    assert cleo.register() == 200
    with cleo.listening() as cleo_trace:
        # Three wrong PINs: the call is ended with "cannot be completed".
        code, trace = dial_in(
            gateway(pbx), CUG_NUMBER, caller="0772200005", keys="1111# 2222# 3333#"
        )
        assert any(d == "in" and m.startswith("BYE ") for d, m in messages(trace))
        _, locked_until = pin_row(pbx, "3005")
        assert locked_until is not None, "three wrong PINs did not lock the member out"
        # Calling again at once with the right PIN: still locked out, nobody rung.
        dial_in(gateway(pbx), CUG_NUMBER, caller="0772200005", keys="7351# 3004#")
        assert received_requests(cleo_trace, "INVITE") == [], "a locked-out caller got through"
    assert code == 200
