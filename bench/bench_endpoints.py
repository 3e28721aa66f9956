"""Members' PJSIP endpoints as realtime rows: what 100,000 members cost Asterisk.

\b
For each directory size (--baseline first, then each of --members, one after the other in
the same run), on its own install (own CUG_HOME and instance, ports from --port-base,
loopback):
1. imports a generated directory, installs the configuration, which fills the endpoints
   database (timed: "fill");
2. boots Asterisk (timed to `core waitfullybooted`; its CPU seconds and RSS then), and
   measures the CPU it uses in the --settle seconds after (is it still busy?);
3. starts `cug serve` and times one full comparison of the directory with the rows (what the
   service does at start);
4. adds a member with `cug directory add` and times until their phone's REGISTER gets a 200;
5. registers --registers members spread over the directory with SIPp (bench/sipp/
   register-many.xml, --rate per second, digest auth): successes, failures, time from the
   first REGISTER to the 200 (p50/p95/max); RSS after;
6. times `pjsip show contacts` with those registrations in place;
7. with --qualified N: registers N more members (for an hour) whose Contact is one SIPp that
   answers every qualify OPTIONS, then watches Asterisk's CPU and RSS for --qualify-seconds
   while it qualifies them (qualify_frequency 60 s, pjsip.conf);
then removes the install. No call loads (that is bench/bench_routing.py).

\b
Variants of the installed configuration, for comparison (bench/RESULTS.md, "Boot with
100,000 realtime members"): --fetch-all takes the shipped allow_unqualified_fetch=no off the
realtime lines of sorcery.conf (Asterisk then reads every member's rows at start, as before
December 2026); --without-columns drops
the (empty) mailboxes and contact columns from the endpoints database, as before December
2026. --boot-only stops after step 2.

\b
Run: .venv/bin/python bench/bench_endpoints.py [--members 20000,100000 --baseline 200]
This is a benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/x.py`

from agi.member_endpoints import EndpointSync
from bench.bench_directory import extension, write_csv
from bench.bench_routing import (
    SIPP,
    BenchPbx,
    asterisk_pid,
    cpu_seconds,
    quick_cli,
    sipp_rtts,
    sipp_stats,
    start_asterisk,
    stop_asterisk,
    wait_booted,
)
from bench.common import machine, now_text, percentile, rss_kib, setup_logging
from cug.sandbox import Sandbox, ServiceProcess
from directory.schema import open_db
from tests.e2e.harness import Phone

log = logging.getLogger("bench.endpoints")


@dataclass
class SizeFigures:
    members: int
    variant: str = "shipped"
    import_s: float = 0.0
    fill_s: float = 0.0
    endpoints_db_mib: float = 0.0
    boot_s: float | None = None
    boot_cpu_s: float | None = None
    boot_rss_mib: float | None = None
    settle_cpu_s: float | None = None  # Asterisk's CPU in the --settle seconds after boot
    full_compare_s: float = 0.0
    add_to_register_s: float | None = None
    add_register_tries: int = 0
    registers: dict[str, Any] = field(default_factory=dict)
    asterisk_rss_mib: float | None = None  # after the REGISTER load
    show_contacts_s: float | None = None
    show_contacts_found: int | None = None
    qualify: dict[str, Any] = field(default_factory=dict)  # --qualified


def _register_command(
    pbx: BenchPbx, members: int, count: int, rate: int, expires: int, stay_ms: int
) -> tuple[list[str], Path]:
    """SIPp registering `count` members spread over the directory, `rate` a second, each for
    `expires` s, each SIPp call then staying up `stay_ms`; and its statistics file."""
    db = open_db(pbx.home / "cug.db")
    picks = random.Random(7).sample(range(members), min(count, members))
    rows = [
        db.execute(
            "SELECT extension, sip_password FROM members WHERE extension = ?", (extension(i),)
        ).fetchone()
        for i in picks
    ]
    db.close()
    inf = pbx.work / f"register-{members}-{count}.csv"
    lines = (f"{e};[authentication username={e} password={p}];{expires}\n" for e, p in rows)
    inf.write_text("SEQUENTIAL\n" + "".join(lines))
    stat = pbx.work / f"reg-{members}-{count}-stat.csv"
    cmd = ["sipp", f"127.0.0.1:{pbx.sip_port}", "-sf", str(SIPP / "register-many.xml")]
    cmd += ["-inf", str(inf), "-i", "127.0.0.1", "-p", str(pbx.ports.take())]
    cmd += ["-r", str(rate), "-m", str(count), "-set", "stay_ms", str(stay_ms)]
    cmd += ["-l", str(count + 100 if stay_ms else rate * 2)]
    cmd += ["-nostdin", "-trace_stat", "-stf", str(stat), "-fd", "1"]
    return cmd, stat


def register_load(pbx: BenchPbx, members: int, count: int, rate: int) -> dict[str, Any]:
    """`count` REGISTERs of members spread over the directory, `rate` a second."""
    cmd, stat = _register_command(pbx, members, count, rate, expires=60, stay_ms=0)
    cmd += ["-timeout", "120s", "-trace_rtt", "-rtt_freq", "1"]  # <scenario>_<pid>_rtt.csv
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=pbx.work)
    elapsed = time.monotonic() - started
    stats = sipp_stats(stat) if stat.exists() else {}
    if not stats:
        log.warning("SIPp wrote no statistics: %s", proc.stderr[-1000:])
    times = [ms for f in pbx.work.glob("*_rtt.csv") for _, ms in sipp_rtts(f).get("reg", [])]
    ok = int(stats.get("SuccessfulCall(C)", 0) or 0)
    return {
        "offered": count,
        "rate": rate,
        "ok": ok,
        "failed": int(stats.get("FailedCall(C)", 0) or 0),
        "per_s": round(ok / elapsed, 1) if elapsed else 0.0,
        "ms_p50": percentile(times, 50),
        "ms_p95": percentile(times, 95),
        "ms_max": max(times, default=float("nan")),
    }


def contact_states(box: Sandbox) -> dict[str, int]:
    """How many registered contacts `pjsip show contacts` shows in each qualify state."""
    out = quick_cli(box, "pjsip show contacts", timeout=300) or ""
    return {
        status: len(re.findall(rf"^\s+Contact: .* {status}\s", out, re.M))
        for status in ("Avail", "Unavail", "NonQual")
    }


def qualify_load(
    pbx: BenchPbx, pid: int, members: int, count: int, rate: int, seconds: float
) -> dict[str, Any]:
    """`count` more members registered (for an hour) from one SIPp that stays up and answers
    every qualify OPTIONS (-oocsf), as their phones would; then `seconds` watched: Asterisk's
    CPU and RSS while it qualifies them every qualify_frequency (60 s)."""
    box = Sandbox(pbx.settings_obj())
    stay_ms = int((count / rate + seconds + 90) * 1000)
    cmd, _ = _register_command(pbx, members, count, rate, expires=3600, stay_ms=stay_ms)
    cmd += ["-oocsf", str(SIPP / "qualify-answer.xml")]
    rss_before = rss_kib(pid)[0] / 1024
    phones = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(count / rate + 5)
        registered = contact_states(box)
        time.sleep(60)  # every phone qualified once at least (qualify_frequency)
        cpu_start = cpu_seconds(pid)
        time.sleep(seconds)
        cpu = cpu_seconds(pid) - cpu_start
        qualified = contact_states(box)
    finally:
        phones.terminate()
        phones.wait(timeout=30)
    return {
        "offered": count,
        "contacts_after_registering": registered,
        "watched_s": seconds,
        "asterisk_cpu_s": round(cpu, 1),
        "asterisk_cpu_share": round(cpu / seconds, 3),
        "contacts_at_end": qualified,
        "rss_before_mib": round(rss_before, 1),
        "rss_after_mib": round(rss_kib(pid)[0] / 1024, 1),
    }


def add_member_and_register(pbx: BenchPbx, members: int, fig: SizeFigures) -> None:
    """Seconds from `cug directory add` returning to the new member's REGISTER's 200."""
    ext = extension(members + 10)
    pbx.cug(
        *("directory", "add", "--name", "Bench New Member", "--phone", "0772999001"),
        *("--role", "psw", "--district", "Oyam", "--extension", ext),
    )
    started = time.monotonic()
    password = pbx.member(ext)["sip"]["password"]
    phone = Phone(pbx, ext, password)
    while time.monotonic() - started < 60:
        fig.add_register_tries += 1
        try:
            code = phone.register(expires=60)
        except subprocess.TimeoutExpired:  # Asterisk too busy to answer at all
            continue
        if code == 200:
            fig.add_to_register_s = round(time.monotonic() - started, 2)
            return


FILTER_COLUMNS = {"ps_endpoints": "mailboxes", "ps_aors": "contact"}
REALTIME_LINE = re.compile(r"^(\w+ = realtime,ps_\w+),allow_unqualified_fetch=no$", re.M)


def fetch_all(etc: Path) -> None:
    """The installed sorcery.conf's realtime lines without allow_unqualified_fetch=no."""
    sorcery = etc / "sorcery.conf"
    text, count = REALTIME_LINE.subn(r"\1", sorcery.read_text())
    if count != 3:
        raise click.ClickException(f"{sorcery}: {count} realtime lines, not 3")
    sorcery.write_text(text)


