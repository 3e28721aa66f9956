"""Saving and changing members: extensions, conflicts, activation, passwords, the audit."""

from __future__ import annotations

import json
import re

import pytest
import sqlite_utils

from directory.lookup import Directory
from directory.member_list import MemberScope
from directory.members import (
    reference_data,
    reset_sip_password,
    save_members,
    set_active,
    update_member,
)
from directory.validation import MemberError, MemberValues, clean_member
from tests.unit.conftest import audit_count, save

NO_EXTENSION = [
    ("Apio One", "0772200001", "psw", "Lira", "", ""),
    ("Apio Two", "0772200002", "psw", "Lira", "", ""),
    ("Apio Three", "0772200003", "psw", "Lira", "", ""),
]


def extensions(db: sqlite_utils.Database) -> dict[str, str]:
    return dict(db.execute("SELECT phone, extension FROM members").fetchall())


def test_extensions_are_assigned_from_2000_up(db: sqlite_utils.Database) -> None:
    result = save(db, NO_EXTENSION)
    assert result.added == 3
    assert sorted(extensions(db).values()) == ["2000", "2001", "2002"]


def test_assigned_extensions_skip_taken_ones_and_stay_put(db: sqlite_utils.Database) -> None:
    save(db, [("Taken", "0772200009", "psw", "Lira", "", "2001")])
    save(db, NO_EXTENSION)
    first = extensions(db)
    assert sorted(first.values()) == ["2000", "2001", "2002", "2003"]
    assert len(set(first.values())) == len(first)
    # Re-importing (in another order, with a new member) moves nobody.
    result = save(db, [*reversed(NO_EXTENSION), ("Apio Four", "0772200004", "psw", "Lira", "", "")])
    assert (result.added, result.updated, result.unchanged) == (1, 0, 3)
    second = extensions(db)
    assert {p: e for p, e in second.items() if p in first} == first
    assert second["+256772200004"] == "2004"


def test_explicit_extension_of_another_member_is_refused(db: sqlite_utils.Database) -> None:
    save(db, [("Holder", "0772200010", "psw", "Lira", "", "2500")])
    audits = audit_count(db)
    result = save(db, [("Intruder", "0772200011", "psw", "Lira", "", "2500")])
    assert not result.ok
    assert result.errors == [(2, "extension 2500 belongs to Holder (+256772200010)")]
    assert Directory(db).find("0772200011") is None
    assert audit_count(db) == audits


def test_same_explicit_extension_twice_in_a_batch_is_refused(db: sqlite_utils.Database) -> None:
    result = save(
        db,
        [
            ("A", "0772200012", "psw", "Lira", "", "2600"),
            ("B", "0772200013", "psw", "Lira", "", "2600"),
        ],
    )
    assert result.errors == [(3, "extension 2600 appears again (first on line 2)")]
    assert extensions(db) == {}


def values_of(directory: Directory, ident: str, **changes: str) -> MemberValues:
    m = directory.find(ident)
    assert m is not None
    sup = directory.member(m.supervisor_id) if m.supervisor_id else None
    base = {
        "name": m.name,
        "phone": m.phone,
        "role": m.role,
        "district": m.district,
        "supervisor_phone": sup.phone if sup else "",
        "extension": m.extension,
        "sub_county": m.sub_county,
        "organisation": m.organisation,
        "language": m.language,
    }
    return MemberValues(**(base | changes))


def edit(
    db: sqlite_utils.Database, ident: str, scope: MemberScope | None = None, **changes: str
) -> dict:
    d = Directory(db)
    m = d.find(ident)
    assert m is not None
    roles, districts = reference_data(db)
    return update_member(
        db, m.id, clean_member(values_of(d, ident, **changes), roles, districts), "t", scope
    )


def test_update_changes_fields_and_audits(directory: Directory, db: sqlite_utils.Database) -> None:
    audits = audit_count(db)
    changed = edit(db, "2002", name="Okello D.", supervisor_phone="0772100011")
    assert set(changed) == {"name", "supervisor_id"}
    m = directory.find("2002")
    assert m is not None and m.name == "Okello D."
    assert m.supervisor_id == directory.find("2011").id  # type: ignore[union-attr]
    assert audit_count(db) == audits + 1
    assert edit(db, "2002", name="Okello D.", supervisor_phone="0772100011") == {}
    assert audit_count(db) == audits + 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"phone": "0772100003"}, "phone +256772100003 belongs to Auma Christine"),
        ({"extension": "2003"}, "extension 2003 belongs to Auma Christine"),
        ({"supervisor_phone": "0772100002"}, "cannot be their own supervisor"),
        ({"supervisor_phone": "0772999999"}, "unknown supervisor"),
    ],
)
def test_update_refuses_conflicts(
    directory: Directory, db: sqlite_utils.Database, changes: dict[str, str], reason: str
) -> None:
    before = db.execute("SELECT * FROM members ORDER BY id").fetchall()
    audits = audit_count(db)
    with pytest.raises(MemberError, match=re.escape(reason)):
        edit(db, "2002", **changes)
    assert db.execute("SELECT * FROM members ORDER BY id").fetchall() == before
    assert audit_count(db) == audits


