"""Text relay benchmark: members' texts (SIP MESSAGE) relayed per second through the real
Asterisk 22 and the routing service, against Asterisk relaying alone in the same run; and the
time to drain a queue of stored texts when their recipients' phones register.

Targets (from the project's issue): at least 200 texts/s relayed with none lost; the time to
drain a queue of 10,000 stored texts when their recipients register.

\b
What it does, on its own install (own CUG_HOME, instance and ports 44000-44999, loopback):
1. imports a generated directory (bench/bench_directory.py), raises the per-sender limit
   ([texts] per_minute: the benchmark's few senders send far more than a member may), and
   starts Asterisk and `cug serve` with `cug sandbox up`;
2. puts the receivers' phones on line: one SIPp each, the e2e handset (tests/e2e/handset.py:
   REGISTER with digest auth, then answering Asterisk's OPTIONS and MESSAGEs with 200 through
   -oocsf inbox.xml, every message in its trace);
3. for each rate, the same load twice: the senders (one SIPp each, bench/sipp/text-uac.xml,
   digest auth, each at its share of the rate) text the receivers in turn for --duration
   seconds, through the routing (the repo's extensions-cug.conf: FastAGI member-text, the
   text stored, then AMI MessageSend by the delivery worker) and through the baseline
   bench/extensions-static-texts.conf (Asterisk's own MessageSend(pjsip:${EXTEN})), swapped
   in with `dialplan reload`; then waits until every accepted text arrived or none arrived
   for --settle seconds. Counts: texts accepted (202, the senders' SIPp statistics),
   delivered (distinct texts in the receivers' traces, and the deliveries' statuses in the
   database), lost, the end-to-end delay (the sender's wall clock in the body to the
   receiver's trace), the service's own time per text (its log), CPU of Asterisk and of
   `cug serve` (/proc);
4. drain: --drain-texts texts stored for --drain-receivers members whose phones are off
   (--drain-fill store: TextStore.store in the install's database while the service runs,
   one transaction each as the relay does; or sip: sent through Asterisk by the senders),
   waits for the service's first (failing) try, then registers those phones at once and
   times until every text is delivered;
5. removes the install (`cug sandbox down --remove`), whatever happened.

\b
Run: .venv/bin/python bench/bench_texts.py [--rates 100 --rates 200 --rates 300]
This is a benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/x.py`

from bench.bench_directory import write_csv
from bench.bench_routing import (
    BenchPbx,
    asterisk_pid,
    cpu_seconds,
    latency,
    pick_members,
    sipp_rtts,
    sipp_stats,
    use_dialplan,
    write_injection,
)
from bench.common import REPO, machine, now_text, run_sipp_bench, sipp_load_outputs
from cug.sandbox import Sandbox, ServiceProcess
from directory.model import Member
from directory.schema import open_db
from directory.texts import TEXT, TextStore
from tests.e2e.handset import Handset
from tests.e2e.harness import Phone

log = logging.getLogger("bench.texts")

BENCH = Path(__file__).resolve().parent
SENDER_SCENARIO = BENCH / "sipp" / "text-uac.xml"
STATIC_DIALPLAN = BENCH / "extensions-static-texts.conf"
ROUTING_DIALPLAN = REPO / "dialplan" / "extensions-cug.conf"
DIALPLANS = {
    # name: (dialplan file, what `dialplan show cug-messages` must show once it is loaded)
    "routing": (ROUTING_DIALPLAN, "member-text"),
    "static": (STATIC_DIALPLAN, "MessageSend(pjsip:${EXTEN}"),
}
PER_MINUTE = 1_000_000  # [texts] per_minute for the bench install: no sender is limited
_SEPARATOR = re.compile(r"^-{10,} (\S+ \S+)\r?$", re.MULTILINE)
_CALL_ID = re.compile(r"^Call-ID:\s*(\S+)", re.MULTILINE | re.IGNORECASE)
# bench <run> <sender> <n> <seconds> <microseconds>  (SIPp prints its doubles with %lf)
_BENCH_BODY = re.compile(r"^bench (\S+) (\d+) (\d+) (\d+)\.\d+ (\d+)\.\d+\s*$", re.MULTILINE)
_DRAIN_BODY = re.compile(r"^drain (\S+) (\d+) (\d+)\s*$", re.MULTILINE)
_HANDLER_MS = re.compile(
    r"agi\.text_relay: text from \d+ to '\d+': text \d+ .*\(([\d.]+) ms\)$", re.MULTILINE
)


# ---------------------------------------------------------------- machine and processes


def loadavg() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return float(sum(fields) - idle), float(sum(fields))


class Meter:
    """CPU seconds of Asterisk and of `cug serve`, and the machine's busy share, over a span."""

    def __init__(self, ast_pid: int | None, svc_pid: int | None) -> None:
        self.pids = (ast_pid, svc_pid)
        self.start = time.monotonic()
        self.cpu = [cpu_seconds(p) for p in self.pids]
        self.machine = machine_busy()

    def read(self) -> dict[str, float]:
        span = max(time.monotonic() - self.start, 1e-6)
        ast, svc = (cpu_seconds(p) - c for p, c in zip(self.pids, self.cpu, strict=True))
        busy, total = machine_busy()
        share = (busy - self.machine[0]) / max(total - self.machine[1], 1.0)
        return {
            "span_s": round(span, 1),
            "asterisk_cpu_s": round(ast, 1),
            "service_cpu_s": round(svc, 1),
            "asterisk_core_pct": round(100 * ast / span),
            "service_core_pct": round(100 * svc / span),
            "machine_busy_pct": round(100 * share),
        }


