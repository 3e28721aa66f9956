"""Members' handsets for texts, played by SIPp: register, send SIP MESSAGEs, stay on line.

A handset is one SIPp run on the member's port: it registers, sends the texts it was given
(one MESSAGE each, digest auth), then stays registered for a while answering what Asterisk
sends it outside its own dialog (`-oocsf inbox.xml`: qualify OPTIONS and texts, each 200),
like a real phone. Everything it sent and got is in its message trace.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.harness import CSEQ, SIPP_DIR, STATUS_LINE, Phone, messages

_FROM_USER = re.compile(r"^From:[^\n]*?<sips?:([^@>;]+)@", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True)
class Text:
    """A text as a handset got it: who it is from (the From user) and its body."""

    sender: str
    body: str


@dataclass(frozen=True)
class Outgoing:
    to: str
    body: str | bytes
    content_type: str = "text/plain;charset=UTF-8"
    from_user: str = ""  # another member's extension in From: a spoofed sender


def _message_blocks(sender: str, texts: list[Outgoing]) -> bytes:
    template = (SIPP_DIR / "text.xml.in").read_text()
    out = b""
    for n, text in enumerate(texts):
        body = text.body.encode() if isinstance(text.body, str) else text.body
        if b"]]>" in body or b"\x00" in body:
            raise ValueError("SIPp's scenario cannot hold ]]> or a NUL byte in a body")
        block = template.format(
            to=text.to,
            sender=text.from_user or sender,
            n=n,
            cseq1=10 + 2 * n,
            cseq2=11 + 2 * n,
            content_type=text.content_type,
            body="\x00BODY\x00",
        )
        out += block.encode().replace(b"\x00BODY\x00", body)
    return out


class Handset:
    def __init__(self, phone: Phone) -> None:
        self.phone = phone

    def _command(self, trace: Path, scenario: Path, stay_ms: int, unregister: bool) -> list[str]:
        phone = self.phone
        cmd = phone._sipp(
            "handset.xml",
            trace,
            "-s",
            phone.username,
            "-au",
            phone.username,
            "-ap",
            phone.password,
            "-set",
            "expires",
            "600",
            "-set",
            "stay_ms",
            str(stay_ms),
            "-set",
            "unregister",
            "1" if unregister else "0",
            "-oocsf",
            str(SIPP_DIR / "inbox.xml"),
            "-m",
            "1",
            "-timeout",
            f"{stay_ms // 1000 + 30}s",
        )
        cmd[cmd.index("-sf") + 1] = str(scenario)
        return cmd

    def _scenario(self, texts: list[Outgoing]) -> Path:
        phone = self.phone
        path = phone.pbx.work / f"handset-{phone.username}-{phone.port}-{phone.runs}.xml"
        scenario = (SIPP_DIR / "handset.xml").read_bytes()
        blocks = _message_blocks(phone.username, texts)
        path.write_bytes(scenario.replace(b"<!-- TEXTS -->", blocks))
        return path

    def send(self, *texts: Outgoing, stay_ms: int = 3000, unregister: bool = True) -> Path:
        """Register, send `texts` in order, stay `stay_ms` for what comes back; the trace."""
        trace = self.phone._trace("handset")
        cmd = self._command(trace, self._scenario(list(texts)), stay_ms, unregister)
        subprocess.run(
            cmd, capture_output=True, timeout=stay_ms / 1000 + 60, cwd=self.phone.pbx.work
        )
        return trace

    @contextmanager
    def online(self, stay_ms: int = 30000, unregister: bool = True) -> Iterator[Path]:
        """The handset registered and answering for the block (at most `stay_ms`); then
        switched off: unregistered (`unregister`), or just gone like a dead battery."""
        trace = self.phone._trace("online")
        cmd = self._command(trace, self._scenario([]), stay_ms, unregister)
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.phone.pbx.work
        )
        try:
            self.phone.registered_at = time.monotonic()
            yield trace
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
            if unregister:
                self.phone.register(expires=0)


def text_codes(trace: Path) -> list[int]:
    """The final answers Asterisk gave to each MESSAGE the handset sent, in order."""
    codes = []
    for direction, msg in messages(trace):
        status = STATUS_LINE.match(msg)
        cseq = CSEQ.search(msg)
        if direction != "in" or not status or not cseq or cseq.group(1).upper() != "MESSAGE":
            continue
        if int(status.group(1)) >= 200 and int(status.group(1)) != 401:
            codes.append(int(status.group(1)))
    return codes


def received_texts(trace: Path) -> list[Text]:
    """The texts the handset got, in the order they came."""
    out = []
    for direction, msg in messages(trace):
        if direction != "in" or not msg.startswith("MESSAGE "):
            continue
        sender = _FROM_USER.search(msg)
        _, _, body = msg.replace("\r\n", "\n").partition("\n\n")
        out.append(Text(sender.group(1) if sender else "", body.strip()))
    return out


def wait_for_texts(trace: Path, count: int, timeout: float = 20) -> list[Text]:
    """The texts once `count` have come (or what came within `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        got = received_texts(trace)
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.2)
