"""The site's heavier reads (a page of 100,000 members, the list of cases) in worker threads,
each thread with a connection of its own to the directory file, so that the event loop the
service routes calls on is not held up by them. A directory in memory (tests) is read on the
loop with its one connection."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import sqlite_utils
from aiohttp import web

from directory.schema import open_db
from web.pages import db_file

T = TypeVar("T")
THREADS = 2


class Readers:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.path = db_file(db)
        self._local = threading.local()
        self._pool = (
            ThreadPoolExecutor(THREADS, thread_name_prefix="site-read") if self.path else None
        )

    def _connection(self) -> sqlite_utils.Database:
        found = getattr(self._local, "db", None)
        if found is None:
            found = self._local.db = open_db(self.path)
        return found

    async def read(self, query: Callable[[sqlite_utils.Database], T]) -> T:
        """`query(db)` in a worker thread (on the loop for a directory in memory)."""
        if self._pool is None:
            return query(self.db)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: query(self._connection()))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


READERS_KEY = web.AppKey("site_readers", Readers)


def readers(request: web.Request) -> Readers:
    return request.config_dict[READERS_KEY]
