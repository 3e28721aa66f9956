"""The generated PJSIP members file, and the shipped Asterisk configuration."""

from __future__ import annotations

import dataclasses
import re
import stat
from pathlib import Path

import pytest
import sqlite_utils
from asterisk.config import Config

import agi.member_endpoints as me
from agi.member_endpoints import MEMBERS_FILE, EndpointSync, render, write_if_changed
from directory.lookup import Directory
from directory.model import Member
from directory.schema import open_db
from tests.unit.conftest import INACTIVE, MEMBERS, save

ROOT = Path(__file__).resolve().parents[2]
CONF_FILES = sorted((ROOT / "asterisk-conf").glob("*.conf")) + sorted(
    (ROOT / "dialplan").glob("*.conf")
)
_TEMPLATED = re.compile(r"^(\[[^\]]+\])\(([^)]*)\)\s*(;.*)?$")


def parse_conf(text: str, tmp_path: Path) -> tuple[Config, dict[str, list[str]]]:
    """Parse Asterisk config text with pyst2's parser.

    pyst2 knows neither `#include` nor the template suffix of `[name](template)`: include
    lines are left out, and suffixes are taken off and returned as {section: [templates]}.
    """
    lines, templates = [], {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("#include", "#tryinclude")):
            continue
        found = _TEMPLATED.match(stripped)
        if found:
            templates.setdefault(found.group(1)[1:-1], []).append(found.group(2))
            line = found.group(1)
        lines.append(line)
    path = tmp_path / "parsed.conf"
    path.write_text("\n".join(lines) + "\n")
    return Config(str(path)), templates


