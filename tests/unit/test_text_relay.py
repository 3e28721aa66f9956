"""The SMS relay without Asterisk: a text handed over by the dialplan is stored or refused
with the sender told why; the delivery worker sends in order over (a stand-in for) AMI,
queues for a phone that is off, falls back to SMS, expires and notifies."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlite_utils

from agi import variables as v
from agi.phone_presence import SUSPECT_WINDOW, TRIES_AFTER_AUTH, suspect_window
from agi.text_delivery import TextDelivery, display_name
from agi.text_intake import TextIntake
from agi.text_relay import TextRoutes
from directory.lookup import Directory
from directory.texts import TextStore
from routing.calls import Policy
from routing.texts import TextPolicy
from sms_gateway.gateway import SendStatus
from sms_gateway.testing import RecordingGateway


class Reply(dict):
    def __init__(self, success: bool, message: str = "", **fields: str) -> None:
        super().__init__(fields)
        self.success = success
        self.message = message


class FakeAmi:
    """Answers MessageSend like Asterisk: success for an extension with a reachable phone;
    Getvar of PJSIP_AOR(<ext>,contact) and PJSIP_CONTACT(<id>,status) from `contacts`."""

    def __init__(self) -> None:
        self.up = True  # the AMI link
        self.reachable: set[str] = set()
        self.sent: list[dict[str, str]] = []
        self.contacts: dict[str, dict[str, str]] = {}  # extension -> {contact id: status}
        self.read: list[str] = []

    async def action(self, action: dict[str, str], timeout: float = 10) -> Reply:
        if not self.up:
            raise ConnectionError("AMI link is down")
        if action["Action"] == "Getvar":
            return self._getvar(action["Variable"])
        assert action["Action"] == "MessageSend"
        ext = action["Destination"].removeprefix("pjsip:")
        if ext not in self.reachable:
            return Reply(False, "Message failed to send.")
        self.sent.append(action)
        return Reply(True)

    def _getvar(self, expression: str) -> Reply:
        self.read.append(expression)
        name, _, args = expression.rstrip(")").partition("(")
        subject, _, field = args.partition(",")
        if name == "PJSIP_AOR" and field == "contact":
            return Reply(True, Value=",".join(self.contacts.get(subject, {})))
        if name == "PJSIP_CONTACT" and field == "status":
            for contacts in self.contacts.values():
                if subject in contacts:
                    return Reply(True, Value=contacts[subject])
        return Reply(False, "Error")

    def bodies(self, ext: str) -> list[str]:
        return [
            base64.b64decode(a["Base64Body"]).decode()
            for a in self.sent
            if a["Destination"] == f"pjsip:{ext}"
        ]


class FakeCall:
    """What the dialplan hands member-text: From (base64), To, Content-Length, body (base64)."""

    def __init__(
        self,
        sender: str,
        to: str,
        body: bytes | str,
        length: int | None = None,
        from_header: str = "",
    ) -> None:
        raw = body.encode() if isinstance(body, str) else body
        self.args = [
            base64.b64encode((from_header or f"<sip:{sender}@127.0.0.1>").encode()).decode(),
            to,
            str(len(raw) if length is None else length),
            base64.b64encode(raw).decode(),
        ]
        self.sets: dict[str, str] = {}

    def arg(self, n: int) -> str:
        return self.args[n - 1]

    async def set_variable(self, name: str, value: str) -> None:
        assert name in v.SETTABLE
        self.sets[name] = value


def relay_on(
    directory: Directory, ami: FakeAmi | None = None
) -> tuple[TextRoutes, TextDelivery, FakeAmi]:
    ami = ami or FakeAmi()
    policy = TextPolicy(per_minute=5, sms_after_seconds=0)
    delivery = TextDelivery(directory.db, ami, policy)  # type: ignore[arg-type]
    return TextRoutes(TextIntake(directory, Policy(), policy, delivery)), delivery, ami


@pytest.fixture
def relay(directory: Directory) -> tuple[TextRoutes, TextDelivery, FakeAmi]:
    return relay_on(directory)


def statuses(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in db.execute(
            "SELECT m.extension, d.status FROM text_deliveries d JOIN texts t ON t.id = d.text_id "
            "JOIN members m ON m.id = d.recipient_member_id WHERE t.kind = 'text' ORDER BY d.id"
        )
    ]


async def text(routes: TextRoutes, sender: str, to: str, body: Any, **kw: Any) -> FakeCall:
    call = FakeCall(sender, to, body, **kw)
    await routes.member_text(call)  # type: ignore[arg-type]
    return call


async def test_a_text_goes_to_the_reachable_member_with_the_senders_name(relay) -> None:
    routes, delivery, ami = relay
    ami.reachable = {"2003"}
    call = await text(routes, "2002", "2003", "Mwana ali bulungi")
    assert call.sets[v.TEXT_RESULT] == "text"
    await delivery.pass_once()
    assert ami.bodies("2003") == ["Mwana ali bulungi"]
    assert ami.sent[0]["From"] == '"Okello Denis" <sip:2002@cug>'
    assert statuses(routes.store.db) == [("2003", "delivered")]


async def test_texts_wait_for_a_phone_that_is_off_and_go_in_order(relay) -> None:
    routes, delivery, ami = relay
    for body in ("one", "two", "three"):
        await text(routes, "2002", "0772100003", body)  # by phone number, local format
    await delivery.pass_once()
    assert statuses(routes.store.db) == [("2003", "queued")] * 3
    # Okello is told once per text that Auma cannot be reached; the notices wait for him too.
    told = ami.bodies("2002")
    assert told == []  # his phone is not reachable in this test either
    waiting = routes.store.pending_for(routes.directory.member_by_extension("2002").id)
    assert len(waiting) == 3 and all("cannot be reached now" in t.body for t in waiting)
    ami.reachable = {"2002", "2003"}
    delivery.on_contact_status({"ContactStatus": "Reachable", "AOR": "2003"})
    delivery.on_contact_status({"ContactStatus": "Created", "AOR": "2002"})
    await delivery.pass_once()
    assert ami.bodies("2003") == ["one", "two", "three"]
    delivery._last_scan = 0  # the periodic look: notices for texts that had to wait
    await delivery.pass_once()
    await delivery.pass_once()
    delivered = [b for b in ami.bodies("2002") if "was delivered to Auma Christine" in b]
    assert len(delivered) == 3


async def test_a_phone_that_stopped_answering_gets_its_recent_texts_again(relay) -> None:
    routes, delivery, ami = relay
    ami.reachable = {"2003"}
    await text(routes, "2002", "2003", "are you there")
    await delivery.pass_once()
    assert statuses(routes.store.db) == [("2003", "delivered")]
    # The phone vanished (no unregister); Asterisk's qualify finds it gone.
    ami.reachable = set()
    delivery.on_contact_status({"ContactStatus": "Unreachable", "AOR": "2003"})
    assert statuses(routes.store.db) == [("2003", "queued")]
    ami.reachable = {"2003"}
    delivery.on_contact_status({"ContactStatus": "Reachable", "AOR": "2003"})
    await delivery.pass_once()
    assert ami.bodies("2003") == ["are you there", "are you there"]


def registered(ext: str) -> dict[str, str]:
    """AMI SuccessfulAuth as Asterisk sends it for a member's REGISTER."""
    return {"Event": "SuccessfulAuth", "Service": "PJSIP", "AccountID": ext}


