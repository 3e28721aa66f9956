"""The live view: phones and calls from AMI answers (as Asterisk 22 sends them), within the
account's scope, asked at most once every CACHE_SECONDS; a link that is down is shown."""

from __future__ import annotations

from typing import Any

import pytest
import sqlite_utils

from directory.lookup import Directory
from tests.unit.site_client import Browser, accounts, site
from tests.unit.test_conference_log import FakeAmi as ConferenceAmi
from tests.unit.test_conference_log import person
from web.live_view import LiveView

CONTACTS = [
    {"Response": "Success", "EventList": "start", "Message": "A listing of Contacts follows"},
    {
        "Event": "ContactList",
        "ObjectName": "2002@@abc",
        "Aor": "2002",
        "Endpoint": "2002",
        "Status": "Reachable",
        "RoundtripUsec": "1834",
        "Uri": "sip:2002@127.0.0.1:5071;ob",
    },
    {
        "Event": "ContactList",
        "ObjectName": "2012@@def",
        "Aor": "2012",
        "Endpoint": "2012",
        "Status": "NonQualified",
        "RoundtripUsec": "N/A",
        "Uri": "sip:2012@127.0.0.1:5072",
    },
    {"Event": "ContactListComplete", "EventList": "Complete", "ListItems": "2"},
]
CHANNELS = [
    {"Response": "Success", "EventList": "start", "Message": "Channels will follow"},
    {
        "Event": "CoreShowChannel",
        "Channel": "PJSIP/2002-00000001",
        "CallerIDNum": "2002",
        "ConnectedLineNum": "2003",
        "Exten": "2003",
        "ChannelStateDesc": "Up",
        "Duration": "00:01:05",
        "Linkedid": "1733.1",
    },
    {
        "Event": "CoreShowChannel",
        "Channel": "PJSIP/2003-00000002",
        "CallerIDNum": "2003",
        "ConnectedLineNum": "2002",
        "Exten": "s",
        "ChannelStateDesc": "Up",
        "Duration": "00:01:04",
        "Linkedid": "1733.1",
    },
    {
        "Event": "CoreShowChannel",
        "Channel": "PJSIP/2012-00000003",
        "CallerIDNum": "2012",
        "ConnectedLineNum": "2014",
        "Exten": "2014",
        "ChannelStateDesc": "Ringing",
        "Duration": "00:00:03",
        "Linkedid": "1734.3",
    },
    {
        # The channel Asterisk runs texts' dialplan on: kept from the first text on, no call.
        "Event": "CoreShowChannel",
        "Channel": "Message/ast_msg_queue",
        "CallerIDNum": "<unknown>",
        "ConnectedLineNum": "<unknown>",
        "Exten": "3003",
        "ChannelStateDesc": "Up",
        "Duration": "00:09:19",
        "Linkedid": "1700.0",
    },
    {"Event": "CoreShowChannelsComplete", "EventList": "Complete", "ListItems": "4"},
]


class FakeAmi:
    """Phones and calls as above; conferences as Asterisk 22 lists them (none by default)."""

    def __init__(self, up: bool = True, rooms: dict[str, list[dict[str, str]]] | None = None):
        self.up = up
        self.asked: list[str] = []
        self.rooms = ConferenceAmi(rooms or {})

    async def action(self, action: dict[str, str], timeout: float = 10) -> Any:
        self.asked.append(action["Action"])
        if action["Action"].startswith("Confbridge"):
            return await self.rooms.action(action)
        return {"PJSIPShowContacts": CONTACTS, "CoreShowChannels": CHANNELS}[action["Action"]]


@pytest.fixture
def staffed(db: sqlite_utils.Database, directory: Directory) -> sqlite_utils.Database:
    accounts(db)
    return db


async def test_snapshot_reads_phones_and_calls_and_is_cached() -> None:
    ami = FakeAmi()
    live = LiveView(ami)
    shot = await live.snapshot(now=100.0)
    assert [(p.extension, p.status, p.roundtrip_ms) for p in shot.phones] == [
        ("2002", "Reachable", 1),
        ("2012", "NonQualified", None),
    ]
    assert shot.phones[0].address == "127.0.0.1:5071"
    assert [(c.caller, c.connected, c.state, c.seconds) for c in shot.calls][0] == (
        "2002",
        "2003",
        "Up",
        65,
    )
    assert [c.channel for c in shot.calls] == [  # calls only, not the texts' channel
        "PJSIP/2002-00000001",
        "PJSIP/2003-00000002",
        "PJSIP/2012-00000003",
    ]
    await live.snapshot(now=101.0)
    assert ami.asked == ["PJSIPShowContacts", "CoreShowChannels", "ConfbridgeListRooms"]
    await live.snapshot(now=103.0)
    assert len(ami.asked) == 6
    down = await LiveView(FakeAmi(up=False)).snapshot()
    assert not down.ami_up and down.phones == [] and "down" in down.problem


