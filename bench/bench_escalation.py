"""Escalation benchmark: how fast an unanswered call moves to the next step, through the real
Asterisk 22, against a static dialplan's failover in the same run; and many escalating
calls at once, none lost.

Targets (from the project's issue): from a step's timeout to the next phone ringing, p99
under 300 ms, and under 50 ms more than the static dialplan's; 50 simultaneous escalating
calls with none lost.

\b
What it does, on its own install (own CUG_HOME, instance and ports 42000-42999, loopback):
1. imports a directory: a supervisor B, a worker A who reports to B, and N calling workers;
   sets the chain `callee:<ring>, supervisor:<ring>` for everyone;
2. runs A's and B's phones as SIPp that ring and never answer (bench/sipp/uas-ring.xml),
   with message traces;
3. for each concurrency C, C members call A at once (one SIPp each, the e2e harness's
   call.xml): A rings for <ring> s, then the call moves to B (through the routing:
   extensions-cug.conf; the baseline: bench/extensions-static-escalation.conf, swapped in
   with `dialplan reload`), B rings out too;
4. failover = B's INVITE time minus A's CANCEL time for the same caller (both from the
   SIPp traces, one clock); reports p50/p95/p99/max for both dialplans and the difference;
   counts the calls that got a final answer, reached B, and (routing) were logged as
   escalations with both steps as contacts and settled (notices made).

\b
Run: .venv/bin/python bench/bench_escalation.py [--concurrency 10 --concurrency 50]
This is a benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/x.py`

from bench.bench_routing import BenchPbx, latency, use_dialplan
from bench.common import REPO, machine, now_text, setup_logging, traced
from cug.sandbox import Sandbox
from tests.e2e.harness import Phone

log = logging.getLogger("bench.escalation")

BENCH = Path(__file__).resolve().parent
STATIC = BENCH / "extensions-static-escalation.conf"
ROUTING = REPO / "dialplan" / "extensions-cug.conf"
SUPERVISOR, CALLEE, FIRST_CALLER = "4001", "4002", 4100
_FROM_USER = re.compile(r"^From:[^\n]*<sip:([^@>]+)@", re.MULTILINE)


def members_csv(path: Path, callers: int) -> None:
    rows = ["name,phone,role,district,supervisor_phone,extension"]
    rows.append(f"Bench Supervisor,0772300001,supervisor,Oyam,,{SUPERVISOR}")
    rows.append(f"Bench Callee,0772300002,psw,Oyam,0772300001,{CALLEE}")
    for n in range(callers):
        rows.append(f"Bench Caller {n},07723{10000 + n:05d},psw,Oyam,0772300001,{FIRST_CALLER + n}")
    path.write_text("\n".join(rows) + "\n")


def arrivals(trace: Path, method: str) -> dict[str, datetime]:
    """The first `method` request per From user (the calling member) in a SIPp trace."""
    out: dict[str, datetime] = {}
    for at, body in traced(trace, received=True, method=method):
        user = _FROM_USER.search(body)
        if user and user.group(1) not in out:
            out[user.group(1)] = at
    return out


@dataclass
class Ringing:
    """A phone that rings and never answers, tracing every message."""

    phone: Phone
    trace: Path
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, pbx: BenchPbx, extension: str, label: str) -> Ringing:
        m = pbx.member(extension)
        phone = Phone(pbx, m["sip"]["username"], m["sip"]["password"])
        if phone.register(expires=3600) != 200:
            raise click.ClickException(f"{extension} did not register")
        trace = pbx.work / f"ring-{extension}-{label}.msg"
        cmd = [
            "sipp", "-sf", str(BENCH / "sipp" / "uas-ring.xml"), "-i", "127.0.0.1",
            "-p", str(phone.port), "-mp", str(phone.media_port), "-nostdin",
            "-trace_msg", "-message_file", str(trace), "-timeout", "600s",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ringing = cls(phone, trace, proc)
        phone.settle()
        return ringing

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@dataclass
class Run:
    dialplan: str
    concurrency: int
    calls: int = 0
    final_answers: dict[str, int] = field(default_factory=dict)
    reached_next_step: int = 0
    failover_ms: dict[str, float] = field(default_factory=dict)
    logged_escalations: int | None = None
    logged_with_both_steps: int | None = None
    settled: int | None = None
    seconds: float = 0.0


def place_calls(pbx: BenchPbx, callers: list[Phone], ring_s: int) -> list[int | None]:
    codes: list[int | None] = [None] * len(callers)

    def call(n: int) -> None:
        codes[n] = callers[n].call(CALLEE, talk_ms=100, timeout=4 * ring_s + 40).code

    threads = [threading.Thread(target=call, args=(n,)) for n in range(len(callers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def logged(pbx: BenchPbx, since: str, count: int, timeout: float = 60) -> tuple[int, int, int]:
    """(escalations, with both steps as contacts, settled) of calls started since `since`."""
    deadline = time.monotonic() + timeout
    found = (0, 0, 0)
    while time.monotonic() < deadline:
        db = pbx.db()
        try:
            row = db.execute(
                "SELECT count(*), sum((SELECT count(DISTINCT step) FROM contacts k "
                "WHERE k.linkedid = e.linkedid) = 2), count(settled_at) "
                "FROM escalations e WHERE started_at >= ?",
                (since,),
            ).fetchone()
        finally:
            db.close()
        found = (row[0] or 0, row[1] or 0, row[2] or 0)
        if found[2] >= count:
            break
        time.sleep(1)
    return found


def measure(pbx: BenchPbx, label: str, concurrency: int, ring_s: int, callers: list[Phone]) -> Run:
    run = Run(label, concurrency, calls=concurrency)
    callee = Ringing.start(pbx, CALLEE, f"{label}-{concurrency}")
    supervisor = Ringing.start(pbx, SUPERVISOR, f"{label}-{concurrency}")
    since = datetime.now().astimezone().isoformat(timespec="seconds")
    started = time.monotonic()
    try:
        codes = place_calls(pbx, callers[:concurrency], ring_s)
    finally:
        time.sleep(1)
        callee.stop()
        supervisor.stop()
    run.seconds = round(time.monotonic() - started, 1)
    for code in codes:
        run.final_answers[str(code)] = run.final_answers.get(str(code), 0) + 1
    cancels = arrivals(callee.trace, "CANCEL")
    invites = arrivals(supervisor.trace, "INVITE")
    gaps = [
        (invites[user] - cancels[user]).total_seconds() * 1000
        for user in invites
        if user in cancels
    ]
    run.reached_next_step = len(invites)
    run.failover_ms = latency(gaps)
    if label == "routing":
        run.logged_escalations, run.logged_with_both_steps, run.settled = logged(
            pbx, since, concurrency
        )
    log.info("%s x%d: %s", label, concurrency, asdict(run))
    return run


def bench(opts: dict[str, Any]) -> dict[str, Any]:
    work = opts["work"] or Path(tempfile.mkdtemp(prefix="cug-bench-esc-"))
    work.mkdir(parents=True, exist_ok=True)
    pbx = BenchPbx(work, opts["port_base"])
    most = max(opts["concurrency"])
    csv = work / "members.csv"
    members_csv(csv, most)
    report: dict[str, Any] = {
        "date": now_text(),
        "machine": machine(),
        "ring_seconds": opts["ring"],
        "runs": [],
    }
    try:
        pbx.up(csv)
        chain = f"callee:{opts['ring']}, supervisor:{opts['ring']}"
        pbx.cug("escalation", "set", chain)
        box = Sandbox(pbx.settings_obj())
        callers = [pbx.phone(str(FIRST_CALLER + n)) for n in range(most)]
        for phone in callers:
            if phone.register(expires=3600) != 200:
                raise click.ClickException(f"{phone.username} did not register")
        for concurrency in opts["concurrency"]:
            for label, source, marker in (
                ("routing", ROUTING, "member-call"),
                ("static", STATIC, "CUG_BENCH_NEXT"),
            ):
                use_dialplan(pbx, box, source, marker)
                # After the reload: it clears the globals set from the CLI.
                pbx.cli(f"dialplan set global CUG_BENCH_RING {opts['ring']}")
                pbx.cli(f"dialplan set global CUG_BENCH_NEXT {SUPERVISOR}")
                report["runs"].append(
                    asdict(measure(pbx, label, concurrency, opts["ring"], callers))
                )
                time.sleep(opts["pause"])
        use_dialplan(pbx, box, ROUTING, "member-call")
    finally:
        pbx.down()
        if opts["work"] is None:
            shutil.rmtree(work, ignore_errors=True)
    return report


def summarise(report: dict[str, Any]) -> None:
    runs = report["runs"]
    print(f"# escalation failover, {report['date']}; {report['machine']}")
    print("| dialplan | calls at once | final answers | reached step 2 | failover ms "
          "mean / p50 / p95 / p99 / max | logged / both steps / settled | s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        f = r["failover_ms"]
        figures = " / ".join(str(f.get(k, "-")) for k in ("mean", "p50", "p95", "p99", "max"))
        logged_text = (
            f"{r['logged_escalations']} / {r['logged_with_both_steps']} / {r['settled']}"
            if r["logged_escalations"] is not None
            else "-"
        )
        print(
            f"| {r['dialplan']} | {r['concurrency']} | {r['final_answers']} | "
            f"{r['reached_next_step']} | {figures} | {logged_text} | {r['seconds']} |"
        )
    for c in sorted({r["concurrency"] for r in runs}):
        pair = {r["dialplan"]: r for r in runs if r["concurrency"] == c}
        if "routing" in pair and "static" in pair:
            a, b = pair["routing"]["failover_ms"], pair["static"]["failover_ms"]
            if a and b:
                print(
                    f"x{c}: routing p99 {a['p99']} ms vs static p99 {b['p99']} ms: "
                    f"+{a['p99'] - b['p99']:.1f} ms (p50 +{a['p50'] - b['p50']:.1f} ms)"
                )


@click.command(help=__doc__)
@click.option(
    "--concurrency", type=int, multiple=True, default=(10, 50), show_default=True,
    help="Calls placed at once (one run of each per dialplan).",
)  # fmt: skip
@click.option("--ring", default=5, show_default=True, help="Ring seconds of each step.")
@click.option("--pause", default=3.0, show_default=True, help="Seconds between runs.")
@click.option("--port-base", default=42000, show_default=True, help="First of 1000 ports.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True)
def main(**opts: Any) -> None:
    setup_logging(opts["verbose"])
    report = bench(opts)
    if opts["json_out"]:
        opts["json_out"].write_text(json.dumps(report, indent=2))
    summarise(report)


if __name__ == "__main__":
    main()
