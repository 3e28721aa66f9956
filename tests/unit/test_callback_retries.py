"""A call back the trunk could not place is placed again; the member's own no-answer is not.

The AMI link is a fake that answers each Originate as Asterisk would (an OriginateResponse in
the action's reply); everything else is the service's own code on an in-memory directory.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import sqlite_utils

from agi.callbacks import Callbacks
from agi.cost_notices import CostGuard
from directory.lookup import Directory
from routing.callbacks import (
    CallbackOutcome,
    CallbackPolicy,
    retry_after,
)
from routing.costs import CostPolicy

FAST = CallbackPolicy(delay_ms=0, retry_seconds=0)
REASON = {"unavailable": "0", "declined": "1", "no_answer": "3", "busy": "5", "congested": "8"}


class FakeAmi:
    """Answers the n-th Originate with the n-th of `answers` ('answered', a reason, 'down':
    the action could not be sent, or 'silence': no word in time), as Asterisk does: the
    OriginateResponse goes out as an event to every listener (`heard`), then comes back in
    the action's reply too."""

    up = True

    def __init__(self, *answers: str, trunk: str = "Unreachable") -> None:
        self.answers = list(answers)
        self.trunk = trunk  # what Asterisk's qualify says of the trunk's contact
        self.placed: list[dict[str, str]] = []
        self.heard: Callable[[dict[str, str]], None] = lambda event: None

    async def action(self, action: dict[str, str], timeout: float = 5) -> Any:
        if action["Action"] == "Getvar":
            asked = action["Variable"]
            return Reply(Value="cug-trunk;@c1" if asked.startswith("PJSIP_AOR") else self.trunk)
        self.placed.append(action)
        answer = self.answers.pop(0)
        if answer == "down":
            raise ConnectionError("the AMI link is down")
        if answer == "silence":
            raise TimeoutError
        event = {"Event": "OriginateResponse", "ActionID": action["ActionID"]}
        if answer == "answered":
            event["Response"] = "Success"
        else:
            event |= {"Response": "Failure", "Reason": REASON[answer]}
        self.heard(dict(event))  # the event first, then the reply that carries it
        return [{"Response": "Success", "ActionID": action["ActionID"]}, event]


class Reply(dict):
    success = True


class Contacts:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)


class Call:
    def __init__(self, caller_id: str) -> None:
        self.headers = {"agi_callerid": caller_id}


def flash_and_wait(
    db: sqlite_utils.Database, directory: Directory, ami: FakeAmi, policy: CallbackPolicy
) -> tuple[Callbacks, Contacts]:
    """A member's flash, and every try of its call back, to the end."""
    contacts = Contacts()
    costs = CostGuard(db, CostPolicy(), lambda *a, **k: None)
    routes: Any = None  # the call back's own call is not routed here
    callbacks = Callbacks(db, directory, ami, routes, contacts, policy, costs, "0800100116")  # type: ignore[arg-type]
    ami.heard = callbacks.on_originate_response

    async def run() -> None:
        await callbacks.flash_ended(Call("0772100002"))  # type: ignore[arg-type]
        while callbacks._calls:
            await asyncio.gather(*list(callbacks._calls))

    asyncio.run(run())
    return callbacks, contacts


def flash_row(db: sqlite_utils.Database) -> tuple[str, str, int]:
    return db.execute(
        "SELECT outcome, callback_outcome, callback_tries FROM flashes ORDER BY id DESC"
    ).fetchone()


@pytest.mark.parametrize("fault", ["unavailable", "congested", "down"])
def test_a_trunk_fault_is_tried_again_and_the_member_is_reached(
    db: sqlite_utils.Database, directory: Directory, fault: str
) -> None:
    ami = FakeAmi(fault, "answered")
    _, contacts = flash_and_wait(db, directory, ami, FAST)
    assert [a["Channel"] for a in ami.placed] == ["PJSIP/+256772100002@cug-trunk"] * 2
    assert [a["ActionID"] for a in ami.placed] == ["cug-callback-1-1", "cug-callback-1-2"]
    assert flash_row(db) == ("called_back", "answered", 2)
    # One call back, one contact: how it ended, not each try.
    assert [(r["kind"], r["outcome"]) for r in contacts.rows] == [("callback", "answered")]