# ---------------------------------------------------------------- what the receivers got


@dataclass
class Arrival:
    receiver: str
    received_at: float  # epoch seconds, the receiver's trace
    sent_at: float  # epoch seconds, from the body (0 for stored texts)
    order: int  # position in this receiver's inbox


class Inbox:
    """The texts one receiver's SIPp got, read incrementally from its message trace (only
    whole blocks: a block is whole once the next one has begun)."""

    def __init__(self, trace: Path, extension: str) -> None:
        self.trace = trace
        self.extension = extension
        self.offset = 0
        self.first: dict[tuple[str, str, int], Arrival] = {}
        self.call_ids: dict[tuple[str, str, int], set[str]] = {}
        self.copies = 0  # MESSAGEs received, retransmissions and second deliveries included

    def poll(self, final: bool = False) -> None:
        try:
            with self.trace.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read().decode("latin-1")
        except FileNotFoundError:
            return
        marks = list(_SEPARATOR.finditer(data))
        if not marks:
            return
        ends = [m.start() for m in marks[1:]] + ([len(data)] if final else [])
        for mark, end in zip(marks, ends, strict=False):
            self._block(mark.group(1), data[mark.end() : end])
        self.offset += ends[-1] if ends else 0

    def _block(self, stamp: str, block: str) -> None:
        head, _, message = block.strip("\r\n").partition("\n")
        message = message.lstrip("\r\n")
        if "received" not in head or not message.startswith("MESSAGE "):
            return
        self.copies += 1
        key: tuple[str, str, int]
        sent_at = 0.0
        if match := _BENCH_BODY.search(message):
            key = (match.group(1), match.group(2), int(match.group(3)))
            sent_at = int(match.group(4)) + int(match.group(5)) / 1e6
        elif match := _DRAIN_BODY.search(message):
            key = (match.group(1), match.group(2), int(match.group(3)))
        else:
            return  # a notice from the service, not a bench text
        call_id = _CALL_ID.search(message)
        self.call_ids.setdefault(key, set()).add(call_id.group(1) if call_id else "")
        if key not in self.first:
            at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
            self.first[key] = Arrival(self.extension, at, sent_at, len(self.first))


def arrivals(inboxes: list[Inbox], run: str) -> dict[tuple[str, str, int], Arrival]:
    return {k: a for box in inboxes for k, a in box.first.items() if k[0] == run}


def second_deliveries(inboxes: list[Inbox], run: str) -> int:
    """Texts that reached a phone in more than one MESSAGE transaction (other Call-IDs: sent
    again, not a SIP retransmission)."""
    return sum(len(ids) - 1 for box in inboxes for k, ids in box.call_ids.items() if k[0] == run)


# ---------------------------------------------------------------- the install


@dataclass
class Sender:
    member: Member
    port: int


@dataclass
class Bench:
    pbx: BenchPbx
    box: Sandbox
    senders: list[Sender]
    receivers: list[Member]
    drain_receivers: list[Member]
    injection: Path
    ast_pid: int | None
    svc_pid: int | None
    inboxes: list[Inbox] = field(default_factory=list)
    runs: int = 0


def install(pbx: BenchPbx, members: int) -> None:
    """Settings, directory and the running install (`cug sandbox up`)."""
    pbx.init()
    pbx.cug("directory", "import", str(write_csv(pbx.work / "members.csv", members)))
    settings = pbx.settings_obj()
    settings.texts = replace(settings.texts, per_minute=PER_MINUTE)
    settings.save()
    started = time.monotonic()
    pbx.cug("sandbox", "up")
    pbx.wait_service(timeout=120)
    log.info("install up in %.1f s (%d members)", time.monotonic() - started, members)


def sender_command(
    bench: Bench, sender: Sender, run_dir: Path, run: str, rate: float, count: int, duration: int
) -> list[str]:
    name = sender.member.sip_username
    return [
        "sipp",
        f"127.0.0.1:{bench.pbx.sip_port}",
        "-sf",
        str(SENDER_SCENARIO),
        "-inf",
        str(bench.injection),
        "-i",
        "127.0.0.1",
        "-p",
        str(sender.port),
        "-s",
        name,
        "-au",
        name,
        "-ap",
        sender.member.sip_password,
        "-set",
        "run",
        run,
        "-r",
        f"{rate:g}",
        "-m",
        str(count),
        "-l",
        str(max(int(rate * 5), 50)),
        *sipp_load_outputs(run_dir, name, duration),
    ]


