"""`cug api token ...` as an admin uses it, and the tokens it makes at the API's door."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import Result

from directory.schema import open_db
from tests.unit.cli_runner import Cug as BaseCug
from web.app import mount_api
from web.auth import token_hash


class Cug(BaseCug):
    """The CLI runner, and the API that a token it made opens."""

    async def status(self, token: str, path: str = "/api/v1/cases") -> int:
        """The API's answer to `token`, served from this home's directory."""
        db = open_db(self.home / "cug.db")
        app = web.Application()
        mount_api(app, db)
        try:
            async with TestClient(TestServer(app)) as client:
                headers = {"Authorization": f"Bearer {token}"}
                async with client.get(path, headers=headers) as response:
                    return response.status
        finally:
            db.close()


@pytest.fixture
def cug(tmp_path: Path) -> Cug:
    return Cug(tmp_path / "home")


def created_token(result: Result) -> str:
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout  # the token alone on stdout, for scripts
    return lines[0]


async def test_a_created_token_works_until_it_is_revoked(cug: Cug) -> None:
    made = cug("api", "token", "create", "nch-app")
    token = created_token(made)
    assert token.startswith("cug_") and len(token) >= 40
    assert "not shown again" in made.stderr
    assert "all districts" in made.stderr
    assert await cug.status(token) == 200
    assert await cug.status(token + "x") == 401

    listed = cug("api", "token", "list")
    assert "nch-app" in listed.stdout and "live" in listed.stdout
    as_json = cug("api", "token", "list", "--json")
    [entry] = json.loads(as_json.stdout)
    assert (entry["name"], entry["district"], entry["created_by"]) == ("nch-app", None, "tester")
    assert entry["last_used_at"] is not None
    for shown in (listed.stdout, as_json.stdout):
        assert token not in shown
        assert token_hash(token) not in shown
        assert token[4:20] not in shown

    assert "revoked" in cug("api", "token", "revoke", "nch-app").stdout
    assert await cug.status(token) == 401
    assert "revoked" in cug("api", "token", "list").stdout
    assert "already revoked" in cug("api", "token", "revoke", "nch-app", ok=False).output
    assert cug.sql("SELECT actor, action, subject FROM audit WHERE actor = 'tester'") == [
        ("tester", "api_token.create", "api_token:nch-app"),
        ("tester", "api_token.revoke", "api_token:nch-app"),
    ]
    assert token_hash(token) not in str(cug.sql("SELECT * FROM audit"))
    # What the token read is in the audit under its name.
    assert cug.sql("SELECT action FROM audit WHERE actor = 'api:nch-app'") == [("case.list",)]


async def test_a_district_token(cug: Cug) -> None:
    token = created_token(cug("api", "token", "create", "jinja-app", "--district", "jinja"))
    assert cug.sql("SELECT district FROM api_tokens") == [("Jinja",)]
    assert await cug.status(token, "/api/v1/cases?district=Jinja") == 200
    assert await cug.status(token, "/api/v1/cases?district=Oyam") == 403
    assert "Jinja" in cug("api", "token", "list").stdout


def test_refused_token_commands(cug: Cug) -> None:
    cug("api", "token", "create", "nch-app")
    assert "already a token named" in cug("api", "token", "create", "nch-app", ok=False).output
    assert (
        "unknown district"
        in cug("api", "token", "create", "x", "--district", "Atlantis", ok=False).output
    )
    for bad in ("", ".dot", "has space", "new\nline", "x" * 65):
        assert "token name" in cug("api", "token", "create", bad, ok=False).output
    assert "no token named" in cug("api", "token", "revoke", "nobody", ok=False).output
    assert cug.sql("SELECT name FROM api_tokens") == [("nch-app",)]
    assert "no API tokens" not in cug("api", "token", "list").stdout
