"""Kannel's smsbox `sendsms` HTTP API as an SmsGateway.

POST (the default) carries the credentials and addresses in X-Kannel-* headers and the text
as a UTF-8 body; GET carries everything as query parameters (for gateways that copy Kannel's
GET interface; the password then sits in URLs and access logs). Either way the text goes out
as UTF-8 with `coding` 0 (GSM 7-bit) when every character has a GSM code, else 2 (UCS-2), and
Kannel converts it.

Long texts: Kannel splits and concatenates them (the sendsms-user's `concatenation = true`,
`max-messages` parts at most). Past `max-messages` Kannel silently cuts the end off, so a
text needing more parts than `max_messages` is rejected here instead, before any request.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from urllib.parse import quote

import aiohttp

from sms_gateway.config import GatewayConfig
from sms_gateway.encoding import segments
from sms_gateway.gateway import SendResult, SendStatus
from sms_gateway.kannel_answers import kannel_answer

log = logging.getLogger(__name__)

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_ANSWER = 4096  # bytes of Kannel's answer read; it is one short line


@dataclass(frozen=True)
class SendsmsRequest:
    method: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def sendsms_request(
    config: GatewayConfig, to_e164: str, text: str, reference: str, coding: int
) -> SendsmsRequest:
    """The HTTP request that asks smsbox to send `text` to `to_e164`."""
    fields = {
        "username": config.username,
        "password": config.password,
        "from": config.sender,
        "to": to_e164,
        "coding": str(coding),
    }
    if config.dlr_url:
        fields["dlr-mask"] = str(config.dlr_mask)
        fields["dlr-url"] = config.dlr_url.replace("{reference}", quote(reference, safe=""))
    if config.method == "get":
        return SendsmsRequest("GET", params={**fields, "text": text, "charset": "UTF-8"})
    headers = {"X-Kannel-" + _header_name(k): v for k, v in fields.items()}
    headers["Content-Type"] = "text/plain; charset=UTF-8"
    return SendsmsRequest("POST", headers=headers, body=text.encode("utf-8"))


def _header_name(name: str) -> str:
    special = {"dlr-mask": "DLR-Mask", "dlr-url": "DLR-URL"}
    return special.get(name, name.capitalize())


class KannelGateway:
    """Sends through one smsbox; one aiohttp session, made on first use, closed by close()."""

    def __init__(self, config: GatewayConfig, session: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self._session = session
        self._own_session = session is None
        self._closed = False

    async def send(self, to_e164: str, text: str, *, reference: str) -> SendResult:
        if self._closed:
            raise RuntimeError("KannelGateway.send after close()")
        result = self._refusal(to_e164, text)
        if result is None:
            result = await self._request(to_e164, text, reference)
        level = logging.INFO if result.accepted else logging.WARNING
        log.log(level, "sms %s via kannel: %s (%s)", reference, result.status.value, result.reason)
        return result

    def _refusal(self, to_e164: str, text: str) -> SendResult | None:
        if not E164.match(to_e164):
            return SendResult(SendStatus.REJECTED, "bad number: not E.164 (+ and 7-15 digits)")
        if not text.strip():
            return SendResult(SendStatus.REJECTED, "empty text")
        parts = segments(text).parts
        if parts > self.config.max_messages:
            return SendResult(
                SendStatus.REJECTED,
                f"too long: {parts} SMS parts, the gateway sends {self.config.max_messages}",
            )
        return None

    async def _request(self, to_e164: str, text: str, reference: str) -> SendResult:
        request = sendsms_request(
            self.config, to_e164, text, reference, segments(text).coding.kannel
        )
        session = self._session_now()
        try:
            async with session.request(
                request.method,
                self.config.url,
                params=request.params or None,
                headers=request.headers or None,
                data=request.body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.config.timeout),
            ) as response:
                answer = await response.content.read(MAX_ANSWER)
                return kannel_answer(response.status, answer.decode("utf-8", "replace"))
        except TimeoutError:
            return SendResult(
                SendStatus.FAILED, f"timeout after {self.config.timeout:g} s (it may have gone)"
            )
        except aiohttp.ClientConnectorError as exc:
            return SendResult(SendStatus.FAILED, f"gateway unreachable: {exc.os_error}")
        except aiohttp.ClientError as exc:
            detail = f"{type(exc).__name__}: {exc}"
            if self.config.password:
                detail = detail.replace(self.config.password, "***")
            return SendResult(SendStatus.FAILED, f"gateway connection failed: {detail}")

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        self._closed = True
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None
