"""Contact log benchmarks: the write rate under a burst of AMI Cdr events, and the report over
1,000,000 contacts.

    .venv/bin/python bench/bench_contacts.py [--events 50000] [--rate 5000] [--contacts 1000000]

Write rate: the service's own AMI link (panoramisk) and contact writer, fed by an AMI server
on loopback that replays Cdr events at a fixed rate (Asterisk itself makes about 300 calls
a second on this machine, far below the target, so its event stream is replayed here). The
baseline is a plain executemany INSERT of the same rows, measured in the same run.
Report: cug report's district/month figures over a directory of generated cases, referrals
and contacts; the baseline is one GROUP BY month over the same contacts.
"""

from __future__ import annotations

import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agi.ami import AmiLink  # noqa: E402
from agi.call_tags import CallTags, encode  # noqa: E402
from agi.contact_log import Cdr, ContactLog  # noqa: E402
from bench.common import machine, now_text, setup_logging  # noqa: E402
from directory.report import district_month_report  # noqa: E402
from directory.schema import SEED_DISTRICTS, open_db  # noqa: E402

log = logging.getLogger("bench.contacts")
SECRET = "replayed-stream"  # noqa: S105 - the replaying server checks nothing


def cdr_event(n: int) -> str:
    """One Cdr event as Asterisk's cdr_manager sends it: a distinct answered call."""
    start = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=n)
    fmt = "%Y-%m-%d %H:%M:%S"
    tags = encode(CallTags(dialed="2003", caller_id=1 + n % 50, case_id=None))
    fields = {
        "Event": "Cdr",
        "Privilege": "cdr,all",
        "Source": "2002",
        "Destination": "s",
        "Channel": f"PJSIP/{10001 + n % 50}-{n:08x}",
        "DestinationChannel": f"PJSIP/{10051 + n % 50}-{n + 1:08x}",
        "LastApplication": "Dial",
        "StartTime": start.strftime(fmt),
        "AnswerTime": (start + timedelta(seconds=3)).strftime(fmt),
        "EndTime": (start + timedelta(seconds=60)).strftime(fmt),
        "Disposition": "ANSWERED",
        "UniqueID": f"1795000000.{n}",
        "LinkedID": f"1795000000.{n}",
        "UserField": tags,
        "Sequence": str(n),
    }
    return "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"


async def replay_ami(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, events: int, rate: float
) -> None:
    """Speak AMI: greet, accept the login, then send `events` Cdr events at `rate` a second."""
    writer.write(b"Asterisk Call Manager/11.0.0\r\n")
    block = await reader.readuntil(b"\r\n\r\n")
    action_id = ""
    for line in block.decode().split("\r\n"):
        if line.lower().startswith("actionid:"):
            action_id = line.split(":", 1)[1].strip()
    writer.write(
        f"Response: Success\r\nActionID: {action_id}\r\nMessage: Authentication accepted\r\n\r\n"
        "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n".encode()
    )
    await writer.drain()
    started = time.perf_counter()
    chunk = max(1, int(rate / 100))  # send in 10 ms slices
    for first in range(0, events, chunk):
        writer.write(
            "".join(cdr_event(n) for n in range(first, min(first + chunk, events))).encode()
        )
        await writer.drain()
        due = started + (first + chunk) / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    await asyncio.sleep(3600)  # keep the link up; the caller cancels


