"""The OpenAPI document describes every route of the JSON API, and the site serves it."""

from __future__ import annotations

import re

import sqlite_utils

from tests.unit.site_client import site
from web import api_cases, api_members
from web.openapi_doc import document


def api_routes() -> set[tuple[str, str]]:
    found = set()
    for table in (api_cases.routes, api_members.routes):
        for route in table:
            path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", route.path)  # type: ignore[attr-defined]
            found.add((route.method.lower(), path))  # type: ignore[attr-defined]
    return found


def test_every_api_route_is_described() -> None:
    doc = document()
    described = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert described == api_routes()
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["summary"] and "401" in op["responses"]


async def test_the_site_serves_it_without_a_login(db: sqlite_utils.Database) -> None:
    async with site(db) as client:
        response = await client.get("/admin/openapi.json")
        assert response.status == 200
        assert (await response.json())["openapi"] == "3.1.0"
