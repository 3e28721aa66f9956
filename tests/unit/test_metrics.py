"""/metrics: the directory's counts, AMI and phones, the FastAGI latency histogram, in the
Prometheus format; loopback only unless an address is allowed."""

from __future__ import annotations

from types import SimpleNamespace

import sqlite_utils
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from directory.lookup import Directory
from tests.unit.test_admin_cases import add_call
from tests.unit.test_admin_live import FakeAmi
from web.metrics import _allowed, mount_metrics


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
    service = mount_metrics(app, db, FakeAmi())
    service.observe("member-call", 0.003)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        found = samples(await response.text())
        forwarded = await client.get("/metrics", headers={"X-Forwarded-For": "10.1.1.1"})
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
