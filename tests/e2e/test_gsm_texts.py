"""Texts from basic phones through the GSM side: a real Kannel (bearerbox, smsbox) with
fakesmsc as the phone network posts members' texts to the sandbox service's HTTP side
(sms-service post-url, basic auth); the service relays them to SIP phones (SIPp handsets)
or, through Kannel's sendsms, to mobiles, and answers commands by SMS.

Anna (3002, 0772200002) and Ben (3003) are para-social workers of Oyam; Sarah (3001) their
supervisor; Health Oyam (3005) has no phone registered in these tests.
"""

from __future__ import annotations

import configparser
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from sms_gateway.encoding import segments
from tests.e2e.handset import Handset, Outgoing, Text, received_texts
from tests.e2e.harness import Pbx
from tests.e2e.test_texts import gateway_on
from tests.gateway.kannel import Kannel, NetworkText

CUG_NUMBER = "0800100116"
ANNA_MOBILE, BEN_MOBILE, HEALTH_MOBILE = "+256772200002", "+256772200003", "+256772200005"
T = TypeVar("T")


def eventually(probe: Callable[[], T], what: str, timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"never: {what}")


def set_texts(pbx: Pbx, **values: str) -> None:
    ini = pbx.home / "cug.ini"
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(ini)
    for name, value in values.items():
        cp["texts"][name] = value
    with ini.open("w") as handle:
        cp.write(handle)


@pytest.fixture(scope="module")
def kannel(pbx: Pbx, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kannel]:
    """A Kannel whose sms-service posts to the sandbox service, which sends through it."""
    secret = pbx.settings()["sms_inbound"]["secret"]
    url = f"http://sms:{secret}@127.0.0.1:{pbx.http_port}/sms/kannel?from=%p&to=%P&id=%I&coding=%c"
    box = Kannel(tmp_path_factory.mktemp("gsm-kannel"), sms_service_url=url)
    box.start()
    set_texts(pbx, sms_retry_seconds="2")
    try:
        with gateway_on(pbx, box):  # SMS after 1 s for members without a phone
            assert pbx.phone("3005").register(expires=0) == 200
            yield box
    finally:
        set_texts(pbx, sms_retry_seconds="60")
        box.stop()


def sms_to(kannel: Kannel, number: str, after: int = 0) -> NetworkText:
    """The next whole SMS the network got for `number` past the first `after`."""
    return kannel.wait_for_text(number, after)


def count_to(kannel: Kannel, number: str) -> int:
    return sum(t.receiver == number for t in kannel.received())


def phone_gets(pbx: Pbx, kannel: Kannel, extension: str, sms: str) -> list[Text]:
    """What the SIP phone of `extension` gets when Anna's mobile texts `sms`."""
    with Handset(pbx.phone(extension)).online(stay_ms=30000) as inbox:
        time.sleep(1.5)  # registered, and answering Asterisk's qualify
        kannel.send_from_phone(ANNA_MOBILE, CUG_NUMBER, sms)
        # The service's own notices (from 199, e.g. a missed call of an earlier test queued
        # for this phone) may come first: the relayed text is what is looked at.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            relayed = [t for t in received_texts(inbox) if t.sender != "199"]
            if relayed:
                return relayed
            time.sleep(0.2)
        return []


def test_a_text_from_a_mobile_reaches_the_members_sip_phone(pbx: Pbx, kannel: Kannel) -> None:
    got = phone_gets(pbx, kannel, "3003", "3003 Omwana ali bulungi, call me")
    assert [(t.sender, t.body) for t in got] == [("3002", "Omwana ali bulungi, call me")]


def test_a_text_to_a_member_without_a_phone_reaches_their_mobile(pbx: Pbx, kannel: Kannel) -> None:
    before = count_to(kannel, HEALTH_MOBILE)
    kannel.send_from_phone("256772200002", CUG_NUMBER, "3005 Omwana alina omusujja")
    got = sms_to(kannel, HEALTH_MOBILE, before)
    assert got.text() == "CUG from Worker Anna (3002): Omwana alina omusujja"


def test_a_word_reaches_the_supervisor(pbx: Pbx, kannel: Kannel) -> None:
    got = phone_gets(pbx, kannel, "3001", "SUP the family moved to Loro")
    assert [(t.sender, t.body) for t in got] == [("3002", "the family moved to Loro")]


def test_a_case_tagged_text_lands_on_the_case(pbx: Pbx, kannel: Kannel) -> None:
    opened = pbx.cug("case", "open", "--district", "Oyam", "--category", "neglect").stdout
    number = int(opened.split()[1])
    before = count_to(kannel, ANNA_MOBILE)
    kannel.send_from_phone(ANNA_MOBILE, CUG_NUMBER, f"#{number} visited the home, child ok")
    assert sms_to(kannel, ANNA_MOBILE, before).text() == f"Filed on case #{number}."
    rows = pbx.wait_contacts("kind = 'text' AND case_id = ?", (number,))
    assert (rows[-1]["caller_member_id"], rows[-1]["outcome"]) == (pbx.member_id("3002"), "logged")
    shown = pbx.cug("case", "show", str(number)).stdout
    assert "text" in shown


