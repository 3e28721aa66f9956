"""Small pieces the benchmarks share: percentiles, the machine's description, logging."""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import click

REPO = Path(__file__).resolve().parent.parent
# One message of a SIPp -trace_msg file: its time stamp line, then the message.
_TRACED = re.compile(r"^-{10,} (\S+ \S+)\n(.*?)(?=^-{10,}|\Z)", re.MULTILINE | re.DOTALL)


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank p-th percentile (p in 0..100) of `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def machine() -> str:
    """One line naming the machine a figure was measured on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"nproc={os.cpu_count()} ({cpu or platform.processor()}), {mem_gb:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def now_text() -> str:
    """The date as `date` prints it (what RESULTS.md records)."""
    return subprocess.run(["date"], capture_output=True, text=True).stdout.strip()


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB: its resident memory now, and its peak."""
    values = {"VmRSS": 0, "VmHWM": 0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in values:
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def sipp_load_outputs(run_dir: Path, name: str, duration: float) -> list[str]:
    """The arguments every load SIPp of the benchmarks shares: time limits, and the per-second
    statistics, round-trip times and errors written under `run_dir` for `name`."""
    return [
        "-recv_timeout",
        "10s",
        "-timeout",
        f"{duration + 40}s",
        "-nostdin",
        "-trace_stat",
        "-stf",
        str(run_dir / f"stat-{name}.csv"),
        "-fd",
        "1",
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-trace_err",
        "-error_file",
        str(run_dir / f"errors-{name}.log"),
    ]


def run_sipp_bench(
    opts: dict[str, Any],
    prefix: str,
    run: Callable[[dict[str, Any]], Any],
    summarise: Callable[[Any], None],
) -> None:
    """The main() of a benchmark that drives SIPp: logging, its work folder (--work, kept; or
    a temporary one, removed), the run, its summary and --json-out (the report, a dataclass)."""
    setup_logging(opts.pop("verbose"))
    if shutil.which("sipp") is None:
        raise click.ClickException("sipp is not installed (Debian package sip-tester)")
    keep = opts["work"] is not None
    work = (opts["work"] or Path(tempfile.mkdtemp(prefix=prefix))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    opts["work"] = work
    json_out = opts.pop("json_out")
    try:
        rep = run(opts)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    summarise(rep)
    if json_out:
        json_out.write_text(json.dumps(asdict(rep), indent=2) + "\n")


def traced(trace: Path, received: bool, method: str) -> list[tuple[datetime, str]]:
    """(time, message) of each request `method` a SIPp received (or sent) in its trace."""
    if not trace.exists():
        return []
    out = []
    for stamp, block in _TRACED.findall(trace.read_text(errors="replace")):
        head, _, body = block.strip().partition("\n")
        body = body.strip()
        if (("received" in head) == received) and body.startswith(method + " "):
            out.append((datetime.fromisoformat(stamp), body))
    return out
