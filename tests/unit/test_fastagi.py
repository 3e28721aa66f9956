"""The FastAGI server, driven over a socket the way Asterisk drives it.

The server runs on its own event loop in a thread, so a server that freezes its loop makes
these tests fail (the client times out) instead of hanging the test run.
"""

from __future__ import annotations

import asyncio
import base64
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlite_utils

from agi import variables as v
from agi.call_routing import CallRoutes
from agi.call_tags import CallTags, decode
from agi.fastagi import MAX_HEADER_BYTES, AgiCall, FastAgiServer, agi_quote
from agi.trunk_calls import TrunkRoutes
from directory.chains import ChainStore
from directory.lookup import Directory
from directory.pins import PinStore
from directory.schema import open_memory
from routing.callbacks import CallbackPolicy
from routing.calls import Policy
from tests.unit.conftest import INACTIVE, MEMBERS, save

CUG_NUMBER = "+256800100116"
CALLBACK_NUMBER = "+256800100199"
REPLY_TIMEOUT = 3.0


class AgiServerThread:
    """A FastAgiServer with the call routes over the test members, on a loop of its own."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.app: FastAgiServer | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self.db = open_memory()  # created here: SQLite connections stay in their thread
        assert save(self.db, MEMBERS).ok
        self.db.execute("UPDATE members SET active = 0 WHERE extension = ?", (INACTIVE,))
        routes = CallRoutes(Directory(self.db), self.policy)
        self.app = FastAgiServer()
        self.app.route(v.ROUTE_MEMBER_CALL, routes.member_call)
        trunk = TrunkRoutes(
            routes,
            Directory(self.db),
            self.policy.own_numbers,
            frozenset({CALLBACK_NUMBER}),
            CallbackPolicy(),
            PinStore(self.db),
        )
        self.app.route(v.ROUTE_TRUNK_CALL, trunk.trunk_call)
        self.server = await self.app.start("127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    def start(self) -> AgiServerThread:
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def in_thread(self, fn: Callable[[sqlite_utils.Database], Any]) -> Any:
        """Run fn(db) on the server's loop (its SQLite connection lives there)."""

        async def run() -> Any:
            return fn(self.db)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@pytest.fixture
def agi() -> Iterator[AgiServerThread]:
    server = AgiServerThread(Policy(trunk_available=False)).start()
    yield server
    server.stop()


@pytest.fixture
def agi_trunk() -> Iterator[AgiServerThread]:
    server = AgiServerThread(Policy(trunk_available=True, own_numbers=frozenset({CUG_NUMBER})))
    server = server.start()
    yield server
    server.stop()


def parse_agi_args(line: str) -> list[str]:
    """Split a command line as Asterisk's res_agi does: quotes group, backslash escapes."""
    args: list[str] = []
    cur: list[str] = []
    quoted = escaped = started = False
    for ch in line:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = started = True
        elif ch == '"':
            quoted = not quoted
            started = True
        elif ch in " \t" and not quoted:
            if started:
                args.append("".join(cur))
                cur, started = [], False
        else:
            cur.append(ch)
            started = True
    if started:
        args.append("".join(cur))
    return args


@dataclass
class Session:
    commands: list[str] = field(default_factory=list)

    @property
    def sets(self) -> dict[str, str]:
        out = {}
        for command in self.commands:
            if command.startswith("SET VARIABLE "):
                args = parse_agi_args(command)
                assert len(args) == 4, command
                out[args[2]] = args[3]
        return out

    @property
    def fields(self) -> list[str]:
        """CUG_ROUTE split as the dialplan splits it."""
        return self.sets.get(v.ROUTE, "").split("|")

    @property
    def action(self) -> str:
        return self.fields[0]

    @property
    def reason(self) -> str:
        assert self.action == v.ACTION_REFUSE
        return self.fields[1]

    @property
    def steps(self) -> list[str]:
        assert self.action == v.ACTION_DIAL
        return self.fields[5:]

    @property
    def first(self) -> tuple[str, str]:
        """(ring seconds, extension) of the member whose phones ring straight away."""
        return self.fields[3], self.fields[4]

    @property
    def call(self) -> str:
        """<caller extension>:<case>:<urgent>, without the caller's name."""
        return self.fields[2].rsplit(":", 1)[0]

    @property
    def caller_name(self) -> str:
        return base64.b64decode(self.fields[2].rsplit(":", 1)[1]).decode()

    @property
    def tags(self) -> CallTags | None:
        route = self.fields
        if route[0] == v.ACTION_DIAL:
            return decode(route[1])
        if route[0] == v.ACTION_REFUSE:
            return decode(route[2])
        return None


