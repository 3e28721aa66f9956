"""An admin's standing bridges, checked: adding one with the short code that reaches it, and
how a bridge's leader is named. `cug conference add-bridge` and the admin site's Bridges page
(web/pages_bridges.py) both add bridges here, with the same checks.

A bridge and its short code are added together or not at all: every reason is given at once
(the bridge's values, its leader, its code) and a refused bridge changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from directory.bridges import OWN_MAX_MEMBERS, BridgeError, BridgeStore
from directory.lookup import Directory
from directory.members import reference_data
from directory.model import ShortCode
from directory.short_codes import ShortCodeStore
from directory.transactions import writing
from routing.bridges import BRIDGE_KIND, LEADER_ROLE, Bridge
from routing.short_codes import (
    ShortCodeError,
    ShortCodeValues,
    add_short_code,
    new_code_problems,
)


@dataclass(frozen=True)
class BridgeValues:
    """A new bridge as an admin gave it, before it is checked."""

    code: str  # the short code members dial for it (3 digits)
    district: str
    label: str
    leader: str = ""  # a supervisor's extension (their own bridge); "": any of the district's
    pin: str | None = None  # for members of other districts; None: closed to them
    max_members: int = OWN_MAX_MEMBERS
    ends_with_leader: bool = True


def leader_problems(
    directory: Directory, extension: str, district: str
) -> tuple[int | None, list[str]]:
    """The member id of the leader `extension` names (None for none) and why they cannot
    lead a bridge of `district`: an active supervisor of that district leads it."""
    wanted = extension.strip()
    if not wanted:
        return None, []
    found = directory.member_by_extension(wanted)
    # Of another district, nothing is said of them (not even that they exist): a district
    # admin could learn other districts' members by trying extensions.
    if (
        found is None
        or not found.active
        or found.district.casefold() != district.strip().casefold()
    ):
        return None, [
            f"no active supervisor of {district.strip()[:40]} with extension {wanted[:10]!r}"
        ]
    if found.role != LEADER_ROLE:
        who = f"{found.name} ({found.extension})"
        return found.id, [f"the leader must be a supervisor: {who} is {found.role}"]
    return found.id, []


def add_bridge(
    db: sqlite_utils.Database, values: BridgeValues, actor: str
) -> tuple[Bridge, ShortCode]:
    """Add a standing bridge and its short code (kind bridge) in one transaction, each with
    its audit row (never the PIN). Refused with every reason (BridgeError), nothing added."""
    directory, store, codes = Directory(db), BridgeStore(db), ShortCodeStore(db)
    code = values.code.strip()
    leader_id, reasons = leader_problems(directory, values.leader, values.district)
    reasons = (
        store.problems(values.label, values.district, values.pin, values.max_members)
        + reasons
        + new_code_problems(codes, directory, code)
    )
    if reasons:
        raise BridgeError(reasons)
    roles, _ = reference_data(db)
    with writing(db):  # the code's own checks (its label) refuse the bridge too
        bridge = store.add(
            values.label,
            values.district,
            leader_id,
            values.pin,
            values.max_members,
            values.ends_with_leader,
            actor,
        )
        short = ShortCodeValues(code, BRIDGE_KIND, label=values.label, bridge=str(bridge.id))
        try:
            added = add_short_code(codes, directory, roles, short, actor, frozenset({bridge.id}))
        except ShortCodeError as exc:
            raise BridgeError(exc.reasons) from None
    return bridge, added


def leader_name(directory: Directory, bridge: Bridge) -> str | None:
    """The bridge's own leader as "name (extension)"; None when any supervisor of its
    district leads it."""
    if bridge.leader_member_id is None:
        return None
    found = directory.member(bridge.leader_member_id)
    return f"{found.name} ({found.extension})" if found else "?"
