"""The endpoints database Asterisk reads members from, kept in step with the directory."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
import sqlite_utils

from agi.endpoint_db import EndpointDb
from agi.member_endpoints import TEMPLATES_FILE, EndpointSync
from directory.lookup import Directory
from directory.schema import open_db
from tests.unit.conftest import INACTIVE, MEMBERS, save

ROOT = Path(__file__).resolve().parents[2]
ACTIVE = sorted(row[5] for row in MEMBERS if row[5] != INACTIVE)


@pytest.fixture
def file_db(tmp_path: Path) -> sqlite_utils.Database:
    """The directory as an admin's command line sees it (another connection than the sync's)."""
    db = open_db(tmp_path / "cug.db")
    assert save(db, MEMBERS).ok
    db.execute("UPDATE members SET active = 0 WHERE extension = ?", (INACTIVE,))
    db.conn.commit()
    return db


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    folder = tmp_path / "etc"
    folder.mkdir()
    shutil.copy(ROOT / "asterisk-conf" / TEMPLATES_FILE, folder / TEMPLATES_FILE)
    return folder


def new_sync(tmp_path: Path, etc: Path) -> EndpointSync:
    return EndpointSync(tmp_path / "cug.db", etc, tmp_path / "lib" / "cug-endpoints.db")


def admin(db: sqlite_utils.Database, *statements: str) -> None:
    """An admin's change to the directory, committed from their own connection."""
    for sql in statements:
        db.execute(sql)
    db.conn.commit()


def synced(tmp_path: Path, etc: Path) -> EndpointSync:
    """A sync that has already written the directory once."""
    sync = new_sync(tmp_path, etc)
    sync.sync()
    return sync


def table(tmp_path: Path, name: str) -> dict[str, dict]:
    db = sqlite_utils.Database(tmp_path / "lib" / "cug-endpoints.db")
    try:
        return {row["id"]: row for row in db[name].rows}
    finally:
        db.close()


def test_rows_for_every_active_member_in_a_file_for_its_owner_only(
    file_db: sqlite_utils.Database, tmp_path: Path, etc: Path
) -> None:
    sync = new_sync(tmp_path, etc)
    change = sync.sync()
    assert change is not None and len(change.write) == len(ACTIVE)
    for name in ("ps_endpoints", "ps_auths", "ps_aors"):
        assert sorted(table(tmp_path, name)) == ACTIVE
    endpoint = table(tmp_path, "ps_endpoints")["2002"]
    assert endpoint["callerid"] == '"Okello Denis" <2002>'
    assert endpoint["context"] == "cug-members" and endpoint["aors"] == "2002"
    password = file_db.execute("SELECT sip_password FROM members WHERE extension = '2002'")
    assert table(tmp_path, "ps_auths")["2002"]["password"] == password.fetchone()[0]
    for path in (tmp_path / "lib").iterdir():  # the database and its WAL files
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert sync.sync() is None  # nothing changed since: not even compared
    sync.close()


def test_directory_changes_by_another_connection_write_only_the_difference(
    file_db: sqlite_utils.Database, tmp_path: Path, etc: Path
) -> None:
    sync = synced(tmp_path, etc)
    file_db.execute("UPDATE members SET active = 0 WHERE extension = '2002'")
    file_db.execute("UPDATE members SET name = 'Auma \"<2099>\" C.' WHERE extension = '2003'")
    file_db.execute("UPDATE members SET sip_password = 'New-password-0123456789' WHERE id = 1")
    file_db.execute("UPDATE members SET active = 1 WHERE extension = ?", (INACTIVE,))
    file_db.conn.commit()
    change = sync.sync()
    assert change is not None and change.delete == ["2002"]
    assert sorted(a.extension for a in change.write) == ["2001", "2003", INACTIVE]
    assert "2002" not in table(tmp_path, "ps_endpoints") and "2002" not in table(
        tmp_path, "ps_aors"
    )
    assert table(tmp_path, "ps_endpoints")["2003"]["callerid"] == '"Auma 2099 C." <2003>'
    assert table(tmp_path, "ps_auths")["2001"]["password"] == "New-password-0123456789"
    assert INACTIVE in table(tmp_path, "ps_auths")
    admin(file_db, "UPDATE members SET role = 'police' WHERE extension = '2004'")
    change = sync.sync()  # a change Asterisk does not see: nothing written
    assert change is not None and not change and sync.writes == 2
    sync.close()


