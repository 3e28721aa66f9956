"""The live view: phones and calls from AMI answers (as Asterisk 22 sends them), within the
account's scope, asked at most once every CACHE_SECONDS; a link that is down is shown."""

from __future__ import annotations

from typing import Any

import pytest
import sqlite_utils

from directory.lookup import Directory
from tests.unit.site_client import Browser, accounts, site
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
    {"Event": "CoreShowChannelsComplete", "EventList": "Complete", "ListItems": "3"},
]


class FakeAmi:
    def __init__(self, up: bool = True) -> None:
        self.up = up
        self.asked: list[str] = []

    async def action(self, action: dict[str, str], timeout: float = 10) -> Any:
        self.asked.append(action["Action"])
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
    await live.snapshot(now=101.0)
    assert ami.asked == ["PJSIPShowContacts", "CoreShowChannels"]
    await live.snapshot(now=103.0)
    assert len(ami.asked) == 4
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
