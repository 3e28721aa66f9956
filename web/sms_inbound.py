"""Texts from members' mobiles, handed over by the SMS gateway on the service's HTTP side.

Mounted under /sms beside /health and /api:

    POST /sms/kannel?from=%p&to=%P&id=%I     Kannel smsbox's sms-service `post-url`: the text
                                             is the body, in the charset its Content-Type
                                             names (UTF-8, or UTF-16BE for a UCS-2 text)
    POST /sms/africastalking                 Africa's Talking's inbound callback (a form:
                                             from, to, text, date, id)

Authentication: HTTP basic, user `sms`, with the install's generated `[sms_inbound] secret`
(compared in constant time), and only from loopback. Kannel's HTTP client cannot answer a
digest challenge; it sends basic credentials written in the URL (README, "Texts from basic
phones").

Answers: 200 (with an empty body: nothing is texted back from it) once a text is stored or
refused for good, so the gateway never retries a bad text forever; 503 when it could not be
stored (the gateway tries again later); 401 without the secret. The gateway's message id
makes a retried delivery a no-op.
"""

from __future__ import annotations

import ipaddress
import logging
import sqlite3

from aiohttp import web

from agi.text_intake import TextIntake, masked
from directory.inbound_sms import InboundLog
from directory.transactions import writing
from routing.texts import TextRefusal
from web.basic_auth import basic_credentials_match

log = logging.getLogger(__name__)

PREFIX = "/sms"
USERNAME = "sms"
MAX_BODY_BYTES = 16_384  # 1,600 characters need at most 6,400 bytes of UTF-8
INTAKE_KEY = web.AppKey("sms_intake", TextIntake)
SECRET_KEY = web.AppKey("sms_secret", str)


def sms_inbound_app(intake: TextIntake, secret: str) -> web.Application:
    if len(secret) < 16:
        raise ValueError("the SMS gateway's secret must be at least 16 characters")
    app = web.Application(client_max_size=MAX_BODY_BYTES * 4)
    app[INTAKE_KEY] = intake
    app[SECRET_KEY] = secret
    app.router.add_post("/kannel", kannel)
    app.router.add_post("/africastalking", africastalking)
    return app


def mount_sms_inbound(app: web.Application, intake: TextIntake, secret: str) -> None:
    """Serve the gateways' inbound routes under /sms."""
    app.add_subapp(PREFIX, sms_inbound_app(intake, secret))


def _authorised(request: web.Request) -> bool:
    if not _loopback(request.remote):
        return False
    return basic_credentials_match(request, USERNAME, request.app[SECRET_KEY])


def _loopback(remote: str | None) -> bool:
    try:
        return ipaddress.ip_address(remote or "").is_loopback
    except ValueError:
        return False


def _unauthorised(request: web.Request) -> web.Response:
    log.warning("SMS gateway request refused from %s: no valid credentials", request.remote)
    return web.Response(
        status=401, headers={"WWW-Authenticate": 'Basic realm="cug-sms", charset="UTF-8"'}
    )


async def kannel(request: web.Request) -> web.Response:
    if not _authorised(request):
        return _unauthorised(request)
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    return _take(
        request,
        "kannel",
        request.query.get("from", ""),
        request.query.get("id", ""),
        _kannel_text(request, raw),
    )


def _kannel_text(request: web.Request, raw: bytes) -> str | TextRefusal:
    """The text in the charset smsbox names (UTF-16BE for a UCS-2 text, UTF-8 otherwise);
    binary (8-bit) data is not a text."""
    if len(raw) > MAX_BODY_BYTES:
        return TextRefusal.TOO_LONG
    if request.content_type == "application/octet-stream":
        return TextRefusal.NOT_TEXT
    charset = request.charset or ("utf-16-be" if request.query.get("coding") == "2" else "utf-8")
    try:
        return raw.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return TextRefusal.NOT_TEXT


async def africastalking(request: web.Request) -> web.Response:
    if not _authorised(request):
        return _unauthorised(request)
    try:
        form = await request.post()
    except ValueError:
        return web.Response(status=400, text="not a form")
    text = form.get("text", "")
    return _take(
        request,
        "africastalking",
        str(form.get("from", "")),
        str(form.get("id", "")),
        text if isinstance(text, str) else TextRefusal.NOT_TEXT,
    )


def _take(
    request: web.Request, gateway: str, sender: str, message_id: str, text: str | TextRefusal
) -> web.Response:
    if not sender:
        return web.Response(status=400, text="no sender (from)")
    intake = request.app[INTAKE_KEY]
    inbound = InboundLog(intake.directory.db)
    try:
        with writing(intake.directory.db):  # the text and its id stored together: taken once
            before = inbound.seen(gateway, message_id) if message_id else None
            if before is not None:
                outcome = f"again, was {before}"
            else:
                outcome = intake.sms_from(sender, text)
                if message_id:
                    inbound.record(gateway, message_id, masked(sender), outcome)
    except sqlite3.Error:
        log.exception("text by SMS from %s not stored; the gateway will retry", masked(sender))
        return web.Response(status=503, text="not stored, try again")
    log.info("text by SMS (%s) from %s: %s", gateway, masked(sender), outcome)
    return web.Response(status=200, text="")