def headers_for(script: str, *args: str, callerid: str = "2002", **extra: str) -> str:
    """The header block Asterisk sends at the start of a FastAGI request."""
    h = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1/{script}",
        "agi_channel": "PJSIP/2002-00000001",
        "agi_language": "en",
        "agi_type": "PJSIP",
        "agi_uniqueid": "1718000000.1",
        "agi_version": "22.0.0",
        "agi_callerid": callerid,
        "agi_calleridname": "unknown",
        "agi_callingpres": "0",
        "agi_dnid": "unknown",
        "agi_context": "cug-members",
        "agi_extension": args[-1] if args else "s",
        "agi_priority": "2",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140000000000000",
    }
    h.update(extra)
    for n, arg in enumerate(args, 1):
        h[f"agi_arg_{n}"] = arg
    return "".join(f"{k}: {val}\n" for k, val in h.items()) + "\n"


async def play_asterisk(
    port: int, header_block: str | bytes, contacts: dict[str, str] | None = None
) -> Session:
    """Send the headers, then answer each command as Asterisk would until the server hangs up.

    `contacts` maps an endpoint to its registered contacts; an endpoint not in it is
    unregistered (GET FULL VARIABLE gives result=0).
    """
    contacts = contacts or {}
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = header_block.encode() if isinstance(header_block, str) else header_block
    session = Session()
    try:
        writer.write(data)
        await writer.drain()
        while True:
            line = await asyncio.wait_for(reader.readline(), REPLY_TIMEOUT)
            if not line:
                return session
            assert line.endswith(b"\n")
            command = line.decode()[:-1]
            session.commands.append(command)
            if command.startswith("GET FULL VARIABLE "):
                found = re.search(r"PJSIP_DIAL_CONTACTS\(([0-9]+)\)", command)
                assert found, command
                contact = contacts.get(found.group(1))
                writer.write(
                    f"200 result=1 ({contact})\n".encode() if contact else b"200 result=0\n"
                )
            else:
                writer.write(b"200 result=1\n")
            await writer.drain()
    finally:
        writer.close()


def contact(ext: str, port: int = 5060) -> str:
    """A registered contact as PJSIP_DIAL_CONTACTS gives it."""
    return f"PJSIP/{ext}/sip:{ext}@127.0.0.1:{port}"


async def test_member_call_follows_the_callees_chain(agi: AgiServerThread) -> None:
    s = await play_asterisk(agi.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "2003"))
    assert s.action == v.ACTION_DIAL
    assert s.call == "2002:0:0"  # caller extension, no case, not urgent
    assert s.caller_name == "Okello Denis"
    # The callee rings as a plain call; the supervisor, probation and DAC officers after
    # them must press a key. No trunk: no mobiles, no Child Helpline step.
    assert s.steps == ["20:0:2003-", "20:1:2001-", "20:1:2006-", "20:1:2007-"]
    assert s.first == ("20", "2003")  # the dialplan rings 2003's phones straight away
    assert len(s.commands) == 1  # one round trip: the route
    assert agi.app is not None and agi.app.served == 1


async def test_the_next_call_follows_a_change_made_meanwhile(agi: AgiServerThread) -> None:
    """Steps are kept for calls alike (routing/versioned_cache.py): a change of a member or of a
    chain, made meanwhile by the CLI or the admin site, is followed by the very next call."""
    headers = headers_for(v.ROUTE_MEMBER_CALL, "2002", "2003")
    before = (await play_asterisk(agi.port, headers)).steps
    assert before == ["20:0:2003-", "20:1:2001-", "20:1:2006-", "20:1:2007-"]
    assert (await play_asterisk(agi.port, headers)).steps == before

    agi.in_thread(
        lambda db: db.execute(
            "UPDATE members SET active = 0 WHERE extension = '2006'"
        ).connection.commit()
    )
    assert (await play_asterisk(agi.port, headers)).steps == [
        "20:0:2003-",
        "20:1:2001-",
        "20:1:2007-",
    ]
    agi.in_thread(
        lambda db: ChainStore(db).save("", "", False, "callee:30, supervisor:15", "admin")
    )
    assert (await play_asterisk(agi.port, headers)).steps == ["30:0:2003-", "15:1:2001-"]


