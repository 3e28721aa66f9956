"""A real Kannel's sms-service posting texts from phones (fakesmsc) to the service's inbound
side: basic auth from the URL, UTF-8 intact, a text the service could not store is posted
again by Kannel and taken once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlite_utils
from aiohttp import web
from aiohttp.test_utils import TestServer

from agi.text_delivery import TextDelivery
from agi.text_intake import TextIntake
from directory.lookup import Directory
from directory.schema import open_memory
from routing.calls import Policy
from routing.texts import TextPolicy
from tests.e2e.harness import Ports
from tests.gateway.kannel import Kannel
from tests.unit.conftest import MEMBERS, save
from tests.unit.test_text_relay import FakeAmi
from web.sms_inbound import mount_sms_inbound

SECRET = "k" * 43
ANNA = "+256772100002"


class Inbound:
    def __init__(self, db: sqlite_utils.Database, server: TestServer) -> None:
        self.db = db
        self.server = server
        self.requests = 0

    def url(self, password: str = SECRET) -> str:
        return (
            f"http://sms:{password}@127.0.0.1:{self.server.port}/sms/kannel"
            "?from=%p&to=%P&id=%I&coding=%c"
        )

    def bodies(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT body FROM texts WHERE kind = 'text'")]

    async def until(self, probe, what: str) -> None:  # noqa: ANN001
        for _ in range(300):
            if probe():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"never: {what}")


@pytest.fixture
async def inbound() -> AsyncIterator[Inbound]:
    db = open_memory()
    assert save(db, MEMBERS).ok
    policy = TextPolicy()
    delivery = TextDelivery(db, FakeAmi(), policy)  # type: ignore[arg-type]
    app = web.Application()
    mount_sms_inbound(app, TextIntake(Directory(db), Policy(), policy, delivery), SECRET)
    box: Inbound

    @web.middleware
    async def count(request: web.Request, handler):  # noqa: ANN001, ANN202
        box.requests += 1
        return await handler(request)

    app.middlewares.append(count)
    server = TestServer(app, port=Ports().take())
    await server.start_server()
    box = Inbound(db, server)
    yield box
    await server.close()


async def start(folder: Path, url: str) -> Kannel:
    kannel = Kannel(folder, sms_service_url=url)
    await asyncio.to_thread(kannel.start)
    return kannel


async def test_texts_from_phones_arrive_intact(inbound: Inbound, tmp_path: Path) -> None:
    kannel = await start(tmp_path / "kannel", inbound.url())
    try:
        await asyncio.to_thread(kannel.send_from_phone, ANNA, "0800100116", "2003 aŋŋamba ñ ü")
        await inbound.until(lambda: inbound.bodies(), "the text stored")
    finally:
        await asyncio.to_thread(kannel.stop)
    assert inbound.bodies() == ["aŋŋamba ñ ü"]


async def test_a_text_not_stored_is_posted_again_and_taken_once(
    inbound: Inbound, tmp_path: Path
) -> None:
    inbound.db.execute("ALTER TABLE inbound_sms RENAME TO inbound_sms_away")  # storing fails
    kannel = await start(tmp_path / "kannel", inbound.url())
    try:
        await asyncio.to_thread(kannel.send_from_phone, ANNA, "0800100116", "2003 kept")
        await inbound.until(lambda: inbound.requests >= 2, "Kannel to post it again")
        assert inbound.bodies() == []
        inbound.db.execute("ALTER TABLE inbound_sms_away RENAME TO inbound_sms")
        await inbound.until(lambda: inbound.bodies(), "the text stored")
        posted = inbound.requests
        await asyncio.sleep(2.5)  # Kannel's retry delay is 1 s: a further post would show
    finally:
        await asyncio.to_thread(kannel.stop)
    assert inbound.bodies() == ["kept"]
    assert inbound.requests == posted


async def test_a_wrong_secret_is_refused(inbound: Inbound, tmp_path: Path) -> None:
    kannel = await start(tmp_path / "kannel", inbound.url(password="not-the-secret-at-all"))
    try:
        await asyncio.to_thread(kannel.send_from_phone, ANNA, "0800100116", "2003 hello")
        await inbound.until(lambda: inbound.requests >= 2, "Kannel to post, and again")
    finally:
        await asyncio.to_thread(kannel.stop)
    assert inbound.bodies() == []