def without_columns(endpoints_db: Path) -> None:
    """The endpoints database without the columns Asterisk filters whole tables on."""
    conn = sqlite3.connect(endpoints_db)
    try:
        for table, column in FILTER_COLUMNS.items():
            conn.execute(f'ALTER TABLE {table} DROP COLUMN "{column}"')  # noqa: S608
        conn.commit()
    finally:
        conn.close()


def time_show_contacts(box: Sandbox, fig: SizeFigures) -> None:
    """Seconds `pjsip show contacts` takes, and how many contacts it found."""
    started = time.perf_counter()
    out = quick_cli(box, "pjsip show contacts", timeout=300)
    fig.show_contacts_s = round(time.perf_counter() - started, 2)
    found = [line for line in (out or "").splitlines() if line.startswith("Objects found:")]
    fig.show_contacts_found = int(found[0].split(":")[1]) if found else 0


def measure(work: Path, members: int, port_base: int, opts: dict[str, Any]) -> SizeFigures:
    variant = [name for name in ("fetch_all", "without_columns") if opts[name]]
    fig = SizeFigures(members, variant="+".join(variant) or "shipped")
    pbx = BenchPbx(work, port_base)
    try:
        init = ["init", "--instance", pbx.instance, "--no-trunk"]
        for name in ("sip", "ami", "agi", "http"):
            init += [f"--{name}-port", str(getattr(pbx, f"{name}_port"))]
        pbx.cug(*init)
        started = time.perf_counter()
        pbx.cug("directory", "import", str(write_csv(work / "members.csv", members)))
        fig.import_s = round(time.perf_counter() - started, 1)
        settings = pbx.settings_obj()
        box = Sandbox(settings)
        started = time.perf_counter()
        box.prepare()
        fig.fill_s = round(time.perf_counter() - started, 1)
        assert settings.endpoints_db is not None and settings.asterisk_etc is not None
        fig.endpoints_db_mib = round(settings.endpoints_db.stat().st_size / 2**20, 1)
        if opts["fetch_all"]:
            fetch_all(settings.asterisk_etc)
        if opts["without_columns"]:
            without_columns(settings.endpoints_db)
        log.info(
            "%d members: imported %.1f s, installed+filled %.1f s",
            members,
            fig.import_s,
            fig.fill_s,
        )
        start_asterisk(box)
        fig.boot_s = wait_booted(box, opts["boot_timeout"], poll=0.1)
        pid = asterisk_pid(box)
        if fig.boot_s is None or pid is None:
            log.warning("Asterisk did not boot within %.0f s", opts["boot_timeout"])
            return fig
        fig.boot_s = round(fig.boot_s, 2)
        boot_cpu = cpu_seconds(pid)
        fig.boot_cpu_s = round(boot_cpu, 1)
        fig.boot_rss_mib = round(rss_kib(pid)[0] / 1024, 1)
        log.info(
            "booted in %.1f s (%.1f s of CPU), RSS %.0f MiB",
            fig.boot_s,
            fig.boot_cpu_s,
            fig.boot_rss_mib,
        )
        time.sleep(opts["settle"])
        fig.settle_cpu_s = round(cpu_seconds(pid) - boot_cpu, 1)
        log.info("CPU in the %.0f s after boot: %.1f s", opts["settle"], fig.settle_cpu_s)
        if opts["boot_only"]:
            return fig
        ServiceProcess(settings).start()
        pbx.wait_service(timeout=120)
        sync = EndpointSync(settings.db, settings.asterisk_etc, settings.endpoints_db)
        started = time.perf_counter()
        sync.sync()  # nothing to write: the whole directory compared with the rows
        fig.full_compare_s = round(time.perf_counter() - started, 2)
        sync.close()
        add_member_and_register(pbx, members, fig)
        log.info("added member registered after %s s", fig.add_to_register_s)
        fig.registers = register_load(pbx, members, opts["registers"], opts["rate"])
        log.info("REGISTER load: %s", fig.registers)
        fig.asterisk_rss_mib = round(rss_kib(pid)[0] / 1024, 1)
        time_show_contacts(box, fig)
        log.info(
            "pjsip show contacts: %s s, %s found", fig.show_contacts_s, fig.show_contacts_found
        )
        if opts["qualified"]:
            fig.qualify = qualify_load(
                pbx, pid, members, opts["qualified"], opts["rate"], opts["qualify_seconds"]
            )
            log.info("qualify load: %s", fig.qualify)
    finally:
        ServiceProcess(pbx.settings_obj()).stop()
        stop_asterisk(Sandbox(pbx.settings_obj()))
        pbx.down()
    return fig