def test_who_and_done_are_answered_by_sms(pbx: Pbx, kannel: Kannel) -> None:
    opened = pbx.cug("case", "open", "--district", "Oyam", "--category", "neglect").stdout
    number = opened.split()[1]
    pbx.cug(
        "case",
        "refer",
        number,
        "--service",
        "health",
        "--to",
        "3003",
        "--consent",
        "--consent-by",
        "the child's aunt",
    )
    before_anna, before_ben = count_to(kannel, ANNA_MOBILE), count_to(kannel, BEN_MOBILE)
    kannel.send_from_phone(ANNA_MOBILE, CUG_NUMBER, "WHO 3003")
    assert sms_to(kannel, ANNA_MOBILE, before_anna).text() == (
        "3003: Worker Ben, Para-social worker, Oyam."
    )
    kannel.send_from_phone(BEN_MOBILE, CUG_NUMBER, f"DONE {number}")
    assert sms_to(kannel, BEN_MOBILE, before_ben).text() == (
        f"Done: your referral on case #{number} (health) is completed."
    )
    assert "completed" in pbx.cug("case", "show", number).stdout
    kannel.send_from_phone(BEN_MOBILE, CUG_NUMBER, "DONE")
    assert sms_to(kannel, BEN_MOBILE, before_ben + 1).text().startswith("DONE needs a case")


def test_a_non_members_text_is_refused(pbx: Pbx, kannel: Kannel) -> None:
    stranger = "+256772999999"
    db = pbx.db()
    try:
        texts_before = db.execute("SELECT count(*) FROM texts").fetchone()[0]
    finally:
        db.close()
    kannel.send_from_phone(stranger, CUG_NUMBER, "3003 send me the list of cases")
    # A member's question after it: once its answer is out, the stranger's text was handled.
    before = count_to(kannel, ANNA_MOBILE)
    kannel.send_from_phone(ANNA_MOBILE, CUG_NUMBER, "WHO 3001")
    assert sms_to(kannel, ANNA_MOBILE, before).text().startswith("3001: Supervisor Sarah")
    assert count_to(kannel, stranger) == 0  # no answer to a stranger
    db = pbx.db()
    try:
        stored = db.execute("SELECT count(*) FROM texts").fetchone()[0]
        refused = db.execute(
            "SELECT outcome FROM inbound_sms WHERE sender LIKE '+2567729%' ORDER BY rowid"
        ).fetchall()
    finally:
        db.close()
    assert stored == texts_before + 1  # the answer to Anna (commands are not stored)
    assert [r[0] for r in refused] == ["refused: not_a_member"]


@pytest.mark.parametrize(("unit", "parts"), [("Visit the home. ", 3), ("Ekyo kiŋŋaanyi ", 7)])
def test_a_400_character_text_arrives_whole_in_the_right_number_of_parts(
    pbx: Pbx, kannel: Kannel, unit: str, parts: int
) -> None:
    body = (unit * 40)[:399] + "."  # 400 characters, none of them trimmed
    relayed = f"CUG from Worker Anna (3002): {body}"
    assert segments(relayed).parts == parts  # 429 characters: 3 GSM parts or 7 of UCS-2
    before = count_to(kannel, HEALTH_MOBILE)
    Handset(pbx.phone("3002")).send(Outgoing("3005", body), stay_ms=500)
    got = sms_to(kannel, HEALTH_MOBILE, before)
    encoding = "utf-8" if parts == 3 else "utf-16-be"
    assert (got.kind, got.parts, got.text(encoding)) == ("concatenated", parts, relayed)


def test_a_luganda_text_with_non_gsm_letters_arrives_intact(pbx: Pbx, kannel: Kannel) -> None:
    text = "Omwana aŋŋamba nti ali bulungi — tujja enkya"
    got = phone_gets(pbx, kannel, "3003", f"3003 {text}")
    assert [t.body for t in got] == [text]
    before = count_to(kannel, HEALTH_MOBILE)
    kannel.send_from_phone(ANNA_MOBILE, CUG_NUMBER, f"3005 {text}")
    sms = sms_to(kannel, HEALTH_MOBILE, before)
    relayed = f"CUG from Worker Anna (3002): {text}"
    assert (segments(relayed).coding.value, segments(relayed).parts) == ("ucs2", 2)
    assert (sms.kind, sms.parts) == ("concatenated", 2)  # 74 UCS-2 characters: 2 parts
    assert sms.text("utf-16-be") == relayed


def test_a_reply_due_while_the_gateway_is_down_is_sent_when_it_is_back(
    pbx: Pbx, kannel: Kannel
) -> None:
    before = count_to(kannel, HEALTH_MOBILE)
    kannel.stop_process("smsbox")  # sendsms (and Kannel's inbound side) down
    try:
        Handset(pbx.phone("3002")).send(Outgoing("3005", "kept while Kannel is down"), stay_ms=500)

        def tried() -> bool:
            db = pbx.db()
            try:
                row = db.execute(
                    "SELECT d.status, d.last_error FROM text_deliveries d JOIN texts t "
                    "ON t.id = d.text_id WHERE t.body = 'kept while Kannel is down'"
                ).fetchone()
            finally:
                db.close()
            return bool(row and row[0] == "queued" and row[1].startswith("sms:"))

        eventually(tried, "the SMS tried while the gateway is down")
    finally:
        kannel.start_smsbox()
    got = sms_to(kannel, HEALTH_MOBILE, before)
    assert got.text() == "CUG from Worker Anna (3002): kept while Kannel is down"
