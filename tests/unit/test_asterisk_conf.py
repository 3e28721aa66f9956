"""The shipped Asterisk configuration: it parses, and keeps the closed user group closed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from asterisk.config import Config

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
    assert names == {
        "Cdr",
        "OriginateResponse",
        "FullyBooted",
        "ContactStatus",
        "SuccessfulAuth",
        "ConfbridgeJoin",
        "ConfbridgeLeave",
        "ConfbridgeEnd",
    }


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
        assert template in pjsip  # the templates every member's realtime rows copy
    assert pjsip["cug-member-endpoint"]["context"] == ["cug-members"]
    assert pjsip["cug-member-endpoint"]["identify_by"] == ["username"]
    assert pjsip["cug-member-auth"]["auth_type"] == ["userpass"]
    assert "cug-members/" not in path.read_text()  # no generated members file any more


def test_modules_keep_anonymous_and_ip_identification_out(tmp_path: Path) -> None:
    modules = sections(ROOT / "asterisk-conf" / "modules.conf", tmp_path)["modules"]
    noload = modules["noload"]
    assert "res_pjsip_endpoint_identifier_anonymous.so" in noload
    assert "res_pjsip_endpoint_identifier_ip.so" in noload


def test_extensions_conf_includes_the_cug_dialplan() -> None:
    text = (ROOT / "asterisk-conf" / "extensions.conf").read_text()
    assert '#include "extensions-cug.conf"' in text


def test_members_endpoints_are_realtime_from_the_endpoints_database(tmp_path: Path) -> None:
    conf = ROOT / "asterisk-conf"
    sorcery = sections(conf / "sorcery.conf", tmp_path)["res_pjsip"]
    for kind, table in (("endpoint", "ps_endpoints"), ("auth", "ps_auths"), ("aor", "ps_aors")):
        # pjsip.conf first (the trunk, the templates), then the members' rows, never read
        # as a whole table (a boot quadratic in the directory, bench/RESULTS.md).
        assert sorcery[kind] == [
            f"config,pjsip.conf,criteria=type={kind}",
            f"realtime,{table},allow_unqualified_fetch=no",
        ]
    families = sections(conf / "extconfig.conf", tmp_path)["settings"]
    assert families == {
        t: ["sqlite3,cug_endpoints"] for t in ("ps_endpoints", "ps_auths", "ps_aors")
    }
    sqlite = conf / "res_config_sqlite3.conf"
    assert sections(sqlite, tmp_path)["cug_endpoints"]["batch"] == ["0"]  # else a stale snapshot
    assert '#include "cug-local/endpoints-db.conf"' in sqlite.read_text()
    noload = sections(conf / "modules.conf", tmp_path)["modules"]["noload"]
    for module in ("res_config_sqlite3.so", "res_sorcery_realtime.so", "res_realtime.so"):
        assert module not in noload


def test_member_rows_have_the_columns_asterisk_filters_whole_tables_on(tmp_path: Path) -> None:
    # Asterisk asks for endpoints WHERE mailboxes != '' (MWI at start) and AORs WHERE
    # contact != '' (`pjsip show contacts`). SQLite reads a quoted name that is no column as
    # a string: without the columns every member's row would match and be read.
    from agi.endpoint_rows import Account, read_templates

    templates = read_templates((ROOT / "asterisk-conf" / "pjsip.conf").read_text())
    columns = templates.columns()
    assert "mailboxes" in columns["ps_endpoints"]
    assert "contact" in columns["ps_aors"]
    rows = templates.rows(Account("2001", '"A" <2001>', "x" * 24))
    assert rows["ps_endpoints"]["mailboxes"] == ""
    assert rows["ps_aors"]["contact"] == ""
