"""`cug api get|post PATH`: the JSON API of a running service (this machine's or another's,
through its reverse proxy), from the command line, with a token (`CUG_API_TOKEN`; a token of
an admin account acts with that account's scope). Answers are printed as JSON; a refusal
prints its reasons and exits 1."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click

from cug.settings import Settings

TIMEOUT = 30


def _base(s: Settings, url: str | None) -> str:
    return (url or f"http://127.0.0.1:{s.http_port}/api").rstrip("/")


def _token() -> str:
    token = os.environ.get("CUG_API_TOKEN", "").strip()
    if not token:
        raise click.ClickException("set CUG_API_TOKEN to an API token (`cug api token create`)")
    return token


def call(base: str, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    """One request; (status, decoded JSON answer)."""
    if not path.startswith("/"):
        path = "/" + path
    if not base.startswith(("http://", "https://")):
        raise click.ClickException(f"not an http(s) URL: {base[:80]}")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)  # noqa: S310
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            return exc.code, json.loads(text or b"null")
        except ValueError:
            return exc.code, {"error": text.decode("utf-8", "replace")[:200]}
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach {base}: {exc.reason}") from None


def _show(status: int, answer: Any) -> None:
    if status >= 400:
        reasons = answer.get("reasons", []) if isinstance(answer, dict) else []
        click.echo(f"refused ({status}): " + "; ".join(reasons or [str(answer)]), err=True)
        sys.exit(1)
    click.echo(json.dumps(answer, indent=2, ensure_ascii=False))


@click.command("get")
@click.argument("path")
@click.option("-q", "--query", "params", multiple=True, help="A query parameter, key=value.")
@click.option("--url", envvar="CUG_API_URL", help="The API's URL (default: this install's).")
@click.pass_obj
def get_cmd(s: Settings, path: str, params: tuple[str, ...], url: str | None) -> None:
    """GET PATH of the API, e.g. `cug api get /v1/cases -q district=Oyam`."""
    pairs = [tuple(p.split("=", 1)) for p in params]
    if any(len(p) != 2 for p in pairs):
        raise click.ClickException("a query parameter is key=value")
    query = ("?" + urllib.parse.urlencode(pairs)) if pairs else ""
    _show(*call(_base(s, url), "GET", path + query, _token()))


@click.command("post")
@click.argument("path")
@click.option("--json", "body", default="{}", help="The JSON object to send.")
@click.option("--url", envvar="CUG_API_URL", help="The API's URL (default: this install's).")
@click.pass_obj
def post_cmd(s: Settings, path: str, body: str, url: str | None) -> None:
    """POST to PATH of the API, e.g.
    `cug api post /v1/cases/12/close --json '{"reason": "..."}'`."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise click.ClickException(f"--json is not JSON: {exc}") from None
    _show(*call(_base(s, url), "POST", path, _token(), data))
