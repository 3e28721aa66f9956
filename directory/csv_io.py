"""The directory as a CSV file: all-or-nothing import, and export safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import IO

import sqlite_utils

from directory.member_list import MemberScope
from directory.members import SaveResult, reference_data, save_members
from directory.numbers import try_normalise
from directory.validation import CleanMember, MemberValues, clean_member

REQUIRED_COLUMNS = ("name", "phone", "role", "district", "supervisor_phone")
OPTIONAL_COLUMNS = ("extension", "sub_county", "organisation", "language")
# Written by the export so a re-import of it works; an import only checks that it agrees with
# the directory (members are (de)activated with `cug directory activate/deactivate`).
STATE_COLUMNS = ("active",)
EXPORT_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS + STATE_COLUMNS
# Member fields each CSV column sets (supervisor_phone sets the supervisor link).
COLUMN_FIELD = {c: c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS} | {
    "supervisor_phone": "supervisor_id"
}
MAX_FIELD = 10_000


class CsvError(ValueError):
    """The file as a whole cannot be read (encoding, header); nothing was imported."""


def decode_csv(raw: bytes, label: str) -> IO[str]:
    """The text of a CSV file's bytes (`label` names it in the reasons): UTF-8, no NULs."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CsvError(f"{label}: line {line} is not UTF-8 text; save the file as UTF-8") from None
    if "\x00" in text:
        raise CsvError(f"{label}: contains NUL bytes; not a text CSV file")
    return io.StringIO(text, newline="")


def _open_text(path: Path) -> IO[str]:
    return decode_csv(path.read_bytes(), str(path))


def read_rows(handle: IO[str]) -> tuple[list[str], Iterator[tuple[int, MemberValues | str]]]:
    """The header and the rows of a member CSV, each with its line number; a row that cannot
    be read as a member is given as the reason why."""
    csv.field_size_limit(MAX_FIELD * 10)
    reader = csv.reader(handle)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise CsvError("the file is empty") from None
    except csv.Error as exc:
        raise CsvError(f"line 1: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS + STATE_COLUMNS]
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {', '.join(c[:40] for c in unknown)}")
    if len(set(header)) != len(header):
        problems.append("a column name appears twice")
    if problems:
        raise CsvError(
            "; ".join(problems)
            + f". Columns are {', '.join(REQUIRED_COLUMNS)} and optionally "
            + ", ".join(OPTIONAL_COLUMNS)
        )
    known = {f.name for f in fields(MemberValues)}

    def rows() -> Iterator[tuple[int, MemberValues | str]]:
        line = reader.line_num
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise CsvError(f"line {reader.line_num}: {exc}") from None
            start = line + 1
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield start, f"has {len(cells)} fields, the header has {len(header)}"
                continue
            values = {h: c for h, c in zip(header, cells, strict=True) if h in known}
            yield start, MemberValues(**values)

    return header, rows()


def import_csv(
    db: sqlite_utils.Database,
    path: Path,
    actor: str,
    progress: Callable[[int], None] | None = None,
) -> SaveResult:
    """Import members from `path`: every row is checked first; any bad row means no change."""
    return import_text(db, _open_text(path), path.name, actor, progress)


def import_text(
    db: sqlite_utils.Database,
    handle: IO[str],
    name: str,
    actor: str,
    progress: Callable[[int], None] | None = None,
    only_districts: tuple[str, ...] | None = None,
) -> SaveResult:
    """Import members from CSV text (`name` for the audit). With `only_districts`, every row
    must be of one of them, and so must the member it updates (an admin of those districts)."""
    header, read = read_rows(handle)
    rows = list(read)  # read twice: the file's own members first (supervisors), then checked
    roles, districts = reference_data(db)
    district_now = dict(db.execute("SELECT phone, district FROM members").fetchall())
    allowed = {d.casefold() for d in only_districts} if only_districts is not None else None
    active_now = {p: bool(a) for p, a in db.execute("SELECT phone, active FROM members")}
    checked = []
    # Members the file itself adds may supervise others in it (their districts are checked).
    in_file = {
        p for _, v in rows if not isinstance(v, str) for p in [try_normalise(v.phone or "")] if p
    }
    for n, (line, values) in enumerate(rows, 1):
        if isinstance(values, str):
            bad = clean_member(MemberValues(), roles, districts)
            bad.errors = [values]
            checked.append((line, bad))
        else:
            clean = clean_member(values, roles, districts)
            _check_active(values.active, active_now.get(clean.phone, True), clean.errors)
            if allowed is not None:
                _check_district(clean, district_now.get(clean.phone), allowed)
                _check_supervisor(clean, district_now, in_file, allowed)
            checked.append((line, clean))
        if progress and n % 1000 == 0:
            progress(1000)
    given = {COLUMN_FIELD[c] for c in header if c in COLUMN_FIELD}
    # An admin of some districts is told of no member outside them ("... is already taken").
    scope = MemberScope(districts=only_districts) if only_districts is not None else None
    return save_members(
        db, checked, actor, action=f"member.import:{name}", given=given, scope=scope
    )


def _check_district(clean: CleanMember, current: str | None, allowed: set[str]) -> None:
    if clean.district and clean.district.casefold() not in allowed:
        clean.errors.append(f"district {clean.district} is not one of yours")
    if current is not None and current.casefold() not in allowed:
        clean.errors.append(f"phone {clean.phone} belongs to a member of another district")


def _check_supervisor(
    clean: CleanMember, district_now: dict[str, str], in_file: set[str], allowed: set[str]
) -> None:
    """An admin of some districts names supervisors among their own members (or the file's):
    another district's supervisor would see this member and their cases."""
    sup = clean.supervisor_phone
    if not sup or sup in in_file and sup not in district_now:
        return
    district = district_now.get(sup)
    if district is None or district.casefold() not in allowed:
        clean.errors.append(f"supervisor {sup} is not a member of your districts")


def _check_active(given: str, active: bool, errors: list[str]) -> None:
    """An `active` cell (from an export) must agree with the member's state: an import never
    (de)activates anyone, and must not seem to."""
    text = given.strip()
    if not text:
        return
    if text not in ("0", "1"):
        errors.append(f"active must be 1 or 0, not {text[:20]!r}")
    elif (text == "1") != active:
        errors.append(
            f"active is {text} but the member is {'active' if active else 'inactive'}; "
            "use `cug directory activate` or `deactivate`, an import does not change it"
        )


def safe_cell(value: object) -> str:
    """Neutralise text a spreadsheet would run as a formula (=, +, -, @ at the start)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def export_csv(
    db: sqlite_utils.Database, out: IO[str], only_districts: tuple[str, ...] | None = None
) -> int:
    """Every member (of `only_districts`, if given) as CSV; returns how many."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    where, params = "", list(only_districts or ())
    if only_districts is not None:
        where = f" WHERE m.district IN ({', '.join('?' * len(params)) or 'NULL'})"
    for row in db.execute(
        "SELECT m.name, m.phone, m.role, m.district, s.phone, m.extension, m.sub_county, "
        "m.organisation, m.language, m.active FROM members m "
        f"LEFT JOIN members s ON s.id = m.supervisor_id{where} ORDER BY m.extension",
        params,
    ).fetchall():
        name, phone, role, district, sup, ext, sub, org, lang, active = row
        writer.writerow(
            [
                safe_cell(name),
                phone,
                role,
                safe_cell(district),
                sup or "",
                ext,
                safe_cell(sub),
                safe_cell(org),
                safe_cell(lang),
                active,
            ]
        )
        count += 1
    return count