@dataclass
class Sent:
    offered: int = 0
    accepted: int = 0  # 202 (the scenario's last step: SuccessfulCall)
    failed: int = 0
    retransmissions: int = 0
    accept_ms: dict[str, float] = field(default_factory=dict)
    send_span_s: float = 0.0
    sipp_returncodes: list[int] = field(default_factory=list)


def send_texts(bench: Bench, run: str, to: list[Member], rate: float, seconds: int) -> Sent:
    """The senders' SIPps, `rate` texts/s in all for `seconds`, to `to` in turn; waits for
    them to finish (bounded)."""
    run_dir = bench.pbx.work / f"run-{run}"
    run_dir.mkdir(parents=True, exist_ok=True)
    write_injection(bench.injection, to, int(rate * seconds) + 10)
    each = int(rate * seconds) // len(bench.senders)
    sent = Sent(offered=each * len(bench.senders))
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            sender_command(bench, s, run_dir, run, rate / len(bench.senders), each, seconds),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=run_dir,
        )
        for s in bench.senders
    ]
    deadline = started + seconds + 90
    for proc in procs:
        try:
            sent.sipp_returncodes.append(proc.wait(timeout=max(deadline - time.monotonic(), 1)))
        except subprocess.TimeoutExpired:
            log.warning("a sender SIPp did not finish in time; killed")
            proc.kill()
            sent.sipp_returncodes.append(proc.wait(timeout=5))
    sent.send_span_s = round(time.monotonic() - started, 1)
    for s in bench.senders:
        path = run_dir / f"stat-{s.member.sip_username}.csv"
        stats = sipp_stats(path) if path.exists() else {}

        def count(name: str, stats: dict[str, str] = stats) -> int:
            try:
                return int(stats.get(f"{name}(C)", "0") or 0)
            except ValueError:
                return 0

        sent.accepted += count("SuccessfulCall")
        sent.failed += count("FailedCall")
        sent.retransmissions += count("Retransmissions")
    accept = [ms for f in run_dir.glob("*_rtt.csv") for _, ms in sipp_rtts(f).get("1", [])]
    sent.accept_ms = latency(accept)
    return sent


# ---------------------------------------------------------------- the database's view


