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
    return asdict(code)


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
            record(self.db, actor, "short_code.add", code.code, None, _values(code))

    def replace(self, before: ShortCode, after: ShortCode, actor: str) -> None:
        with writing(self.db):
            self.db["short_codes"].update(before.code, _values(after))
            record(self.db, actor, "short_code.edit", after.code, _values(before), _values(after))

    def remove(self, code: ShortCode, actor: str) -> None:
        with writing(self.db):
            self.db["short_codes"].delete(code.code)
            record(self.db, actor, "short_code.remove", code.code, _values(code), None)
