"""The SMS gateway's parts that need no Kannel: Kannel's answers, SMS coding and parts, the
sendsms request, refusals before any request, timeouts, and the test double."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sms_gateway.config import GatewayConfig
from sms_gateway.encoding import Coding, Segments, segments
from sms_gateway.gateway import SendResult, SendStatus, send_once
from sms_gateway.kannel import KannelGateway, sendsms_request
from sms_gateway.kannel_answers import kannel_answer
from sms_gateway.testing import RecordingGateway

ACCEPTED, REJECTED, FAILED = SendStatus.ACCEPTED, SendStatus.REJECTED, SendStatus.FAILED


@pytest.mark.parametrize(
    ("status", "body", "expected", "reason"),
    [
        (202, "0: Accepted for delivery", ACCEPTED, "0: Accepted for delivery"),
        (202, "3: Queued for later delivery", ACCEPTED, "queued: 3: Queued for later delivery"),
        (202, "Sent.", ACCEPTED, "Sent."),
        (200, "", ACCEPTED, "HTTP 200"),
        (
            403,
            "Authorization failed for sendsms",
            REJECTED,
            "authorization failed (HTTP 403: Authorization failed for sendsms)",
        ),
        (
            403,
            "Not routable. Do not try again.",
            REJECTED,
            "HTTP 403: Not routable. Do not try again.",
        ),
        (
            400,
            "Number(s) has/have been denied by white- and/or black-lists.",
            REJECTED,
            "HTTP 400: Number(s) has/have been denied by white- and/or black-lists.",
        ),
        (404, "", REJECTED, "HTTP 404"),
        (302, "", REJECTED, "unexpected redirect, check the url (HTTP 302)"),
        (
            503,
            "Temporal failure, try again later.",
            FAILED,
            "HTTP 503: Temporal failure, try again later.",
        ),
        (500, "Sending failed.", FAILED, "HTTP 500: Sending failed."),
        (
            502,
            "<html>\n<b>Bad</b>\tgateway\n</html>",
            FAILED,
            "HTTP 502: <html> <b>Bad</b> gateway </html>",
        ),
        (429, "slow down", FAILED, "HTTP 429: slow down"),
        (408, "", FAILED, "HTTP 408"),
    ],
)
def test_kannel_answers(status: int, body: str, expected: SendStatus, reason: str) -> None:
    result = kannel_answer(status, body)
    assert (result.status, result.reason, result.message_id) == (expected, reason, None)


def test_a_long_answer_is_cut_short() -> None:
    assert len(kannel_answer(500, "x" * 5000).reason) <= 220


@pytest.mark.parametrize(
    ("text", "coding", "units", "parts"),
    [
        ("a" * 160, Coding.GSM, 160, 1),
        ("a" * 161, Coding.GSM, 161, 2),
        ("a" * 306, Coding.GSM, 306, 2),
        ("a" * 307, Coding.GSM, 307, 3),
        ("€" * 80, Coding.GSM, 160, 1),  # extension characters take two septets
        ("ñüéàÄÖ@£", Coding.GSM, 8, 1),
        ("—" * 70, Coding.UCS2, 70, 1),
        ("—" * 71, Coding.UCS2, 71, 2),
        ("🙂" * 35, Coding.UCS2, 70, 1),  # outside the BMP: two UTF-16 units each
        ("a" * 1600, Coding.GSM, 1600, 11),
        ("—" * 1600, Coding.UCS2, 1600, 24),
    ],
)
def test_segments(text: str, coding: Coding, units: int, parts: int) -> None:
    assert segments(text) == Segments(coding, units, parts)


def kannel_config(**changes: object) -> GatewayConfig:
    values: dict[str, object] = {
        "kind": "kannel",
        "url": "http://127.0.0.1:9/cgi-bin/sendsms",
        "username": "cug",
        "password": "pw-secret",
        "sender": "CUG",
    }
    values.update(changes)
    return GatewayConfig(**values)  # type: ignore[arg-type]


def test_post_request_carries_everything_in_headers_and_the_text_as_utf8() -> None:
    request = sendsms_request(kannel_config(), "+256772100001", "Mwana — ñ", "r-1", coding=2)
    assert request.method == "POST"
    assert request.params == {}
    assert request.headers == {
        "X-Kannel-Username": "cug",
        "X-Kannel-Password": "pw-secret",
        "X-Kannel-From": "CUG",
        "X-Kannel-To": "+256772100001",
        "X-Kannel-Coding": "2",
        "Content-Type": "text/plain; charset=UTF-8",
    }
    assert request.body == "Mwana — ñ".encode()


def test_get_request_and_delivery_report_url() -> None:
    config = kannel_config(method="get", dlr_url="http://h/dlr?ref={reference}&s=%d", dlr_mask=3)
    request = sendsms_request(config, "+256772100001", "hi", "relay 7/1&x", coding=0)
    assert request.method == "GET"
    assert request.params == {
        "username": "cug",
        "password": "pw-secret",
        "from": "CUG",
        "to": "+256772100001",
        "coding": "0",
        "dlr-mask": "3",
        "dlr-url": "http://h/dlr?ref=relay%207%2F1%26x&s=%d",
        "text": "hi",
        "charset": "UTF-8",
    }
    post = sendsms_request(kannel_config(dlr_url="http://h/d?r={reference}"), "+1555", "x", "a", 0)
    assert post.headers["X-Kannel-DLR-URL"] == "http://h/d?r=a"
    assert post.headers["X-Kannel-DLR-Mask"] == "31"


@pytest.mark.parametrize(
    ("to", "text", "reason"),
    [
        ("0772100001", "hi", "bad number: not E.164 (+ and 7-15 digits)"),
        ("+256772100001\r\nX-Kannel-To: +1", "hi", "bad number: not E.164 (+ and 7-15 digits)"),
        ("+256772100001", "  \n", "empty text"),
        ("+256772100001", "a" * 307, "too long: 3 SMS parts, the gateway sends 2"),
    ],
)
async def test_refused_before_any_request(to: str, text: str, reason: str) -> None:
    gw = KannelGateway(kannel_config(max_messages=2))  # port 9: a request would fail instead
    result = await send_once(gw, to, text, "r")
    assert result == SendResult(SendStatus.REJECTED, reason)


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that takes connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_gateway_that_never_answers_is_a_temporary_failure(silent_server: int) -> None:
    url = f"http://127.0.0.1:{silent_server}/cgi-bin/sendsms"
    gw = KannelGateway(kannel_config(url=url, timeout=0.2))
    result = await send_once(gw, "+256772100001", "hi", "r")
    assert result == SendResult(SendStatus.FAILED, "timeout after 0.2 s (it may have gone)")


async def test_send_after_close_is_a_programming_error() -> None:
    for gw in (KannelGateway(kannel_config()), RecordingGateway()):
        await gw.close()
        with pytest.raises(RuntimeError):
            await gw.send("+256772100001", "hi", reference="r")


async def test_recording_gateway_records_and_fails_as_told() -> None:
    gw = RecordingGateway()
    first = await gw.send("+256772100001", "one", reference="r1")
    assert first == SendResult(SendStatus.ACCEPTED, "recorded", "test-1")
    gw.fail(times=2)
    gw.answer(SendResult(SendStatus.REJECTED, "bad number"))
    results = [await gw.send("+256772100002", f"t{n}", reference=f"r{n}") for n in range(2, 6)]
    assert [r.status for r in results] == [FAILED, FAILED, REJECTED, ACCEPTED]
    gw.fail(SendStatus.REJECTED, "auth")
    assert (await gw.send("+256772100003", "x", reference="r6")).reason == "auth"
    assert (await gw.send("+256772100003", "y", reference="r7")).reason == "auth"
    gw.recover()
    assert (await gw.send("+256772100003", "z", reference="r8")).accepted
    assert [a.reference for a in gw.attempts] == [f"r{n}" for n in range(1, 9)]
    assert [(a.to_e164, a.text) for a in gw.sent] == [
        ("+256772100001", "one"),
        ("+256772100002", "t5"),
        ("+256772100003", "z"),
    ]
    with pytest.raises(ValueError):
        gw.fail(SendStatus.ACCEPTED)
    await gw.close()
    assert gw.closed
