"""Members' basic phones on the far side of the trunk, played by SIPp.

The trunk (a GSM gateway) registers as `cug-trunk`; what it brings in and what Asterisk
sends out through it are the mobiles' calls. A flash ("please call me") is an INVITE from a
mobile's number, cancelled once it rings; the mobile that answers the CUG's call back keys
in digits (RFC 2833) like a member on a basic phone.
"""

from __future__ import annotations

import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from tests.e2e.harness import SIPP_DIR, Phone, final_response, messages, received_requests

T = TypeVar("T")
RECORDED = Path("/usr/share/sip-tester/dtmf_2833_0.pcap")  # one key, RFC 2833, from SIPp
EVENTS = "0123456789*#"  # RFC 4733 event codes 0-11
PAUSE_MS = 3000  # a " " in the keys: time for the next prompt
_RTP = 42  # Ethernet, IPv4 and UDP headers before the RTP packet in the recording


def _packets(pcap: bytes) -> list[tuple[float, bytes]]:
    out, offset = [], 24
    while offset < len(pcap):
        sec, usec, length, _ = struct.unpack("<IIII", pcap[offset : offset + 16])
        offset += 16
        out.append((sec + usec / 1e6, pcap[offset : offset + length]))
        offset += length
    return out


def dtmf_pcap(keys: str, path: Path, gap_ms: int = 600) -> Path:
    """A recording of `keys` pressed one after another, made from SIPp's recording of one
    key: each key its own RTP timestamp, sequence numbers rising throughout ("." is a pause
    as long as one key, " " a pause for the next prompt). (SIPp's own dtmf_2833_* files all
    share an SSRC with unrelated sequence numbers, so Asterisk drops a second key played
    from them as old or repeated.)"""
    if not keys.strip(" .") or not set(keys) <= set(EVENTS + ". "):
        raise ValueError(f"not keys of a phone: {keys!r}")
    recorded = RECORDED.read_bytes()
    packets = _packets(recorded)
    start = packets[0][0]
    out = bytearray(recorded[:24])
    seq, stamp = 1000, 16000
    for n, key in enumerate(keys):
        if key == " ":  # a pause: the prompt after the first number plays
            stamp += 8 * PAUSE_MS
            continue
        if key == ".":  # a pause as long as one key
            continue
        for at, packet in packets:
            frame = bytearray(packet)
            frame[40:42] = b"\0\0"  # no UDP checksum (allowed in IPv4): the payload changed
            struct.pack_into("!HI", frame, _RTP + 2, seq, stamp)
            frame[_RTP + 12] = EVENTS.index(key)
            paused = keys[:n].count(" ") * (PAUSE_MS - gap_ms) / 1000
            when = 1.0 + n * gap_ms / 1000 + paused + (at - start)
            out += struct.pack("<IIII", int(when), int(when % 1 * 1e6), len(frame), len(frame))
            out += frame
            seq += 1
        stamp += 8 * gap_ms  # 8,000 samples a second
    path.write_bytes(bytes(out))
    return path


def keys_ms(keys: str, gap_ms: int = 600) -> int:
    """How long the recording of `keys` (as dtmf_pcap makes it) plays."""
    return 1000 + len(keys) * gap_ms + keys.count(" ") * (PAUSE_MS - gap_ms)


def _key_blocks(keys: str, pcap: Path) -> str:
    if not keys:
        return ""
    dtmf_pcap(keys, pcap)
    return f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'


def mobile_scenario(
    work: Path, keys: str, talk_ms: int, name: str, template: str = "mobile.xml.in"
) -> Path:
    """A scenario template with the keys to press once the call is answered."""
    text = (SIPP_DIR / template).read_text()
    keyed = _key_blocks(keys, work / f"{name}-keys.pcap")
    text = text.replace("@DIGITS@\n", keyed).replace("@TALK_MS@", str(talk_ms))
    path = work / f"{name}.xml"
    path.write_text(text)
    return path


