"""The directory as a CSV file: all-or-nothing import, and export safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import IO

import sqlite_utils

from directory.members import SaveResult, reference_data, save_members
from directory.validation import MemberValues, clean_member

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


def _open_text(path: Path) -> IO[str]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CsvError(f"{path}: line {line} is not UTF-8 text; save the file as UTF-8") from None
    if "\x00" in text:
        raise CsvError(f"{path}: contains NUL bytes; not a text CSV file")
    return io.StringIO(text, newline="")


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
    header, rows = read_rows(_open_text(path))
    roles, districts = reference_data(db)
    active_now = {p: bool(a) for p, a in db.execute("SELECT phone, active FROM members")}
    checked = []
    for n, (line, values) in enumerate(rows, 1):
        if isinstance(values, str):
            bad = clean_member(MemberValues(), roles, districts)
            bad.errors = [values]
            checked.append((line, bad))
        else:
            clean = clean_member(values, roles, districts)
            _check_active(values.active, active_now.get(clean.phone, True), clean.errors)
            checked.append((line, clean))
        if progress and n % 1000 == 0:
            progress(1000)
    given = {COLUMN_FIELD[c] for c in header if c in COLUMN_FIELD}
    result = save_members(db, checked, actor, action=f"member.import:{path.name}", given=given)
    return result


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


def _safe_cell(value: object) -> str:
    """Neutralise text a spreadsheet would run as a formula (=, +, -, @ at the start)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def export_csv(db: sqlite_utils.Database, out: IO[str]) -> int:
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for row in db.execute(
        "SELECT m.name, m.phone, m.role, m.district, s.phone, m.extension, m.sub_county, "
        "m.organisation, m.language, m.active FROM members m "
        "LEFT JOIN members s ON s.id = m.supervisor_id ORDER BY m.extension"
    ).fetchall():
        name, phone, role, district, sup, ext, sub, org, lang, active = row
        writer.writerow(
            [
                _safe_cell(name),
                phone,
                role,
                _safe_cell(district),
                sup or "",
                ext,
                _safe_cell(sub),
                _safe_cell(org),
                _safe_cell(lang),
                active,
            ]
        )
        count += 1
    return count
