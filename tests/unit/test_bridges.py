"""Standing conference bridges: who joins as what, PINs and lockout, the route the dialplan
reads, short codes of kind bridge, and the ConfBridge profiles the route names."""

from __future__ import annotations

from pathlib import Path

import pytest

from agi.bridge_routes import BridgeRoutes
from directory.bridges import BridgeError, BridgeStore
from directory.lookup import Directory
from directory.members import reference_data
from directory.short_codes import ShortCodeStore
from routing import bridges as rb
from routing.short_codes import ShortCodeError, ShortCodeValues, add_short_code
from tests.unit.test_asterisk_conf import parse_conf

ROOT = Path(__file__).resolve().parents[2]


def member(directory: Directory, ext: str):  # noqa: ANN201
    found = directory.member_by_extension(ext)
    assert found is not None
    return found


def add_bridge(directory: Directory, code: str = "105", **kw: object) -> rb.Bridge:
    store = BridgeStore(directory.db)
    values = {
        "label": "Oyam district bridge",
        "district": "Oyam",
        "leader_member_id": None,
        "pin": None,
        "max_members": 10,
        "ends_with_leader": True,
    }
    values.update(kw)
    bridge = store.add(**values, actor="test")  # type: ignore[arg-type]
    roles, _ = reference_data(directory.db)
    add_short_code(
        ShortCodeStore(directory.db),
        directory,
        roles,
        ShortCodeValues(code, "bridge", label="Bridge", bridge=str(bridge.id)),
        "test",
        frozenset({bridge.id}),
    )
    return bridge


def test_the_districts_supervisor_leads_its_members_join_others_need_the_pin(
    directory: Directory,
) -> None:
    bridge = add_bridge(directory)
    assert rb.admit(member(directory, "2001"), bridge, False).seat is rb.Seat.LEADER
    assert rb.admit(member(directory, "2002"), bridge, False).seat is rb.Seat.MEMBER
    # Jinja's supervisor is no leader of Oyam's bridge, and without a PIN it is closed.
    refused = rb.admit(member(directory, "2011"), bridge, False)
    assert refused.refusal is rb.BridgeRefusal.OTHER_DISTRICT
    with_pin = BridgeStore(directory.db).get(add_bridge(directory, "106", pin="4321").id)
    assert rb.admit(member(directory, "2011"), with_pin, False).needs_pin
    assert (
        rb.admit(member(directory, "2011"), with_pin, True).refusal is rb.BridgeRefusal.PIN_LOCKED
    )
    assert rb.admit(member(directory, "2002"), None, False).refusal is rb.BridgeRefusal.NO_BRIDGE


def test_a_supervisors_bridge_is_led_by_that_supervisor_only(directory: Directory) -> None:
    sarah = member(directory, "2001")
    bridge = add_bridge(directory, leader_member_id=member(directory, "2011").id)
    assert rb.admit(sarah, bridge, False).seat is rb.Seat.MEMBER


def test_the_route_names_the_conference_the_profile_and_the_limit(directory: Directory) -> None:
    bridge = add_bridge(directory, max_members=7, ends_with_leader=False)
    routes = BridgeRoutes(directory)
    code = directory.short_code("105")
    assert code is not None and code.bridge_id == bridge.id
    leader = routes.route(member(directory, "2001"), code).split("|")
    assert leader[0] == "bridge" and leader[2] == f"cug-bridge-{bridge.id}"
    assert leader[3:6] == ["cug-leader", "cug-leader-menu", "7"]
    assert leader[6] == str(member(directory, "2001").id)
    assert "t=conference" in leader[1]
    worker = routes.route(member(directory, "2002"), code).split("|")
    assert worker[3:5] == ["cug-member-stays", "cug-member-menu"]
    refused = routes.route(member(directory, "2011"), code).split("|")
    assert refused[:2] == ["refuse", "bridge_other_district"]