@contextmanager
def answering_mobile(
    trunk: Phone, keys: str, ring_ms: int = 300, prompt_ms: int = 1500, talk_ms: int = 3000
) -> Iterator[Path]:
    """The trunk's registered contact answers the next call (a call back to a mobile), keys
    in `keys` after `prompt_ms`, and hangs up `talk_ms` later; yields the message trace."""
    trace = trunk._trace("mobile")
    scenario = mobile_scenario(trunk.pbx.work, keys, talk_ms, trace.stem)
    cmd = trunk._sipp(
        "mobile.xml",
        trace,
        "-set",
        "ring_ms",
        str(ring_ms),
        "-set",
        "prompt_ms",
        str(prompt_ms),
        "-timeout",
        "90s",
        "-trace_err",
        remote=False,
    )
    cmd[cmd.index("-sf") + 1] = str(scenario)
    with trunk._answering(cmd, trace):
        yield trace


def flash(
    gateway: Phone, dialed: str, caller: str, ring_ms: int = 1000, trace: Path | None = None
) -> int | None:
    """A mobile `caller` rings `dialed` through the trunk and hangs up after `ring_ms` of
    ringing; the final answer to its INVITE (487 when it was cancelled, never 200). The
    messages go to `trace` (by default a new trace of the gateway's)."""
    trace = trace or gateway._trace("flash")
    cmd = _from_mobile(gateway, "flash.xml", trace, dialed, caller, ring_ms=ring_ms)
    subprocess.run(cmd, capture_output=True, timeout=105, cwd=gateway.pbx.work)
    return final_response(trace, "INVITE")


def _from_mobile(
    gateway: Phone, scenario: str, trace: Path, dialed: str, caller: str, **values: int
) -> list[str]:
    """The SIPp command of one call from a mobile `caller` to `dialed`, through the trunk's
    gateway (digest auth as the trunk), with the scenario's `values`."""
    sets = [x for name, value in values.items() for x in ("-set", name, str(value))]
    return gateway._sipp(
        scenario,
        trace,
        "-s",
        dialed,
        "-au",
        gateway.username,
        "-ap",
        gateway.password,
        "-set",
        "caller",
        caller,
        *sets,
        "-m",
        "1",
        "-timeout",
        "90s",
    )


def poll(look: Callable[[], list[T]], count: int = 1, timeout: float = 20) -> list[T]:
    """What `look()` finds once it finds `count` things, or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        found = look()
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def wait_requests(trace: Path, method: str, count: int = 1, timeout: float = 20) -> list[str]:
    """The `method` requests a SIPp phone received, once there are `count` (or the timeout)."""
    return poll(lambda: received_requests(trace, method), count, timeout)


def wait_hung_up(trace: Path, timeout: float = 20) -> bool:
    """Whether the mobile hung up (sent its BYE) within the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(d == "out" and m.startswith("BYE ") for d, m in messages(trace)):
            return True
        time.sleep(0.2)
    return False


def dial_in(
    gateway: Phone, dialed: str, caller: str, keys: str, talk_ms: int = 2000
) -> tuple[int | None, Path]:
    """A mobile `caller` with airtime calls `dialed` through the trunk, keys in `keys` once
    answered and hangs up `talk_ms` after the last key; the final answer to its INVITE, and
    its trace."""
    trace = gateway._trace("dial-in")
    # The recording of the keys plays alongside the scenario: stay on while it plays, then
    # `talk_ms` more.
    stay_ms = talk_ms + keys_ms(keys)
    scenario = mobile_scenario(gateway.pbx.work, keys, stay_ms, trace.stem, "dial-in.xml.in")
    cmd = _from_mobile(gateway, "dial-in.xml", trace, dialed, caller, prompt_ms=1500)
    cmd[cmd.index("-sf") + 1] = str(scenario)
    subprocess.run(cmd, capture_output=True, timeout=105, cwd=gateway.pbx.work)
    return final_response(trace, "INVITE"), trace