async def test_member_dialing_a_mobile_number_format(agi: AgiServerThread) -> None:
    s = await play_asterisk(agi.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "+256772100003"))
    assert s.steps[0] == "20:0:2003-"


async def test_with_trunk_mobiles_and_the_helpline_join_the_chain(
    agi_trunk: AgiServerThread,
) -> None:
    s = await play_asterisk(agi_trunk.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "2003"))
    assert s.steps == [
        "20:0:2003-+256772100003",
        "20:1:2001-+256772100001",
        "20:1:2006-+256772100006",
        "20:1:2007-+256772100007",
        "60:0:0-116",
    ]
    assert s.tags is not None and s.tags.steps == 5


async def test_urgent_prefix_shortens_every_step(agi_trunk: AgiServerThread) -> None:
    s = await play_asterisk(agi_trunk.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "*0*2003"))
    assert s.call == "2002:0:1"
    assert [step.split(":")[0] for step in s.steps] == ["10"] * 5
    assert s.tags is not None and s.tags.urgent and s.tags.dialed == "2003"


async def test_a_call_on_an_urgent_case_is_urgent_by_itself(agi: AgiServerThread) -> None:
    def urgent_case(db: sqlite_utils.Database) -> None:
        for number, urgency in ((41, "urgent"), (42, "normal")):
            db["cases"].insert(
                {
                    "id": number,
                    "reference": f"NCH-{number}",
                    "district": "Oyam",
                    "category": "neglect",
                    "urgency": urgency,
                    "status": "open",
                    "reported_at": "2026-11-01T08:00:00+00:00",
                }
            )

    agi.in_thread(urgent_case)
    s = await play_asterisk(agi.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "*41*2003"))
    assert s.call == "2002:41:1"
    assert {step.split(":")[0] for step in s.steps} == {"10"}
    s = await play_asterisk(agi.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "*42*2003"))
    assert s.call == "2002:42:0"
    assert {step.split(":")[0] for step in s.steps} == {"20"}


async def test_supervisor_short_code_escalates_from_the_supervisor(agi: AgiServerThread) -> None:
    s = await play_asterisk(agi.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "100"))
    # Grace (2001) has no supervisor: her chain goes on to the district's officers.
    assert s.steps == ["20:0:2001-", "20:1:2006-", "20:1:2007-"]


async def test_a_team_rings_first_then_its_chain_goes_on(agi_trunk: AgiServerThread) -> None:
    agi_trunk.in_thread(
        lambda db: db.execute("INSERT INTO short_codes VALUES ('105', 'role', 'psw', NULL, 'PSWs')")
    )
    s = await play_asterisk(agi_trunk.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "105"))
    # The team at once, on SIP phones only; then the chain of its first member (2003):
    # their supervisor, the district's probation and DAC officers, the Child Helpline.
    assert s.steps == [
        "30:0:2003-&2008-",
        "20:1:2001-+256772100001",
        "20:1:2006-+256772100006",
        "20:1:2007-+256772100007",
        "60:0:0-116",
    ]
    assert s.tags is not None and s.tags.steps == 5


async def test_outside_number_goes_to_the_trunk(
    agi: AgiServerThread, agi_trunk: AgiServerThread
) -> None:
    s = await play_asterisk(agi_trunk.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "116"))
    assert s.steps == ["30:0:0-116"]
    s = await play_asterisk(agi.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "116"))
    assert s.reason == "no_trunk"


@pytest.mark.parametrize(
    ("endpoint", "dialed", "reason"),
    [
        ("2002", "0772999999", "not_a_member"),
        ("2002", "2009", "inactive_member"),
        ("2009", "2003", "inactive_caller"),
        ("7777", "2003", "unknown_caller"),
        ("", "2003", "unknown_caller"),
        ("2002", "abc;drop", "invalid_dialed"),
        ("2008", "100", "no_supervisor"),
    ],
)
async def test_refusals(agi: AgiServerThread, endpoint: str, dialed: str, reason: str) -> None:
    s = await play_asterisk(agi.port, headers_for(v.ROUTE_MEMBER_CALL, endpoint, dialed))
    assert s.reason == reason
    assert len(s.commands) == 1  # one round trip
    assert s.tags is not None and s.tags.refusal == reason


