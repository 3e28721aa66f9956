"""FastAGI answers for calls to conference bridges: a short code of kind `bridge` (a standing
bridge), and the PIN a member of another district keys in (route `bridge-pin`).

The answer is one CUG_ROUTE, as for every call (agi/call_plan.py):

    bridge|<cdr tags>|<conference>|<user profile>|<menu>|<max members>|<who>|<full tags>
    bridgepin|<cdr tags>|<bridge id>
    refuse|<reason>|<cdr tags>

`<conference>` is the ConfBridge name (cug-bridge-<id>, cug-case-<case>), `<who>` the member's
id, and the inviter's after a `-` for someone called in: the dialplan puts it in the channel
variable CUG_CONF_MEMBER, which AMI's Confbridge events carry (manager.conf channelvars), so
the contact log knows who joined. `<full tags>`: the CDR tags of the call when the bridge is
full (a refusal, conference_full; the dialplan counts those waiting for the leader too).
Every value is the service's own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from agi import variables as v
from agi.call_plan import refuse_route
from agi.call_tags import CallTags, encode
from agi.case_conferences import conference_name, start_case_conference, starter_leads
from agi.contact_log import CONFERENCE_KIND
from agi.fastagi import AgiCall
from directory.bridges import BridgeStore
from directory.conferences import ConferenceStore
from directory.lookup import Directory
from directory.model import Member, ShortCode
from routing.bridges import (
    BRIDGE_PREFIX,
    CASE_PREFIX,
    DISTRICT_BRIDGE_KIND,
    TEAM_BRIDGE_KIND,
    Admission,
    Bridge,
    BridgeRefusal,
    Seat,
    admit,
    is_leader,
    profile,
    team_leader,
)
from routing.case_conference import ConferenceRefusal
from routing.case_link import KeyedCase

log = logging.getLogger(__name__)


# Set by the trunk's routes (agi/trunk_calls.py) for the call being routed when the caller
# is known by their caller ID alone (cug.ini [callbacks] dial_in_pin off): a caller ID can be
# forged, so such a call never gets a leader's seat (it joins a bridge as a member) and never
# starts or joins a case conference. A context variable: each FastAGI call runs in a task of
# its own, and the call routing between the two (agi/call_routing.py) need not carry it.
CALLER_ID_ONLY: ContextVar[bool] = ContextVar("caller_id_only", default=False)
NEEDS_PIN = "conference_needs_pin"  # a case conference from a caller known by caller ID alone


@dataclass(frozen=True)
class PinPolicy:
    attempts: int = 3  # wrong PINs in a row before a caller is locked out
    lock_minutes: int = 15


def join_route(
    caller: Member, conference: str, user: str, menu: str, max_members: int, who: str
) -> str:
    """The route into `conference` for `caller` (see above)."""
    tags = conference_tags(caller.id, conference)
    full = encode(CallTags(dialed=conference, caller_id=caller.id, refusal=FULL))
    return f"{v.ACTION_BRIDGE}|{tags}|{conference}|{user}|{menu}|{max_members}|{who}|{full}"


def conference_tags(member_id: int, conference: str, invited_by: int | None = None) -> str:
    """The CDR tags of a member's call into a conference: the contact log takes each
    participation from Asterisk's Confbridge events and this call's CDR (kind conference)."""
    return encode(
        CallTags(dialed=conference, caller_id=member_id, callee_id=invited_by, kind=CONFERENCE_KIND)
    )


def pin_tags(caller: Member, dialed: str) -> str:
    """The tags of a call waiting for its PIN: not (yet) a participation."""
    return encode(CallTags(dialed=dialed, caller_id=caller.id, kind=f"{CONFERENCE_KIND}-pin"))


def _refused(caller: Member, dialed: str, reason: str) -> str:
    tags = encode(CallTags(dialed=dialed, caller_id=caller.id, refusal=reason))
    return refuse_route(reason, tags)


FULL = "conference_full"  # a member over the bridge's limit (those waiting count)
ALREADY_CALLED = "already_called"  # an invitation of someone in it or being called into it
CASE_CONFERENCE_MAX = 20  # members in one case conference (its leaders always get in)


class BridgeRoutes:
    def __init__(self, directory: Directory, pins: PinPolicy | None = None) -> None:
        self.directory = directory
        self.bridges = BridgeStore(directory.db)
        self.conferences = ConferenceStore(directory.db)
        self.pins = pins or PinPolicy()
        self.calls_requested: Callable[[], None] = lambda: None  # the service's wake-up

    def case_conference(self, caller: Member, code: ShortCode, keyed: KeyedCase | None) -> str:
        """`*<case>*<code>` by a leader: they join the case's conference as its leader while
        the service calls the others in; refused (spoken, logged) with nobody called."""
        reason: ConferenceRefusal | None = ConferenceRefusal.NO_CASE
        name, calls = "", []
        leads = True
        if CALLER_ID_ONLY.get():
            log.warning("case conference from %s by caller ID alone refused", caller.extension)
            return _refused(caller, code.code, NEEDS_PIN)
        if keyed is not None and keyed.number is not None:
            # Asked before starting: whoever dials a conference someone else leads joins it
            # as a member (their own start is recorded as leading it).
            leads = starter_leads(self.directory, conference_name(str(keyed.number)), caller)
            name, calls, reason = start_case_conference(
                self.directory,
                keyed.number,
                caller,
                f"member:{caller.extension}",
                starter_is_leader=leads,
            )
        if reason is not None:
            log.info("case conference from %s refused: %s", caller.extension, reason.value)
            return _refused(caller, code.code, reason.value)
        log.info("%s starts %s: %d people called in", caller.extension, name, len(calls))
        if calls:
            self.calls_requested()
        user, menu = profile(Seat.LEADER if leads else Seat.MEMBER, True)
        return join_route(caller, name, user, menu, CASE_CONFERENCE_MAX, str(caller.id))

    def route(self, caller: Member, code: ShortCode) -> str:
        """The route for an active member's call to a bridge short code: an admin's bridge,
        or the caller's own district's or team's."""
        if code.kind == DISTRICT_BRIDGE_KIND:
            bridge: Bridge | None = self.bridges.district_bridge(caller.district)
        elif code.kind == TEAM_BRIDGE_KIND:
            supervisor = (
                self.directory.member(caller.supervisor_id)
                if caller.supervisor_id is not None
                else None
            )
            leader = team_leader(caller, supervisor)
            if leader is None:
                return self._answer(
                    caller, code.code, None, Admission(refusal=BridgeRefusal.NO_TEAM)
                )
            bridge = self.bridges.team_bridge(leader)
        else:
            bridge = self.bridges.get(code.bridge_id) if code.bridge_id is not None else None
        locked = self.bridges.pin_locked(caller.id)
        admission = admit(caller, bridge, locked)
        if admission.seat is Seat.LEADER and CALLER_ID_ONLY.get():
            log.warning("bridge call from %s by caller ID alone: a member's seat", caller.extension)
            admission = Admission(seat=Seat.MEMBER)
        return self._answer(caller, code.code, bridge, admission)

    def _answer(
        self, caller: Member, dialed: str, bridge: Bridge | None, admission: Admission
    ) -> str:
        if admission.refusal is not None or bridge is None:
            reason = (admission.refusal or BridgeRefusal.NO_BRIDGE).value
            log.info("bridge call from %s to %s refused: %s", caller.extension, dialed, reason)
            return _refused(caller, dialed, reason)
        if admission.needs_pin:
            log.info("bridge %d: %s asked for the PIN", bridge.id, caller.extension)
            return f"{v.ACTION_BRIDGE_PIN}|{pin_tags(caller, dialed)}|{bridge.id}"
        assert admission.seat is not None
        log.info("bridge %d: %s joins as %s", bridge.id, caller.extension, admission.seat.value)
        user, menu = profile(admission.seat, bridge.ends_with_leader)
        return join_route(caller, bridge.conference, user, menu, bridge.max_members, str(caller.id))

    async def bridge_pin(self, call: AgiCall) -> None:
        """A member keyed in a bridge's PIN: arg 1 the endpoint, 2 the bridge id, 3 the PIN
        (digits). Right: the join route; wrong: ask again; too many wrong: refused."""
        endpoint, bridge_arg, pin = call.arg(1), call.arg(2), call.arg(3)
        caller = self.directory.member_by_extension(endpoint) if endpoint else None
        bridge = self.bridges.get(int(bridge_arg)) if bridge_arg.isdigit() else None
        if caller is None or not caller.active or bridge is None:
            log.warning("bridge PIN from %r for %r refused", endpoint[:20], bridge_arg[:20])
            reason = "unknown_caller" if caller is None or not caller.active else "no_bridge"
            await call.set_variable(v.ROUTE, refuse_route(reason, ""))
            return
        dialed = f"{BRIDGE_PREFIX}{bridge.id}"
        checked = self.bridges.check_pin(
            bridge.id, caller.id, pin, self.pins.attempts, self.pins.lock_minutes
        )
        if checked is None:
            log.warning("bridge %d: %s locked out after wrong PINs", bridge.id, caller.extension)
            route = _refused(caller, dialed, BridgeRefusal.PIN_LOCKED.value)
        elif checked:
            route = self._answer(caller, dialed, bridge, Admission(seat=Seat.MEMBER))
        else:
            log.info("bridge %d: wrong PIN from %s", bridge.id, caller.extension)
            route = f"{v.ACTION_BRIDGE_PIN}|{pin_tags(caller, dialed)}|{bridge.id}"
        await call.set_variable(v.ROUTE, route)

    async def conference_invite(self, call: AgiCall) -> None:
        """A leader in a conference keyed in an extension (leader menu, 0): arg 1 the
        leader's member id (CUG_CONF_MEMBER), 2 the conference, 3 the extension. The
        service calls that member in, announced like a pull-in."""
        who, conference, dialed = call.arg(1).split("-")[0], call.arg(2), call.arg(3)
        await call.set_variable(v.ROUTE, self.invite(who, conference, dialed))

    def invite(self, who: str, conference: str, extension: str) -> str:
        leader = self.directory.member(int(who)) if who.isdigit() else None
        invitee = self.directory.member_by_extension(extension) if extension.isdigit() else None
        reason = self._invite_refusal(leader, conference, invitee)
        if reason:
            log.info("invitation into %r refused: %s", conference[:40], reason)
            return refuse_route(reason, "")
        assert leader is not None and invitee is not None
        running = self.conferences.running(conference)
        case_id = (
            int(conference.removeprefix(CASE_PREFIX))
            if conference.startswith(CASE_PREFIX)
            else None
        )
        lead_id = running[1] if running else leader.id
        _, calls, _ = self.conferences.start(
            conference,
            case_id,
            f"member:{leader.extension}",
            lead_id,
            [(invitee.id, False)],
            leader.id,
        )
        if not calls:
            # In it already, or being called: no call is made, and the leader hears so.
            log.info("%s is already in %s or called into it", invitee.extension, conference)
            return refuse_route(ALREADY_CALLED, "")
        self.calls_requested()
        log.info("%s invites %s into %s", leader.extension, invitee.extension, conference)
        return v.ACTION_INVITED

    def _invite_refusal(
        self, leader: Member | None, conference: str, invitee: Member | None
    ) -> str:
        if leader is None or not leader.active:
            return "unknown_caller"
        if invitee is None:
            return "not_a_member"
        if not invitee.active:
            return "inactive_member"
        if invitee.id == leader.id:
            return "self"
        if conference.startswith(CASE_PREFIX):
            running = self.conferences.running(conference)
            if running is None or running[1] != leader.id:
                return "not_the_leader"
            return ""
        bridge_id = conference.removeprefix(BRIDGE_PREFIX)
        bridge = self.bridges.get(int(bridge_id)) if bridge_id.isdigit() else None
        if bridge is None or not is_leader(leader, bridge):
            return "not_the_leader"
        return ""
