"""Calling people into a conference (a case conference's pull-in, an invitation): AMI
Originate of a cug-leg Local channel into cug-conference-join.

cug-leg rings the member's registered SIP phones, else their mobile over the trunk; whoever
answers hears who calls them in and into which case ("call from 3001, you are entering
conference number 12") and must press 1 (cug-confirm): a voicemail box never joins. Only
then is the Originate answered and the member put into the conference. Someone who does not
take the call is tried once more after `retry_after` seconds, then logged (a contact of kind
conference, no_answer) and reported to the leader by text; the conference goes on.

A conference whose leader is called (started from the CLI or the API) calls the others only
once the leader took their call (directory/conferences.py); a leader not reached means
nobody else is called (each logged, the leader told). Someone who takes a call into a
conference that has no leader any more (the leader hung up while they were rung) is told so
and the call ends (cug-conference-join): a call the service reports through
`conference-turned-away`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import sqlite_utils

from agi.ami import FAILED_ORIGINATE, NOT_KNOWN, AmiLink, originate
from agi.bridge_routes import FULL, conference_tags
from agi.call_plan import encode_name
from agi.call_tags import CallTags, encode
from agi.conference_log import CONFERENCE_NAME
from agi.contact_log import TURNED_AWAY_PREFIX, ContactLog, participation_contact
from agi.fastagi import AgiCall
from agi.variables import CONTEXT_CONFERENCE_JOIN, CONTEXT_LEG
from directory.audit import now
from directory.bridges import BridgeStore
from directory.conferences import ConferenceCall, ConferenceStore
from directory.lookup import Directory
from directory.model import Member
from routing.bridges import BRIDGE_PREFIX, Bridge, Seat, profile
from routing.case_conference import ConferenceRefusal

log = logging.getLogger(__name__)

ACTION_PREFIX = "cug-conference-"
MAX_MEMBERS = 20
NO_LEADER = ConferenceRefusal.NO_LEADER.value
ENDED = "conference_ended"  # taken when its leader had gone: told so, not put in


def originate_action(
    call: ConferenceCall,
    member: Member,
    leader: Member | None,
    mobile: str,
    ring_seconds: int,
    answer_seconds: int,
    attempt: int,
    bridge: Bridge | None = None,
) -> dict[str, str | list[str]]:
    """The Originate for one try of `call` (every value the service's own). `bridge`: the
    standing bridge it calls into (its user profile, --stays or not, and member limit)."""
    inviter = call.invited_by or (leader.id if leader else None)
    who = f"{member.id}-{call.invited_by}" if call.invited_by else str(member.id)
    shown = leader.extension if leader else "0"
    name = encode_name(leader.name if leader else "")
    leg_tags = encode(
        CallTags(dialed=call.bridge, caller_id=inviter, callee_id=member.id, case_id=call.case_id)
    )
    seat = Seat.LEADER if call.leader else Seat.MEMBER
    user, menu = profile(seat, bridge.ends_with_leader if bridge else True)
    return {
        "Action": "Originate",
        "Channel": f"Local/{member.extension}-{mobile}-c-1@{CONTEXT_LEG}/n",
        "Context": CONTEXT_CONFERENCE_JOIN,
        "Exten": "s",
        "Priority": "1",
        "Timeout": str((ring_seconds + answer_seconds) * 1000),
        "CallerID": f'"CUG conference" <{shown}>',
        "Async": "true",
        "Variable": [
            f"__CUG_CALL={shown}:{call.case_id or 0}:0:{name}",
            f"__CUG_TAGS={leg_tags}",
            f"__CUG_RING={ring_seconds}",
            f"__CUG_CONF={call.bridge}",
            f"CUG_CONF_MEMBER={who}",
            f"CUG_CONF_TAGS={conference_tags(member.id, call.bridge, call.invited_by)}",
            f"CUG_CONF_PROFILE={user}",
            f"CUG_CONF_MENU={menu}",
            f"CUG_CONF_MAX={bridge.max_members if bridge else MAX_MEMBERS}",
        ],
        "ActionID": f"{ACTION_PREFIX}{call.id}-{attempt}",
    }


def unjoined_contact(
    call: ConferenceCall, member_id: int, outcome: str, **fields: str
) -> dict[str, object]:
    """The contact of a call into a conference that put nobody in it (not answered, or
    never placed): `outcome` and the other `fields` as given."""
    row = participation_contact(
        f"call-{call.id}",
        member_id=member_id,
        conference=call.bridge,
        invited_by=call.invited_by,
        joined_at=None,
    )
    row.update(placed_at=call.requested_at, answered_at=None, ended_at=now(), outcome=outcome)
    row.update(fields)
    return row


class ConferenceCalls:
    def __init__(
        self,
        db: sqlite_utils.Database,
        ami: AmiLink,
        contacts: ContactLog,
        notify: Callable[[int, str], None] | None,
        ring_seconds: int,
        answer_seconds: int,
        trunk: bool,
        retry_after: float = 5.0,
    ) -> None:
        self.store = ConferenceStore(db)
        self.directory = Directory(db)
        self.bridges = BridgeStore(db)
        self.ami = ami
        self.contacts = contacts
        self.notify = notify
        self.ring_seconds = ring_seconds
        self.answer_seconds = answer_seconds
        self.trunk = trunk
        self.retry_after = retry_after
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.placed = 0

    def wake(self) -> None:
        self._wake.set()

    def on_end(self, event: dict[str, str]) -> None:
        """AMI ConfbridgeEnd: the conference is over; a new start makes a new one."""
        name = event.get("Conference", "")
        if name.startswith("cug-") and self.store.end(name[:40]):
            log.info("conference %s ended", name[:40])

    async def run(self, interval: float = 0.5) -> None:
        abandoned = self.store.abandon_calling()
        if abandoned:
            log.warning("%d conference calls were being placed when the service stopped", abandoned)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()
            if not self.ami.up:
                continue
            try:
                self._leader_not_reached(self.store.drop_leaderless())
                for call in self.store.claim_due():
                    task = asyncio.create_task(self._call(call))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:
                log.exception("conference calls failed; will retry")

    async def _call(self, call: ConferenceCall) -> None:
        member = self.directory.member(call.member_id)
        leader = self.directory.member(call.leader_member_id) if call.leader_member_id else None
        if member is None or not member.active:
            self.store.settle(call.id, "failed")
            return
        mobile = member.phone if self.trunk else ""
        bridge_id = call.bridge.removeprefix(BRIDGE_PREFIX)
        bridge = self.bridges.get(int(bridge_id)) if bridge_id.isdigit() else None
        outcomes: list[str] = []
        for attempt in (1, 2):
            if attempt == 2:
                await asyncio.sleep(self.retry_after)
                if self.store.running(call.bridge) is None:
                    log.info(
                        "conference %s ended before the retry of %s", call.bridge, member.extension
                    )
                    break
            action = originate_action(
                call,
                member,
                leader,
                mobile,
                self.ring_seconds,
                self.answer_seconds,
                attempt,
                bridge,
            )
            log.info("conference %s: calling %s (try %d)", call.bridge, member.extension, attempt)
            self.placed += 1
            answer = await originate(
                self.ami,
                action,
                self.ring_seconds + self.answer_seconds,  # type: ignore[arg-type]
                lost=NOT_KNOWN,
            )
            if answer.get("Response") == "Success":
                self.store.tried(call.id, "answered")
                self.store.settle(call.id, "answered")
                return
            if answer is NOT_KNOWN or not answer:
                # The AMI link dropped while the call rang (no OriginateResponse came, or
                # none in time): they may have taken it. Not a no-answer, and not tried again
                # (they may be in the conference).
                self.store.tried(call.id, "unknown")
                outcomes.append("unknown/link")
                break
            # A cug-leg channel that was not taken ends the same way for Asterisk whether the
            # phone rang out, was declined or could not be reached (OriginateResponse Reason
            # 0): all are "did not answer"; busy (5) is told apart, the raw reason kept.
            outcome = "failed" if answer is FAILED_ORIGINATE else "no_answer"
            if answer.get("Reason") == "5":
                outcome = "busy"
            self.store.tried(call.id, outcome)
            outcomes.append(f"{outcome}/r{answer.get('Reason', '-')[:2]}")
        self._not_reached(call, member, outcomes)

    async def turned_away(self, call: AgiCall) -> None:
        """FastAGI `conference-turned-away`: arg 1 CUG_CONF_MEMBER (<member>-<inviter>), 2 the
        conference, 3 the channel's unique id, 4 why: `ended`, they took the call when it had
        no leader any more (the leader hung up while they were rung), or `full`, it was at
        its member limit. They heard so and the call ended. Logged as a refused contact
        (conference_ended, conference_full) instead of a participation."""
        who, conference = call.arg(1), call.arg(2)
        member, _, inviter = who.partition("-")
        if not member.isdigit() or not CONFERENCE_NAME.match(conference):
            log.warning("conference turned-away report for %r refused", conference[:40])
            return
        invited_by = int(inviter) if inviter.isdigit() else None
        requested = self.store.turned_away(conference, int(member))
        row = participation_contact(
            f"{TURNED_AWAY_PREFIX}{call.arg(3) or now()}"[:60],
            member_id=int(member),
            conference=conference,
            invited_by=invited_by,
            joined_at=None,
        )
        at = now()
        refusal = FULL if call.arg(4) == "full" else ENDED
        # Placed when the call was asked for (within the conference's time, so the case's
        # conference line names them), taken and ended now.
        row.update(
            placed_at=requested or at,
            answered_at=at,
            ended_at=at,
            outcome="refused",
            refusal=refusal,
        )
        self.contacts.write_rows([row])
        log.info("conference %s: member %s turned away (%s)", conference, member, refusal)

    def _leader_not_reached(self, dropped: list[ConferenceCall]) -> None:
        """The leader was called and not reached: the others, held back until a leader
        answered, are not called (nobody waits for a leader who is not coming). Each is
        logged (refused, conference_no_leader) and the leader is told by text."""
        if not dropped:
            return
        self.contacts.write_rows(
            [unjoined_contact(c, c.member_id, "refused", refusal=NO_LEADER) for c in dropped]
        )
        for bridge in sorted({c.bridge for c in dropped}):
            calls = [c for c in dropped if c.bridge == bridge]
            log.warning(
                "conference %s: its leader was not reached; %d others not called",
                bridge,
                len(calls),
            )
            # Whoever dialed it themselves meanwhile waits for that leader: they are let go
            # (ConfBridge tells them they were removed) rather than kept on hold music.
            task = asyncio.create_task(self._let_go(bridge))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            lead = calls[0].leader_member_id
            if self.notify is not None and lead:
                case = f" on case {calls[0].case_id}" if calls[0].case_id else ""
                self.notify(
                    lead,
                    f"You did not take the call to lead the conference{case}, so nobody else "
                    f"was called ({len(calls)} people). Start it again when you can lead it.",
                )

    async def _let_go(self, bridge: str) -> None:
        try:
            await self.ami.action(
                {"Action": "ConfbridgeKick", "Conference": bridge, "Channel": "participants"}
            )
        except Exception as exc:  # nobody in it (an error answer), or the link is down
            log.info("conference %s: nobody let go (%s)", bridge, exc)

    def _not_reached(self, call: ConferenceCall, member: Member, outcomes: list[str]) -> None:
        """Logged with how each try ended; a phone that rang out on any try did not answer."""
        plain = [o.split("/")[0] for o in outcomes]
        outcome = next((o for o in ("no_answer", "busy") if o in plain), "failed")
        if plain and plain[-1] == "unknown":
            outcome = "unknown"  # how the last try went is not known (the AMI link dropped)
        self.store.settle(call.id, "unknown" if outcome == "unknown" else "no_answer")
        row = unjoined_contact(call, member.id, outcome, link_note="tries:" + ",".join(outcomes))
        self.contacts.write_rows([row])
        log.info("conference %s: %s not reached (%s)", call.bridge, member.extension, outcome)
        lead = call.invited_by or call.leader_member_id
        if self.notify is not None and lead and lead != member.id:
            case = f" on case {call.case_id}" if call.case_id else ""
            if outcome == "unknown":
                text = (
                    f"It is not known whether {member.name} ({member.extension}) took the call "
                    f"into the conference{case}: the link to the phone system was lost."
                )
            else:
                text = (
                    f"{member.name} ({member.extension}) did not answer the call into the "
                    f"conference{case}; tried twice. The conference goes on without them."
                )
            self.notify(lead, text)
