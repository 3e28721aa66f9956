"""`cug case ...` and `cug report`: cases, referrals and the contact log from the command line.

CASE is a case number (what members key in) or its reference, e.g. `12` or `NCH-2025-0042`.
MEMBER is an extension or a phone number in any format.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
import sqlite_utils

from cug.cli_filters import checked_district
from cug.settings import Settings
from directory import audit
from directory.case_model import CASE_STATUSES, URGENCIES, Case
from directory.case_values import CaseError, parse_time, to_text
from directory.case_view import case_details, list_cases, member_label
from directory.cases import (
    assign_case,
    close_case,
    get_case,
    open_case,
    reopen_case,
    set_follow_up,
)
from directory.conference_view import describe as describe_conference
from directory.lookup import Directory
from directory.manual_links import link_contact
from directory.referrals import case_referrals, make_referral, move_referral
from directory.report import CaseResponse, DistrictMonth, case_response, district_month_report
from directory.schema import open_db
from directory.spending import Spending

TIME_HELP = "ISO date or date-time; without an offset it is UTC (add +03:00 for EAT)."


def _db(s: Settings) -> sqlite_utils.Database:
    return open_db(s.db)


def _failed(exc: CaseError) -> click.ClickException:
    return click.ClickException(str(exc))


def _case(db: sqlite_utils.Database, ident: str) -> Case:
    try:
        return get_case(db, ident)
    except CaseError as exc:
        raise _failed(exc) from None


def duration(seconds: int | None) -> str:
    """A number of seconds as people read it: 45s, 12m30s, 2h05m, 3d04h."""
    if seconds is None:
        return "-"
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d{hours:02d}h"
    if hours:
        return f"{sign}{hours}h{minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m{secs:02d}s"
    return f"{sign}{secs}s"


def _who(label: dict[str, Any] | None, number: str | None = None) -> str:
    if label and label.get("name"):
        return f"{label['extension']} {label['name']}"
    return number or "-"


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.group("case")
def case() -> None:
    """Cases: open, assign, refer, follow up, close; each case's calls and texts."""


@case.command("open")
@click.option("--district", required=True)
@click.option("--category", required=True, help="e.g. neglect (see case_categories).")
@click.option("--reference", help="The Helpline's or DAC's reference; default CUG-<number>.")
@click.option("--urgency", type=click.Choice(URGENCIES), default="normal", show_default=True)
@click.option("--assign", "assign", metavar="MEMBER", help="The worker who responds.")
@click.option("--reported-at", help=f"When the abuse was reported (default now). {TIME_HELP}")
@click.option("--follow-up", help=f"Follow-up due (a date: by the end of it). {TIME_HELP}")
@click.option("--summary", help="Free text; line breaks allowed.")
@click.pass_obj
def open_cmd(
    s: Settings,
    district: str,
    category: str,
    reference: str | None,
    urgency: str,
    assign: str | None,
    reported_at: str | None,
    follow_up: str | None,
    summary: str | None,
) -> None:
    """Open a case; prints the case number members key in before a call (*NUMBER*dialed)."""
    db = _db(s)
    try:
        new = open_case(
            db,
            audit.cli_actor(),
            district=district,
            category=category,
            reference=reference,
            urgency=urgency,
            reported_at=reported_at,
            assign=assign,
            follow_up_due=follow_up,
            summary=summary,
        )
    except CaseError as exc:
        raise _failed(exc) from None
    click.echo(f"case {new.id} opened ({new.reference}, {new.district}, {new.category})")
    click.echo(f"members key *{new.id}* before the number they dial to log the call against it")


@case.command("assign")
@click.argument("case_ident", metavar="CASE")
@click.argument("member", metavar="MEMBER")
@click.pass_obj
def assign_cmd(s: Settings, case_ident: str, member: str) -> None:
    """Give the case to a member (or another one)."""
    db = _db(s)
    before = _case(db, case_ident)
    try:
        after = assign_case(db, before.id, member, audit.cli_actor())
    except CaseError as exc:
        raise _failed(exc) from None
    who = _who(member_label(db, after.assigned_member_id))
    if before.assigned_member_id == after.assigned_member_id:
        click.echo(f"case {after.id} was already assigned to {who}")
    else:
        click.echo(f"case {after.id} assigned to {who}")


