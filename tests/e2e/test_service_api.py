"""The running service's JSON API: a token from the CLI opens it, nothing else does."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.e2e.harness import Pbx

pytestmark = pytest.mark.e2e


def _get(pbx: Pbx, path: str, token: str | None) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{pbx.http_port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - http://127.0.0.1
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_case_api_of_the_running_service_needs_a_token(pbx: Pbx) -> None:
    out = pbx.cug("api", "token", "create", "e2e-district-office").stdout
    token = next(word for word in out.split() if word.startswith("cug_"))
    assert _get(pbx, "/api/v1/cases", None)[0] == 401
    assert _get(pbx, "/api/v1/cases", "cug_not-a-real-token")[0] == 401
    status, body = _get(pbx, "/api/v1/cases", token)
    assert status == 200
    assert isinstance(body, dict)
    pbx.cug("api", "token", "revoke", "e2e-district-office")
    assert _get(pbx, "/api/v1/cases", token)[0] == 401