async def test_early_close_does_not_freeze_the_server(agi: AgiServerThread) -> None:
    half = headers_for(v.ROUTE_MEMBER_CALL, "2002", "2003")[:200]
    for _ in range(3):
        _, writer = await asyncio.open_connection("127.0.0.1", agi.port)
        writer.write(half.encode())
        await writer.drain()
        writer.close()
    # A silent peer that keeps its connection open must not hold anyone up either.
    _, silent = await asyncio.open_connection("127.0.0.1", agi.port)
    await asyncio.sleep(0.05)
    started = time.monotonic()
    s = await asyncio.wait_for(
        play_asterisk(agi.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "2003")), 1.0
    )
    assert time.monotonic() - started < 1.0
    assert s.action == v.ACTION_DIAL
    silent.close()


async def test_silent_peer_is_dropped(agi: AgiServerThread) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
    writer.write(b"agi_network: yes\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5.0) == b""  # closed after HEADER_TIMEOUT
    writer.close()


async def test_oversized_headers_are_dropped(agi: AgiServerThread) -> None:
    junk = "".join(f"agi_junk_{n}: {'x' * 100}\n" for n in range(MAX_HEADER_BYTES // 100 + 10))
    block = headers_for(v.ROUTE_MEMBER_CALL, "2002", "2003").replace(
        "agi_arg_1", junk + "agi_arg_1"
    )
    assert len(block) > MAX_HEADER_BYTES
    s = await play_asterisk(agi.port, block)
    assert s.commands == []
    assert agi.app is not None and agi.app.served == 0
    s = await play_asterisk(agi.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "2003"))
    assert s.action == v.ACTION_DIAL


@pytest.mark.parametrize("script", ["no-such-route", "", "member-call/../x", "MEMBER-CALL"])
async def test_unknown_route_is_closed(agi: AgiServerThread, script: str) -> None:
    s = await play_asterisk(agi.port, headers_for(script, "2002", "2003"))
    assert s.commands == []


async def test_route_with_query_string(agi: AgiServerThread) -> None:
    s = await play_asterisk(
        agi.port,
        headers_for(v.ROUTE_MEMBER_CALL + "?x=1", "2002", "2003"),
    )
    assert s.action == v.ACTION_DIAL


async def test_peer_hanging_up_mid_call_leaves_the_server_working(agi: AgiServerThread) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
    writer.write(headers_for(v.ROUTE_MEMBER_CALL, "2002", "2003").encode())
    await writer.drain()
    first = await asyncio.wait_for(reader.readline(), REPLY_TIMEOUT)
    assert first.startswith(b"SET VARIABLE CUG_ROUTE")
    writer.write(b"HANGUP\n")
    await writer.drain()
    writer.close()
    s = await play_asterisk(agi.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "2003"))
    assert s.action == v.ACTION_DIAL


async def test_hostile_member_name_cannot_inject_a_command(agi: AgiServerThread) -> None:
    name = 'Okello "Denis"\nEXEC Dial PJSIP/+256700000000@cug-trunk\r\\'
    agi.in_thread(
        lambda db: db.execute("UPDATE members SET name = ? WHERE extension = '2002'", (name,))
    )
    s = await play_asterisk(agi.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "2003"))
    assert len(s.commands) == 1 and s.commands[0].startswith("SET VARIABLE CUG_ROUTE ")
    # The name rides in the route as base64: no line break, quote or | reaches Asterisk,
    # and the callee sees the name without its control characters.
    assert s.action == v.ACTION_DIAL and len(s.fields) == 9
    assert s.caller_name == 'Okello "Denis"EXEC Dial PJSIP/+256700000000@cug-trunk\\'


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", '"plain"'),
        ("", '""'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("two\nlines", '"two lines"'),
        ("cr\rlf\r\n", '"cr lf  "'),
        ("nul\x00tab\tdel\x7f", '"nul tab del "'),
        ("Nakato Ñamukose 李", '"Nakato Ñamukose 李"'),
        (2003, '"2003"'),
    ],
)
def test_agi_quote(value: Any, quoted: str) -> None:
    assert agi_quote(value) == quoted
    assert parse_agi_args(quoted) == [_expected_text(value)]


def _expected_text(value: Any) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", " ", str(value))


class _RecordingRequest:
    def __init__(self) -> None:
        self.headers: dict[str, str] = {"agi_arg_1": "2002"}
        self.sent: list[str] = []

    async def send_command(self, command: str) -> dict[str, Any]:
        self.sent.append(command)
        return {"status_code": 200, "result": ("1", "")}


