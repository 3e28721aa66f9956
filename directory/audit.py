"""The append-only record of what admins changed: who, when, what before and after.

The table refuses UPDATE and DELETE (triggers, migration 0015). A change made for a client
over HTTP runs inside `from_address(...)`: every row it writes records the client's address
(`remote_addr` in `after`)."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

SECRET_FIELDS = {"sip_password"}
_ADDRESS: ContextVar[str | None] = ContextVar("audit_remote_addr", default=None)


@contextmanager
def from_address(address: str) -> Iterator[None]:
    """Audit rows written inside the block carry `address` as `remote_addr`."""
    token = _ADDRESS.set(address)
    try:
        yield
    finally:
        _ADDRESS.reset(token)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def cli_actor() -> str:
    """Who is acting from the command line: the OS account, or CUG_ACTOR when set by a wrapper."""
    return os.environ.get("CUG_ACTOR") or f"cli:{getpass.getuser()}"


def _scrub(values: dict[str, Any] | None) -> str | None:
    if values is None:
        return None
    return json.dumps(
        {k: ("***" if k in SECRET_FIELDS else v) for k, v in values.items()},
        ensure_ascii=False,
        sort_keys=True,
    )


def audit_rows(
    actor: str,
    action: str,
    subject: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> dict[str, Any]:
    address = _ADDRESS.get()
    if address is not None:
        after = {**(after or {}), "remote_addr": address}
    return {
        "at": now(),
        "actor": actor,
        "action": action,
        "subject": subject,
        "before": _scrub(before),
        "after": _scrub(after),
    }


def record(
    db: sqlite_utils.Database,
    actor: str,
    action: str,
    subject: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    db["audit"].insert(audit_rows(actor, action, subject, before, after))
