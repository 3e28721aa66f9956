"""The SMS relay through the real Asterisk: members' handsets (SIPp) send SIP MESSAGEs, the
routing service stores and relays them over AMI MessageSend, the handsets get them.

Anna (3002) and Ben (3003) are para-social workers of Oyam; Sarah (3001) their supervisor.
"""

from __future__ import annotations

import time

from tests.e2e.handset import Handset, Outgoing, received_texts, text_codes, wait_for_texts
from tests.e2e.harness import Pbx

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
        notices = wait_for_texts(anna_inbox, 1, timeout=20)
    assert {t.body.split('"')[1] for t in notices if "delivered to Worker Ben" in t.body} == {
        "first",
        "second",
        "third",
    }, notices


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
    db = pbx.db()
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
    # Each member of the team has a delivery of their own; the one whose phone is off waits.
    assert {r["recipient"]: r["status"] for r in rows} == {
        "3003": "delivered",
        "3009": "delivered",
        "3006": "queued",
    }


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
