""" "Please call me" benchmark: from a member's flash hanging up to their mobile ringing with
the call back, through the real Asterisk 22 and its trunk, against a dialplan that calls the
caller ID back itself, measured in the same run.

Target (from the project's issue): p95 under 5 s from the flash's hang-up to the mobile
ringing back.

\b
What it does, on its own install (own CUG_HOME, instance and ports 45000-45999, loopback):
1. imports N members with mobiles, turns on the trunk with a callback number, and lets
   each call back ring `--ring` seconds;
2. registers the trunk's contact: a SIPp that plays the mobiles the CUG calls back; it rings
   and never answers (bench/sipp/uas-ring.xml), tracing every message;
3. each member flashes once (the e2e flash.xml through a second SIPp with the trunk's
   credentials: INVITE to the callback number, CANCEL after 1 s of ringing), `--parallel`
   flashes at a time: first through the routing (extensions-cug.conf: FastAGI decides, the
   service logs the flash and calls back over AMI Originate after its `delay_ms` pause),
   then through the baseline bench/extensions-static-callback.conf (the dialplan's `h`
   extension originates the call back at once, no checks);
4. call-back delay = the time the mobile's SIPp received the call back's INVITE minus the
   time the flash's SIPp sent its CANCEL (both traces, one clock, loopback); counts flashes
   called back, and (routing) flashes logged and call backs logged as contacts.

\b
Run: .venv/bin/python bench/bench_callbacks.py [--members 60 --parallel 5]
This is a benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/x.py`

from bench.bench_routing import BenchPbx, latency, use_dialplan
from bench.common import REPO, machine, now_text, run_sipp_bench, traced
from cug import settings as settings_mod
from cug.sandbox import Sandbox
from tests.e2e.harness import Phone
from tests.e2e.mobiles import flash

log = logging.getLogger("bench.callbacks")

BENCH = Path(__file__).resolve().parent
STATIC = BENCH / "extensions-static-callback.conf"
ROUTING = REPO / "dialplan" / "extensions-cug.conf"
CALLBACK_NUMBER = "0800100199"
CUG_NUMBER = "0800100116"
FIRST_EXTENSION = 4500
_INVITE_USER = re.compile(r"^INVITE sip:\+?(\d+)@")


def mobile(n: int) -> str:
    return f"07724{n:05d}"


def members_csv(path: Path, count: int) -> None:
    rows = ["name,phone,role,district,supervisor_phone,extension"]
    for n in range(count):
        rows.append(f"Bench Flasher {n},{mobile(n)},psw,Oyam,,{FIRST_EXTENSION + n}")
    path.write_text("\n".join(rows) + "\n")


def key(number: str) -> str:
    """A mobile number in any format, as the 9 digits after the country code or trunk 0."""
    return re.sub(r"\D", "", number)[-9:]


@dataclass
class Run:
    dialplan: str
    flashes: int = 0
    flash_answers: dict[str, int] = field(default_factory=dict)
    called_back: int = 0
    delay_ms: dict[str, float] = field(default_factory=dict)
    flashes_logged: int | None = None
    callbacks_logged: int | None = None
    seconds: float = 0.0


@dataclass
class Report:
    date: str
    machine: str
    members: int
    parallel: int
    service_delay_ms: int
    runs: list[Run] = field(default_factory=list)


def start_mobiles(pbx: BenchPbx, label: str) -> tuple[subprocess.Popen[bytes], Path]:
    """The trunk's registered contact, as the mobiles the CUG calls: rings, never answers."""
    trunk = pbx.trunk()
    if trunk.register(expires=3600) != 200:
        raise click.ClickException("the trunk did not register")
    trace = pbx.work / f"mobiles-{label}.msg"
    cmd = [
        "sipp", "-sf", str(BENCH / "sipp" / "uas-ring.xml"), "-i", "127.0.0.1",
        "-p", str(trunk.port), "-mp", str(trunk.media_port), "-nostdin",
        "-trace_msg", "-message_file", str(trace), "-timeout", "600s",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    return proc, trace


def flash_all(
    pbx: BenchPbx, label: str, count: int, parallel: int
) -> list[tuple[str, int | None, Path]]:
    """Every member flashes once, `parallel` at a time, each worker a gateway SIPp on its own
    port with the trunk's credentials: (number, final answer, trace) per flash."""
    trunk = pbx.trunk()
    gateways: queue.SimpleQueue[Phone] = queue.SimpleQueue()
    for _ in range(parallel):
        gateways.put(Phone(pbx, trunk.username, trunk.password))

    def one(n: int) -> tuple[str, int | None, Path]:
        number, gateway = mobile(n), gateways.get()
        trace = pbx.work / f"flash-{label}-{number}.msg"
        try:
            code = flash(gateway, CALLBACK_NUMBER, caller=number, ring_ms=1000, trace=trace)
        finally:
            gateways.put(gateway)
        return number, code, trace

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(one, range(count)))


def logged(pbx: BenchPbx, since_flash: int, since_contact: int, count: int) -> tuple[int, int]:
    """(flashes called back, call backs logged as contacts) after the marks, waiting for
    the call backs to end (ring time) and be written."""
    deadline = time.monotonic() + 90
    found = (0, 0)
    while time.monotonic() < deadline:
        with pbx.db() as db:
            flashes = db.execute(
                "SELECT count(*) FROM flashes WHERE id > ? AND outcome = 'called_back'",
                (since_flash,),
            ).fetchone()[0]
            contacts = db.execute(
                "SELECT count(*) FROM contacts WHERE id > ? AND kind = 'callback'",
                (since_contact,),
            ).fetchone()[0]
        found = (flashes, contacts)
        if contacts >= count:
            break
        time.sleep(1)
    return found


