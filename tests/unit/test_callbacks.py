"""'Please call me': who a flash earns a call back, the flash log, and dial-in PINs."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
import sqlite_utils

from directory.flashes import FlashLog
from directory.lookup import Directory
from directory.pins import PinCheck, PinStore
from routing.callbacks import CallbackPolicy, FlashFacts, FlashOutcome, caller_of, decide_flash

POLICY = CallbackPolicy()
QUIET = FlashFacts(recent=0, calling=False, within_cap=True)


@pytest.mark.parametrize("given", ["", "anonymous", "Anonymous", "withheld", " unknown "])
def test_a_withheld_caller_id_is_told_apart(given: str) -> None:
    caller = caller_of(given)
    assert caller.withheld and caller.e164 is None
    assert decide_flash(caller, None, QUIET, POLICY) is FlashOutcome.NO_CALLER_ID


@pytest.mark.parametrize(
    "given", ["0772100002", "+256772100002", "256772100002", "00256772100002", "772100002"]
)
def test_a_members_number_in_any_format_is_the_same_caller(given: str) -> None:
    assert caller_of(given).e164 == "+256772100002"


def test_a_foreign_number_is_no_member_and_kept_as_given() -> None:
    caller = caller_of("+447700900123")
    assert caller.e164 is None and caller.raw == "+447700900123"
    assert decide_flash(caller, None, QUIET, POLICY) is FlashOutcome.NOT_A_MEMBER


def test_a_huge_caller_id_is_cut_short() -> None:
    assert len(caller_of("7" * 10_000).raw) == 32


def test_a_member_is_called_back(directory: Directory) -> None:
    member = directory.member_by_extension("2002")
    caller = caller_of("0772100002")
    assert decide_flash(caller, member, QUIET, POLICY) is FlashOutcome.CALL_BACK


@pytest.mark.parametrize(
    ("facts", "outcome"),
    [
        (FlashFacts(recent=3, calling=False, within_cap=True), FlashOutcome.TOO_MANY),
        (FlashFacts(recent=0, calling=True, within_cap=True), FlashOutcome.ALREADY_CALLING),
        (FlashFacts(recent=0, calling=False, within_cap=False), FlashOutcome.CAP_REACHED),
    ],
)
def test_a_members_flash_is_refused_when(
    directory: Directory, facts: FlashFacts, outcome: FlashOutcome
) -> None:
    member = directory.member_by_extension("2002")
    assert decide_flash(caller_of("0772100002"), member, facts, POLICY) is outcome


def test_an_inactive_member_and_a_stranger_get_no_call_back(directory: Directory) -> None:
    inactive = directory.member_by_extension("2009")
    assert decide_flash(caller_of("0772100009"), inactive, QUIET, POLICY) is FlashOutcome.INACTIVE
    stranger = caller_of("0772999999")
    assert decide_flash(stranger, None, QUIET, POLICY) is FlashOutcome.NOT_A_MEMBER


def test_a_strangers_flood_is_limited_before_the_directory_is_asked() -> None:
    flood = dataclasses.replace(QUIET, recent=POLICY.per_window)
    assert decide_flash(caller_of("0772999999"), None, flood, POLICY) is FlashOutcome.TOO_MANY


def test_the_flash_log_counts_by_number_in_any_format(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    log = FlashLog(db)
    member = directory.member_by_extension("2002")
    assert member is not None
    first = log.record("0772100002", "+256772100002", member.id, "called_back")
    log.record("+256772100002", "+256772100002", member.id, "already_calling")
    log.record("anonymous", None, None, "no_caller_id")
    assert log.recent("whatever", "+256772100002", 600) == 2
    assert log.recent("anonymous", None, 600) == 1
    # Calling until Asterisk said how the call back went; then free to flash again.
    assert log.calling(member.id)
    assert log.callback_ended(first, "answered")
    assert not log.callback_ended(first, "busy")  # the first word counts
    assert not log.calling(member.id)
    # The call back's prompt routes as the member it reached, for a while.
    assert log.answered_member(first, timedelta(minutes=5)) == member.id
    assert log.answered_member(first + 99, timedelta(minutes=5)) is None


def test_a_pin_is_kept_hashed_and_checked(db: sqlite_utils.Database, directory: Directory) -> None:
    pins = PinStore(db)
    pins.set(2, "4821", actor="test")
    stored = db.execute("SELECT pin_hash FROM member_pins WHERE member_id = 2").fetchone()[0]
    assert "4821" not in stored and stored.startswith("scrypt$")
    assert pins.check(2, "4821", attempts=3, lock_minutes=15) is PinCheck.OK
    assert pins.check(3, "4821", attempts=3, lock_minutes=15) is PinCheck.NOT_SET
    audit = db.execute("SELECT action, subject FROM audit WHERE action = 'pin.set'").fetchall()
    assert audit == [("pin.set", "member:2")]


def test_wrong_pins_lock_the_member_out_even_for_the_right_one(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    pins = PinStore(db)
    pins.set(2, "4821", actor="test")
    assert pins.check(2, "0000", attempts=3, lock_minutes=15) is PinCheck.WRONG
    assert pins.check(2, "12", attempts=3, lock_minutes=15) is PinCheck.MALFORMED
    assert pins.check(2, "1111", attempts=3, lock_minutes=15) is PinCheck.LOCKED
    assert pins.check(2, "4821", attempts=3, lock_minutes=15) is PinCheck.LOCKED


def test_a_right_pin_clears_the_count(db: sqlite_utils.Database, directory: Directory) -> None:
    pins = PinStore(db)
    pins.set(2, "4821", actor="test")
    for _ in range(2):
        assert pins.check(2, "0000", attempts=3, lock_minutes=15) is PinCheck.WRONG
    assert pins.check(2, "4821", attempts=3, lock_minutes=15) is PinCheck.OK
    assert pins.check(2, "0000", attempts=3, lock_minutes=15) is PinCheck.WRONG


@pytest.mark.parametrize("pin", ["", "123", "123456789", "12a4", "١٢٣٤"])
def test_a_pin_is_four_to_eight_digits(db: sqlite_utils.Database, pin: str) -> None:
    with pytest.raises(ValueError, match="4 to 8 digits"):
        PinStore(db).set(2, pin, actor="test")
