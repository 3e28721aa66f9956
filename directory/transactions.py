"""Write transactions that wait their turn.

sqlite-utils' `atomic()` opens a deferred `BEGIN`: the transaction takes the write lock only
at its first write, and when another process (the `cug` CLI, an import) committed after this
one read, SQLite fails it at once with "database is locked", whatever the busy timeout.
`BEGIN IMMEDIATE` takes the write lock first, waiting up to the busy timeout for it, so a
writer beside the service waits instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlite_utils


@contextmanager
def writing(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One write transaction (a savepoint inside one already open)."""
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.conn.rollback()
        raise
    else:
        db.conn.execute("COMMIT")