def query(bench: Bench, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows from the install's database, on a connection of the bench's own (WAL: the
    service writes meanwhile)."""
    with contextlib.closing(sqlite3.connect(bench.pbx.home / "cug.db", timeout=30)) as db:
        return db.execute(sql, params).fetchall()


def db_view(bench: Bench, body_like: str) -> tuple[dict[str, int], list[float]]:
    """Delivery statuses of the members' texts whose body is LIKE `body_like`, and for the
    delivered ones the service's own delay (stored -> handed to Asterisk) in ms."""
    rows = query(
        bench,
        "SELECT d.status, t.created_at, d.delivered_at FROM texts t "
        "JOIN text_deliveries d ON d.text_id = t.id WHERE t.body LIKE ? AND t.kind = ?",
        (body_like, TEXT),
    )
    statuses = Counter(r[0] for r in rows)
    delays = [
        (datetime.fromisoformat(r[2]) - datetime.fromisoformat(r[1])).total_seconds() * 1000
        for r in rows
        if r[2]
    ]
    return dict(statuses), delays


def handler_ms(bench: Bench, start: int) -> tuple[list[float], int]:
    """The service's time per stored text (its log: AGI request in to CUG_TEXT set), from
    byte `start` of serve.log; and where the log ends now."""
    path = ServiceProcess(bench.pbx.settings_obj()).log_file
    with path.open("rb") as handle:
        handle.seek(start)
        data = handle.read()
    values = [float(m.group(1)) for m in _HANDLER_MS.finditer(data.decode(errors="replace"))]
    return values, start + len(data)


def log_size(bench: Bench) -> int:
    path = ServiceProcess(bench.pbx.settings_obj()).log_file
    return path.stat().st_size if path.exists() else 0


def message_queue(bench: Bench) -> dict[str, int]:
    """Asterisk's message queue (the taskprocessor every incoming text goes through, one at a
    time): texts processed, in queue now, the deepest it has been since Asterisk started,
    and its high-water mark (past it PJSIP stops taking new requests)."""
    try:
        out = bench.pbx.cli("core show taskprocessors like ast_msg_queue")
    except (AssertionError, subprocess.TimeoutExpired):
        return {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[0] == "ast_msg_queue" and parts[1].isdigit():
            names = ("processed", "in_queue", "max_depth", "low_water", "high_water")
            return dict(zip(names, (int(x) for x in parts[1:6]), strict=True))
    return {}


def profile_service(bench: Bench, run: str, seconds: int) -> subprocess.Popen[bytes] | None:
    """py-spy sampling `cug serve` for `seconds` (when py-spy is installed), collapsed
    stacks into the work folder."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if bench.svc_pid is None or not Path(spy).exists():
        log.warning("py-spy not found: no profile of the service")
        return None
    out = bench.pbx.work / f"profile-{run}.txt"
    cmd = [spy, "record", "-p", str(bench.svc_pid), "-d", str(seconds), "-r", "100"]
    cmd += ["-f", "raw", "-o", str(out), "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile_summary(path: Path, top: int = 10) -> dict[str, float]:
    """Share of samples (%) in which each of the project's functions (agi/, directory/,
    routing/) is on the stack, the top ones, from py-spy's collapsed stacks; and the
    samples whose innermost frame is a COMMIT (the fsync)."""
    if not path.exists():
        return {}
    total = commits = 0
    inclusive: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        names = {
            f.split(" (")[0] + ":" + f.rsplit(":", 1)[-1].rstrip(")")
            for f in frames
            if any(f"/{d}/" in f or f"({d}/" in f for d in ("agi", "directory", "routing"))
        }
        for name in names:
            inclusive[name] += n
        if "Database.atomic" in frames[-1] and "COMMIT" not in frames[-1]:
            commits += n
    if not total:
        return {}
    shares = {k: round(100 * v / total, 1) for k, v in inclusive.most_common(top)}
    return shares | {"commit (innermost)": round(100 * commits / total, 1), "samples": total}


# ---------------------------------------------------------------- one load


@dataclass
class LoadResult:
    dialplan: str
    rate: int
    duration_s: int
    run: str
    sent: Sent = field(default_factory=Sent)
    delivered: int = 0  # distinct texts at the receivers
    lost: int = 0  # accepted - delivered, after the settle wait
    second_deliveries: int = 0
    copies_received: int = 0
    delivered_per_s: float = 0.0  # delivered / (first send .. last arrival)
    end_to_end_ms: dict[str, float] = field(default_factory=dict)
    last_arrival_after_send_s: float | None = None
    db_statuses: dict[str, int] = field(default_factory=dict)
    db_stored_to_delivered_ms: dict[str, float] = field(default_factory=dict)
    service_handler_ms: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    message_queue: dict[str, int] = field(default_factory=dict)
    service_profile: dict[str, float] = field(default_factory=dict)
    loadavg_after: str = ""


def run_load(bench: Bench, dialplan: str, rate: int, opts: dict[str, Any]) -> LoadResult:
    bench.runs += 1
    run = f"{dialplan[0]}{rate}n{bench.runs}"
    duration = opts["duration"]
    res = LoadResult(dialplan, rate, duration, run)
    log.info("load %s: %s dialplan, %d texts/s for %d s", run, dialplan, rate, duration)
    start_log = log_size(bench)
    meter = Meter(bench.ast_pid, bench.svc_pid)
    spy = None
    if opts["profile"] and dialplan == "routing" and rate == max(opts["rates"]):
        spy = profile_service(bench, run, max(duration - 4, 1))
    res.sent = send_texts(bench, run, bench.receivers, rate, duration)
    # Until every accepted text arrived, or none arrived for --settle seconds.
    last_count, last_change = -1, time.monotonic()
    deadline = time.monotonic() + opts["settle_max"]
    while time.monotonic() < deadline:
        for box in bench.inboxes:
            box.poll()
        got = len(arrivals(bench.inboxes, run))
        if got >= res.sent.accepted:
            break
        if got != last_count:
            last_count, last_change = got, time.monotonic()
        elif time.monotonic() - last_change > opts["settle"]:
            break
        time.sleep(0.5)
    res.cpu = meter.read()
    time.sleep(1)  # the trace's last block is whole once another message follows: poll once more
    for box in bench.inboxes:
        box.poll()
    found = arrivals(bench.inboxes, run)
    res.delivered = len(found)
    res.lost = max(res.sent.accepted - res.delivered, 0)
    res.second_deliveries = second_deliveries(bench.inboxes, run)
    res.copies_received = sum(
        len(ids) for box in bench.inboxes for k, ids in box.call_ids.items() if k[0] == run
    )
    if found:
        first_sent = min(a.sent_at for a in found.values())
        last_in = max(a.received_at for a in found.values())
        res.delivered_per_s = round(res.delivered / max(last_in - first_sent, 1e-3), 1)
        res.end_to_end_ms = latency([(a.received_at - a.sent_at) * 1000 for a in found.values()])
        res.last_arrival_after_send_s = round(last_in - max(a.sent_at for a in found.values()), 2)
    if dialplan == "routing":
        statuses, delays = db_view(bench, f"bench {run} %")
        res.db_statuses = statuses
        res.db_stored_to_delivered_ms = latency(delays)
        values, _ = handler_ms(bench, start_log)
        res.service_handler_ms = latency(values) | {"n": len(values)}
    res.message_queue = message_queue(bench)
    if spy is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(timeout=30)
        if spy.poll() is None:
            spy.kill()
            spy.wait(timeout=5)
        res.service_profile = profile_summary(bench.pbx.work / f"profile-{run}.txt")
        log.info("  service profile (inclusive %% of samples): %s", res.service_profile)
    res.loadavg_after = loadavg()
    log.info(
        "  %s: offered %d, accepted %d, failed %d, retrans %d; delivered %d (%.1f/s), lost %d, "
        "again %d; e2e ms %s; DB %s, stored->delivered ms %s; handler ms %s; CPU %s; %s",
        run,
        res.sent.offered,
        res.sent.accepted,
        res.sent.failed,
        res.sent.retransmissions,
        res.delivered,
        res.delivered_per_s,
        res.lost,
        res.second_deliveries,
        res.end_to_end_ms,
        res.db_statuses,
        res.db_stored_to_delivered_ms,
        res.service_handler_ms,
        res.cpu,
        res.message_queue,
    )
    return res


# ---------------------------------------------------------------- the drain


@dataclass
class DrainResult:
    texts: int
    receivers: int
    fill: str
    fill_s: float = 0.0
    fill_per_s: float = 0.0
    fill_locked_retries: int = 0
    fill_sent: Sent | None = None
    queued_before: int = 0
    tried_before_register: bool = False
    wait_first_try_s: float = 0.0
    delivered_db: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    first_delivery_s: float | None = None
    half_s: float | None = None
    all_s: float | None = None
    delivered_per_s: float | None = None
    timed_out: bool = False
    received_distinct: int = 0
    second_deliveries: int = 0
    in_order: bool = False
    timeline: list[tuple[float, int]] = field(default_factory=list)
    per_second_max: int = 0
    idle_seconds: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    loadavg_after: str = ""


def drain_statuses(bench: Bench, ids: tuple[int, int]) -> dict[str, int]:
    """Delivery statuses of the members' texts with ids in `ids` (the drain's; notices the
    service stored meanwhile are left out)."""
    rows = query(
        bench,
        "SELECT d.status, count(*) FROM text_deliveries d JOIN texts t ON t.id = d.text_id "
        "WHERE t.id BETWEEN ? AND ? AND t.kind = ? GROUP BY d.status",
        (*ids, TEXT),
    )
    return {str(r[0]): int(r[1]) for r in rows}


def fill_by_store(bench: Bench, tag: str, texts: int) -> tuple[float, tuple[int, int], int]:
    """Store `texts` texts with the relay's own TextStore.store (one transaction each, as the
    relay does), the drain receivers in turn, from the senders in turn; seconds taken, the
    texts' first and last ids, and how many stores SQLite refused as locked (retried)."""
    db = open_db(bench.pbx.home / "cug.db")
    store = TextStore(db)
    expires = datetime.now(UTC) + timedelta(hours=72)
    ids: list[int] = []
    locked = 0
    started = time.monotonic()
    try:
        for k in range(texts):
            sender = bench.senders[k % len(bench.senders)].member
            receiver = bench.drain_receivers[k % len(bench.drain_receivers)]
            for attempt in range(50):
                try:
                    text_id, _ = store.store(
                        kind=TEXT,
                        sender_id=sender.id,
                        addressed=receiver.extension,
                        body=f"drain {tag} {sender.extension} {k}",
                        recipients=[receiver.id],
                        expires_at=expires,
                    )
                    break
                except sqlite3.OperationalError as exc:
                    # BEGIN (deferred) then a read, then the write: when the service commits
                    # in between, SQLite answers SQLITE_BUSY at once (no busy wait).
                    if "locked" not in str(exc) or attempt == 49:
                        raise
                    locked += 1
                    time.sleep(0.01)
            ids.append(text_id)
    finally:
        db.close()
    return time.monotonic() - started, (min(ids), max(ids)), locked


