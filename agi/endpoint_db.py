"""The SQLite database Asterisk reads the members' PJSIP endpoints from (PJSIP realtime).

Asterisk reads it through res_config_sqlite3 (sorcery.conf, extconfig.conf and
res_config_sqlite3.conf in asterisk-conf/) at each SIP request; `cug serve` writes it. It
lives in Asterisk's own area (astvarlibdir: /var/lib/asterisk/cug-endpoints.db on a system
install, the instance's lib/ in the sandbox) and holds SIP passwords: it is created 0600,
for the one user both Asterisk and the service run as. Its tables:

  ps_endpoints, ps_auths, ps_aors   one row each per active member, named by extension
  cug_meta                          the fingerprint of the templates the rows were made from

Everything in it is derived from the directory and rebuilt from it when in doubt, so it
runs in WAL mode (Asterisk's reads never wait for a write) with synchronous=NORMAL.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlite_utils

from agi.endpoint_rows import Account, Change, Templates
from directory.transactions import writing

FILE_NAME = "cug-endpoints.db"
META_TABLE = "cug_meta"
TABLES = ("ps_endpoints", "ps_auths", "ps_aors")


def owner_only(path: Path) -> None:
    """Create `path` (and its folder) if missing, and leave it readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


class EndpointDb:
    """The realtime tables, changed only by whole transactions Asterisk sees at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        owner_only(path)
        self.db = sqlite_utils.Database(path)
        self.db.execute("PRAGMA busy_timeout = 5000")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")

    def close(self) -> None:
        self.db.close()

    def fingerprint(self) -> str | None:
        """The fingerprint of the templates the rows were made from; None for a new file."""
        if not self.db[META_TABLE].exists():
            return None
        row = self.db.execute(
            f"SELECT value FROM {META_TABLE} WHERE key = 'templates'"  # noqa: S608
        ).fetchone()
        return row[0] if row else None

    def accounts(self) -> dict[str, Account | None]:
        """Every extension with rows, and its account; None where a table lacks its row."""
        if not all(self.db[t].exists() for t in TABLES):
            return {}
        found: dict[str, Account | None] = {
            row[0]: None
            for row in self.db.execute(
                " UNION ".join(f"SELECT id FROM {t}" for t in TABLES)  # noqa: S608
            )
        }
        for ext, callerid, password in self.db.execute(
            "SELECT e.id, e.callerid, a.password FROM ps_endpoints e "
            "JOIN ps_auths a ON a.id = e.id JOIN ps_aors r ON r.id = e.id"
        ):
            found[ext] = Account(ext, callerid, password)
        return found

    def apply(self, templates: Templates, change: Change, rebuild: bool = False) -> None:
        """Write `change` in one transaction; with `rebuild`, first make the tables anew
        (their columns follow the templates)."""
        with writing(self.db):
            if rebuild:
                for table, columns in templates.columns().items():
                    self.db[table].drop(ignore=True)
                    self.db[table].create({c: str for c in columns}, pk="id")
                self.db[META_TABLE].create({"key": str, "value": str}, pk="key", if_not_exists=True)
            rows = [templates.rows(acc) for acc in change.write]
            for table in TABLES:
                self.db.conn.executemany(
                    f"DELETE FROM {table} WHERE id = ?",  # noqa: S608
                    [(ext,) for ext in change.delete],
                )
                self.db[table].insert_all((r[table] for r in rows), replace=True)
            self.db[META_TABLE].upsert(
                {"key": "templates", "value": templates.fingerprint}, pk="key"
            )