@pytest.mark.parametrize(
    "name", ["CUG_OTHER", "CHANNEL(language)", "CUG_ACTION\nEXEC Dial", "", "cug_action"]
)
async def test_set_variable_refuses_unknown_names(name: str) -> None:
    request = _RecordingRequest()
    call = AgiCall(request)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown variable"):
        await call.set_variable(name, "x")
    assert request.sent == []
    await call.set_variable(v.ROUTE, "prompt")
    assert request.sent == [f'SET VARIABLE {v.ROUTE} "prompt"']
    assert call.arg(1) == "2002" and call.arg(2) == ""


# ---------------------------------------------------------------- calls in over the trunk


def trunk_headers(callerid: str, dialed: str, **extra: str) -> str:
    return headers_for(
        v.ROUTE_TRUNK_CALL,
        dialed,
        callerid=callerid,
        agi_channel="PJSIP/cug-trunk-00000002",
        agi_context=v.CONTEXT_TRUNK,
        **extra,
    )


@pytest.mark.parametrize(
    "callerid", ["0772100002", "+256772100002", "256772100002", "00256772100002"]
)
async def test_trunk_member_dialing_an_extension(agi_trunk: AgiServerThread, callerid: str) -> None:
    s = await play_asterisk(agi_trunk.port, trunk_headers(callerid, "2003"))
    assert s.action == v.ACTION_DIAL
    assert s.steps[0] == "20:0:2003-+256772100003"
    assert s.tags is not None and s.tags.caller_id is not None


@pytest.mark.parametrize("callerid", ["0772999999", "unknown", "", "+254712345678", "2002"])
@pytest.mark.parametrize("dialed", ["2003", "", "0800100116"])
async def test_trunk_stranger_is_refused(
    agi_trunk: AgiServerThread, callerid: str, dialed: str
) -> None:
    s = await play_asterisk(agi_trunk.port, trunk_headers(callerid, dialed))
    assert s.reason == "unknown_caller"


@pytest.mark.parametrize("dialed", ["", "0800100116", "+256800100116"])
async def test_trunk_member_calling_the_cug_number_is_prompted(
    agi_trunk: AgiServerThread, dialed: str
) -> None:
    s = await play_asterisk(agi_trunk.port, trunk_headers("0772100002", dialed))
    assert s.sets == {v.ROUTE: "prompt"}


async def test_trunk_inactive_member_is_not_prompted(agi_trunk: AgiServerThread) -> None:
    s = await play_asterisk(agi_trunk.port, trunk_headers("0772100009", ""))
    assert s.reason == "inactive_caller"


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x1c", "\x1e", "\r"])
async def test_caller_id_name_cannot_forge_a_header(
    agi_trunk: AgiServerThread, separator: str
) -> None:
    """A stranger's caller ID name (from the network) must not pass for a member's number."""
    forged = f"Friend{separator}agi_callerid: +256772100002"
    s = await play_asterisk(
        agi_trunk.port,
        trunk_headers("0772999999", "2003", agi_calleridname=forged),
    )
    assert s.reason == "unknown_caller"


@pytest.mark.parametrize(
    "forged",
    [
        "Friend\nagi_callerid: +256772100002",  # a header of its own
        "Friend\nAction: Originate",  # not an AGI header at all
        "Friend\nagi_arg_1: 2002",  # would come before the real agi_arg_1
    ],
)
async def test_a_line_break_smuggled_into_the_request_gets_no_answer(
    agi_trunk: AgiServerThread, forged: str
) -> None:
    """Asterisk never sends such a request: the server answers nothing, so the dialplan's safe
    path (refusal on the trunk, fallback for members) takes over."""
    s = await play_asterisk(
        agi_trunk.port,
        trunk_headers("0772999999", "2003", agi_calleridname=forged),
    )
    assert s.commands == []


async def test_each_answered_request_is_timed_for_the_metrics(agi: AgiServerThread) -> None:
    timed: list[tuple[str, float]] = []
    assert agi.app is not None
    agi.app.observe = lambda route, seconds: timed.append((route, seconds))
    await play_asterisk(agi.port, headers_for(v.ROUTE_MEMBER_CALL, "2002", "2003"))
    assert [route for route, _ in timed] == [v.ROUTE_MEMBER_CALL]
    assert 0 < timed[0][1] < REPLY_TIMEOUT
