"""Case conference benchmark: time from the pull-in request to every callee's phone ringing,
through the real Asterisk 22, against a plain member-to-member call's setup in the same run.

Target (from the project's issue): p99 under 1 s for five callees.

\b
What it does, on its own install (own CUG_HOME, instance and ports 43000-43999, loopback):
1. imports a directory: in Oyam a supervisor S, a worker W who reports to S, one police,
   health and probation officer, and N DAC officers (who may start case conferences); opens
   N sexual-abuse cases assigned to W; adds the conference code 109; every chain is
   `callee:<ring>` (no escalation);
2. runs the five callees' phones as SIPp that ring and never answer (bench/sipp/uas-ring.xml),
   with message traces;
3. baseline: each DAC officer in turn calls W's extension (a plain call through the routing);
   setup = W's INVITE arrival minus the caller's first INVITE sent (one clock, SIPp traces);
4. pull-in: each DAC officer in turn dials `*<case>*109` (a new case each, one every
   --gap seconds) and hangs up after 2 s; each of the five callees (W, S, police, health,
   probation) is rung by the service's AMI Originate; per conference, "all ringing" = the
   last of the five INVITE arrivals minus the DAC's first INVITE sent (the callee's INVITE
   carries the DAC's extension as caller ID, so tries are told apart).

\b
Run: .venv/bin/python bench/bench_conference.py [--conferences 20]
This is a benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/x.py`

from bench.bench_escalation import Ringing, arrivals
from bench.bench_routing import BenchPbx, latency
from bench.common import machine, now_text, setup_logging
from tests.e2e.conference_phones import join

log = logging.getLogger("bench.conference")

SUPERVISOR, WORKER, POLICE, HEALTH, PROBATION, FIRST_DAC = (
    "4001",
    "4002",
    "4003",
    "4004",
    "4005",
    4100,
)
CALLEES = (WORKER, SUPERVISOR, POLICE, HEALTH, PROBATION)
CODE = "109"
_BLOCK = re.compile(r"^-{10,} (\S+ \S+)\n(.*?)(?=^-{10,}|\Z)", re.MULTILINE | re.DOTALL)


def members_csv(path: Path, dacs: int) -> None:
    rows = ["name,phone,role,district,supervisor_phone,extension"]
    rows.append(f"Bench Supervisor,0772400001,supervisor,Oyam,,{SUPERVISOR}")
    rows.append(f"Bench Worker,0772400002,psw,Oyam,0772400001,{WORKER}")
    rows.append(f"Bench Police,0772400003,police,Oyam,,{POLICE}")
    rows.append(f"Bench Health,0772400004,health,Oyam,,{HEALTH}")
    rows.append(f"Bench Probation,0772400005,probation,Oyam,,{PROBATION}")
    for n in range(dacs):
        rows.append(f"Bench DAC {n},07724{10000 + n:05d},dac,Oyam,,{FIRST_DAC + n}")
    path.write_text("\n".join(rows) + "\n")


def first_sent(trace: Path, method: str) -> datetime | None:
    """When the phone sent its first `method` request (its SIPp trace)."""
    if not trace.exists():
        return None
    for stamp, block in _BLOCK.findall(trace.read_text(errors="replace")):
        head, _, body = block.strip().partition("\n")
        if "sent" in head and body.strip().startswith(method + " "):
            return datetime.fromisoformat(stamp)
    return None


def run_calls(pbx: BenchPbx, dialed: list[str], gap: float) -> dict[str, datetime]:
    """Each DAC officer n dials dialed[n], one every `gap` s; when each sent its INVITE."""
    started = []
    for n, number in enumerate(dialed):
        phone = pbx.phone(str(FIRST_DAC + n))
        started.append((str(FIRST_DAC + n), join(phone, number, hold_ms=2000)))
        time.sleep(gap)
    sent: dict[str, datetime] = {}
    for ext, call in started:
        try:
            call.wait(timeout=60)
        except Exception:  # noqa: BLE001 - a SIPp that hung: its figures are left out
            log.warning("%s's call did not end", ext)
        when = first_sent(call.trace, "INVITE")
        if when is not None:
            sent[ext] = when
    return sent


def bench(opts: dict[str, Any]) -> dict[str, Any]:
    work = opts["work"] or Path(tempfile.mkdtemp(prefix="cug-bench-conf-"))
    work.mkdir(parents=True, exist_ok=True)
    pbx = BenchPbx(work, opts["port_base"])
    count = opts["conferences"]
    csv = work / "members.csv"
    members_csv(csv, count)
    report: dict[str, Any] = {"date": now_text(), "machine": machine(), "conferences": count}
    try:
        pbx.up(csv)
        pbx.cug("escalation", "set", f"callee:{opts['ring']}")
        pbx.cug(
            "directory",
            "short-codes",
            "add",
            CODE,
            "--kind",
            "conference",
            "--label",
            "Case conference",
        )
        cases = []
        for _ in range(count):
            out = pbx.cug(
                "case",
                "open",
                "--district",
                "Oyam",
                "--category",
                "sexual_abuse",
                "--assign",
                WORKER,
            ).stdout
            cases.append(int(out.split()[1]))
        # Baseline: plain calls from each DAC officer to the worker.
        worker = Ringing.start(pbx, WORKER, "plain")
        try:
            sent = run_calls(pbx, [WORKER] * count, opts["gap"])
        finally:
            time.sleep(1)
            worker.stop()
        rung = arrivals(worker.trace, "INVITE")
        plain = [(rung[u] - sent[u]).total_seconds() * 1000 for u in sent if u in rung]
        report["plain_call_setup_ms"] = latency(plain)
        report["plain_calls_rung"] = len(plain)
        time.sleep(opts["ring"] + 2)
        # Pull-ins: five callees each.
        phones = [Ringing.start(pbx, ext, "pull-in") for ext in CALLEES]
        try:
            sent = run_calls(pbx, [f"*{c}*{CODE}" for c in cases], opts["gap"])
        finally:
            time.sleep(2)
            for phone in phones:
                phone.stop()
        per_callee = [arrivals(p.trace, "INVITE") for p in phones]
        all_ringing, each = [], []
        for user, at in sent.items():
            times = [rung.get(user) for rung in per_callee]
            each += [(t - at).total_seconds() * 1000 for t in times if t is not None]
            if all(t is not None for t in times):
                all_ringing.append((max(times) - at).total_seconds() * 1000)  # type: ignore[type-var]
        report["pull_in_all_five_ringing_ms"] = latency(all_ringing)
        report["pull_in_each_callee_ms"] = latency(each)
        report["conferences_all_five_rung"] = len(all_ringing)
        p99, base = (
            report["pull_in_all_five_ringing_ms"].get("p99"),
            report["plain_call_setup_ms"].get("p99"),
        )
        report["ratio_p99_pull_in_to_plain"] = round(p99 / base, 1) if p99 and base else None
    finally:
        pbx.down()
        if opts["work"] is None:
            shutil.rmtree(work, ignore_errors=True)
    return report


@click.command()
@click.option("--conferences", default=20, show_default=True, help="Case conferences started.")
@click.option("--gap", default=1.5, show_default=True, help="Seconds between two starts.")
@click.option("--ring", default=5, show_default=True, help="Ring seconds of each callee.")
@click.option("--port-base", default=43000, show_default=True)
@click.option("--work", type=click.Path(path_type=Path), default=None)
@click.option("-v", "--verbose", is_flag=True)
def main(**opts: Any) -> None:
    """Time from a case conference's pull-in request to all five callees ringing."""
    setup_logging(opts.pop("verbose"))
    report = bench(opts)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
