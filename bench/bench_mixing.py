"""Conference mixing benchmark: what one bridge costs Asterisk as it grows, with every
participant sending audio, against the same number of plain two-party calls in the same run.

\b
What it does, on its own install (own CUG_HOME, instance and ports 44000-44999, loopback):
1. imports a directory: in Oyam a supervisor L (the leader), a member B whose phone answers
   every call (bench/sipp/uas.xml) and 50 members; adds Oyam's bridge on code 105 (up to 50);
2. for each size N: (a) baseline: N members call B at once, each a two-party call through
   the routing; (b) the bridge: L and N-1 members join it. Every caller sends G.711 audio
   from SIPp's recording (g711a.pcap, its payload type set to PCMU), played over and over;
3. once all are up and have settled, Asterisk's CPU over a window (its /proc stat, user +
   system) and the busiest of its threads (in the bridge: ConfBridge's softmix mixing
   thread, which mixes every 20 ms and falls behind when it needs a whole core).

\b
Run: .venv/bin/python bench/bench_mixing.py [--size 5 --size 10 --size 20 --size 40]
This is a benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/x.py`

from bench.bench_routing import CLOCK_TICKS, BenchPbx, asterisk_pid, cpu_seconds
from bench.common import machine, now_text, setup_logging
from cug.sandbox import Sandbox
from tests.e2e.conference_phones import InConference, join
from tests.e2e.harness import Phone

log = logging.getLogger("bench.mixing")

BENCH = Path(__file__).resolve().parent
LEADER, ANSWERS, FIRST = "4001", "4002", 4100
CODE = "105"
RECORDING = Path("/usr/share/sip-tester/g711a.pcap")
RECORDING_MS = 7000
HOLD_MS = 45000


def members_csv(path: Path, count: int) -> None:
    rows = ["name,phone,role,district,supervisor_phone,extension"]
    rows.append(f"Bench Leader,0772500001,supervisor,Oyam,,{LEADER}")
    rows.append(f"Bench Answers,0772500002,psw,Oyam,0772500001,{ANSWERS}")
    for n in range(count):
        rows.append(f"Bench Member {n},07725{10000 + n:05d},psw,Oyam,0772500001,{FIRST + n}")
    path.write_text("\n".join(rows) + "\n")


def pcmu_recording(path: Path) -> Path:
    """SIPp's G.711 A-law recording with its RTP payload type set to PCMU (0), which the
    members' phones offer: the same packets, no transcoding in Asterisk."""
    data = bytearray(RECORDING.read_bytes())
    offset = 24
    while offset < len(data):
        length = int.from_bytes(data[offset + 8 : offset + 12], "little")
        start = offset + 16
        data[start + 40 : start + 42] = b"\0\0"  # no UDP checksum (the payload changed)
        data[start + 42 + 1] = (data[start + 42 + 1] & 0x80) | 0  # PT 0 (PCMU), marker kept
        offset = start + length
    path.write_bytes(bytes(data))
    return path


def rtp_packets(channelstats: str) -> tuple[int, int]:
    """(received, sent) RTP packets on the calls' audio streams, summed over `pjsip show
    channelstats` (per row: bridge, channel, up time, codec, then receive count ... and
    transmit count)."""
    rx = tx = 0
    for line in channelstats.splitlines():
        fields = line.split()
        if len(fields) >= 9 and fields[2].count(":") == 2 and fields[4].isdigit():
            rx += int(fields[4])
            tx += int(fields[8]) if fields[8].isdigit() else 0
    return rx, tx


def thread_ticks(pid: int) -> dict[str, int]:
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[task.name] = int(fields[11]) + int(fields[12])
    return out


def sample(pid: int, seconds: float) -> dict[str, float]:
    """Asterisk's CPU over `seconds` (share of one core) and its busiest thread's."""
    before_total, before = cpu_seconds(pid), thread_ticks(pid)
    time.sleep(seconds)
    after_total, after = cpu_seconds(pid), thread_ticks(pid)
    busiest = max((after[t] - before.get(t, 0) for t in after), default=0) / CLOCK_TICKS
    return {
        "asterisk_cpu_pct": round(100 * (after_total - before_total) / seconds, 1),
        "busiest_thread_pct": round(100 * busiest / seconds, 1),
    }


