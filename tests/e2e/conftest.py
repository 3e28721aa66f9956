from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import post_mortem
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


@pytest.fixture(autouse=True)
def _log_marks(request: pytest.FixtureRequest) -> None:
    """For a test on the PBX: where its logs stood when it started (see post_mortem.py)."""
    if "pbx" in request.fixturenames:
        request.node.log_marks = post_mortem.marks(request.getfixturevalue("pbx"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    start = getattr(item, "log_marks", None)
    if report.failed and start is not None:
        report.sections.extend(post_mortem.sections(start))
