"""Members' realtime PJSIP rows: the templates they copy, caller IDs from free text, diffs."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi.endpoint_rows import (
    CALLER_NAME_MAX,
    Account,
    TemplateError,
    account,
    caller_id,
    caller_name,
    diff,
    read_templates,
)
from tests.unit.test_asterisk_conf import parse_conf

ROOT = Path(__file__).resolve().parents[2]
PJSIP_CONF = (ROOT / "asterisk-conf" / "pjsip.conf").read_text()
PASSWORD = "Pw-abcdefghijklmnop_qr"


def test_rows_carry_every_option_of_the_shipped_templates(tmp_path: Path) -> None:
    templates = read_templates(PJSIP_CONF)
    config, _ = parse_conf(PJSIP_CONF, tmp_path)
    shipped = {c.name: [(i.name, i.value.strip()) for i in c.items] for c in config.categories}
    rows = templates.rows(Account("3002", '"Anna" <3002>', PASSWORD))
    for table, template in (
        ("ps_endpoints", "cug-member-endpoint"),
        ("ps_auths", "cug-member-auth"),
        ("ps_aors", "cug-member-aor"),
    ):
        options = [(k, v) for k, v in shipped[template] if k != "type"]
        assert [(k, rows[table][k]) for k, _ in options] == options
        assert rows[table]["id"] == "3002"
        assert "type" not in rows[table]
    assert rows["ps_endpoints"]["context"] == "cug-members"
    assert rows["ps_endpoints"]["direct_media"] == "no"
    assert list(rows["ps_endpoints"])[:3] == ["id", "context", "disallow"]  # before allow
    assert rows["ps_endpoints"]["auth"] == rows["ps_endpoints"]["aors"] == "3002"
    assert rows["ps_endpoints"]["callerid"] == '"Anna" <3002>'
    assert rows["ps_auths"]["username"] == "3002"
    assert rows["ps_auths"]["password"] == PASSWORD
    assert templates.columns() == {t: list(r) for t, r in rows.items()}


AOR = "[cug-member-aor](!)"


@pytest.mark.parametrize(
    "old, new, error",
    [
        (AOR, "[cug-member-aor-old](!)", "lacks"),
        (AOR, "[cug-member-aor](!,base)", "plain template"),
        (AOR, AOR + "\nmax_contacts = 3", "twice"),
        ("[cug-member-auth](!)", "[cug-member-auth](!)\npassword = x", "a member's own"),
        (AOR, AOR + "\nmax contacts = 2", "not an option"),
    ],
)
def test_templates_realtime_cannot_hold_are_refused(old: str, new: str, error: str) -> None:
    with pytest.raises(TemplateError, match=error):
        read_templates(PJSIP_CONF.replace(old, new))


def test_allow_lines_are_joined_and_a_template_change_changes_the_fingerprint() -> None:
    base = read_templates(PJSIP_CONF)
    more = read_templates(
        PJSIP_CONF.replace(
            "allow = ulaw,alaw,gsm\nidentify_by", "allow = ulaw\nallow = g722\nidentify_by", 1
        )
    )
    assert more.options["ps_endpoints"]["allow"] == "ulaw,g722"
    assert more.fingerprint != base.fingerprint
    assert read_templates(PJSIP_CONF).fingerprint == base.fingerprint


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Worker Anna", "Worker Anna"),
        ('Evil" <999>', "Evil 999"),
        ("Line\r\nbreak\tand  spaces ", "Line break and spaces"),
        ("Nakato Ñamukose", "Nakato Ñamukose"),
        ("Okello\u202eevil\u200b", "Okelloevil"),  # bidi override and zero-width space dropped
        ("back\\slash", "backslash"),
        ("x" * 10_000, "x" * CALLER_NAME_MAX),
        ('"<>', ""),
        ("Omuntu wa Ñ\u0303", unicodedata.normalize("NFC", "Omuntu wa Ñ\u0303")),
    ],
)
def test_caller_names_from_free_text(name: str, expected: str) -> None:
    assert caller_name(name) == expected


def test_caller_id_of_a_name_with_nothing_left_is_the_extension_alone() -> None:
    assert caller_id("Worker Anna", "3002") == '"Worker Anna" <3002>'
    assert caller_id('"<>\n', "3002") == "<3002>"


@given(st.text(max_size=500))
def test_any_name_gives_a_caller_id_of_one_quoted_name_and_the_extension(name: str) -> None:
    cid = caller_id(name, "3002")
    assert cid.endswith("<3002>") and cid.count("<") == 1 and cid.count(">") == 1
    inner = caller_name(name)
    assert cid in (f'"{inner}" <3002>', "<3002>")
    assert '"' not in inner and "\\" not in inner
    assert len(inner) <= CALLER_NAME_MAX and inner == inner.strip()
    assert all(unicodedata.category(ch)[0] not in "CZ" or ch == " " for ch in inner)


@pytest.mark.parametrize(
    "extension, password",
    [("3002", "short"), ("3002", PASSWORD + "\n[evil]"), ("30]\n[x", PASSWORD), ("0123", PASSWORD)],
)
def test_unsafe_extensions_or_passwords_are_left_out(extension: str, password: str) -> None:
    assert account(extension, "Anna", password) is None


def test_diff_writes_what_is_new_or_changed_and_deletes_what_went() -> None:
    anna, ben, cleo = (
        account(e, n, PASSWORD) for e, n in [("3002", "Anna"), ("3003", "Ben"), ("3004", "Cleo")]
    )
    assert anna and ben and cleo
    current: dict[str, Account | None] = {"3002": anna, "3003": ben, "3005": None}
    renamed = account("3003", "Ben Okello", PASSWORD)
    new_password = account("3002", "Anna", PASSWORD + "x")
    assert renamed and new_password
    change = diff(current, [new_password, renamed, cleo])
    assert change.write == [new_password, renamed, cleo] and change.delete == ["3005"]
    assert not diff({"3002": anna}, [anna])
    incomplete: dict[str, Account | None] = {"3002": None}
    assert diff(incomplete, [anna]).write == [anna]  # rows missing from a table: rewritten
