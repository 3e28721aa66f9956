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


# Contact URIs a member's phone may register: {port} is the phone's own SIPp port, so any
# leg Asterisk dials from them reaches a phone that answers. PJSIP accepts all of these at
# REGISTER (found with SIPp); it refuses a `"`, `|`, `\`, `{` or an `@` in a parameter, and
# a very long URI (REFUSED_CONTACTS below).
HOSTILE_CONTACTS = {
    # a second Dial() leg: another member's phone rang too (before the fix)
    "another-member": "sip:3003@127.0.0.1:{port};x=1&PJSIP/3001",
    # a second leg through the trunk's endpoint (before the fix: dialed out)
    "trunk": "sip:x&PJSIP/cug-trunk/sip:0772999999@127.0.0.1:{port}",
    # an unbalanced parenthesis: Dial() read its ring time and options into the URI
    "paren": "sip:3003@127.0.0.1:{port};x=(",
    "bracket": "sip:3003@127.0.0.1:{port};x=[",
    # a comma and Dial() options in the user part
    "options": "sip:3003,U(cug-confirm)@127.0.0.1:{port}",
}


def _allowed_dial(dial_string: str) -> bool:
    """Whether a Dial() leg of a call to Ben (3003) rings only Ben: his registered phone
    without the hostile part, or his mobile over the trunk."""
    return (
        dial_string.startswith("3003/sip:3003@127.0.0.1:")
        and not any(ch in dial_string for ch in "&([,")
    ) or dial_string.startswith(("3003-+256772200003-", "+256772200003@cug-trunk"))


@pytest.mark.parametrize("contact", HOSTILE_CONTACTS.values(), ids=HOSTILE_CONTACTS)
def test_a_hostile_contact_rings_nobody_else_and_members_stay_reachable(
    pbx: Pbx, contact: str
) -> None:
    anna, ben, sarah = pbx.phone("3002"), pbx.phone("3003"), pbx.phone("3001")
    hostile = contact.format(port=ben.port)
    assert sarah.register() == 200
    assert ben.register(expires=0) == 200  # his usual contact, from earlier tests, is gone
    assert ben.register(contact=hostile) == 200
    try:
        with pbx.chain("callee:6"):
            mark = pbx.ami.mark()
            with ben.listening() as ben_trace, sarah.listening() as sarah_trace:
                result = anna.call("3003")
        # The hostile contact is not rung, as if Ben had no phone registered; his mobile
        # is unreachable too (no gateway answers here). Anna hears so; nobody else rang.
        assert result.code == 480, result.received()
        assert received_requests(ben_trace, "INVITE") == []
        assert received_requests(sarah_trace, "INVITE") == []
        dialed = [e["DialString"] for e in pbx.ami.since(mark, "DialBegin")]
        assert all(_allowed_dial(d) for d in dialed), dialed
        # Other members are reached as usual.
        with sarah.listening() as sarah_trace:
            assert anna.call("3001").code == 200
        assert len(received_requests(sarah_trace, "INVITE")) == 1
    finally:
        assert ben.register(expires=0, contact=hostile) == 200
    # Ben's phone registers as usual again: it rings, once.
    assert ben.register() == 200
    with ben.listening() as ben_trace:
        assert anna.call("3003").code == 200
    assert len(received_requests(ben_trace, "INVITE")) == 1


REFUSED_CONTACTS = {
    # A quote to end Dial()'s quoted argument, then options, and a `|`: PJSIP drops the
    # REGISTER unanswered (a syntax error in its log).
    "quote": ('sip:3003@127.0.0.1:{port};x=",U(x)|y', None),
    # 1,500 characters: Asterisk answers 400.
    "long": ("sip:3003@127.0.0.1:{port};x=" + "a" * 1500, 400),
}


@pytest.mark.parametrize(("contact", "answer"), REFUSED_CONTACTS.values(), ids=REFUSED_CONTACTS)
def test_a_contact_pjsip_refuses_is_never_registered(
    pbx: Pbx, contact: str, answer: int | None
) -> None:
    anna, ben = pbx.phone("3002"), pbx.phone("3003")
    assert ben.register(contact=contact.format(port=ben.port)) == answer
    assert ben.register() == 200
    with ben.listening() as ben_trace:
        assert anna.call("3003").code == 200
    assert len(received_requests(ben_trace, "INVITE")) == 1
