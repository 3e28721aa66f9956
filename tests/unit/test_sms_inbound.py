"""Texts from members' mobiles through the SMS gateway's inbound side, without a real Kannel:
the HTTP door (auth, charsets, retries), the same decisions as SIP texts, answers by SMS,
and the daily SMS cap."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
import sqlite_utils
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from agi.text_delivery import TextDelivery
from agi.text_intake import TextIntake
from directory.lookup import Directory
from directory.spending import Spending
from routing.calls import Policy
from routing.costs import CostPolicy
from routing.texts import TextPolicy
from sms_gateway.testing import RecordingGateway
from tests.unit.test_text_relay import FakeAmi
from web.sms_inbound import mount_sms_inbound

SECRET = "s" * 43
ANNA, BEN = "+256772100002", "+256772100003"  # 2002, 2003 (psw, Oyam; supervisor 2001)


class Box:
    """The service's inbound side over the test directory, an AMI stand-in and a recording
    SMS gateway."""

    def __init__(self, directory: Directory, client: TestClient, delivery: TextDelivery) -> None:
        self.directory = directory
        self.db: sqlite_utils.Database = directory.db
        self.client = client
        self.delivery = delivery
        self.gateway: RecordingGateway = delivery.gateway  # type: ignore[assignment]
        self.ami: FakeAmi = delivery.ami  # type: ignore[assignment]

    async def text(
        self,
        sender: str,
        body: str | bytes,
        message_id: str = "",
        charset: str = "UTF-8",
        auth: str = "sms:" + SECRET,
    ) -> int:
        raw = body.encode(charset) if isinstance(body, str) else body
        params = {"from": sender, "to": "0800100116", **({"id": message_id} if message_id else {})}
        answer = await self.client.post(
            "/sms/kannel",
            params=params,
            data=raw,
            headers={
                "Content-Type": f'text/plain; charset="{charset}"',
                "Authorization": "Basic " + base64.b64encode(auth.encode()).decode(),
            },
        )
        if answer.status == 200:
            assert await answer.text() == ""  # nothing for Kannel to text back
        return answer.status

    async def settle(self) -> None:
        """One pass of the delivery worker that also looks at the whole queue."""
        self.delivery._last_scan = 0.0
        await self.delivery.pass_once()

    def sms_to(self, number: str) -> list[str]:
        return [a.text for a in self.gateway.sent if a.to_e164 == number]


@pytest.fixture
async def box(directory: Directory) -> AsyncIterator[Box]:
    policy = TextPolicy(per_minute=5, sms_after_seconds=0)
    delivery = TextDelivery(
        directory.db, FakeAmi(), policy, RecordingGateway(), CostPolicy(sms_per_day=6)
    )  # type: ignore[arg-type]
    intake = TextIntake(directory, Policy(), policy, delivery)
    app = web.Application()
    mount_sms_inbound(app, intake, SECRET)
    async with TestClient(TestServer(app)) as client:
        yield Box(directory, client, delivery)


async def test_a_text_reaches_the_addressed_members_phone(box: Box) -> None:
    box.ami.reachable = {"2003"}
    assert await box.text(ANNA, "2003 Mwana ali bulungi", "m-1") == 200
    await box.settle()
    assert box.ami.bodies("2003") == ["Mwana ali bulungi"]
    assert box.gateway.sent == []  # nothing by SMS: Ben's phone took it


async def test_a_member_without_a_phone_gets_it_by_sms_naming_the_sender(box: Box) -> None:
    assert await box.text("256772100002", "2003 call me", "m-2") == 200  # no + from Kannel
    await box.settle()
    assert box.sms_to(BEN) == ["CUG from Okello Denis (2002): call me"]


async def test_a_short_code_word_reaches_the_supervisor(box: Box) -> None:
    box.ami.reachable = {"2001"}
    await box.text(ANNA, "SUP the child is safe now")
    await box.settle()
    assert box.ami.bodies("2001") == ["the child is safe now"]


async def test_commands_are_answered_by_sms(box: Box) -> None:
    box.ami.reachable = {"2002"}  # the answer goes to the mobile the text came from anyway
    for body in ("WHO 2004", "WHO", "HELP", "2003", "hello there"):
        await box.text(ANNA, body)
    await box.settle()
    answers = box.sms_to(ANNA)
    assert answers[0].startswith("2004: Sgt. Opio James, Police")
    assert answers[1] == "WHO needs an extension, e.g. WHO 3003."
    assert (
        answers[2].startswith("CUG texts: start with whom it is for")
        and "SUP (100)" in (answers[2])
    )
    assert answers[3].startswith("Not sent: there was no message after 2003.")
    assert answers[4].startswith("Not sent: start your text with whom it is for")
    assert box.ami.bodies("2002") == []


def open_case(db: sqlite_utils.Database, case_id: int, assigned: int | None = None) -> None:
    db["cases"].insert(
        {
            "id": case_id,
            "reference": f"CUG-{case_id}",
            "district": "Oyam",
            "category": "neglect",
            "urgency": "normal",
            "status": "open",
            "reported_at": "2026-11-01T00:00:00+00:00",
            "assigned_member_id": assigned,
        }
    )


async def test_a_case_tagged_text_is_filed_on_the_case(box: Box) -> None:
    open_case(box.db, 12)
    await box.text(ANNA, "#12 visited the home, all well")
    await box.text(ANNA, "#99 no such case")
    await box.settle()
    rows = list(box.db.query("SELECT case_id, callee_member_id, outcome FROM contacts"))
    assert rows == [{"case_id": 12, "callee_member_id": None, "outcome": "logged"}]
    assert box.sms_to(ANNA) == [
        "Filed on case #12.",
        "Not filed: there is no case #99. Text CASES for your open cases.",
    ]


async def test_done_completes_the_members_referral(box: Box) -> None:
    from directory.referrals import make_referral

    open_case(box.db, 12)
    ben = box.directory.member_by_extension("2003")
    assert ben is not None
    referral = make_referral(
        box.db, 12, "admin", service="health", consent=True, consent_by="aunt", to_member=ben.id
    )
    await box.text(BEN, "DONE 12")
    await box.text(BEN, "done 12")
    await box.text(ANNA, "DONE 12")  # nothing referred to her
    await box.settle()
    status = box.db.execute("SELECT status FROM referrals WHERE id = ?", (referral.id,))
    assert status.fetchone()[0] == "completed"
    assert box.sms_to(BEN) == [
        "Done: your referral on case #12 (health) is completed.",
        "Your referral on case #12 is already completed.",
    ]
    assert box.sms_to(ANNA)[0].startswith("You have no open referral on case #12.")


async def test_a_strangers_text_is_refused_and_not_answered(box: Box) -> None:
    assert await box.text("+256772999999", "2003 hello", "x-1") == 200
    assert await box.text("CUG-PROMO", "2003 win a prize", "x-2") == 200
    await box.settle()
    assert box.gateway.attempts == []
    assert box.db.execute("SELECT count(*) FROM texts").fetchone()[0] == 0


async def test_a_retried_delivery_is_taken_once(box: Box) -> None:
    for _ in range(3):
        assert await box.text(ANNA, "2003 only once", "kannel-uuid-1") == 200
    assert box.db.execute("SELECT count(*) FROM texts").fetchone()[0] == 1


async def test_a_ucs2_text_arrives_intact(box: Box) -> None:
    box.ami.reachable = {"2003"}
    await box.text(ANNA, "2003 Ekyo kiŋŋaanyi — ñ", charset="UTF-16BE")
    await box.settle()
    assert box.ami.bodies("2003") == ["Ekyo kiŋŋaanyi — ñ"]


async def test_an_unreadable_text_is_answered_not_retried(box: Box) -> None:
    assert await box.text(ANNA, b"\xff\xfe\x80 2003", charset="UTF-8") == 200
    await box.settle()
    assert box.sms_to(ANNA) == ["Your text could not be read (not plain text), so it was not sent."]


async def test_wrong_or_missing_credentials_are_refused(box: Box) -> None:
    assert await box.text(ANNA, "2003 hi", auth="sms:wrong") == 401
    assert await box.text(ANNA, "2003 hi", auth="kannel:" + SECRET) == 401
    answer = await box.client.post("/sms/kannel", params={"from": ANNA}, data=b"2003 hi")
    assert answer.status == 401
    assert box.db.execute("SELECT count(*) FROM texts").fetchone()[0] == 0


async def test_not_stored_is_a_5xx_so_the_gateway_retries(box: Box) -> None:
    box.db.execute("DROP TABLE inbound_sms")  # the store fails
    assert await box.text(ANNA, "2003 kept by Kannel", "m-9") == 503
    assert box.db.execute("SELECT count(*) FROM texts").fetchone()[0] == 0


async def test_a_flood_from_one_number_is_limited_and_told_once(box: Box) -> None:
    for n in range(8):  # 5 a minute allowed
        await box.text(ANNA, f"2003 flood {n}")
    await box.settle()
    assert box.db.execute("SELECT count(*) FROM texts WHERE kind = 'text'").fetchone()[0] == 5
    told = [t for t in box.sms_to(ANNA) if "texts in a minute" in t]
    assert len(told) == 1


async def test_the_gateway_down_keeps_the_answer_until_it_is_back(box: Box) -> None:
    box.gateway.fail()
    await box.text(ANNA, "WHO 2004")
    await box.settle()
    assert box.gateway.sent == [] and len(box.gateway.attempts) == 1
    box.gateway.recover()
    box.db.execute("UPDATE text_deliveries SET next_attempt_at = '2000-01-01'")  # retry time
    await box.settle()
    assert box.sms_to(ANNA)[0].startswith("2004: Sgt. Opio James")


async def test_the_daily_sms_cap_holds_texts_and_tells_member_and_supervisor(box: Box) -> None:
    ben = box.directory.member_by_extension("2003")
    assert ben is not None
    for n in range(4):  # 6 parts a day: 3 texts of 2 parts each, then the cap
        await box.text(ANNA, f"2003 {n} " + "x" * 200)
    await box.settle()
    await box.settle()
    got = box.sms_to(BEN)
    assert len(got) == 4  # 3 texts, then the cap notice (exempt from the cap)
    assert got[3].startswith("CUG: you reached today's limit of 6 SMS.")
    assert Spending(box.db).today(ben.id, "sms") == 6 + 1  # the notice counts, it is not held
    waiting = box.db.execute(
        "SELECT status, last_error FROM text_deliveries d JOIN texts t ON t.id = d.text_id "
        "WHERE t.body LIKE '3 %'"
    ).fetchone()
    assert tuple(waiting) == ("queued", "sms: daily cap reached")
    supervisor = box.sms_to("+256772100001")
    assert supervisor == [
        "CUG: Auma Christine (2003) reached today's limit of 6 SMS parts; more wait until "
        "tomorrow. Call them if something is urgent."
    ]
    assert box.delivery.costs.notify_cap_reached(ben.id, "sms") is False  # once a day
