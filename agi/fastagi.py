"""A FastAGI server on panoramisk that survives hostile or broken peers.

panoramisk 1.4 reads the AGI headers in a loop that never yields when the peer closes early,
which freezes the event loop; this handler reads them with a size and time limit instead.
Values sent back are stripped of line breaks, so no value can become a second AGI command.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable

from panoramisk.fast_agi import Application, Request

from agi.variables import SETTABLE

log = logging.getLogger(__name__)

HEADER_TIMEOUT = 2.0
COMMAND_TIMEOUT = 2.0
MAX_HEADER_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Handler = Callable[["AgiCall"], Awaitable[None]]


def agi_quote(value: str) -> str:
    """A value as one quoted AGI argument: no line breaks, quotes and backslashes escaped."""
    text = _CONTROL.sub(" ", str(value))
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


class ChannelGone(Exception):
    """Asterisk closed the AGI session (the caller hung up) before the answer was complete."""


_HEADER_KEY = re.compile(r"^agi_[a-z0-9_]+$")


class AgiCall:
    """One FastAGI request: its headers and arguments, and a safe way to set variables."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.headers: dict[str, str] = dict(request.headers)

    def arg(self, n: int) -> str:
        return self.headers.get(f"agi_arg_{n}", "")

    async def _command(self, command: str) -> dict:
        try:
            result = await asyncio.wait_for(
                self.request.send_command(command), timeout=COMMAND_TIMEOUT
            )
        except ValueError:  # panoramisk cannot parse the empty line of a closed session
            raise ChannelGone() from None
        except ConnectionError as exc:
            raise ChannelGone() from exc
        if result.get("error") == "AGIResultHangup":
            raise ChannelGone()
        return result

    async def set_variable(self, name: str, value: str) -> None:
        if name not in SETTABLE:
            raise ValueError(f"refusing to set unknown variable {name!r}")
        result = await self._command(f"SET VARIABLE {name} {agi_quote(value)}")
        if result.get("status_code") not in (200, "200"):
            log.warning("SET VARIABLE %s answered %r", name, result)


class FastAgiServer(Application):
    """panoramisk's router with a header reader that cannot hang the loop."""

    def __init__(self) -> None:
        super().__init__()
        self.served = 0
        # Told (route, seconds) for every request answered: the service's metrics.
        self.observe: Callable[[str, float], None] = lambda route, seconds: None

    def route(self, path: str, handler: Handler) -> None:
        async def endpoint(request: Request) -> None:
            await handler(AgiCall(request))

        self.add_route(path, endpoint)

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\n\n"), timeout=HEADER_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
            log.warning("FastAGI peer %r sent no complete headers (%s)", peer, type(exc).__name__)
            writer.close()
            return
        except ConnectionError:
            writer.close()
            return
        headers: dict[str, str] = {}
        # Lines end in "\n" only: str.splitlines() would also split on characters a caller
        # can put in a caller ID name (U+2028, U+0085, \x1c...), making a header of their own.
        for line in raw.decode(self.default_encoding, "replace").split("\n"):
            line = line.removesuffix("\r")
            if not line:
                continue
            key, sep, value = line.partition(": ")
            if not sep or not _HEADER_KEY.match(key) or key in headers:
                # Only a value smuggled into the request (a line break in a caller ID) makes
                # a line that is no header or a header twice: answer nothing, the dialplan
                # then refuses or falls back safely.
                log.warning("malformed FastAGI request from %r refused: %r", peer, line[:80])
                writer.close()
                return
            headers[key] = value
        script = headers.get("agi_network_script", "").split("?", 1)[0]
        route = self._route.get(script)
        if route is None:
            log.error("FastAGI request for unknown route %r from %r", script[:80], peer)
            writer.close()
            return
        request = Request(
            app=self, headers=headers, reader=reader, writer=writer, encoding=self.default_encoding
        )
        started = time.perf_counter()
        try:
            await route(request)
            self.served += 1
            self.observe(script, time.perf_counter() - started)
        except ChannelGone:
            log.info("caller hung up during FastAGI route %r", script)
        except Exception:
            log.exception("FastAGI route %r failed", script)
        finally:
            writer.close()

    async def start(self, host: str, port: int) -> asyncio.AbstractServer:
        return await asyncio.start_server(
            self.handler, host, port, limit=MAX_HEADER_BYTES, backlog=512
        )