def fill_by_sip(bench: Bench, tag: str, texts: int, rate: float) -> tuple[Sent, tuple[int, int]]:
    """The drain's texts sent through Asterisk and the relay while the drain receivers'
    phones are off; waits (bounded) until the service stored every accepted one."""
    sent = send_texts(bench, tag, bench.drain_receivers, rate, max(round(texts / rate), 1))
    like = f"bench {tag} %"
    deadline = time.monotonic() + 60
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        rows = query(
            bench,
            "SELECT count(*), min(id), max(id) FROM texts WHERE body LIKE ? AND kind = ?",
            (like, TEXT),
        )
        if rows[0][0] >= sent.accepted:
            break
        time.sleep(0.5)
    return sent, (int(rows[0][1] or 0), int(rows[0][2] or 0))


def first_tried(bench: Bench, ids: tuple[int, int], limit: float) -> tuple[bool, float]:
    """Wait (at most `limit` s) until the service has tried every drain receiver once (their
    phones are off: the try fails and their texts wait), as it would have long before they
    register in real life."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        tried = query(
            bench,
            "SELECT count(DISTINCT recipient_member_id) FROM text_deliveries "
            "WHERE text_id BETWEEN ? AND ? AND attempts > 0",
            ids,
        )[0][0]
        if tried >= len(bench.drain_receivers):
            return True, time.monotonic() - started
        time.sleep(0.5)
    return False, time.monotonic() - started


def in_order(inbox: Inbox) -> bool:
    """Whether each sender's texts reached this phone in the order they were sent."""
    seen: dict[str, int] = {}
    for key, _ in sorted(inbox.first.items(), key=lambda kv: kv[1].order):
        if key[2] < seen.get(key[1], -1):
            return False
        seen[key[1]] = key[2]
    return True


