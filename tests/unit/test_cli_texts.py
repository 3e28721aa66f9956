"""`cug texts ...` as an admin uses it: the queue and each delivery at a glance, bodies only
on request and every such read audited, and a purge that keeps the contact rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from directory.schema import open_db
from directory.texts import TextStore
from tests.unit.cli_runner import Cug, with_members


@pytest.fixture
def cug(tmp_path: Path) -> Cug:
    runner = with_members(tmp_path / "home")
    db = open_db(runner.home / "cug.db")
    ids = {r[0]: r[1] for r in db.execute("SELECT extension, id FROM members")}
    store = TextStore(db)
    soon = datetime.now(UTC) + timedelta(hours=1)
    _, (first,) = store.store(
        kind="text",
        sender_id=ids["2002"],
        addressed="2003",
        body="the child is safe",
        recipients=[ids["2003"]],
        expires_at=soon,
    )
    store.store(
        kind="text",
        sender_id=ids["2002"],
        addressed="101",
        body="need police",
        recipients=[ids["2004"]],
        expires_at=soon,
        team="Police desk",
    )
    store.delivered([first], "sip")
    db.conn.commit()
    db.close()
    return runner


def audit_actions(cug: Cug) -> list[str]:
    db = open_db(cug.home / "cug.db")
    try:
        return [r[0] for r in db.execute("SELECT action FROM audit WHERE action LIKE 'texts.%'")]
    finally:
        db.close()


def test_the_queue_and_the_list_show_no_bodies_by_default(cug: Cug) -> None:
    assert "   queued: 1" in cug("texts", "queue").output
    out = cug("texts", "list").output
    assert "2002 -> 2003: delivered via sip, 1 tries" in out
    assert "2002 -> 2004 (team Police desk): queued" in out
    assert "the child is safe" not in out and "need police" not in out
    assert audit_actions(cug) == []


def test_reading_bodies_is_audited(cug: Cug) -> None:
    out = cug("texts", "list", "--member", "2004", "--bodies").output
    assert "need police" in out and "the child is safe" not in out
    rows = json.loads(cug("texts", "show", "1", "--json").output)
    assert rows[0]["recipient"] == "2003" and "body" not in rows[0]
    assert audit_actions(cug) == ["texts.read_bodies"]


def test_purge_removes_bodies_of_ended_texts_only(cug: Cug) -> None:
    assert (
        "purged the bodies of 1 texts (kept: 0 days)" in cug("texts", "purge", "--days", "0").output
    )
    shown = cug("texts", "list", "--bodies").output
    assert "[purged]" in shown and "need police" in shown  # the queued one is kept
    assert "no text 99" in cug("texts", "show", "99", ok=False).output
