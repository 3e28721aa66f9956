"""The filters a listing command takes (`--district`, `--role`), checked against the
directory: a mistyped one is an error that names what exists, not an empty list that looks
like "nobody"."""

from __future__ import annotations

import click
import sqlite_utils

from directory.members import reference_data


def checked_district(db: sqlite_utils.Database, district: str | None) -> str | None:
    """The directory's spelling of `district` (any case), or None when none was given."""
    if not district:
        return None
    _, districts = reference_data(db)
    found = districts.get(district.strip().lower())
    if found is None:
        known = ", ".join(sorted(districts.values()))
        raise click.ClickException(f"unknown district {district[:40]!r} (known: {known})")
    return found


def checked_role(db: sqlite_utils.Database, role: str | None) -> str | None:
    """`role` as a role code, or None when none was given."""
    if not role:
        return None
    roles, _ = reference_data(db)
    if role.strip().lower() not in roles:
        known = ", ".join(sorted(roles))
        raise click.ClickException(f"unknown role {role[:40]!r} (known: {known})")
    return role.strip().lower()
