"""What every outbound SMS gateway offers the relay: send one text, say how it went, close.

A gateway never raises for what the gateway or the network did: a dead gateway, a timeout
and a refused password all come back as a `SendResult`, so the relay decides about retries
from one value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class SendStatus(Enum):
    ACCEPTED = "accepted"  # the gateway took the text (sent, or queued by the gateway)
    REJECTED = "rejected"  # permanent: bad number, bad credentials, a text it refuses
    FAILED = "failed"  # temporary: gateway down, timeout, 5xx; try again later


@dataclass(frozen=True)
class SendResult:
    status: SendStatus
    reason: str = ""  # short and human: the gateway's own answer where it gave one
    message_id: str | None = None  # the gateway's id for the text, if it gives one

    @property
    def accepted(self) -> bool:
        return self.status is SendStatus.ACCEPTED

    @property
    def retry_later(self) -> bool:
        return self.status is SendStatus.FAILED


class SmsGateway(Protocol):
    """An outbound SMS gateway.

    `reference` is the relay's own id for the text: it goes to the gateway where the gateway
    can carry it (delivery-report URLs) and into the log, never the text itself. Sending the
    same reference twice sends the text twice unless the gateway itself deduplicates (Kannel
    does not): after a timeout the first attempt may have gone out.
    """

    async def send(self, to_e164: str, text: str, *, reference: str) -> SendResult: ...

    async def close(self) -> None: ...


async def send_once(gateway: SmsGateway, to_e164: str, text: str, reference: str) -> SendResult:
    """Send one text and close the gateway (a command-line check, a test)."""
    try:
        return await gateway.send(to_e164, text, reference=reference)
    finally:
        await gateway.close()