def run_drain(bench: Bench, opts: dict[str, Any], stack: contextlib.ExitStack) -> DrainResult:
    texts, tag = opts["drain_texts"], "q1"
    res = DrainResult(texts, len(bench.drain_receivers), opts["drain_fill"])
    log.info(
        "drain: %d texts for %d members whose phones are off (fill: %s)",
        texts,
        res.receivers,
        res.fill,
    )
    started = time.monotonic()
    if opts["drain_fill"] == "store":
        _, ids, res.fill_locked_retries = fill_by_store(bench, tag, texts)
    else:
        res.fill_sent, ids = fill_by_sip(bench, tag, texts, opts["drain_rate"])
    res.fill_s = round(time.monotonic() - started, 1)
    res.fill_per_s = round(texts / max(res.fill_s, 1e-3), 1)
    res.tried_before_register, waited = first_tried(bench, ids, 20)
    res.wait_first_try_s = round(waited, 1)
    statuses = drain_statuses(bench, ids)
    res.queued_before = statuses.get("queued", 0)
    total = sum(statuses.values())
    log.info(
        "  filled in %.1f s (%.0f/s): %d stored, %d queued; the service's first try seen: %s",
        res.fill_s,
        res.fill_per_s,
        total,
        res.queued_before,
        res.tried_before_register,
    )
    # The phones come on, all at once.
    meter = Meter(bench.ast_pid, bench.svc_pid)
    started = time.monotonic()
    inboxes = []
    for member in bench.drain_receivers:
        phone = Phone(bench.pbx, member.sip_username, member.sip_password)
        trace = stack.enter_context(
            Handset(phone).online(stay_ms=int(opts["drain_timeout"] + 30) * 1000)
        )
        inboxes.append(Inbox(trace, member.extension))
    timeline: list[tuple[float, int]] = []
    done = 0
    while True:
        elapsed = time.monotonic() - started
        statuses = drain_statuses(bench, ids)
        done = statuses.get("delivered", 0)
        timeline.append((round(elapsed, 1), done))
        if done and res.first_delivery_s is None:
            res.first_delivery_s = round(elapsed, 2)
        if done >= total / 2 and res.half_s is None:
            res.half_s = round(elapsed, 1)
        if done >= total:
            res.all_s = round(elapsed, 1)
            break
        if elapsed > opts["drain_timeout"]:
            res.timed_out = True
            break
        time.sleep(0.5)
    res.cpu = meter.read()
    res.delivered_db, res.statuses = done, statuses
    end = res.all_s or timeline[-1][0]
    res.delivered_per_s = round(done / max(end, 1e-3), 1)
    res.timeline = timeline
    per_second: Counter[int] = Counter()
    for (t0, n0), (_, n1) in zip(timeline, timeline[1:], strict=False):
        per_second[int(t0)] += n1 - n0
    res.per_second_max = max(per_second.values(), default=0)
    first = int(res.first_delivery_s or 0)
    res.idle_seconds = sum(1 for s in range(first, int(end)) if per_second.get(s, 0) == 0)
    # The phones' own count, and the order each got its texts in.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for box in inboxes:
            box.poll()
        if sum(len(b.first) for b in inboxes) >= done:
            break
        time.sleep(0.5)
    time.sleep(1)
    for box in inboxes:
        box.poll()
    res.received_distinct = sum(len(b.first) for b in inboxes)
    res.second_deliveries = second_deliveries(inboxes, tag)
    res.in_order = all(in_order(b) for b in inboxes)
    res.loadavg_after = loadavg()
    log.info(
        "  drained: %d of %d delivered in %s s (%.1f/s; first after %s s, half after %s s); "
        "phones got %d distinct, %d again, in order %s; busiest second %d, idle seconds %d; "
        "CPU %s",
        done,
        total,
        res.all_s if res.all_s is not None else f">{opts['drain_timeout']:g}",
        res.delivered_per_s,
        res.first_delivery_s,
        res.half_s,
        res.received_distinct,
        res.second_deliveries,
        res.in_order,
        res.per_second_max,
        res.idle_seconds,
        res.cpu,
    )
    return res


# ---------------------------------------------------------------- the whole run


@dataclass
class Report:
    date: str
    machine: str
    tree: str
    members: int
    senders: int
    receivers: int
    loadavg_start: str
    loadavg_end: str = ""
    loads: list[LoadResult] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    sustained: dict[str, int] = field(default_factory=dict)
    sustain_rule: str = ""
    drain: DrainResult | None = None
    asterisk_log_warnings: dict[str, int] = field(default_factory=dict)


def git_tree() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    return head + (" (uncommitted changes)" if dirty else "")


