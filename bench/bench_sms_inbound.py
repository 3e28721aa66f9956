"""Texts from basic phones handled per second through Kannel.

fakesmsc (the phone network) sends N texts from members' mobiles as fast as it can;
bearerbox passes them to smsbox, whose sms-service posts each to the service's HTTP side
(web/sms_inbound.py: basic auth, the text and its Kannel id stored in one transaction,
relayed: the delivery worker hands each to the recipient's "phone", an AMI stand-in that
takes every MessageSend, as a reachable phone's Asterisk would). The figure is texts stored
per second, from the first text sent until the N-th is stored (and until all are relayed).

Baseline, in the same run and on the same Kannel set-up: smsbox posting to a trivial HTTP
endpoint that only answers 200. The ratio says how much of Kannel's own rate the service
keeps.

    .venv/bin/python bench/bench_sms_inbound.py --texts 3000
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/x.py`

from agi.text_delivery import TextDelivery
from agi.text_intake import TextIntake
from bench.common import machine, now_text, setup_logging
from directory.lookup import Directory
from directory.schema import open_db
from routing.calls import Policy
from routing.texts import TextPolicy
from tests.e2e.harness import Ports
from tests.gateway.kannel import Kannel
from tests.unit.conftest import MEMBERS, save
from web.sms_inbound import mount_sms_inbound

log = logging.getLogger("bench.sms_inbound")
SECRET = "bench-" + "x" * 40
CUG_NUMBER = "0800100116"


class Reply:
    success = True
    message = ""


class PhonesAlwaysOn:
    """Asterisk as the service sees it when every recipient's phone is reachable."""

    up = True

    def __init__(self) -> None:
        self.sent = 0

    async def action(self, action: dict[str, str], timeout: float = 10) -> Reply:
        self.sent += 1
        return Reply()


def load_lines() -> list[str]:
    """One text per (sender, recipient) pair of the active test members."""
    people = [(phone, ext) for _, phone, _, _, _, ext in MEMBERS if ext != "2009"]
    return [
        f"+256{phone[1:]} {CUG_NUMBER} text {to} bench text from {ext} to {to}"
        for phone, ext in people
        for _, to in people
        if to != ext
    ]


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = Ports().take()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def until(probe: Callable[[], int], target: int, deadline: float) -> float:
    """Seconds until probe() reaches target (polled every 20 ms), or raise."""
    started = time.monotonic()
    while probe() < target:
        if time.monotonic() - started > deadline:
            raise RuntimeError(f"only {probe()} of {target} within {deadline:g} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def through_kannel(
    work: Path, app: web.Application, texts: int, done: Callable[[], int], extra: Callable[[], int]
) -> dict[str, Any]:
    """Run N texts through a fresh Kannel posting to `app`; seconds until done() == N."""
    runner, port = await serve(app)
    url = f"http://sms:{SECRET}@127.0.0.1:{port}/sms/kannel?from=%p&to=%P&id=%I&coding=%c"
    kannel = Kannel(work, sms_service_url=url)
    try:
        await asyncio.to_thread(kannel.start)
        await asyncio.to_thread(kannel.start_load, load_lines(), texts)
        seconds = await until(done, texts, deadline=600)
        relayed = await until(extra, texts, deadline=600) if extra is not done else 0.0
        return {
            "texts": texts,
            "stored_s": round(seconds, 2),
            "per_s": round(texts / seconds, 1),
            "all_relayed_s": round(seconds + relayed, 2),
        }
    finally:
        await asyncio.to_thread(kannel.stop)
        await runner.cleanup()


async def baseline(work: Path, texts: int) -> dict[str, Any]:
    got = 0

    async def answer(request: web.Request) -> web.Response:
        nonlocal got
        await request.read()
        got += 1
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/sms/kannel", answer)
    return await through_kannel(work, app, texts, lambda: got, lambda: got)


async def service(work: Path, texts: int) -> dict[str, Any]:
    db = open_db(work / "cug.db")
    assert save(db, MEMBERS).ok
    policy = TextPolicy(per_minute=10**9, sms_after_seconds=10**6)  # no flood limit, no SMS
    ami = PhonesAlwaysOn()
    delivery = TextDelivery(db, ami, policy)  # type: ignore[arg-type]
    intake = TextIntake(Directory(db), Policy(), policy, delivery)
    app = web.Application()
    mount_sms_inbound(app, intake, SECRET)
    worker = asyncio.create_task(delivery.run())
    reader = sqlite3.connect(work / "cug.db")

    def stored() -> int:
        return reader.execute("SELECT count(*) FROM texts WHERE kind = 'text'").fetchone()[0]

    try:
        result = await through_kannel(work / "kannel", app, texts, stored, lambda: ami.sent)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        reader.close()
    result["relayed"] = ami.sent
    return result


def run(step: Callable[[Path, int], Awaitable[dict[str, Any]]], texts: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-sms-") as folder:
        return asyncio.run(step(Path(folder), texts))


@click.command()
@click.option("--texts", default=3000, show_default=True, help="Texts sent by fakesmsc.")
@click.option("--verbose", is_flag=True)
def main(texts: int, verbose: bool) -> None:
    setup_logging(verbose)
    logging.getLogger("web.sms_inbound").setLevel(logging.WARNING)
    logging.getLogger("agi").setLevel(logging.WARNING)
    started = now_text()
    base = run(baseline, texts)
    log.info("baseline (trivial endpoint): %s", base)
    ours = run(service, texts)
    log.info("service: %s", ours)
    ratio = ours["per_s"] / base["per_s"]
    click.echo(f"date: {started}\nmachine: {machine()}")
    click.echo(f"baseline, Kannel to a trivial 200 endpoint: {base}")
    click.echo(f"service, stored and relayed: {ours}")
    click.echo(f"ratio service/baseline: {ratio:.2f}")


if __name__ == "__main__":
    main()
