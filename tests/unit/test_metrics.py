"""/metrics: the directory's counts, AMI and phones, the FastAGI latency histogram, in the
Prometheus format; loopback only unless an address is allowed."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import sqlite_utils
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from directory.lookup import Directory
from tests.unit.test_admin_cases import add_call
from tests.unit.test_admin_live import FakeAmi
from web.metrics import _allowed, mount_metrics


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


async def test_metrics_count_calls_refusals_escalations_and_latency(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    add_call(db, 1, "2025-03-02T09:00:00+00:00", "2002", "2003")
    add_call(db, 2, "2025-03-02T09:05:00+00:00", "2002", "2004")
    db.execute(
        "UPDATE contacts SET outcome = 'refused', refusal = 'not_a_member:0700' WHERE id = 2"
    )
    db["escalations"].insert_all(
        [
            {"linkedid": "a", "steps": 3, "started_at": "x", "seen_at": "x", "taken_step": 2},
            {"linkedid": "b", "steps": 3, "started_at": "x", "seen_at": "x", "exhausted": 1},
        ]
    )
    app = web.Application()
    service = mount_metrics(app, db, FakeAmi(), secret="s3cret")
    service.observe("member-call", 0.003)
    async with TestClient(TestServer(app)) as client:
        # Loopback is not enough: a proxy in front that adds no header looks like loopback.
        assert (await client.get("/metrics")).status == 401
        wrong = basic("metrics", "guess")
        assert (await client.get("/metrics", headers=wrong)).status == 401
        response = await client.get("/metrics", headers=basic("metrics", "s3cret"))
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        found = samples(await response.text())
        forwarded = await client.get(
            "/metrics", headers={"X-Forwarded-For": "10.1.1.1", **basic("metrics", "s3cret")}
        )
        assert forwarded.status == 403
    assert found[("cug_calls_total", (("outcome", "answered"),))] == 1
    assert found[("cug_calls_total", (("outcome", "refused"),))] == 1
    assert found[("cug_call_refusals_total", (("reason", "not_a_member"),))] == 1
    assert found[("cug_escalations_taken_total", (("step", "2"),))] == 1
    assert found[("cug_escalations_exhausted_total", ())] == 1
    assert found[("cug_ami_up", ())] == 1
    assert found[("cug_registered_phones", ())] == 2
    assert found[("cug_fastagi_decision_seconds_count", (("route", "member-call"),))] == 1
    assert (
        found[("cug_fastagi_decision_seconds_bucket", (("le", "0.005"), ("route", "member-call")))]
        == 1
    )


def test_only_loopback_or_an_allowed_address_is_answered() -> None:
    def asking(remote: str, **headers: str) -> SimpleNamespace:
        return SimpleNamespace(remote=remote, headers=headers)

    assert _allowed(asking("127.0.0.1"), frozenset())  # type: ignore[arg-type]
    assert _allowed(asking("::1"), frozenset())  # type: ignore[arg-type]
    assert not _allowed(asking("10.0.0.5"), frozenset())  # type: ignore[arg-type]
    assert _allowed(asking("10.0.0.5"), frozenset({"10.0.0.5"}))  # type: ignore[arg-type]
    proxied = asking("127.0.0.1", **{"X-Forwarded-For": "1.2.3.4"})
    assert not _allowed(proxied, frozenset())  # type: ignore[arg-type]
    assert not _allowed(asking("not an address"), frozenset())  # type: ignore[arg-type]


async def test_behind_a_trusted_proxy_the_site_sees_the_admins_address() -> None:
    from web.client_address import forwarded_client

    seen = []

    async def where(request: web.Request) -> web.Response:
        seen.append(request.remote)
        return web.Response(text="ok")

    def app_with(trusted: list[str]) -> web.Application:
        app = web.Application(middlewares=[forwarded_client(trusted)])
        app.router.add_get("/admin/login", where)
        app.router.add_get("/sms/kannel", where)
        return app

    forged = {"X-Forwarded-For": "10.9.9.9, 10.0.0.7"}
    async with TestClient(TestServer(app_with(["127.0.0.1"]))) as client:
        await client.get("/admin/login", headers=forged)  # the proxy saw 10.0.0.7
        await client.get("/sms/kannel", headers=forged)  # loopback-only parts: as seen
        await client.get("/admin/login", headers={"X-Forwarded-For": "junk"})
    async with TestClient(TestServer(app_with([]))) as client:
        await client.get("/admin/login", headers=forged)  # no trusted proxy: ignored
    assert seen == ["10.0.0.7", "127.0.0.1", "127.0.0.1", "127.0.0.1"]
