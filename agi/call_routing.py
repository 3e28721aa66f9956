"""FastAGI handlers for calls: read who and what from the channel, ask routing, set the answer."""

from __future__ import annotations

import logging
import time

from agi import variables as v
from agi.call_tags import CallTags, encode
from agi.fastagi import AgiCall
from directory.case_links import CaseLookup
from directory.lookup import Directory
from directory.model import Member
from directory.numbers import try_normalise
from routing.calls import CallRequest, Decision, Policy, identify_by_caller_id, route_call
from routing.case_link import CaseLink, link_call, split_case_prefix

log = logging.getLogger(__name__)


async def dial_strings(call: AgiCall, decision: Decision) -> tuple[str, str]:
    """The Dial() strings for the member phones and for the mobile over the trunk.

    Asterisk is asked which phones are registered right now (every contact of each
    member, so a member with two phones rings on both); a member with none registered is
    rung on their mobile over the trunk instead.
    """
    if decision.outside_number:
        return f"PJSIP/{decision.outside_number}@{v.TRUNK_ENDPOINT}", ""
    contacts = []
    for target in decision.targets:
        found = await call.get_full_variable(f"${{PJSIP_DIAL_CONTACTS({target.endpoint})}}")
        if found:
            contacts.append(found)
    mobile = ""
    if len(decision.targets) == 1 and decision.targets[0].mobile:
        mobile = f"PJSIP/{decision.targets[0].mobile}@{v.TRUNK_ENDPOINT}"
    return "&".join(contacts), mobile


class CallRoutes:
    """The routes `member-call` and `trunk-call` of the FastAGI server."""

    def __init__(self, directory: Directory, policy: Policy) -> None:
        self.directory = directory
        self.policy = policy
        self.cases = CaseLookup(directory.db)

    async def member_call(self, call: AgiCall) -> None:
        """A call from a member's SIP phone: arg 1 is the endpoint, arg 2 what was dialed."""
        endpoint, dialed = call.arg(1), call.arg(2)
        caller = self.directory.member_by_extension(endpoint) if endpoint else None
        await self._answer(call, caller, dialed, f"endpoint {endpoint[:20]!r}")

    async def trunk_call(self, call: AgiCall) -> None:
        """A call in over the trunk: the caller is whoever the caller ID says; arg 1 is dialed.

        A member who dialed the CUG's own number (or nothing yet) is asked whom to call.
        """
        caller_id = call.headers.get("agi_callerid", "")
        caller = identify_by_caller_id(self.directory, caller_id)
        dialed = call.arg(1)
        who = f"trunk caller id {caller_id[:24]!r}"
        if caller is not None and caller.active and self._is_own_number(dialed):
            log.info("call from %s to the CUG number: prompt", who)
            await call.set_variable(v.ACTION, v.ACTION_PROMPT)
            return
        await self._answer(call, caller, dialed, who)

    def _is_own_number(self, dialed: str) -> bool:
        if not dialed.strip():
            return True
        e164 = try_normalise(dialed)
        return e164 is not None and e164 in self.policy.own_numbers

    async def _answer(self, call: AgiCall, caller: Member | None, dialed: str, who: str) -> None:
        started = time.perf_counter()
        number, keyed = split_case_prefix(dialed)
        decision = route_call(self.directory, CallRequest(caller, number, self.policy))
        callee = decision.targets[0] if len(decision.targets) == 1 else None
        link = CaseLink()
        if caller is not None and caller.active:
            link = link_call(self.cases, keyed, caller.id, callee.member_id if callee else None)
        tags = CallTags(
            dialed=number[:32],
            caller_id=caller.id if caller else None,
            callee_id=callee.member_id if callee else None,
            callee_number=decision.outside_number or (callee.mobile if callee else None) or "",
            case_id=link.case_id,
            link=link.source,
            note=link.note,
            refusal=decision.refusal.value if decision.refusal else "",
            after_close=link.after_close,
        )
        await call.set_variable(v.CDR_USERFIELD, encode(tags))
        if decision.connects:
            assert caller is not None
            sip, mobile = await dial_strings(call, decision)
            await call.set_variable(v.DIAL, sip)
            await call.set_variable(v.MOBILE, mobile)
            await call.set_variable(v.LABEL, decision.label)
            await call.set_variable("CALLERID(name)", caller.name)
            await call.set_variable(v.ACTION, v.ACTION_DIAL)
        else:
            assert decision.refusal is not None
            await call.set_variable(v.REASON, decision.refusal.value)
            await call.set_variable(v.ACTION, v.ACTION_REFUSE)
        log.info(
            "call from %s to %r: %s%s (%.1f ms)",
            who,
            dialed[:32],
            "dial " + decision.label if decision.connects else f"refused: {decision.refusal}",
            f", case {link.case_id} ({link.source})" if link.case_id else "",
            (time.perf_counter() - started) * 1000,
        )
