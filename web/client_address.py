"""The address of whoever is on the other end, behind a reverse proxy the install trusts.

Behind a proxy every request comes from the proxy's own address: the login limits per
address would then count every admin as one (anyone could keep them all locked out) and the
audit would record the proxy, not the admin. For the admin site and the API, a request from
a proxy listed in cug.ini ([admin_site] trusted_proxies) is taken as from the address the
proxy saw, the last hop of its X-Forwarded-For; from anyone else that header is ignored (it
is the client's to forge). Texts from the SMS gateway and /metrics keep the address the
service saw: they are served to loopback only."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)

PREFIXES = ("/admin", "/api/")


def forwarded_client(trusted: Iterable[str]) -> web.Middleware:
    proxies = frozenset(trusted)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if proxies and request.remote in proxies and request.path.startswith(PREFIXES):
            hops = request.headers.get("X-Forwarded-For", "").split(",")
            client = hops[-1].strip()
            try:
                ipaddress.ip_address(client)
            except ValueError:
                log.warning("trusted proxy %s sent no usable X-Forwarded-For", request.remote)
            else:
                request = request.clone(remote=client)
        return await handler(request)

    return middleware