def test_update_refuses_a_loop_of_supervisors(
    directory: Directory, db: sqlite_utils.Database
) -> None:
    # Okello (2002) reports to Grace (2001): Grace may not report to Okello.
    before = db.execute("SELECT * FROM members ORDER BY id").fetchall()
    with pytest.raises(MemberError, match="loop: Grace Akello → Okello Denis → Grace Akello"):
        edit(db, "2001", supervisor_phone="0772100002")
    assert db.execute("SELECT * FROM members ORDER BY id").fetchall() == before
    assert edit(db, "2001", supervisor_phone="0772100011") == {"supervisor_id": 10}


def test_update_member_itself_refuses_self_supervision(
    directory: Directory, db: sqlite_utils.Database
) -> None:
    m = directory.find("2008")
    assert m is not None
    roles, districts = reference_data(db)
    clean = clean_member(values_of(directory, "2008"), roles, districts)
    clean.supervisor_phone = m.phone  # as if validation had not caught it
    with pytest.raises(MemberError, match="own supervisor"):
        update_member(db, m.id, clean, "t")


def test_set_active_is_audited(directory: Directory, db: sqlite_utils.Database) -> None:
    m = directory.find("2003")
    assert m is not None
    audits = audit_count(db)
    assert set_active(db, m.id, False, "admin:jane") is True
    assert directory.find("2003").active is False  # type: ignore[union-attr]
    assert set_active(db, m.id, False, "admin:jane") is False  # already inactive: no row
    assert set_active(db, m.id, True, "admin:jane") is True
    rows = db.execute(
        "SELECT actor, action, subject, before, after FROM audit WHERE id > ? ORDER BY id",
        (audits,),
    ).fetchall()
    assert [r[1] for r in rows] == ["member.deactivate", "member.activate"]
    assert all(r[0] == "admin:jane" and r[2] == "+256772100003" for r in rows)
    assert json.loads(rows[0][3]) == {"active": 1} and json.loads(rows[0][4]) == {"active": 0}


def test_reset_sip_password_is_audited_without_the_password(
    directory: Directory, db: sqlite_utils.Database
) -> None:
    m = directory.find("2004")
    assert m is not None
    password = reset_sip_password(db, m.id, "admin:jane")
    assert password != m.sip_password
    assert len(password) >= 20
    assert directory.find("2004").sip_password == password  # type: ignore[union-attr]
    assert reset_sip_password(db, m.id, "admin:jane") != password
    last = db.execute("SELECT action, before, after FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    assert last[0] == "member.reset_sip_password"
    dump = "\n".join(
        str(cell) for row in db.execute("SELECT * FROM audit").fetchall() for cell in row
    )
    assert password not in dump
    assert m.sip_password not in dump


def test_audit_never_holds_sip_passwords(directory: Directory, db: sqlite_utils.Database) -> None:
    passwords = [r[0] for r in db.execute("SELECT sip_password FROM members").fetchall()]
    afters = [json.loads(r[0]) for r in db.execute("SELECT after FROM audit").fetchall()]
    assert afters and all(a.get("sip_password") in (None, "***") for a in afters)
    dump = " ".join(str(r) for r in db.execute("SELECT * FROM audit").fetchall())
    assert not any(p in dump for p in passwords)


def test_passwords_are_unique_and_random(directory: Directory, db: sqlite_utils.Database) -> None:
    passwords = [r[0] for r in db.execute("SELECT sip_password FROM members").fetchall()]
    assert len(set(passwords)) == len(passwords)
    assert all(len(p) >= 20 for p in passwords)


def test_a_refusal_names_no_member_outside_the_actors_scope(
    directory: Directory, db: sqlite_utils.Database
) -> None:
    """The directory words the reason for the acting account: Waiswa (2012, Jinja) is named
    to the CLI and to Jinja's admin, not to Oyam's, who learns only that it is taken."""
    oyam, jinja = MemberScope(districts=("Oyam",)), MemberScope(districts=("jinja",))
    okello = directory.find("2002")
    assert okello is not None
    for scope, reason in (
        (None, "extension 2012 belongs to Waiswa Moses"),
        (jinja, "extension 2012 belongs to Waiswa Moses"),
        (oyam, "extension 2012 is already taken"),
        (MemberScope(team=frozenset({okello.id})), "extension 2012 is already taken"),
    ):
        with pytest.raises(MemberError) as refused:
            edit(db, "2002", scope, extension="2012")
        assert refused.value.reasons == [reason]
    with pytest.raises(MemberError) as refused:
        edit(db, "2002", oyam, phone="0772100012")
    assert refused.value.reasons == ["phone +256772100012 is already taken"]
    roles, districts = reference_data(db)
    new = clean_member(
        MemberValues(
            name="New Worker", phone="0772300001", role="psw", district="Oyam", extension="2012"
        ),
        roles,
        districts,
    )
    assert save_members(db, [(2, new)], "t", scope=oyam).errors == [
        (2, "extension 2012 is already taken")
    ]
    assert save_members(db, [(2, new)], "t").errors == [
        (2, "extension 2012 belongs to Waiswa Moses (+256772100012)")
    ]
