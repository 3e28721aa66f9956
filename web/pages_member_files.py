"""Members as CSV files on the admin site: import (all or nothing, every bad row shown with
its line and reason) and export (formula cells neutralised), both within the account's
districts."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils
from aiohttp import web
from aiohttp_session import get_session

from directory import audit
from directory.csv_io import CsvError, decode_csv, export_csv, import_text
from directory.members import SaveResult
from directory.schema import open_db
from directory.transactions import writing
from web.context import stamped_change
from web.pages import db_file, flash, render, require, see_other, site_db
from web.sessions import CSRF_FIELD, csrf_ok

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
MAX_UPLOAD = 20 * 1024 * 1024
SHOWN_ERRORS = 500
_NAME = re.compile(r"[^A-Za-z0-9._-]")


class TooLarge(Exception):
    pass


async def _read_upload(request: web.Request) -> tuple[dict[str, str], str, bytes]:
    """The form's fields, the file's name and its bytes, refused past MAX_UPLOAD."""
    if request.content_length is not None and request.content_length > MAX_UPLOAD + 4096:
        raise TooLarge
    fields: dict[str, str] = {}
    name, data = "", b""
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if part.name == "file" and hasattr(part, "filename"):
            name = part.filename or "upload.csv"  # type: ignore[union-attr]
            chunks, size = [], 0
            while chunk := await part.read_chunk(65536):  # type: ignore[union-attr]
                size += len(chunk)
                if size > MAX_UPLOAD:
                    raise TooLarge
                chunks.append(chunk)
            data = b"".join(chunks)
        elif part.name:
            fields[part.name] = (await part.read(decode=True))[:4096].decode("utf-8", "replace")  # type: ignore[union-attr]
    return fields, name, data


@dataclass(frozen=True)
class ImportJob:
    data: bytes
    label: str
    actor: str
    address: str
    districts: tuple[str, ...] | None

    def run(self, db: sqlite_utils.Database) -> SaveResult:
        with stamped_change(db, self.address):
            return import_text(
                db,
                decode_csv(self.data, self.label),
                self.label,
                self.actor,
                only_districts=self.districts,
            )

    def run_at(self, path: str) -> SaveResult:
        db = open_db(path)
        try:
            return self.run(db)
        finally:
            db.close()


@routes.get("/members/import")
async def import_page(request: web.Request) -> web.Response:
    require(request, "members.write")
    return await render(request, "import.html", {"errors": [], "problem": ""})


@routes.post("/members/import")
async def import_file(request: web.Request) -> web.Response:
    account = require(request, "members.write")
    try:
        fields, name, data = await _read_upload(request)
    except TooLarge:
        problem = f"The file is larger than {MAX_UPLOAD // 2**20} MB: split it; nothing imported."
        return await render(request, "import.html", {"errors": [], "problem": problem}, 413)
    if not csrf_ok(await get_session(request), fields.get(CSRF_FIELD)):
        raise web.HTTPForbidden(reason="the form was sent without this session's token")
    label = _NAME.sub("_", name)[-80:] or "upload.csv"
    job = ImportJob(
        data, label, account.actor, request.remote or "unknown", account.scoped_districts
    )
    db = site_db(request)
    path = db_file(db)
    try:
        # A large file takes seconds to check and store: in a thread with a connection of
        # its own, so that the calls the service routes on this loop are not held up.
        result = await asyncio.to_thread(job.run_at, path) if path else job.run(db)
    except CsvError as exc:
        problem = f"{exc}; nothing imported."
        return await render(request, "import.html", {"errors": [], "problem": problem}, 422)
    if not result.ok:
        bad = len({line for line, _ in result.errors})
        context = {
            "errors": result.errors[:SHOWN_ERRORS],
            "more": max(0, len(result.errors) - SHOWN_ERRORS),
            "problem": f"{bad} bad row(s) in {label}; nothing imported.",
        }
        return await render(request, "import.html", context, 422)
    log.info("admin %s imported %s: %s", account.username, label, result)
    await flash(
        request,
        f"Imported {label}: {result.added} added, {result.updated} updated, "
        f"{result.unchanged} unchanged.",
    )
    raise see_other("/members")


@routes.get("/members/export.csv")
async def export(request: web.Request) -> web.Response:
    account = require(request, "members.export")
    out = io.StringIO()
    db = site_db(request)
    count = export_csv(db, out, account.scoped_districts)
    log.info("admin %s exported %d members", account.username, count)
    # The whole directory (names, numbers) leaving the system: in the audit, not only the log.
    with writing(db):
        audit.record(
            db,
            account.actor,
            "member.export",
            "members",
            None,
            {"members": count, "remote_addr": request.remote or "unknown"},
        )
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return web.Response(
        body=out.getvalue().encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="cug-members-{stamp}.csv"'},
    )