@case.command("follow-up")
@click.argument("case_ident", metavar="CASE")
@click.argument("due", metavar="DATE")
@click.pass_obj
def follow_up_cmd(s: Settings, case_ident: str, due: str) -> None:
    """Set when the case must next be followed up (`none` clears it). A date alone means by
    the end of that day (UTC)."""
    db = _db(s)
    found = _case(db, case_ident)
    try:
        after = set_follow_up(
            db, found.id, None if due.strip().lower() == "none" else due, audit.cli_actor()
        )
    except CaseError as exc:
        raise _failed(exc) from None
    click.echo(f"case {after.id}: follow-up due {after.follow_up_due or 'none'}")


@case.command("refer")
@click.argument("case_ident", metavar="CASE")
@click.option("--service", required=True, help="e.g. health, police, legal_aid.")
@click.option("--to", "to_member", metavar="MEMBER", help="The member who provides it.")
@click.option("--consent/--no-consent", default=None, help="Was consent given? (required)")
@click.option("--consent-by", help="Who gave consent (the carer may be the one reported).")
@click.option("--at", help=f"When it was made (default now). {TIME_HELP}")
@click.pass_obj
def refer_cmd(
    s: Settings,
    case_ident: str,
    service: str,
    to_member: str | None,
    consent: bool | None,
    consent_by: str | None,
    at: str | None,
) -> None:
    """Refer the case to a service; an open case becomes `referred`."""
    db = _db(s)
    found = _case(db, case_ident)
    try:
        referral = make_referral(
            db,
            found.id,
            audit.cli_actor(),
            service=service,
            consent=consent,
            consent_by=consent_by,
            to_member=to_member,
            at=at,
        )
    except CaseError as exc:
        raise _failed(exc) from None
    to = _who(member_label(db, referral.to_member_id)) if referral.to_member_id else "the service"
    click.echo(f"referral {referral.id} made on case {found.id}: {referral.service} ({to})")


@case.group("referral")
def referral() -> None:
    """Take a referral one step: accept, decline, complete, fail."""


def _step_command(name: str, status: str, help_text: str) -> None:
    @referral.command(name, help=help_text)
    @click.argument("referral_id", type=int)
    @click.option("--reason", help="Why (required to decline or fail).")
    @click.option("--at", help=f"When (default now). {TIME_HELP}")
    @click.pass_obj
    def step(s: Settings, referral_id: int, reason: str | None, at: str | None) -> None:
        db = _db(s)
        try:
            done = move_referral(db, referral_id, status, audit.cli_actor(), reason, at)
        except CaseError as exc:
            raise _failed(exc) from None
        click.echo(f"referral {done.id} (case {done.case_id}) {done.status}")


_step_command("accept", "accepted", "The service has taken the referral on.")
_step_command("decline", "declined", "The service will not take it (--reason required).")
_step_command("complete", "completed", "The accepted referral was carried out.")
_step_command("fail", "failed", "The accepted referral could not be carried out (--reason).")


@case.command("close")
@click.argument("case_ident", metavar="CASE")
@click.option("--reason", required=True)
@click.pass_obj
def close_cmd(s: Settings, case_ident: str, reason: str) -> None:
    """Close the case."""
    db = _db(s)
    found = _case(db, case_ident)
    try:
        closed = close_case(db, found.id, reason, audit.cli_actor())
    except CaseError as exc:
        raise _failed(exc) from None
    click.echo(f"case {closed.id} closed")
    pending = [r for r in case_referrals(db, closed.id) if r.status in ("made", "accepted")]
    for r in pending:
        click.echo(f"note: referral {r.id} ({r.service}) is still {r.status}", err=True)


