"""Who may join a standing conference bridge, and as what: pure decisions over plain values.

A bridge belongs to a district (and, for a supervisor's bridge, to that supervisor). Its
leader is the supervisor it belongs to, or, on a district's bridge, any supervisor of the
district: the leader joins as ConfBridge's marked admin user. Members of the district join
as participants; members of another district need the bridge's PIN; a bridge without a PIN
is closed to them. Non-members never get this far (SIP digest auth, the trunk's caller ID).
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

    @property
    def conference(self) -> str:
        return f"{BRIDGE_PREFIX}{self.id}"


class Seat(Enum):
    """How a member joins: the ConfBridge user profile and menu they get."""

    LEADER = "leader"
    MEMBER = "member"


class BridgeRefusal(Enum):
    NO_BRIDGE = "no_bridge"
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


def admit(member: Member, bridge: Bridge | None, pin_locked: bool) -> Admission:
    """How `member` (an active member, checked before) may join `bridge`."""
    if bridge is None:
        return Admission(refusal=BridgeRefusal.NO_BRIDGE)
    if is_leader(member, bridge):
        return Admission(seat=Seat.LEADER)
    if member.district == bridge.district:
        return Admission(seat=Seat.MEMBER)
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
