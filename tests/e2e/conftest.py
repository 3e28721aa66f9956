from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Pbx

MEMBERS = Path(__file__).parent / "members.csv"
CUG_NUMBER = "0800100116"
CALLBACK_NUMBER = "0800100199"  # "please call me"


@pytest.fixture(scope="session")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    box = Pbx(tmp_path_factory.mktemp("pbx"))
    try:
        box.up(MEMBERS, trunk_numbers=(CUG_NUMBER,), callback_numbers=(CALLBACK_NUMBER,))
        yield box
    finally:
        box.down()
