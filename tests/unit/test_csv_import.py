"""CSV import and export: all or nothing, every bad row named by its line, safe to open."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import sqlite_utils

from directory.csv_io import CsvError, export_csv, import_csv
from directory.lookup import Directory
from directory.schema import open_db
from tests.unit.conftest import audit_count

HEADER = "name,phone,role,district,supervisor_phone,extension,sub_county,organisation,language\n"
GOOD = HEADER + (
    "Grace Akello,0772100001,supervisor,Oyam,,2001,Loro,Bantwana,luo\n"
    "Okello Denis,0772100002,psw,Oyam,0772100001,2002,Loro,Bantwana,luo\n"
    "Auma Christine,+256772100003,psw,oyam,256772100001,,Aber,Bantwana,luo\n"
    "Nakato Ruth,00256 772 100011,supervisor,Jinja,,,Budondo,Bantwana,lg\n"
    "Waiswa Moses,772100012,psw,Jinja,0772 100011,,Budondo,Bantwana,lg\n"
)


def write(tmp_path: Path, text: str, name: str = "members.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def member_count(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM members").fetchone()[0]


def snapshot(db: sqlite_utils.Database) -> list[tuple]:
    return db.execute("SELECT * FROM members ORDER BY id").fetchall()


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return open_db(tmp_path / "cug.db")


@pytest.fixture
def loaded(db: sqlite_utils.Database, tmp_path: Path) -> sqlite_utils.Database:
    result = import_csv(db, write(tmp_path, GOOD, "good.csv"), "test")
    assert result.ok, result.errors
    return db


def test_good_file_imports(db: sqlite_utils.Database, tmp_path: Path) -> None:
    result = import_csv(db, write(tmp_path, GOOD), "admin")
    assert result.errors == []
    assert (result.added, result.updated, result.unchanged) == (5, 0, 0)
    d = Directory(db)
    auma = d.find("0772100003")
    assert auma is not None
    assert auma.district == "Oyam"  # district matched whatever its case
    assert auma.extension == "2000"  # the first free extension
    grace = d.member_by_phone("+256772100001")
    assert grace is not None and auma.supervisor_id == grace.id
    waiswa = d.find("+256772100012")
    nakato = d.find("+256772100011")
    assert waiswa is not None and nakato is not None
    assert waiswa.supervisor_id == nakato.id
    assert audit_count(db) == 5


def counters(db: sqlite_utils.Database) -> dict[str, int]:
    return {
        r[0]: int(r[1])
        for r in db.execute(
            "SELECT key, value FROM service_state WHERE key IN "
            "('members_version', 'routing_version')"
        )
    }


def test_an_import_moves_the_members_counters_and_leaves_their_triggers(
    db: sqlite_utils.Database, tmp_path: Path
) -> None:
    # The service keeps routes and endpoint rows until these counters move. An import moves
    # them once, not once a row; the triggers that move them on any other change stay.
    before = counters(db)
    assert import_csv(db, write(tmp_path, GOOD), "admin").ok
    after = counters(db)
    assert all(after[k] > before[k] for k in before) and set(before) == {
        "members_version",
        "routing_version",
    }
    db.execute("UPDATE members SET name = 'Grace A.' WHERE phone = '+256772100001'")
    assert all(v > after[k] for k, v in counters(db).items())


def test_a_failed_import_leaves_the_triggers(db: sqlite_utils.Database, tmp_path: Path) -> None:
    from directory import members

    triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    real = members.new_sip_password
    members.new_sip_password = lambda: 1 / 0  # fails in the middle of the write
    try:
        with pytest.raises(ZeroDivisionError):
            import_csv(db, write(tmp_path, GOOD), "admin")
    finally:
        members.new_sip_password = real
    assert member_count(db) == 0
    assert db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall() == (
        triggers
    )


def test_reimport_is_a_noop(loaded: sqlite_utils.Database, tmp_path: Path) -> None:
    before, audits = snapshot(loaded), audit_count(loaded)
    result = import_csv(loaded, write(tmp_path, GOOD, "again.csv"), "admin")
    assert result.ok
    assert (result.added, result.updated, result.unchanged) == (0, 0, 5)
    assert snapshot(loaded) == before
    assert audit_count(loaded) == audits


def test_edited_file_updates_in_place(loaded: sqlite_utils.Database, tmp_path: Path) -> None:
    d = Directory(loaded)
    old = d.find("0772100002")
    assert old is not None
    edited = GOOD.replace(
        "Okello Denis,0772100002,psw,Oyam,0772100001,2002",
        "Okello Denis Opio,0772100002,psw,Oyam,0772100003,",
    )
    audits = audit_count(loaded)
    result = import_csv(loaded, write(tmp_path, edited, "edited.csv"), "admin")
    assert result.ok, result.errors
    assert (result.added, result.updated, result.unchanged) == (0, 1, 4)
    new = d.find("0772100002")
    auma = d.find("0772100003")
    assert new is not None and auma is not None
    assert new.id == old.id
    assert new.name == "Okello Denis Opio"
    assert new.supervisor_id == auma.id
    assert new.extension == old.extension == "2002"
    assert new.sip_password == old.sip_password
    assert audit_count(loaded) == audits + 1
    (before, after) = loaded.execute(
        "SELECT before, after FROM audit ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert "Okello Denis Opio" in after and "Okello Denis" in before


BAD_ROWS = [
    # (row, words the reason must contain)
    ("Bad Number,07721x0001,psw,Oyam,,,,,", "phone"),
    ("Kenyan,+254712345678,psw,Oyam,,,,,", "not a number of UG"),
    ("Twin,0772 100 030,psw,Oyam,,,,,", "appears again (first on line 2)"),
    ("Orphan,0772100020,psw,Oyam,0772999999,,,,", "unknown supervisor"),
    (",0772100021,psw,Oyam,,,,,", "name is missing"),
    ("Role Less,0772100022,wizard,Oyam,,,,,", "unknown role"),
    ("Far Away,0772100023,psw,Atlantis,,,,,", "unknown district"),
    ("Bad Ext,0772100024,psw,Oyam,,0123,,,", "extension"),
    ("Short Row,0772100025,psw", "fields"),
    ('"Two\nLines",0772100026,psw,Oyam,,,,,', "line breaks"),
    ("N" * 10_000 + ",0772100027,psw,Oyam,,,,,", "longer than"),
]


def test_bad_rows_change_nothing_and_are_all_reported(
    loaded: sqlite_utils.Database, tmp_path: Path
) -> None:
    lines = [HEADER.rstrip("\n"), "Fresh Member,0772100030,psw,Oyam,,,,,"]
    expected: dict[int, str] = {}
    line = len(lines)
    for row, reason in BAD_ROWS:
        expected[line + 1] = reason
        lines.append(row)
        line += row.count("\n") + 1
    lines.append("Also Fine,0772100031,psw,Oyam,,,,,")
    before, audits = snapshot(loaded), audit_count(loaded)
    result = import_csv(loaded, write(tmp_path, "\n".join(lines) + "\n", "bad.csv"), "admin")
    assert not result.ok
    assert result.added == result.updated == 0
    assert snapshot(loaded) == before
    assert audit_count(loaded) == audits
    reported = {n for n, _ in result.errors}
    assert reported == set(expected), result.errors
    for n, words in expected.items():
        reasons = " | ".join(r for m, r in result.errors if m == n)
        assert words in reasons, (n, reasons)
    assert [n for n, _ in result.errors] == sorted(n for n, _ in result.errors)


def test_duplicate_within_the_file_names_the_first_line(
    db: sqlite_utils.Database, tmp_path: Path
) -> None:
    text = HEADER + "A One,0772100040,psw,Oyam,,,,,\nB Two,0772 100 040,psw,Oyam,,,,,\n"
    result = import_csv(db, write(tmp_path, text), "admin")
    assert result.errors == [(3, "phone +256772100040 appears again (first on line 2)")]
    assert member_count(db) == 0


def test_supervisor_on_a_later_line(db: sqlite_utils.Database, tmp_path: Path) -> None:
    text = HEADER + (
        "Worker First,0772100050,psw,Gulu,0772100051,,,,\n"
        "Boss Later,0772100051,supervisor,Gulu,,,,,\n"
    )
    result = import_csv(db, write(tmp_path, text), "admin")
    assert result.ok, result.errors
    d = Directory(db)
    worker, boss = d.find("0772100050"), d.find("0772100051")
    assert worker is not None and boss is not None
    assert worker.supervisor_id == boss.id


def test_non_utf8_file_is_refused(loaded: sqlite_utils.Database, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "Nakato Ñamukose,0772100060,psw,Oyam,,,,,\n").encode("latin-1"))
    before, audits = snapshot(loaded), audit_count(loaded)
    with pytest.raises(CsvError, match="line 2 is not UTF-8"):
        import_csv(loaded, path, "admin")
    assert snapshot(loaded) == before
    assert audit_count(loaded) == audits


def test_missing_column_is_refused(loaded: sqlite_utils.Database, tmp_path: Path) -> None:
    text = "name,phone,role,supervisor_phone\nNew One,0772100061,psw,\n"
    before, audits = snapshot(loaded), audit_count(loaded)
    with pytest.raises(CsvError, match="missing column.*district"):
        import_csv(loaded, write(tmp_path, text), "admin")
    assert snapshot(loaded) == before
    assert audit_count(loaded) == audits


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("name,phone,role,district,supervisor_phone,colour\n", "unknown column"),
        ("name,phone,role,district,supervisor_phone,name\n", "twice"),
    ],
)
def test_unreadable_files(
    db: sqlite_utils.Database, tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(CsvError, match=message):
        import_csv(db, write(tmp_path, text), "admin")


def export_text(db: sqlite_utils.Database) -> str:
    out = io.StringIO()
    export_csv(db, out)
    return out.getvalue()


def test_export_then_reimport_round_trips(loaded: sqlite_utils.Database, tmp_path: Path) -> None:
    text = export_text(loaded)
    assert text.splitlines()[0].startswith("name,phone,role,district,supervisor_phone")
    fresh = open_db(tmp_path / "fresh.db")
    result = import_csv(fresh, write(tmp_path, text, "export.csv"), "admin")
    assert result.ok, result.errors
    assert result.added == 5
    assert export_text(fresh) == text
    again = import_csv(loaded, write(tmp_path, text, "export2.csv"), "admin")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 5)


def test_export_of_an_inactive_member_reimports(
    loaded: sqlite_utils.Database, tmp_path: Path
) -> None:
    loaded.execute("UPDATE members SET active = 0 WHERE phone = '+256772100002'")
    text = export_text(loaded)
    assert ",2002,Loro,Bantwana,luo,0" in text
    result = import_csv(loaded, write(tmp_path, text, "export.csv"), "admin")
    assert result.ok, result.errors
    assert result.unchanged == 5
    # An import never (de)activates anyone: a changed `active` cell is refused, not ignored.
    flipped = text.replace(",2002,Loro,Bantwana,luo,0", ",2002,Loro,Bantwana,luo,1")
    line = 1 + text.splitlines().index(next(r for r in text.splitlines() if ",2002," in r))
    result = import_csv(loaded, write(tmp_path, flipped, "flipped.csv"), "admin")
    assert [n for n, _ in result.errors] == [line]
    assert "cug directory activate" in result.errors[0][1]
    assert Directory(loaded).find("2002").active is False  # type: ignore[union-attr]


def test_export_neutralises_formulas(db: sqlite_utils.Database, tmp_path: Path) -> None:
    text = HEADER + (
        '"=HYPERLINK(""http://x"")",0772100070,psw,Oyam,,,@SUM(A1),-1+1,\n'
        "Plain Name,0772100071,psw,Oyam,0772100070,,,,\n"
    )
    assert import_csv(db, write(tmp_path, text), "admin").ok
    rows = list(csv.reader(io.StringIO(export_text(db))))
    by_phone = {r[1]: r for r in rows[1:]}
    evil = by_phone["+256772100070"]
    assert evil[0] == '\'=HYPERLINK("http://x")'
    assert evil[6] == "'@SUM(A1)"
    assert evil[7] == "'-1+1"
    plain = by_phone["+256772100071"]
    assert plain[0] == "Plain Name"
    assert plain[1] == "+256772100071"  # phone numbers keep their '+'
    assert plain[4] == "+256772100070"


@pytest.mark.parametrize(
    "name", ["Ocen O'Brien; DROP TABLE members;--", "Nakato Ñamukose 李", 'Akot "Ako" Santa']
)
def test_awkward_names_are_stored_exactly(
    db: sqlite_utils.Database, tmp_path: Path, name: str
) -> None:
    quoted = '"' + name.replace('"', '""') + '"'
    text = HEADER + f"{quoted},0772100080,psw,Oyam,,,,,\n"
    result = import_csv(db, write(tmp_path, text), "admin")
    assert result.ok, result.errors
    member = Directory(db).find("0772100080")
    assert member is not None and member.name == name
    assert member_count(db) == 1
    rows = list(csv.reader(io.StringIO(export_text(db))))
    assert rows[1][0] == name


def test_supervisors_in_a_loop_are_refused(db: sqlite_utils.Database, tmp_path: Path) -> None:
    text = HEADER + (
        "Worker A,0772100070,psw,Gulu,0772100071,,,,\n"
        "Worker B,0772100071,psw,Gulu,0772100070,,,,\n"
        "Worker C,0772100072,psw,Gulu,0772100070,,,,\n"
    )
    result = import_csv(db, write(tmp_path, text), "admin")
    assert [n for n, _ in result.errors] == [2, 3]  # C reports to the loop but is not in it
    assert "loop: +256772100070 → +256772100071 → +256772100070" in result.errors[0][1]
    assert member_count(db) == 0


def test_an_import_closing_a_loop_with_members_already_there_is_refused(
    db: sqlite_utils.Database, tmp_path: Path
) -> None:
    first = HEADER + (
        "Worker A,0772100070,psw,Gulu,0772100071,,,,\nBoss B,0772100071,supervisor,Gulu,,,,,\n"
    )
    assert import_csv(db, write(tmp_path, first), "admin").ok
    closing = HEADER + "Boss B,0772100071,supervisor,Gulu,0772100070,,,,\n"
    result = import_csv(db, write(tmp_path, closing), "admin")
    assert [n for n, _ in result.errors] == [2]
    assert Directory(db).find("0772100071").supervisor_id is None
