"""Directory changes reach the running Asterisk without dropping calls; secrets stay out of logs."""

from __future__ import annotations

import threading

import pytest

from tests.e2e.harness import CallResult, Pbx

pytestmark = pytest.mark.e2e


def test_new_member_can_register_while_a_call_stays_up(pbx: Pbx) -> None:
    anna, ben = pbx.phone("3002"), pbx.phone("3003")
    assert ben.register() == 200
    reloads_before = pbx.health()["endpoint_reloads"]
    results: list[CallResult] = []
    mark = pbx.ami.mark()
    with ben.listening():
        call = threading.Thread(target=lambda: results.append(anna.call("3003", talk_ms=6000)))
        call.start()
        pbx.ami.wait_for(mark, "DialEnd", lambda e: e.get("DialStatus") == "ANSWER")
        pbx.cug(
            "directory",
            "add",
            "--name",
            "New Worker",
            "--phone",
            "0772200099",
            "--role",
            "psw",
            "--district",
            "Oyam",
            "--extension",
            "3099",
        )
        pbx.wait_endpoints(lambda out: "3099" in out)
        assert pbx.health()["endpoint_reloads"] > reloads_before
        assert pbx.phone("3099").register() == 200
        call.join(timeout=30)
    # The call that was up during the reload ended normally: answered, then BYE and 200 OK.
    assert results and results[0].code == 200 and results[0].returncode == 0


def test_secrets_never_reach_the_logs(pbx: Pbx) -> None:
    secrets = [pbx.settings()["ami"]["secret"], pbx.settings()["trunk"]["password"]]
    secrets += [pbx.member(ext)["sip"]["password"] for ext in ("3001", "3002", "3003")]
    logs = [pbx.home / "serve.log", *pbx.asterisk_logs()]
    text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
    assert text, "no logs to check"
    for secret in secrets:
        assert secret not in text


def test_install_files_are_readable_by_their_owner_only(pbx: Pbx) -> None:
    for path in [
        pbx.home / "cug.ini",
        pbx.home / "cug.db",
        pbx.etc / "cug-members" / "pjsip-members.conf",
        pbx.etc / "cug-local" / "manager-users.conf",
        pbx.etc / "cug-local" / "pjsip-trunk.conf",
    ]:
        assert path.stat().st_mode & 0o077 == 0, path
