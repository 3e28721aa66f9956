"""`cug serve`: FastAGI routing, the AMI link and the HTTP side in one asyncio program."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta
from typing import Any

from aiohttp import web

from agi import variables
from agi.ami import AmiLink
from agi.call_routing import CallRoutes
from agi.callbacks import Callbacks
from agi.conference_calls import ConferenceCalls
from agi.conference_log import ConferenceLog
from agi.contact_log import ContactLog
from agi.endpoint_rows import TemplateError, read_templates
from agi.fastagi import FastAgiServer
from agi.member_endpoints import TEMPLATES_FILE, EndpointSync
from agi.missed_calls import MissedCalls
from agi.phone_presence import SUSPECT_WINDOW, suspect_window
from agi.reminders import Reminders
from agi.text_delivery import TextDelivery
from agi.text_intake import TextIntake
from agi.text_relay import TextRoutes
from agi.trunk_calls import TrunkRoutes
from cug.settings import Settings
from directory.lookup import Directory
from directory.numbers import try_normalise
from directory.pins import PinStore
from directory.schema import open_db
from routing.calls import Policy
from sms_gateway.config import build_gateway
from web.app import mount_api
from web.client_address import forwarded_client
from web.metrics import mount_metrics
from web.pages_texts import SmsFallback
from web.site import mount_admin_site
from web.sms_inbound import mount_sms_inbound

log = logging.getLogger(__name__)


def _suspect_window(settings: Settings) -> timedelta | None:
    """How long after handing texts to a phone the relay reads its qualify status: from the
    member AOR template of the pjsip.conf Asterisk runs with."""
    if settings.asterisk_etc is None or not (settings.asterisk_etc / TEMPLATES_FILE).exists():
        return SUSPECT_WINDOW
    try:
        templates = read_templates((settings.asterisk_etc / TEMPLATES_FILE).read_text())
    except (OSError, TemplateError) as exc:
        log.warning("member templates unreadable (%s): qualify assumed every 60 s", exc)
        return SUSPECT_WINDOW
    window = suspect_window(templates.options.get("ps_aors", {}))
    if window is None:
        log.warning(
            "qualify_frequency is 0 in the member AOR template: texts handed to a phone "
            "that vanished are not sent again"
        )
    return window


def _numbers(numbers: list[str]) -> frozenset[str]:
    return frozenset(n for n in (try_normalise(x) for x in numbers) if n)


def policy_from(settings: Settings) -> Policy:
    own = _numbers(settings.trunk_numbers)
    return Policy(
        trunk_available=settings.trunk_enabled,
        own_numbers=frozenset(own),
        ring_seconds=settings.ring_seconds,
    )


RECONCILE_INTERVAL = 10.0
SETTLE_INTERVAL = 1.0  # how often escalated calls that ended are settled (notices made)


def health_app(
    ami: AmiLink, agi: FastAgiServer, sync: EndpointSync | None, contacts: ContactLog
) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok" if ami.up else "degraded",
                "ami": "up" if ami.up else "down",
                "agi_requests": agi.served,
                "endpoint_writes": sync.writes if sync else 0,
                "endpoint_failures": sync.failures if sync else 0,
                "endpoints": "behind" if sync and not sync.current else "current",
                "contacts_written": contacts.written,
            }
        )

    app = web.Application()
    app.router.add_get("/health", health)
    return app


def _sync(job: Any) -> Any:
    """A plain function as a job for _every, its failures logged and retried next time."""

    async def run() -> None:
        try:
            job()
        except Exception:
            log.exception("%s failed; will retry", getattr(job, "__qualname__", job))

    return run


async def _every(interval: float, job: Any) -> None:
    while True:
        await asyncio.sleep(interval)
        await job()


async def run(settings: Settings) -> None:
    db = open_db(settings.db)
    directory = Directory(db)
    routes = CallRoutes(directory, policy_from(settings))
    agi = FastAgiServer()
    agi.route(variables.ROUTE_MEMBER_CALL, routes.member_call)
    agi.route(variables.ROUTE_BRIDGE_PIN, routes.bridges.bridge_pin)
    agi.route(variables.ROUTE_CONFERENCE_INVITE, routes.bridges.conference_invite)
    trunk = TrunkRoutes(
        routes,
        directory,
        _numbers(settings.trunk_numbers),
        _numbers(settings.callback_numbers),
        settings.callbacks,
        PinStore(db),
    )
    agi.route(variables.ROUTE_TRUNK_CALL, trunk.trunk_call)
    agi.route(variables.ROUTE_TRUNK_PIN, trunk.trunk_pin)
    ami = AmiLink("127.0.0.1", settings.ami_port, settings.ami_username, settings.ami_secret)
    gateway = build_gateway(settings.sms_gateway)
    delivery = TextDelivery(
        db, ami, settings.texts, gateway, settings.costs, _suspect_window(settings)
    )
    intake = TextIntake(directory, policy_from(settings), settings.texts, delivery)
    text_routes = TextRoutes(intake)
    agi.route(variables.ROUTE_MEMBER_TEXT, text_routes.member_text)
    contacts = ContactLog(db)
    # The number a call back shows: the callback number, so the member can flash it again.
    shown = [*sorted(_numbers(settings.callback_numbers))]
    shown += sorted(_numbers(settings.trunk_numbers))
    callbacks = Callbacks(
        db,
        directory,
        ami,
        routes,
        contacts,
        settings.callbacks,
        delivery.costs,
        cug_number=shown[0] if shown else "100",
    )
    agi.route(variables.ROUTE_FLASH_ENDED, callbacks.flash_ended)
    agi.route(variables.ROUTE_CALLBACK_CALL, callbacks.callback_call)
    ami.on_event("OriginateResponse", callbacks.on_originate_response)
    conference_calls = ConferenceCalls(
        db,
        ami,
        contacts,
        delivery.notify,
        ring_seconds=settings.ring_seconds,
        answer_seconds=2 * (settings.key_seconds + 10),  # as CUG_CONFIRM_SECONDS
        trunk=settings.trunk_enabled,
    )
    agi.route(variables.ROUTE_CONFERENCE_TURNED_AWAY, conference_calls.turned_away)
    server = await agi.start("127.0.0.1", settings.agi_port)
    log.info("FastAGI routing on 127.0.0.1:%d", settings.agi_port)

    sync = None
    tasks = []
    if settings.asterisk_etc is not None and settings.endpoints_db is not None:
        sync = EndpointSync(settings.db, settings.asterisk_etc, settings.endpoints_db)
        tasks.append(asyncio.create_task(sync.watch()))
    else:
        log.warning("no asterisk_etc/endpoints_db in settings: member endpoints not kept in step")
    ami.on_event("Cdr", contacts.on_event)
    conference_log = ConferenceLog(contacts)
    ami.on_event("ConfbridgeJoin", conference_log.on_join)
    ami.on_event("ConfbridgeLeave", conference_log.on_leave)
    ami.on_login(lambda: conference_log.catch_up(ami))
    routes.bridges.calls_requested = conference_calls.wake
    ami.on_event("ConfbridgeEnd", conference_calls.on_end)
    tasks.append(asyncio.create_task(conference_calls.run()))
    tasks.append(asyncio.create_task(contacts.run()))
    if settings.cdr_file is not None:
        cdr_file = settings.cdr_file

        async def reconcile() -> None:
            try:
                contacts.flush()
                contacts.reconcile(cdr_file)
            except Exception:
                log.exception("reconciling contacts from %s failed", cdr_file)

        ami.on_login(reconcile)
        tasks.append(asyncio.create_task(_every(RECONCILE_INTERVAL, reconcile)))
    else:
        log.warning("no cdr_file in settings: contacts missed while AMI was down are lost")
    reminders = Reminders(db, ami, contacts, ring_seconds=settings.ring_seconds)
    missed = MissedCalls(db)
    tasks.append(asyncio.create_task(_every(SETTLE_INTERVAL, _sync(missed.settle_due))))
    # Call backs left open by a restart are ended `unknown` (not rung again).
    tasks.append(asyncio.create_task(_every(60.0, _sync(callbacks.close_left_open))))
    ami.on_event("OriginateResponse", reminders.on_originate_response)
    ami.on_event("ContactStatus", delivery.on_contact_status)
    ami.on_event("SuccessfulAuth", delivery.presence.on_authenticated)
    ami.on_login(delivery.on_login())
    tasks.append(asyncio.create_task(delivery.run()))
    tasks.append(asyncio.create_task(reminders.run(settings.reminder_interval)))
    ami.connect()

    app = health_app(ami, agi, sync, contacts)
    # Behind a reverse proxy: the admin's own address for the login limits and the audit.
    app.middlewares.append(forwarded_client(settings.trusted_proxies))
    mount_api(app, db)  # /api/v1: the JSON API for cases, every request needs a token
    mount_sms_inbound(app, intake, settings.sms_inbound_secret)  # /sms: texts from mobiles
    # /admin: the admin site (accounts from `cug admin create`; its cookie works on /api too)
    mount_admin_site(
        app,
        db,
        settings.admin_session_key,
        settings.admin_cookie_secure,
        ami=ami,
        sms_fallback=SmsFallback(
            timedelta(seconds=settings.texts.sms_after_seconds) if gateway else None
        ),
    )
    # /metrics for Prometheus, loopback only unless [metrics] allow lists an address
    agi.observe = mount_metrics(
        app, db, ami, settings.metrics_allow, settings.metrics_secret
    ).observe
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.http_port).start()
    log.info("HTTP on 127.0.0.1:%d (/health, /api/v1, /sms, /admin, /metrics)", settings.http_port)
    if not settings.admin_cookie_secure:
        log.warning(
            "admin site: session cookies are not Secure ([admin_site] cookie_secure = no): "
            "for plain HTTP on loopback only, never behind a proxy that others reach"
        )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("cug serve ready")
    await stop.wait()
    log.info("stopping")
    for task in tasks:
        task.cancel()
    contacts.flush()
    if gateway is not None:
        await gateway.close()
    server.close()
    ami.close()
    await runner.cleanup()
    db.close()
