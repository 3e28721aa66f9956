"""What is happening now, from Asterisk over AMI: the AMI link's state, members' registered
phones (PJSIPShowContacts), calls in progress (CoreShowChannels) and the service's conferences
running now with who is in them (ConfbridgeListRooms, then ConfbridgeList per conference, as
`cug conference list` reads them: agi/conference_log.running_conferences). Asked when a page
wants it, at most once every CACHE_SECONDS whoever is watching, so many open pages cost
Asterisk one question each. Every value from AMI is untrusted text; pages escape it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from agi.conference_log import Conference, running_conferences

log = logging.getLogger(__name__)

CACHE_SECONDS = 2.0


class AmiActions(Protocol):
    up: bool

    async def action(self, action: dict[str, str], timeout: float = ...) -> Any: ...


@dataclass(frozen=True)
class Phone:
    extension: str
    status: str
    roundtrip_ms: int | None
    address: str


@dataclass(frozen=True)
class Call:
    channel: str
    caller: str  # caller ID number (an extension for members)
    connected: str  # the other side's number, once known
    dialed: str
    state: str
    seconds: int
    linkedid: str

    @property
    def extensions(self) -> set[str]:
        own = self.channel.removeprefix("PJSIP/").split("-")[0]
        return {own, self.caller, self.connected, self.dialed} - {""}


@dataclass(frozen=True)
class Snapshot:
    ami_up: bool
    phones: list[Phone] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    taken_at: float = 0.0
    problem: str = ""
    conferences: list[Conference] = field(default_factory=list)


def _messages(reply: Any) -> list[dict[str, str]]:
    found = reply if isinstance(reply, list) else [reply]
    return [{str(k): str(v) for k, v in message.items()} for message in found]


def _int(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def _address(uri: str) -> str:
    """The host of a contact URI (sip:2002@127.0.0.1:5071;ob -> 127.0.0.1:5071)."""
    return uri.split("@", 1)[-1].split(";", 1)[0][:60]


class LiveView:
    def __init__(self, ami: AmiActions | None) -> None:
        self.ami = ami
        self._last: Snapshot | None = None

    async def snapshot(self, now: float | None = None) -> Snapshot:
        moment = time.monotonic() if now is None else now
        if self._last is not None and moment - self._last.taken_at < CACHE_SECONDS:
            return self._last
        self._last = await self._ask(moment)
        return self._last

    async def _ask(self, moment: float) -> Snapshot:
        if self.ami is None or not self.ami.up:
            return Snapshot(False, taken_at=moment, problem="the AMI link is down")
        try:
            contacts = _messages(await self.ami.action({"Action": "PJSIPShowContacts"}))
            channels = _messages(await self.ami.action({"Action": "CoreShowChannels"}))
        except Exception as exc:  # noqa: BLE001 - any failure is shown, never raised
            log.warning("live view: AMI did not answer: %s", exc)
            return Snapshot(True, taken_at=moment, problem=f"Asterisk did not answer ({exc})")
        problem = ""
        try:  # phones and calls are still shown (and counted in /metrics) if this fails
            conferences = await running_conferences(self.ami)
        except Exception as exc:  # noqa: BLE001
            log.warning("live view: AMI did not list the conferences: %s", exc)
            conferences, problem = [], f"Asterisk did not list the conferences ({exc})"
        phones = [
            Phone(
                extension=m.get("Endpoint") or m.get("Aor", ""),
                status=m.get("Status", ""),
                roundtrip_ms=(_int(m.get("RoundtripUsec", "")) or 0) // 1000 or None,
                address=_address(m.get("URI") or m.get("Uri", "")),
            )
            for m in contacts
            if m.get("Event") == "ContactList" and m.get("Endpoint", m.get("Aor"))
        ]
        calls = [
            Call(
                channel=m.get("Channel", ""),
                caller=m.get("CallerIDNum", ""),
                connected=m.get("ConnectedLineNum", ""),
                dialed=m.get("Exten", ""),
                state=m.get("ChannelStateDesc", ""),
                seconds=_seconds(m),
                linkedid=m.get("Linkedid", ""),
            )
            for m in channels
            # Message/ast_msg_queue: the channel Asterisk runs texts' dialplan on, up from
            # the first text on; it is no call.
            if m.get("Event") == "CoreShowChannel"
            and not m.get("Channel", "").startswith("Message/")
        ]
        phones.sort(key=lambda p: p.extension)
        conferences.sort(key=lambda c: c.name)
        return Snapshot(True, phones, calls, moment, problem, conferences)


def _seconds(message: dict[str, str]) -> int:
    """CoreShowChannel's Duration (HH:MM:SS) in seconds."""
    parts = message.get("Duration", "").split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return 0
    hours, minutes, seconds = (int(p) for p in parts)
    return hours * 3600 + minutes * 60 + seconds