async def test_waiting_texts_go_out_when_the_phone_registers(relay) -> None:
    # Asterisk sends no ContactStatus for members (sorcery.conf): the REGISTER's successful
    # authentication is the sign, and the texts are tried once the contact is stored.
    routes, delivery, ami = relay
    await text(routes, "2002", "2003", "first")
    await text(routes, "2002", "2003", "second")
    await delivery.pass_once()
    assert statuses(routes.store.db) == [("2003", "queued")] * 2
    ami.reachable = {"2003"}
    delivery.presence.on_authenticated(registered("2003"))
    await asyncio.sleep(TRIES_AFTER_AUTH[0] + 0.1)
    await delivery.pass_once()
    assert ami.bodies("2003") == ["first", "second"]
    assert statuses(routes.store.db) == [("2003", "delivered")] * 2


async def test_a_registration_with_nothing_waiting_wakes_nobody(relay) -> None:
    routes, delivery, ami = relay
    ami.reachable = {"2002", "2003"}
    await text(routes, "2002", "2003", "for Auma")
    await delivery.pass_once()
    assert statuses(routes.store.db) == [("2003", "delivered")] and delivery._wanted == set()
    for event in (
        registered("2008"),  # nothing waits for 2008
        registered("2009"),  # deactivated
        {"Service": "AMI", "AccountID": "2003"},  # an AMI login named like her
        registered("2003\r\nAction: Originate"),  # not an extension
    ):
        delivery.presence.on_authenticated(event)
    await asyncio.sleep(TRIES_AFTER_AUTH[-1] + 0.1)
    assert delivery._wanted == set()


