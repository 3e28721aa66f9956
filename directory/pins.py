"""Members' dial-in PINs: for trunks whose caller IDs may be spoofed, a member calling in on
the CUG's number proves who they are with a PIN as well as their caller ID.

Only a salted scrypt hash is kept. Wrong PINs are counted; after too many in a row the
member is locked out for a while (a PIN of four digits falls to guessing otherwise), and a
right PIN clears the count. Setting and clearing a PIN are audited.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from enum import Enum

import sqlite_utils

from directory import audit
from directory.transactions import writing


class PinCheck(Enum):
    OK = "ok"
    WRONG = "wrong_pin"
    LOCKED = "pin_locked"
    NOT_SET = "no_pin"
    MALFORMED = "malformed_pin"


PIN = re.compile(r"[0-9]{4,8}")


def valid_pin(pin: str) -> bool:
    """A PIN is 4 to 8 digits 0-9: what a basic phone's keypad and a Read() can give."""
    return PIN.fullmatch(pin) is not None


_N, _R, _P = 2**14, 8, 1  # scrypt's cost: ~20 ms a check, so guessing offline is slow too


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def matches(pin: str, stored: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$")
        expected = bytes.fromhex(digest)
        candidate = hash_pin(pin, bytes.fromhex(salt)).split("$")[2]
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(bytes.fromhex(candidate), expected)


class PinStore:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def set(self, member_id: int, pin: str, actor: str) -> None:
        if not valid_pin(pin):
            raise ValueError("a PIN is 4 to 8 digits")
        row = {
            "member_id": member_id,
            "pin_hash": hash_pin(pin),
            "set_at": audit.now(),
            "failures": 0,
            "locked_until": None,
        }
        with writing(self.db):
            self.db["member_pins"].upsert(row, pk="member_id")
            audit.record(self.db, actor, "pin.set", f"member:{member_id}")

    def clear(self, member_id: int, actor: str) -> bool:
        with writing(self.db):
            cursor = self.db.execute("DELETE FROM member_pins WHERE member_id = ?", (member_id,))
            if cursor.rowcount:
                audit.record(self.db, actor, "pin.clear", f"member:{member_id}")
            return cursor.rowcount > 0

    def has_pin(self, member_id: int) -> bool:
        sql = "SELECT 1 FROM member_pins WHERE member_id = ?"
        return self.db.execute(sql, (member_id,)).fetchone() is not None

    def check(self, member_id: int, pin: str, attempts: int, lock_minutes: int) -> PinCheck:
        """Whether `pin` is the member's; counts a wrong one, locks after `attempts` in a row."""
        row = self.db.execute(
            "SELECT pin_hash, failures, locked_until FROM member_pins WHERE member_id = ?",
            (member_id,),
        ).fetchone()
        if row is None:
            return PinCheck.NOT_SET
        stored, failures, locked_until = row
        at = datetime.now(UTC)
        if locked_until and datetime.fromisoformat(locked_until) > at:
            return PinCheck.LOCKED
        if not valid_pin(pin):
            result = PinCheck.MALFORMED
        elif matches(pin, stored):
            result = PinCheck.OK
        else:
            result = PinCheck.WRONG
        with writing(self.db):
            if result is PinCheck.OK:
                self.db.execute(
                    "UPDATE member_pins SET failures = 0, locked_until = NULL WHERE member_id = ?",
                    (member_id,),
                )
                return result
            failures = (failures or 0) + 1
            locked = None
            if failures >= attempts:
                locked = (at + timedelta(minutes=lock_minutes)).isoformat(timespec="seconds")
                failures = 0
            self.db.execute(
                "UPDATE member_pins SET failures = ?, locked_until = ? WHERE member_id = ?",
                (failures, locked, member_id),
            )
        return PinCheck.LOCKED if locked else result
