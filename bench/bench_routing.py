"""Routing benchmark: member-to-member calls per second through the real Asterisk 22 with the
FastAGI routing service, against a static Dial() dialplan in the same run, with a directory
of 100,000 members.

Target (from the project's issue): calls per second with the routing at least 0.9 of the
static dialplan's, with the setup delay at a sub-saturation rate reported.

\b
What it does, on its own install (own CUG_HOME, instance and ports 41000-41999, loopback):
1. generates the members CSV (bench/bench_directory.py) and imports it with `cug directory
   import`;
2. installs the configuration, with every member's PJSIP endpoint as realtime rows in the
   endpoints database (Asterisk's boot, memory and the cost of a directory change with
   100,000 members are bench/bench_endpoints.py's);
3. runs Asterisk with every member and `cug serve` with the full 100,000-member directory;
4. registers a few SIPp callees (bench/sipp/uas.xml, answering every call), then for each
   rate runs the same SIPp load (bench/sipp/uac.xml: one SIPp per calling member with its
   digest credentials, the dialed extensions from an injection file) twice: through the
   routing (the repo's extensions-cug.conf) and through bench/extensions-static.conf,
   swapped in with `dialplan reload`;
5. reports calls, failures, achieved calls per second, setup delay mean/p50/p95/p99, the
   ratio at each rate and of the highest sustained rates; then removes the install
   (`cug sandbox down --remove`).

\b
Run: .venv/bin/python bench/bench_routing.py [--rates 50 --rates 100 --rates 200]
This is a benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/x.py`

from bench.bench_directory import extension, write_csv
from bench.common import (
    REPO,
    machine,
    now_text,
    percentile,
    rss_kib,
    run_sipp_bench,
    sipp_load_outputs,
)
from cug import settings as settings_mod
from cug.sandbox import Sandbox, ServiceProcess
from directory.lookup import Directory
from directory.model import Member
from directory.schema import open_db
from tests.e2e.harness import Pbx, Phone, Ports

log = logging.getLogger("bench.routing")

BENCH = Path(__file__).resolve().parent
SIPP = BENCH / "sipp"
STATIC_DIALPLAN = BENCH / "extensions-static.conf"
ROUTING_DIALPLAN = REPO / "dialplan" / "extensions-cug.conf"
PORT_SPAN = 1000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchPorts(Ports):
    """Free loopback ports taken in order from `base`, never past base + PORT_SPAN."""

    def __init__(self, base: int) -> None:
        self.next = base
        self.limit = base + PORT_SPAN

    def take(self, block: int = 1) -> int:
        port = super().take(block)
        if port + block > self.limit:
            raise click.ClickException(f"no free ports left below {self.limit}")
        return port


class BenchPbx(Pbx):
    """The e2e harness's install, on the benchmark's own port range and instance name."""

    def __init__(self, work: Path, port_base: int) -> None:
        super().__init__(work)
        self.ports = BenchPorts(port_base)
        self.sip_port = self.ports.take()
        self.ami_port = self.ports.take()
        self.agi_port = self.ports.take()
        self.http_port = self.ports.take()
        self.instance = f"bench-{self.sip_port}"

    def settings_obj(self) -> settings_mod.Settings:
        return settings_mod.load(self.home)

    def init(self) -> None:
        """`cug init` of the install on the benchmark's instance name and ports, no trunk."""
        ports = {
            "--sip-port": self.sip_port,
            "--ami-port": self.ami_port,
            "--agi-port": self.agi_port,
            "--http-port": self.http_port,
        }
        args = [x for name, port in ports.items() for x in (name, str(port))]
        self.cug("init", "--instance", self.instance, *args, "--no-trunk")