def test_wrong_pins_lock_the_caller_out_and_a_right_one_clears_the_count(
    directory: Directory,
) -> None:
    store = BridgeStore(directory.db)
    bridge = add_bridge(directory, pin="4321")
    moses = member(directory, "2012").id
    assert store.check_pin(bridge.id, moses, "1111", 3, 15) is False
    assert store.check_pin(bridge.id, moses, "4321", 3, 15) is True
    assert store.check_pin(bridge.id, moses, "1111", 3, 15) is False
    assert store.check_pin(bridge.id, moses, "2222", 3, 15) is False
    assert store.check_pin(bridge.id, moses, "", 3, 15) is None  # the third: locked out
    assert store.pin_locked(moses)
    assert store.check_pin(bridge.id, moses, "4321", 3, 15) is None  # even the right one
    code = directory.short_code("105")
    assert code is not None
    route = BridgeRoutes(directory).route(member(directory, "2012"), code)
    assert route.startswith("refuse|bridge_pin_locked|")
    # Only a hash is stored.
    stored = directory.db.execute("SELECT pin_hash FROM bridges").fetchone()[0]
    assert "4321" not in stored and stored.startswith("scrypt$")


def test_bad_bridges_and_codes_are_refused_with_every_reason(directory: Directory) -> None:
    store = BridgeStore(directory.db)
    with pytest.raises(BridgeError) as refused:
        store.add(" ", "Atlantis", None, "12", 1, True, "test")
    assert len(refused.value.reasons) == 4
    roles, _ = reference_data(directory.db)
    with pytest.raises(ShortCodeError) as bad:
        add_short_code(
            ShortCodeStore(directory.db),
            directory,
            roles,
            ShortCodeValues("107", "bridge", label="x", bridge="99"),
            "test",
        )
    assert bad.value.reasons == ["unknown bridge '99'"]
    assert directory.short_code("107") is None


def test_a_bridge_code_is_audited_with_its_bridge_and_removed_with_it(
    directory: Directory,
) -> None:
    bridge = add_bridge(directory)
    store = ShortCodeStore(directory.db)
    code = store.get("105")
    assert code is not None and code.bridge_id == bridge.id
    store.remove(code, "test")
    assert directory.short_code("105") is None
    assert directory.db.execute("SELECT count(*) FROM short_code_bridges").fetchone()[0] == 0
    actions = [r[0] for r in directory.db.execute("SELECT action FROM audit ORDER BY id")]
    assert actions[-3:] == ["bridge.add", "short_code.add", "short_code.remove"]


def test_confbridge_conf_has_the_profiles_and_menus_the_routes_name(tmp_path: Path) -> None:
    config, _ = parse_conf((ROOT / "asterisk-conf" / "confbridge.conf").read_text(), tmp_path)
    found = {
        c.name: {i.name: i.value.split(";")[0].strip() for i in c.items} for c in config.categories
    }
    assert found[rb.BRIDGE_PROFILE]["type"] == "bridge"
    assert found[rb.BRIDGE_PROFILE]["record_conference"] == "no"
    leader = found[rb.LEADER_PROFILE]
    assert (leader["type"], leader["marked"], leader["admin"]) == ("user", "yes", "yes")
    # Members wait for the leader and leave with them; on a --stays bridge they talk on
    # (waiting for the leader, they would go back on hold when the leader leaves).
    for name, waits_and_ends in ((rb.MEMBER_PROFILE, "yes"), (rb.MEMBER_STAYS_PROFILE, "no")):
        assert found[name]["wait_marked"] == found[name]["end_marked"] == waits_and_ends
    assert found[rb.LEADER_MENU]["type"] == found[rb.MEMBER_MENU]["type"] == "menu"
    assert "admin_kick_last" in found[rb.LEADER_MENU].values()
    assert "admin_toggle_conference_lock" in found[rb.LEADER_MENU].values()
    assert "admin_kick_last" not in found[rb.MEMBER_MENU].values()
