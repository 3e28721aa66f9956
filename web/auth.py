"""API tokens and the middleware that requires one on every API request.

A token is shown once, when it is created (`cug api token create`): the directory keeps only
its SHA-256, so a copy of the database gives no working token. A token may be limited to one
district (it then sees and changes only that district's cases). Revoked tokens are refused;
each use is stamped in `last_used_at`. Creating and revoking are written to the audit.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from directory import audit
from directory.admin_accounts import AdminAccount, account_by_id, get_account
from directory.case_model import rows
from directory.case_values import known_district
from directory.transactions import writing
from web.errors import ApiError

log = logging.getLogger(__name__)

TOKEN_PREFIX = "cug_"  # noqa: S105 (a marker that makes leaked tokens easy to find)
TOKEN_BYTES = 32
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# What a presented token may look like before it is hashed and looked up.
PRESENTED = re.compile(r"^[A-Za-z0-9_-]{16,256}$")

DB_KEY = web.AppKey("cug_db", sqlite_utils.Database)
TOKEN_PERMISSIONS = frozenset({"cases.read", "cases.write", "reports.read", "members.read"})


class TokenError(ValueError):
    """Why a token cannot be created or revoked; nothing was changed."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    district: str | None  # None: every district
    created_at: str
    created_by: str
    revoked_at: str | None
    last_used_at: str | None
    account_id: int | None = None  # a token of an admin account acts as that account

    @property
    def actor(self) -> str:
        """Who acts in the audit and the case history when this token is used."""
        return f"api:{self.name}"

    def sees(self, district: str | None) -> bool:
        """May this token see (and change) a case of `district`?"""
        if self.district is None:
            return True
        return (district or "").casefold() == self.district.casefold()

    # What the API asks of whoever calls it (a token, or an admin account's session).
    @property
    def scoped_districts(self) -> tuple[str, ...] | None:
        return None if self.district is None else (self.district,)

    team_scoped = False

    def sees_case(self, district: str | None, assigned_member_id: int | None) -> bool:
        return self.sees(district)

    def sees_member(self, member_id: int, district: str | None) -> bool:
        return self.sees(district)

    def can(self, permission: str) -> bool:
        """A token works on cases and figures (and reads members), as its scope allows."""
        return permission in TOKEN_PERMISSIONS

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "district": self.district,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
            "account_id": self.account_id,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ApiToken:
        return cls(
            id=row["id"],
            name=row["name"],
            district=row["district"] or None,
            created_at=row["created_at"],
            created_by=row["created_by"],
            revoked_at=row["revoked_at"] or None,
            last_used_at=row["last_used_at"] or None,
            account_id=row.get("account_id"),
        )


_COLUMNS = "id, name, district, created_at, created_by, revoked_at, last_used_at, account_id"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _subject(name: str) -> str:
    return f"api_token:{name}"