def ratios(small: dict[str, Any], big: dict[str, Any]) -> dict[str, float]:
    """A size's figures over the baseline's, measured in the same run."""
    out: dict[str, float] = {}
    for name in ("boot_s", "boot_cpu_s", "boot_rss_mib", "asterisk_rss_mib"):
        if small.get(name) and big.get(name) is not None:
            out[name] = round(big[name] / small[name], 2)
    if small["registers"].get("per_s") and big["registers"].get("per_s"):
        out["register_rate"] = round(big["registers"]["per_s"] / small["registers"]["per_s"], 3)
    if small["registers"].get("ms_p95"):  # SIPp's response times are whole milliseconds
        out["register_p95"] = round(big["registers"]["ms_p95"] / small["registers"]["ms_p95"], 3)
    return out


@click.command(help=__doc__)
@click.option(
    "--members", default="100000", show_default=True, help="Sizes, comma-separated: 20000,100000"
)
@click.option("--baseline", default=200, show_default=True, help="The small directory.")
@click.option("--registers", default=2000, show_default=True, help="REGISTERs per size.")
@click.option("--rate", default=200, show_default=True, help="REGISTERs offered per second.")
@click.option("--settle", default=10.0, show_default=True, help="Seconds watched after boot.")
@click.option("--fetch-all", is_flag=True, help="Whole-table reads allowed (before Dec 2026).")
@click.option("--without-columns", is_flag=True, help="No mailboxes/contact columns (old).")
@click.option("--boot-only", is_flag=True, help="Stop after the boot and the seconds after.")
@click.option(
    "--qualified",
    default=0,
    show_default=True,
    help="Members then registered with phones that answer qualify, and watched (0: none).",
)
@click.option("--qualify-seconds", default=150.0, show_default=True, help="Seconds watched.")
@click.option("--boot-timeout", default=600.0, show_default=True)
@click.option(
    "--port-base",
    default=47000,
    show_default=True,
    help="First of 1000 ports, reused by each size in turn (one Asterisk at a time).",
)
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True)
def main(**opts: Any) -> None:
    setup_logging(opts.pop("verbose"))
    sizes = [opts["baseline"], *(int(s) for s in opts["members"].split(","))]
    report: dict[str, Any] = {"date": now_text(), "machine": machine(), "sizes": []}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="cug-bench-endpoints-") as tmp:
            fig = measure(Path(tmp), size, opts["port_base"], opts)
        report["sizes"].append(asdict(fig))
        if opts["json_out"]:  # what is measured so far survives a later size's failure
            opts["json_out"].write_text(json.dumps(report, indent=2) + "\n")
    small = report["sizes"][0]
    report["ratios_to_baseline"] = {
        str(big["members"]): ratios(small, big) for big in report["sizes"][1:]
    }
    log.info("%s", json.dumps(report, indent=2))
    if opts["json_out"]:
        opts["json_out"].write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
