"""Who may join a standing conference bridge, and as what: pure decisions over plain values.

A bridge belongs to a district (and, for a supervisor's bridge, to that supervisor). Its
leader is the supervisor it belongs to, or, on a district's bridge, any supervisor of the
district: the leader joins as ConfBridge's marked admin user. Members of the district join
as participants, and so does a supervisor's own team on their team bridge; members of
another district need the bridge's PIN; a bridge without a PIN is closed to them. Non-members
never get this far (SIP digest auth, the trunk's caller ID).

Every district and every supervisor has a bridge without an admin making one: the short
codes of kind `district_bridge` ("my district's bridge") and `team_bridge` ("my team's
bridge": the caller's supervisor's, a supervisor's own) reach the caller's own, made the
first time someone dials it (`scope` district or team). An admin's bridges (kind `bridge`,
`cug conference add-bridge`) have no scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from directory.model import Member

LEADER_ROLE = "supervisor"
BRIDGE_PREFIX = "cug-bridge-"  # ConfBridge conference names: cug-bridge-<bridge id>
CASE_PREFIX = "cug-case-"  # and cug-case-<case id> for case conferences


@dataclass(frozen=True)
class Bridge:
    id: int
    label: str
    district: str
    leader_member_id: int | None
    has_pin: bool
    max_members: int
    ends_with_leader: bool
    scope: str | None = None  # DISTRICT_SCOPE or TEAM_SCOPE: the bridge every one has

    @property
    def conference(self) -> str:
        return f"{BRIDGE_PREFIX}{self.id}"


class Seat(Enum):
    """How a member joins: the ConfBridge user profile and menu they get."""

    LEADER = "leader"
    MEMBER = "member"


# Short code kinds reaching a bridge: an admin's bridge, or the caller's own district's or team's.
BRIDGE_KIND = "bridge"
DISTRICT_BRIDGE_KIND = "district_bridge"
TEAM_BRIDGE_KIND = "team_bridge"
BRIDGE_KINDS = frozenset({BRIDGE_KIND, DISTRICT_BRIDGE_KIND, TEAM_BRIDGE_KIND})
DISTRICT_SCOPE, TEAM_SCOPE = "district", "team"


class BridgeRefusal(Enum):
    NO_BRIDGE = "no_bridge"
    NO_TEAM = "bridge_no_supervisor"  # "my team's bridge" from a member with no supervisor
    OTHER_DISTRICT = "bridge_other_district"  # another district's bridge with no PIN
    PIN_LOCKED = "bridge_pin_locked"
    WRONG_PIN = "bridge_wrong_pin"


@dataclass(frozen=True)
class Admission:
    seat: Seat | None = None
    needs_pin: bool = False
    refusal: BridgeRefusal | None = None


def is_leader(member: Member, bridge: Bridge) -> bool:
    if bridge.leader_member_id is not None:
        return member.id == bridge.leader_member_id
    return member.role == LEADER_ROLE and member.district == bridge.district


def team_leader(caller: Member, supervisor: Member | None) -> Member | None:
    """Whose team bridge "my team's bridge" is for `caller`: their own as a supervisor, else
    their supervisor's (an active one); None when they have none."""
    if caller.role == LEADER_ROLE:
        return caller
    if supervisor is None or not supervisor.active:
        return None
    return supervisor


def admit(member: Member, bridge: Bridge | None, pin_locked: bool) -> Admission:
    """How `member` (an active member, checked before) may join `bridge`."""
    if bridge is None:
        return Admission(refusal=BridgeRefusal.NO_BRIDGE)
    if is_leader(member, bridge):
        return Admission(seat=Seat.LEADER)
    if member.district == bridge.district:
        return Admission(seat=Seat.MEMBER)
    if bridge.scope == TEAM_SCOPE and member.supervisor_id == bridge.leader_member_id:
        return Admission(seat=Seat.MEMBER)  # their own team's, whatever district they work in
    if not bridge.has_pin:
        return Admission(refusal=BridgeRefusal.OTHER_DISTRICT)
    if pin_locked:
        return Admission(refusal=BridgeRefusal.PIN_LOCKED)
    return Admission(needs_pin=True)


# ConfBridge profiles and menus of asterisk-conf/confbridge.conf.
BRIDGE_PROFILE = "cug-bridge"
LEADER_PROFILE = "cug-leader"
MEMBER_PROFILE = "cug-member"  # waits for the leader; leaves when the last leader leaves
MEMBER_STAYS_PROFILE = "cug-member-stays"  # waits for the leader; stays after the leader left
LEADER_MENU = "cug-leader-menu"
MEMBER_MENU = "cug-member-menu"


def profile(seat: Seat, ends_with_leader: bool) -> tuple[str, str]:
    """The ConfBridge user profile and menu for `seat`."""
    if seat is Seat.LEADER:
        return LEADER_PROFILE, LEADER_MENU
    return (MEMBER_PROFILE if ends_with_leader else MEMBER_STAYS_PROFILE), MEMBER_MENU
