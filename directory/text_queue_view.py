"""The texts waiting for delivery, and why, for the admin site's Texts page: per recipient the
deliveries not yet done (directory/texts.py keeps them queued), and those that ended
unreached lately (expired, failed), for the members an account may see. Read only.

Never a text's body: only its length in characters (SQLite's `length` of the text), so the
page tells an admin that a member's phone has been off for two days without showing what
they were sent.

Why a delivery waits is read from its row as the relay left it (agi/text_delivery.py):
- new: not tried yet (it was stored a moment ago);
- phone: tried, the member's phone is not registered or did not answer; it goes when the
  phone registers, or by SMS once it waited `sms_after`;
- sms_due: its phone was not reachable for `sms_after`: the SMS fallback sends it to the
  member's mobile at its next look;
- sms: going by SMS (the answer to a text that came by SMS), or the gateway could not take
  it and it is tried again (the last error says why);
- held: the member reached the day's SMS cap: the SMS waits for the next day (the phone may
  still take it first);
- sms_refused: the gateway refused it for good: it waits for the member's phone only.

Pages are LIMIT/OFFSET over indexes, never a sort of the queue. The waiting deliveries come
from a partial index of the queued rows (migration 0021: recipient, id and what the state is
made of): a page's ids in its order, so each recipient's texts come together, oldest first,
whether the account sees every district, some (their members' ids, sought in order) or a
team; then only that page's rows are read. The counts are read from the same index: the
text itself (its kind and time, for the SMS fallback) is looked at only for the deliveries
that nothing else explains. The ended ones of the last ENDED_WITHIN come from the partial
index on the expiry of ended deliveries, so the years of ended deliveries are not read; an
expired delivery ended at its expiry, a failed one at its last try (next_attempt_at: a
delivery fails when it is tried).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from directory.member_list import MemberScope, scope_conditions
from directory.texts import EXPIRED, FAILED, NOTICE, QUEUED

log = logging.getLogger(__name__)

PAGE = 50
ENDED_WITHIN = timedelta(days=7)
CAP_REACHED = "sms: daily cap reached"  # agi/text_delivery.py _wait_for_tomorrow
WAITING_STATES = ("new", "phone", "sms_due", "sms", "held", "sms_refused")
ENDED_STATES = (EXPIRED, FAILED)
STATES = WAITING_STATES + ENDED_STATES
BY_SMS_STATES = frozenset({"sms_due", "sms", "held"})  # the rest wait for the member's phone

# The state of a queued delivery, from the waiting index's columns; the text (its kind and
# time) is looked at only when they do not tell, and only where there is an SMS gateway.
_STATE = (
    "CASE WHEN d.sms_refused = 1 THEN 'sms_refused' "
    f"WHEN d.last_error = '{CAP_REACHED}' THEN 'held' "
    "WHEN d.by_sms = 1 OR d.last_error LIKE 'sms:%' THEN 'sms' "
    "WHEN {sms_due} THEN 'sms_due' "
    "WHEN d.attempts = 0 THEN 'new' ELSE 'phone' END"
)
_SMS_DUE = (
    f"(SELECT t.kind != '{NOTICE}' AND t.created_at <= ? FROM texts t WHERE t.id = d.text_id)"
)
# Literally the partial indexes' conditions (migration 0021): SQLite uses them only then.
_QUEUED = f"d.status = '{QUEUED}'"
_WAITING = "text_deliveries d INDEXED BY idx_text_deliveries_waiting"
_ENDED = f"d.status IN ('{EXPIRED}', '{FAILED}')"
_ENDED_FROM = "text_deliveries d INDEXED BY idx_text_deliveries_ended"
_ENDED_AT = f"CASE d.status WHEN '{EXPIRED}' THEN d.expires_at ELSE d.next_attempt_at END"
_COLUMNS = (
    "d.id, r.id, r.name, r.extension, r.district, r.active, s.name, s.extension, t.kind, "
    "t.team, t.created_at, d.attempts, d.next_attempt_at, d.expires_at, d.last_error, "
    "length(t.body), d.by_sms, d.sms_refused"
)
_JOINS = (
    "JOIN texts t ON t.id = d.text_id JOIN members r ON r.id = d.recipient_member_id "
    "LEFT JOIN members s ON s.id = t.sender_member_id "
)


@dataclass(frozen=True)
class QueueFilter:
    district: str | None = None  # the recipients' district
    state: str | None = None  # one of STATES


@dataclass(frozen=True)
class QueueRow:
    """One delivery, as the Texts page shows it (never the body)."""

    delivery_id: int
    recipient_id: int
    recipient_name: str
    recipient_extension: str
    recipient_district: str
    recipient_active: bool
    sender_name: str | None  # None: the CUG's own notice or missed-call alert
    sender_extension: str | None
    kind: str
    team: str
    queued_at: str
    attempts: int
    next_attempt_at: str | None
    expires_at: str
    last_error: str
    length: int | None  # characters; None once the body was purged
    by_sms: bool
    sms_refused: bool
    state: str
    ended_at: str | None = None  # expired and failed ones


@dataclass(frozen=True)
class QueueSummary:
    waiting: int = 0
    by_sip: int = 0  # waiting for the member's phone
    by_sms: int = 0  # going, or due to go, by SMS (held by the cap too)
    ended: int = 0  # expired or failed within ENDED_WITHIN
    states: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class QueuePage:
    summary: QueueSummary
    waiting: list[QueueRow]
    waiting_total: int
    ended: list[QueueRow]
    ended_total: int


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def _recipients(scope: MemberScope, district: str | None) -> tuple[str, list[Any]]:
    """A condition keeping deliveries to recipients inside `scope` (and `district`)."""
    where, params = scope_conditions(scope)
    if district:
        where.append("m.district = ?")
        params.append(district)
    if not where:
        return "", []
    sql = f" AND d.recipient_member_id IN (SELECT m.id FROM members m WHERE {' AND '.join(where)})"
    return sql, params


def state_sql(at: datetime, sms_after: timedelta | None) -> tuple[str, list[Any]]:
    """The SQL of a waiting delivery's state, and its parameters: with an SMS gateway, a
    text (not a notice) stored `sms_after` ago and not delivered is due for the fallback."""
    if sms_after is None:
        return _STATE.format(sms_due="0"), []
    return _STATE.format(sms_due=_SMS_DUE), [_stamp(at - sms_after)]


def waiting_ids_query(
    scope: MemberScope, f: QueueFilter, state: tuple[str, list[Any]], limit: int, offset: int
) -> tuple[str, list[Any]]:
    """The ids of a page of waiting deliveries, in page order (read from the waiting index);
    `state` as `state_sql` makes it."""
    recipients, params = _recipients(scope, f.district)
    sql = f"SELECT d.id FROM {_WAITING} WHERE {_QUEUED}{recipients}"
    if f.state in WAITING_STATES:
        sql += f" AND {state[0]} = ?"
        params += [*state[1], f.state]
    sql += " ORDER BY d.recipient_member_id, d.id LIMIT ? OFFSET ?"
    return sql, [*params, max(1, limit), max(0, offset)]


def _ended_where(scope: MemberScope, f: QueueFilter, at: datetime) -> tuple[str, list[Any]]:
    """The WHERE of the deliveries that expired or failed within ENDED_WITHIN."""
    cutoff = _stamp(at - ENDED_WITHIN)
    recipients, params = _recipients(scope, f.district)
    sql = f"WHERE {_ENDED} AND d.expires_at >= ? AND {_ENDED_AT} >= ?{recipients}"
    params = [cutoff, cutoff, *params]
    if f.state in ENDED_STATES:
        sql += " AND d.status = ?"
        params.append(f.state)
    return sql, params


def ended_query(
    scope: MemberScope, f: QueueFilter, at: datetime, limit: int, offset: int
) -> tuple[str, list[Any]]:
    """A page of the deliveries that expired or failed within ENDED_WITHIN, latest first
    (the sort is of those only, found in their index)."""
    where, params = _ended_where(scope, f, at)
    sql = (
        f"SELECT {_COLUMNS}, d.status, {_ENDED_AT} AS ended FROM {_ENDED_FROM} {_JOINS}{where} "
        "ORDER BY ended DESC, d.id DESC LIMIT ? OFFSET ?"
    )
    return sql, [*params, max(1, limit), max(0, offset)]


def _row(raw: tuple[Any, ...], state: str, ended_at: str | None = None) -> QueueRow:
    values = list(raw)
    values[5] = bool(values[5])
    values[14] = values[14] or ""
    values[16], values[17] = bool(values[16]), bool(values[17])
    return QueueRow(*values, state=state, ended_at=ended_at)


def waiting_page(
    db: sqlite_utils.Database,
    scope: MemberScope,
    f: QueueFilter,
    sms_after: timedelta | None,
    at: datetime,
    limit: int = PAGE,
    offset: int = 0,
) -> list[QueueRow]:
    """A page of the deliveries not yet done, per recipient (by member id), oldest first."""
    state = state_sql(at, sms_after)
    sql, params = waiting_ids_query(scope, f, state, limit, offset)
    ids = [r[0] for r in db.execute(sql, params)]
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    found = db.execute(
        f"SELECT {_COLUMNS}, {state[0]} FROM text_deliveries d {_JOINS}WHERE d.id IN ({marks})",
        [*state[1], *ids],
    ).fetchall()
    rows = {r[0]: _row(r[:-1], r[-1]) for r in found}
    return [rows[i] for i in ids if i in rows]


def ended_page(
    db: sqlite_utils.Database,
    scope: MemberScope,
    f: QueueFilter,
    at: datetime,
    limit: int = PAGE,
    offset: int = 0,
) -> list[QueueRow]:
    """A page of the deliveries that expired or failed within ENDED_WITHIN, latest first."""
    sql, params = ended_query(scope, f, at, limit, offset)
    return [_row(r[:-2], r[-2], r[-1]) for r in db.execute(sql, params).fetchall()]


def summary(
    db: sqlite_utils.Database,
    scope: MemberScope,
    district: str | None,
    sms_after: timedelta | None,
    at: datetime,
) -> QueueSummary:
    """How many deliveries wait, in each state, and how many ended unreached lately."""
    states = {state: 0 for state in STATES}
    recipients, params = _recipients(scope, district)
    sql, state_params = state_sql(at, sms_after)
    for state, count in db.execute(
        # The state in a subquery that is not flattened (LIMIT -1): worked out once a row,
        # where GROUP BY would work it out twice.
        f"SELECT state, count(*) FROM (SELECT {sql} AS state FROM {_WAITING} "
        f"WHERE {_QUEUED}{recipients} LIMIT -1) GROUP BY state",
        [*state_params, *params],
    ):
        states[state] = int(count)
    where, params = _ended_where(scope, QueueFilter(district=district), at)
    for status, count in db.execute(
        f"SELECT d.status, count(*) FROM {_ENDED_FROM} {where} GROUP BY 1", params
    ):
        states[status] = int(count)
    waiting = sum(states[s] for s in WAITING_STATES)
    by_sms = sum(states[s] for s in BY_SMS_STATES)
    return QueueSummary(
        waiting=waiting,
        by_sip=waiting - by_sms,
        by_sms=by_sms,
        ended=states[EXPIRED] + states[FAILED],
        states=states,
    )


def queue_page(
    db: sqlite_utils.Database,
    scope: MemberScope,
    f: QueueFilter,
    sms_after: timedelta | None,
    at: datetime | None = None,
    page: int = 1,
    ended_page_number: int = 1,
) -> QueuePage:
    """What the Texts page shows: the summary, a page of the waiting deliveries and a page of
    the ended ones (only the list `f.state` names, when it names one)."""
    at = at or datetime.now(UTC)
    counts = summary(db, scope, f.district, sms_after, at)
    waiting: list[QueueRow] = []
    ended: list[QueueRow] = []
    waiting_total = ended_total = 0
    if f.state not in ENDED_STATES:
        waiting_total = counts.states[f.state] if f.state else counts.waiting
        offset = (max(page, 1) - 1) * PAGE
        if offset < waiting_total:
            waiting = waiting_page(db, scope, f, sms_after, at, PAGE, offset)
    if f.state not in WAITING_STATES:
        ended_total = counts.states[f.state] if f.state else counts.ended
        offset = (max(ended_page_number, 1) - 1) * PAGE
        if offset < ended_total:
            ended = ended_page(db, scope, f, at, PAGE, offset)
    return QueuePage(counts, waiting, waiting_total, ended, ended_total)