def marks(pbx: BenchPbx) -> tuple[int, int]:
    with pbx.db() as db:
        return (
            db.execute("SELECT coalesce(max(id), 0) FROM flashes").fetchone()[0],
            db.execute("SELECT coalesce(max(id), 0) FROM contacts").fetchone()[0],
        )


def measure(pbx: BenchPbx, label: str, count: int, parallel: int) -> Run:
    run = Run(label, flashes=count)
    mobiles, trace = start_mobiles(pbx, label)
    since_flash, since_contact = marks(pbx)
    started = time.monotonic()
    try:
        results = flash_all(pbx, label, count, parallel)
        time.sleep(5)  # the last call backs go out
    finally:
        mobiles.terminate()
        mobiles.wait(timeout=10)
    run.seconds = round(time.monotonic() - started, 1)
    rung = {}
    for at, message in traced(trace, received=True, method="INVITE"):
        user = _INVITE_USER.match(message)
        if user:
            rung.setdefault(key(user.group(1)), at)
    gaps = []
    for number, code, flash_trace in results:
        run.flash_answers[str(code)] = run.flash_answers.get(str(code), 0) + 1
        cancels = traced(flash_trace, received=False, method="CANCEL")
        if cancels and key(number) in rung:
            gaps.append((rung[key(number)] - cancels[0][0]).total_seconds() * 1000)
    run.called_back = len(gaps)
    run.delay_ms = latency(gaps)
    if label == "routing":
        run.flashes_logged, run.callbacks_logged = logged(pbx, since_flash, since_contact, count)
    log.info("%s: %s", label, dataclasses.asdict(run))
    return run


def bench(opts: dict[str, Any]) -> Report:
    work: Path = opts["work"]
    pbx = BenchPbx(work, opts["port_base"])
    csv = work / "members.csv"
    members_csv(csv, opts["members"])
    report = Report(now_text(), machine(), opts["members"], opts["parallel"], 0)
    try:
        pbx.up(csv, trunk_numbers=(CUG_NUMBER,), callback_numbers=(CALLBACK_NUMBER,))
        s = settings_mod.load(pbx.home)
        s.callbacks = dataclasses.replace(s.callbacks, ring_seconds=opts["ring"])
        s.save()
        report.service_delay_ms = s.callbacks.delay_ms
        pbx.stop_service()
        pbx.start_service(reinstall=False)
        box = Sandbox(pbx.settings_obj())
        for label, source, marker in (
            ("routing", ROUTING, "cug-trunk-in"),
            ("static", STATIC, "CUG_BENCH_CALLBACK"),
        ):
            use_dialplan(pbx, box, source, marker, context="cug-from-trunk")
            report.runs.append(measure(pbx, label, opts["members"], opts["parallel"]))
            time.sleep(opts["ring"] + 2)  # the last run's call backs have rung out
        use_dialplan(pbx, box, ROUTING, "cug-trunk-in", context="cug-from-trunk")
    finally:
        pbx.down()
    return report


def summarise(report: Report) -> None:
    print(f"# please call me, {report.date}; {report.machine}")
    print(
        f"{report.members} members flash once each, {report.parallel} at a time; the "
        f"service pauses {report.service_delay_ms} ms after a flash before calling back"
    )
    print("| dialplan | flashes | flash answers | called back | hang-up to ring ms "
          "mean / p50 / p95 / p99 / max | flashes / call backs logged | s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in report.runs:
        d = r.delay_ms
        figures = " / ".join(str(d.get(k, "-")) for k in ("mean", "p50", "p95", "p99", "max"))
        logged_text = (
            f"{r.flashes_logged} / {r.callbacks_logged}" if r.flashes_logged is not None else "-"
        )
        print(
            f"| {r.dialplan} | {r.flashes} | {r.flash_answers} | {r.called_back} | "
            f"{figures} | {logged_text} | {r.seconds} |"
        )
    pair = {r.dialplan: r.delay_ms for r in report.runs}
    if pair.get("routing") and pair.get("static"):
        a, b = pair["routing"], pair["static"]
        pause = report.service_delay_ms
        print(
            f"routing p95 {a['p95']} ms vs static p95 {b['p95']} ms: "
            f"+{a['p95'] - b['p95']:.1f} ms, of which {pause} ms is the service's deliberate "
            f"pause; without it routing p95 {a['p95'] - pause:.1f} ms "
            f"(ratio {(a['p95'] - pause) / max(b['p95'], 0.1):.1f})"
        )


@click.command(help=__doc__)
@click.option("--members", default=60, show_default=True, help="Members; each flashes once.")
@click.option("--parallel", default=5, show_default=True, help="Flashes at a time.")
@click.option("--ring", default=5, show_default=True, help="Seconds a call back rings.")
@click.option("--port-base", default=45000, show_default=True, help="First of 1000 ports.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True)
def main(**opts: Any) -> None:
    run_sipp_bench(opts, "cug-bench-cb-", bench, summarise)


if __name__ == "__main__":
    main()
