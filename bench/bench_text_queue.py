"""Texts page benchmark: what the admin site's Texts page reads (directory/text_queue_view.py
`queue_page`: the counts, a page of the waiting deliveries, a page of the ended ones) with
100,000 texts waiting, for a national admin (every district) and a district admin, on the
first page and a page deep in the queue.

Baseline, in the same run on the same database: one plain read of the whole queue (a count
of the queued deliveries, as `cug texts list` filters them), what any page that looked at
every waiting text would cost at least. The figure that matters is the ratio: a district's
page must stay far below it however long the queue grows while members' phones are off.

\b
Run: .venv/bin/python bench/bench_text_queue.py [--texts 100000] [--repeat 20]
This is a benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/x.py`

from bench.common import machine, now_text, percentile, setup_logging

log = logging.getLogger("bench.text_queue")
DISTRICTS = ("Oyam", "Jinja", "Apac", "Gulu")
SMS_AFTER = timedelta(minutes=10)


def fill(path: Path, texts: int) -> None:
    """40 members over four districts; `texts` texts each waiting for one of them."""
    from directory.schema import open_db

    db = open_db(path)
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    later = (datetime.now(UTC) + timedelta(hours=72)).isoformat(timespec="milliseconds")
    with db.conn:
        db.conn.executemany(
            "INSERT INTO members (name, phone, extension, role, district, active, "
            "sip_password, language) VALUES (?, ?, ?, 'psw', ?, 1, 'x', 'en')",
            [
                (f"Member {n}", f"+2567720{n:05d}", f"{4000 + n}", DISTRICTS[n % 4])
                for n in range(40)
            ],
        )
        ids = [r[0] for r in db.execute("SELECT id FROM members ORDER BY id")]
        db.conn.executemany(
            "INSERT INTO texts (id, kind, sender_member_id, addressed, team, body, created_at) "
            "VALUES (?, 'text', ?, '4001', '', 'a text', ?)",
            [(n, ids[0], stamp) for n in range(1, texts + 1)],
        )
        db.conn.executemany(
            "INSERT INTO text_deliveries (text_id, recipient_member_id, status, "
            "next_attempt_at, expires_at, attempts, last_error) VALUES (?, ?, 'queued', ?, ?, "
            "1, 'AMI: Could not send message')",
            [(n, ids[n % 40], stamp, later) for n in range(1, texts + 1)],
        )
    db.close()


def timed(path: Path, repeat: int) -> dict[str, list[float]]:
    """Milliseconds of each `queue_page` read, per case, `repeat` times."""
    from directory.member_list import MemberScope
    from directory.schema import open_db
    from directory.text_queue_view import QueueFilter, queue_page

    db = open_db(path)
    cases = {
        "national, page 1": (MemberScope(), 1),
        "national, page 1000": (MemberScope(), 1000),
        "district, page 1": (MemberScope(districts=("Oyam",)), 1),
        "district, page 400": (MemberScope(districts=("Oyam",)), 400),
    }
    out: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, (scope, page) in cases.items():
            started = time.perf_counter()
            view = queue_page(db, scope, QueueFilter(), SMS_AFTER, page=page)
            out[name].append((time.perf_counter() - started) * 1000)
            assert len(view.waiting) == 50, (name, len(view.waiting))  # a full page was read
    db.close()
    return out


def scan(path: Path, repeat: int) -> list[float]:
    """Milliseconds of one read of the whole queue, `repeat` times (the baseline)."""
    from directory.schema import open_db

    db = open_db(path)
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        db.execute(
            "SELECT count(*), sum(length(t.body)) FROM text_deliveries d "
            "JOIN texts t ON t.id = d.text_id WHERE d.status = 'queued'"
        ).fetchone()
        out.append((time.perf_counter() - started) * 1000)
    db.close()
    return out


@click.command()
@click.option("--texts", default=100_000, show_default=True)
@click.option("--repeat", default=20, show_default=True)
@click.option("-v", "--verbose", is_flag=True)
def main(texts: int, repeat: int, verbose: bool) -> None:
    """Time the Texts page's reads against one read of the whole queue."""
    setup_logging(verbose)
    work = Path(tempfile.mkdtemp(prefix="cug-bench-texts-"))
    path = work / "cug.db"
    log.info("filling %d waiting texts", texts)
    fill(path, texts)
    # Alternate the two, so that the machine's state weighs on both alike.
    pages: dict[str, list[float]] = {}
    baseline: list[float] = []
    for _ in range(2):
        for name, values in timed(path, repeat // 2).items():
            pages.setdefault(name, []).extend(values)
        baseline += scan(path, repeat // 2)
    b50, b95 = percentile(baseline, 50), percentile(baseline, 95)
    print(f"# bench_text_queue: {now_text()}, {machine()}")
    print(f"# {texts} texts waiting for 40 members in 4 districts; {repeat} reads per case")
    print(f"# baseline, one read of the whole queue: p50 {b50:.1f} ms, p95 {b95:.1f} ms")
    print("| read | p50 ms | p95 ms | ratio to the baseline (p50) |")
    print("|---|---|---|---|")
    for name, values in pages.items():
        a50, a95 = percentile(values, 50), percentile(values, 95)
        print(f"| {name} | {a50:.1f} | {a95:.1f} | {a50 / b50:.2f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