# ---------------------------------------------------------------- processes and timing


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used so far."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def asterisk_pid(box: Sandbox) -> int | None:
    try:
        return int((box.host / "run/asterisk.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def quick_cli(box: Sandbox, command: str, timeout: float = 5) -> str | None:
    """A CLI command's output, or None when Asterisk did not answer within `timeout`."""
    try:
        result = box.cli(command, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return result.stdout if result.returncode == 0 else None


def start_asterisk(box: Sandbox) -> None:
    result = subprocess.run(
        ["chroot", str(box.root), "asterisk", "-C", box.conf_inside],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise click.ClickException(f"Asterisk did not start: {result.stderr[-2000:]}")


def wait_booted(box: Sandbox, timeout: float, poll: float = 1.0) -> float | None:
    """Seconds until `core waitfullybooted` answered, polling every `poll` seconds with short
    CLI timeouts (the CLI blocks while modules load); None if not within `timeout`."""
    started = time.monotonic()
    last_log = started
    while time.monotonic() - started < timeout:
        if quick_cli(box, "core waitfullybooted", timeout=3) is not None:
            return time.monotonic() - started
        if time.monotonic() - last_log > 30:
            last_log = time.monotonic()
            log.info("  still booting after %.0f s", last_log - started)
        time.sleep(poll)
    return None


def stop_asterisk(box: Sandbox) -> None:
    """Stop this instance's Asterisk: `core stop now`, or SIGKILL of its own pid if busy."""
    pid = asterisk_pid(box)
    quick_cli(box, "core stop now", timeout=10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and box.pid() is not None:
        time.sleep(0.2)
    if pid is not None and box.pid() is not None:
        log.warning("Asterisk %d did not stop; killing it", pid)
        os.kill(pid, 9)
        time.sleep(0.5)


# ---------------------------------------------------------------- SIPp


def sipp_stats(path: Path) -> dict[str, str]:
    """The last row of a SIPp -trace_stat CSV, by column name."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def sipp_rtts(path: Path) -> dict[str, list[tuple[float, float]]]:
    """(date in s, response time in ms) by rtd name, from a SIPp -trace_rtt file."""
    out: dict[str, list[tuple[float, float]]] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines()[1:]:
        parts = line.strip().split(";")
        if len(parts) < 3:
            continue
        try:
            out.setdefault(parts[2], []).append((float(parts[0]), float(parts[1])))
        except ValueError:
            continue
    return out


def elapsed_seconds(text: str) -> float:
    """SIPp's ElapsedTime, HH:MM:SS:mmmuuu."""
    parts = text.split(":")
    if len(parts) < 4:
        return 0.0
    h, m, s, frac = parts[:4]
    return int(h) * 3600 + int(m) * 60 + int(s) + int(frac) / 10 ** len(frac)


@dataclass
class LoadResult:
    dialplan: str
    rate: int
    duration_s: int
    calls_offered: int
    created: int = 0
    successful: int = 0
    failed: int = 0
    failed_detail: dict[str, int] = field(default_factory=dict)
    retransmissions: int = 0
    achieved_cps: float = 0.0
    setup_ms: dict[str, float] = field(default_factory=dict)
    auth_invite_to_200_ms: dict[str, float] = field(default_factory=dict)
    asterisk_cpu_s: float = 0.0
    service_cpu_s: float = 0.0
    asterisk_rss_mib_after: float | None = None
    sipp_returncodes: list[int] = field(default_factory=list)


def latency(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "mean": round(sum(values) / len(values), 1),
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "p99": round(percentile(values, 99), 1),
        "max": round(max(values), 1),
    }


@dataclass
class Callee:
    phone: Phone
    proc: subprocess.Popen[bytes] | None = None


ANSWER_TIMEOUT = 900.0  # Asterisk with 100,000 realtime endpoints is busy a while after boot


def register_when_answered(phone: Phone, timeout: float) -> int | None:
    """REGISTER until Asterisk answers (it may still be busy right after its boot)."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while True:
        try:
            code = phone.register(expires=3600)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None or time.monotonic() > deadline:
            if time.monotonic() - started > 30:
                log.info(
                    "Asterisk answered a REGISTER %.0f s after it booted",
                    time.monotonic() - started,
                )
            return code
        time.sleep(5)


def start_callee(pbx: BenchPbx, member: Member, bound_s: int) -> Callee:
    """Register the member's phone (SIPp, register.xml of the e2e tests), then answer every
    call on the same port until `bound_s` seconds have passed."""
    phone = Phone(pbx, member.sip_username, member.sip_password)
    code = register_when_answered(phone, ANSWER_TIMEOUT)
    if code != 200:
        raise click.ClickException(f"callee {member.extension} did not register: {code}")
    cmd = [
        "sipp",
        "-sf",
        str(SIPP / "uas.xml"),
        "-i",
        "127.0.0.1",
        "-p",
        str(phone.port),
        "-mp",
        str(phone.media_port),
        "-nostdin",
        "-timeout",
        f"{bound_s}s",
        "-trace_err",
        "-error_file",
        str(pbx.work / f"uas-{member.extension}-errors.log"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=pbx.work)
    return Callee(phone, proc)


def stop_callee(callee: Callee) -> None:
    if callee.proc is None or callee.proc.poll() is not None:
        return
    callee.proc.terminate()
    try:
        callee.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        callee.proc.kill()
        callee.proc.wait(timeout=5)


@dataclass
class Caller:
    """A calling member: one SIPp process per load run, on ports kept for the whole bench."""

    member: Member
    port: int
    media_port: int


def write_injection(path: Path, callees: list[Member], calls: int) -> None:
    """SIPp -inf file: what each call dials, the callees in turn."""
    lines = ["SEQUENTIAL"] + [callees[k % len(callees)].extension for k in range(calls)]
    path.write_text("\n".join(lines) + "\n")


def caller_command(
    pbx: BenchPbx,
    caller: Caller,
    injection: Path,
    run_dir: Path,
    rate: float,
    calls: int,
    opts: dict[str, Any],
) -> list[str]:
    name = caller.member.sip_username
    cmd = [
        "sipp",
        f"127.0.0.1:{pbx.sip_port}",
        "-sf",
        str(opts["uac_scenario"]),
        "-inf",
        str(injection),
        "-i",
        "127.0.0.1",
        "-p",
        str(caller.port),
        "-mp",
        str(caller.media_port),
        "-au",
        name,
        "-ap",
        caller.member.sip_password,
        "-set",
        "caller",
        name,
        "-r",
        f"{rate:g}",
        "-m",
        str(calls),
        "-l",
        str(max(int(rate * 5), 50)),
        *sipp_load_outputs(run_dir, name, opts["duration"]),
    ]
    if opts["trace_msg"]:
        cmd += ["-trace_msg", "-message_file", str(run_dir / f"messages-{name}.log")]
    return cmd


def uac_scenario(work: Path, talk_ms: int) -> Path:
    """bench/sipp/uac.xml with the talk time set (SIPp reads no variable in a timeout)."""
    text = (SIPP / "uac.xml").read_text()
    marker = 'timeout="100" ontimeout="hangup"'
    if marker not in text:
        raise click.ClickException(f"{SIPP / 'uac.xml'} has no {marker}")
    path = work / "uac.xml"
    path.write_text(text.replace(marker, f'timeout="{int(talk_ms)}" ontimeout="hangup"'))
    return path


FAILURE_COUNTERS = (
    "FailedRegexpDoesntMatch",
    "FailedMaxUDPRetrans",
    "FailedUnexpectedMessage",
    "FailedCallRejected",
    "FailedCannotSendMessage",
    "FailedOutboundCongestion",
    "FailedTimeoutOnRecv",
    "FailedTimeoutOnSend",
)


def run_load(
    pbx: BenchPbx,
    box: Sandbox,
    service_pid: int | None,
    callers: list[Caller],
    injection: Path,
    dialplan: str,
    rate: int,
    opts: dict[str, Any],
) -> LoadResult:
    """`rate` calls per second for `duration` seconds, shared evenly by the callers' SIPps."""
    duration = opts["duration"]
    calls = rate * duration
    res = LoadResult(dialplan=dialplan, rate=rate, duration_s=duration, calls_offered=calls)
    run_dir = pbx.work / f"load-{len(list(pbx.work.glob('load-*'))):02d}-{dialplan}-{rate}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    each_rate = rate / len(callers)
    each_calls = calls // len(callers)
    res.calls_offered = each_calls * len(callers)
    ast_pid = asterisk_pid(box)
    ast_cpu, svc_cpu = cpu_seconds(ast_pid), cpu_seconds(service_pid)
    log.info(
        "load: %s dialplan, %d CPS for %d s (%d calls from %d SIPp callers)",
        dialplan,
        rate,
        duration,
        res.calls_offered,
        len(callers),
    )
    procs = [
        subprocess.Popen(
            caller_command(pbx, c, injection, run_dir, each_rate, each_calls, opts),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=run_dir,
        )
        for c in callers
    ]
    deadline = time.monotonic() + duration + 90
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=max(deadline - time.monotonic(), 1)))
        except subprocess.TimeoutExpired:
            log.warning("a caller SIPp did not finish in time; killed")
            proc.kill()
            codes.append(proc.wait(timeout=5))
        if proc.stderr is not None:
            proc.stderr.close()
    res.sipp_returncodes = codes
    res.asterisk_cpu_s = round(cpu_seconds(ast_pid) - ast_cpu, 1)
    res.service_cpu_s = round(cpu_seconds(service_pid) - svc_cpu, 1)
    if ast_pid:
        res.asterisk_rss_mib_after = round(rss_kib(ast_pid)[0] / 1024, 1)

    setup: list[tuple[float, float]] = []
    auth: list[float] = []
    for c in callers:
        name = c.member.sip_username
        stat_file = run_dir / f"stat-{name}.csv"
        stats = sipp_stats(stat_file) if stat_file.exists() else {}

        def count(counter: str, stats: dict[str, str] = stats) -> int:
            try:
                return int(stats.get(f"{counter}(C)", "0") or 0)
            except ValueError:
                return 0

        res.created += count("TotalCallCreated") or count("OutgoingCall")
        res.successful += count("SuccessfulCall")
        res.failed += count("FailedCall")
        res.retransmissions += count("Retransmissions")
        for counter in FAILURE_COUNTERS:
            if count(counter):
                key = counter.removeprefix("Failed")
                res.failed_detail[key] = res.failed_detail.get(key, 0) + count(counter)
    for rtt_file in run_dir.glob("*_rtt.csv"):
        rtts = sipp_rtts(rtt_file)
        setup += rtts.get("1", [])
        auth += [ms for _, ms in rtts.get("2", [])]
    res.setup_ms = latency([ms for _, ms in setup])
    res.auth_invite_to_200_ms = latency(auth)
    if len(setup) > 1:
        # Dates are ms since each SIPp started; the callers start within a few ms together.
        span = (max(t for t, _ in setup) - min(t for t, _ in setup)) / 1000
        res.achieved_cps = round((len(setup) - 1) / span, 1) if span > 0 else 0.0
    log.info(
        "  %s %d CPS: created %d, ok %d, failed %d %s, achieved %.1f CPS, setup p50 %s "
        "p95 %s p99 %s ms; CPU Asterisk %.1f s, service %.1f s; Asterisk RSS %s MiB",
        dialplan,
        rate,
        res.created,
        res.successful,
        res.failed,
        res.failed_detail or "",
        res.achieved_cps,
        res.setup_ms.get("p50"),
        res.setup_ms.get("p95"),
        res.setup_ms.get("p99"),
        res.asterisk_cpu_s,
        res.service_cpu_s,
        res.asterisk_rss_mib_after,
    )
    return res


def use_dialplan(
    pbx: BenchPbx, box: Sandbox, source: Path, marker: str, context: str = "cug-members"
) -> None:
    """Install `source` as the instance's extensions-cug.conf and reload the dialplan; check
    that `context` now shows `marker`."""
    shutil.copyfile(source, box.host / "etc" / "extensions-cug.conf")
    pbx.cli("dialplan reload")
    shown = pbx.cli(f"dialplan show {context}")
    if marker not in shown:
        raise click.ClickException(f"dialplan reload did not take: {shown[-500:]}")
    time.sleep(1)


# ---------------------------------------------------------------- the whole run


@dataclass
class Report:
    date: str
    machine: str
    members: int
    ports: str
    cli_import_s: float = 0.0
    install_config_s: float = 0.0
    asterisk_endpoints: int = 0
    boot_s: float | None = None
    asterisk_rss_mib: float | None = None
    service_rss_mib: float | None = None
    service_ready_s: float | None = None
    callers: int = 0
    callees: int = 0
    loads: list[LoadResult] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    sustained_cps: dict[str, int] = field(default_factory=dict)
    sustained_ratio: float | None = None
    sustain_rule: str = ""


def pick_members(db_path: Path, members: int, callers: int, callees: int) -> tuple[list, list]:
    """Callers and callees spread over the whole directory (first, middle and last rows)."""
    db = open_db(db_path)
    directory = Directory(db)
    total = callers + callees
    step = max(members // total, 1)
    chosen = []
    for k in range(total):
        member = directory.member_by_extension(extension(min(k * step + step // 2, members - 1)))
        if member is None:
            raise click.ClickException("generated member missing from the directory")
        chosen.append(member)
    db.close()
    return chosen[callees:], chosen[:callees]


def run(opts: dict[str, Any]) -> Report:
    """The whole benchmark on its own install, removed at the end whatever happens."""
    pbx = BenchPbx(opts["work"], opts["port_base"])
    rep = Report(
        date=now_text(),
        machine=machine(),
        members=opts["members"],
        ports=f"{opts['port_base']}-{opts['port_base'] + PORT_SPAN - 1}",
    )
    callees: list[Callee] = []
    try:
        run_inside(pbx, rep, opts, callees)
    finally:
        log.info("removing the benchmark install")
        for callee in callees:
            stop_callee(callee)
        if (pbx.home / settings_mod.SETTINGS_FILE).exists():
            settings = pbx.settings_obj()
            ServiceProcess(settings).stop()
            if settings.asterisk_root is not None:
                box = Sandbox(settings)
                stop_asterisk(box)
                if (box.host / "log/messages.log").exists():
                    shutil.copyfile(box.host / "log/messages.log", pbx.work / "asterisk.log")
            pbx.down()
    compare(rep, opts["sustain_p95_ms"])
    return rep


def sustained(r: LoadResult, p95_ms: float) -> bool:
    """Every offered call answered and ended well, with the setup delay still short."""
    return (
        r.failed == 0
        and r.successful >= r.calls_offered
        and r.setup_ms.get("p95", float("inf")) <= p95_ms
    )


def compare(rep: Report, p95_ms: float) -> None:
    """Ratios of successful calls per second at each rate, and of the sustained rates."""
    rep.sustain_rule = f"no failed call, all offered calls answered, setup p95 <= {p95_ms:g} ms"
    for r in rep.loads:
        if r.dialplan != "routing":
            continue
        static = next((x for x in rep.loads if x.dialplan == "static" and x.rate == r.rate), None)
        if static is None:
            continue
        # Successful calls per second: answered calls at the achieved rate, failures excluded.
        good = r.achieved_cps * r.successful / max(r.created, 1)
        base = static.achieved_cps * static.successful / max(static.created, 1)
        if base:
            rep.ratios[str(r.rate)] = round(good / base, 3)
    for name in ("routing", "static"):
        ok = [r.rate for r in rep.loads if r.dialplan == name and sustained(r, p95_ms)]
        rep.sustained_cps[name] = max(ok, default=0)
    if rep.sustained_cps.get("static"):
        rep.sustained_ratio = round(rep.sustained_cps["routing"] / rep.sustained_cps["static"], 3)


def keep_only_endpoints(settings: Any, extensions: list[str], work: Path) -> None:
    """Asterisk gets the realtime rows of the benchmark's own callers and callees only, while
    the routing service works on the whole directory: with 100,000 realtime endpoints
    Asterisk spent 8.7 min booting and then more than 10 min at full CPU (system time)
    without answering a REGISTER (bench/RESULTS.md), so no call load could run. The
    service keeps its own copy of the rows in a scratch file Asterisk does not read."""
    marks = ", ".join("?" * len(extensions))
    with sqlite3.connect(settings.endpoints_db) as conn:
        for table in ("ps_endpoints", "ps_auths", "ps_aors"):
            conn.execute(f"DELETE FROM {table} WHERE id NOT IN ({marks})", extensions)
    conn.close()
    settings.endpoints_db = work / "service-endpoints.db"
    settings.save()
    log.info("Asterisk's endpoints database: the %d benchmark members only", len(extensions))


def run_inside(pbx: BenchPbx, rep: Report, opts: dict[str, Any], callees: list[Callee]) -> None:
    work: Path = opts["work"]
    members: int = opts["members"]
    csv_path = write_csv(work / "members.csv", members)
    pbx.init()
    started = time.perf_counter()
    pbx.cug("directory", "import", str(csv_path))
    rep.cli_import_s = round(time.perf_counter() - started, 2)
    log.info("cug directory import of %d members: %.1f s", members, rep.cli_import_s)

    settings = pbx.settings_obj()
    box = Sandbox(settings)
    started = time.perf_counter()
    box.prepare()  # the whole configuration, and every member's realtime endpoint rows
    rep.install_config_s = round(time.perf_counter() - started, 2)
    log.info("configuration and endpoints database installed in %.1f s", rep.install_config_s)
    callers, called = pick_members(settings.db, members, opts["callers"], opts["callees"])
    rep.callers, rep.callees = len(callers), len(called)
    if opts["endpoints"] == "needed":
        keep_only_endpoints(settings, [m.extension for m in (*callers, *called)], work)
        rep.asterisk_endpoints = len(callers) + len(called)
    else:
        rep.asterisk_endpoints = members

    start_asterisk(box)
    rep.boot_s = wait_booted(box, opts["boot_timeout"])
    if rep.boot_s is None:
        raise click.ClickException(f"Asterisk did not boot within {opts['boot_timeout']} s")
    log.info(
        "Asterisk booted with %d realtime member endpoints in %.1f s",
        rep.asterisk_endpoints,
        rep.boot_s,
    )
    service = ServiceProcess(settings)
    started = time.perf_counter()
    service.start()
    pbx.wait_service(timeout=opts["boot_timeout"])
    # The service's first look writes every member's endpoint row (its scratch copy): let it
    # finish before any load, so the loads measure calls, not that start-up work.
    deadline = time.monotonic() + opts["boot_timeout"]
    while pbx.health().get("endpoints") != "current" and time.monotonic() < deadline:
        time.sleep(1)
    rep.service_ready_s = round(time.perf_counter() - started, 1)
    service_pid = service.pid()
    if not opts["loads"]:
        return

    bound = len(opts["rates"]) * 2 * (opts["duration"] + 60) + 300
    for member in called:
        callees.append(start_callee(pbx, member, bound))
    time.sleep(0.3)
    for member in called:
        pbx.wait_reachable(member.sip_username)
    injection = work / "dialed.csv"
    write_injection(injection, called, max(opts["rates"]) * opts["duration"])
    calling = [Caller(m, pbx.ports.take(), pbx.ports.take(block=8)) for m in callers]
    opts["uac_scenario"] = uac_scenario(work, opts["talk_ms"])
    for rate in opts["rates"]:
        for name, source, marker in (
            ("routing", ROUTING_DIALPLAN, "AGI("),
            ("static", STATIC_DIALPLAN, "PJSIP_DIAL_CONTACTS"),
        ):
            use_dialplan(pbx, box, source, marker)
            rep.loads.append(run_load(pbx, box, service_pid, calling, injection, name, rate, opts))
            time.sleep(opts["pause"])
    use_dialplan(pbx, box, ROUTING_DIALPLAN, "AGI(")
    if opts["linger"]:
        log.info("lingering %.0f s before teardown (--linger)", opts["linger"])
        time.sleep(opts["linger"])
    pid = asterisk_pid(box)
    if pid:
        rep.asterisk_rss_mib = round(rss_kib(pid)[0] / 1024, 1)
    if service_pid:
        rep.service_rss_mib = round(rss_kib(service_pid)[0] / 1024, 1)


def summarise(rep: Report) -> None:
    log.info("date: %s; machine: %s", rep.date, rep.machine)
    if not rep.loads:
        return
    log.info(
        "bench Asterisk: %d realtime member endpoints (directory %d members), booted in %.1f s, "
        "RSS %s MiB; service RSS %s MiB",
        rep.asterisk_endpoints,
        rep.members,
        rep.boot_s or 0,
        rep.asterisk_rss_mib,
        rep.service_rss_mib,
    )
    log.info(
        "%-8s %5s %7s %6s %6s %9s %28s %24s %7s %7s",
        "dialplan",
        "rate",
        "created",
        "ok",
        "failed",
        "achieved",
        "setup mean/p50/p95/p99 ms",
        "authINVITE->200 mean/p95",
        "astCPU",
        "svcCPU",
    )
    for r in rep.loads:
        s, a = r.setup_ms, r.auth_invite_to_200_ms
        log.info(
            "%-8s %5d %7d %6d %6d %9.1f %28s %24s %7.1f %7.1f",
            r.dialplan,
            r.rate,
            r.created,
            r.successful,
            r.failed,
            r.achieved_cps,
            f"{s.get('mean')}/{s.get('p50')}/{s.get('p95')}/{s.get('p99')}",
            f"{a.get('mean')}/{a.get('p95')}",
            r.asterisk_cpu_s,
            r.service_cpu_s,
        )
    for rate, ratio in rep.ratios.items():
        log.info("successful CPS, routing/static, offered %s CPS: %.3f", rate, ratio)
    log.info(
        "highest sustained rate (%s): routing %s CPS, static %s CPS; ratio %s (target >= 0.9: %s)",
        rep.sustain_rule,
        rep.sustained_cps.get("routing"),
        rep.sustained_cps.get("static"),
        rep.sustained_ratio,
        "MET" if (rep.sustained_ratio or 0) >= 0.9 else "NOT MET",
    )


@click.command(help=__doc__)
@click.option("--members", default=100_000, show_default=True)
@click.option(
    "--endpoints",
    type=click.Choice(["needed", "all"]),
    default="needed",
    show_default=True,
    help="Realtime endpoints Asterisk gets: the benchmark's callers and callees, or every member.",
)
@click.option(
    "--rates",
    type=int,
    multiple=True,
    default=(50, 100, 150, 200, 250),
    show_default=True,
    help="Offered call rates (calls per second), each run for --duration.",
)
@click.option("--duration", default=20, show_default=True, help="Seconds of load per run.")
@click.option("--talk-ms", default=100, show_default=True, help="Length of each answered call.")
@click.option(
    "--callers", default=4, show_default=True, help="Calling members (one SIPp process each)."
)
@click.option("--callees", default=4, show_default=True, help="Registered SIPp callees.")
@click.option(
    "--loads/--no-loads",
    default=True,
    show_default=True,
    help="Run the call loads (--no-loads: only install, boot and start the service).",
)
@click.option(
    "--sustain-p95-ms",
    default=100.0,
    show_default=True,
    help="A rate counts as sustained with no failed call and setup p95 at most this.",
)
@click.option("--boot-timeout", default=1200.0, show_default=True, help="Seconds, per boot.")
@click.option("--pause", default=3.0, show_default=True, help="Seconds between load runs.")
@click.option("--port-base", default=41000, show_default=True, help="First of 1000 ports.")
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the install and SIPp files (default: temporary, removed afterwards).",
)
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--linger", default=0.0, help="Seconds to keep the install up after the loads, to inspect."
)
@click.option("--trace-msg", is_flag=True, help="Keep SIPp's message trace (with --work).")
@click.option("-v", "--verbose", is_flag=True)
def main(**opts: Any) -> None:
    run_sipp_bench(opts, "cug-bench-routing-", run, summarise)


if __name__ == "__main__":
    main()