async def write_rate(db_path: Path, events: int, rate: float) -> dict[str, float]:
    members_for_bench(db_path, 200)
    db = open_db(db_path)
    contacts = ContactLog(db)
    done = asyncio.Event()
    server = await asyncio.start_server(lambda r, w: replay_ami(r, w, events, rate), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ami = AmiLink("127.0.0.1", port, "bench", SECRET)
    ami.on_event("Cdr", contacts.on_event)
    writer_task = asyncio.create_task(contacts.run())
    backlog: list[int] = []
    ami.connect()
    started = time.perf_counter()
    while contacts.written < events:
        await asyncio.sleep(0.05)
        backlog.append(len(contacts.queue))
        if time.perf_counter() - started > events / rate * 4 + 30:
            break
    elapsed = time.perf_counter() - started
    done.set()
    writer_task.cancel()
    ami.close()
    server.close()
    stored = db.execute("SELECT count(*) FROM contacts").fetchone()[0]
    db.close()
    return {
        "events": events,
        "stored": stored,
        "seconds": elapsed,
        "rate": stored / elapsed,
        "max_backlog": max(backlog or [0]),
    }


def raw_insert_rate(db_path: Path, events: int) -> float:
    """The floor: the same rows, built beforehand, inserted by one executemany."""
    members_for_bench(db_path, 200)
    db = open_db(db_path)
    contacts = ContactLog(db)
    rows = []
    for n in range(events):
        fields = dict(line.split(": ", 1) for line in cdr_event(n).strip().split("\r\n"))
        row = contacts.contact_from_cdr(Cdr.from_event(fields))
        assert row is not None
        rows.append(row)
    columns = list(rows[0])
    sql = f"INSERT INTO contacts ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    started = time.perf_counter()
    with db.conn:
        db.conn.executemany(sql, [tuple(r[c] for c in columns) for r in rows])
    elapsed = time.perf_counter() - started
    db.close()
    return events / elapsed


def members_for_bench(db_path: Path, members: int) -> None:
    db = open_db(db_path)
    rng = random.Random(7)
    with db.conn:
        db.conn.executemany(
            "INSERT INTO members (id, name, phone, extension, role, district, active, "
            "sip_password) VALUES (?, ?, ?, ?, 'psw', ?, 1, 'x')",
            [
                (i, f"Member {i}", f"+2567720{i:05d}", str(10000 + i), rng.choice(SEED_DISTRICTS))
                for i in range(1, members + 1)
            ],
        )
    db.close()


def fill_report_data(db_path: Path, members: int, cases: int, contacts: int) -> None:
    """Cases over a year, a third referred, contacts of which half are on a case."""
    members_for_bench(db_path, members)
    db = open_db(db_path)
    rng = random.Random(11)
    base = datetime(2025, 12, 1, tzinfo=UTC)
    iso = lambda t: t.isoformat(timespec="seconds")  # noqa: E731
    district_of = dict(db.execute("SELECT id, district FROM members").fetchall())
    case_rows, case_member = [], {}
    for c in range(1, cases + 1):
        member = rng.randint(1, members)
        reported = base + timedelta(minutes=rng.randint(0, 365 * 24 * 60))
        due = reported + timedelta(days=rng.randint(1, 30))
        case_member[c] = (member, reported)
        case_rows.append(
            (c, f"NCH-{c}", district_of[member], "neglect", "open", member, iso(reported), iso(due))
        )
    referral_rows = []
    for c in range(1, cases + 1, 3):
        member, reported = case_member[c]
        made = reported + timedelta(hours=rng.randint(1, 72))
        status = rng.choice(["made", "accepted", "declined", "completed", "failed"])
        referral_rows.append(
            (
                c,
                "health",
                status,
                "no staff" if status in ("declined", "failed") else None,
                iso(made),
                "bench",
                iso(made + timedelta(days=rng.randint(1, 20))),
            )
        )
    contact_rows = []
    for n in range(contacts):
        case = rng.randint(1, cases) if n % 2 == 0 else None
        if case:
            caller, reported = case_member[case]
            placed = reported + timedelta(minutes=rng.randint(5, 60 * 24 * 10))
        else:
            caller = rng.randint(1, members)
            placed = base + timedelta(minutes=rng.randint(0, 365 * 24 * 60))
        callee = rng.randint(1, members)
        answered = rng.random() < 0.7
        contact_rows.append(
            (
                "call",
                f"call:bench.{n}:{callee}",
                f"b.{n}",
                f"b.{n}",
                caller,
                callee,
                iso(placed),
                iso(placed + timedelta(seconds=8)) if answered else None,
                iso(placed + timedelta(seconds=90)),
                "answered" if answered else "no_answer",
                case,
                "prefix" if case else "",
                iso(placed),
            )
        )
    with db.conn:
        db.conn.executemany(
            "INSERT INTO cases (id, reference, district, category, status, assigned_member_id, "
            "reported_at, follow_up_due) VALUES (?,?,?,?,?,?,?,?)",
            case_rows,
        )
        db.conn.executemany(
            "INSERT INTO referrals (case_id, service, status, reason, made_at, made_by, "
            "updated_at) VALUES (?,?,?,?,?,?,?)",
            referral_rows,
        )
        db.conn.executemany(
            "INSERT INTO contacts (kind, source_key, uniqueid, linkedid, caller_member_id, "
            "callee_member_id, placed_at, answered_at, ended_at, outcome, case_id, link, "
            "recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            contact_rows,
        )
    db.execute("ANALYZE")
    db.close()


def report_times(db_path: Path, runs: int) -> tuple[list[float], list[float], int]:
    db = open_db(db_path)
    report, baseline = [], []
    lines = 0
    for _ in range(runs):
        started = time.perf_counter()
        lines = len(district_month_report(db))
        report.append(time.perf_counter() - started)
        started = time.perf_counter()
        db.execute(
            "SELECT substr(placed_at, 1, 7), count(*), sum(case_id IS NOT NULL) FROM contacts "
            "GROUP BY 1"
        ).fetchall()
        baseline.append(time.perf_counter() - started)
    db.close()
    return report, baseline, lines


@click.command()
@click.option("--events", default=50_000, show_default=True, help="Cdr events replayed.")
@click.option("--rate", default=5_000.0, show_default=True, help="Events a second.")
@click.option("--contacts", default=1_000_000, show_default=True, help="Contacts in the report.")
@click.option("--cases", default=100_000, show_default=True)
@click.option("--members", default=5_000, show_default=True)
@click.option("--runs", default=3, show_default=True, help="Report runs (median reported).")
def main(events: int, rate: float, contacts: int, cases: int, members: int, runs: int) -> None:
    """Measure the contact log's write rate and the report's time; print RESULTS.md lines."""
    setup_logging()
    work = Path(tempfile.mkdtemp(prefix="cug-bench-contacts-"))
    log.info("write rate: %d Cdr events at %.0f/s", events, rate)
    sustained = asyncio.run(write_rate(work / "sustained.db", events, rate))
    burst = asyncio.run(write_rate(work / "burst.db", events, rate=1e9))
    raw = raw_insert_rate(work / "raw.db", events)
    log.info("report: %d contacts, %d cases, %d members", contacts, cases, members)
    started = time.perf_counter()
    fill_report_data(work / "report.db", members, cases, contacts)
    filled = time.perf_counter() - started
    report, baseline, lines = report_times(work / "report.db", runs)
    med_report, med_base = statistics.median(report), statistics.median(baseline)
    print(f"date: {now_text()}")
    print(f"machine: {machine()}")
    print(
        f"contact log, sustained {rate:.0f} events/s: {sustained['stored']}/{events} stored in "
        f"{sustained['seconds']:.2f} s ({sustained['rate']:.0f}/s), largest backlog "
        f"{sustained['max_backlog']} events"
    )
    print(
        f"contact log, unpaced burst: {burst['stored']}/{events} stored in "
        f"{burst['seconds']:.2f} s = {burst['rate']:.0f} events/s; raw executemany baseline "
        f"{raw:.0f} rows/s; ratio {burst['rate'] / raw:.2f}"
    )
    print(
        f"report over {contacts} contacts ({cases} cases; data made in {filled:.0f} s): median "
        f"{med_report:.2f} s of {runs} runs ({', '.join(f'{t:.2f}' for t in report)}), "
        f"{lines} district-month lines; baseline GROUP BY month {med_base:.2f} s; ratio "
        f"{med_report / med_base:.1f}"
    )


if __name__ == "__main__":
    main()