async def test_texts_handed_to_a_phone_that_then_fails_qualify_go_out_again(relay) -> None:
    routes, delivery, ami = relay
    clock = [1000.0]
    delivery.presence.clock = lambda: clock[0]
    ami.reachable = {"2003"}
    ami.contacts = {"2003": {"2003;@abc": "Reachable"}}
    await text(routes, "2002", "2003", "are you there")
    await delivery.pass_once()
    assert statuses(routes.store.db) == [("2003", "delivered")]
    window = SUSPECT_WINDOW.total_seconds()
    clock[0] += window - 1  # before a qualify has had time to fail, nothing is read
    assert await delivery.presence.check_due() == 0 and ami.read == []
    # The phone vanished; Asterisk's qualify found it gone; its registration is still there.
    ami.reachable, ami.contacts = set(), {"2003": {"2003;@abc": "Unreachable"}}
    clock[0] += 2
    assert await delivery.presence.check_due() == 1
    assert ami.read == ["PJSIP_AOR(2003,contact)", "PJSIP_CONTACT(2003;@abc,status)"]
    assert statuses(routes.store.db) == [("2003", "queued")]
    ami.reachable = {"2003"}
    delivery.presence.on_authenticated(registered("2003"))  # back on
    await asyncio.sleep(TRIES_AFTER_AUTH[0] + 0.1)
    await delivery.pass_once()
    assert ami.bodies("2003") == ["are you there", "are you there"]


async def handed_a_text(relay) -> list[float]:
    """Auma's phone took "hello"; the delivery worker's clock, which the test moves."""
    routes, delivery, ami = relay
    clock = [1000.0]
    delivery.presence.clock = lambda: clock[0]
    ami.reachable = {"2003"}
    await text(routes, "2002", "2003", "hello")
    await delivery.pass_once()
    assert statuses(routes.store.db) == [("2003", "delivered")]
    return clock


@pytest.mark.parametrize(
    "contacts",
    [
        {"2003;@abc": "Reachable"},  # answered a qualify after the text
        {"2003;@old": "Unreachable", "2003;@new": "Reachable"},  # a second phone answers
        {},  # unregistered: it said goodbye, it did not vanish
        {"2003;@abc": "Unknown"},  # not qualified yet: nothing known
    ],
)
async def test_texts_to_a_phone_not_found_gone_stay_delivered(relay, contacts) -> None:
    routes, delivery, ami = relay
    clock = await handed_a_text(relay)
    ami.contacts = {"2003": contacts}
    clock[0] += SUSPECT_WINDOW.total_seconds() + 1
    assert await delivery.presence.check_due() == 0
    assert statuses(routes.store.db) == [("2003", "delivered")]
    clock[0] += 1000  # read once: a later look reads nothing more
    reads = len(ami.read)
    assert await delivery.presence.check_due() == 0 and len(ami.read) == reads


