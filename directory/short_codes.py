"""Short codes as stored: what members dial (100, 116...) and whom it reaches.

The rows are checked by routing/short_codes.py before they get here; this module only
reads and writes them, each change with an audit row (who, what, before and after). The
routing service reads the table at every call (directory/lookup.py), so a change applies
to the next call, with no reload.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import sqlite_utils

from directory.audit import record
from directory.lookup import Directory
from directory.model import ShortCode
from directory.transactions import writing


def _values(code: ShortCode) -> dict[str, Any]:
    """The short_codes row of `code` (its bridge, for kind bridge, is a row of its own)."""
    values = asdict(code)
    values.pop("bridge_id")
    return values


def _audited(code: ShortCode) -> dict[str, Any]:
    values = _values(code)
    if code.bridge_id is not None:
        values["bridge_id"] = code.bridge_id
    return values


def _link_bridge(db: sqlite_utils.Database, code: ShortCode) -> None:
    db.execute("DELETE FROM short_code_bridges WHERE code = ?", (code.code,))
    if code.bridge_id is not None:
        db["short_code_bridges"].insert({"code": code.code, "bridge_id": code.bridge_id})


class ShortCodeStore:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.directory = Directory(db)

    def get(self, code: str) -> ShortCode | None:
        return self.directory.short_code(code)

    def all(self) -> list[ShortCode]:
        return self.directory.short_codes()

    def add(self, code: ShortCode, actor: str) -> None:
        with writing(self.db):
            self.db["short_codes"].insert(_values(code))
            _link_bridge(self.db, code)
            record(self.db, actor, "short_code.add", code.code, None, _audited(code))

    def replace(self, before: ShortCode, after: ShortCode, actor: str) -> None:
        with writing(self.db):
            self.db["short_codes"].update(before.code, _values(after))
            _link_bridge(self.db, after)
            record(self.db, actor, "short_code.edit", after.code, _audited(before), _audited(after))

    def remove(self, code: ShortCode, actor: str) -> None:
        with writing(self.db):
            word = self.word_of(code.code)
            self.db.execute("DELETE FROM short_code_words WHERE code = ?", (code.code,))
            self.db.execute("DELETE FROM short_code_bridges WHERE code = ?", (code.code,))
            self.db["short_codes"].delete(code.code)
            before = {**_audited(code), "word": word} if word else _audited(code)
            record(self.db, actor, "short_code.remove", code.code, before, None)

    # A word per code, for texting it from a basic phone (`SUP <text>`): see
    # routing/sms_requests.py. Words are upper case; one word per code, one code per word.
    def words(self) -> dict[str, str]:
        """Every word and the code it stands for."""
        return {r[0]: r[1] for r in self.db.execute("SELECT word, code FROM short_code_words")}

    def word_of(self, code: str) -> str | None:
        row = self.db.execute(
            "SELECT word FROM short_code_words WHERE code = ?", (code,)
        ).fetchone()
        return row[0] if row else None

    def set_word(self, code: str, word: str | None, actor: str) -> None:
        """Give `code` the word `word` (None: no word), with an audit row."""
        with writing(self.db):
            before = self.word_of(code)
            self.db.execute("DELETE FROM short_code_words WHERE code = ?", (code,))
            if word:
                self.db["short_code_words"].insert({"word": word, "code": code})
            record(self.db, actor, "short_code.word", code, {"word": before}, {"word": word})
