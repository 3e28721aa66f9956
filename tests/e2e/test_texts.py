"""The SMS relay through the real Asterisk: members' handsets (SIPp) send SIP MESSAGEs, the
routing service stores and relays them over AMI MessageSend, the handsets get them.

Anna (3002) and Ben (3003) are para-social workers of Oyam; Sarah (3001) their supervisor.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.handset import Handset, Outgoing, received_texts, text_codes, wait_for_texts
from tests.e2e.harness import REPO, Pbx, final_response
from tests.gateway.kannel import Kannel

SERVICE = "199"


def handset(pbx: Pbx, extension: str) -> Handset:
    return Handset(pbx.phone(extension))


def deliveries(pbx: Pbx, sender: str) -> list[dict]:
    db = pbx.db()
    try:
        return [
            dict(r)
            for r in db.query(
                "SELECT t.id AS text_id, t.body, t.case_id, t.team, d.status, d.via, "
                "r.extension AS recipient FROM texts t JOIN text_deliveries d "
                "ON d.text_id = t.id JOIN members r ON r.id = d.recipient_member_id "
                "JOIN members s ON s.id = t.sender_member_id WHERE s.extension = ? "
                "ORDER BY d.id",
                [sender],
            )
        ]
    finally:
        db.close()


def wait_status(pbx: Pbx, sender: str, count: int, status: str, timeout: float = 20) -> list:
    deadline = time.monotonic() + timeout
    while True:
        rows = deliveries(pbx, sender)
        if sum(r["status"] == status for r in rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


def test_a_text_reaches_the_member_with_the_senders_name_and_extension(pbx: Pbx) -> None:
    ben, anna = handset(pbx, "3003"), handset(pbx, "3002")
    with ben.online(stay_ms=30000) as inbox:
        time.sleep(1.5)  # registered, and answering Asterisk's qualify
        sent = anna.send(Outgoing("3003", "Mwana ali bulungi, ñ ü — call me"), stay_ms=500)
        got = wait_for_texts(inbox, 1)
    assert text_codes(sent) == [202]
    assert [(t.sender, t.body) for t in got] == [("3002", "Mwana ali bulungi, ñ ü — call me")]
    assert "Anna" in inbox.read_text(errors="replace").split("MESSAGE sip:")[1][:400]
    rows = wait_status(pbx, "3002", 1, "delivered")
    assert rows[-1]["status"] == "delivered" and rows[-1]["via"] == "sip"


def test_a_text_by_local_number_format_reaches_the_member(pbx: Pbx) -> None:
    ben, anna = handset(pbx, "3003"), handset(pbx, "3002")
    number = pbx.member("3003")["phone"].replace("+256", "0")
    with ben.online(stay_ms=30000) as inbox:
        time.sleep(1.5)
        anna.send(Outgoing(number, "by number"), stay_ms=500)
        got = wait_for_texts(inbox, 1)
    assert [t.body for t in got] == ["by number"]


def test_texts_to_a_member_whose_phone_is_off_wait_and_arrive_in_order(pbx: Pbx) -> None:
    ben, anna = handset(pbx, "3003"), handset(pbx, "3002")
    # Ben's phone is off (not registered). Anna sends three texts; she is told they wait.
    assert pbx.phone("3003").register(expires=0) == 200  # earlier tests left it registered
    replies = anna.send(
        Outgoing("3003", "first"),
        Outgoing("3003", "second"),
        Outgoing("3003", "third"),
        stay_ms=4000,
    )
    told = [t.body for t in received_texts(replies) if t.sender == SERVICE]
    assert any("cannot be reached now" in body for body in told), told
    assert [r["status"] for r in deliveries(pbx, "3002")[-3:]] == ["queued"] * 3
    # Ben's phone comes back: the three arrive, in the order they were sent.
    with ben.online(stay_ms=30000) as inbox:
        got = wait_for_texts(inbox, 3)
    assert [t.body for t in got][:3] == ["first", "second", "third"]
    rows = wait_status(pbx, "3002", 3, "delivered")
    assert [r["status"] for r in rows[-3:]] == ["delivered"] * 3
    # Anna is told they were delivered, when her phone is on.
    with anna.online(stay_ms=30000) as anna_inbox:
        notices = wait_for_texts(anna_inbox, 3, timeout=20)
    assert {t.body.split('"')[1] for t in notices if "delivered to Worker Ben" in t.body} == {
        "first",
        "second",
        "third",
    }, notices


def test_a_text_handed_to_a_phone_that_vanished_comes_again_when_it_is_back(pbx: Pbx) -> None:
    # Ben's phone dies (battery) without unregistering: it still looks registered and
    # reachable until Asterisk's next qualify. Asterisk sends no ContactStatus for members
    # (sorcery.conf); the service reads the phone's qualify status a qualify period later.
    ben, anna = handset(pbx, "3003"), handset(pbx, "3002")
    with ben.online(stay_ms=20000, unregister=False):
        pbx.wait_reachable("3003")
    anna.send(Outgoing("3003", "did you get this?"), stay_ms=500)
    rows = wait_status(pbx, "3002", 1, "delivered")
    assert rows[-1]["body"] == "did you get this?" and rows[-1]["status"] == "delivered"
    pbx.cli("pjsip qualify 3003")  # Asterisk finds the phone gone (its OPTIONS times out)
    deadline = time.monotonic() + 100
    while deliveries(pbx, "3002")[-1]["status"] != "queued" and time.monotonic() < deadline:
        time.sleep(1)
    assert deliveries(pbx, "3002")[-1]["status"] == "queued"  # queued again, not lost
    # The phone comes back: the text arrives within seconds of its REGISTER.
    with ben.online(stay_ms=30000) as inbox:
        got = wait_for_texts(inbox, 1, timeout=15)
    assert "did you get this?" in [t.body for t in got]
    assert wait_status(pbx, "3002", 1, "delivered")[-1]["status"] == "delivered"


def test_a_text_to_a_non_member_is_refused_and_the_sender_told(pbx: Pbx) -> None:
    anna = handset(pbx, "3002")
    before = len(deliveries(pbx, "3002"))
    replies = anna.send(Outgoing("0772999999", "hello stranger"), stay_ms=4000)
    told = [t.body for t in received_texts(replies) if t.sender == SERVICE]
    assert any("not a member" in body for body in told), told
    assert len(deliveries(pbx, "3002")) == before  # nothing stored for anyone


def test_a_team_text_reaches_each_member_of_the_team(pbx: Pbx) -> None:
    # A short code for the para-social workers of the sender's district: for Anna, Ben
    # (3003), Nakato (3009) and 3006; Ben and Nakato have their phones on, 3006 not.
    assert pbx.phone("3006").register(expires=0) == 200  # 3006's phone is off
    db = pbx.db()
    team = {
        r[0]
        for r in db.execute(
            "SELECT extension FROM members WHERE role = 'psw' AND district = 'Oyam' "
            "AND active = 1 AND extension != '3002'"
        )
    }
    with db.conn:
        db.execute("INSERT INTO short_codes VALUES ('106', 'role', 'psw', NULL, 'PSWs')")
    try:
        anna, ben, nakato = (handset(pbx, e) for e in ("3002", "3003", "3009"))
        with ben.online(stay_ms=30000) as first, nakato.online(stay_ms=30000) as second:
            time.sleep(1.5)
            anna.send(Outgoing("106", "meeting at the sub-county at 3"), stay_ms=500)
            got = [wait_for_texts(first, 1), wait_for_texts(second, 1)]
    finally:
        with db.conn:
            db.execute("DELETE FROM short_codes WHERE code = '106'")
        db.close()
    for texts in got:
        assert [t.body for t in texts] == ["(to PSWs) meeting at the sub-county at 3"]
    rows = [r for r in deliveries(pbx, "3002") if r["team"] == "PSWs"]
    # Each member of the team (every active PSW of Oyam, other tests add some) has a
    # delivery of their own; the one whose phone is off waits.
    status = {r["recipient"]: r["status"] for r in rows}
    assert len(rows) == len(team) and set(status) == team
    assert (status["3003"], status["3009"], status["3006"]) == ("delivered", "delivered", "queued")


def test_a_case_tagged_text_is_a_contact_on_the_case(pbx: Pbx) -> None:
    opened = pbx.cug("case", "open", "--district", "Oyam", "--category", "neglect").stdout
    number = int(opened.split()[1])  # "case <number> opened (...)"
    ben, anna = handset(pbx, "3003"), handset(pbx, "3002")
    with ben.online(stay_ms=30000) as inbox:
        time.sleep(1.5)
        anna.send(Outgoing("3003", f"#{number} visited the home today"), stay_ms=500)
        wait_for_texts(inbox, 1)
    rows = pbx.wait_contacts("kind = 'text' AND case_id = ?", (number,))
    assert rows and rows[-1]["outcome"] in ("queued", "delivered")


def test_bad_bodies_get_a_clear_answer(pbx: Pbx) -> None:
    anna = handset(pbx, "3002")
    replies = anna.send(
        Outgoing("3003", "   "),
        Outgoing("3003", "x" * 1100),
        Outgoing("3003", b"\xff\xfe\x80 binary \x01\x02"),  # not UTF-8, control bytes
        Outgoing("3003", b"GIF89a binary", content_type="application/octet-stream"),
        stay_ms=5000,
    )
    # Asterisk itself refuses a body that is not text (415); the others are answered by text.
    assert text_codes(replies) == [202, 202, 202, 415]
    told = [t.body for t in received_texts(replies) if t.sender == SERVICE]
    assert any("empty" in b for b in told), told
    assert any("too long" in b for b in told), told
    assert any("could not be read" in b for b in told), told


def test_commands_by_text_answer_the_worker(pbx: Pbx) -> None:
    anna = handset(pbx, "3002")
    replies = anna.send(Outgoing(SERVICE, "WHO 3003"), Outgoing(SERVICE, "help"), stay_ms=4000)
    told = [t.body for t in received_texts(replies) if t.sender == SERVICE]
    assert any(b.startswith("3003: ") and "Para-social worker" in b for b in told), told
    assert any("CUG texts:" in b for b in told), told


def test_a_spoofed_sender_is_not_let_in(pbx: Pbx) -> None:
    # Anna's handset, with her own password, claims to be Ben in From: PJSIP identifies the
    # sender by that user, so the digest check fails and Asterisk never takes the text.
    anna = handset(pbx, "3002")
    before = len(deliveries(pbx, "3003"))
    sent = anna.send(Outgoing("3001", "I am Ben", from_user="3003"), stay_ms=500)
    assert text_codes(sent) == []  # never accepted
    assert final_response(sent, "MESSAGE") in (401, 403)  # the digest check failed
    assert len(deliveries(pbx, "3003")) == before


def test_a_flood_from_one_member_is_limited_and_the_sender_told(pbx: Pbx) -> None:
    # Nakato sends 25 texts at once; the install allows 20 a minute per sender. She is told
    # once (not once per text: answers must not flood either); the rest are dropped.
    nakato = handset(pbx, "3009")
    replies = nakato.send(*(Outgoing("3001", f"flood {n}") for n in range(25)), stay_ms=5000)
    assert text_codes(replies) == [202] * 25
    stored = deliveries(pbx, "3009")
    assert len(stored) == 20
    told = [t.body for t in received_texts(replies) if t.sender == SERVICE]
    assert sum("more than 20 texts in a minute" in b for b in told) == 1, told


def test_texts_queued_when_the_service_restarts_are_delivered_once(pbx: Pbx) -> None:
    sarah, anna = handset(pbx, "3001"), handset(pbx, "3002")
    anna.send(*(Outgoing("3001", f"before restart {n}") for n in range(3)), stay_ms=500)
    pbx.stop_service()
    try:
        # With the service down, a text is not taken: the sender is told so at once.
        replies = anna.send(Outgoing("3001", "while down"), stay_ms=3000)
        told = [t.body for t in received_texts(replies) if t.sender == SERVICE]
        assert any("text service is down" in b for b in told), told
    finally:
        pbx.start_service()
    with sarah.online(stay_ms=30000) as inbox:
        got = wait_for_texts(inbox, 3)
        time.sleep(3)  # anything doubled would come now
        got = [t.body for t in received_texts(inbox) if t.sender == "3002"]
    assert got == [f"before restart {n}" for n in range(3)]


def test_a_text_that_expires_is_reported_to_the_sender(pbx: Pbx) -> None:
    anna = handset(pbx, "3002")
    assert pbx.phone("3005").register(expires=0) == 200  # the health worker's phone is off
    anna.send(Outgoing("3005", "please visit the school"), stay_ms=500)
    db = pbx.db()
    with db.conn:  # two days pass: the text to 3005 (no phone) reaches its expiry
        db.execute(
            "UPDATE text_deliveries SET expires_at = '2000-01-01' WHERE status = 'queued' AND "
            "text_id = (SELECT max(id) FROM texts WHERE body = 'please visit the school')"
        )
    db.close()
    with anna.online(stay_ms=30000) as inbox:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            told = [t.body for t in received_texts(inbox) if t.sender == SERVICE]
            if any("could NOT be delivered" in b for b in told):
                break
            time.sleep(0.5)
    assert any('"please visit the school" could NOT be delivered' in b for b in told), told
    rows = [r for r in deliveries(pbx, "3002") if r["body"] == "please visit the school"]
    assert rows[-1]["status"] == "expired"


@contextmanager
def gateway_on(pbx: Pbx, kannel: Kannel) -> Iterator[None]:
    """The install texts members without a phone on their mobile through `kannel`, after 1 s."""

    def cug(*args: str, stdin: str = "") -> None:
        subprocess.run(
            [sys.executable, "-m", "cug.cli", *args],
            input=stdin,
            text=True,
            env=pbx.env,
            cwd=REPO,
            check=True,
            timeout=60,
            capture_output=True,
        )

    ini = pbx.home / "cug.ini"

    def sms_after(seconds: str) -> None:
        cp = configparser.ConfigParser(interpolation=None)
        cp.read(ini)
        cp["texts"]["sms_after_seconds"] = seconds
        with ini.open("w") as handle:
            cp.write(handle)

    cug(
        "sms-gateway",
        "set",
        "--kind",
        "kannel",
        "--url",
        kannel.sendsms_url,
        "--username",
        kannel.username,
        "--sender",
        "CUG",
        "--password-stdin",
        stdin=kannel.password + "\n",
    )
    sms_after("1")
    pbx.stop_service()
    pbx.start_service()
    try:
        yield
    finally:
        cug("sms-gateway", "set", "--kind", "none")
        sms_after("120")
        pbx.stop_service()
        pbx.start_service()


def test_a_member_without_a_phone_gets_the_text_on_their_mobile(pbx: Pbx, tmp_path: Path) -> None:
    kannel = Kannel(tmp_path / "kannel")
    kannel.start()
    try:
        with gateway_on(pbx, kannel):
            # The health worker (3005) has no phone registered: after 1 s, an SMS.
            assert pbx.phone("3005").register(expires=0) == 200
            handset(pbx, "3002").send(Outgoing("3005", "Omwana alina omusujja"), stay_ms=500)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                sms = [t for t in kannel.received() if "Omwana" in t.text()]
                if sms:
                    break
                time.sleep(0.5)
    finally:
        kannel.stop()
    assert [(t.receiver, t.text()) for t in sms] == [
        ("+256772200005", "CUG from Worker Anna (3002): Omwana alina omusujja")
    ]
    rows = [r for r in deliveries(pbx, "3002") if r["body"] == "Omwana alina omusujja"]
    assert (rows[-1]["status"], rows[-1]["via"]) == ("delivered", "sms")