@case.command("reopen")
@click.argument("case_ident", metavar="CASE")
@click.pass_obj
def reopen_cmd(s: Settings, case_ident: str) -> None:
    """Reopen a closed case."""
    db = _db(s)
    found = _case(db, case_ident)
    try:
        reopened = reopen_case(db, found.id, audit.cli_actor())
    except CaseError as exc:
        raise _failed(exc) from None
    click.echo(f"case {reopened.id} reopened ({reopened.status})")


@case.command("link")
@click.argument("contact_id", type=int)
@click.argument("case_ident", metavar="CASE")
@click.option("--force", is_flag=True, help="Move a contact already linked to another case.")
@click.pass_obj
def link_cmd(s: Settings, contact_id: int, case_ident: str, force: bool) -> None:
    """Attach a logged call or text to a case afterwards."""
    db = _db(s)
    found = _case(db, case_ident)
    try:
        contact, changed = link_contact(db, contact_id, found.id, audit.cli_actor(), force)
    except CaseError as exc:
        raise _failed(exc) from None
    if not changed:
        click.echo(f"contact {contact_id} was already linked to case {found.id}")
        return
    late = " (after the case was closed)" if contact["after_close"] else ""
    click.echo(f"contact {contact_id} linked to case {found.id}{late}")


@case.command("suggest")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.pass_obj
def suggest_cmd(s: Settings, limit: int) -> None:
    """Unlinked answered calls between people who share open cases, with the cases to link
    them to (`cug case link CONTACT CASE`)."""
    from directory.case_links import link_suggestions
    from directory.lookup import Directory

    db = _db(s)
    directory = Directory(db)
    found = link_suggestions(db, limit)
    if not found:
        click.echo("no unlinked calls between people who share an open case")
    for item in found:
        caller = directory.member(int(item["caller_member_id"]))  # type: ignore[arg-type]
        callee = directory.member(int(item["callee_member_id"]))  # type: ignore[arg-type]
        cases = ", ".join(str(c) for c in item["cases"])  # type: ignore[attr-defined]
        click.echo(
            f"contact {item['contact_id']:>6}  {str(item['placed_at'])[:16]}  "
            f"{caller.name if caller else '?'} -> {callee.name if callee else '?'}  "
            f"case(s) {cases}"
        )


def _case_line(c: Case, assigned: dict[str, Any] | None) -> str:
    due = c.follow_up_due[:10] if c.follow_up_due else "-"
    return (
        f"{c.id:>6}  {c.reference[:20]:<20} {c.district:<10} {c.category:<18} "
        f"{c.urgency:<7} {c.status:<9} {c.reported_at[:16]:<16}  due {due:<10}  "
        f"{_who(assigned)}"
    )


@case.command("list")
@click.option("--district")
@click.option("--status", type=click.Choice(CASE_STATUSES))
@click.option("--assigned", metavar="MEMBER", help="Cases of this worker.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_cmd(
    s: Settings, district: str | None, status: str | None, assigned: str | None, as_json: bool
) -> None:
    """List cases, newest report first."""
    db = _db(s)
    district = checked_district(db, district)
    member_id = None
    if assigned:
        member = Directory(db).find(assigned)
        if member is None:
            raise click.ClickException(f"no member with extension or number {assigned[:40]!r}")
        member_id = member.id
    found = list_cases(db, district, status, member_id)
    if as_json:
        _echo_json(
            [{**c.to_dict(), "assigned": member_label(db, c.assigned_member_id)} for c in found]
        )
        return
    for c in found:
        click.echo(_case_line(c, member_label(db, c.assigned_member_id)))


def _response_lines(r: dict[str, Any]) -> list[str]:
    if r["assigned_member_id"] is None:
        return ["response: nobody assigned"]
    if r["first_contact_seconds"] is None:
        return ["response: no contact by the assigned worker yet"]
    answered = (
        f"first answered after {duration(r['first_answered_seconds'])} "
        f"(contact {r['first_answered_id']})"
        if r["first_answered_id"] is not None
        else "none answered yet"
    )
    return [
        f"response: first contact after {duration(r['first_contact_seconds'])} "
        f"(contact {r['first_contact_id']}); {answered}"
    ]


