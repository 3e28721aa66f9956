"""A real Kannel on loopback for the SMS gateway tests: bearerbox with a fake SMSC, smsbox
with the sendsms HTTP API, and fakesmsc (kannel-extras) as the phone network's side.

Each instance has its own folder (config, logs), its own free ports and fresh passwords; the
config comes from kannel.conf.template beside this file. What the network received is read
from fakesmsc's log, with concatenated parts joined back into one text.
"""

from __future__ import annotations

import re
import secrets
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from string import Template
from typing import TypeVar
from urllib.parse import unquote_to_bytes

from sms_gateway.config import GatewayConfig
from tests.e2e.harness import Ports

TEMPLATE = Path(__file__).with_name("kannel.conf.template")
BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
DEADLINE = 30.0  # seconds a start or a text may take before the harness gives up
GOT = re.compile(r"Got message \d+: <(.*)>$")
T = TypeVar("T")


@dataclass(frozen=True)
class NetworkText:
    """One text as the phone network got it, its parts joined."""

    sender: str
    receiver: str
    kind: str  # "text" (GSM 7-bit), "ucs-2", or "concatenated": the fake SMSC gives parts no coding
    data: bytes
    parts: int = 1

    def text(self, encoding: str | None = None) -> str:
        """The text; a concatenated one needs the encoding the test expects."""
        chosen = encoding or {"text": "utf-8", "ucs-2": "utf-16-be"}[self.kind]
        return self.data.decode(chosen)


def parse_network_log(log: str) -> list[NetworkText]:
    """The texts in fakesmsc's log, in the order their last part arrived."""
    texts: list[NetworkText] = []
    pending: dict[tuple[str, str, int], dict[int, bytes]] = {}
    for line in log.splitlines():
        match = GOT.search(line)
        if not match:
            continue
        sender, receiver, kind, rest = match.group(1).split(" ", 3)
        if kind == "text":
            texts.append(
                NetworkText(sender, receiver, kind, rest.encode("utf-8", "surrogateescape"))
            )
        elif kind in ("ucs-2", "data"):
            texts.append(NetworkText(sender, receiver, kind, _unquote(rest)))
        elif kind == "udh":
            udh_quoted, _, data_quoted = rest.split(" ", 2)
            udh = _unquote(udh_quoted)  # 05 00 03 <reference> <parts> <this part>
            ref, total, seq = udh[3], udh[4], udh[5]
            parts = pending.setdefault((sender, receiver, ref), {})
            parts[seq] = _unquote(data_quoted)
            if len(parts) == total:
                data = b"".join(parts[n] for n in range(1, total + 1))
                del pending[(sender, receiver, ref)]
                texts.append(NetworkText(sender, receiver, "concatenated", data, total))
    return texts


def _unquote(quoted: str) -> bytes:
    """Kannel's URL encoding: `+` is a space, %XX a byte."""
    return unquote_to_bytes(quoted.replace("+", "%20"))


SMS_SERVICE = """group = sms-service
keyword = default
post-url = "{url}"
max-messages = 0
omit-empty = true
concatenation = true
"""
FAKESMSC_LINE = 255  # fakesmsc reads stdin in 256-byte lines: a longer one becomes two texts
RECEIVED = re.compile(r"^SMS: received (\d+)", re.MULTILINE)


