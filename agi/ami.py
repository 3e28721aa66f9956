"""The AMI link: panoramisk's Manager, reconnecting by itself, with checked actions."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from panoramisk import Manager

log = logging.getLogger(__name__)

_LINE_BREAK = re.compile(r"[\r\n\x00]")
ACTION_TIMEOUT = 10.0


class AmiInjection(ValueError):
    """An AMI action value held a line break, which would have started a second action."""


def checked_action(action: dict[str, str]) -> dict[str, str]:
    for key, value in action.items():
        if _LINE_BREAK.search(key) or _LINE_BREAK.search(str(value)):
            raise AmiInjection(f"line break in AMI field {key[:30]!r}")
    return action


class AmiLink:
    """One AMI login for the service; `up` tells whether Asterisk is reachable now."""

    def __init__(self, host: str, port: int, username: str, secret: str) -> None:
        self.up = False
        self.manager = Manager(
            host=host,
            port=port,
            username=username,
            secret=secret,
            ping_delay=5,
            ping_interval=5,
            reconnect_timeout=1,
            on_login=self._on_login,
            on_disconnect=self._on_disconnect,
            events="on",
        )
        self.logins = 0
        self._listeners: list[Any] = []

    def _on_login(self, manager: Manager) -> None:
        self.up = True
        self.logins += 1
        log.info("AMI link up (login %d)", self.logins)
        for listener in self._listeners:
            asyncio.ensure_future(listener())

    def _on_disconnect(self, manager: Manager, exc: Exception | None) -> None:
        self.up = False
        log.warning("AMI link down: %s", exc)

    def on_login(self, coroutine_fn: Any) -> None:
        """Run `coroutine_fn()` after every (re)login, e.g. to push config Asterisk missed."""
        self._listeners.append(coroutine_fn)

    def on_event(self, pattern: str, handler: Any) -> None:
        """Call `handler(fields)` for each event matching `pattern`, with the event's fields as
        a plain dict of untrusted strings. A failing handler is logged; it never drops the link
        (panoramisk drops it when a plain callback raises)."""

        def callback(manager: Manager, event: Any) -> None:
            try:
                handler({str(k): str(v) for k, v in event.items()})
            except Exception:
                log.exception("AMI %s handler failed", pattern)

        self.manager.register_event(pattern, callback)

    def connect(self) -> None:
        self.manager.loop = asyncio.get_running_loop()
        self.manager.connect()

    def close(self) -> None:
        self.manager.close()

    async def action(self, action: dict[str, str], timeout: float = ACTION_TIMEOUT) -> Any:
        """Send an action; its reply (a list of messages for actions that answer in several,
        such as an asynchronous Originate and its OriginateResponse)."""
        if not self.up:
            raise ConnectionError("AMI link is down")
        future = self.manager.send_action(checked_action(action))
        return await asyncio.wait_for(future, timeout=timeout)


FAILED_ORIGINATE = {"Response": "Failure", "Reason": "1"}  # Asterisk's "failed" Reason
NOT_KNOWN = {"Response": "Unknown"}  # no answer to an Originate: the AMI link dropped


async def originate(
    ami: AmiLink,
    action: dict[str, str],
    ring_seconds: float,
    lost: dict[str, str] = FAILED_ORIGINATE,
) -> dict[str, str]:
    """Place an asynchronous Originate and wait for how it went: Asterisk's OriginateResponse
    (Response Success once answered, else Failure with a Reason), or FAILED_ORIGINATE when
    the action could not be sent or was refused. `lost`: what to answer when no answer came
    in time (the AMI link dropped while the call may ring or be taken)."""
    try:
        reply = await ami.action(action, timeout=ring_seconds + 15)
    except ConnectionError as exc:
        log.warning("%s not placed: %s", action.get("ActionID", "Originate"), exc)
        return FAILED_ORIGINATE
    except TimeoutError:
        log.warning("%s: no answer from Asterisk in time", action.get("ActionID", "Originate"))
        return lost
    for message in reply if isinstance(reply, list) else [reply]:
        if str(message.get("Event", "")) == "OriginateResponse":
            return {str(k): str(v) for k, v in message.items()}
    if not getattr(reply, "success", True):
        return FAILED_ORIGINATE
    return {}  # accepted; the OriginateResponse comes as an event of its own
