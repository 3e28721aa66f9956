"""Who is in a conference, from Asterisk: AMI's ConfbridgeJoin/Leave events live, and
ConfbridgeListRooms/ConfbridgeList to see the conferences running now (`cug conference
list`, and to catch up on joins missed while the AMI link was down).

Every participation is a contact of kind conference (agi/contact_log.py,
participation_contact), keyed by the member's channel: a join seen live, again from the
list, and again from the call's CDR after it ended is one contact. Event values are
untrusted: only digits are taken from CUG_CONF_MEMBER, and the conference name must be one
of the service's own (cug-bridge-<id>, cug-case-<case>).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from agi.ami import AmiLink
from agi.contact_log import CONFERENCE_KIND, ContactLog, participation_contact
from agi.variables import CONF_MEMBER
from directory.audit import now
from directory.conferences import ConferenceStore
from directory.transactions import writing

log = logging.getLogger(__name__)

_WHO = re.compile(rf"^{CONF_MEMBER}=([0-9]{{1,9}})(?:-([0-9]{{1,9}}))?$")
CONFERENCE_NAME = re.compile(r"^cug-(?:bridge|case)-[0-9]{1,9}$")
_UNIQUEID = re.compile(r"^[0-9A-Za-z.\-_]{1,64}$")


def who(event: dict[str, str]) -> tuple[int | None, int | None]:
    """(member id, invited by) from the event's CUG_CONF_MEMBER, or (None, None)."""
    found = _WHO.match(event.get("ChanVariable", ""))
    if not found:
        return None, None
    inviter = int(found.group(2)) if found.group(2) else None
    return int(found.group(1)), inviter


@dataclass
class Participant:
    member_id: int | None
    invited_by: int | None
    channel: str
    uniqueid: str
    caller_id: str
    leader: bool
    waiting: bool
    muted: bool
    seconds: int


@dataclass
class Conference:
    name: str
    locked: bool = False
    muted: bool = False  # the leader muted everyone else (key 2); ConfbridgeList shows self-mute
    participants: list[Participant] = field(default_factory=list)


def _participant(event: dict[str, str]) -> Participant:
    member_id, inviter = who(event)
    try:
        seconds = int(event.get("AnsweredTime", "0"))
    except ValueError:
        seconds = 0
    return Participant(
        member_id=member_id,
        invited_by=inviter,
        channel=event.get("Channel", "")[:80],
        uniqueid=event.get("Uniqueid", ""),
        caller_id=re.sub(r"[^0-9+]", "", event.get("CallerIDNum", ""))[:20],
        leader=event.get("Admin") == "Yes" or event.get("MarkedUser") == "Yes",
        waiting=event.get("Waiting") == "Yes",
        muted=event.get("Muted") == "Yes",
        seconds=max(0, seconds),
    )


def _messages(reply: Any) -> list[dict[str, str]]:
    items = reply if isinstance(reply, list) else [reply]
    return [{str(k): str(v) for k, v in m.items()} for m in items]


async def running_conferences(ami: AmiLink) -> list[Conference]:
    """The conferences Asterisk runs now, each with its participants (ConfbridgeListRooms,
    then ConfbridgeList for each of the service's own)."""
    rooms = _messages(await ami.action({"Action": "ConfbridgeListRooms"}))
    found: list[Conference] = []
    for room in rooms:
        name = room.get("Conference", "")
        if room.get("Event") != "ConfbridgeListRooms" or not CONFERENCE_NAME.match(name):
            continue
        conference = Conference(
            name, locked=room.get("Locked") == "Yes", muted=room.get("Muted") == "Yes"
        )
        listed = _messages(await ami.action({"Action": "ConfbridgeList", "Conference": name}))
        conference.participants = [
            _participant(e) for e in listed if e.get("Event") == "ConfbridgeList"
        ]
        found.append(conference)
    return found


class ConferenceLog:
    """Writes each participation into the contact log as ConfBridge reports it."""

    def __init__(self, contacts: ContactLog) -> None:
        self.contacts = contacts
        self.db = contacts.db

    def _row(self, event: dict[str, str], joined_at: str | None, left_at: str | None):  # noqa: ANN202
        conference, uniqueid = event.get("Conference", ""), event.get("Uniqueid", "")
        if not CONFERENCE_NAME.match(conference) or not _UNIQUEID.match(uniqueid):
            return None
        member_id, inviter = who(event)
        if member_id is None:
            return None
        linkedid = event.get("Linkedid", "")
        return participation_contact(
            uniqueid,
            member_id=member_id,
            conference=conference,
            invited_by=inviter,
            joined_at=joined_at,
            left_at=left_at,
            linkedid=linkedid if _UNIQUEID.match(linkedid) else uniqueid,
        )

    def on_join(self, event: dict[str, str]) -> None:
        row = self._row(event, now(), None)
        if row is not None:
            self.contacts.write_rows([row])

    def on_leave(self, event: dict[str, str]) -> None:
        row = self._row(event, None, now())
        if row is not None:
            self.contacts.write_rows([row])
            # Left: an invitation may call them in again.
            ConferenceStore(self.db).left(row["dialed"], row["caller_member_id"])

    async def catch_up(self, ami: AmiLink) -> int:
        """After the AMI link came (back) up: log whoever is in a conference now and was not
        seen joining (the time joined from how long their call has been up). Who left
        meanwhile is logged from their call's CDR (the contact log's reconciliation)."""
        try:
            conferences = await running_conferences(ami)
        except (ConnectionError, TimeoutError) as exc:
            log.warning("conferences not listed: %s", exc)
            return 0
        at = datetime.now(UTC)
        settled = (at - timedelta(seconds=60)).isoformat(timespec="milliseconds")
        store = ConferenceStore(self.db)
        gone = store.end_all_but({c.name for c in conferences}, settled)
        closed = store.close_stale_participations(
            {
                c.name: {p.member_id for p in c.participants if p.member_id is not None}
                for c in conferences
            },
            settled,
        )
        if closed:
            log.info("conferences: %d participations that ended meanwhile closed", closed)
        if gone:
            log.info("conferences that ended while the AMI link was down: %s", ", ".join(gone))
        rows = []
        for conference in conferences:
            # Who left while the link was down may be invited again.
            store.left_all_but(
                conference.name,
                {p.member_id for p in conference.participants if p.member_id is not None},
                settled,
            )
            for p in conference.participants:
                if p.member_id is None or not _UNIQUEID.match(p.uniqueid):
                    continue
                joined = (at - timedelta(seconds=p.seconds)).isoformat(timespec="milliseconds")
                rows.append(
                    participation_contact(
                        p.uniqueid,
                        member_id=p.member_id,
                        conference=conference.name,
                        invited_by=p.invited_by,
                        joined_at=joined,
                    )
                )
        known = self._known([r["source_key"] for r in rows])
        fresh = [r for r in rows if r["source_key"] not in known]
        if fresh:
            with writing(self.db):
                self.contacts.write_rows(fresh)
            log.info("conferences: %d participations caught up from ConfbridgeList", len(fresh))
        return len(fresh)

    def _known(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        marks = ",".join("?" * len(keys))
        sql = f"SELECT source_key FROM contacts WHERE kind = ? AND source_key IN ({marks})"
        return {r[0] for r in self.db.execute(sql, (CONFERENCE_KIND, *keys))}
