"""Participation in conferences as contacts: from Confbridge events, ConfbridgeList after a
gap, and the call's CDR; one contact per member's channel however often it is seen."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlite_utils

from agi.bridge_routes import conference_tags
from agi.call_tags import encode
from agi.conference_log import ConferenceLog, running_conferences, who
from agi.contact_log import Cdr, ContactLog, conference_case
from directory.lookup import Directory


class FakeAmi:
    """Answers ConfbridgeListRooms and ConfbridgeList as Asterisk 22 does (recorded fields)."""

    up = True

    def __init__(self, rooms: dict[str, list[dict[str, str]]]) -> None:
        self.rooms = rooms

    async def action(self, action: dict[str, str], timeout: float = 10) -> Any:
        if action["Action"] == "ConfbridgeListRooms":
            if not self.rooms:
                return {"Response": "Error", "Message": "No active conferences."}
            listed = [
                {
                    "Event": "ConfbridgeListRooms",
                    "Conference": name,
                    "Parties": str(len(p)),
                    "Locked": "No",
                }
                for name, p in self.rooms.items()
            ]
            return [
                {"Response": "Success", "EventList": "start"},
                *listed,
                {"Event": "ConfbridgeListRoomsComplete"},
            ]
        people = [
            {"Event": "ConfbridgeList", "Conference": action["Conference"], **p}
            for p in self.rooms[action["Conference"]]
        ]
        return [
            {"Response": "Success", "EventList": "start"},
            *people,
            {"Event": "ConfbridgeListComplete"},
        ]


def person(member_id: int, uniqueid: str, **extra: str) -> dict[str, str]:
    return {
        "Channel": "PJSIP/2002-00000001",
        "Uniqueid": uniqueid,
        "Linkedid": uniqueid,
        "CallerIDNum": "2002",
        "ChanVariable": f"CUG_CONF_MEMBER={member_id}",
        "Admin": "No",
        "MarkedUser": "No",
        "Waiting": "Yes",
        "Muted": "No",
        "AnsweredTime": "12",
        **extra,
    }


def rows(db: sqlite_utils.Database) -> list[dict]:
    return list(db["contacts"].rows_where("kind = 'conference'", order_by="id"))


def test_who_takes_only_digits_from_the_channel_variable() -> None:
    assert who({"ChanVariable": "CUG_CONF_MEMBER=12"}) == (12, None)
    assert who({"ChanVariable": "CUG_CONF_MEMBER=12-3"}) == (12, 3)
    assert who({"ChanVariable": "CUG_CONF_MEMBER=12;DROP"}) == (None, None)
    assert who({}) == (None, None)
    assert conference_case("cug-case-41") == 41 and conference_case("cug-bridge-4") is None


def test_join_and_leave_make_one_contact_and_the_cdr_adds_nothing_twice(
    directory: Directory,
) -> None:
    anna = directory.member_by_extension("2002")
    assert anna is not None
    log = ConferenceLog(ContactLog(directory.db))
    event = {**person(anna.id, "1700000000.7"), "Conference": "cug-bridge-1"}
    log.on_join(event)
    (row,) = rows(directory.db)
    assert row["caller_member_id"] == anna.id and row["ended_at"] is None
    log.on_leave(event)
    log.on_join({**event, "Conference": "somebody-elses"})  # not the service's: ignored
    log.on_join({**event, "ChanVariable": ""})  # no member: ignored
    contacts = ContactLog(directory.db)
    cdr = Cdr(
        uniqueid="1700000000.7",
        linkedid="1700000000.7",
        channel="PJSIP/2002-00000001",
        dstchannel="CBAnn/cug-bridge-1-00000000;1",
        lastapp="ConfBridge",
        start="2026-12-04 10:00:00",
        answer="2026-12-04 10:00:01",
        end="2026-12-04 10:05:00",
        disposition="ANSWERED",
        userfield=conference_tags(anna.id, "cug-bridge-1"),
        src="2002",
        dst="105",
    )
    announcer = Cdr(
        **{
            **cdr.__dict__,
            "channel": "CBAnn/cug-bridge-1-00000000;1",
            "userfield": "",
            "uniqueid": "1700000000.8",
        }
    )
    contacts.write([cdr, announcer])
    (row,) = rows(directory.db)
    assert row["ended_at"] and row["placed_at"] <= row["ended_at"]
    assert row["dialed"] == "cug-bridge-1" and row["case_id"] is None


def test_a_call_that_never_got_past_the_pin_is_no_participation(directory: Directory) -> None:
    anna = directory.member_by_extension("2002")
    assert anna is not None
    cdr = Cdr(
        "1.1",
        "1.1",
        "PJSIP/2002-00000002",
        "",
        "AGI",
        "2026-12-04 10:00:00",
        "2026-12-04 10:00:01",
        "2026-12-04 10:00:30",
        "ANSWERED",
        encode_pin(anna.id),
        "2002",
        "105",
    )
    ContactLog(directory.db).write([cdr])
    assert directory.db.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0


def encode_pin(member_id: int) -> str:
    from agi.call_tags import CallTags

    return encode(CallTags(dialed="105", caller_id=member_id, kind="conference-pin"))


def test_after_a_gap_who_is_in_a_conference_now_is_caught_up_once(directory: Directory) -> None:
    anna = directory.member_by_extension("2002")
    ben = directory.member_by_extension("2003")
    assert anna is not None and ben is not None
    ami = FakeAmi(
        {
            "cug-case-3": [
                person(anna.id, "1.1"),
                person(ben.id, "1.2", ChanVariable=f"CUG_CONF_MEMBER={ben.id}-{anna.id}"),
            ],
            "someone-else": [person(anna.id, "1.3")],
        }
    )
    log = ConferenceLog(ContactLog(directory.db))
    listed = asyncio.run(running_conferences(ami))  # type: ignore[arg-type]
    assert [c.name for c in listed] == ["cug-case-3"]
    assert listed[0].participants[0].waiting and listed[0].participants[0].seconds == 12
    assert asyncio.run(log.catch_up(ami)) == 2  # type: ignore[arg-type]
    assert asyncio.run(log.catch_up(ami)) == 0  # type: ignore[arg-type]
    found = {r["caller_member_id"]: r for r in rows(directory.db)}
    assert found[ben.id]["callee_member_id"] == anna.id  # invited by Anna
    assert found[anna.id]["placed_at"] is not None and found[anna.id]["ended_at"] is None
    assert asyncio.run(running_conferences(FakeAmi({}))) == []  # type: ignore[arg-type]


def test_after_a_gap_a_conference_asterisk_no_longer_runs_has_ended(directory: Directory) -> None:
    from directory.conferences import ConferenceStore

    store = ConferenceStore(directory.db)
    store.start("cug-case-1", None, "test", None, [], None)
    store.start("cug-case-2", None, "test", None, [], None)
    directory.db.execute("UPDATE conferences SET started_at = '2026-01-01T00:00:00+00:00'")
    directory.db.conn.commit()
    anna = directory.member_by_extension("2002")
    assert anna is not None
    ami = FakeAmi({"cug-case-2": [person(anna.id, "1.1")]})
    asyncio.run(ConferenceLog(ContactLog(directory.db)).catch_up(ami))  # type: ignore[arg-type]
    assert store.running("cug-case-1") is None
    assert store.running("cug-case-2") is not None


def test_after_a_gap_who_left_meanwhile_may_be_invited_again(directory: Directory) -> None:
    """A leave missed while the AMI link was down: whoever Asterisk no longer lists in the
    conference is marked left, so an invitation calls them again rather than saying they
    are in it."""
    from directory.conferences import ConferenceStore

    anna, ben = directory.member_by_extension("2002"), directory.member_by_extension("2003")
    assert anna is not None and ben is not None
    store = ConferenceStore(directory.db)
    store.start("cug-case-2", None, "test", anna.id, [(anna.id, True), (ben.id, False)], None)
    for _ in range(2):  # the leader first, then the others
        for call in store.claim_due():
            store.settle(call.id, "answered")
    directory.db.execute("UPDATE conference_calls SET updated_at = '2026-01-01T00:00:00+00:00'")
    directory.db.conn.commit()
    ami = FakeAmi({"cug-case-2": [person(anna.id, "1.1")]})  # Ben hung up meanwhile
    asyncio.run(ConferenceLog(ContactLog(directory.db)).catch_up(ami))  # type: ignore[arg-type]
    status = dict(directory.db.execute("SELECT member_id, status FROM conference_calls").fetchall())
    assert status == {anna.id: "answered", ben.id: "left"}
    _, calls, _ = store.start("cug-case-2", None, "test", anna.id, [(ben.id, False)], anna.id)
    assert len(calls) == 1  # called again


def test_after_a_gap_participations_asterisk_no_longer_lists_are_closed(
    directory: Directory,
) -> None:
    """Asterisk crashed (no leave event, no CDR): whoever it no longer lists in a conference
    is no longer taken as in it, so a later invitation or conference calls them."""
    from directory.conferences import ConferenceStore

    anna, ben = directory.member_by_extension("2002"), directory.member_by_extension("2003")
    assert anna is not None and ben is not None
    log = ConferenceLog(ContactLog(directory.db))
    for member_id, uniqueid in ((anna.id, "1.1"), (ben.id, "1.2")):
        log.on_join({**person(member_id, uniqueid), "Conference": "cug-case-3"})
    directory.db.execute("UPDATE contacts SET placed_at = '2026-01-01T00:00:00+00:00'")
    directory.db.conn.commit()
    store = ConferenceStore(directory.db)
    assert store.present("cug-case-3") == {anna.id, ben.id}
    ami = FakeAmi({"cug-case-3": [person(anna.id, "1.1")]})  # Ben's call is gone
    asyncio.run(log.catch_up(ami))  # type: ignore[arg-type]
    assert store.present("cug-case-3") == {anna.id}
    _, calls, _ = store.start(
        "cug-case-3", None, "test", anna.id, [(anna.id, True), (ben.id, False)], None
    )
    assert len(calls) == 1  # Ben is called; Anna, in it, is not
