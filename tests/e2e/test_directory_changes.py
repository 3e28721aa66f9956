"""Directory changes reach the running Asterisk at the member's next request, with no reload
and without dropping calls; hostile names stay harmless; secrets stay out of logs."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from agi.endpoint_rows import caller_name
from tests.e2e.harness import CallResult, Pbx, Phone, received_requests

pytestmark = pytest.mark.e2e


def add(pbx: Pbx, extension: str, name: str, phone: str) -> None:
    pbx.cug(
        "directory",
        "add",
        "--name",
        name,
        "--phone",
        phone,
        "--role",
        "psw",
        "--district",
        "Oyam",
        "--extension",
        extension,
    )


def written(pbx: Pbx, extension: str) -> None:
    """Wait until the service wrote the member's rows with their current password."""
    password = pbx.member(extension)["sip"]["password"]
    pbx.wait_endpoint_row("ps_auths", extension, lambda r: r and r["password"] == password)


def removed(pbx: Pbx, extension: str) -> None:
    for table in ("ps_endpoints", "ps_auths", "ps_aors"):
        pbx.wait_endpoint_row(table, extension, lambda r: r is None)


def test_new_member_can_register_while_a_call_stays_up(pbx: Pbx) -> None:
    anna, ben = pbx.phone("3002"), pbx.phone("3003")
    assert ben.register() == 200
    results: list[CallResult] = []
    mark = pbx.ami.mark()
    with ben.listening():
        call = threading.Thread(target=lambda: results.append(anna.call("3003", talk_ms=6000)))
        call.start()
        pbx.ami.wait_for(mark, "DialEnd", lambda e: e.get("DialStatus") == "ANSWER")
        add(pbx, "3099", "New Worker", "0772200099")
        written(pbx, "3099")
        assert pbx.phone("3099").register() == 200
        call.join(timeout=30)
    # The call that was up during the change ended normally: answered, then BYE and 200 OK.
    assert results and results[0].code == 200 and results[0].returncode == 0
    assert pbx.health()["endpoint_failures"] == 0


def test_deactivated_member_is_refused_at_once_while_still_registered(pbx: Pbx) -> None:
    add(pbx, "3098", "Leaving Soon", "0772200098")
    written(pbx, "3098")
    leaving, ben = pbx.phone("3098"), pbx.phone("3003")
    assert leaving.register() == 200
    with ben.listening():
        assert leaving.call("3003").code == 200
    pbx.cug("directory", "deactivate", "3098")
    removed(pbx, "3098")
    # Their phone's registration is still in Asterisk's contact store, unreachable: its
    # endpoint and AOR are gone. Their very next request is refused like a stranger's.
    with ben.listening() as ben_trace:
        assert leaving.call("3003").code == 401
    assert received_requests(ben_trace, "INVITE") == []
    assert leaving.register() == 401
    # And no one reaches them, by extension or by number: nothing is dialled.
    mark = pbx.ami.mark()
    assert pbx.phone("3002").call("3098").code != 200
    assert pbx.phone("3002").call("0772200098").code != 200
    assert pbx.ami.since(mark, "DialBegin") == []


def test_new_password_takes_effect_at_the_next_request(pbx: Pbx) -> None:
    police = pbx.phone("3008")
    assert police.register() == 200
    old = Phone(pbx, "3008", police.password)
    pbx.cug("directory", "reset-password", "3008")
    written(pbx, "3008")
    assert old.register() == 401
    assert old.call("3003").code == 401
    assert pbx.phone("3008").register() == 200  # the phone set up again with the new one


HOSTILE_NAMES = {
    "3096": 'Evil" <3001>;tag=x \\ Ñamukose "',  # as an admin may type it (the CLI takes it)
    "3095": "Line\r\nbreak\t\u202e" + "\u00e9x" * 5000,  # 10 kB, line breaks: not via the CLI
}


def test_hostile_names_give_safe_caller_ids(pbx: Pbx) -> None:
    add(pbx, "3096", HOSTILE_NAMES["3096"], "0772200096")
    add(pbx, "3095", "Placeholder", "0772200095")
    db = pbx.db()  # a name the directory's checks would refuse, as if written by other means
    try:
        db.execute("UPDATE members SET name = ? WHERE extension = '3095'", (HOSTILE_NAMES["3095"],))
        db.conn.commit()
    finally:
        db.close()
    for ext, name in HOSTILE_NAMES.items():
        expected = f'"{caller_name(name)}" <{ext}>'
        pbx.wait_endpoint_row("ps_endpoints", ext, lambda r, c=expected: r and r["callerid"] == c)
    ben = pbx.phone("3003")
    assert ben.register() == 200
    pbx.stop_service()  # member-to-member by extension: the name comes from the endpoint only
    try:
        for ext, name in HOSTILE_NAMES.items():
            hostile = pbx.phone(ext)
            assert hostile.register() == 200
            with ben.listening() as ben_trace:
                assert hostile.call("3003").code == 200
            (invite,) = received_requests(ben_trace, "INVITE")
            assert f'From: "{caller_name(name)}" <sip:{ext}@' in invite
    finally:
        pbx.start_service()


def test_changes_while_the_service_is_killed_reach_asterisk_when_it_is_back(pbx: Pbx) -> None:
    add(pbx, "3094", "Before Restart", "0772200094")
    written(pbx, "3094")
    before = pbx.phone("3094")
    assert before.register() == 200
    old_password = pbx.phone("3004").password
    pid = int((pbx.home / "serve.pid").read_text())
    os.kill(pid, signal.SIGKILL)  # no clean stop: whatever it was doing is cut
    try:
        add(pbx, "3093", "While Down", "0772200093")
        pbx.cug("directory", "deactivate", "3094")
        pbx.cug("directory", "reset-password", "3004")
        assert pbx.endpoint_row("ps_endpoints", "3093") is None  # nobody wrote it yet
    finally:
        pbx.start_service(reinstall=False)  # the service alone catches up
    written(pbx, "3093")
    removed(pbx, "3094")
    written(pbx, "3004")
    assert pbx.phone("3093").register() == 200
    assert before.register() == 401
    assert Phone(pbx, "3004", old_password).register() == 401
    assert pbx.phone("3004").register() == 200


def test_secrets_never_reach_the_logs(pbx: Pbx) -> None:
    secrets = [pbx.settings()["ami"]["secret"], pbx.settings()["trunk"]["password"]]
    secrets += [pbx.member(ext)["sip"]["password"] for ext in ("3001", "3002", "3003")]
    logs = [pbx.home / "serve.log", *pbx.asterisk_logs()]
    text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
    assert text, "no logs to check"
    for secret in secrets:
        assert secret not in text


def test_install_files_are_readable_by_their_owner_only(pbx: Pbx) -> None:
    endpoints_db = pbx.settings()["cug"]["endpoints_db"]
    for path in [
        pbx.home / "cug.ini",
        pbx.home / "cug.db",
        *sorted(pbx.etc.parent.joinpath("lib").glob("cug-endpoints.db*")),
        pbx.etc / "cug-local" / "endpoints-db.conf",
        pbx.etc / "cug-local" / "manager-users.conf",
        pbx.etc / "cug-local" / "pjsip-trunk.conf",
    ]:
        assert path.stat().st_mode & 0o077 == 0, path
    assert endpoints_db.endswith("/lib/cug-endpoints.db")  # in Asterisk's own var/lib
    assert not (pbx.etc / "cug-members").exists()
