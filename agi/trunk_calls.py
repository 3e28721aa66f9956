"""FastAGI routes for calls in over the trunk: members on their mobiles.

A call to the callback number is a flash: never answered (cug-flash), called back when it
ends (agi/callbacks.py). A call to the CUG's own number from a member's caller ID gets the
prompt at once (direct dial-in); on a trunk whose caller IDs may be spoofed (cug.ini
[callbacks] dial_in_pin), the member first proves who they are with their PIN. A call to a
member's number or extension goes straight there. Every other caller is refused unanswered.
"""

from __future__ import annotations

import logging
import time

from agi import variables as v
from agi.bridge_routes import CALLER_ID_ONLY
from agi.call_routing import CallRoutes
from agi.fastagi import AgiCall
from directory.lookup import Directory
from directory.numbers import try_normalise
from directory.pins import PinCheck, PinStore
from routing.callbacks import CallbackPolicy
from routing.calls import identify_by_caller_id

log = logging.getLogger(__name__)

VERIFIED_FOR = 600.0  # seconds a channel that gave the right PIN stays verified
MAX_VERIFIED = 10_000  # channels remembered at once (a flood cannot grow it without bound)


class TrunkRoutes:
    """The routes `trunk-call` and `trunk-pin` of the FastAGI server."""

    def __init__(
        self,
        routes: CallRoutes,
        directory: Directory,
        own_numbers: frozenset[str],
        callback_numbers: frozenset[str],
        policy: CallbackPolicy,
        pins: PinStore,
    ) -> None:
        self.routes = routes
        self.directory = directory
        self.own_numbers = own_numbers
        self.callback_numbers = callback_numbers
        self.policy = policy
        self.pins = pins
        self._verified: dict[str, float] = {}  # channel unique id -> until (monotonic)

    async def trunk_call(self, call: AgiCall) -> None:
        """A call in over the trunk: the caller is whoever the caller ID says; arg 1 is dialed
        (empty when the gateway sent no number: the CUG's own number)."""
        caller_id = call.headers.get("agi_callerid", "")
        dialed = call.arg(1)
        who = f"trunk caller id {caller_id[:24]!r}"
        number = try_normalise(dialed) if dialed.strip() else None
        if number is not None and number in self.callback_numbers:
            ring = 0 if self.policy.reject_at_once else self.policy.flash_ring_seconds
            await call.set_variable(v.ROUTE, f"{v.ACTION_FLASH}|{ring}")
            return
        caller = identify_by_caller_id(self.directory, caller_id)
        if caller is not None and caller.active:
            if self.policy.dial_in_pin and not self._is_verified(call):
                log.info("call from %s: PIN asked", who)
                await call.set_variable(v.ROUTE, v.ACTION_PIN)
                return
            if not dialed.strip() or number in self.own_numbers:
                log.info("call from %s to the CUG number: prompt", who)
                await call.set_variable(v.ROUTE, v.ACTION_PROMPT)
                return
        # Known by the caller ID alone (no PIN asked): no leader's seat in a conference.
        trust = CALLER_ID_ONLY.set(not self._is_verified(call))
        try:
            await self.routes.route(call, caller, dialed, who)
        finally:
            CALLER_ID_ONLY.reset(trust)

    async def trunk_pin(self, call: AgiCall) -> None:
        """The PIN a member calling in entered (arg 1, digits only)."""
        caller_id = call.headers.get("agi_callerid", "")
        caller = identify_by_caller_id(self.directory, caller_id)
        if caller is None or not caller.active:
            await call.set_variable(v.ROUTE, f"{v.ACTION_REFUSE}|unknown_caller|")
            return
        result = self.pins.check(
            caller.id, call.arg(1), self.policy.pin_attempts, self.policy.pin_lock_minutes
        )
        log.info("PIN from member %s: %s", caller.extension, result.value)
        if result is PinCheck.OK:
            self._verify(call)
            await call.set_variable(v.ROUTE, v.ACTION_VERIFIED)
        elif result in (PinCheck.WRONG, PinCheck.MALFORMED):
            await call.set_variable(v.ROUTE, v.ACTION_PIN)
        else:
            await call.set_variable(v.ROUTE, f"{v.ACTION_REFUSE}|{result.value}|")

    def _is_verified(self, call: AgiCall) -> bool:
        until = self._verified.get(call.headers.get("agi_uniqueid", ""))
        return until is not None and until > time.monotonic()

    def _verify(self, call: AgiCall) -> None:
        unique = call.headers.get("agi_uniqueid", "")
        if not unique:
            return
        at = time.monotonic()
        if len(self._verified) >= MAX_VERIFIED:
            self._verified = {k: t for k, t in self._verified.items() if t > at}
        self._verified[unique] = at + VERIFIED_FOR
