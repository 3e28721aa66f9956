"""Members on basic phones: "please call me" over the trunk, against the real Asterisk.

The trunk's SIPp brings a flash (INVITE from a mobile's number, cancelled when it rings);
the CUG must call that mobile back over the trunk, and the member's keyed digits must reach
the member they dialed, as from a SIP phone.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import CALLBACK_NUMBER
from tests.e2e.harness import Pbx, received_requests
from tests.e2e.mobiles import answering_mobile, flash, poll, wait_hung_up, wait_requests

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
    with answering_mobile(trunk, keys="") as mobile_trace:
        assert flash(gateway(pbx), CALLBACK_NUMBER, caller=caller) == 487
        rows = wait_flashes(pbx, before)
        time.sleep(3)  # a call back would have gone out by now (0.5 s after the flash)
        assert received_requests(mobile_trace, "INVITE") == []
    assert [(r["caller_id"], r["e164"], r["member_id"], r["outcome"]) for r in rows] == [logged]
    # A flash is in the flash log, not in the contact log as a failed call.
    assert pbx.contacts("caller_number = ?", (caller,)) == []


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
