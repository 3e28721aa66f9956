"""`cug --remote URL directory list|show|add`: the directory of a running service through its
JSON API, in the token's scope (an admin account's token acts as that account); commands that
cannot work remotely refuse instead of changing this machine's directory."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from directory.schema import open_db
from tests.unit.cli_runner import with_members
from tests.unit.site_client import accounts
from web.app import mount_api
from web.auth import create_token

NEW = ["--name", "Apio Grace", "--phone", "0772300001", "--role", "psw", "--district", "Oyam"]


async def test_list_show_and_add_through_the_api_in_the_tokens_scope(tmp_path: Path) -> None:
    cug = with_members(tmp_path)
    db = open_db(tmp_path / "cug.db")
    accounts(db)
    oyam = create_token(db, "oyam-laptop", "tester", account="oyam")[0]
    plain = create_token(db, "reports", "tester")[0]  # no admin account: reads, never adds
    elsewhere = tmp_path / "laptop"  # the admin's own machine: no directory of its own
    laptop = type(cug)(elsewhere)
    app = web.Application()
    mount_api(app, db)
    async with TestServer(app) as server:
        site = f"http://127.0.0.1:{server.port}"

        def run(*args: str, token: str = oyam, ok: bool = True) -> str:
            return laptop("--remote", site, *args, ok=ok, env={"CUG_API_TOKEN": token}).output

        listed = await asyncio.to_thread(run, "directory", "list")
        assert "Okello Denis" in listed and "Waiswa" not in listed  # Jinja's: not Oyam's admin's
        assert "Lanyero Joy" not in listed  # inactive
        assert "Lanyero Joy" in await asyncio.to_thread(run, "directory", "list", "--all")
        police = await asyncio.to_thread(run, "directory", "list", "--role", "police")
        assert police.split()[:2] == ["2004", "+256772100004"] and len(police.splitlines()) == 1
        shown = await asyncio.to_thread(run, "directory", "show", "+256772100002")
        assert "Okello Denis" in shown and "sip_password" not in shown
        as_json = json.loads(await asyncio.to_thread(run, "directory", "show", "2002", "--json"))
        assert as_json["extension"] == "2002"
        refused = await asyncio.to_thread(run, "directory", "show", "2012", ok=False)
        assert "refused (403)" in refused
        added = await asyncio.to_thread(run, "directory", "add", *NEW)
        assert "added Apio Grace: extension" in added and "password" in added
        again = await asyncio.to_thread(run, "directory", "add", *NEW, ok=False)
        assert "refused (422)" in again and "already a member" in again
        jinja = [*NEW[:-1], "Jinja"]
        jinja[3] = "0772300002"
        assert "refused (403)" in await asyncio.to_thread(run, "directory", "add", *jinja, ok=False)
        plain_add = [*NEW[:3], "0772300003", *NEW[4:]]
        assert "refused (403)" in await asyncio.to_thread(
            run, "directory", "add", *plain_add, token=plain, ok=False
        )
        # Not remote-capable: refused, and this machine's directory is not touched either.
        local = await asyncio.to_thread(run, "directory", "deactivate", "2002", ok=False)
        assert "does not work with --remote" in local
        token = await asyncio.to_thread(run, "api", "token", "create", "x", ok=False)
        assert "does not work with --remote" in token
        assert "does not work" in await asyncio.to_thread(run, "admin", "list", ok=False)
        assert json.loads(await asyncio.to_thread(run, "api", "get", "/v1/members/2003"))
    assert not (elsewhere / "cug.db").exists()
    row = db.execute(
        "SELECT m.district, a.actor FROM members m JOIN audit a ON a.subject = m.phone "
        "AND a.action = 'member.add.add' WHERE m.phone = '+256772300001'"
    ).fetchone()
    assert row[0] == "Oyam" and "oyam" in row[1]
    assert db.execute("SELECT active FROM members WHERE extension = '2002'").fetchone() == (1,)
    db.close()
