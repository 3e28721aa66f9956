"""Every district and every supervisor has a bridge: "my district's bridge" (110) and "my
team's bridge" (111) reach the caller's own, made the first time it is dialed."""

from __future__ import annotations

import sqlite_utils

from agi.bridge_routes import BridgeRoutes
from directory.bridges import BridgeStore
from directory.lookup import Directory
from directory.model import Member
from directory.schema import migrations
from routing import bridges as rb
from routing.short_codes import describe


def member(directory: Directory, ext: str) -> Member:
    found = directory.member_by_extension(ext)
    assert found is not None
    return found


def dial(directory: Directory, ext: str, code: str) -> list[str]:
    """The route fields a member's call to `code` gets (see agi/bridge_routes.py)."""
    found = directory.short_code(code)
    assert found is not None
    return BridgeRoutes(directory).route(member(directory, ext), found).split("|")


def scoped(db: sqlite_utils.Database) -> list[tuple]:
    return db.execute(
        "SELECT id, district, leader_member_id, scope, label FROM bridges ORDER BY id"
    ).fetchall()


def test_a_new_directory_has_the_two_codes() -> None:
    from directory.schema import open_memory

    db = open_memory()
    rows = db.execute(
        "SELECT code, kind, label FROM short_codes WHERE code IN ('110', '111') ORDER BY code"
    ).fetchall()
    assert rows == [
        ("110", "district_bridge", "My district's bridge"),
        ("111", "team_bridge", "My team's bridge"),
    ]


def test_an_install_that_used_the_codes_keeps_its_own() -> None:
    db = sqlite_utils.Database(memory=True)
    migrations.apply(db, stop_before="0020_own_bridges")
    db["short_codes"].insert(
        {"code": "110", "kind": "outside", "role": None, "number": "110", "label": "Ours"}
    )
    migrations.apply(db)
    kinds = dict(db.execute("SELECT code, kind FROM short_codes WHERE code IN ('110', '111')"))
    assert kinds == {"110": "outside", "111": "team_bridge"}


def test_my_districts_bridge_is_made_once_and_led_by_its_supervisors(
    directory: Directory,
) -> None:
    db = directory.db
    assert scoped(db) == []
    worker = dial(directory, "2002", "110")
    (bridge,) = scoped(db)
    assert bridge[1:4] == ("Oyam", None, "district")
    assert worker[0] == "bridge" and worker[2] == f"cug-bridge-{bridge[0]}"
    assert worker[3] == rb.MEMBER_PROFILE
    # The supervisor dialing the same code reaches the same bridge, as its leader.
    leader = dial(directory, "2001", "110")
    assert leader[2] == worker[2] and leader[3] == rb.LEADER_PROFILE
    assert len(scoped(db)) == 1
    # Jinja's members reach Jinja's.
    jinja = dial(directory, "2012", "110")
    assert jinja[2] != worker[2]
    assert [b[1] for b in scoped(db)] == ["Oyam", "Jinja"]
    # Made by the system, in the audit trail like an admin's bridge.
    made = db.execute(
        "SELECT actor, subject FROM audit WHERE action = 'bridge.add' ORDER BY id"
    ).fetchall()
    assert made == [("system", f"bridge:{b[0]}") for b in scoped(db)]


def test_my_teams_bridge_is_my_supervisors_and_a_supervisors_own(directory: Directory) -> None:
    grace = member(directory, "2001")
    worker = dial(directory, "2002", "111")
    (bridge,) = scoped(directory.db)
    assert bridge[2:4] == (grace.id, "team")
    assert bridge[4] == "Grace Akello's team bridge"
    assert worker[3] == rb.MEMBER_PROFILE
    # Grace dialing 111 reaches her own team's bridge, as its leader.
    own = dial(directory, "2001", "111")
    assert own[2] == worker[2] and own[3] == rb.LEADER_PROFILE
    # Another supervisor of the district is no leader of Grace's team bridge, and has
    # a team bridge of her own: Nakato's (Jinja) is another.
    assert dial(directory, "2011", "111")[2] != worker[2]


def test_my_teams_bridge_with_no_supervisor_is_refused_with_the_reason(
    directory: Directory,
) -> None:
    refused = dial(directory, "2008", "111")  # Odongo Sam has no supervisor
    assert refused[:2] == ["refuse", "bridge_no_supervisor"]
    assert scoped(directory.db) == []


def test_a_team_member_of_another_district_joins_their_supervisors_bridge(
    directory: Directory,
) -> None:
    grace = member(directory, "2001")
    bridge = BridgeStore(directory.db).team_bridge(grace)
    moses = member(directory, "2012")  # Jinja, Nakato's team
    assert rb.admit(moses, bridge, False).refusal is rb.BridgeRefusal.OTHER_DISTRICT
    on_grace_team = rb.Bridge(**{**bridge.__dict__, "leader_member_id": moses.supervisor_id})
    assert rb.admit(moses, on_grace_team, False).seat is rb.Seat.MEMBER


def test_the_team_leader_is_the_caller_as_supervisor_else_an_active_supervisor(
    directory: Directory,
) -> None:
    grace, okello = member(directory, "2001"), member(directory, "2002")
    assert rb.team_leader(grace, None) == grace
    assert rb.team_leader(okello, grace) == grace
    assert rb.team_leader(okello, None) is None
    retired = Member(**{**grace.__dict__, "active": False})
    assert rb.team_leader(okello, retired) is None


def test_the_codes_say_what_they_reach(directory: Directory) -> None:
    district = directory.short_code("110")
    team = directory.short_code("111")
    assert district is not None and team is not None
    assert describe(district) == "district_bridge: the caller's district's bridge"
    assert describe(team).startswith("team_bridge: the caller's team's bridge")
    bridge = BridgeStore(directory.db).district_bridge("Oyam")
    assert BridgeStore(directory.db).codes(bridge) == ["110"]


def test_a_supervisor_who_moves_takes_their_team_bridge_along(directory: Directory) -> None:
    store = BridgeStore(directory.db)
    before = store.team_bridge(member(directory, "2001"))
    assert before.district == "Oyam"
    directory.db.execute("UPDATE members SET district = 'Jinja' WHERE extension = '2001'")
    after = store.team_bridge(member(directory, "2001"))
    assert (after.id, after.district) == (before.id, "Jinja")
    moved = directory.db.execute(
        "SELECT actor, subject FROM audit WHERE action = 'bridge.move'"
    ).fetchall()
    assert moved == [("system", f"bridge:{before.id}")]
    assert store.team_bridge(member(directory, "2001")) == after  # moved once