def test_a_restarted_service_writes_only_what_changed_while_it_was_stopped(
    file_db: sqlite_utils.Database, tmp_path: Path, etc: Path
) -> None:
    synced(tmp_path, etc).close()
    admin(file_db, "UPDATE members SET active = 0 WHERE extension = '2005'")
    store = EndpointDb(tmp_path / "lib" / "cug-endpoints.db")
    store.db.execute("DELETE FROM ps_auths WHERE id = '2006'")  # a row lost from one table
    store.db.execute("INSERT INTO ps_aors (id) VALUES ('7777')")  # and a stray one
    store.db.conn.commit()
    store.close()
    second = new_sync(tmp_path, etc)
    change = second.sync()
    assert change is not None
    assert [a.extension for a in change.write] == ["2006"]
    assert change.delete == ["2005", "7777"]
    assert sorted(table(tmp_path, "ps_auths")) == [e for e in ACTIVE if e != "2005"]
    second.close()
    third = new_sync(tmp_path, etc)
    change = third.sync()
    assert change is not None and not change and third.writes == 0
    third.close()


def test_a_template_change_rebuilds_every_row(
    file_db: sqlite_utils.Database, tmp_path: Path, etc: Path
) -> None:
    sync = synced(tmp_path, etc)
    conf = etc / TEMPLATES_FILE
    conf.write_text(conf.read_text().replace("max_contacts = 2", "max_contacts = 3"))
    admin(file_db, "UPDATE members SET name = 'Grace A.' WHERE extension = '2001'")
    change = sync.sync()
    assert change is not None and len(change.write) == len(ACTIVE)
    assert {row["max_contacts"] for row in table(tmp_path, "ps_aors").values()} == {"3"}


def test_a_failed_write_is_retried_and_the_health_says_so(
    file_db: sqlite_utils.Database, tmp_path: Path, etc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = synced(tmp_path, etc)
    real = EndpointDb.apply
    failures = [OSError("disk full")]

    def flaky(self: EndpointDb, *args: object, **kwargs: object) -> None:
        if failures:
            raise failures.pop()
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(EndpointDb, "apply", flaky)
    admin(file_db, "UPDATE members SET active = 0 WHERE extension = '2002'")
    sync._sync_logged()
    assert not sync.current and sync.failures == 1
    assert "2002" in table(tmp_path, "ps_endpoints")  # the old rows, whole
    sync._sync_logged()  # the directory did not change since, but the rows were never written
    assert sync.current
    assert "2002" not in table(tmp_path, "ps_endpoints")
    sync.close()


def test_the_contact_log_writing_does_not_make_the_sync_compare_the_directory(
    file_db: sqlite_utils.Database, tmp_path: Path, etc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = synced(tmp_path, etc)
    compared = []
    original = Directory.sip_accounts
    monkeypatch.setattr(
        Directory, "sip_accounts", lambda self: compared.append(1) or original(self)
    )
    # Calls and texts are logged all the time: no comparison of the members for those.
    admin(file_db, "INSERT INTO service_state (key, value) VALUES ('x', '1')")
    assert sync.sync() is None and compared == []
    # A member's change is compared (and written) at the next look.
    admin(file_db, "UPDATE members SET active = 0 WHERE extension = '2003'")
    change = sync.sync()
    assert compared == [1] and change is not None and change.delete == ["2003"]
    sync.close()
