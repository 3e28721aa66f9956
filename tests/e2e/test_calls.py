"""Members-only calling through the real Asterisk, with SIPp phones."""

from __future__ import annotations

import pytest

from tests.e2e.harness import Pbx, received_requests

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("dialed", ["3003", "0772200003", "+256772200003", "772200003"])
def test_member_reaches_member_by_extension_or_any_number_format(pbx: Pbx, dialed: str) -> None:
    anna, ben = pbx.phone("3002"), pbx.phone("3003")
    assert ben.register() == 200
    mark = pbx.ami.mark()
    with ben.listening() as ben_trace:
        result = anna.call(dialed)
    assert result.code == 200, result.received()
    invites = received_requests(ben_trace, "INVITE")
    assert len(invites) == 1
    # Ben's phone shows who is calling, from the directory.
    assert 'From: "Worker Anna"' in invites[0]
    # Asterisk itself dialed Ben's phone from Anna's channel, and the call was answered.
    dial = pbx.ami.wait_for(
        mark, "DialEnd", lambda e: e.get("DestChannel", "").startswith("PJSIP/3003-")
    )
    assert dial["Channel"].startswith("PJSIP/3002-")
    assert dial["DialStatus"] == "ANSWER"


def test_supervisor_short_code_rings_the_callers_supervisor(pbx: Pbx) -> None:
    anna, sarah, ben = pbx.phone("3002"), pbx.phone("3001"), pbx.phone("3003")
    assert sarah.register() == 200 and ben.register() == 200
    with sarah.listening() as sarah_trace, ben.listening() as ben_trace:
        result = anna.call("100")
    assert result.code == 200
    assert len(received_requests(sarah_trace, "INVITE")) == 1
    assert received_requests(ben_trace, "INVITE") == []


def test_police_short_code_rings_the_police_desk_of_the_callers_district(pbx: Pbx) -> None:
    anna, oyam_police, jinja_police = pbx.phone("3002"), pbx.phone("3004"), pbx.phone("3008")
    assert oyam_police.register() == 200 and jinja_police.register() == 200
    with oyam_police.listening() as oyam, jinja_police.listening() as jinja:
        result = anna.call("101")
    assert result.code == 200
    assert len(received_requests(oyam, "INVITE")) == 1
    assert received_requests(jinja, "INVITE") == []


def test_member_without_supervisor_hears_a_refusal(pbx: Pbx) -> None:
    result = pbx.phone("3006").call("100")
    assert result.code == 403
    # The refusal is announced first (early media), then the call is rejected.
    assert any(m.startswith("SIP/2.0 183") for m in result.received())


@pytest.mark.parametrize("dialed", ["0772999999", "+254712345678", "0414123456", "12"])
def test_non_member_destination_is_refused_and_nobody_rings(pbx: Pbx, dialed: str) -> None:
    anna, ben = pbx.phone("3002"), pbx.phone("3003")
    assert ben.register() == 200
    mark = pbx.ami.mark()
    with ben.listening() as ben_trace:
        result = anna.call(dialed)
    assert result.code == 403
    assert received_requests(ben_trace, "INVITE") == []
    # Asterisk dialed nobody and ended Anna's call as rejected (cause 21).
    hangup = pbx.ami.wait_for(mark, "Hangup", lambda e: e["Channel"].startswith("PJSIP/3002-"))
    assert hangup["Cause"] == "21"
    assert pbx.ami.since(mark, "DialBegin") == []


def test_wrong_password_is_rejected(pbx: Pbx) -> None:
    anna = pbx.phone("3002")
    anna.password = "not-the-password-at-all"
    assert anna.register() == 401
    assert anna.call("3003").code == 401


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(pbx: Pbx) -> None:
    from tests.e2e.harness import Phone

    stranger = Phone(pbx, "9999", "guessing-a-password-123")
    assert stranger.register() == 401
    assert stranger.call("3003").code == 401


def test_trunk_admits_a_members_mobile_and_refuses_a_stranger(pbx: Pbx) -> None:
    trunk, ben = pbx.trunk(), pbx.phone("3003")
    assert trunk.register() == 200
    assert ben.register() == 200
    with ben.listening() as ben_trace:
        result = trunk.call("3003", caller="0772200002")
    assert result.code == 200
    assert len(received_requests(ben_trace, "INVITE")) == 1
    with ben.listening() as ben_trace:
        result = trunk.call("3003", caller="0772999999")
    assert result.code == 403
    assert received_requests(ben_trace, "INVITE") == []


def test_member_without_a_registered_phone_is_reached_on_their_mobile(pbx: Pbx) -> None:
    trunk, anna = pbx.trunk(), pbx.phone("3002")
    assert trunk.register() == 200
    with trunk.behaving("key") as trunk_trace:
        result = anna.call("3005", timeout=45)
    assert result.code == 200  # after the mobile's answerer pressed 1 (voicemail never does)
    invites = received_requests(trunk_trace, "INVITE")
    assert len(invites) == 1
    assert invites[0].startswith("INVITE sip:+256772200005@")


def test_deactivated_member_can_no_longer_register_or_call(pbx: Pbx) -> None:
    leaving = pbx.phone("3007")
    assert leaving.register() == 200
    pbx.cug("directory", "deactivate", "3007")
    pbx.wait_endpoint_row("ps_endpoints", "3007", lambda row: row is None)
    assert leaving.register() == 401
    assert leaving.call("3003").code == 401


def test_routing_service_down_keeps_extension_calls_and_refuses_the_rest(pbx: Pbx) -> None:
    anna, ben = pbx.phone("3002"), pbx.phone("3003")
    assert ben.register() == 200
    pbx.stop_service()
    try:
        with ben.listening() as ben_trace:
            by_extension = anna.call("3003")
        assert by_extension.code == 200
        assert len(received_requests(ben_trace, "INVITE")) == 1
        with ben.listening() as ben_trace:
            by_number = anna.call("0772200003")
        assert by_number.code == 403
        assert received_requests(ben_trace, "INVITE") == []
    finally:
        pbx.start_service()


def test_helpline_short_code_goes_out_over_the_trunk(pbx: Pbx) -> None:
    trunk, anna = pbx.trunk(), pbx.phone("3002")
    assert trunk.register() == 200
    with trunk.listening() as trunk_trace:
        result = anna.call("116")
    assert result.code == 200
    invites = received_requests(trunk_trace, "INVITE")
    assert len(invites) == 1
    assert invites[0].startswith("INVITE sip:116@")


def test_member_calling_the_cug_number_is_answered_with_a_prompt_a_stranger_is_not(
    pbx: Pbx,
) -> None:
    trunk = pbx.trunk()
    assert trunk.register() == 200
    mark = pbx.ami.mark()
    member = trunk.call("0800100116", caller="+256772200002")
    assert member.code == 200
    # Asterisk answered the member's call (to ask whom to call) and hung up no other leg.
    assert pbx.ami.since(mark, "DialBegin") == []
    stranger = trunk.call("0800100116", caller="+256772999999")
    assert stranger.code == 403


def test_callee_sees_a_non_ascii_caller_name_from_the_directory(pbx: Pbx) -> None:
    nakato, ben = pbx.phone("3009"), pbx.phone("3003")
    assert ben.register() == 200
    with ben.listening() as ben_trace:
        assert nakato.call("3003").code == 200
    (invite,) = received_requests(ben_trace, "INVITE")
    assert 'From: "Nakato Ñamukose"' in invite