def _when(text: str | None) -> tuple[datetime, str]:
    """A stored time for sorting and, shown in UTC to the second, for reading."""
    moment = parse_time(text, "time", [])
    if moment is None:
        return datetime.min.replace(tzinfo=UTC), (text or "?")
    return moment, to_text(moment)[:19]


def _timeline(details: dict[str, Any]) -> list[str]:
    """The case's history and its contacts, one line each, in time order (UTC)."""
    items: list[tuple[datetime, str]] = []
    for e in details["events"]:
        moment, shown = _when(e["at"])
        detail = ", ".join(f"{k}={v}" for k, v in e["detail"].items() if v not in (None, ""))
        line = f"{shown}  {e['action']} by {e['actor']}" + (f"  ({detail})" if detail else "")
        items.append((moment, line))
    for k in details["contacts"]:
        moment, shown = _when(k["placed_at"])
        marks = [m for m in (k["link"], "after close" if k["after_close"] else "") if m]
        line = (
            f"{shown}  {k['kind']} {k['id']}: {_who(k['caller'], k['caller_number'])} -> "
            f"{_who(k['callee'], k['callee_number'] or k['dialed'])}  {k['outcome'] or ''}"
            + (f"  [{', '.join(marks)}]" if marks else "")
        )
        items.append((moment, line))
    return [line for _, line in sorted(items, key=lambda item: item[0])]


@case.command("show")
@click.argument("case_ident", metavar="CASE")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def show_cmd(s: Settings, case_ident: str, as_json: bool) -> None:
    """The case, its referrals with their steps, and its history and contacts as a timeline."""
    db = _db(s)
    details = case_details(db, _case(db, case_ident))
    if as_json:
        _echo_json(details)
        return
    c = details["case"]
    click.echo(f"case {c['id']}  {c['reference']}  ({c['status']}, {c['urgency']})")
    click.echo(f"  district {c['district']}, category {c['category']}")
    click.echo(f"  reported {c['reported_at']}, opened {c['opened_at']} by {c['created_by']}")
    click.echo(f"  assigned {_who(c['assigned'])}")
    click.echo(f"  follow-up due {c['follow_up_due'] or '-'}")
    if c["status"] == "closed":
        click.echo(f"  closed {c['closed_at']}: {c['close_reason']}")
    for line in _response_lines(details["response"]):
        click.echo(f"  {line}")
    if c["summary"]:
        click.echo("  summary:")
        for line in c["summary"].splitlines():
            click.echo(f"    {line}")
    if details["referrals"]:
        click.echo("referrals:")
    for r in details["referrals"]:
        to = _who(r["to"]) if r["to"] else "the service"
        consent = f"consent by {r['consent_by']}" if r["consent"] else "no consent"
        click.echo(f"  {r['id']}: {r['service']} -> {to}, {consent}: {r['status']}")
        for h in r["history"]:
            why = f": {h['reason']}" if h["reason"] else ""
            click.echo(f"      {h['at'][:19]}  {h['status']} by {h['actor']}{why}")
    if details["conferences"]:
        click.echo("conferences:")
    for conference in details["conferences"]:
        click.echo(f"  {describe_conference(conference)}")
    click.echo("timeline:")
    for line in _timeline(details):
        click.echo(f"  {line}")


def _report_row(r: DistrictMonth) -> str:
    share = f"{r.linked_share:.0%}" if r.linked_share is not None else "-"
    referrals = (
        f"{r.referrals_made}/{r.referrals_accepted}/{r.referrals_declined}/"
        f"{r.referrals_completed}/{r.referrals_failed}"
    )
    return (
        f"{r.district:<10} {r.month:<7} {r.cases:>5} {duration(r.response_median_s):>8} "
        f"{duration(r.response_p90_s):>8} {r.no_contact_yet:>4} ({r.unassigned} unassigned) "
        f"{referrals:>15} {duration(r.referral_completion_median_s):>8} "
        f"{r.follow_ups_overdue:>7} {r.contacts_linked:>6}/{r.contacts:<6} {share:>5}"
    )


