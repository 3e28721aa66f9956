"""The members' PJSIP endpoints, kept in step with the directory in Asterisk's realtime tables.

Asterisk looks each member's endpoint, auth and AOR up in the endpoints database
(agi/endpoint_db.py) at every SIP request, so a change written there takes effect at the
member's next REGISTER or INVITE: no reload, no restart. A deactivated member's rows go at
once; their next request is answered like a stranger's (401, then 401 again with their old
password). Their registration, if any, stays in Asterisk's contact store until it expires,
but no one can reach it: the endpoint and AOR it belonged to are gone, and the routing
service routes to active members only.

The directory may be changed by any process (the CLI, an import, the API); SQLite's
data_version tells this connection when another one committed. Only the difference is
written, in one transaction. Nothing is owed to Asterisk after a write, so a service that
stops halfway leaves either the old rows or the new ones, and the first look after a start
compares the whole directory with the rows and writes what differs.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agi.endpoint_db import EndpointDb
from agi.endpoint_rows import Account, Change, account, diff, read_templates
from directory.lookup import Directory
from directory.schema import open_db

log = logging.getLogger(__name__)

TEMPLATES_FILE = "pjsip.conf"  # in Asterisk's etc dir: the member templates' options


class EndpointSync:
    """Writes what changed in the directory into the endpoints database.

    Opens its own connections (`directory_db`, `endpoints_db`); every call of `sync` must
    come from one thread (`watch` runs it in a worker thread of its own, so that comparing a
    large directory never holds up calls being routed)."""

    def __init__(self, directory_db: Path, etc_dir: Path, endpoints_db: Path) -> None:
        self.directory_path = directory_db
        self.templates_path = etc_dir / TEMPLATES_FILE
        self.endpoints_path = endpoints_db
        self._directory: Directory | None = None
        self._store: EndpointDb | None = None
        self._rows: dict[str, Account | None] | None = None  # what the tables hold
        self._data_version: int | None = None
        self._members_seen: int | None = None
        self.current = False  # the tables match the directory as last seen
        self.writes = 0
        self.failures = 0

    def _open(self) -> tuple[Directory, EndpointDb]:
        if self._directory is None or self._store is None:
            self._directory = Directory(open_db(self.directory_path))
            self._store = EndpointDb(self.endpoints_path)
        return self._directory, self._store

    def close(self) -> None:
        if self._directory is not None:
            self._directory.db.close()
        if self._store is not None:
            self._store.close()
        self._directory = self._store = None

    def sync(self) -> Change | None:
        """Write what the directory changed since the last look; None if it did not change."""
        directory, store = self._open()
        version = int(directory.conn.execute("PRAGMA data_version").fetchone()[0])
        if version == self._data_version:
            return None
        # Something was written: the contact log and the texts write all the time, so only a
        # change of members (their counter, moved by triggers) is worth comparing 100,000 rows.
        members = self._members_version(directory)
        if members is not None and members == self._members_seen and self._rows is not None:
            self._data_version = version
            return None
        templates = read_templates(self.templates_path.read_text())
        rebuild = store.fingerprint() != templates.fingerprint
        if rebuild:
            self._rows = {}
        elif self._rows is None:
            self._rows = store.accounts()
        wanted = [acc for acc in (account(*row) for row in directory.sip_accounts()) if acc]
        change = diff(self._rows, wanted)
        if change or rebuild:
            try:
                store.apply(templates, change, rebuild=rebuild)
            except BaseException:
                self._rows = None  # read back from the tables next time
                raise
            for ext in change.delete:
                self._rows.pop(ext, None)
            self._rows.update((acc.extension, acc) for acc in change.write)
            self.writes += 1
            log.info(
                "member endpoints: %d written, %d removed%s",
                len(change.write),
                len(change.delete),
                " (tables rebuilt)" if rebuild else "",
            )
        self._data_version = version  # only once written: a failed write is retried
        self._members_seen = members
        return change

    @staticmethod
    def _members_version(directory: Directory) -> int | None:
        row = directory.conn.execute(
            "SELECT value FROM service_state WHERE key = 'members_version'"
        ).fetchone()
        return int(row[0]) if row else None

    def _sync_logged(self) -> None:
        try:
            self.sync()
        except Exception:
            self.current = False
            self.failures += 1
            log.exception("member endpoint sync failed; retrying")
        else:
            self.current = True

    async def watch(self, interval: float = 0.5) -> None:
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="endpoint-sync")
        loop = asyncio.get_running_loop()
        try:
            while True:
                await loop.run_in_executor(worker, self._sync_logged)
                await asyncio.sleep(interval)
        finally:
            worker.submit(self.close)
            worker.shutdown(wait=False)
