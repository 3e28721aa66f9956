"""`cug api get|post PATH`: the JSON API of a running service (this machine's or another's,
through its reverse proxy), from the command line, with a token (`CUG_API_TOKEN`; a token of
an admin account acts with that account's scope). Answers are printed as JSON; a refusal
prints its reasons and exits 1.

`cug --remote URL [--token T] directory list|show|add` works the same way: through the JSON
API of the service at URL, in the token's scope, instead of on this machine's directory
(REMOTE_COMMANDS are the commands that can; the others refuse rather than run locally)."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click

from cug.settings import Settings

TIMEOUT = 30
PAGE = 200  # members a request (the API's most)
REMOTE_KEY = "cug.remote"
# What `cug --remote URL` can do, by command group.
REMOTE_COMMANDS = {"directory": {"list", "show", "add"}, "api": {"get", "post"}}


@dataclass(frozen=True)
class Remote:
    """The service `cug --remote` works on: its API's URL (…/api) and the token."""

    base: str
    token: str


def start_remote(ctx: click.Context, url: str, token: str | None) -> None:
    """Remember `--remote URL` (the site's or the API's URL) for the commands that follow."""
    base = url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise click.UsageError(f"--remote needs an http(s) URL, not {base[:80]!r}")
    check_url(base)
    if not (token or "").strip():
        raise click.UsageError("--remote needs a token: --token or CUG_API_TOKEN")
    if not base.endswith("/api"):
        base += "/api"
    ctx.meta[REMOTE_KEY] = Remote(base, (token or "").strip())


def remote_of(ctx: click.Context | None = None) -> Remote | None:
    return (ctx or click.get_current_context()).meta.get(REMOTE_KEY)


def refuse_local(ctx: click.Context, group: str) -> None:
    """In a group's callback: with --remote, a command that cannot work remotely stops here
    (it would otherwise change this machine's directory, not the remote one)."""
    if remote_of(ctx) is None or ctx.invoked_subcommand is None:
        return
    if ctx.invoked_subcommand not in REMOTE_COMMANDS.get(group, set()):
        can = ", ".join(f"{g} {'|'.join(sorted(c))}" for g, c in REMOTE_COMMANDS.items())
        raise click.UsageError(
            f"`{group} {ctx.invoked_subcommand}` does not work with --remote (these do: {can})"
        )


def _base(s: Settings, url: str | None) -> str:
    remote = remote_of()
    if url is None and remote is not None:
        return remote.base
    return (url or f"http://127.0.0.1:{s.http_port}/api").rstrip("/")


def _token() -> str:
    remote = remote_of()
    token = remote.token if remote else os.environ.get("CUG_API_TOKEN", "").strip()
    if not token:
        raise click.ClickException("set CUG_API_TOKEN to an API token (`cug api token create`)")
    return token


def remote_call(remote: Remote, method: str, path: str, body: Any = None) -> Any:
    """One request to the remote API; its answer, or the refusal's reasons as the error."""
    status, answer = call(remote.base, method, path, remote.token, body)
    if status >= 400:
        raise click.ClickException(_refusal(status, answer))
    return answer


_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """The token is never sent on to wherever a redirect points: a redirect is an error."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def check_url(base: str) -> None:
    """An API URL the token may go to: https, or plain http only to this machine (the token
    may act as an admin and answers carry SIP passwords)."""
    parts = urllib.parse.urlsplit(base)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return
    raise click.ClickException(
        f"refusing {base[:80]!r}: the token goes only over https, or plain http to this machine"
    )


def call(base: str, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    """One request; (status, decoded JSON answer)."""
    if not path.startswith("/"):
        path = "/" + path
    check_url(base)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)  # noqa: S310
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            raise click.ClickException(
                f"{base} answered with a redirect ({exc.code}), not followed: the token is "
                "not sent on; give the URL it names with --remote"
            ) from None
        text = exc.read()
        try:
            return exc.code, json.loads(text or b"null")
        except ValueError:
            return exc.code, {"error": text.decode("utf-8", "replace")[:200]}
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach {base}: {exc.reason}") from None


def _refusal(status: int, answer: Any) -> str:
    reasons = answer.get("reasons", []) if isinstance(answer, dict) else []
    return f"refused ({status}): " + "; ".join(reasons or [str(answer)])


def _show(status: int, answer: Any) -> None:
    if status >= 400:
        click.echo(_refusal(status, answer), err=True)
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


def remote_members(
    remote: Remote, district: str | None, role: str | None, include_inactive: bool
) -> Iterator[dict[str, Any]]:
    """Every member the token sees (as `cug directory list` filters them), page by page."""
    query = {"active": "all" if include_inactive else "yes", "limit": str(PAGE)}
    query |= {k: v for k, v in (("district", district), ("role", role)) if v}
    offset = 0
    while True:
        page = remote_call(
            remote, "GET", "/v1/members?" + urllib.parse.urlencode({**query, "offset": offset})
        )
        yield from page["members"]
        offset += len(page["members"])
        if not page["members"] or offset >= page["total"]:
            return