def sustained(r: LoadResult, p95_ms: float) -> bool:
    return (
        r.sent.failed == 0
        and r.sent.accepted >= r.sent.offered
        and r.lost == 0
        and r.end_to_end_ms.get("p95", float("inf")) <= p95_ms
    )


def compare(rep: Report, p95_ms: float) -> None:
    rep.sustain_rule = (
        f"every offered text accepted (202), none lost, end-to-end p95 <= {p95_ms:g} ms"
    )
    for r in rep.loads:
        base = next((x for x in rep.loads if x.dialplan == "static" and x.rate == r.rate), None)
        if r.dialplan == "routing" and base is not None and base.delivered_per_s:
            rep.ratios[str(r.rate)] = round(r.delivered_per_s / base.delivered_per_s, 3)
    for name in DIALPLANS:
        ok = [r.rate for r in rep.loads if r.dialplan == name and sustained(r, p95_ms)]
        rep.sustained[name] = max(ok, default=0)


def asterisk_warnings(box: Sandbox) -> dict[str, int]:
    """The most frequent WARNING/ERROR messages in Asterisk's log during the bench (numbers
    replaced by N)."""
    path = box.host / "log" / "messages.log"
    if not path.exists():
        return {}
    counts: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        match = re.search(r"\] (WARNING|ERROR)\[\d+\][^ ]* ([\w.]+): (.*)", line)
        if match:
            text = re.sub(r"\d+", "N", match.group(3))[:90]
            counts[f"{match.group(1)} {match.group(2)}: {text}"] += 1
    return dict(counts.most_common(8))


def run(opts: dict[str, Any]) -> Report:
    """The whole benchmark on its own install, removed at the end whatever happens."""
    work: Path = opts["work"]
    pbx = BenchPbx(work, opts["port_base"])
    rep = Report(
        date=now_text(),
        machine=machine(),
        tree=git_tree(),
        members=opts["members"],
        senders=opts["senders"],
        receivers=opts["receivers"],
        loadavg_start=loadavg(),
    )
    with contextlib.ExitStack() as stack:
        try:
            run_inside(pbx, rep, opts, stack)
        finally:
            log.info("stopping the phones and removing the benchmark install")
            stack.close()  # the receivers' SIPps (each unregisters, bounded)
            with contextlib.suppress(Exception):
                rep.asterisk_log_warnings = asterisk_warnings(Sandbox(pbx.settings_obj()))
            with contextlib.suppress(Exception):
                shutil.copyfile(pbx.home / "serve.log", work / "serve.log")
            pbx.down()
    rep.loadavg_end = loadavg()
    compare(rep, opts["sustain_p95_ms"])
    return rep


def run_inside(
    pbx: BenchPbx, rep: Report, opts: dict[str, Any], stack: contextlib.ExitStack
) -> None:
    install(pbx, opts["members"])
    settings = pbx.settings_obj()
    box = Sandbox(settings)
    senders, receivers = pick_members(
        settings.db, opts["members"], opts["senders"], opts["receivers"] + opts["drain_receivers"]
    )
    bench = Bench(
        pbx=pbx,
        box=box,
        senders=[Sender(m, pbx.ports.take()) for m in senders],
        receivers=receivers[: opts["receivers"]],
        drain_receivers=receivers[opts["receivers"] :],
        injection=pbx.work / "to.csv",
        ast_pid=asterisk_pid(box),
        svc_pid=ServiceProcess(settings).pid(),
    )
    log.info(
        "senders %s; receivers %s; drain receivers %s",
        [s.member.extension for s in bench.senders],
        [m.extension for m in bench.receivers],
        [m.extension for m in bench.drain_receivers],
    )
    if opts["rates"]:
        stay_s = (
            len(opts["rates"])
            * len(DIALPLANS)
            * (opts["duration"] + opts["settle_max"] + opts["pause"] + 20)
            + 60
        )
        for member in bench.receivers:
            phone = Phone(pbx, member.sip_username, member.sip_password)
            trace = stack.enter_context(Handset(phone).online(stay_ms=stay_s * 1000))
            bench.inboxes.append(Inbox(trace, member.extension))
        time.sleep(1)
        for member in bench.receivers:
            pbx.wait_reachable(member.sip_username)
        for rate in opts["rates"]:
            for name in opts["dialplans"]:
                source, marker = DIALPLANS[name]
                use_dialplan(pbx, box, source, marker, context="cug-messages")
                rep.loads.append(run_load(bench, name, rate, opts))
                time.sleep(opts["pause"])
        use_dialplan(pbx, box, ROUTING_DIALPLAN, "member-text", context="cug-messages")
    if opts["drain_texts"]:
        rep.drain = run_drain(bench, opts, stack)


# ---------------------------------------------------------------- the summary


