"""Short codes an admin edits: what is refused (every reason, nothing changed), what is
audited, and that routing follows the change at the next call."""

from __future__ import annotations

import json

import pytest

from directory.chains import ChainStore
from directory.lookup import Directory
from directory.members import reference_data
from directory.short_codes import ShortCodeStore
from routing.calls import CallRequest, Decision, Policy, Refusal, route_call
from routing.short_codes import (
    ShortCodeError,
    ShortCodeValues,
    add_short_code,
    edit_short_code,
    remove_short_code,
)
from tests.unit.conftest import audit_count

TRUNK = Policy(trunk_available=True)


def call(d: Directory, dialed: str) -> Decision:
    return route_call(d, CallRequest(d.member_by_extension("2002"), dialed, TRUNK))


def add(d: Directory, *values: str) -> None:
    roles, _ = reference_data(d.db)
    add_short_code(ShortCodeStore(d.db), d, roles, ShortCodeValues(*values), "admin:j")


def edit(d: Directory, code: str, **changes: str) -> None:
    roles, _ = reference_data(d.db)
    edit_short_code(ShortCodeStore(d.db), ChainStore(d.db), roles, code, changes, "admin:j")


def remove(d: Directory, code: str) -> None:
    remove_short_code(ShortCodeStore(d.db), ChainStore(d.db), code, "admin:j")


def refused(action, *args, **kwargs) -> list[str]:  # noqa: ANN001 - one of the three above
    with pytest.raises(ShortCodeError) as exc:
        action(*args, **kwargs)
    return exc.value.reasons


def codes(d: Directory) -> list[tuple]:
    return d.db.execute("SELECT * FROM short_codes ORDER BY code").fetchall()


def test_an_added_role_code_rings_that_role_in_the_callers_district(directory: Directory) -> None:
    assert call(directory, "105").refusal is Refusal.UNKNOWN_SHORT_CODE
    add(directory, "105", "role", "PSW", "", "  PSWs of my district ")
    decision = call(directory, "105")
    assert [t.endpoint for t in decision.targets] == ["2003", "2008"]  # 2002 calls, 2009 inactive
    assert decision.label == "PSWs of my district"


def test_an_outside_code_takes_any_number_format_and_stores_e164(directory: Directory) -> None:
    add(directory, "117", "outside", "", "0800 100 116", "Toll-free line")
    assert call(directory, "117").outside_number == "+256800100116"
    add(directory, "118", "outside", "", "128", "A service number")
    assert call(directory, "118").outside_number == "128"


def test_a_bad_code_is_refused_with_every_reason_and_nothing_changes(
    directory: Directory,
) -> None:
    before, audits = codes(directory), audit_count(directory.db)
    reasons = refused(add, directory, "1a5", "team", "wizard", "12", "")
    assert reasons == [
        "short code '1a5' must be digits only",
        "unknown kind 'team' (known: supervisor, role, outside, bridge, district_bridge, "
        "team_bridge, conference)",
        "unknown role 'wizard' (known: admin, cdo, dac, health, helpline, police, probation, "
        "psw, supervisor)",
        "outside number: not a valid phone number: '12' (a service number has 3 to 6 digits)",
        "label is missing",
    ]
    assert codes(directory) == before and audit_count(directory.db) == audits


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("1050", "short code '1050' is too long: short codes have 3 digits"),
        ("10", "short code '10' is too short"),
        ("*0*", "cannot hold * or #: *<case>*<number> keys in a case and *0* marks a call urgent"),
        ("*42*100", "cannot hold * or #"),
        ("10#", "cannot hold * or #"),
        ("١٠٥", "must be digits only"),  # Arabic-Indic digits: no phone sends them
        ("", "the short code is missing"),
        ("116", "short code 116 already exists (National Child Helpline); change it with `edit`"),
    ],
)
def test_codes_members_could_not_dial_or_that_clash_are_refused(
    directory: Directory, code: str, reason: str
) -> None:
    reasons = refused(add, directory, code, "supervisor", "", "", "My supervisor")
    assert len(reasons) == 1 and reason in reasons[0], reasons


