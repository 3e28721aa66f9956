"""Directory benchmark: import of 100,000 members and lookup of a member by any number format.

Targets (from the project's issue): the import of 100,000 members under 10 s, a lookup by
extension or phone number in any format with a p99 under 1 ms. Each figure comes with a
baseline measured in the same run on the same data.

\b
* import: `directory.csv_io.import_csv` into a fresh database file, against a raw sqlite3
  `executemany` of the very rows the import stored (same schema, indexes and pragmas, one
  transaction): the floor SQLite itself sets;
* lookup: `Directory.find(ident)` (and `member_by_phone(normalise(ident))`) on that
  database, against a plain sqlite3 primary-key SELECT of a random member.

\b
Run: .venv/bin/python bench/bench_directory.py [--members 100000] [--lookups 20000]
This is a benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/x.py`

from bench.common import REPO, machine, now_text, percentile, setup_logging
from directory.csv_io import COLUMN_FIELD, import_csv, read_rows
from directory.lookup import Directory
from directory.members import reference_data, save_members
from directory.numbers import normalise, normalise_member_phone
from directory.schema import SEED_DISTRICTS, SEED_ROLES, open_db
from directory.validation import clean_member

log = logging.getLogger("bench.directory")

# Ugandan mobile ranges phonenumbers accepts as UG mobile (MTN 077x/078x, Airtel 070x).
PREFIXES = ("772", "782", "701")
FIRST_EXTENSION = 10_000
SUPERVISOR_EVERY = 20
FIRST_NAMES = ("Akello", "Okello", "Nakato", "Mugisha", "Atim", "Odongo", "Namuli", "Opio")
LAST_NAMES = ("Achieng", "Ouma", "Kato", "Nambi", "Ogwang", "Babirye", "Ssali", "Auma")
WORKER_ROLES = tuple(code for code, _ in SEED_ROLES if code not in ("supervisor", "admin"))
CSV_COLUMNS = ("name", "phone", "role", "district", "supervisor_phone", "extension", "language")
# How a phone number is written in the CSV and in look-ups: every format people use.
FORMATS: tuple[Callable[[str], str], ...] = (
    lambda n: "0" + n,  # 0772123456
    lambda n: "+256" + n,  # +256772123456
    lambda n: "256" + n,  # 256772123456
    lambda n: f"0{n[:3]} {n[3:6]} {n[6:]}",  # 0772 123 456
    lambda n: "00256" + n,  # 00256772123456
    lambda n: n,  # 772123456
    lambda n: f"+256 {n[:3]} {n[3:]}",  # +256 772 123456
    lambda n: f"0{n[:3]}-{n[3:6]}-{n[6:]}",  # 0772-123-456
)


def national(i: int) -> str:
    """The i-th member's national significant number (9 digits), distinct for i < 3,000,000."""
    prefix = PREFIXES[i % len(PREFIXES)]
    subscriber = (i // len(PREFIXES) * 7919 + 12345) % 1_000_000  # 7919 is prime: a bijection
    return f"{prefix}{subscriber:06d}"


def extension(i: int) -> str:
    return str(FIRST_EXTENSION + i)


@dataclass
class Row:
    name: str
    phone: str
    role: str
    district: str
    supervisor_phone: str
    extension: str
    language: str


def member_rows(count: int, seed: int = 1) -> Iterator[Row]:
    """`count` members: every 20th a supervisor, the others supervised by the last one before
    them (an earlier row) in the same district; phones written in mixed formats."""
    rng = random.Random(seed)
    supervisor = ""
    for i in range(count):
        district = SEED_DISTRICTS[(i // SUPERVISOR_EVERY) % len(SEED_DISTRICTS)]
        is_supervisor = i % SUPERVISOR_EVERY == 0
        role = "supervisor" if is_supervisor else WORKER_ROLES[rng.randrange(len(WORKER_ROLES))]
        phone = FORMATS[i % len(FORMATS)](national(i))
        yield Row(
            name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {i:06d}",
            phone=phone,
            role=role,
            district=district,
            supervisor_phone="" if is_supervisor else supervisor,
            extension=extension(i),
            language=rng.choice(("en", "en", "lg", "luo")),
        )
        if is_supervisor:
            supervisor = "0" + national(i)


def write_csv(path: Path, count: int, seed: int = 1) -> Path:
    """The members CSV the import reads (the import's own column names)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in member_rows(count, seed):
            writer.writerow([getattr(row, c) for c in CSV_COLUMNS])
    return path


@dataclass
class Stats:
    n: int
    p50_us: float
    p99_us: float
    mean_us: float
    max_us: float

    @classmethod
    def of(cls, samples_ns: list[int]) -> Stats:
        us = [s / 1000 for s in samples_ns]
        return cls(
            n=len(us),
            p50_us=round(percentile(us, 50), 2),
            p99_us=round(percentile(us, 99), 2),
            mean_us=round(sum(us) / len(us), 2),
            max_us=round(max(us), 2),
        )


@dataclass
class Results:
    date: str
    machine: str
    members: int
    csv_bytes: int
    import_s: float = 0.0
    import_open_db_s: float = 0.0
    import_added: int = 0
    import_cli_s: float | None = None
    baseline_executemany_s: float = 0.0
    baseline_normalise_only_s: float = 0.0
    normalise_member_phone_s: float = 0.0
    phase_read_and_check_s: float = 0.0
    phase_save_s: float = 0.0
    lookups: dict[str, Stats] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def cold_caches() -> None:
    """Forget memoised number parsing (if directory.numbers keeps any) before a timing, so
    each timed step starts as a fresh `cug directory import` process would."""
    clear = getattr(normalise_member_phone, "cache_clear", None)
    if clear is not None:
        clear()


def time_import(csv_path: Path, db_path: Path, res: Results) -> None:
    cold_caches()
    started = time.perf_counter()
    db = open_db(db_path)
    res.import_open_db_s = time.perf_counter() - started
    started = time.perf_counter()
    result = import_csv(db, csv_path, actor="bench")
    res.import_s = time.perf_counter() - started
    db.close()
    if not result.ok:
        res.errors += [f"line {line}: {why}" for line, why in result.errors[:10]]
        raise click.ClickException(f"import refused the generated CSV: {result.errors[:5]}")
    res.import_added = result.added


def time_cli_import(csv_path: Path, work: Path) -> float:
    """`cug directory import` end to end, as an admin runs it (Python start, progress bar)."""
    home = work / "cli-home"
    env = {**os.environ, "CUG_HOME": str(home)}
    env.pop("CUG_DB", None)
    cmd = [sys.executable, "-m", "cug.cli", "--db", str(work / "cli.db"), "directory", "import"]
    started = time.perf_counter()
    proc = subprocess.run(
        [*cmd, str(csv_path)], capture_output=True, text=True, env=env, cwd=REPO, timeout=600
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise click.ClickException(f"cug directory import failed: {proc.stderr[-2000:]}")
    log.info("cug directory import: %s", proc.stdout.strip())
    return elapsed


def time_baseline_insert(source_db: Path, db_path: Path) -> float:
    """Raw executemany of the rows the import stored, into a fresh file with the same schema."""
    src = sqlite3.connect(source_db)
    columns = [r[1] for r in src.execute("PRAGMA table_info(members)")]
    rows = src.execute(f"SELECT {', '.join(columns)} FROM members ORDER BY id").fetchall()
    src.close()
    open_db(db_path).close()  # same schema, indexes and journal mode, created untimed
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    marks = ", ".join("?" for _ in columns)
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO members ({', '.join(columns)}) VALUES ({marks})", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def time_import_phases(csv_path: Path, db_path: Path, res: Results) -> None:
    """Where import_csv's time goes: reading and checking every row (clean_member, with its
    phone-number parsing), then save_members; the same steps import_csv takes, timed apart."""
    db = open_db(db_path)
    roles, districts = reference_data(db)
    cold_caches()
    started = time.perf_counter()
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        header, rows = read_rows(handle)
        checked = [
            (line, clean_member(values, roles, districts))
            for line, values in rows
            if not isinstance(values, str)
        ]
    res.phase_read_and_check_s = time.perf_counter() - started
    started = time.perf_counter()
    save_members(db, checked, "bench", given={COLUMN_FIELD[c] for c in header})
    res.phase_save_s = time.perf_counter() - started
    db.close()


def time_phone_parsing(csv_path: Path, fn: Callable[[str], str]) -> float:
    """Only the phone-number parsing of each row's phone and supervisor phone, by `fn`."""
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    cold_caches()
    started = time.perf_counter()
    for row in rows:
        fn(row["phone"])
        if row["supervisor_phone"]:
            fn(row["supervisor_phone"])
    return time.perf_counter() - started


def lookup_idents(count: int, members: int, seed: int = 2) -> list[str]:
    """`count` look-up strings for random members: extensions and every phone format."""
    rng = random.Random(seed)
    idents = []
    for k in range(count):
        i = rng.randrange(members)
        which = k % (len(FORMATS) + 1)
        idents.append(extension(i) if which == len(FORMATS) else FORMATS[which](national(i)))
    return idents


def _timed(fn: Callable[[Any], Any], args: list[Any]) -> tuple[list[int], int]:
    """Per-call wall times in ns of fn(arg) for each arg, and how many gave None."""
    clock = time.perf_counter_ns
    samples = []
    misses = 0
    for arg in args:
        started = clock()
        found = fn(arg)
        samples.append(clock() - started)
        if found is None:
            misses += 1
    return samples, misses


def time_lookups(db_path: Path, members: int, count: int, res: Results) -> None:
    db = open_db(db_path)
    directory = Directory(db)
    idents = lookup_idents(count, members)
    _timed(directory.find, idents[: min(1000, count)])  # warm the page cache and the code

    samples, misses = _timed(directory.find, idents)
    res.lookups["Directory.find (mixed formats)"] = Stats.of(samples)
    if misses:
        res.errors.append(f"Directory.find missed {misses} of {count} existing members")
    phones = [i for i in idents if len(i) > 6]
    samples, misses = _timed(lambda s: directory.member_by_phone(normalise(s)), phones)
    res.lookups["member_by_phone(normalise(x)) (phone formats)"] = Stats.of(samples)
    samples, _ = _timed(normalise, phones)
    res.lookups["normalise(x) alone"] = Stats.of(samples)
    exts = [i for i in idents if len(i) <= 6]
    samples, _ = _timed(directory.member_by_extension, exts)
    res.lookups["member_by_extension"] = Stats.of(samples)
    db.close()

    conn = sqlite3.connect(db_path)  # the baseline: a plain primary-key SELECT
    rng = random.Random(3)
    ids = [rng.randrange(1, members + 1) for _ in range(count)]
    stmt = "SELECT * FROM members WHERE id = ?"
    _timed(lambda i: conn.execute(stmt, (i,)).fetchone(), ids[:1000])
    samples, misses = _timed(lambda i: conn.execute(stmt, (i,)).fetchone(), ids)
    res.lookups["baseline: sqlite3 SELECT * WHERE id=? (pk)"] = Stats.of(samples)
    conn.close()


def report(res: Results, members: int) -> None:
    log.info("date: %s; machine: %s", res.date, res.machine)
    rate = members / res.import_s if res.import_s else 0
    log.info(
        "import_csv of %d members: %.2f s (%.0f rows/s; open_db %.3f s) target < 10 s: %s",
        res.import_added,
        res.import_s,
        rate,
        res.import_open_db_s,
        "MET" if res.import_s < 10 else "NOT MET",
    )
    if res.import_cli_s is not None:
        log.info("cug directory import (CLI, end to end): %.2f s", res.import_cli_s)
    log.info(
        "baseline raw executemany of the same rows: %.2f s; ratio import/baseline = %.1f",
        res.baseline_executemany_s,
        res.import_s / res.baseline_executemany_s if res.baseline_executemany_s else 0,
    )
    log.info(
        "import phases (fresh file, timed apart): read + clean_member %.2f s, save_members "
        "%.2f s; of every row's phone and supervisor phone, normalise_member_phone() alone "
        "(what clean_member calls) %.2f s, normalise() alone %.2f s",
        res.phase_read_and_check_s,
        res.phase_save_s,
        res.normalise_member_phone_s,
        res.baseline_normalise_only_s,
    )
    base = res.lookups.get("baseline: sqlite3 SELECT * WHERE id=? (pk)")
    for name, s in res.lookups.items():
        ratio = f"p99 x{s.p99_us / base.p99_us:.1f} of baseline" if base else ""
        log.info(
            "%-48s n=%d p50=%.1f us p99=%.1f us mean=%.1f us max=%.0f us %s",
            name,
            s.n,
            s.p50_us,
            s.p99_us,
            s.mean_us,
            s.max_us,
            ratio,
        )
    find = res.lookups.get("Directory.find (mixed formats)")
    if find:
        log.info("lookup p99 target < 1 ms: %s", "MET" if find.p99_us < 1000 else "NOT MET")
    for error in res.errors:
        log.error("%s", error)


@click.command(help=__doc__)
@click.option("--members", default=100_000, show_default=True, help="Members to generate.")
@click.option("--lookups", default=20_000, show_default=True, help="Look-ups to time.")
@click.option("--cli/--no-cli", default=True, show_default=True, help="Also time the CLI import.")
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the CSV and databases (default: a temporary one, removed afterwards).",
)
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), help="Write figures.")
@click.option("-v", "--verbose", is_flag=True)
def main(
    members: int, lookups: int, cli: bool, work: Path | None, json_out: Path | None, verbose: bool
) -> None:
    setup_logging(verbose)
    res = Results(date=now_text(), machine=machine(), members=members, csv_bytes=0)
    keep = work is not None
    work = work or Path(tempfile.mkdtemp(prefix="cug-bench-dir-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        csv_path = work / "members.csv"
        started = time.perf_counter()
        write_csv(csv_path, members)
        res.csv_bytes = csv_path.stat().st_size
        log.info(
            "wrote %s (%d members) in %.1f s", csv_path, members, time.perf_counter() - started
        )
        db_path = work / "import.db"
        for stale in work.glob("*.db*"):
            stale.unlink()
        time_import(csv_path, db_path, res)
        res.baseline_executemany_s = time_baseline_insert(db_path, work / "baseline.db")
        res.baseline_normalise_only_s = time_phone_parsing(csv_path, normalise)
        res.normalise_member_phone_s = time_phone_parsing(csv_path, normalise_member_phone)
        time_import_phases(csv_path, work / "phases.db", res)
        if cli:
            res.import_cli_s = time_cli_import(csv_path, work)
        time_lookups(db_path, members, lookups, res)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    report(res, members)
    if json_out:
        json_out.write_text(json.dumps(asdict(res), indent=2) + "\n")


if __name__ == "__main__":
    main()