async def test_texts_handed_just_before_a_restart_are_still_watched(
    directory: Directory,
) -> None:
    routes, delivery, ami = relay_on(directory)
    ami.reachable = {"2003"}
    await text(routes, "2002", "2003", "hello")
    await delivery.pass_once()
    db = routes.store.db

    def handed_ago(seconds: float) -> None:
        at = datetime.now(UTC) - timedelta(seconds=seconds)
        db.execute("UPDATE text_deliveries SET delivered_at = ?", (at.isoformat(),))

    gone = FakeAmi()
    gone.contacts = {"2003": {"2003;@abc": "Unreachable"}}
    handed_ago(10)  # the service restarts 10 s after: a qualify has not had its time yet
    assert await relay_on(directory, gone)[1].presence.check_due() == 0
    handed_ago(SUSPECT_WINDOW.total_seconds() + 2)  # or a qualify period after
    assert await relay_on(directory, gone)[1].presence.check_due() == 1
    assert statuses(db) == [("2003", "queued")]


@pytest.mark.parametrize(
    ("options", "seconds"),
    [
        ({"qualify_frequency": "60"}, 68),  # the shipped template: 60 + 3 (default) + 5
        ({"qualify_frequency": "300", "qualify_timeout": "5.0"}, 310),
        ({"qualify_frequency": "0"}, None),  # qualify off: nothing to read
        ({}, None),
        ({"qualify_frequency": "often"}, 68),  # unreadable: the shipped value
    ],
)
def test_the_window_follows_the_member_aor_template(options, seconds) -> None:
    window = suspect_window(options)
    assert (window.total_seconds() if window else None) == seconds


async def test_a_longer_qualify_period_is_waited_for(directory: Directory) -> None:
    ami = FakeAmi()
    ami.reachable = {"2003"}
    policy = TextPolicy(per_minute=5, sms_after_seconds=0)
    delivery = TextDelivery(  # type: ignore[arg-type]
        directory.db, ami, policy, suspect_window=suspect_window({"qualify_frequency": "300"})
    )
    routes = TextRoutes(TextIntake(directory, Policy(), policy, delivery))
    clock = [1000.0]
    delivery.presence.clock = lambda: clock[0]
    await text(routes, "2002", "2003", "hello")
    await delivery.pass_once()
    ami.contacts = {"2003": {"2003;@abc": "Unreachable"}}
    clock[0] += 100  # past the shipped 68 s, before this install's next qualify
    assert await delivery.presence.check_due() == 0 and ami.read == []
    clock[0] += 210
    assert await delivery.presence.check_due() == 1


async def test_a_phone_whose_status_cannot_be_read_is_read_later(relay) -> None:
    routes, delivery, ami = relay
    clock = await handed_a_text(relay)
    clock[0] += SUSPECT_WINDOW.total_seconds() + 1
    ami.up = False  # Asterisk restarting
    assert await delivery.presence.check_due() == 0
    ami.up, ami.contacts = True, {"2003": {"2003;@abc": "Unreachable"}}
    assert await delivery.presence.check_due() == 1
    assert statuses(routes.store.db) == [("2003", "queued")]


@pytest.mark.parametrize(
    ("to", "body", "length", "answer"),
    [
        ("2003", "   ", None, "was empty"),
        ("2003", "x" * 1601, None, "too long"),
        ("2003", "", 1500, "too long"),  # Asterisk dropped a body over 1,023 bytes
        ("2003", b"\xff\xfe", None, "could not be read"),
        ("2003", "bell \x07", None, "could not be read"),
        ("0772999999", "hi", None, "not a member"),
        ("116", "hi", None, "not to 116"),
        ("2003;x", "hi", None, "not a member"),
        ("2002", "hi", None, "your own number"),
        ("2009", "hi", None, "no longer a member"),
    ],
)
async def test_bad_texts_are_refused_and_the_sender_told_why(
    relay, to: str, body: Any, length: int | None, answer: str
) -> None:
    routes, delivery, ami = relay
    ami.reachable = {"2002", "2003"}
    call = await text(routes, "2002", to, body, length=length)
    assert call.sets[v.TEXT_RESULT] == "refused:"
    await delivery.pass_once()
    assert statuses(routes.store.db) == []  # nothing stored for anyone
    (told,) = ami.bodies("2002")
    assert answer in told and ami.sent[0]["From"] == '"CUG" <sip:199@cug>'


