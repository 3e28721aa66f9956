"""`cug texts ...`: the SMS relay's queue as an admin sees it.

Who texted whom, when, on which case and how each delivery stands; bodies only on request
(`--bodies`), and every such read is written to the audit table: texts are child-protection
data.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import click

from cug.settings import Settings
from directory import audit
from directory.lookup import Directory
from directory.schema import open_db
from directory.texts import TextStore
from directory.transactions import writing

_LIST = (
    "SELECT t.id, t.created_at, t.kind, coalesce(s.extension, '{service}') AS sender, "
    "t.addressed, t.team, t.case_id, r.extension AS recipient, d.status, d.via, "
    "d.attempts, d.delivered_at, d.last_error, t.body, t.purged_at "
    "FROM texts t JOIN text_deliveries d ON d.text_id = t.id "
    "JOIN members r ON r.id = d.recipient_member_id "
    "LEFT JOIN members s ON s.id = t.sender_member_id "
)


@click.group("texts")
def texts() -> None:
    """Texts between members: the queue, deliveries, retention."""


def _rows(s: Settings, where: str, params: list[Any], limit: int) -> list[dict[str, Any]]:
    db = open_db(s.db)
    sql = _LIST.format(service=s.texts.service_number) + where + " ORDER BY d.id DESC LIMIT ?"
    return [dict(r) for r in db.query(sql, [*params, limit])]


def _show(rows: list[dict[str, Any]], bodies: bool, as_json: bool) -> None:
    for row in rows:
        if not bodies:
            row.pop("body")
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        case = f" case {r['case_id']}" if r["case_id"] else ""
        team = f" (team {r['team']})" if r["team"] else ""
        via = f" via {r['via']}" if r["via"] else ""
        click.echo(
            f"{r['id']:>6} {r['created_at'][:19]} {r['sender']} -> {r['recipient']}{team}{case}: "
            f"{r['status']}{via}, {r['attempts']} tries"
            + (f" ({r['last_error']})" if r["last_error"] and r["status"] != "delivered" else "")
        )
        if bodies:
            click.echo(f"       {r['body'] if r['body'] is not None else '[purged]'}")


def _audit_read(s: Settings, what: str, rows: list[dict[str, Any]]) -> None:
    db = open_db(s.db)
    with writing(db):
        audit.record(
            db,
            audit.cli_actor(),
            "texts.read_bodies",
            what,
            after={"texts": sorted({r["id"] for r in rows})},
        )


@texts.command("list")
@click.option("--member", help="Only texts from or to this extension.")
@click.option("--status", type=click.Choice(["queued", "delivered", "expired", "failed"]))
@click.option("--limit", default=50, show_default=True)
@click.option("--bodies", is_flag=True, help="Show what the texts say (the read is audited).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_cmd(
    s: Settings, member: str | None, status: str | None, limit: int, bodies: bool, as_json: bool
) -> None:
    """Newest deliveries first: sender, recipient, case, status, tries."""
    where, params = ["1 = 1"], []
    if member and Directory(open_db(s.db)).member_by_extension(member.strip()) is None:
        raise click.ClickException(f"no member with extension {member[:20]!r}")
    if member:
        where.append("(s.extension = ? OR r.extension = ?)")
        params += [member, member]
    if status:
        where.append("d.status = ?")
        params.append(status)
    rows = _rows(s, "WHERE " + " AND ".join(where), params, limit)
    if bodies:
        _audit_read(s, f"texts member={member or '*'} status={status or '*'}", rows)
    _show(rows, bodies, as_json)


@texts.command("show")
@click.argument("text_id", type=int)
@click.option("--bodies", is_flag=True, help="Show what the text says (the read is audited).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def show_cmd(s: Settings, text_id: int, bodies: bool, as_json: bool) -> None:
    """One text and each of its deliveries."""
    rows = _rows(s, "WHERE t.id = ?", [text_id], 1000)
    if not rows:
        raise click.ClickException(f"no text {text_id}")
    if bodies:
        _audit_read(s, f"text:{text_id}", rows)
    _show(rows, bodies, as_json)


@texts.command("queue")
@click.pass_obj
def queue_cmd(s: Settings) -> None:
    """How many deliveries stand in each state."""
    counts = TextStore(open_db(s.db)).counts()
    for status in ("queued", "delivered", "expired", "failed"):
        click.echo(f"{status:>9}: {counts.get(status, 0)}")


@texts.command("purge")
@click.option("--days", type=int, help="Retention in days (default: the install's).")
@click.pass_obj
def purge_cmd(s: Settings, days: int | None) -> None:
    """Remove now the bodies of texts that ended longer ago than the retention (the service
    does this every hour); the contact rows stay."""
    keep = s.texts.retention_days if days is None else days
    if keep < 0:
        raise click.ClickException("--days must be 0 or more")
    db = open_db(s.db)
    purged = TextStore(db).purge_bodies(timedelta(days=keep))
    with writing(db):
        audit.record(
            db,
            audit.cli_actor(),
            "texts.purge",
            f"older than {keep} days",
            after={"purged": purged},
        )
    click.echo(f"purged the bodies of {purged} texts (kept: {keep} days)")


KANNEL_SERVICE = """# Texts members send to the CUG's number, posted to the CUG service (cug serve).
# Put this group into Kannel's kannel.conf (owner-only: it holds the CUG's secret), and in
# Kannel's `group = smsbox`: http-request-retry = 600 and http-queue-delay = 10, so a text
# the service could not store is posted again, every 10 s for 100 minutes.
group = sms-service
keyword = default
post-url = "http://{user}:{secret}@127.0.0.1:{port}/sms/kannel?from=%p&to=%P&id=%I&coding=%c"
max-messages = 0
omit-empty = true
concatenation = true
"""


@texts.command("sms-service")
@click.pass_obj
def sms_service_cmd(s: Settings) -> None:
    """Print the Kannel sms-service group that posts members' texts to this install.

    Saves the install's generated secret in cug.ini first if it was not there yet."""
    from web.sms_inbound import USERNAME

    path = s.settings_path
    if not path.exists() or "[sms_inbound]" not in path.read_text(errors="replace"):
        s.save()
    click.echo(
        KANNEL_SERVICE.format(user=USERNAME, secret=s.sms_inbound_secret, port=s.http_port),
        nl=False,
    )
