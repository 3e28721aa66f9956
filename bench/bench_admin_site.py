"""Admin site benchmark: the member list page (search + filters) on 100,000 members, and the
dashboard on 1,000,000 contacts, served over HTTP.

The site runs in a process of its own (`serve`: the same aiohttp application `cug serve`
mounts: the JSON API and the admin site, with a static folder beside them); the load comes
from this process, several clients at once, each logged in with its own session. Baseline,
in the same run against the same server: a static file with the bytes of a member list page,
served by aiohttp's static handler.

Targets (the project's issue): member list p95 under 150 ms; dashboard under 1 s.

\b
Run: .venv/bin/python bench/bench_admin_site.py [--members 100000] [--requests 2000]
     [--clients 4] [--contacts 1000000]
This is a benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/x.py`

from bench.common import REPO, machine, now_text, percentile, setup_logging

log = logging.getLogger("bench.admin_site")

PASSWORD = secrets.token_urlsafe(16)  # this run's admin accounts
FIRST = ("Akello", "Okello", "Nakato", "Mugisha", "Atim", "Odongo", "Namuli", "Opio")
LAST = ("Achieng", "Ouma", "Kato", "Nambi", "Ogwang", "Babirye", "Ssali", "Auma")
ROLES = ("psw", "police", "health", "probation", "dac", "cdo", "supervisor")


def fill_members(db_path: Path, count: int) -> None:
    """`count` members over the seed districts and roles, in one transaction."""
    from directory.admin_accounts import create_account
    from directory.schema import SEED_DISTRICTS, open_db

    db = open_db(db_path)
    rng = random.Random(3)
    with db.conn:
        db.conn.executemany(
            "INSERT INTO members (name, phone, extension, role, district, active, sip_password,"
            " language) VALUES (?, ?, ?, ?, ?, ?, 'x', 'en')",
            [
                (
                    f"{rng.choice(FIRST)} {rng.choice(LAST)} {i:06d}",
                    f"+25677{i:07d}",
                    str(10_000 + i),
                    rng.choice(ROLES),
                    SEED_DISTRICTS[i % len(SEED_DISTRICTS)],
                    0 if i % 50 == 0 else 1,
                )
                for i in range(count)
            ],
        )
    db.execute("ANALYZE")
    create_account(db, "bench", "national", PASSWORD, "bench")
    create_account(db, "bench-oyam", "district", PASSWORD, "bench", districts=["Oyam"])
    db.close()


def list_urls(rng: random.Random, n: int) -> list[str]:
    """Member list pages as admins ask for them: a search, filters, a page."""
    from directory.schema import SEED_DISTRICTS

    urls = []
    for _ in range(n):
        query: dict[str, str] = {}
        kind = rng.randrange(5)
        if kind == 0:
            query["q"] = rng.choice(FIRST)[: rng.randint(3, 6)]
        elif kind == 1:
            query["q"] = f"{rng.randrange(10_000, 110_000)}"
        elif kind == 2:
            query["q"] = f"077{rng.randrange(10_000):04d}"
        if rng.random() < 0.6:
            query["district"] = rng.choice(SEED_DISTRICTS)
        if rng.random() < 0.4:
            query["role"] = rng.choice(ROLES)
        query["page"] = str(rng.choice((1, 1, 1, 2, 3, 10, 50)))
        urls.append("/admin/members?" + "&".join(f"{k}={v}" for k, v in query.items()))
    return urls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _login(session: Any, base: str, username: str) -> None:
    import re

    async with session.get(f"{base}/admin/login") as response:
        token = re.search(r'name="csrf" value="([^"]+)"', await response.text())
    assert token is not None
    data = {"csrf": token.group(1), "username": username, "password": PASSWORD, "next": ""}
    async with session.post(f"{base}/admin/login", data=data, allow_redirects=False) as response:
        if response.status != 303:
            raise RuntimeError(f"login as {username} answered {response.status}")


async def load(base: str, urls: list[str], clients: int, username: str) -> dict[str, Any]:
    """Fetch every URL, `clients` at a time (each client its own session); latencies in ms."""
    import aiohttp

    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    times: list[float] = []
    statuses: dict[int, int] = {}
    sizes: list[int] = []

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            url = queue.get_nowait()
            started = time.perf_counter()
            async with session.get(base + url) as response:
                body = await response.read()
            times.append((time.perf_counter() - started) * 1000)
            statuses[response.status] = statuses.get(response.status, 0) + 1
            sizes.append(len(body))

    # Every client logs in before the clock starts (a login is an argon2 hash).
    sessions = [
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in range(clients)
    ]
    try:
        for session in sessions:
            await _login(session, base, username)
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for session in sessions))
        wall = time.perf_counter() - started
    finally:
        for session in sessions:
            await session.close()
    return {
        "n": len(times),
        "p50_ms": round(percentile(times, 50), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "p99_ms": round(percentile(times, 99), 2),
        "max_ms": round(max(times), 2),
        "per_s": round(len(times) / wall, 1),
        "statuses": statuses,
        "bytes_median": sorted(sizes)[len(sizes) // 2],
    }


def start_server(db_path: Path, static: Path, port: int) -> subprocess.Popen[bytes]:
    errors = (static.parent / f"serve-{port}.log").open("wb")  # never a pipe left unread
    proc = subprocess.Popen(
        [sys.executable, __file__, "serve", str(db_path), str(static), str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start: " + errors.name)


async def sample_page(base: str, url: str) -> bytes:
    import aiohttp

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        await _login(session, base, "bench")
        async with session.get(base + url) as response:
            return await response.read()


def member_list(work: Path, members: int, requests: int, clients: int) -> dict[str, Any]:
    db_path = work / "members.db"
    started = time.perf_counter()
    fill_members(db_path, members)
    log.info("%d members written in %.1f s", members, time.perf_counter() - started)
    static = work / "static"
    static.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(db_path, static, port)
    try:
        page = asyncio.run(sample_page(base, "/admin/members?district=Oyam&role=psw"))
        (static / "page.html").write_bytes(page)
        urls = list_urls(random.Random(5), requests)
        out: dict[str, Any] = {"members": members, "clients": clients, "page_bytes": len(page)}
        out["warm_up"] = asyncio.run(load(base, urls[:100], clients, "bench"))
        out["member_list_national"] = asyncio.run(load(base, urls, clients, "bench"))
        out["member_list_district"] = asyncio.run(load(base, urls, clients, "bench-oyam"))
        out["baseline_static"] = asyncio.run(
            load(base, ["/static-baseline/page.html"] * requests, clients, "bench")
        )
    finally:
        proc.terminate()
        proc.wait(10)
    base_p95 = out["baseline_static"]["p95_ms"]
    out["ratio_p95_national"] = round(out["member_list_national"]["p95_ms"] / base_p95, 2)
    return out


def dashboard(work: Path, contacts: int, cases: int, runs: int) -> dict[str, Any]:
    from bench.bench_contacts import fill_report_data
    from directory.admin_accounts import create_account
    from directory.report import count_new_contacts
    from directory.schema import open_db

    db_path = work / "contacts.db"
    started = time.perf_counter()
    fill_report_data(db_path, 5_000, cases, contacts)
    log.info("%d contacts written in %.1f s", contacts, time.perf_counter() - started)
    db = open_db(db_path)
    create_account(db, "bench", "national", PASSWORD, "bench")
    # Contacts come a few at a time in service, and each report counts those new since the
    # one before (directory/report.count_new_contacts); the bulk fill came at once, so they
    # are counted here, once, and timed apart from the dashboard.
    started = time.perf_counter()
    counted = count_new_contacts(db)
    first_count = round(time.perf_counter() - started, 2)
    log.info("%d contacts counted per member and month in %.2f s", counted, first_count)
    db.close()
    static = work / "static2"
    static.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(db_path, static, port)
    try:
        # Each "cold" request asks for another month, so the figure cache cannot answer it.
        months = [f"2026-{m:02d}" for m in range(1, runs + 1)]
        cold = asyncio.run(load(base, [f"/admin/dashboard?month={m}" for m in months], 1, "bench"))
        everything = asyncio.run(load(base, ["/admin/dashboard"] * runs, 1, "bench"))
        (static / "page.html").write_bytes(asyncio.run(sample_page(base, "/admin/dashboard")))
        baseline = asyncio.run(load(base, ["/static-baseline/page.html"] * runs, 1, "bench"))
    finally:
        proc.terminate()
        proc.wait(10)
    return {
        "contacts": contacts,
        "cases": cases,
        "first_count_after_bulk_fill_s": first_count,
        "one_month_cold": cold,
        "all_months_first_then_kept": everything,
        "baseline_static": baseline,
    }


def serve(db_path: str, static: str, port: int) -> None:
    """The site as `cug serve` mounts it (no Asterisk: no AMI link), and a static folder."""
    from aiohttp import web

    from cug.settings import new_session_key
    from directory.schema import open_db
    from web.app import mount_api
    from web.site import mount_admin_site

    db = open_db(db_path)
    app = web.Application()
    mount_api(app, db)
    mount_admin_site(app, db, new_session_key(), cookie_secure=False)  # plain HTTP, loopback
    app.router.add_static("/static-baseline", static)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


@click.command()
@click.option("--members", default=100_000, show_default=True)
@click.option("--requests", default=2_000, show_default=True, help="Member list pages.")
@click.option("--clients", default=4, show_default=True, help="Clients at once.")
@click.option("--contacts", default=1_000_000, show_default=True, help="For the dashboard.")
@click.option("--cases", default=100_000, show_default=True)
@click.option("--runs", default=5, show_default=True, help="Dashboard requests.")
@click.option("--json-out", type=click.Path(path_type=Path))
def main(
    members: int,
    requests: int,
    clients: int,
    contacts: int,
    cases: int,
    runs: int,
    json_out: Path | None,
) -> None:
    setup_logging()
    result: dict[str, Any] = {"date": now_text(), "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="cug-bench-site-") as tmp:
        work = Path(tmp)
        result["member_list"] = member_list(work, members, requests, clients)
        if contacts:
            result["dashboard"] = dashboard(work, contacts, cases, runs)
    text = json.dumps(result, indent=2)
    click.echo(text)
    if json_out:
        json_out.write_text(text)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        logging.basicConfig(level=logging.WARNING)
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