async def test_a_flood_from_one_member_is_held_at_the_limit(relay) -> None:
    routes, delivery, ami = relay
    ami.reachable = {"2002", "2003"}
    results = [(await text(routes, "2002", "2003", f"n{i}")).sets[v.TEXT_RESULT] for i in range(8)]
    # Five a minute; the sixth is answered "too many", later ones are dropped unanswered.
    assert results == ["text"] * 5 + ["refused:"] + ["dropped:"] * 2
    # Commands and refused texts count too: a phone answering the service cannot loop.
    assert (await text(routes, "2002", "199", "HELP")).sets[v.TEXT_RESULT] == "dropped:"
    await delivery.pass_once()
    assert ami.bodies("2003") == [f"n{i}" for i in range(5)]
    assert sum("more than 5 texts in a minute" in b for b in ami.bodies("2002")) == 1


async def test_a_display_name_cannot_make_the_text_someone_elses(relay) -> None:
    routes, delivery, ami = relay
    ami.reachable = {"2003"}
    # Member 2002 passed digest auth as 2002 (the URI); her phone chose the display name.
    await text(routes, "", "2003", "from your supervisor", from_header='"sip:2001@x" <sip:2002@h>')
    await delivery.pass_once()
    assert ami.sent[0]["From"] == '"Okello Denis" <sip:2002@cug>'


async def test_no_delivery_is_tried_while_the_ami_link_is_down(relay) -> None:
    routes, delivery, ami = relay
    ami.up = False
    await text(routes, "2002", "2003", "hello")
    await delivery.pass_once()
    assert ami.sent == [] and statuses(routes.store.db) == [("2003", "queued")]
    assert routes.store.db.execute("SELECT attempts FROM text_deliveries").fetchone()[0] == 0
    ami.up, ami.reachable = True, {"2003"}
    delivery.wake(routes.directory.member_by_extension("2003").id)
    await delivery.pass_once()
    assert ami.bodies("2003") == ["hello"]


async def test_texts_to_a_member_deactivated_meanwhile_fail_and_the_sender_is_told(relay) -> None:
    routes, delivery, ami = relay
    ami.reachable = {"2002"}
    await text(routes, "2002", "2003", "hello")
    routes.store.db.execute("UPDATE members SET active = 0 WHERE extension = '2003'")
    delivery._last_scan = 0
    await delivery.pass_once()
    await delivery.pass_once()
    assert statuses(routes.store.db) == [("2003", "failed")]
    assert any("could NOT be delivered" in b for b in ami.bodies("2002"))


async def test_every_queued_text_of_an_unreachable_member_waits_a_minute(relay) -> None:
    routes, delivery, ami = relay
    for body in ("a", "b", "c"):
        await text(routes, "2002", "2003", body)
    await delivery.pass_once()
    due = routes.store.db.execute(
        "SELECT count(*) FROM text_deliveries WHERE next_attempt_at > ? AND status = 'queued' "
        "AND recipient_member_id = (SELECT id FROM members WHERE extension = '2003')",
        ((datetime.now(UTC) + timedelta(seconds=50)).isoformat(),),
    ).fetchone()[0]
    assert due == 3  # none of them is tried again at the next 5-s look


async def test_a_team_text_reaches_every_member_of_the_team(relay) -> None:
    routes, delivery, ami = relay
    db = routes.store.db
    db.execute("INSERT INTO short_codes VALUES ('106', 'role', 'psw', NULL, 'PSWs of Oyam')")
    ami.reachable = {"2003", "2008"}
    await text(routes, "2002", "106", "meeting at 3")
    await delivery.pass_once()
    # Every active PSW of Oyam but the sender; 2009 is inactive.
    assert sorted(statuses(db)) == [("2003", "delivered"), ("2008", "delivered")]
    assert ami.bodies("2003") == ["(to PSWs of Oyam) meeting at 3"]