class Kannel:
    """`sms_service_url`: where smsbox posts the texts phones send (Kannel's `post-url`, with
    its escapes such as %p); none: texts from phones are not taken."""

    def __init__(self, folder: Path, sms_service_url: str = "") -> None:
        self.folder = folder
        self.sms_service_url = sms_service_url
        ports = Ports()
        self.admin_port, self.smsbox_port = ports.take(), ports.take()
        self.fake_smsc_port, self.sendsms_port = ports.take(), ports.take()
        self.username = "cug"
        self.password = secrets.token_urlsafe(18)
        self.admin_password = secrets.token_urlsafe(18)
        self.config_file = folder / "kannel.conf"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def gateway_config(self, **changes: object) -> GatewayConfig:
        """A gateway configuration that reaches this Kannel (with `changes` applied)."""
        config = GatewayConfig(
            kind="kannel",
            url=self.sendsms_url,
            username=self.username,
            password=self.password,
            sender="CUG",
            timeout=15,
        )
        return replace(config, **changes)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        values = {
            "folder": str(self.folder),
            "admin_port": self.admin_port,
            "admin_password": self.admin_password,
            "smsbox_port": self.smsbox_port,
            "fake_smsc_port": self.fake_smsc_port,
            "sendsms_port": self.sendsms_port,
            "sendsms_password": self.password,
            "sms_service": (
                SMS_SERVICE.format(url=self.sms_service_url) if self.sms_service_url else ""
            ),
        }
        self.config_file.write_text(Template(TEMPLATE.read_text()).substitute(values))
        self.config_file.chmod(0o600)
        self._spawn("bearerbox", [BEARERBOX, str(self.config_file)])
        self._wait(lambda: self._listening(self.smsbox_port), "bearerbox to listen")
        self.start_network()
        self.start_smsbox()

    def start_smsbox(self) -> None:
        """Start smsbox (the sendsms API, and the sms-service) and wait until it serves."""
        self._spawn("smsbox", [SMSBOX, str(self.config_file)], append=True)
        self._wait(lambda: self._listening(self.sendsms_port), "smsbox's sendsms port")
        self._wait(lambda: "smsbox:" in self._status(), "smsbox to join bearerbox")

    def start_network(self) -> None:
        """Connect fakesmsc and wait until bearerbox sees it online. It runs interactive:
        each line written to it is a text from a phone (`send_from_phone`)."""
        fake = [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.fake_smsc_port), "-i", "0"]
        self._spawn("fakesmsc", fake, log=self.network_log, append=True, stdin=True)
        self._wait(self._network_online, "the fake SMSC to be online")

    def start_load(self, lines: list[str], count: int) -> None:
        """Replace the interactive network by a fakesmsc that sends `count` texts from
        phones as fast as it can, each one of `lines` ("sender receiver text body") chosen
        at random (bench/bench_sms_inbound.py)."""
        self.stop_network()
        fake = [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.fake_smsc_port), "-i", "0"]
        self._spawn("fakesmsc", [*fake, "-m", str(count), *lines], log=self.network_log)

    def send_from_phone(self, sender: str, receiver: str, text: str) -> None:
        """A phone on the network texts `receiver`; returns once bearerbox has it.

        fakesmsc's `text` type carries the line's bytes as they are (here UTF-8), and has
        no UCS-2 type for texts from phones. One line at a time: fakesmsc reads stdin
        through a buffer it then waits on with select(), so a second line written at once
        would sit there unread."""
        line = f"{sender} {receiver} text {text}\n".encode()
        if "\n" in text or "\r" in text or len(line) > FAKESMSC_LINE:
            raise ValueError(f"fakesmsc takes one line of at most {FAKESMSC_LINE} bytes")
        process = self.processes["fakesmsc"]
        assert process.stdin is not None
        before = self.mo_received()
        process.stdin.write(line)
        process.stdin.flush()
        self._wait(lambda: self.mo_received() > before, "bearerbox to receive the text")

    def mo_received(self) -> int:
        """Texts from phones bearerbox has received so far."""
        match = RECEIVED.search(self._status())
        return int(match.group(1)) if match else -1

    def stop_network(self) -> None:
        """Disconnect fakesmsc and wait until bearerbox knows (texts then queue in Kannel)."""
        self.stop_process("fakesmsc")
        self._wait(lambda: not self._network_online(), "the fake SMSC to be offline")

    def stop(self) -> None:
        for name in ("smsbox", "fakesmsc", "bearerbox"):
            self.stop_process(name)

    def stop_process(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def network_log(self) -> Path:
        return self.folder / "fakesmsc.log"

    def received(self) -> list[NetworkText]:
        if not self.network_log.exists():
            return []
        return parse_network_log(self.network_log.read_bytes().decode("utf-8", "surrogateescape"))

    def wait_for_text(self, receiver: str, after: int = 0) -> NetworkText:
        """The first whole text to `receiver` past the first `after` of them."""

        def found() -> NetworkText | None:
            texts = [t for t in self.received() if t.receiver == receiver]
            return texts[after] if len(texts) > after else None

        return self._wait(found, f"a text to {receiver}")

    def _spawn(
        self,
        name: str,
        argv: list[str],
        log: Path | None = None,
        append: bool = False,
        stdin: bool = False,
    ) -> None:
        out = (log or self.folder / f"{name}.out").open("ab" if append else "wb")
        with out:
            self.processes[name] = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait(self, probe: Callable[[], T], what: str) -> T:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited waiting for {what}: {self._tails()}")
            result = probe()
            if result:
                return result
            time.sleep(0.1)
        raise RuntimeError(f"no {what} within {DEADLINE:g} s: {self._tails()}")

    def _listening(self, port: int) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    def _network_online(self) -> bool:
        """bearerbox's status line of the fake SMSC: `online` with fakesmsc connected,
        `re-connecting` without."""
        lines = self._status().splitlines()
        return any("fake[fake]" in line and "(online" in line for line in lines)

    def _status(self) -> str:
        url = f"http://127.0.0.1:{self.admin_port}/status.txt?password={self.admin_password}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback
                return answer.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _tails(self) -> str:
        logs = sorted(self.folder.glob("*.out")) + sorted(self.folder.glob("*.log"))
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in logs)
