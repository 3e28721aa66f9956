"""Members' phones in a conference: SIPp calls that stay up, key in a PIN or a leader's key,
and end when the member hangs up or when Asterisk ends the call (the bridge ended)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.harness import SIPP_DIR, Phone, final_response, messages
from tests.e2e.mobiles import dtmf_pcap


def conference_scenario(
    work: Path,
    name: str,
    keys: str,
    hold_ms: int,
    pause_ms: int,
    media: tuple[Path, int] | None = None,
) -> Path:
    """The scenario file for one call; `media`: (an RTP pcap, its length in ms) played again
    and again while the call is held (for benchmarks: audio to mix)."""
    text = (SIPP_DIR / "conference.xml.in").read_text()
    block = ""
    if keys:
        pcap = dtmf_pcap(keys, work / f"{name}-keys.pcap")
        block = f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>'
    elif media is not None:
        pcap, length_ms = media
        play = f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'
        block = (play + f'  <pause milliseconds="{length_ms}"/>\n') * max(1, hold_ms // length_ms)
    text = text.replace("@KEY_BLOCK@", block).replace("@HOLD_MS@", str(hold_ms))
    text = text.replace("@PAUSE_MS@", str(pause_ms))
    text = text.replace("@KEYS@", keys or "nothing")
    path = work / f"{name}.xml"
    path.write_text(text)
    return path


@dataclass
class InConference:
    """A phone's call to a bridge, running in the background."""

    proc: subprocess.Popen[bytes]
    trace: Path

    def wait(self, timeout: float = 90) -> InConference:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return self

    def hang_up_now(self) -> None:
        """The member hangs up: SIPp is stopped (Asterisk sees the call end at its timeout
        or when it next sends); use a short hold instead where the BYE matters."""
        self.proc.terminate()

    @property
    def code(self) -> int | None:
        return final_response(self.trace, "INVITE")

    @property
    def ended_by_asterisk(self) -> bool:
        return any(d == "in" and m.startswith("BYE ") for d, m in messages(self.trace))

    def running(self) -> bool:
        return self.proc.poll() is None


def _empty(trace: Path) -> bool:
    return not trace.exists() or trace.stat().st_size == 0


@contextmanager
def registered(*phones: Phone) -> Iterator[None]:
    """The phones registered for the block, and unregistered after it: other tests count on
    some members having no phone registered."""
    try:
        for phone in phones:
            assert phone.register() == 200
        yield
    finally:
        for phone in phones:
            phone.register(expires=0)


def join(
    phone: Phone,
    dialed: str,
    hold_ms: int = 8000,
    keys: str = "",
    pause_ms: int = 1500,
    media: tuple[Path, int] | None = None,
    _retries: int = 1,
) -> InConference:
    """`phone` calls `dialed` (a bridge's code), keys in `keys` (or plays `media`) `pause_ms`
    after the answer and stays up to `hold_ms` ms."""
    trace = phone._trace("conference")
    scenario = conference_scenario(phone.pbx.work, trace.stem, keys, hold_ms, pause_ms, media)
    cmd = phone._sipp(
        "conference.xml",
        trace,
        "-s",
        dialed,
        "-au",
        phone.username,
        "-ap",
        phone.password,
        "-set",
        "caller",
        phone.username,
        "-m",
        "1",
        "-timeout",
        f"{hold_ms // 1000 + 40}s",
    )
    cmd[cmd.index("-sf") + 1] = str(scenario)
    errors = trace.with_suffix(".err")
    with errors.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=phone.pbx.work)
    time.sleep(0.3)
    if proc.poll() not in (None, 0) and _empty(trace) and _retries:
        # SIPp could not start (its port taken meanwhile by another run on the machine):
        # the same member calls from fresh ports (a call needs no registration).
        again = Phone(phone.pbx, phone.username, phone.password)
        return join(again, dialed, hold_ms, keys, pause_ms, media, _retries=_retries - 1)
    return InConference(proc, trace)
