"""`cug directory ...`: the member directory from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import sqlite_utils

from cug.cli_filters import checked_district, checked_role
from cug.cli_pins import pins
from cug.cli_remote import refuse_local, remote_call, remote_members, remote_of
from cug.cli_short_codes import short_codes
from cug.settings import Settings
from directory import audit
from directory.csv_io import CsvError, export_csv, import_csv
from directory.lookup import Directory
from directory.members import (
    reference_data,
    reset_sip_password,
    save_members,
    set_active,
    update_member,
)
from directory.model import Member
from directory.schema import open_db
from directory.transactions import writing
from directory.validation import (
    MemberError,
    MemberValues,
    clean_district_name,
    clean_member,
)


def _db(s: Settings) -> sqlite_utils.Database:
    return open_db(s.db)


def _find(db: sqlite_utils.Database, ident: str) -> Member:
    member = Directory(db).find(ident)
    if member is None:
        raise click.ClickException(f"no member with extension or number {ident[:40]!r}")
    return member


def _supervisor_phone(db: sqlite_utils.Database, m: Member) -> str:
    if m.supervisor_id is None:
        return ""
    sup = Directory(db).member(m.supervisor_id)
    return sup.phone if sup else ""


@click.group()
@click.pass_context
def directory(ctx: click.Context) -> None:
    """Members, districts, roles and short codes."""
    refuse_local(ctx, "directory")


def _line(row: dict[str, Any]) -> str:
    mark = "" if row["active"] else "  (inactive)"
    return (
        f"{row['extension']:>6}  {row['phone']:<14} {row['name']:<28} "
        f"{row['role']:<10} {row['district']}{mark}"
    )


@directory.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def import_cmd(s: Settings, csv_file: Path) -> None:
    """Import members from CSV_FILE, all or nothing.

    Columns: name, phone, role, district, supervisor_phone; optionally extension, sub_county,
    organisation, language, and `active` (as `export` writes it: it must agree with the
    directory, an import never deactivates anyone). Members are matched by phone number: a
    new number adds a member, a known one is updated in place. Any bad row means nothing is
    imported.
    """
    db = _db(s)
    total = max(sum(1 for _ in csv_file.open("rb")) - 1, 0)
    try:
        with click.progressbar(length=total, label="checking", file=sys.stderr) as bar:
            result = import_csv(db, csv_file, audit.cli_actor(), progress=bar.update)
    except CsvError as exc:
        raise click.ClickException(f"{exc}; nothing imported") from None
    if not result.ok:
        for line, reason in result.errors:
            click.echo(f"{csv_file.name}:{line}: {reason}", err=True)
        raise click.ClickException(
            f"{len({line for line, _ in result.errors})} bad row(s); nothing imported"
        )
    click.echo(
        f"imported {csv_file.name}: {result.added} added, {result.updated} updated, "
        f"{result.unchanged} unchanged"
    )


@directory.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def export_cmd(s: Settings, output: Path | None) -> None:
    """Write every member as CSV (the import's columns, plus `active`)."""
    db = _db(s)
    if output:
        with output.open("w", newline="", encoding="utf-8") as handle:
            count = export_csv(db, handle)
        click.echo(f"{count} members written to {output}", err=True)
    else:
        export_csv(db, sys.stdout)


@directory.command("list")
@click.option("--district")
@click.option("--role")
@click.option("--all", "include_inactive", is_flag=True, help="Include deactivated members.")
@click.pass_obj
def list_cmd(s: Settings, district: str | None, role: str | None, include_inactive: bool) -> None:
    """List members: extension, number, name, role, district."""
    remote = remote_of()
    if remote is not None:
        for row in remote_members(remote, district, role, include_inactive):
            click.echo(_line(row))
        return
    db = _db(s)
    district, role = checked_district(db, district), checked_role(db, role)
    where, params = [], []
    if district:
        where.append("district = ? COLLATE NOCASE")
        params.append(district)
    if role:
        where.append("role = ?")
        params.append(role)
    if not include_inactive:
        where.append("active = 1")
    rows = db["members"].rows_where(" AND ".join(where) or None, params, order_by="extension")
    for row in rows:
        click.echo(_line(row))


@directory.command("show")
@click.argument("ident")
@click.option("--json", "as_json", is_flag=True, help="Everything, SIP credentials included.")
@click.pass_obj
def show_cmd(s: Settings, ident: str, as_json: bool) -> None:
    """Show a member by extension or phone number (any format)."""
    remote = remote_of()
    if remote is not None:  # never the SIP password: the API does not give it
        shown = remote_call(remote, "GET", f"/v1/members/{quote(ident.strip(), safe='')}")
        if as_json:
            click.echo(json.dumps(shown["member"], indent=2, ensure_ascii=False))
            return
        for key, value in shown["member"].items():
            click.echo(f"{key:>14}: {value}")
        return
    db = _db(s)
    m = _find(db, ident)
    if as_json:
        # Handing out SIP credentials is an admin act on child-protection infrastructure.
        audit.record(db, audit.cli_actor(), "member.show_credentials", m.phone)
        data = m.public_dict()
        data["supervisor_phone"] = _supervisor_phone(db, m)
        data["sip"] = {
            "username": m.sip_username,
            "password": m.sip_password,
            "realm": "cug",
            "server": f"{s.sip_bind}:{s.sip_port}",
        }
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for key, value in m.public_dict().items():
        click.echo(f"{key:>14}: {value}")
    click.echo(f"{'supervisor':>14}: {_supervisor_phone(db, m) or '-'}")
    click.echo(f"{'sip username':>14}: {m.sip_username}  (password: --json)")


def _member_options(fn):  # type: ignore[no-untyped-def]
    for opt in reversed(
        [
            click.option("--name"),
            click.option("--phone"),
            click.option("--role"),
            click.option("--district"),
            click.option("--supervisor-phone", help="Empty string removes the supervisor."),
            click.option("--extension"),
            click.option("--sub-county"),
            click.option("--organisation"),
            click.option("--language"),
        ]
    ):
        fn = opt(fn)
    return fn


@directory.command("add")
@_member_options
@click.pass_obj
def add_cmd(s: Settings, **values: str | None) -> None:
    """Add one member (name, phone, role and district are required)."""
    remote = remote_of()
    if remote is not None:
        given = {k: v for k, v in values.items() if v}
        added = remote_call(remote, "POST", "/v1/members", given)
        m, sip = added["member"], added["sip"]
        click.echo(f"added {m['name']}: extension {m['extension']}, number {m['phone']}")
        click.echo(f"SIP user name {sip['username']}, password {sip['password']} (shown once)")
        return
    db = _db(s)
    roles, districts = reference_data(db)
    clean = clean_member(MemberValues(**{k: v or "" for k, v in values.items()}), roles, districts)
    if clean.phone and Directory(db).member_by_phone(clean.phone):
        raise click.ClickException(f"{clean.phone} is already a member (use `edit`)")
    result = save_members(db, [(0, clean)], audit.cli_actor(), action="member.add")
    if not result.ok:
        raise click.ClickException("; ".join(reason for _, reason in result.errors))
    m = Directory(db).member_by_phone(clean.phone)
    assert m is not None
    click.echo(f"added {m.name}: extension {m.extension}, number {m.phone}")


@directory.command("edit")
@click.argument("ident")
@_member_options
@click.pass_obj
def edit_cmd(s: Settings, ident: str, **changes: str | None) -> None:
    """Change a member's fields; those not given stay as they are."""
    db = _db(s)
    m = _find(db, ident)
    current = MemberValues(
        name=m.name,
        phone=m.phone,
        role=m.role,
        district=m.district,
        supervisor_phone=_supervisor_phone(db, m),
        extension=m.extension,
        sub_county=m.sub_county,
        organisation=m.organisation,
        language=m.language,
    )
    for key, value in changes.items():
        if value is not None:
            setattr(current, key, value)
    roles, districts = reference_data(db)
    try:
        changed = update_member(
            db, m.id, clean_member(current, roles, districts), audit.cli_actor()
        )
    except MemberError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"changed: {', '.join(sorted(changed)) or 'nothing'}")


