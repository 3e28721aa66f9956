"""An admin's mistakes at the `cug` command line get one clear line and change nothing: a
path that cannot be written, a filter that names nothing, settings that cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli_runner import Cug, with_members

PASSWORD = "correct horse battery"


@pytest.fixture
def cug(tmp_path: Path) -> Cug:
    return with_members(tmp_path / "home")


def said(result) -> str:  # noqa: ANN001 - click's Result
    """What the command printed; a Python traceback would be a defect of its own."""
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result.output


def test_a_file_or_folder_that_cannot_be_used_is_one_line(cug: Cug, tmp_path: Path) -> None:
    out = said(cug("directory", "export", "-o", str(tmp_path / "no" / "x.csv"), ok=False))
    assert out.strip() == f"Error: No such file or directory: {tmp_path / 'no' / 'x.csv'}"
    elsewhere = Cug(Path("/proc/no-such-install"))
    assert "Error: No such file or directory" in said(elsewhere("directory", "list", ok=False))


def test_installing_into_a_missing_asterisk_folder_saves_nothing(cug: Cug, tmp_path: Path) -> None:
    before = (cug.home / "cug.ini").read_text()
    out = said(cug("asterisk", "install", "--etc", str(tmp_path / "nope"), ok=False))
    assert "does not exist" in out
    assert (cug.home / "cug.ini").read_text() == before


def test_settings_that_cannot_work_are_refused_with_every_reason(cug: Cug) -> None:
    before = (cug.home / "cug.ini").read_text()
    out = said(
        cug(
            "init",
            *("--sip-bind", "notanip", "--sip-port", "5038", "--trunk-number", "abc"),
            ok=False,
        )
    )
    assert "nothing saved" in out
    assert "'notanip' is not an IPv4 address" in out
    assert "the sip and ami ports are all 5038" in out
    assert "'abc' is not a phone number" in out
    assert (cug.home / "cug.ini").read_text() == before
    assert "not in the range 1<=x<=65535" in said(cug("init", "--http-port", "99999", ok=False))


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("directory", "list", "--district", "Atlantis"), "unknown district 'Atlantis' (known: "),
        (("directory", "list", "--role", "wizard"), "unknown role 'wizard' (known: "),
        (("case", "list", "--district", "Atlantis"), "unknown district 'Atlantis'"),
        (("texts", "list", "--member", "9999"), "no member with extension '9999'"),
    ],
)
def test_a_filter_that_names_nothing_is_an_error_not_an_empty_list(
    cug: Cug, args: tuple[str, ...], reason: str
) -> None:
    assert reason in said(cug(*args, ok=False))


def test_a_filter_in_any_case_finds_the_district(cug: Cug) -> None:
    assert "Okello Denis" in cug("directory", "list", "--district", "oyam").output


def test_a_district_name_with_characters_that_mean_something_is_refused(cug: Cug) -> None:
    out = said(cug("directory", "districts", "--add", "Bad;Name", ok=False))
    assert "letters first" in out
    assert "Bad;Name" not in cug("directory", "districts").output
    added = cug("directory", "districts", "--add", "Ñamutumba", "--add", "Hoima-West").output
    assert "Ñamutumba" in added and "Hoima-West" in added


def test_a_supervisor_account_is_linked_to_a_supervisor(cug: Cug) -> None:
    def create(member: str):  # noqa: ANN202 - click's Result
        return cug(
            *("admin", "create", f"sup{member}", "--role", "supervisor", "--member", member),
            "--password-stdin",
            input=PASSWORD + "\n",
            ok=False,
        )

    assert "member 2002 (Okello Denis) is psw, not an active supervisor" in said(create("2002"))
    assert "no member with extension or number '9999'" in said(create("9999"))
    assert cug.sql("SELECT count(*) FROM admin_accounts") == [(0,)]


def test_a_password_reset_says_it_enables_the_account(cug: Cug) -> None:
    for name in ("nat", "nat2"):
        cug("admin", "create", name, "--password-stdin", input=PASSWORD + "\n")
    cug("admin", "disable", "nat")
    out = cug("admin", "reset-password", "nat", "--password-stdin", input="a new long password\n")
    assert "the account is enabled and unlocked" in out.output
