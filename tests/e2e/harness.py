"""A sandboxed Asterisk with the routing service, and SIPp processes as members' phones.

Each test session gets its own install folder, ports and Asterisk instance, so the tests
run beside a running demo and beside each other.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SIPP_DIR = Path(__file__).parent / "sipp"
REPO = Path(__file__).resolve().parents[2]
STATUS_LINE = re.compile(r"^SIP/2\.0 (\d{3}) ", re.MULTILINE)
CSEQ = re.compile(r"^CSeq:\s*\d+\s+(\w+)", re.MULTILINE | re.IGNORECASE)


# Ports are handed out in slots of ten. A slot is claimed with a lock file held until the
# process exits, so test processes running at once (pytest-xdist workers, a second run on
# the same machine) never take the same ports: a phone's SIPp binds its port only while it
# runs, so a check that the port is free right now is not enough. The random range is above
# Asterisk's RTP ports (asterisk-conf/rtp.conf: 10000-20000) and below the kernel's ephemeral
# ports: a restarted service must get its port back, and an outgoing connection made while
# it was down (Asterisk's, a test's) could hold it as its own end's port, so the new service
# could not listen on it ("address already in use", seen in CI).
SLOT = 10
FIRST_PORT = 20100


def _ephemeral_start() -> int:
    """The first port the kernel hands out to outgoing connections (32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


LAST_PORT = _ephemeral_start() - 2 * SLOT
_SLOT_LOCKS = Path(tempfile.gettempdir()) / "cug-test-ports"
_claimed: list[int] = []  # the lock files' descriptors: kept open, so kept ours


def _claim(slot: int) -> bool:
    _SLOT_LOCKS.mkdir(exist_ok=True)
    fd = os.open(_SLOT_LOCKS / str(slot), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _claimed.append(fd)
    return True


class Ports:
    """Free UDP/TCP ports on loopback that no other test process holds, from a random base."""

    def __init__(self) -> None:
        self.next = random.randrange(FIRST_PORT, LAST_PORT - 10 * SLOT, 100)

    def take(self, block: int = 1) -> int:
        """A free port, or the first of `block` (at most ten) consecutive free ports (SIPp's
        media uses several ports from -mp on)."""
        assert 1 <= block <= SLOT
        while True:
            port = self.next
            self.next += SLOT
            if self.next >= LAST_PORT:
                self.next = FIRST_PORT
            if _claim(port) and all(_free(p) for p in range(port, port + block)):
                return port


def _free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def messages(trace: Path) -> list[tuple[str, str]]:
    """(direction, message) pairs from a SIPp -trace_msg file; direction 'in' or 'out'."""
    if not trace.exists():
        return []
    out = []
    for block in re.split(r"^-{10,}.*$", trace.read_text(errors="replace"), flags=re.MULTILINE):
        head, _, body = block.strip().partition("\n")
        if not body:
            continue
        direction = "in" if "received" in head else "out"
        out.append((direction, body.strip()))
    return out


def final_response(trace: Path, method: str) -> int | None:
    """The last final status (>= 200, not a digest challenge) received for `method`."""
    code = None
    for direction, msg in messages(trace):
        status = STATUS_LINE.match(msg)
        cseq = CSEQ.search(msg)
        if direction != "in" or not status or not cseq or cseq.group(1).upper() != method:
            continue
        value = int(status.group(1))
        if value >= 200:
            code = value
    return code


def received_requests(trace: Path, method: str) -> list[str]:
    return [m for d, m in messages(trace) if d == "in" and m.startswith(method + " ")]


def request_times(trace: Path, method: str) -> list[datetime]:
    """When each `method` request reached this phone, from the trace's timestamps."""
    if not trace.exists():
        return []
    times = []
    text = trace.read_text(errors="replace")
    for stamp, block in re.findall(
        r"^-{10,} (\S+ \S+)\n(.*?)(?=^-{10,}|\Z)", text, flags=re.MULTILINE | re.DOTALL
    ):
        head, _, body = block.strip().partition("\n")
        if "received" in head and body.strip().startswith(method + " "):
            times.append(datetime.fromisoformat(stamp))
    return times


@dataclass
class CallResult:
    code: int | None
    trace: Path
    returncode: int
    stderr: str = ""

    def received(self) -> list[str]:
        return [m for d, m in messages(self.trace) if d == "in"] or [self.stderr]


class AmiObserver:
    """Every AMI event the install's Asterisk emits, read on a socket of its own in a thread.

    Tests assert on what Asterisk did (DialBegin to which channel, how it ended), not on what
    the routing service believed.
    """

    def __init__(self, port: int, username: str, secret: str) -> None:
        import threading

        self.events: list[dict[str, str]] = []
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(
            f"Action: Login\r\nUsername: {username}\r\nSecret: {secret}\r\n\r\n".encode()
        )
        self.sock.settimeout(None)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                block, buffer = buffer.split(b"\r\n\r\n", 1)
                fields = {}
                for line in block.decode(errors="replace").split("\r\n"):
                    key, sep, value = line.partition(": ")
                    if sep:
                        fields[key] = value
                if "Event" in fields:
                    self.events.append(fields)

    def mark(self) -> int:
        return len(self.events)

    def since(self, mark: int, name: str | None = None) -> list[dict[str, str]]:
        found = self.events[mark:]
        return [e for e in found if name is None or e.get("Event") == name]

    def wait_for(
        self, mark: int, name: str, predicate=lambda e: True, timeout: float = 5
    ) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.since(mark, name):
                if predicate(event):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no {name} event: {[e.get('Event') for e in self.since(mark)]}")

    def close(self) -> None:
        self.sock.close()


class Phone:
    """A member's SIP phone, played by SIPp on its own loopback port."""

    def __init__(self, pbx: Pbx, username: str, password: str) -> None:
        self.pbx = pbx
        self.username = username
        self.password = password
        self.port = pbx.ports.take()
        self.media_port = pbx.ports.take(block=8)
        self.runs = 0
        self.registered_at = 0.0

    def _trace(self, what: str) -> Path:
        self.runs += 1
        return self.pbx.work / f"{self.username}-{self.port}-{what}-{self.runs}.msg"

    def _sipp(self, scenario: str, trace: Path, *args: str, remote: bool = True) -> list[str]:
        cmd = ["sipp"]
        if remote:
            cmd.append(f"127.0.0.1:{self.pbx.sip_port}")
        cmd += [
            "-sf",
            str(SIPP_DIR / scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-mp",
            str(self.media_port),
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(trace),
            *args,
        ]
        return cmd

    def register(self, expires: int = 600, contact: str = "") -> int | None:
        """REGISTER with digest auth; the final answer. Like a phone, it tries again once
        when nothing at all came back (SIPp could not start, or the answer was lost).
        `contact`: the Contact URI to register instead of this phone's own."""
        for _ in range(2):
            trace = self._trace("register")
            cmd = self._sipp(
                "register-contact.xml" if contact else "register.xml",
                trace,
                # PJSIP answers nothing to a Contact it cannot parse: give up after 3.5 s.
                *(("-set", "contact", contact, "-max_retrans", "3") if contact else ()),
                "-s",
                self.username,
                "-au",
                self.username,
                "-ap",
                self.password,
                "-set",
                "expires",
                str(expires),
                "-m",
                "1",
                "-timeout",
                "10s",
            )
            subprocess.run(cmd, capture_output=True, timeout=30, cwd=self.pbx.work)
            code = final_response(trace, "REGISTER")
            if code is not None:
                self.registered_at = time.monotonic()
                return code
        return None

    def settle(self, listening_since: float = 0.0) -> None:
        """Wait until Asterisk sees this phone reachable, and will go on seeing it.

        Asterisk qualifies a contact the moment it registers, and again on its AOR's timer,
        whether or not a SIPp is listening on the contact's port. An OPTIONS sent while none
        was listening goes unanswered and marks the phone unreachable when it times out
        (3 s), even after a later OPTIONS found it reachable: a call placed then fails at
        once. A real phone is always listening; here the answering phone waits until every
        OPTIONS that was unanswered has timed out, then checks: the one sent on registering
        (QUALIFY_TIMEOUT after it), and any sent before it listened (since
        `listening_since`) whose retransmissions all came before that, so timed out within
        LATE_QUALIFY of it."""
        left = max(
            QUALIFY_TIMEOUT - (time.monotonic() - self.registered_at),
            LATE_QUALIFY - (time.monotonic() - listening_since),
        )
        if left > 0:
            time.sleep(left)
        self.pbx.wait_reachable(self.username)

    @contextmanager
    def _answering(self, cmd: list[str], trace: Path) -> Iterator[Path]:
        """Run a SIPp phone that answers, seen reachable by Asterisk, for the block."""
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.pbx.work
        )
        try:
            # Listening before Asterisk is asked to qualify it (settle): an OPTIONS sent
            # before SIPp bound its port goes unanswered and, 3 s later, marks the member
            # unreachable in the middle of the test (seen on a loaded machine).
            deadline = time.monotonic() + 5
            while _free(self.port) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            self.settle(listening_since=time.monotonic())
            yield trace
        finally:
            time.sleep(0.3)
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()

    def listening(self, ring_ms: int = 200) -> AbstractContextManager[Path]:
        """Answer the next call (after `ring_ms` of ringing); yields the message trace."""
        trace = self._trace("answer")
        cmd = self._sipp(
            "answer.xml", trace, "-set", "ring_ms", str(ring_ms), "-timeout", "60s", remote=False
        )
        return self._answering(cmd, trace)

    def behaving(
        self, behaviour: str, ring_ms: int = 300, key_ms: int = 5500
    ) -> AbstractContextManager[Path]:
        """Take the next call as `behaviour` says: "key" (answer and press 1 after `key_ms`),
        "no-key" (answer, press nothing), "busy" (486), "ignore" (ring until cancelled) or
        "decline" (ring, then 603)."""
        code = {"key": 1, "no-key": 2, "busy": 3, "ignore": 4, "decline": 5}[behaviour]
        trace = self._trace(behaviour)
        settings = {"behaviour": code, "ring_ms": ring_ms, "key_ms": key_ms}
        args = [x for name, value in settings.items() for x in ("-set", name, str(value))]
        cmd = self._sipp("callee.xml", trace, *args, "-timeout", "120s", remote=False)
        return self._answering(cmd, trace)

    def call(
        self,
        dialed: str,
        talk_ms: int = 300,
        timeout: int = 30,
        caller: str | None = None,
        press: str = "",
    ) -> CallResult:
        """Place a call to `dialed`; `caller` is the From user (a trunk sends the mobile's);
        `press` ("#" or "5") is pressed 2 s after early media starts (escalation's skip)."""
        trace = self._trace("call")
        cmd = self._sipp(
            "call.xml",
            trace,
            "-s",
            dialed,
            "-au",
            self.username,
            "-ap",
            self.password,
            "-set",
            "caller",
            caller or self.username,
            "-set",
            "talk_ms",
            str(talk_ms),
            "-set",
            "press",
            {"": "0", "#": "1", "5": "5"}[press],
            "-m",
            "1",
            "-timeout",
            f"{timeout}s",
        )
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout + 15, cwd=self.pbx.work
        )
        return CallResult(
            final_response(trace, "INVITE"), trace, proc.returncode, proc.stderr[-2000:]
        )


QUALIFY_TIMEOUT = 3.5  # Asterisk's qualify_timeout (3 s), and a little more
# An OPTIONS over UDP is sent again 0.5 s and 1.5 s after the first (RFC 3261 timer E, T1
# 500 ms) and given up at the qualify timeout (3 s): one whose last copy came before the
# phone listened times out at most 1.5 s after it did.
LATE_QUALIFY = 1.8
SHORT_CHAIN = "callee:6, supervisor:6, role=probation:6, role=dac:6, outside=116:6"


# A verbose log of every call for the post-mortem of a failed test (asterisk-log/).
CALLS_LOG = "logger add channel calls.log notice,warning,error,verbose(3),dtmf"


class Pbx:
    """One install: settings, directory, sandboxed Asterisk and `cug serve`, on its own ports."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.home = work / "home"
        self.ports = Ports()
        self.sip_port = self.ports.take()
        self.ami_port = self.ports.take()
        self.agi_port = self.ports.take()
        self.http_port = self.ports.take()
        self.instance = f"test-{os.getpid()}-{self.sip_port}"
        self.env = {**os.environ, "CUG_HOME": str(self.home)}
        self.env.pop("CUG_DB", None)
        self._phones: dict[str, Phone] = {}
        self._ami: AmiObserver | None = None

    @classmethod
    def existing(cls, home: Path, work: Path) -> Pbx:
        """An install that is already running (the demo), to place calls against."""
        box = cls(work)
        box.home = home
        box.env["CUG_HOME"] = str(home)
        network = box.settings()["network"]
        box.sip_port = int(network["sip_port"])
        box.ami_port = int(network["ami_port"])
        box.agi_port = int(network["agi_port"])
        box.http_port = int(network["http_port"])
        return box

    def cug(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "cug.cli", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO,
            timeout=300,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"cug {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def up(
        self,
        members_csv: Path,
        trunk_numbers: tuple[str, ...] = (),
        callback_numbers: tuple[str, ...] = (),
    ) -> None:
        args = [
            "init",
            "--instance",
            self.instance,
            "--sip-port",
            str(self.sip_port),
            "--ami-port",
            str(self.ami_port),
            "--agi-port",
            str(self.agi_port),
            "--http-port",
            str(self.http_port),
            "--trunk",
            "--ring-seconds",
            "6",
            "--reminder-interval",
            "1",
            "--key-seconds",
            "2",
        ]
        for number in trunk_numbers:
            args += ["--trunk-number", number]
        for number in callback_numbers:
            args += ["--callback-number", number]
        self.cug(*args)
        self.cug("directory", "import", str(members_csv))
        # Escalation as by default, with test-length ring times.
        self.cug("escalation", "set", SHORT_CHAIN)
        self.cug("sandbox", "up")
        self.cli(CALLS_LOG)
        self.wait_service()

    @contextmanager
    def chain(self, rules: str) -> Iterator[None]:
        """Every call follows the escalation chain `rules` inside the block."""
        self.cug("escalation", "set", rules)
        try:
            yield
        finally:
            self.cug("escalation", "set", SHORT_CHAIN)

    def stop_service(self) -> None:
        from cug.sandbox import ServiceProcess
        from cug.settings import load

        ServiceProcess(load(self.home)).stop()

    def start_service(self, reinstall: bool = True) -> None:
        """`cug sandbox up` (config and endpoints written again, then the service), or with
        `reinstall=False` the service alone, which must then catch up by itself."""
        if reinstall:
            self.cug("sandbox", "up")
        else:
            from cug.sandbox import ServiceProcess
            from cug.settings import load

            ServiceProcess(load(self.home)).start()
        self.wait_service()

    def restart_asterisk(self) -> None:
        """Stop Asterisk at once (calls in progress are cut) and start it again."""
        from cug.sandbox import Sandbox
        from cug.settings import load

        box = Sandbox(load(self.home))
        box.stop()
        box.start()
        self.cli(CALLS_LOG)  # the post-mortem log of calls, lost with the old process
        if self._ami is not None:
            self._ami.close()
            self._ami = None

    def down(self) -> None:
        """Stop everything; Asterisk's logs are kept beside the SIPp traces for a post-mortem."""
        if self._ami is not None:
            self._ami.close()
        try:
            logs = self.etc.parent / "log"
            if logs.is_dir():
                shutil.copytree(logs, self.work / "asterisk-log", dirs_exist_ok=True)
        except (OSError, KeyError):
            pass
        self.cug("sandbox", "down", "--remove", check=False)

    @property
    def ami(self) -> AmiObserver:
        if self._ami is None:
            a = self.settings()["ami"]
            self._ami = AmiObserver(self.ami_port, a["username"] + "-watch", a["watch_secret"])
        return self._ami

    def settings(self) -> dict[str, dict[str, str]]:
        import configparser

        cp = configparser.ConfigParser(interpolation=None)
        cp.read(self.home / "cug.ini")
        return {s: dict(cp[s]) for s in cp.sections()}

    def member(self, ident: str) -> dict:
        return json.loads(self.cug("directory", "show", ident, "--json").stdout)

    def phone(self, ident: str) -> Phone:
        """The member's phone; the same SIPp port all session, as a real phone keeps its own."""
        if ident not in self._phones:
            m = self.member(ident)
            self._phones[ident] = Phone(self, m["sip"]["username"], m["sip"]["password"])
        phone = self._phones[ident]
        phone.password = self.member(ident)["sip"]["password"]
        return phone

    def trunk(self) -> Phone:
        if "trunk" not in self._phones:
            t = self.settings()["trunk"]
            self._phones["trunk"] = Phone(self, "cug-trunk", t["password"])
        return self._phones["trunk"]

    def db(self):  # noqa: ANN201 - a sqlite_utils.Database on the install's directory
        from directory.schema import open_db

        return open_db(self.home / "cug.db")

    def contacts(self, where: str, params: tuple = ()) -> list[dict]:
        db = self.db()
        try:
            return list(db["contacts"].rows_where(where, params, order_by="id"))
        finally:
            db.close()

    def wait_contacts(self, where: str, params: tuple = (), count: int = 1, timeout: float = 20):
        """Wait until the contact log holds `count` rows matching; returns them."""
        deadline = time.monotonic() + timeout
        rows: list[dict] = []
        while time.monotonic() < deadline:
            rows = self.contacts(where, params)
            if len(rows) >= count:
                return rows
            time.sleep(0.2)
        raise AssertionError(f"contacts where {where} {params}: {rows}")

    def member_id(self, extension: str) -> int:
        db = self.db()
        try:
            return int(
                db.execute("SELECT id FROM members WHERE extension = ?", (extension,)).fetchone()[0]
            )
        finally:
            db.close()

    @property
    def etc(self) -> Path:
        return Path(self.settings()["cug"]["asterisk_etc"])

    def asterisk_logs(self) -> list[Path]:
        return sorted((self.etc.parent / "log").glob("*"))

    def cli(self, command: str) -> str:
        return self.cug("sandbox", "cli", *command.split()).stdout

    def health(self) -> dict:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/health", timeout=2) as r:
            return json.load(r)

    def wait_service(self, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = self.health()
                if last["ami"] == "up" and last["endpoints"] == "current":
                    return last
            except OSError as exc:
                last = exc
            time.sleep(0.2)
        raise AssertionError(f"service not ready: {last}")

    def wait_reachable(self, endpoint: str, timeout: float = 10) -> None:
        """Ask Asterisk to qualify the endpoint's contact until it is seen reachable."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.cli(f"pjsip qualify {endpoint}")
            time.sleep(0.2)
            out = self.cli(f"pjsip show contacts like {endpoint}")
            if re.search(rf"{re.escape(endpoint)}/sip:\S+\s+\S+\s+Avail", out):
                return
        raise AssertionError(f"{endpoint} not reachable:\n{out}")

    def endpoint_row(self, table: str, extension: str) -> dict | None:
        """A member's row in Asterisk's realtime tables (ps_endpoints, ps_auths, ps_aors)."""
        import sqlite3

        path = self.settings()["cug"]["endpoints_db"]
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (extension,)).fetchone()
        finally:
            conn.close()
        return dict(row) if row else None

    def wait_endpoint_row(self, table: str, extension: str, predicate, timeout: float = 10):
        """Wait until the service has written what `predicate(row or None)` expects."""
        deadline = time.monotonic() + timeout
        row = None
        while time.monotonic() < deadline:
            row = self.endpoint_row(table, extension)
            if predicate(row):
                return row
            time.sleep(0.1)
        raise AssertionError(f"{table} row of {extension} never matched: {row}")