def member(ext: str, **changes: object) -> Member:
    base = Member(
        id=int(ext),
        name=f"Member {ext}",
        phone=f"+2567721{ext}0",
        extension=ext,
        role="psw",
        district="Oyam",
        sub_county="",
        organisation="",
        supervisor_id=None,
        language="en",
        active=True,
        sip_password=f"Pw{ext}-abcdefghijklmnop_qr",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def file_db(tmp_path: Path) -> sqlite_utils.Database:
    db = open_db(tmp_path / "cug.db")
    assert save(db, MEMBERS).ok
    db.execute("UPDATE members SET active = 0 WHERE extension = ?", (INACTIVE,))
    db.conn.commit()
    return db


def test_render_has_one_endpoint_auth_and_aor_per_active_member(
    file_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    d = Directory(file_db)
    everyone = [d.member_by_extension(row[5]) for row in MEMBERS]
    text = render(m for m in everyone if m is not None)
    config, templates = parse_conf(text, tmp_path)
    active = sorted(row[5] for row in MEMBERS if row[5] != INACTIVE)
    names = [c.name for c in config.categories]
    assert sorted(set(names)) == active
    for ext in active:
        assert names.count(ext) == 3
        assert templates[ext] == ["cug-member-endpoint", "cug-member-auth", "cug-member-aor"]
    assert INACTIVE not in text
    for row in MEMBERS:
        assert row[0] not in text  # no names (free text) in configuration
    auths = {
        c.name: {i.name: i.value.strip() for i in c.items}
        for c in config.categories
        if any(i.name == "password" for i in c.items)
    }
    for ext in active:
        m = d.member_by_extension(ext)
        assert m is not None
        assert auths[ext] == {"username": ext, "password": m.sip_password}


def test_render_leaves_out_unsafe_values(tmp_path: Path) -> None:
    text = render(
        [
            member("2001"),
            member("2002", sip_password="short"),
            member("2003", sip_password="abcdefghijklmnopqrst\n[evil](cug-member-endpoint)"),
            member("2004", extension="2004]\n[x"),
            member("2005", active=False),
        ]
    )
    config, _ = parse_conf(text, tmp_path)
    assert {c.name for c in config.categories} == {"2001"}
    assert "evil" not in text and "short" not in text


def test_render_of_nobody_is_only_the_header(tmp_path: Path) -> None:
    text = render([])
    config, _ = parse_conf(text, tmp_path)
    assert config.categories == []
    assert all(line.startswith(";") for line in text.splitlines())


def test_write_if_changed(tmp_path: Path) -> None:
    path = tmp_path / MEMBERS_FILE
    assert write_if_changed(tmp_path, "one\n") is True
    assert path.read_text() == "one\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    mtime = path.stat().st_mtime_ns
    assert write_if_changed(tmp_path, "one\n") is False
    assert path.stat().st_mtime_ns == mtime
    with path.open() as old:  # a reader of the old file never sees a half-written one
        assert write_if_changed(tmp_path, "two\n" * 1000) is True
        assert old.read() == "one\n"
    assert path.read_text() == "two\n" * 1000
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp files left


class FakeAmi:
    def __init__(self) -> None:
        self.up = True
        self.reloaded: list[str] = []

    async def reload_module(self, module: str, timeout: float = 10) -> bool:
        self.reloaded.append(module)
        return True


async def test_endpoint_sync_follows_other_connections(
    file_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    etc = tmp_path / "etc"
    ami = FakeAmi()
    service_db = open_db(tmp_path / "cug.db")  # the service's own connection
    sync = EndpointSync(Directory(service_db), etc, ami)  # type: ignore[arg-type]
    await sync.push()
    text = (etc / MEMBERS_FILE).read_text()
    assert "[2002](cug-member-endpoint)" in text
    assert ami.reloaded == ["res_pjsip.so"] and sync.reloads == 1
    await sync.push()
    assert ami.reloaded == ["res_pjsip.so"]  # nothing changed: no reload
    # An admin deactivates 2002 from the command line (another connection).
    file_db.execute("UPDATE members SET active = 0 WHERE extension = '2002'")
    file_db.conn.commit()
    await sync.push()
    assert "[2002]" not in (etc / MEMBERS_FILE).read_text()
    assert sync.reloads == 2


async def test_endpoint_sync_reloads_after_ami_comes_back(
    file_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    ami = FakeAmi()
    ami.up = False
    sync = EndpointSync(Directory(file_db), tmp_path / "etc", ami)  # type: ignore[arg-type]
    await sync.push()
    assert (tmp_path / "etc" / MEMBERS_FILE).exists()
    assert ami.reloaded == [] and sync.reload_pending
    ami.up = True
    await sync.push()
    assert ami.reloaded == ["res_pjsip.so"] and not sync.reload_pending


# Files included inside another file's section: options only, no section of their own.
FRAGMENTS = {"manager-service-events.conf"}


@pytest.mark.parametrize("path", CONF_FILES, ids=lambda p: p.name)
def test_shipped_config_parses(path: Path, tmp_path: Path) -> None:
    text = path.read_text()
    if path.name in FRAGMENTS:
        text = "[fragment]\n" + text
    config, _ = parse_conf(text, tmp_path)
    assert config.categories, f"{path.name} has no sections"
    assert all(c.name.strip() for c in config.categories)
    if path.name in FRAGMENTS:
        assert config.categories[0].items, f"{path.name} sets nothing"


def test_the_service_user_hears_only_the_events_it_uses(tmp_path: Path) -> None:
    from cug.asterisk_config import local_files
    from cug.settings import load

    users = local_files(load(home=tmp_path))["cug-local/manager-users.conf"]
    service, watch = users.split("\n\n", 1)
    assert '#include "manager-service-events.conf"' in service
    assert "eventfilter" not in watch and "write =\n" in watch  # read-only, every event
    events = (ROOT / "asterisk-conf" / "manager-service-events.conf").read_text()
    names = set(re.findall(r"^eventfilter\(action\(include\),name\((\w+)\)\)", events, re.M))
    assert names == {"Cdr", "OriginateResponse", "FullyBooted", "ContactStatus"}


def sections(path: Path, tmp_path: Path) -> dict[str, dict[str, list[str]]]:
    config, _ = parse_conf(path.read_text(), tmp_path)
    out: dict[str, dict[str, list[str]]] = {}
    for c in config.categories:
        items = out.setdefault(c.name, {})
        for i in c.items:
            items.setdefault(i.name, []).append(i.value.strip())
    return out


def test_manager_binds_loopback_only(tmp_path: Path) -> None:
    general = sections(ROOT / "asterisk-conf" / "manager.conf", tmp_path)["general"]
    assert general["bindaddr"] == ["127.0.0.1"]
    assert general["webenabled"] == ["no"]


def test_pjsip_has_no_anonymous_or_ip_identified_endpoint(tmp_path: Path) -> None:
    path = ROOT / "asterisk-conf" / "pjsip.conf"
    pjsip = sections(path, tmp_path)
    assert not any("anonymous" in name.lower() for name in pjsip)
    assert not any("identify" in values for s in pjsip.values() for values in s.get("type", []))
    assert not re.search(r"^\s*type\s*=\s*identify", path.read_text(), re.M)
    for template in ("cug-member-endpoint", "cug-member-auth", "cug-member-aor"):
        assert template in pjsip  # the templates the generated members file uses
    assert pjsip["cug-member-endpoint"]["context"] == ["cug-members"]
    assert pjsip["cug-member-endpoint"]["identify_by"] == ["username"]
    assert pjsip["cug-member-auth"]["auth_type"] == ["userpass"]
    assert any(MEMBERS_FILE in line for line in path.read_text().splitlines())


def test_modules_keep_anonymous_and_ip_identification_out(tmp_path: Path) -> None:
    modules = sections(ROOT / "asterisk-conf" / "modules.conf", tmp_path)["modules"]
    noload = modules["noload"]
    assert "res_pjsip_endpoint_identifier_anonymous.so" in noload
    assert "res_pjsip_endpoint_identifier_ip.so" in noload


def test_extensions_conf_includes_the_cug_dialplan() -> None:
    text = (ROOT / "asterisk-conf" / "extensions.conf").read_text()
    assert '#include "extensions-cug.conf"' in text


async def test_endpoint_sync_retries_a_failed_write(
    file_db: sqlite_utils.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = me.write_if_changed
    failures = [OSError("disk full")]

    def flaky(etc_dir: Path, text: str) -> bool:
        if failures:
            raise failures.pop()
        return real(etc_dir, text)

    monkeypatch.setattr(me, "write_if_changed", flaky)
    ami = FakeAmi()
    sync = EndpointSync(Directory(file_db), tmp_path / "etc", ami)  # type: ignore[arg-type]
    with pytest.raises(OSError):
        await sync.push()
    await sync.push()  # the directory did not change since, but the file was never written
    assert "[2002](cug-member-endpoint)" in (tmp_path / "etc" / MEMBERS_FILE).read_text()
    assert ami.reloaded == ["res_pjsip.so"]


async def test_a_reload_still_owed_survives_a_service_restart_and_none_is_made_for_nothing(
    file_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    etc = tmp_path / "etc"
    down = FakeAmi()
    down.up = False
    first = EndpointSync(Directory(file_db), etc, down)  # type: ignore[arg-type]
    await first.push()  # file written, Asterisk not told: the service then stops
    assert first.reload_pending
    ami = FakeAmi()
    second = EndpointSync(Directory(file_db), etc, ami)  # type: ignore[arg-type]
    await second.push()
    assert ami.reloaded == ["res_pjsip.so"]
    third_ami = FakeAmi()
    third = EndpointSync(Directory(file_db), etc, third_ami)  # type: ignore[arg-type]
    await third.push()  # restarted again, nothing changed: no reload (minutes on big installs)
    assert third_ami.reloaded == []