def test_a_code_that_is_a_members_extension_is_refused(directory: Directory) -> None:
    # Extensions have 4 to 6 digits today; one of 3 (from an older directory) still counts.
    directory.db.execute("UPDATE members SET extension = '105' WHERE extension = '2008'")
    assert refused(add, directory, "105", "supervisor", "", "", "Boss") == [
        "short code 105 is the extension of Odongo Sam"
    ]


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (("role", "", "", "x"), "kind role needs --role (known: admin, cdo"),
        (("outside", "", "", "x"), "kind outside needs --number (e.g. 116)"),
        (("supervisor", "police", "", "x"), "--role is only for kind role"),
        (("role", "police", "116", "x"), "--number is only for kind outside"),
        (("outside", "", "116;x=1", "x"), "not a phone number: '116;x=1'"),
        (("outside", "", "116", "a\nb"), "label contains control characters or line breaks"),
        (("outside", "", "116", "x" * 61), "label is longer than 60 characters"),
    ],
)
def test_what_a_code_reaches_must_make_sense(
    directory: Directory, values: tuple[str, ...], reason: str
) -> None:
    reasons = refused(add, directory, "105", *values)
    assert any(reason in r for r in reasons), reasons
    assert directory.short_code("105") is None


def test_every_change_is_audited_with_who_before_and_after(directory: Directory) -> None:
    add(directory, "105", "role", "psw", "", "PSWs")
    edit(directory, "105", label="PSWs of my district")
    edit(directory, "105", label="PSWs of my district")  # no change: no audit row
    remove(directory, "105")
    rows = directory.db.execute(
        "SELECT actor, action, subject, before, after FROM audit "
        "WHERE action LIKE 'short_code.%' ORDER BY id"
    ).fetchall()
    assert [r[:3] for r in rows] == [
        ("admin:j", "short_code.add", "105"),
        ("admin:j", "short_code.edit", "105"),
        ("admin:j", "short_code.remove", "105"),
    ]
    assert rows[0][3] is None and json.loads(rows[0][4])["role"] == "psw"
    assert json.loads(rows[1][3])["label"] == "PSWs" and json.loads(rows[1][4])["label"] == (
        "PSWs of my district"
    )
    assert json.loads(rows[2][3])["label"] == "PSWs of my district" and rows[2][4] is None
    assert call(directory, "105").refusal is Refusal.UNKNOWN_SHORT_CODE


def test_a_new_kind_drops_the_old_kinds_role(directory: Directory) -> None:
    edit(directory, "101", kind="supervisor")
    assert directory.short_code("101").role is None
    assert [t.endpoint for t in call(directory, "101").targets] == ["2001"]
    edit(directory, "101", kind="role", role="police")
    assert [t.endpoint for t in call(directory, "101").targets] == ["2004"]
    assert refused(edit, directory, "101", kind="outside") == [
        "kind outside needs --number (e.g. 116)"
    ]
    assert refused(edit, directory, "555", label="x") == ["no short code '555'"]
    assert refused(remove, directory, "555") == ["no short code '555'"]


def test_the_helplines_code_stays_while_the_default_chain_rings_it(directory: Directory) -> None:
    reason = (
        "the default escalation chain rings 116 (National Child Helpline): change it first "
        "with `cug escalation set`, or keep a short code for 116"
    )
    assert refused(remove, directory, "116") == [reason]
    assert refused(edit, directory, "116", number="117") == [reason]
    assert refused(edit, directory, "116", kind="role", role="helpline") == [reason]
    assert call(directory, "116").outside_number == "116"
    edit(directory, "116", label="Sauti 116")  # its label may change
    # Another code for 116 keeps it allowed; then this one may go.
    add(directory, "117", "outside", "", "116", "Child Helpline")
    remove(directory, "116")
    assert call(directory, "116").refusal is Refusal.UNKNOWN_SHORT_CODE


def test_a_stored_chain_that_rings_an_outside_code_keeps_it(directory: Directory) -> None:
    add(directory, "117", "outside", "", "0800100116", "Toll-free line")
    store = ChainStore(directory.db)
    store.save("Oyam", "", False, "callee:20, outside=0800100116:30", "admin:j")
    assert refused(remove, directory, "117") == [
        "the escalation chain for district Oyam rings +256800100116 (Toll-free line): change "
        "it first with `cug escalation set`, or keep a short code for +256800100116"
    ]
    # A chain for every member replaces the default, which then no longer needs 116.
    store.save("", "", False, "callee:20, supervisor:20", "admin:j")
    remove(directory, "116")
    store.clear("Oyam", "", False, "admin:j")
    remove(directory, "117")
    assert directory.short_code("117") is None