def measure(
    pbx: BenchPbx, pid: int, calls: list[tuple[Phone, str]], media: Path, window: float
) -> dict[str, Any]:
    running: list[InConference] = []
    try:
        for phone, dialed in calls:
            running.append(
                join(phone, dialed, hold_ms=HOLD_MS, pause_ms=500, media=(media, RECORDING_MS))
            )
            time.sleep(0.2)
        time.sleep(8)  # all answered, audio flowing
        up = sum(1 for call in running if call.running())
        figures = sample(pid, window)
        figures["calls_up"] = up
        stats = pbx.cli("pjsip show channelstats")
        figures["rtp_packets_received"], figures["rtp_packets_sent"] = rtp_packets(stats)
        log.debug("%s", stats)
        channels = pbx.cli("core show channels count")
        figures["asterisk_channels"] = next(
            (int(line.split()[0]) for line in channels.splitlines() if "active channel" in line),
            None,
        )
        return figures
    finally:
        pbx.cli("channel request hangup all")
        for call in running:
            if call.running():
                call.hang_up_now()
        time.sleep(5)


def bench(opts: dict[str, Any]) -> dict[str, Any]:
    work = opts["work"] or Path(tempfile.mkdtemp(prefix="cug-bench-mix-"))
    work.mkdir(parents=True, exist_ok=True)
    pbx = BenchPbx(work, opts["port_base"])
    most = max(opts["size"])
    csv = work / "members.csv"
    members_csv(csv, most)
    report: dict[str, Any] = {
        "date": now_text(),
        "machine": machine(),
        "window_s": opts["window"],
        "runs": [],
    }
    answering = None
    try:
        pbx.up(csv)
        pbx.cug("escalation", "set", "callee:20")
        pbx.cug(
            "conference",
            "add-bridge",
            "--code",
            CODE,
            "--district",
            "Oyam",
            "--label",
            "Bench",
            "--max-members",
            "50",
        )
        media = pcmu_recording(work / "g711u.pcap")
        pid = asterisk_pid(Sandbox(pbx.settings_obj()))
        assert pid is not None
        b = pbx.member(ANSWERS)
        answering = Phone(pbx, b["sip"]["username"], b["sip"]["password"])
        assert answering.register(expires=3600) == 200
        uas = subprocess.Popen(
            ["sipp", "-sf", str(BENCH / "sipp" / "uas.xml"), "-i", "127.0.0.1",
             "-p", str(answering.port), "-mp", str(answering.media_port), "-nostdin",
             "-timeout", "3600s"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        answering.settle()
        members = [pbx.phone(str(FIRST + n)) for n in range(most)]
        idle = sample(pid, opts["window"])
        report["idle"] = idle
        for size in opts["size"]:
            plain = measure(pbx, pid, [(m, ANSWERS) for m in members[:size]], media, opts["window"])
            leader = pbx.phone(LEADER)
            bridge = measure(
                pbx,
                pid,
                [(leader, CODE)] + [(m, CODE) for m in members[: size - 1]],
                media,
                opts["window"],
            )
            run = {"size": size, "plain_calls": plain, "bridge": bridge}
            extra_plain = plain["asterisk_cpu_pct"] - idle["asterisk_cpu_pct"]
            extra_bridge = bridge["asterisk_cpu_pct"] - idle["asterisk_cpu_pct"]
            run["ratio_bridge_to_plain_cpu"] = (
                round(extra_bridge / extra_plain, 2) if extra_plain > 0 else None
            )
            log.info("%s", run)
            report["runs"].append(run)
        uas.terminate()
    finally:
        pbx.down()
        if opts["work"] is None:
            shutil.rmtree(work, ignore_errors=True)
    return report


@click.command()
@click.option("--size", type=int, multiple=True, default=(5, 10, 20, 40), show_default=True)
@click.option("--window", default=10.0, show_default=True, help="Seconds of CPU sampled.")
@click.option("--port-base", default=44000, show_default=True)
@click.option("--work", type=click.Path(path_type=Path), default=None)
@click.option("-v", "--verbose", is_flag=True)
def main(**opts: Any) -> None:
    """Asterisk's CPU for one bridge of N talking members against N plain calls."""
    setup_logging(opts.pop("verbose"))
    print(json.dumps(bench(opts), indent=2))


if __name__ == "__main__":
    main()
