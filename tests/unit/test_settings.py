"""Install settings: per-install random secrets, kept in an owner-only file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cug.settings import SETTINGS_FILE, default_home, load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CUG_DB", "CUG_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)


def test_fresh_install_gets_random_secrets(tmp_path: Path) -> None:
    a = load(home=tmp_path / "a")
    b = load(home=tmp_path / "b")
    for s in (a, b):
        assert len(s.ami_secret) >= 24 and len(s.trunk_password) >= 24
        assert s.ami_secret != s.trunk_password
    assert a.ami_secret != b.ami_secret
    assert a.trunk_password != b.trunk_password
    assert load(home=tmp_path / "a").ami_secret != a.ami_secret  # not saved yet: new each time
    assert not (tmp_path / "a").exists()  # loading alone writes nothing


def test_no_secret_is_written_in_the_repository(tmp_path: Path) -> None:
    s = load(home=tmp_path)
    sources = [
        p
        for p in ROOT.rglob("*")
        if p.is_file()
        and p.suffix in {".py", ".conf", ".ini", ".csv", ".toml", ".md", ".xml", ""}
        and not any(part in {".venv", ".git", "node_modules"} for part in p.parts)
    ]
    assert sources
    for path in sources:
        text = path.read_text(errors="replace")
        assert s.ami_secret not in text and s.trunk_password not in text, path


def test_save_is_owner_only_and_loads_back(tmp_path: Path) -> None:
    home = tmp_path / "home"
    s = load(home=home)
    s.trunk_enabled = True
    s.trunk_numbers = ["0800100116", "+256772100001"]
    s.agi_port = 4999
    s.save()
    path = home / SETTINGS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert s.ami_secret in path.read_text()
    again = load(home=home)
    assert again.ami_secret == s.ami_secret
    assert len(again.admin_session_key) == 44 and again.admin_session_key == s.admin_session_key
    assert again.admin_cookie_secure is True  # Secure session cookies unless turned off
    assert again.trunk_password == s.trunk_password
    assert again.trunk_enabled is True
    assert again.trunk_numbers == ["0800100116", "+256772100001"]
    assert again.agi_port == 4999 and again.agi_url == "agi://127.0.0.1:4999"
    assert again.db == home.resolve() / "cug.db"
    assert sorted(p.name for p in home.iterdir()) == [SETTINGS_FILE]  # no temp file left
    s.save()  # saving again keeps the file owner-only
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_with_percent_and_semicolon_survives(tmp_path: Path) -> None:
    s = load(home=tmp_path)
    s.ami_secret = "a%b%%c$(x)"
    s.save()
    assert load(home=tmp_path).ami_secret == "a%b%%c$(x)"


def test_db_path_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    assert load(home=home).db == home.resolve() / "cug.db"
    saved = load(home=home)
    saved.db = tmp_path / "elsewhere.db"
    saved.save()
    assert load(home=home).db == tmp_path / "elsewhere.db"
    monkeypatch.setenv("CUG_DB", str(tmp_path / "env.db"))
    assert load(home=home).db == tmp_path / "env.db"
    assert load(home=home, db=tmp_path / "arg.db").db == tmp_path / "arg.db"


def test_home_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_home() == tmp_path / "xdg" / "cug"
    monkeypatch.setenv("CUG_HOME", str(tmp_path / "cug-home"))
    assert default_home() == tmp_path / "cug-home"
    assert load().home == (tmp_path / "cug-home").resolve()


def test_session_cookies_are_secure_unless_turned_off_on_purpose(tmp_path: Path) -> None:
    from tests.unit.cli_runner import Cug

    assert load(home=tmp_path / "fresh").admin_cookie_secure is True
    old = load(home=tmp_path / "old")
    old.admin_cookie_secure = False
    old.save()
    text = old.settings_path.read_text()
    old.settings_path.write_text(text.replace("cookie_secure = no\n", ""))  # an ini without it
    assert load(home=tmp_path / "old").admin_cookie_secure is True
    cug = Cug(tmp_path / "demo")
    cug("init")
    assert load(home=tmp_path / "demo").admin_cookie_secure is True
    cug("init", "--no-cookie-secure")  # a demo on plain HTTP, loopback
    assert "cookie_secure = no" in (tmp_path / "demo" / SETTINGS_FILE).read_text()
    cug("init", "--http-port", "8481")  # changing something else keeps the choice
    assert load(home=tmp_path / "demo").admin_cookie_secure is False
    cug("init", "--cookie-secure")
    assert load(home=tmp_path / "demo").admin_cookie_secure is True


def test_call_back_retries_stay_within_bounds(tmp_path: Path) -> None:
    s = load(home=tmp_path)
    s.save()
    text = s.settings_path.read_text()
    assert "retries = 2" in text and "retry_seconds = 15" in text  # the defaults, written out
    s.settings_path.write_text(
        text.replace("retries = 2", "retries = 99").replace(
            "retry_seconds = 15", "retry_seconds = -4"
        )
    )
    policy = load(home=tmp_path).callbacks
    assert (policy.retries, policy.retry_seconds) == (3, 0)
