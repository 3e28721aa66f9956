"""`cug api get|post`: the JSON API of a running service from the command line, with a token
of an admin account acting in that account's scope."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from pathlib import Path

import click
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cug.cli_remote import call, check_url
from directory.cases import open_case
from directory.schema import open_db
from tests.unit.cli_runner import with_members
from tests.unit.site_client import accounts
from web.app import mount_api
from web.auth import create_token


async def test_get_and_post_through_the_api_in_the_accounts_scope(tmp_path: Path) -> None:
    cug = with_members(tmp_path)
    db = open_db(tmp_path / "cug.db")
    accounts(db)
    token = create_token(db, "oyam-script", "tester", account="oyam")[0]
    case = open_case(db, "tester", district="Oyam", category="neglect")
    app = web.Application()
    mount_api(app, db)
    async with TestServer(app) as server:
        url = f"http://127.0.0.1:{server.port}/api"
        env = {"CUG_API_TOKEN": token, "CUG_API_URL": url}

        def run(*args: str, ok: bool = True) -> str:
            return cug(*args, ok=ok, env=env).output

        shown = json.loads(await asyncio.to_thread(run, "api", "get", "/v1/members/2002"))
        assert shown["member"]["name"] == "Okello Denis"
        refused = await asyncio.to_thread(run, "api", "get", "v1/members/2012", ok=False)
        assert "refused (403)" in refused and "outside your districts" in refused
        listed = await asyncio.to_thread(
            run, "api", "get", "/v1/members", "-q", "q=Auma", "-q", "active=all"
        )
        assert [m["extension"] for m in json.loads(listed)["members"]] == ["2003"]
        closed = await asyncio.to_thread(
            run, "api", "post", f"/v1/cases/{case.id}/close", "--json", '{"reason": "safe"}'
        )
        assert json.loads(closed)["case"]["status"] == "closed"
        bad = await asyncio.to_thread(run, "api", "post", "/v1/cases", "--json", "{", ok=False)
        assert "not JSON" in bad
    no_token = cug("api", "get", "/v1/cases", ok=False, env={"CUG_API_TOKEN": ""}).output
    assert "CUG_API_TOKEN" in no_token
    db.close()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://cug.example.org/api", True),
        ("http://127.0.0.1:8480/api", True),
        ("http://localhost:8480/api", True),
        ("http://cug.example.org/api", False),  # the token in clear over the network
        ("http://10.0.0.5:8480/api", False),
    ],
)
def test_the_token_goes_only_over_https_or_to_this_machine(url: str, allowed: bool) -> None:
    if allowed:
        check_url(url)
    else:
        with pytest.raises(click.ClickException, match="only over https"):
            check_url(url)


def test_a_redirect_is_not_followed_with_the_token() -> None:
    """A service (or something in front of it) answering 302 elsewhere gets no second
    request: the token would go to the place the redirect names."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.path)
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{server.server_port}/stolen")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(click.ClickException, match="redirect"):
            call(f"http://127.0.0.1:{server.server_port}/api", "GET", "/v1/members", "t0ken")
    finally:
        server.shutdown()
    assert seen == ["/api/v1/members"]
