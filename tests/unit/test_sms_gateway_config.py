"""The install's `[sms_gateway]` settings, the gateway they build, and `cug sms-gateway`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from cug.cli import main
from cug.settings import SETTINGS_FILE, load
from sms_gateway.config import GatewayConfig, GatewayConfigError, build_gateway
from sms_gateway.kannel import KannelGateway
from tests.unit.cli_runner import Cug

GOOD = {
    "kind": "kannel",
    "url": "http://127.0.0.1:13013/cgi-bin/sendsms",
    "username": "cug",
    "password": "s3cret;%pw",
    "sender": "CUG",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CUG_DB", "CUG_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)


def test_section_round_trip_and_defaults() -> None:
    config = GatewayConfig.from_section(GOOD)
    assert config.method == "post" and config.timeout == 10 and config.max_messages == 24
    assert config.problems() == []
    assert GatewayConfig.from_section(config.to_section()) == config
    assert GatewayConfig.from_section({}) == GatewayConfig()  # kind none


def test_bad_numbers_keep_their_defaults(caplog: pytest.LogCaptureFixture) -> None:
    config = GatewayConfig.from_section({**GOOD, "timeout": "soon", "max_messages": "many"})
    assert (config.timeout, config.max_messages) == (10, 24)
    assert "timeout = 'soon' is not a number" in caplog.text


def test_every_problem_is_named() -> None:
    config = GatewayConfig.from_section(
        {
            "kind": "kannel",
            "url": "ftp://x",
            "sender": "A sender id far too long",
            "method": "put",
            "timeout": "0",
            "max_messages": "0",
            "dlr_url": "nowhere",
            "dlr_mask": "300",
        }
    )
    assert config.problems() == [
        "url must be an http:// or https:// URL (the sendsms URL)",
        "username is missing",
        "password is missing (set it with `cug sms-gateway set`)",
        "sender must be a sender id (up to 11 letters/digits) or a number",
        "method must be post or get, not 'put'",
        "timeout must be more than 0 and at most 120 seconds",
        "max_messages must be 1 to 255",
        "dlr_url must be an http:// or https:// URL",
        "dlr_mask must be 0 to 255",
    ]
    with_break = GatewayConfig.from_section({**GOOD, "username": "cug\r\nX-Evil: 1"})
    assert with_break.problems() == ["no value may hold a line break or control character"]
    assert GatewayConfig(kind="smpp").problems() == ["kind must be one of none, kannel, not 'smpp'"]
    assert GatewayConfig.from_section({**GOOD, "sender": "+256800100116"}).problems() == []


def test_the_password_is_never_in_a_repr() -> None:
    config = GatewayConfig.from_section(GOOD)
    assert "s3cret" not in repr(config)
    assert "s3cret" not in repr(KannelGateway(config).config)


async def test_factory_builds_the_configured_gateway() -> None:
    assert build_gateway(GatewayConfig()) is None
    gw = build_gateway(GatewayConfig.from_section(GOOD))
    assert isinstance(gw, KannelGateway)
    await gw.close()
    with pytest.raises(GatewayConfigError) as refused:
        build_gateway(GatewayConfig(kind="kannel"))
    assert "username is missing" in refused.value.problems


def test_settings_keep_the_gateway_in_the_owner_only_file(tmp_path: Path) -> None:
    s = load(home=tmp_path)
    assert s.sms_gateway == GatewayConfig()
    s.sms_gateway = GatewayConfig.from_section(GOOD)
    s.save()
    path = tmp_path / SETTINGS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load(home=tmp_path).sms_gateway == s.sms_gateway
    s.save()  # saving other settings again keeps the section
    assert load(home=tmp_path).sms_gateway.password == "s3cret;%pw"


def test_an_install_from_before_the_gateway_loads(tmp_path: Path) -> None:
    s = load(home=tmp_path)
    s.save()
    path = tmp_path / SETTINGS_FILE
    text = path.read_text()
    path.write_text(text[: text.index("[sms_gateway]")])
    assert load(home=tmp_path).sms_gateway == GatewayConfig()


def set_args(*extra: str) -> list[str]:
    return [
        "sms-gateway",
        "set",
        "--kind",
        "kannel",
        "--url",
        GOOD["url"],
        "--username",
        "cug",
        "--sender",
        "CUG",
        *extra,
    ]


def test_cli_set_reads_the_password_and_show_never_prints_it(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path)]
    result = runner.invoke(main, [*home, *set_args("--password-stdin")], input="pw from stdin\n")
    assert result.exit_code == 0, result.output
    assert "pw from stdin" not in result.output
    assert load(home=tmp_path).sms_gateway.password == "pw from stdin"
    shown = runner.invoke(main, [*home, "sms-gateway", "show"])
    assert shown.exit_code == 0
    assert "kannel at http://127.0.0.1:13013/cgi-bin/sendsms as cug, sender CUG" in shown.output
    assert "password: set" in shown.output and "pw from stdin" not in shown.output
    # a later change keeps the password; --new-password asks for it, hidden, twice
    assert runner.invoke(main, [*home, "sms-gateway", "set", "--timeout", "5"]).exit_code == 0
    assert load(home=tmp_path).sms_gateway.password == "pw from stdin"
    asked = runner.invoke(
        main, [*home, "sms-gateway", "set", "--new-password"], input="other\nother\n"
    )
    assert asked.exit_code == 0, asked.output
    assert load(home=tmp_path).sms_gateway.password == "other"


def test_cli_set_refuses_a_broken_gateway_and_changes_nothing(tmp_path: Path) -> None:
    cug = Cug(tmp_path)
    refused = cug(*set_args("--url", "not a url", "--password-stdin"), ok=False)
    assert "url must be an http:// or https:// URL" in refused.output
    assert not (tmp_path / SETTINGS_FILE).exists()
    assert "none (no texts go to mobiles)" in cug("sms-gateway", "show").output


def test_cli_test_needs_a_gateway_and_a_number(tmp_path: Path) -> None:
    cug = Cug(tmp_path)
    assert "no SMS gateway configured" in cug("sms-gateway", "test", "0772100001", ok=False).output
    s = load(home=tmp_path)
    s.sms_gateway = GatewayConfig.from_section(GOOD)
    s.save()
    assert "not a phone number" in cug("sms-gateway", "test", "hello", ok=False).output
