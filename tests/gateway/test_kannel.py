"""The Kannel gateway against a real Kannel (bearerbox, smsbox, fakesmsc as the network)."""

from __future__ import annotations

import pytest

from sms_gateway.gateway import SendStatus, send_once
from sms_gateway.kannel import KannelGateway
from tests.gateway.kannel import Kannel


@pytest.mark.parametrize(
    ("method", "number"), [("post", "+256772100001"), ("get", "+256772100002")]
)
async def test_ascii_text_reaches_the_network(kannel: Kannel, method: str, number: str) -> None:
    result = await send_once(
        KannelGateway(kannel.gateway_config(method=method)),
        number,
        "Visit at 10:00 tomorrow, case #12.",
        "t-1",
    )
    assert result.status is SendStatus.ACCEPTED
    assert result.reason == "0: Accepted for delivery"
    got = kannel.wait_for_text(number)
    assert (got.sender, got.receiver, got.kind) == ("CUG", number, "text")
    assert got.text() == "Visit at 10:00 tomorrow, case #12."


async def test_non_ascii_text_arrives_intact_as_ucs2(
    kannel: Kannel, gateway: KannelGateway
) -> None:
    text = "Mwana ali bulungi — ñ ü"
    result = await gateway.send("+256772100003", text, reference="t-2")
    assert result.accepted, result
    got = kannel.wait_for_text("+256772100003")
    assert got.kind == "ucs-2"
    assert got.text() == text


async def test_gsm_letters_stay_seven_bit(kannel: Kannel, gateway: KannelGateway) -> None:
    text = "Señora Nnyonyi: ü é à, 50 € [ok] {x}"
    assert (await gateway.send("+256772100004", text, reference="t-3")).accepted
    got = kannel.wait_for_text("+256772100004")
    assert got.kind == "text"
    assert got.text() == text


def long_text(unit: str) -> str:
    """1,600 characters in which every part's place shows (a misordered part would show)."""
    return "".join(f"{n:03d}{unit} " for n in range(400))[:1600]


@pytest.mark.parametrize(
    ("unit", "number", "parts", "encoding"),
    [("abc", "+256772100005", 11, "utf-8"), ("ñ—ü", "+256772100006", 24, "utf-16-be")],
)
async def test_1600_character_text_arrives_whole(
    kannel: Kannel, gateway: KannelGateway, unit: str, number: str, parts: int, encoding: str
) -> None:
    text = long_text(unit)
    assert len(text) == 1600
    result = await gateway.send(number, text, reference="t-4")
    assert result.accepted, result
    got = kannel.wait_for_text(number)
    assert (got.kind, got.parts) == ("concatenated", parts)
    assert got.text(encoding) == text


async def test_wrong_password_is_a_permanent_rejection(kannel: Kannel) -> None:
    result = await send_once(
        KannelGateway(kannel.gateway_config(password="not-the-password")),
        "+256772100007",
        "hello",
        "t-5",
    )
    assert result.status is SendStatus.REJECTED
    assert "Authorization failed for sendsms" in result.reason
    assert "not-the-password" not in result.reason


async def test_number_kannel_refuses_is_a_permanent_rejection(kannel: Kannel) -> None:
    gw = KannelGateway(kannel.gateway_config(sender=""))  # no sender, no global sender
    try:
        result = await gw.send("+256772100008", "hello", reference="t-6")
    finally:
        await gw.close()
    assert result.status is SendStatus.REJECTED
    assert result.reason == "HTTP 400: Sender missing and no global set, rejected"


async def test_delivery_report_url_is_taken(kannel: Kannel) -> None:
    config = kannel.gateway_config(dlr_url="http://127.0.0.1:9/dlr?ref={reference}&status=%d")
    result = await send_once(KannelGateway(config), "+256772100009", "with a report", "relay 7/1")
    assert result.accepted, result
    assert kannel.wait_for_text("+256772100009").text() == "with a report"


async def test_kannel_down_is_a_temporary_failure(own_kannel: Kannel) -> None:
    own_kannel.stop()
    result = await send_once(
        KannelGateway(own_kannel.gateway_config()), "+256772100010", "hello", "t-8"
    )
    assert result.status is SendStatus.FAILED
    assert result.retry_later
    assert "unreachable" in result.reason


async def test_network_down_queues_then_delivers(own_kannel: Kannel) -> None:
    own_kannel.stop_network()
    result = await send_once(
        KannelGateway(own_kannel.gateway_config()), "+256772100011", "kept for later", "t-9"
    )
    assert result.status is SendStatus.ACCEPTED
    assert result.reason == "queued: 3: Queued for later delivery"
    own_kannel.start_network()
    assert own_kannel.wait_for_text("+256772100011").text() == "kept for later"
