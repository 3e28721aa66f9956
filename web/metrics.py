"""`/metrics` in the Prometheus text format (prometheus-client), on the service's HTTP side.

Figures from the directory (calls by outcome, refusals by reason, escalations by the step
that took them and those nobody took, text deliveries by state) are counted in SQL at a
scrape, at most once every CACHE_SECONDS; the AMI link's state and the phones registered now
come from Asterisk (web/live_view.py); the FastAGI decision latency is a histogram the
service observes as it answers (agi/fastagi.py `observe`).

Only loopback clients are answered (and no proxied request: one with X-Forwarded-For), unless
their address is listed in cug.ini `[metrics] allow`; anything else is 403, logged.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable, Iterator

import sqlite_utils
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from web.basic_auth import basic_credentials_match
from web.live_view import AmiActions, LiveView

log = logging.getLogger(__name__)

CACHE_SECONDS = 15.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DECISION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


def _label(value: object) -> str:
    """A label value of bounded variety: a refusal's code without its detail."""
    return str(value or "none").split(":", 1)[0][:40]


class DirectoryCollector(Collector):
    """The directory's counts as metric families, counted at most every CACHE_SECONDS."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self._families: list[Metric] = []
        self._at = -CACHE_SECONDS

    def collect(self) -> Iterable[Metric]:
        now = time.monotonic()
        if now - self._at >= CACHE_SECONDS:
            self._families = list(self._count())
            self._at = now
        return self._families

    def _count(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "cug_calls", "Call legs in the contact log, by how they ended", labels=["outcome"]
        )
        for outcome, n in self.db.execute(
            "SELECT outcome, count(*) FROM contacts WHERE kind = 'call' GROUP BY outcome"
        ):
            calls.add_metric([_label(outcome)], n)
        yield calls
        refusals = CounterMetricFamily(
            "cug_call_refusals", "Calls refused, by reason", labels=["reason"]
        )
        counted: dict[str, int] = {}
        for reason, n in self.db.execute(
            "SELECT refusal, count(*) FROM contacts WHERE outcome = 'refused' GROUP BY refusal"
        ):
            counted[_label(reason)] = counted.get(_label(reason), 0) + n
        for reason, n in sorted(counted.items()):
            refusals.add_metric([reason], n)
        yield refusals
        taken = CounterMetricFamily(
            "cug_escalations_taken",
            "Escalated calls someone took, by the chain step that took them",
            labels=["step"],
        )
        for step, n in self.db.execute(
            "SELECT taken_step, count(*) FROM escalations "
            "WHERE taken_step IS NOT NULL GROUP BY taken_step"
        ):
            taken.add_metric([str(step)], n)
        yield taken
        exhausted = self.db.execute(
            "SELECT count(*) FROM escalations WHERE exhausted = 1"
        ).fetchone()[0]
        yield CounterMetricFamily(
            "cug_escalations_exhausted", "Escalated calls nobody took", value=exhausted
        )
        texts = GaugeMetricFamily(
            "cug_text_deliveries",
            "Text deliveries by state (queued: waiting now; the others: so far)",
            labels=["status"],
        )
        for status, n in self.db.execute(
            "SELECT status, count(*) FROM text_deliveries GROUP BY status"
        ):
            texts.add_metric([_label(status)], n)
        yield texts


class ServiceMetrics:
    """The service's registry: the directory's counts, AMI, phones, decision latency."""

    def __init__(self, db: sqlite_utils.Database, ami: AmiActions | None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(DirectoryCollector(db))
        self.ami = ami
        self.live = LiveView(ami)
        self.ami_up = Gauge("cug_ami_up", "1 when the AMI link is up", registry=self.registry)
        self.phones = Gauge(
            "cug_registered_phones",
            "Members' phones registered and reachable now",
            registry=self.registry,
        )
        self.decisions = Histogram(
            "cug_fastagi_decision_seconds",
            "Time to answer a FastAGI request, by route",
            ["route"],
            buckets=DECISION_BUCKETS,
            registry=self.registry,
        )

    def observe(self, route: str, seconds: float) -> None:
        self.decisions.labels(route=route[:40]).observe(seconds)

    async def render(self) -> bytes:
        self.ami_up.set(1 if self.ami is not None and self.ami.up else 0)
        snapshot = await self.live.snapshot()
        self.phones.set(
            sum(1 for p in snapshot.phones if p.status in ("Reachable", "NonQualified"))
        )
        return generate_latest(self.registry)


METRICS_KEY = web.AppKey("cug_metrics", ServiceMetrics)
ALLOW_KEY = web.AppKey("cug_metrics_allow", frozenset)


def _allowed(request: web.Request, allow: frozenset[str]) -> bool:
    remote = request.remote or ""
    if remote in allow:
        return True
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


USERNAME = "metrics"
SECRET_KEY = web.AppKey("cug_metrics_secret", str)


async def metrics(request: web.Request) -> web.Response:
    if not _allowed(request, request.app[ALLOW_KEY]):
        log.warning("/metrics refused to %s", request.remote)
        raise web.HTTPForbidden(text="metrics are served to loopback only\n")
    # A proxy in front of the site that adds no X-Forwarded-For looks like loopback: the
    # figures also need the install's metrics secret (Prometheus: basic_auth).
    if not basic_credentials_match(request, USERNAME, request.app[SECRET_KEY]):
        log.warning("/metrics refused to %s: no valid credentials", request.remote)
        raise web.HTTPUnauthorized(
            headers={"WWW-Authenticate": 'Basic realm="cug-metrics", charset="UTF-8"'}
        )
    body = await request.app[METRICS_KEY].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def mount_metrics(
    app: web.Application,
    db: sqlite_utils.Database,
    ami: AmiActions | None,
    allow: Iterable[str] = (),
    secret: str = "",
) -> ServiceMetrics:
    """Serve /metrics on `app`; returns the registry (give its `observe` to FastAGI)."""
    service = ServiceMetrics(db, ami)
    app[METRICS_KEY] = service
    app[ALLOW_KEY] = frozenset(allow)
    app[SECRET_KEY] = secret
    app.router.add_get("/metrics", metrics)
    return service
