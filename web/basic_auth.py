"""HTTP basic credentials checked in constant time, for the machine clients that cannot answer
a digest challenge (Kannel's HTTP client, Prometheus): a generated per-install secret."""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web


def basic_credentials_match(request: web.Request, username: str, secret: str) -> bool:
    """Whether the request's `Authorization: Basic` names `username` with `secret`. Both are
    compared whatever the first gives, so the time tells nothing."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not secret:
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, ValueError):
        return False
    good_user = hmac.compare_digest(user.encode(), username.encode())
    good_password = hmac.compare_digest(password.encode(), secret.encode())
    return good_user and good_password