def create_token(
    db: sqlite_utils.Database,
    name: str,
    actor: str,
    district: str | None = None,
    account: str | None = None,
) -> tuple[str, ApiToken]:
    """A new token named `name` (limited to `district` if given, or acting as the admin
    `account`, with its scope and permissions): returns the token itself, which is not stored
    and cannot be shown again, and its record."""
    errors: list[str] = []
    account_id = None
    if account is not None:
        found_account = get_account(db, account)
        if found_account is None:
            errors.append(f"no admin account named {account[:64]!r}")
        else:
            account_id = found_account.id
        if district is not None:
            errors.append("a token of an admin account has the account's districts")
    name = (name or "").strip()
    if not NAME.match(name):
        errors.append(
            f"token name {name[:40]!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    elif db.execute("SELECT 1 FROM api_tokens WHERE name = ?", (name,)).fetchone():
        errors.append(f"there is already a token named {name!r} (names are never reused)")
    district_name = known_district(db, district, errors) if district is not None else None
    if not actor or not actor.strip():
        errors.append("who is acting (actor) is missing")
    if errors:
        raise TokenError(errors)
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    stamp = audit.now()
    with writing(db):
        db.table("api_tokens").insert(
            {
                "name": name,
                "token_hash": token_hash(token),
                "district": district_name,
                "created_at": stamp,
                "created_by": actor,
                "account_id": account_id,
            }
        )
        audit.record(
            db,
            actor,
            "api_token.create",
            _subject(name),
            None,
            {"name": name, "district": district_name, "account": account},
        )
    scope = f"account {account}'s scope" if account else f"district {district_name or 'all'}"
    log.info("API token %s created by %s (%s)", name, actor, scope)
    found = get_token(db, name)
    assert found is not None
    return token, found


def get_token(db: sqlite_utils.Database, name: str) -> ApiToken | None:
    found = rows(db.execute(f"SELECT {_COLUMNS} FROM api_tokens WHERE name = ?", (name,)))
    return ApiToken.from_row(found[0]) if found else None


def list_tokens(db: sqlite_utils.Database) -> list[ApiToken]:
    found = rows(db.execute(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY name"))
    return [ApiToken.from_row(row) for row in found]


def revoke_token(db: sqlite_utils.Database, name: str, actor: str) -> ApiToken:
    """Refuse the token from now on (its name stays taken, its record stays)."""
    if not actor or not actor.strip():
        raise TokenError(["who is acting (actor) is missing"])
    found = get_token(db, (name or "").strip())
    if found is None:
        raise TokenError([f"no token named {name[:64]!r}"])
    if found.revoked_at:
        raise TokenError([f"token {found.name!r} was already revoked at {found.revoked_at}"])
    stamp = audit.now()
    with writing(db):
        db.table("api_tokens").update(found.id, {"revoked_at": stamp})
        audit.record(
            db,
            actor,
            "api_token.revoke",
            _subject(found.name),
            {"revoked_at": None},
            {"revoked_at": stamp},
        )
    log.info("API token %s revoked by %s", found.name, actor)
    revoked = get_token(db, found.name)
    assert revoked is not None
    return revoked


def verify_token(db: sqlite_utils.Database, presented: str) -> ApiToken | None:
    """The live token `presented` is, or None (unknown, malformed or revoked). Looked up by its
    hash (the database never sees the token), then compared in constant time."""
    if not PRESENTED.match(presented):
        return None
    digest = token_hash(presented)
    found = rows(
        db.execute(f"SELECT {_COLUMNS}, token_hash FROM api_tokens WHERE token_hash = ?", (digest,))
    )
    if not found or not hmac.compare_digest(found[0]["token_hash"], digest):
        return None
    token = ApiToken.from_row(found[0])
    if token.revoked_at:
        log.warning("revoked API token %s presented", token.name)
        return None
    with writing(db):
        db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (audit.now(), token.id))
    return token


class FailureLog:
    """Counts failed authentications per remote address in a sliding window and logs an
    address that keeps failing (every `threshold` failures), for fail2ban or a person."""

    def __init__(self, threshold: int = 5, window: float = 600.0, max_addresses: int = 10_000):
        self.threshold = threshold
        self.window = window
        self.max_addresses = max_addresses
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def failed(self, address: str, reason: str, now: float | None = None) -> int:
        """Note one failure; returns how many there were from `address` within the window."""
        moment = time.monotonic() if now is None else now
        times = self._seen.pop(address, None) or deque()
        while times and times[0] <= moment - self.window:
            times.popleft()
        times.append(moment)
        self._seen[address] = times
        while len(self._seen) > self.max_addresses:
            self._seen.popitem(last=False)
        count = len(times)
        if count % self.threshold == 0:
            log.warning(
                "API authentication failed %d times in %ds from %s (last: %s)",
                count,
                int(self.window),
                address,
                reason,
            )
        else:
            log.info("API authentication failed from %s: %s", address, reason)
        return count


# Whoever calls the API: a token, or an admin account logged in to the site (same scope).
Principal = ApiToken | AdminAccount
TOKEN: web.RequestKey[Principal] = web.RequestKey("api_principal", object)  # type: ignore[arg-type]


def _unauthorized(reason: str, invalid: bool) -> ApiError:
    challenge = 'Bearer realm="cug"' + (', error="invalid_token"' if invalid else "")
    return ApiError(401, [reason], {"WWW-Authenticate": challenge})


def presented_token(header: str | None) -> str | None:
    """The token in an `Authorization: Bearer <token>` header, or None."""
    scheme, _, value = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def needed_permission(method: str, path: str) -> str:
    """The named permission an API request needs (paths as the API app sees them)."""
    if method not in ("GET", "HEAD"):
        return "members.write" if path.startswith("/api/v1/members") else "cases.write"
    if path.startswith("/api/v1/report"):
        return "reports.read"
    if path.startswith("/api/v1/link-suggestions"):
        return "cases.write"
    if path.startswith("/api/v1/members"):
        return "members.read"
    return "cases.read"


async def _session_principal(request: web.Request) -> AdminAccount | None:
    """The admin account whose site session cookie came with the request; a change also
    needs the session's CSRF token in the X-CSRF-Token header."""
    from web.sessions import CSRF_HEADER, STORAGE_KEY, csrf_ok, read_session, session_account

    if STORAGE_KEY not in request.config_dict:
        return None
    session = await read_session(request)
    account = session_account(request.config_dict[DB_KEY], session)
    if account is None:
        return None
    if request.method not in ("GET", "HEAD") and not csrf_ok(
        session, request.headers.get(CSRF_HEADER)
    ):
        raise ApiError(403, ["a change from a site session needs its CSRF token (X-CSRF-Token)"])
    return account


def _as_account(db: sqlite_utils.Database, token: ApiToken) -> Principal:
    """The admin account a token acts as (refused while the account is disabled), or the
    token itself."""
    if token.account_id is None:
        return token
    account = account_by_id(db, token.account_id)
    if account is None or account.disabled_at:
        log.warning("API token %s presented for a disabled account", token.name)
        raise _unauthorized("the account of this API token is disabled", True)
    return account


def auth_middleware(failures: FailureLog) -> Middleware:
    """Every request reaching the API app needs a live token or a live site session, and the
    permission its route needs; whoever it is is put on the request."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        address = request.remote or "unknown"
        presented = presented_token(request.headers.get("Authorization"))
        principal: Principal | None
        if presented is None:
            principal = await _session_principal(request)
            if principal is None:
                failures.failed(address, "no bearer token")
                raise _unauthorized("send an API token: Authorization: Bearer <token>", False)
        else:
            principal = verify_token(request.config_dict[DB_KEY], presented)
            if principal is None:
                failures.failed(address, "unknown or revoked token")
                raise _unauthorized("the API token is not valid (unknown or revoked)", True)
            principal = _as_account(request.config_dict[DB_KEY], principal)
        permission = needed_permission(request.method, request.path)
        if not principal.can(permission):
            log.info(
                "API: %s lacks %s for %s %s",
                principal.actor,
                permission,
                request.method,
                request.path,
            )
            raise ApiError(403, [f"this account may not do this ({permission})"])
        request[TOKEN] = principal
        return await handler(request)

    return authenticate


def request_token(request: web.Request) -> Principal:
    """Whoever the request was authenticated as; refuses (401) if nobody, so a handler
    reached without the middleware fails closed."""
    token = request.get(TOKEN)
    if not isinstance(token, ApiToken | AdminAccount):
        raise _unauthorized("send an API token: Authorization: Bearer <token>", False)
    return token