REPORT_HEADER = (
    f"{'district':<10} {'month':<7} {'cases':>5} {'median':>8} {'p90':>8} "
    f"{'no contact yet':<20} {'ref m/a/d/c/f':>15} {'to done':>8} {'overdue':>7} "
    f"{'linked':>13} {'share':>5}"
)


def _print_case_response(r: CaseResponse) -> None:
    click.echo(f"case {r.case_id} {r.reference} ({r.district}, {r.status})")
    click.echo(f"  reported {r.reported_at}")
    for line in _response_lines(r.to_dict()):
        click.echo(f"  {line}")


def _print_spending(
    db: sqlite_utils.Database, table: list[DistrictMonth], district: str | None, month: str | None
) -> None:
    """SMS parts and callbacks per district and month, and the members who cost most."""
    spent = [r for r in table if r.sms_parts or r.callbacks]
    for r in spent:
        click.echo(
            f"{r.district} {r.month} spent: {r.sms_parts} SMS parts, {r.callbacks} callbacks"
        )
    if not spent:
        return
    since, until = (f"{month}-01", f"{month}-31") if month else ("0000", "9999")
    top = Spending(db).top_members(since, until, spent[0].district if district else None)
    click.echo(
        "most spent on: "
        + "; ".join(
            f"{m.extension} {m.name} ({m.district}) {m.sms_parts} SMS parts, "
            f"{m.callbacks} callbacks"
            for m in top
        )
    )


@click.command("report")
@click.option("--district")
@click.option("--month", metavar="YYYY-MM")
@click.option("--case", "case_ident", metavar="CASE", help="Only this case's response figures.")
@click.option("--as-of", help=f"'Now' for overdue follow-ups. {TIME_HELP}")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def report(
    s: Settings,
    district: str | None,
    month: str | None,
    case_ident: str | None,
    as_of: str | None,
    as_json: bool,
) -> None:
    """Response times, referrals and follow-ups per district and month (UTC).

    median/p90: report to the assigned worker's first contact (nearest rank); no contact yet:
    cases without one; ref m/a/d/c/f: referrals made/accepted/declined/completed/failed;
    to done: median referral made to completed; overdue: follow-ups past due with no contact
    since; linked: contacts placed by the district's members that are linked to a case.
    Escalated calls: how many, the step they were taken at, how long callers waited, and
    how many nobody took.
    """
    db = _db(s)
    try:
        if case_ident:
            figures = case_response(db, case_ident)
            if as_json:
                _echo_json(figures.to_dict())
            else:
                _print_case_response(figures)
            return
        errors: list[str] = []
        moment = parse_time(as_of, "as_of", errors)
        if errors:
            raise CaseError(errors)
        table = district_month_report(db, district, month, as_of=moment)
    except CaseError as exc:
        raise _failed(exc) from None
    if as_json:
        _echo_json([r.to_dict() for r in table])
        return
    if not table:
        click.echo("nothing recorded yet for that choice")
        return
    click.echo(REPORT_HEADER)
    for r in table:
        click.echo(_report_row(r))
    for r in table:
        if r.escalated_calls:
            steps = ", ".join(f"step {k}: {n}" for k, n in r.escalations_taken_at_step.items())
            click.echo(
                f"{r.district} {r.month} escalated calls: {r.escalated_calls}; taken at "
                f"{steps or 'no step'}; wait median {duration(r.escalation_wait_median_s)}, "
                f"p90 {duration(r.escalation_wait_p90_s)}; nobody took "
                f"{r.escalations_exhausted}"
            )
    for r in table:
        if r.case_conferences or r.cases_with_conference:
            share = f"{r.conference_share:.0%}" if r.conference_share is not None else "-"
            click.echo(
                f"{r.district} {r.month} case conferences: {r.case_conferences}; cases "
                f"reported that had one: {r.cases_with_conference} of {r.cases} ({share})"
            )
    _print_spending(db, table, district, month)
    for r in table:
        for title, reasons in (("declined", r.decline_reasons), ("failed", r.failure_reasons)):
            if reasons:
                counted = "; ".join(f"{why} ({n})" for why, n in reasons.items())
                click.echo(f"{r.district} {r.month} {title}: {counted}")
