"""A gateway double for the unit tests of its callers: it records every text it is asked to
send and answers as it is told (accepted by default)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sms_gateway.gateway import SendResult, SendStatus


@dataclass(frozen=True)
class Attempt:
    to_e164: str
    text: str
    reference: str
    result: SendResult


class RecordingGateway:
    """`attempts` holds every send with the answer it got; `sent` the accepted ones.

    Queued answers come first, in the order they were queued: `answer(result, ...)` and
    `fail(status, reason, times=n)` (n sends answered that way). Then a standing failure,
    `fail(status, reason)` with no times, answers every send until `recover()`. Otherwise a
    send is accepted, with a made-up gateway id.
    """

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.closed = False
        self._queued: deque[SendResult] = deque()
        self._standing: SendResult | None = None
        self._next_id = 0

    def answer(self, *results: SendResult) -> None:
        self._queued.extend(results)

    def fail(
        self,
        status: SendStatus = SendStatus.FAILED,
        reason: str = "test gateway down",
        times: int | None = None,
    ) -> None:
        if status is SendStatus.ACCEPTED:
            raise ValueError("fail() takes REJECTED or FAILED")
        result = SendResult(status, reason)
        if times is None:
            self._standing = result
        else:
            self._queued.extend([result] * times)

    def recover(self) -> None:
        self._queued.clear()
        self._standing = None

    @property
    def sent(self) -> list[Attempt]:
        return [a for a in self.attempts if a.result.accepted]

    async def send(self, to_e164: str, text: str, *, reference: str) -> SendResult:
        if self.closed:
            raise RuntimeError("RecordingGateway.send after close()")
        if self._queued:
            result = self._queued.popleft()
        elif self._standing is not None:
            result = self._standing
        else:
            self._next_id += 1
            result = SendResult(SendStatus.ACCEPTED, "recorded", f"test-{self._next_id}")
        self.attempts.append(Attempt(to_e164, text, reference, result))
        return result

    async def close(self) -> None:
        self.closed = True
