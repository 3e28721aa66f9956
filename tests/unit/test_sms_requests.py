"""What a text from a basic phone asks for, and the daily caps: pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from routing.costs import CostPolicy, next_local_midnight, spend_allowed
from routing.flood import FloodWindow
from routing.sms_requests import SmsProblem, SmsRequest, parse_sms
from routing.texts import Command, CommandKind

WORDS = {"SUP": "100", "POLICE": "101", "DAC": "104"}


@pytest.mark.parametrize(
    ("text", "request_"),
    [
        ("3003 visited the home", SmsRequest(addressed="3003", body="visited the home")),
        ("3003: call me", SmsRequest(addressed="3003", body="call me")),
        ("+256772200003 call me", SmsRequest(addressed="+256772200003", body="call me")),
        ("0772200003 call me", SmsRequest(addressed="0772200003", body="call me")),
        ("SUP the child is safe", SmsRequest(addressed="100", body="the child is safe")),
        ("sup, the child is safe", SmsRequest(addressed="100", body="the child is safe")),
        ("Police come to the school", SmsRequest(addressed="101", body="come to the school")),
        ("3003 #12 went there", SmsRequest(addressed="3003", body="#12 went there")),
        ("#12 visited the home", SmsRequest(case=12, body="visited the home")),
        ("#12: visited", SmsRequest(case=12, body="visited")),
        ("WHO 3003", SmsRequest(command=Command(CommandKind.WHO, "3003"))),
        ("who", SmsRequest(command=Command(CommandKind.WHO, incomplete=True))),
        ("DONE 12", SmsRequest(command=Command(CommandKind.DONE, "12"))),
        ("DONE", SmsRequest(command=Command(CommandKind.DONE, incomplete=True))),
        ("cases", SmsRequest(command=Command(CommandKind.CASES))),
        ("help me please", SmsRequest(command=Command(CommandKind.HELP))),
        # Only whom it is for, with nothing to send:
        ("3003", SmsRequest(addressed="3003", problem=SmsProblem.NO_TEXT)),
        ("SUP", SmsRequest(addressed="SUP", problem=SmsProblem.NO_TEXT)),
        ("#12", SmsRequest(addressed="#12", problem=SmsProblem.NO_TEXT)),
        # Not starting with whom it is for:
        ("Hello, the child is safe", SmsRequest(problem=SmsProblem.NO_ADDRESS)),
        ("Ekyo kiŋŋaanyi", SmsRequest(problem=SmsProblem.NO_ADDRESS)),
        ("#x notes", SmsRequest(problem=SmsProblem.NO_ADDRESS)),
        ("12 ok", SmsRequest(problem=SmsProblem.NO_ADDRESS)),  # 2 digits: no address
    ],
)
def test_what_a_text_by_sms_asks_for(text: str, request_: SmsRequest) -> None:
    assert parse_sms(text, WORDS) == request_


def test_a_luganda_body_is_kept_as_it_is() -> None:
    got = parse_sms("3003 Omwana aŋŋamba nti ali bulungi", WORDS)
    assert got.body == "Omwana aŋŋamba nti ali bulungi"


@pytest.mark.parametrize(
    ("spent", "units", "allowed"),
    [(0, 1, True), (29, 1, True), (30, 1, False), (28, 3, False), (27, 3, True)],
)
def test_the_daily_sms_cap(spent: int, units: int, allowed: bool) -> None:
    assert spend_allowed(CostPolicy(sms_per_day=30), "sms", spent, units) is allowed


def test_a_cap_of_zero_is_no_cap_and_callbacks_have_their_own() -> None:
    assert spend_allowed(CostPolicy(sms_per_day=0), "sms", 10_000, 5)
    policy = CostPolicy(callbacks_per_day=2)
    assert spend_allowed(policy, "callback", 1) and not spend_allowed(policy, "callback", 2)
    with pytest.raises(ValueError):
        spend_allowed(policy, "airtime", 0)


def test_the_next_day_starts_at_kampala_midnight() -> None:
    # 22:30 UTC is 01:30 the next day in Kampala (UTC+3): the next midnight is a day later.
    at = next_local_midnight(datetime(2026, 3, 1, 22, 30, tzinfo=UTC), "Africa/Kampala")
    assert at.astimezone(UTC).isoformat() == "2026-03-02T21:00:05+00:00"
    at = next_local_midnight(datetime(2026, 3, 1, 20, 30, tzinfo=UTC), "Africa/Kampala")
    assert at.astimezone(UTC).isoformat() == "2026-03-01T21:00:05+00:00"


def test_a_flood_is_counted_per_sender_and_told_once_a_minute() -> None:
    flood = FloodWindow(per_minute=3)
    assert [flood.over("a", t) for t in (0, 1, 2, 3)] == [False, False, False, True]
    assert not flood.over("b", 3)
    assert flood.tell("a", 3) and not flood.tell("a", 30) and flood.tell("a", 64)
    assert not flood.over("a", 70)  # a minute later the window has moved on