def test_the_trunk_is_tried_as_often_as_the_policy_says_then_the_fault_is_logged(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    ami = FakeAmi("unavailable", "unavailable", "unavailable", "answered")
    _, contacts = flash_and_wait(db, directory, ami, FAST)
    assert len(ami.placed) == 3  # the first try and policy.retries (2) more
    assert flash_row(db) == ("called_back", "unavailable", 3)
    assert [r["outcome"] for r in contacts.rows] == ["unavailable"]


@pytest.mark.parametrize("ended", ["no_answer", "busy", "declined"])
def test_a_member_who_does_not_answer_or_refuses_is_not_rung_again(
    db: sqlite_utils.Database, directory: Directory, ended: str
) -> None:
    ami = FakeAmi(ended, "answered")
    flash_and_wait(db, directory, ami, FAST)
    assert len(ami.placed) == 1
    assert flash_row(db) == ("called_back", ended, 1)


def test_unavailable_beyond_a_reachable_trunk_is_the_members_word_not_retried(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    """Asterisk says Reason 0 (unavailable) also when the mobile behind the gateway was busy
    or refused: with the trunk's contact reachable, that is not the trunk's fault."""
    ami = FakeAmi("unavailable", "answered", trunk="Reachable")
    flash_and_wait(db, directory, ami, FAST)
    assert len(ami.placed) == 1
    assert flash_row(db) == ("called_back", "unavailable", 1)


def test_no_retries_when_the_install_wants_none(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    ami = FakeAmi("unavailable", "answered")
    flash_and_wait(db, directory, ami, dataclasses.replace(FAST, retries=0))
    assert len(ami.placed) == 1
    assert flash_row(db) == ("called_back", "unavailable", 1)


def test_a_try_told_twice_places_one_retry(db: sqlite_utils.Database, directory: Directory) -> None:
    """Asterisk's word on a try comes as an event and again in the action's reply: the
    second must not place a second call, nor end the flash while its retry is on its way."""
    ami = FakeAmi("unavailable", "answered")
    callbacks, contacts = flash_and_wait(db, directory, ami, FAST)
    assert [a["ActionID"] for a in ami.placed] == ["cug-callback-1-1", "cug-callback-1-2"]
    assert flash_row(db) == ("called_back", "answered", 2)
    assert [r["outcome"] for r in contacts.rows] == ["answered"]
    assert not callbacks._placing


def test_no_word_from_asterisk_is_not_placed_again(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    """No answer to the Originate in time (the AMI link dropped): the mobile may be ringing or
    the member talking, so it is not placed again; it ends `unknown` until Asterisk's word."""
    ami = FakeAmi("silence", "answered")
    callbacks, _ = flash_and_wait(db, directory, ami, FAST)
    assert len(ami.placed) == 1
    assert flash_row(db) == ("called_back", "unknown", 1)
    # Asterisk's word comes after all: it replaces "unknown".
    callbacks.on_originate_response({"ActionID": "cug-callback-1-1", "Response": "Success"})
    assert flash_row(db) == ("called_back", "answered", 1)


def test_a_call_back_left_open_by_a_restart_is_ended_unknown(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    once = dataclasses.replace(FAST, retries=0)
    callbacks, _ = flash_and_wait(db, directory, FakeAmi("unavailable"), once)
    # As if the service had restarted before Asterisk's word came: nothing said the end.
    db.execute("UPDATE flashes SET callback_outcome = NULL, callback_tries = NULL")
    assert callbacks.close_left_open() == 0  # placed a moment ago: it may still ring
    db.execute("UPDATE flashes SET called_at = '2026-01-01T00:00:00.000+00:00'")
    assert callbacks.close_left_open() == 1
    assert flash_row(db)[:2] == ("called_back", "unknown")
    assert callbacks.close_left_open() == 0  # ended once


@pytest.mark.parametrize("action_id", ["cug-callback-x-1", "cug-callback-1-x", "cug-callback-"])
def test_a_malformed_action_id_is_ignored(
    db: sqlite_utils.Database, directory: Directory, action_id: str
) -> None:
    ami = FakeAmi("answered")
    callbacks, contacts = flash_and_wait(db, directory, ami, FAST)
    callbacks.on_originate_response({"ActionID": action_id, "Response": "Failure"})
    assert len(contacts.rows) == 1 and flash_row(db)[1] == "answered"


def test_retry_after_follows_the_policy() -> None:
    policy = CallbackPolicy(retries=2, retry_seconds=15)
    assert retry_after(CallbackOutcome.UNAVAILABLE, 1, policy) == 15
    assert retry_after(CallbackOutcome.CONGESTED, 2, policy) == 15
    assert retry_after(CallbackOutcome.FAILED, 3, policy) is None
    for final in (CallbackOutcome.NO_ANSWER, CallbackOutcome.DECLINED, CallbackOutcome.UNKNOWN):
        assert retry_after(final, 1, policy) is None
    assert retry_after(CallbackOutcome.ANSWERED, 1, policy) is None
    # Reason 0 beyond a reachable trunk is the member's refusal; congestion is still retried.
    assert retry_after(CallbackOutcome.UNAVAILABLE, 1, policy, trunk_reachable=True) is None
    assert retry_after(CallbackOutcome.CONGESTED, 1, policy, trunk_reachable=True) == 15
