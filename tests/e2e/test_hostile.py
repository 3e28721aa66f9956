"""Hostile and broken input reaching the real Asterisk: strangers' caller IDs, a broken
routing service. Each must end in a refusal or the safe fallback, never a connected call to a
non-member and never a hung service."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.e2e.harness import Pbx, received_requests

pytestmark = pytest.mark.e2e

HOSTILE_CALLER_IDS = [
    "9" * 8000,  # an absurdly long caller ID
    "0772200002%0d%0aAction:%20Originate",  # a member's number with an AMI line after it
    "0772999999;drop=table--",  # a stranger's number with SQL-ish URI parameters
    "%22%3b--",
]


@pytest.mark.parametrize("caller_id", HOSTILE_CALLER_IDS, ids=["8kB", "crlf", "params", "quote"])
def test_hostile_trunk_caller_ids_are_refused_and_the_service_stays_up(
    pbx: Pbx, caller_id: str
) -> None:
    trunk, ben = pbx.trunk(), pbx.phone("3003")
    assert trunk.register() == 200
    assert ben.register() == 200
    with ben.listening() as ben_trace:
        result = trunk.call("3003", caller=caller_id)
    assert result.code == 403
    assert received_requests(ben_trace, "INVITE") == []
    assert pbx.health()["ami"] == "up"
    # A member's call right after is routed as usual.
    with ben.listening() as ben_trace:
        assert pbx.phone("3002").call("0772200003").code == 200
    assert len(received_requests(ben_trace, "INVITE")) == 1


@contextmanager
def garbage_fastagi(port: int) -> Iterator[list[bytes]]:
    """A FastAGI impostor on the service's port: reads the request, answers nonsense, hangs up."""
    seen: list[bytes] = []
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    seen.append(conn.recv(65536))
                    conn.sendall(b"\x00\xffNOT AGI AT ALL\r\nSET VARIABLE CUG_ACTION\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


def test_routing_service_answering_garbage_gives_the_safe_fallback(pbx: Pbx) -> None:
    anna, ben = pbx.phone("3002"), pbx.phone("3003")
    assert ben.register() == 200
    pbx.stop_service()
    try:
        with garbage_fastagi(pbx.agi_port) as seen:
            with ben.listening() as ben_trace:
                assert anna.call("3003").code == 200
            assert len(received_requests(ben_trace, "INVITE")) == 1
            with ben.listening() as ben_trace:
                assert anna.call("0772200003").code == 403
            assert received_requests(ben_trace, "INVITE") == []
            assert seen, "Asterisk never asked the impostor"
    finally:
        pbx.start_service()
