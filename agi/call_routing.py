"""FastAGI handlers for calls: read who and what from the channel, ask routing, set the answer.

A call costs one AGI round trip: the whole route in one variable (agi/call_plan.py). Which
phones of a member are registered is looked up by the dialplan when it rings them, so a
phone that registers while a chain runs is still reached.
"""

from __future__ import annotations

import logging
import time

from agi import variables as v
from agi.bridge_routes import BridgeRoutes
from agi.call_plan import dial_route, refuse_route
from agi.call_tags import CallTags, encode
from agi.fastagi import AgiCall
from directory.case_links import CaseLookup
from directory.chains import ChainStore
from directory.lookup import Directory
from directory.model import Member
from routing.bridges import BRIDGE_KINDS
from routing.calls import CallRequest, Decision, Policy, route_call
from routing.case_link import CaseLink, link_call, split_case_prefix
from routing.escalation import Step, call_steps, split_urgent
from routing.versioned_cache import MembersAsOf, VersionedCache

log = logging.getLogger(__name__)


class CallRoutes:
    """The FastAGI route `member-call`, and the routing of calls that came in another way."""

    def __init__(self, directory: Directory, policy: Policy) -> None:
        self.directory = directory
        self.policy = policy
        self.cases = CaseLookup(directory.db)
        self.chains = ChainStore(directory.db)
        self.bridges = BridgeRoutes(directory)
        # Members and calls' steps, kept while no member and no chain changes
        # (routing/versioned_cache.py): one read of a counter per call.
        self.members: VersionedCache[Member | None] = VersionedCache()
        self.steps_kept: VersionedCache[tuple[Step, ...]] = VersionedCache()

    def _as_of_now(self) -> MembersAsOf:
        return MembersAsOf(self.directory, self.directory.routing_version(), self.members)

    async def member_call(self, call: AgiCall) -> None:
        """A call from a member's SIP phone: arg 1 is the endpoint, arg 2 what was dialed."""
        started = time.perf_counter()
        endpoint, dialed = call.arg(1), call.arg(2)
        directory = self._as_of_now()
        caller = directory.member_by_extension(endpoint) if endpoint else None
        await self._answer(call, directory, caller, dialed, f"endpoint {endpoint[:20]!r}", started)

    async def route(self, call: AgiCall, caller: Member | None, dialed: str, who: str) -> None:
        """Route a call from `caller` (found by whoever took the call in: a trunk's caller ID,
        a call back) to `dialed`, as from their own SIP phone."""
        await self._answer(call, self._as_of_now(), caller, dialed, who, time.perf_counter())

    async def _answer(
        self,
        call: AgiCall,
        directory: MembersAsOf,
        caller: Member | None,
        dialed: str,
        who: str,
        started: float,
    ) -> None:
        rest, urgent = split_urgent(dialed)
        number, keyed = split_case_prefix(rest)
        if caller is not None and caller.active and len(number) == 3:
            code = self.directory.short_code(number)
            if code is not None and code.kind in BRIDGE_KINDS:
                await call.set_variable(v.ROUTE, self.bridges.route(caller, code))
                return
            if code is not None and code.kind == "conference":
                await call.set_variable(v.ROUTE, self.bridges.case_conference(caller, code, keyed))
                return
        decision = route_call(directory, CallRequest(caller, number, self.policy))
        callee = decision.targets[0] if len(decision.targets) == 1 else None
        link = CaseLink()
        if caller is not None and caller.active:
            link = link_call(self.cases, keyed, caller.id, callee.member_id if callee else None)
        if link.case_id is not None and not urgent:
            urgent = self.cases.case_urgent(link.case_id)
        steps: list[Step] = []
        if decision.connects:
            assert caller is not None
            steps = self._steps(directory, caller, decision, urgent)
        tags = encode(
            CallTags(
                dialed=number[:32],
                caller_id=caller.id if caller else None,
                callee_id=callee.member_id if callee else None,
                callee_number=decision.outside_number or (callee.mobile if callee else None) or "",
                case_id=link.case_id,
                link=link.source,
                note=link.note,
                refusal=decision.refusal.value if decision.refusal else "",
                after_close=link.after_close,
                steps=len(steps) if len(steps) > 1 else None,
                urgent=urgent,
            )
        )
        if decision.connects:
            assert caller is not None
            route = dial_route(tags, caller.extension, caller.name, link.case_id, urgent, steps)
        else:
            assert decision.refusal is not None
            route = refuse_route(decision.refusal.value, tags)
        await call.set_variable(v.ROUTE, route)
        log.info(
            "call from %s to %r: %s%s%s (%.1f ms)",
            who,
            dialed[:32],
            "dial " + decision.label if decision.connects else f"refused: {decision.refusal}",
            f", {len(steps)} steps" if len(steps) > 1 else "",
            f", case {link.case_id} ({link.source})" if link.case_id else "",
            (time.perf_counter() - started) * 1000,
        )

    def _steps(
        self, directory: MembersAsOf, caller: Member, decision: Decision, urgent: bool
    ) -> list[Step]:
        """The call's escalation steps, planned once for calls alike."""
        key = (caller.id, decision.targets, decision.outside_number, urgent)
        return list(
            self.steps_kept.get(
                directory.version,
                key,
                lambda: tuple(
                    call_steps(directory, self.chains, caller, decision, self.policy, urgent)
                ),
            )
        )