def summarise(rep: Report) -> None:
    print(f"# text relay, {rep.date}; tree {rep.tree}; {rep.machine}")
    print(f"load average at start {rep.loadavg_start}, at end {rep.loadavg_end}")
    print(
        "| dialplan | offered/s | offered | accepted (202) | failed | retrans | delivered "
        "(phones) | DB statuses | lost | again | delivered/s | e2e ms p50 / p95 / p99 / max "
        "| 202 ms p50 / p95 | handler ms p50 / p95 | Asterisk / service % of a core, machine "
        "busy % | msg queue max depth (since boot) | load avg after |"
    )
    print("|" + "---|" * 16)
    for r in rep.loads:
        e, a, h = r.end_to_end_ms, r.sent.accept_ms, r.service_handler_ms
        print(
            f"| {r.dialplan} | {r.rate} | {r.sent.offered} | {r.sent.accepted} | "
            f"{r.sent.failed} | {r.sent.retransmissions} | {r.delivered} | "
            f"{r.db_statuses or '-'} | {r.lost} | {r.second_deliveries} | {r.delivered_per_s} | "
            f"{e.get('p50')} / {e.get('p95')} / {e.get('p99')} / {e.get('max')} | "
            f"{a.get('p50')} / {a.get('p95')} | "
            f"{h.get('p50', '-')} / {h.get('p95', '-')} | "
            f"{r.cpu.get('asterisk_core_pct')} / {r.cpu.get('service_core_pct')}, "
            f"{r.cpu.get('machine_busy_pct')} | {r.message_queue.get('max_depth', '-')} | "
            f"{r.loadavg_after} |"
        )
        if r.service_profile:
            print(f"  service profile, {r.run} (inclusive % of samples): {r.service_profile}")
    for rate, ratio in rep.ratios.items():
        print(f"delivered/s routing / static at {rate}/s offered: {ratio}")
    print(f"highest sustained rate ({rep.sustain_rule}): {rep.sustained}")
    target = rep.sustained.get("routing", 0) >= 200
    print(f"target >= 200 texts/s with none lost: {'MET' if target else 'NOT MET'}")
    if rep.drain:
        d = rep.drain
        print(
            f"drain ({d.fill}): {d.texts} texts for {d.receivers} members, filled in "
            f"{d.fill_s} s ({d.fill_per_s}/s, {d.fill_locked_retries} stores retried after "
            f"'database is locked'), {d.queued_before} queued, first try seen "
            f"{d.tried_before_register}; after the phones registered: first delivery "
            f"{d.first_delivery_s} s, half {d.half_s} s, all {d.all_s} s "
            f"(timed out: {d.timed_out}), {d.delivered_db} delivered ({d.delivered_per_s}/s), "
            f"statuses {d.statuses}; phones got {d.received_distinct} distinct, "
            f"{d.second_deliveries} again, in order {d.in_order}; busiest second "
            f"{d.per_second_max}, idle seconds {d.idle_seconds}; CPU {d.cpu}"
        )
    if rep.asterisk_log_warnings:
        print(f"Asterisk log warnings: {rep.asterisk_log_warnings}")


@click.command(help=__doc__)
@click.option("--members", default=2000, show_default=True, help="Directory size.")
@click.option(
    "--rates", type=int, multiple=True, default=(100, 200, 250, 300, 400), show_default=True,
    help="Offered texts per second, each for --duration (0 rates: drain only).",
)  # fmt: skip
@click.option(
    "--dialplans", type=click.Choice(list(DIALPLANS)), multiple=True,
    default=tuple(DIALPLANS), show_default=True,
)  # fmt: skip
@click.option("--duration", default=20, show_default=True, help="Seconds of load per run.")
@click.option("--senders", default=4, show_default=True, help="Sending members (a SIPp each).")
@click.option("--receivers", default=4, show_default=True, help="Receiving phones (a SIPp each).")
@click.option(
    "--settle",
    default=10.0,
    show_default=True,
    help="Stop waiting for texts after this long with none arriving.",
)
@click.option(
    "--settle-max", default=60.0, show_default=True, help="Longest wait for texts after a load."
)
@click.option("--sustain-p95-ms", default=1000.0, show_default=True)
@click.option("--drain-texts", default=10_000, show_default=True, help="0: no drain run.")
@click.option("--drain-receivers", default=10, show_default=True)
@click.option(
    "--drain-fill", type=click.Choice(["store", "sip"]), default="store", show_default=True,
    help="How the queued texts are made: TextStore.store in the install's database, or sent "
    "through Asterisk and the relay while the phones are off.",
)  # fmt: skip
@click.option(
    "--drain-rate", default=100.0, show_default=True, help="Texts/s with --drain-fill sip."
)
@click.option(
    "--drain-timeout", default=240.0, show_default=True, help="Seconds, after the phones register."
)
@click.option(
    "--profile/--no-profile",
    default=False,
    show_default=True,
    help="Sample `cug serve` with py-spy during the highest rate's routing run.",
)
@click.option("--pause", default=3.0, show_default=True, help="Seconds between load runs.")
@click.option("--port-base", default=44000, show_default=True, help="First of 1000 ports.")
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the install's files and traces here (default: a temporary folder, removed).",
)
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True)
def main(**opts: Any) -> None:
    run_sipp_bench(opts, "cug-bench-texts-", run, summarise)


if __name__ == "__main__":
    main()