@directory.command("deactivate")
@click.argument("ident")
@click.pass_obj
def deactivate_cmd(s: Settings, ident: str) -> None:
    """Stop a member's calls and registrations (their record and history stay)."""
    db = _db(s)
    m = _find(db, ident)
    changed = set_active(db, m.id, False, audit.cli_actor())
    click.echo(f"{m.name} ({m.extension}) {'deactivated' if changed else 'was already inactive'}")


@directory.command("activate")
@click.argument("ident")
@click.pass_obj
def activate_cmd(s: Settings, ident: str) -> None:
    """Let a deactivated member back in."""
    db = _db(s)
    m = _find(db, ident)
    changed = set_active(db, m.id, True, audit.cli_actor())
    click.echo(f"{m.name} ({m.extension}) {'activated' if changed else 'was already active'}")


@directory.command("reset-password")
@click.argument("ident")
@click.pass_obj
def reset_password_cmd(s: Settings, ident: str) -> None:
    """Give a member a new SIP password; their phone must be set up again with it."""
    db = _db(s)
    m = _find(db, ident)
    password = reset_sip_password(db, m.id, audit.cli_actor())
    click.echo(f"new SIP password for {m.extension}: {password}")


@directory.command("districts")
@click.option("--add", "new", multiple=True, help="Add a district.")
@click.pass_obj
def districts_cmd(s: Settings, new: tuple[str, ...]) -> None:
    """List districts, or add some with --add."""
    db = _db(s)
    errors: list[str] = []
    for name in new:
        clean = clean_district_name(name, errors)
        if errors:
            raise click.ClickException("; ".join(errors))
        if db.execute("SELECT 1 FROM districts WHERE name = ? COLLATE NOCASE", (clean,)).fetchone():
            continue
        with writing(db):
            db["districts"].insert({"name": clean})
            audit.record(db, audit.cli_actor(), "district.add", clean, None, {"name": clean})
    for row in db.execute("SELECT name FROM districts ORDER BY name"):
        click.echo(row[0])


@directory.command("roles")
@click.pass_obj
def roles_cmd(s: Settings) -> None:
    """List the roles a member can have."""
    for row in _db(s).execute("SELECT code, title FROM roles ORDER BY code"):
        click.echo(f"{row[0]:<12} {row[1]}")


directory.add_command(short_codes)
directory.add_command(pins)