async def test_a_big_team_is_texted_by_leads_only(directory: Directory) -> None:
    ami = FakeAmi()
    policy = TextPolicy(team_limit=1)
    delivery = TextDelivery(directory.db, ami, policy)  # type: ignore[arg-type]
    routes = TextRoutes(TextIntake(directory, Policy(), policy, delivery))
    directory.db.execute("INSERT INTO short_codes VALUES ('106', 'role', 'psw', NULL, 'PSWs')")
    refused = await text(routes, "2002", "106", "to all PSWs")  # a para-social worker
    assert refused.sets[v.TEXT_RESULT] == "refused:"
    assert (
        "only supervisors"
        in routes.store.pending_for(directory.member_by_extension("2002").id)[0].body
    )
    sent = await text(routes, "2001", "106", "meeting at 3")  # their supervisor
    assert sent.sets[v.TEXT_RESULT] == "text"
    assert sorted(statuses(directory.db)) == [
        ("2002", "queued"),
        ("2003", "queued"),
        ("2008", "queued"),
    ]


async def test_a_case_tag_files_the_text_on_the_case(relay) -> None:
    routes, delivery, ami = relay
    db = routes.store.db
    db["cases"].insert(
        {
            "id": 41,
            "reference": "CUG-41",
            "district": "Oyam",
            "category": "neglect",
            "urgency": "normal",
            "status": "open",
            "reported_at": "2026-11-01T00:00:00+00:00",
        }
    )
    await text(routes, "2002", "2003", "#41 visited the home")
    await text(routes, "2002", "2003", "#999 no such case")
    rows = list(db.query("SELECT case_id, link FROM contacts WHERE kind = 'text' ORDER BY id"))
    assert rows == [{"case_id": 41, "link": "prefix"}, {"case_id": None, "link": ""}]


async def test_commands_are_answered(relay) -> None:
    routes, delivery, ami = relay
    ami.reachable = {"2002"}
    routes.store.db["cases"].insert(
        {
            "id": 7,
            "reference": "CUG-7",
            "district": "Oyam",
            "category": "neglect",
            "urgency": "normal",
            "status": "open",
            "reported_at": "2026-11-01T00:00:00+00:00",
            "assigned_member_id": routes.directory.member_by_extension("2002").id,
            "follow_up_due": "2026-12-01T21:00:00+00:00",
        }
    )
    for body in ("WHO 2004", "who 2009", "cases", "HELP", "what?"):
        await text(routes, "2002", "199", body)
    await delivery.pass_once()
    answers = ami.bodies("2002")
    assert answers[0].startswith("2004: Sgt. Opio James, Police")
    assert answers[1] == "No active member has extension 2009."
    # Follow-up due 21:00 UTC on the 1st is midnight on the 2nd in Kampala.
    assert answers[2] == "Your open cases (1): #7 neglect (follow up 2026-12-02)."
    assert answers[3].startswith("CUG texts:") and answers[4].startswith("CUG texts:")


async def test_the_systems_answers_never_go_by_sms(directory: Directory) -> None:
    ami, gateway = FakeAmi(), RecordingGateway()
    policy = TextPolicy(sms_after_seconds=0)
    delivery = TextDelivery(directory.db, ami, policy, gateway)  # type: ignore[arg-type]
    routes = TextRoutes(TextIntake(directory, Policy(), policy, delivery))
    await text(routes, "2002", "0772999999", "to a stranger")  # refused: 2002 is told
    await text(routes, "2002", "199", "HELP")
    delivery._last_scan = 0
    await delivery.pass_once()
    assert gateway.attempts == []


