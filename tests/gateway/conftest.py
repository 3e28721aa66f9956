from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sms_gateway.kannel import KannelGateway
from tests.gateway.kannel import Kannel


def running(folder: Path) -> Iterator[Kannel]:
    box = Kannel(folder)
    try:
        box.start()
        yield box
    finally:
        box.stop()


@pytest.fixture(scope="module")
def kannel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kannel]:
    """One running Kannel for a test module; tests send to numbers of their own."""
    yield from running(tmp_path_factory.mktemp("kannel"))


@pytest.fixture
def own_kannel(tmp_path: Path) -> Iterator[Kannel]:
    """A Kannel for one test that stops parts of it."""
    yield from running(tmp_path / "kannel")


@pytest.fixture
async def gateway(kannel: Kannel) -> AsyncIterator[KannelGateway]:
    gw = KannelGateway(kannel.gateway_config())
    yield gw
    await gw.close()
