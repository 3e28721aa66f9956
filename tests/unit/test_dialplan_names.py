"""The dialplan and the Python service must use the same names, or calls silently fail."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

import cug.serve
from agi import variables as v
from agi.fastagi import FastAgiServer
from cug.asterisk_config import local_files
from cug.settings import load

ROOT = Path(__file__).resolve().parents[2]
DIALPLAN = (ROOT / "dialplan" / "extensions-cug.conf").read_text()
PJSIP = (ROOT / "asterisk-conf" / "pjsip.conf").read_text()
# The dialplan without its comments: a name only in a comment does not count.
CODE = "\n".join(line.split(";", 1)[0] for line in DIALPLAN.splitlines())


class _Stop(Exception):
    pass


@pytest.fixture
def served_routes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The routes `cug serve` registers, found by running it until it would start listening."""
    registered: set[str] = set()

    def route(self: FastAgiServer, path: str, handler: object) -> None:
        assert callable(handler)
        registered.add(path)

    async def start(self: FastAgiServer, host: str, port: int) -> None:
        raise _Stop

    monkeypatch.setattr(FastAgiServer, "route", route)
    monkeypatch.setattr(FastAgiServer, "start", start)
    monkeypatch.delenv("CUG_DB", raising=False)
    settings = load(home=tmp_path / "home")
    with pytest.raises(_Stop):
        asyncio.run(cug.serve.run(settings))
    return registered


@pytest.mark.parametrize("name", [v.ACTION, v.REASON])
def test_channel_variables_are_used_by_the_dialplan(name: str) -> None:
    assert re.search(r"\$\{" + re.escape(name) + r"\}", CODE), name


def test_the_route_is_read_and_cleared_before_each_ask() -> None:
    assert "CUT(" + v.ROUTE + ",|," in CODE
    asks = re.findall(r"AGI\(\$\{CUG_AGI\}/", CODE)
    cleared = re.findall(r"Set\((?:" + v.ROUTE + "|" + v.TEXT_RESULT + r")=\)", CODE)
    assert len(cleared) == len(asks)


def test_the_service_sets_only_the_route_and_the_text_result() -> None:
    assert {v.ROUTE, v.TEXT_RESULT} == v.SETTABLE


@pytest.mark.parametrize("route", [v.ROUTE_MEMBER_CALL, v.ROUTE_TRUNK_CALL, v.ROUTE_MEMBER_TEXT])
def test_routes_are_called_by_the_dialplan(route: str) -> None:
    assert f"AGI(${{CUG_AGI}}/{route}," in CODE


def test_every_dialplan_route_is_served(served_routes: set[str]) -> None:
    used = set(re.findall(r"AGI\(\$\{CUG_AGI\}/([^,)?]+)", CODE))
    assert used, "the dialplan asks the routing service nothing"
    assert used <= served_routes, used - served_routes
    assert served_routes == {
        v.ROUTE_MEMBER_CALL,
        v.ROUTE_TRUNK_CALL,
        v.ROUTE_TRUNK_PIN,
        v.ROUTE_MEMBER_TEXT,
        v.ROUTE_FLASH_ENDED,
        v.ROUTE_CALLBACK_CALL,
        v.ROUTE_BRIDGE_PIN,
        v.ROUTE_CONFERENCE_INVITE,
        v.ROUTE_CONFERENCE_TURNED_AWAY,
    }


@pytest.mark.parametrize(
    "context",
    [
        v.CONTEXT_MEMBERS,
        v.CONTEXT_TRUNK,
        v.CONTEXT_FALLBACK,
        v.CONTEXT_CALLBACK,
        v.CONTEXT_BRIDGE,
        v.CONTEXT_CONFERENCE_JOIN,
        v.CONTEXT_LEG,
    ],
)
def test_contexts_exist(context: str) -> None:
    assert re.search(r"^\[" + re.escape(context) + r"\]", CODE, re.M), context


def test_endpoints_land_in_the_named_contexts() -> None:
    contexts = re.findall(r"^\s*context\s*=\s*(\S+)", PJSIP, re.M)
    assert v.CONTEXT_MEMBERS in contexts
    assert v.CONTEXT_TRUNK in contexts
    for context in contexts:
        assert re.search(r"^\[" + re.escape(context) + r"\]", CODE, re.M), context


ACTIONS = {
    v.ACTION_DIAL,
    v.ACTION_REFUSE,
    v.ACTION_PROMPT,
    v.ACTION_FLASH,
    v.ACTION_PIN,
    v.ACTION_VERIFIED,
    v.ACTION_BRIDGE,
    v.ACTION_BRIDGE_PIN,
    v.ACTION_INVITED,
}


@pytest.mark.parametrize("value", sorted(ACTIONS))
def test_action_values_are_tested_by_the_dialplan(value: str) -> None:
    assert f'"${{{v.ACTION}}}" = "{value}"' in CODE


def test_dialplan_tests_no_action_the_service_never_sets() -> None:
    tested = set(re.findall(r'"\$\{' + v.ACTION + r'\}" = "([^"]*)"', CODE))
    assert tested - {""} == ACTIONS  # "": the service answered nothing


def test_dialplan_reads_no_cug_variable_nobody_sets(tmp_path: Path) -> None:
    read = set(re.findall(r"\$\{(CUG_[A-Z_]+)\}", CODE))
    set_in_dialplan = set(re.findall(r"(?:Set\(|Read\()(?:__?)?(CUG_[A-Z_]+)", CODE))
    for mset in re.findall(r"MSet\((.*)\)$", CODE, re.M):
        set_in_dialplan |= set(re.findall(r"(?:^|,)(?:__?)?(CUG_[A-Z_]+)=", mset))
    generated = local_files(load(home=tmp_path))["cug-local/dialplan-globals.conf"]
    shipped = (ROOT / "asterisk-conf" / "extensions.conf").read_text()
    globals_ = set(re.findall(r"^(CUG_[A-Z_]+)\s*=", generated + "\n" + shipped, re.M))
    assert "CUG_AGI" in globals_
    unexplained = read - v.SETTABLE - set_in_dialplan - globals_
    assert not unexplained, unexplained