async def test_a_text_the_gateway_refuses_waits_for_the_phone(directory: Directory) -> None:
    ami, gateway = FakeAmi(), RecordingGateway()
    policy = TextPolicy(sms_after_seconds=0)
    delivery = TextDelivery(directory.db, ami, policy, gateway)  # type: ignore[arg-type]
    routes = TextRoutes(TextIntake(directory, Policy(), policy, delivery))
    gateway.fail(SendStatus.REJECTED, "too long for the gateway")
    await text(routes, "2002", "2003", "a long story")
    await delivery.pass_once()
    assert statuses(directory.db) == [("2003", "queued")]
    gateway.recover()
    delivery._last_scan = 0
    await delivery.pass_once()
    assert len(gateway.attempts) == 1  # not tried by SMS again
    ami.reachable = {"2003"}
    delivery.on_contact_status({"ContactStatus": "Reachable", "AOR": "2003"})
    await delivery.pass_once()
    assert ami.bodies("2003") == ["a long story"]


async def test_without_a_phone_a_member_gets_the_text_by_sms(directory: Directory) -> None:
    ami, gateway = FakeAmi(), RecordingGateway()
    policy = TextPolicy(sms_after_seconds=0)
    delivery = TextDelivery(directory.db, ami, policy, gateway)  # type: ignore[arg-type]
    routes = TextRoutes(TextIntake(directory, Policy(), policy, delivery))

    async def next_try() -> None:
        directory.db.execute("UPDATE text_deliveries SET next_attempt_at = ''")
        delivery._last_scan = 0
        await delivery.pass_once()

    await text(routes, "2002", "2003", "call me")
    gateway.fail(SendStatus.FAILED, "gateway down", times=1)
    await delivery.pass_once()  # no phone registered, and the gateway is down: it waits
    assert statuses(directory.db) == [("2003", "queued")]
    await next_try()
    to_auma = [a.text for a in gateway.sent if a.to_e164 == "+256772100003"]
    assert to_auma == ["CUG from Okello Denis (2002): call me"]
    assert statuses(directory.db) == [("2003", "delivered")]


async def test_a_text_nobody_could_get_expires_and_the_sender_is_told(relay) -> None:
    routes, delivery, ami = relay
    await text(routes, "2002", "2003", "urgent: the child moved")
    routes.store.db.execute("UPDATE text_deliveries SET expires_at = '2000-01-01'")
    ami.reachable = {"2002"}
    delivery._last_scan = 0
    await delivery.pass_once()
    await delivery.pass_once()
    assert statuses(routes.store.db) == [("2003", "expired")]
    assert any("could NOT be delivered to Auma Christine" in b for b in ami.bodies("2002"))
    contact = routes.store.db.execute("SELECT outcome FROM contacts WHERE kind = 'text'").fetchone()
    assert contact[0] == "expired"


def test_bodies_are_purged_after_the_retention_and_the_contact_stays(directory: Directory) -> None:
    store = TextStore(directory.db)
    ids = [m.id for m in (directory.member_by_extension(e) for e in ("2002", "2003")) if m]
    text_id, (delivery_id,) = store.store(
        kind="text",
        sender_id=ids[0],
        addressed="2003",
        body="secret",
        recipients=[ids[1]],
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    store.delivered([delivery_id], "sip")
    assert store.purge_bodies(timedelta(days=30)) == 0  # delivered just now: kept
    later = datetime.now(UTC) + timedelta(days=31)
    assert store.purge_bodies(timedelta(days=30), at=later) == 1
    row = directory.db["texts"].get(text_id)
    assert row["body"] is None and row["purged_at"]
    assert (
        directory.db.execute("SELECT count(*) FROM contacts WHERE kind = 'text'").fetchone()[0] == 1
    )


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ('Okello "Denis"', "Okello Denis"),
        ("A <b>\\", "A b"),
        ("\n\x00", "Member"),
        ("Ñ" * 50, "Ñ" * 40),
    ],
)
def test_display_names_cannot_break_the_from_header(name: str, shown: str) -> None:
    assert display_name(name) == shown
