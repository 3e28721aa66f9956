"""A call back the trunk could not place is placed again; the member's own no-answer is not.

The AMI link is a fake that answers each Originate as Asterisk would (an OriginateResponse in
the action's reply); everything else is the service's own code on an in-memory directory.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
REASON = {"unavailable": "0", "failed": "1", "no_answer": "3", "busy": "5", "congested": "8"}


class FakeAmi:
    """Answers the n-th Originate with the n-th of `answers` ('answered' or a reason)."""

    up = True

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.placed: list[dict[str, str]] = []

    async def action(self, action: dict[str, str], timeout: float) -> list[dict[str, str]]:
        self.placed.append(action)
        answer = self.answers.pop(0)
        event = {"Event": "OriginateResponse", "ActionID": action["ActionID"]}
        if answer == "answered":
            event["Response"] = "Success"
        else:
            event |= {"Response": "Failure", "Reason": REASON[answer]}
        return [{"Response": "Success", "ActionID": action["ActionID"]}, event]


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
    contacts = Contacts()
    costs = CostGuard(db, CostPolicy(), lambda *a, **k: None)
    callbacks = Callbacks(
        db,
        directory,
        ami,
        None,
        contacts,
        policy,
        costs,
        "0800100116",  # type: ignore[arg-type]
    )

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


@pytest.mark.parametrize("fault", ["unavailable", "congested", "failed"])
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


@pytest.mark.parametrize("ended", ["no_answer", "busy"])
def test_a_member_who_does_not_answer_is_not_rung_again(
    db: sqlite_utils.Database, directory: Directory, ended: str
) -> None:
    ami = FakeAmi(ended, "answered")
    flash_and_wait(db, directory, ami, FAST)
    assert len(ami.placed) == 1
    assert flash_row(db) == ("called_back", ended, 1)


def test_no_retries_when_the_install_wants_none(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    ami = FakeAmi("unavailable", "answered")
    flash_and_wait(db, directory, ami, dataclasses.replace(FAST, retries=0))
    assert len(ami.placed) == 1
    assert flash_row(db) == ("called_back", "unavailable", 1)


def test_a_try_told_twice_places_one_retry(db: sqlite_utils.Database, directory: Directory) -> None:
    """Asterisk's OriginateResponse comes in the action's reply and as an event: the second
    word on the same try must not place a second call."""
    ami = FakeAmi("unavailable", "answered")
    callbacks, contacts = flash_and_wait(db, directory, ami, FAST)
    failure = {"ActionID": "cug-callback-1-1", "Response": "Failure", "Reason": "0"}
    callbacks.on_originate_response(failure)  # the event, late
    callbacks.on_originate_response({"ActionID": "cug-callback-1-2", "Response": "Success"})
    assert len(ami.placed) == 2 and not callbacks._calls
    assert flash_row(db) == ("called_back", "answered", 2)
    assert len(contacts.rows) == 1


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
    assert retry_after(CallbackOutcome.NO_ANSWER, 1, policy) is None
    assert retry_after(CallbackOutcome.ANSWERED, 1, policy) is None