async def test_the_live_page_shows_what_the_account_may_see(
    staffed: sqlite_utils.Database,
) -> None:
    async with site(staffed, ami=FakeAmi()) as client:
        b = Browser(client)
        await b.login("oyam")
        status, page = await b.get("/admin/live")
        assert status == 200 and "AMI link up" in page and 'hx-trigger="every 5s"' in page
        assert "PJSIP/2002-00000001" in page and "Okello Denis" in page
        assert "2012" not in page and "Waiswa" not in page
        status, panel = await b.get("/admin/live/panel")
        assert "<html" not in panel and "Calls in progress (2 channels)" in panel
        await b.logout()
        await b.login("nat")
        status, page = await b.get("/admin/live")
        assert "PJSIP/2012-00000003" in page and "Phones registered (2)" in page


async def test_the_member_list_filters_by_phones_registered_now(
    staffed: sqlite_utils.Database,
) -> None:
    async with site(staffed, ami=FakeAmi()) as client:
        b = Browser(client)
        await b.login("nat")
        status, page = await b.get("/admin/members?registered=yes")
        assert status == 200 and "2 members" in page
        assert "Okello Denis" in page and "Waiswa Moses" in page
        status, page = await b.get("/admin/members?registered=no&district=Oyam")
        assert "Okello Denis" not in page and "Auma Christine" in page
    async with site(staffed, ami=FakeAmi(up=False)) as client:
        b = Browser(client)
        await b.login("nat")
        assert "0 members" in (await b.get("/admin/members?registered=yes"))[1]


async def test_conferences_in_progress_are_shown_within_the_accounts_scope(
    staffed: sqlite_utils.Database, directory: Directory
) -> None:
    okello, auma, waiswa = (directory.member_by_extension(x) for x in ("2002", "2003", "2012"))
    assert okello and auma and waiswa
    rooms = {
        "cug-case-7": [
            person(okello.id, "1.1", Admin="Yes", AnsweredTime="75", Waiting="No"),
            person(auma.id, "1.2", CallerIDNum="2003", Muted="Yes", Waiting="No"),
            person(waiswa.id, "1.3", CallerIDNum="2012", Waiting="No"),
        ],
        "cug-bridge-2": [person(waiswa.id, "2.1", CallerIDNum="2012")],
        "someone-elses-room": [person(okello.id, "3.1")],  # not the service's: not asked
    }
    ami = FakeAmi(rooms=rooms)
    shot = await LiveView(ami).snapshot(now=5.0)
    assert [c.name for c in shot.conferences] == ["cug-bridge-2", "cug-case-7"]
    assert ami.asked.count("ConfbridgeList") == 2
    # Asterisk without ConfBridge (or refusing the action): phones and calls are still shown.
    broken = FakeAmi(rooms=rooms)
    broken.rooms = None  # type: ignore[assignment]
    shot = await LiveView(broken).snapshot(now=5.0)
    assert len(shot.phones) == 2 and shot.conferences == [] and "conferences" in shot.problem
    async with site(staffed, ami=FakeAmi(rooms=rooms)) as client:
        b = Browser(client)
        await b.login("oyam")
        status, panel = await b.get("/admin/live/panel")
        assert status == 200 and "Conferences in progress (1)" in panel
        assert "Okello Denis (2002), leader, 75 s" in panel
        assert "Auma Christine (2003), muted" in panel
        assert "Waiswa" not in panel and "cug-bridge-2" not in panel  # Jinja's: only counted
        assert "<td>1</td>" in panel
        await b.logout()
        await b.login("nat")
        status, panel = await b.get("/admin/live/panel")
        assert "Conferences in progress (2)" in panel and "Waiswa Moses (2012), waiting" in panel
    async with site(staffed, ami=FakeAmi()) as client:
        b = Browser(client)
        await b.login("nat")
        status, panel = await b.get("/admin/live/panel")
        assert "No conferences." in panel and "AMI link up</p>" in panel.replace("\n", "")
