"""Figures from the case tables and the contact log: how fast workers respond, how referrals end.

Definitions (the same everywhere in this module):

* **Involvement**: the assigned worker took part in a contact when the contact is linked to
  the case (`contacts.case_id`) and the worker (`cases.assigned_member_id`, as it is now) is
  its caller or its callee. Only contacts placed at or after `reported_at` count: a contact
  before the report cannot answer it.
* **Response time** of a case: seconds from `reported_at` to `placed_at` of the first contact
  the assigned worker took part in, whatever its outcome. The *answered* figure is to the
  first such contact with outcome `answered`, at its `answered_at` (its `placed_at` if none).
  A case with no such contact yet (or no worker assigned) has no response time and is counted
  in `no_contact_yet`, never as zero; `unassigned` is the part of those with nobody assigned.
* **Percentiles** are nearest-rank: the p-th percentile of n sorted values is the value at
  rank ceil(p/100 · n) (1-based). The median is the 50th: with an even n it is the lower of
  the two middle values. Always one of the observed values; None when there are none.
* **Month and district**: a case counts in the month (UTC) of `reported_at` and its district;
  its referrals count with it (a cohort: of the cases reported that month, how many
  referrals were made, and how far they got). A contact counts in the month (UTC) of its
  `placed_at` and the district of its calling member; contacts without a calling member
  (e.g. refused outsiders, system reminders) are left out of the linked share.
* **Referral counts** are the referrals that reached each step: `accepted` counts those
  accepted, completed or failed (completing needs an acceptance first). Reasons are counted
  by their text, ignoring letter case and surrounding spaces.
* **Referral completion time**: seconds from `made_at` to the `completed` step in
  `referral_events`; median over completed referrals.
* **Escalated calls**: calls that rang a second step of their escalation chain, or ran out
  of steps (directory table `escalations`), counted in the month (UTC) of their start and
  the district of their calling member, once settled (a few seconds after they end).
  `taken at step n` counts the calls someone took with the key; the wait is seconds from
  the call's start until it was taken (nearest-rank median and 90th percentile over taken
  calls); `exhausted` counts calls where every step rang and nobody took it.
* **Spending**: SMS parts sent to members' mobiles and callbacks placed to them
  (directory/spending.py), counted in the district the member was in when it was spent and
  the month of the install's local day (Africa/Kampala, not UTC: the daily caps count local
  days).
* **Case conferences**: conferences started on a case (`conferences`, by pull-in or the CLI;
  started twice while running is one), counted in the month (UTC) they started and the
  case's district. `cases_with_conference` counts, of the cases reported that month (the
  same cohort as the response figures), those that had at least one conference at any time;
  `conference_share` is that over the month's cases.
* **Overdue follow-up**: a case that is not closed, whose `follow_up_due` is before `as_of`
  (default now), with no contact linked to the case placed at or after `follow_up_due`.

Timestamps are ISO-8601 text; SQLite's julianday()/strftime() read them with or without a
UTC offset or fractional seconds, so every comparison is made on parsed times, not text.
Everything is aggregated in SQL: no Python loop over contacts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any

import sqlite_utils

from directory.case_model import rows
from directory.case_values import CaseError
from directory.cases import get_case
from directory.schema import CONTACTS_COUNTED_THROUGH
from directory.transactions import writing

SORT_THREADS = 4
# The row of (district, month), created on first use.
Entry = Callable[[str, str], "DistrictMonth"]
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
SECONDS = "CAST(round(({later} - {earlier}) * 86400) AS INTEGER)"


@dataclass(frozen=True)
class CaseResponse:
    """Response figures of one case (see the module's definitions)."""

    case_id: int
    reference: str
    district: str
    status: str
    reported_at: str
    assigned_member_id: int | None
    first_contact_id: int | None
    first_contact_at: str | None
    first_contact_seconds: int | None
    first_answered_id: int | None
    first_answered_at: str | None
    first_answered_seconds: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DistrictMonth:
    """One district's figures for one month (UTC)."""

    district: str
    month: str  # YYYY-MM
    cases: int = 0
    responded: int = 0
    no_contact_yet: int = 0
    unassigned: int = 0
    response_median_s: int | None = None
    response_p90_s: int | None = None
    referrals_made: int = 0
    referrals_accepted: int = 0
    referrals_declined: int = 0
    referrals_completed: int = 0
    referrals_failed: int = 0
    decline_reasons: dict[str, int] = field(default_factory=dict)
    failure_reasons: dict[str, int] = field(default_factory=dict)
    referral_completion_median_s: int | None = None
    follow_ups_overdue: int = 0
    contacts: int = 0
    contacts_linked: int = 0
    escalated_calls: int = 0
    escalations_taken_at_step: dict[str, int] = field(default_factory=dict)
    escalation_wait_median_s: int | None = None
    escalation_wait_p90_s: int | None = None
    escalations_exhausted: int = 0
    sms_parts: int = 0
    callbacks: int = 0
    case_conferences: int = 0
    cases_with_conference: int = 0

    @property
    def linked_share(self) -> float | None:
        """Share of the district's contacts that month linked to a case (None: no contacts)."""
        return self.contacts_linked / self.contacts if self.contacts else None

    @property
    def conference_share(self) -> float | None:
        """Share of the month's cases that had a case conference (None: no cases)."""
        return self.cases_with_conference / self.cases if self.cases else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["linked_share"] = self.linked_share
        data["conference_share"] = self.conference_share
        return data


# ---------------------------------------------------------------------------------- per case

_INVOLVED = (
    "k.case_id = :case_id "
    "AND (k.caller_member_id = :member OR k.callee_member_id = :member) "
    "AND julianday(k.placed_at) >= julianday(:reported_at)"
)


def case_response(db: sqlite_utils.Database, case_ident: int | str) -> CaseResponse:
    """Time from the report to the assigned worker's first contact, and first answered one."""
    case = get_case(db, case_ident)
    params = {
        "case_id": case.id,
        "member": case.assigned_member_id,
        "reported_at": case.reported_at,
    }
    first: dict[str, Any] = {}
    answered: dict[str, Any] = {}
    if case.assigned_member_id is not None:
        seconds = SECONDS.format(later="julianday(k.placed_at)", earlier="julianday(:reported_at)")
        found = rows(
            db.execute(
                f"SELECT k.id, k.placed_at AS at, {seconds} AS seconds FROM contacts k "
                f"WHERE {_INVOLVED} ORDER BY julianday(k.placed_at), k.id LIMIT 1",
                params,
            )
        )
        first = found[0] if found else {}
        moment = "coalesce(k.answered_at, k.placed_at)"
        seconds = SECONDS.format(later=f"julianday({moment})", earlier="julianday(:reported_at)")
        found = rows(
            db.execute(
                f"SELECT k.id, {moment} AS at, {seconds} AS seconds FROM contacts k "
                f"WHERE {_INVOLVED} AND k.outcome = 'answered' "
                f"ORDER BY julianday({moment}), k.id LIMIT 1",
                params,
            )
        )
        answered = found[0] if found else {}
    return CaseResponse(
        case_id=case.id,
        reference=case.reference,
        district=case.district,
        status=case.status,
        reported_at=case.reported_at,
        assigned_member_id=case.assigned_member_id,
        first_contact_id=first.get("id"),
        first_contact_at=first.get("at"),
        first_contact_seconds=first.get("seconds"),
        first_answered_id=answered.get("id"),
        first_answered_at=answered.get("at"),
        first_answered_seconds=answered.get("seconds"),
    )


# ------------------------------------------------------------------------ district and month


def _month_bounds(month: str) -> tuple[str, str]:
    """Text bounds around `month` one day wider on each side: they let an index narrow the
    rows before the exact (parsed) month test, whatever UTC offset a stored time carries."""
    year, mon = (int(part) for part in month.split("-"))
    start = date(year, mon, 1)
    end = date(year + mon // 12, mon % 12 + 1, 1)
    return (start - timedelta(days=1)).isoformat(), (end + timedelta(days=1)).isoformat()


@dataclass(frozen=True)
class Narrowing:
    """What a report is narrowed to: a district, a month (YYYY-MM), a team (member ids: a
    supervisor's figures count only their team's cases, calls, texts and spending)."""

    district: str | None = None
    month: str | None = None
    team: frozenset[int] | None = None

    def where(
        self, time_column: str | None, district_column: str | None, member_column: str
    ) -> tuple[str, dict[str, Any]]:
        """SQL conditions (and their parameters) on a table's time, district and member
        columns; a month is tested on the parsed time, after text bounds an index can use."""
        where = ["1"]
        params: dict[str, Any] = {}
        if self.district is not None and district_column is not None:
            where.append(f"{district_column} = :district")
            params["district"] = self.district
        if self.month is not None and time_column is not None:
            params["month"], (params["lo"], params["hi"]) = self.month, _month_bounds(self.month)
            where.append(
                f"{time_column} >= :lo AND {time_column} < :hi "
                f"AND strftime('%Y-%m', {time_column}) = :month"
            )
        if self.team is not None:
            where.append(f"{member_column} IN (SELECT value FROM json_each(:team))")
            params["team"] = json.dumps(sorted(self.team))
        return " AND ".join(where), params


def _percentiles(
    db: sqlite_utils.Database, source: str, value: str
) -> Iterator[tuple[str | None, str | None, Any, Any]]:
    """Nearest-rank median and 90th percentile of `value` per (district, month) of `source`:
    (district, month, p50, p90). SQLite sorts; the ranks are picked here, in one pass over
    the sorted values (a third of the time of window functions over 100,000 cases)."""
    found = db.execute(
        f"SELECT district, month, {value} FROM {source} WHERE {value} IS NOT NULL "
        "ORDER BY district, month, 3"
    )
    for (district, month), group in groupby(found, key=itemgetter(0, 1)):
        values = [row[2] for row in group]
        n = len(values)
        yield district, month, values[(n + 1) // 2 - 1], values[(9 * n + 9) // 10 - 1]


def district_month_report(
    db: sqlite_utils.Database,
    district: str | None = None,
    month: str | None = None,
    as_of: datetime | None = None,
    team: frozenset[int] | None = None,
) -> list[DistrictMonth]:
    """Figures per district and month (see the module's definitions), sorted by district then
    month; `district` and `month` (YYYY-MM) narrow it; `as_of` is "now" for overdue follow-ups;
    `team` (member ids) narrows it to a supervisor's team: the cases assigned to its members
    (and their referrals and conferences), and the calls, escalated calls and spending of its
    members.
    """
    errors: list[str] = []
    if month is not None and not MONTH.match(month):
        errors.append(f"month {month[:20]!r} must be YYYY-MM")
    if district is not None:
        row = db.execute(
            "SELECT name FROM districts WHERE name = ? COLLATE NOCASE", (district.strip(),)
        ).fetchone()
        if row is None:
            errors.append(f"unknown district {district[:40]!r}")
        else:
            district = row[0]
    if errors:
        raise CaseError(errors)
    as_of_text = (as_of or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    narrow = Narrowing(district, month, team)
    out: dict[tuple[str, str], DistrictMonth] = {}

    def entry(d: str, m: str) -> DistrictMonth:
        if (d, m) not in out:
            out[(d, m)] = DistrictMonth(district=d, month=m)
        return out[(d, m)]

    count_new_contacts(db)  # its own transaction (a savepoint inside the caller's)
    # Each case's figures are worked out once, into a scratch table the queries share.
    started = not db.conn.in_transaction
    # Let SQLite's sorter (the GROUP BYs over the contacts) use helper threads for this call.
    threads = db.execute("PRAGMA threads").fetchone()[0]
    db.execute(f"PRAGMA threads = {max(threads, min(SORT_THREADS, os.cpu_count() or 1))}")
    try:
        _fill_cases(db, narrow, as_of_text)
        _case_counts(db, entry)
        for d, m, p50, p90 in _percentiles(db, "_report_cases", "response"):
            e = entry(d, m)
            e.response_median_s, e.response_p90_s = p50, p90
        _referral_counts(db, entry)
        _contact_counts(db, entry, narrow)
        _escalation_counts(db, entry, narrow)
        _spending_counts(db, entry, narrow)
        _conference_counts(db, entry, narrow)
    finally:
        db.execute("DROP TABLE IF EXISTS temp._report_cases")
        if started and db.conn.in_transaction:
            db.conn.commit()  # only the scratch table was written: leave no snapshot open
        db.execute(f"PRAGMA threads = {int(threads)}")
    return [out[key] for key in sorted(out)]


def _fill_cases(db: sqlite_utils.Database, narrow: Narrowing, as_of: str) -> None:
    """_report_cases: per case its district, month, assigned worker, response time (seconds,
    NULL without one) and whether its follow-up is overdue."""
    where, params = narrow.where("c.reported_at", "c.district", "c.assigned_member_id")
    params["as_of"] = as_of
    # placed_jd is julianday(placed_at), kept in an index on (case_id, placed_jd, ...): each
    # case's contacts are sought from the report on, in time order, without parsing any.
    first_contact = (
        "(SELECT k.placed_jd FROM contacts k WHERE k.case_id = c.id "
        "AND (k.caller_member_id = c.assigned_member_id "
        "OR k.callee_member_id = c.assigned_member_id) "
        "AND k.placed_jd >= julianday(c.reported_at) ORDER BY k.placed_jd LIMIT 1)"
    )
    overdue = (
        "(c.status != 'closed' AND c.follow_up_due IS NOT NULL "
        "AND julianday(c.follow_up_due) < julianday(:as_of) "
        "AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.case_id = c.id "
        "AND k.placed_jd >= julianday(c.follow_up_due)))"
    )
    response = SECONDS.format(later=first_contact, earlier="julianday(c.reported_at)")
    db.execute("DROP TABLE IF EXISTS temp._report_cases")
    db.execute(
        "CREATE TEMP TABLE _report_cases (id INTEGER PRIMARY KEY, district TEXT, month TEXT, "
        "assigned INTEGER, response INTEGER, overdue INTEGER)"
    )
    db.execute(
        "INSERT INTO _report_cases "
        "SELECT c.id, c.district, strftime('%Y-%m', c.reported_at), c.assigned_member_id, "
        f"{response}, coalesce({overdue}, 0) FROM cases c WHERE {where}",
        params,
    )
    db.execute("DELETE FROM _report_cases WHERE month IS NULL")  # an unreadable reported_at


def _case_counts(db: sqlite_utils.Database, entry: Entry) -> None:
    for r in rows(
        db.execute(
            "SELECT district, month, count(*) AS cases, count(response) AS responded, "
            "sum(assigned IS NULL) AS unassigned, sum(overdue) AS overdue "
            "FROM _report_cases GROUP BY district, month"
        )
    ):
        e = entry(r["district"], r["month"])
        e.cases, e.responded, e.unassigned = r["cases"], r["responded"], r["unassigned"]
        e.no_contact_yet = r["cases"] - r["responded"]
        e.follow_ups_overdue = r["overdue"]


def _referral_counts(db: sqlite_utils.Database, entry: Entry) -> None:
    for r in rows(
        db.execute(
            "SELECT c.district, c.month, count(*) AS made, "
            "sum(r.status IN ('accepted', 'completed', 'failed')) AS accepted, "
            "sum(r.status = 'declined') AS declined, "
            "sum(r.status = 'completed') AS completed, "
            "sum(r.status = 'failed') AS failed "
            "FROM referrals r JOIN _report_cases c ON c.id = r.case_id "
            "GROUP BY c.district, c.month"
        )
    ):
        e = entry(r["district"], r["month"])
        e.referrals_made, e.referrals_accepted = r["made"], r["accepted"]
        e.referrals_declined, e.referrals_completed = r["declined"], r["completed"]
        e.referrals_failed = r["failed"]
    for r in rows(
        db.execute(
            "SELECT c.district, c.month, r.status, min(trim(r.reason)) AS reason, "
            "count(*) AS n "
            "FROM referrals r JOIN _report_cases c ON c.id = r.case_id "
            "WHERE r.status IN ('declined', 'failed') "
            "GROUP BY c.district, c.month, r.status, lower(trim(coalesce(r.reason, ''))) "
            "ORDER BY n DESC, reason"
        )
    ):
        e = entry(r["district"], r["month"])
        reasons = e.decline_reasons if r["status"] == "declined" else e.failure_reasons
        reasons[r["reason"] or "(none given)"] = r["n"]
    completion = SECONDS.format(later="julianday(done.at)", earlier="julianday(r.made_at)")
    source = f"""
        (SELECT c.district, c.month, {completion} AS seconds
         FROM referrals r JOIN _report_cases c ON c.id = r.case_id
         JOIN referral_events done ON done.referral_id = r.id AND done.status = 'completed'
         WHERE r.status = 'completed')
    """
    for d, m, p50, _ in _percentiles(db, source, "seconds"):
        entry(d, m).referral_completion_median_s = p50


def _escalation_counts(db: sqlite_utils.Database, entry: Entry, narrow: Narrowing) -> None:
    where, params = narrow.where("e.started_at", "e.district", "e.caller_member_id")
    db.execute("DROP TABLE IF EXISTS temp._report_escalations")
    db.execute(
        "CREATE TEMP TABLE _report_escalations AS "
        "SELECT e.district, strftime('%Y-%m', e.started_at) AS month, e.taken_step, "
        "e.exhausted, CAST(round(e.waited_seconds) AS INTEGER) AS wait "
        "FROM escalations e WHERE e.settled_at IS NOT NULL "
        f"AND (e.reached_step > 1 OR e.exhausted = 1) AND {where}",
        params,
    )
    try:
        for r in rows(
            db.execute(
                "SELECT district, month, count(*) AS n, sum(exhausted) AS exhausted "
                "FROM _report_escalations WHERE month IS NOT NULL GROUP BY 1, 2"
            )
        ):
            e = entry(r["district"] or "-", r["month"])
            e.escalated_calls, e.escalations_exhausted = r["n"], r["exhausted"] or 0
        for r in rows(
            db.execute(
                "SELECT district, month, taken_step, count(*) AS n FROM _report_escalations "
                "WHERE month IS NOT NULL AND taken_step IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 3"
            )
        ):
            entry(r["district"] or "-", r["month"]).escalations_taken_at_step[
                str(r["taken_step"])
            ] = r["n"]
        taken = "(SELECT * FROM _report_escalations WHERE taken_step IS NOT NULL)"
        for d, m, p50, p90 in _percentiles(db, taken, "wait"):
            if m is None:
                continue
            e = entry(d or "-", m)
            e.escalation_wait_median_s, e.escalation_wait_p90_s = p50, p90
    finally:
        db.execute("DROP TABLE IF EXISTS temp._report_escalations")


def count_new_contacts(db: sqlite_utils.Database) -> int:
    """Add the contacts written since the last count (by id) to contact_month_counts, in one
    write transaction; returns how many were added. (Inserting a contact costs nothing more;
    a counted contact changed or deleted later is counted again by triggers: schema.py.)"""
    with writing(db):
        through = int(
            db.execute(
                "SELECT value FROM service_state WHERE key = ?", (CONTACTS_COUNTED_THROUGH,)
            ).fetchone()[0]
        )
        top = db.execute("SELECT max(id) FROM contacts").fetchone()[0] or 0
        if top <= through:
            return 0
        db.execute(
            "INSERT INTO contact_month_counts (member_id, month, contacts, linked) "
            "SELECT caller_member_id, coalesce(strftime('%Y-%m', placed_at), ''), count(*), "
            "count(case_id) FROM contacts WHERE id > ? AND id <= ? "
            "AND caller_member_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2 "
            "ON CONFLICT (member_id, month) DO UPDATE SET "
            "contacts = contacts + excluded.contacts, linked = linked + excluded.linked",
            (through, top),
        )
        db.execute(
            "UPDATE service_state SET value = ? WHERE key = ?", (str(top), CONTACTS_COUNTED_THROUGH)
        )
    return top - through


def _contact_counts(db: sqlite_utils.Database, entry: Entry, narrow: Narrowing) -> None:
    # From the counts per member and month (count_new_contacts, before the report's
    # transaction): a few thousand rows, not a pass over every contact.
    where, params = narrow.where(None, "m.district", "c.member_id")
    where += " AND c.month != ''"
    if narrow.month is not None:
        where += " AND c.month = :month"
        params["month"] = narrow.month
    for r in rows(
        db.execute(
            "SELECT m.district, c.month, sum(c.contacts) AS n, sum(c.linked) AS linked "
            "FROM contact_month_counts c JOIN members m ON m.id = c.member_id "
            f"WHERE {where} GROUP BY 1, 2",
            params,
        )
    ):
        e = entry(r["district"], r["month"])
        e.contacts, e.contacts_linked = r["n"], r["linked"]


def _spending_counts(db: sqlite_utils.Database, entry: Entry, narrow: Narrowing) -> None:
    # The local day (not a UTC time): the month is its first seven characters.
    where, params = narrow.where(None, "district", "member_id")
    if narrow.month is not None:
        where += " AND day >= :first AND day <= :last"
        params["first"], params["last"] = f"{narrow.month}-01", f"{narrow.month}-31"
    for r in rows(
        db.execute(
            "SELECT district, substr(day, 1, 7) AS month, "
            "sum(CASE WHEN kind = 'sms' THEN units ELSE 0 END) AS sms, "
            "sum(CASE WHEN kind = 'callback' THEN units ELSE 0 END) AS calls "
            f"FROM spending WHERE {where} GROUP BY 1, 2",
            params,
        )
    ):
        e = entry(r["district"] or "-", r["month"])
        e.sms_parts, e.callbacks = int(r["sms"]), int(r["calls"])


def _conference_counts(db: sqlite_utils.Database, entry: Entry, narrow: Narrowing) -> None:
    where, params = narrow.where("f.started_at", "c.district", "c.assigned_member_id")
    for r in rows(
        db.execute(
            "SELECT c.district, strftime('%Y-%m', f.started_at) AS month, count(*) AS n "
            f"FROM conferences f JOIN cases c ON c.id = f.case_id WHERE {where} GROUP BY 1, 2",
            params,
        )
    ):
        if r["month"] is not None:
            entry(r["district"], r["month"]).case_conferences = r["n"]
    for r in rows(
        db.execute(
            "SELECT district, month, count(*) AS n FROM _report_cases r "
            "WHERE EXISTS (SELECT 1 FROM conferences f WHERE f.case_id = r.id) GROUP BY 1, 2"
        )
    ):
        entry(r["district"], r["month"]).cases_with_conference = r["n"]
