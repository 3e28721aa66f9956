"""The Texts page: the texts waiting for delivery to the members an account may see, and why
(phone not registered, waiting for the SMS fallback, refused by the SMS gateway, held by the
daily SMS cap, retrying), and those that expired or failed in the last week, so that an admin
can call the member ("your phone has been off for two days"). Read only.

A national admin sees every member's, a district admin their districts' and a supervisor
their team's (web/member_scope.py, the members pages' scope); a district filter for another
district is refused (403). Never a text's body: its length only
(directory/text_queue_view.py reads nothing else of it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from directory.members import reference_data
from directory.text_queue_view import (
    ENDED_STATES,
    PAGE,
    STATES,
    QueueFilter,
    QueueRow,
    queue_page,
)
from directory.texts import NOTICE
from routing.texts import TextPolicy
from web.member_scope import member_scope
from web.pages import render, require, site_db
from web.readers import readers

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

STATE_LABELS = {
    "new": "not tried yet",
    "phone": "phone not registered",
    "sms_due": "waiting for the SMS fallback",
    "sms": "by SMS",
    "held": "held: daily SMS cap",
    "sms_refused": "SMS refused by the gateway",
    "expired": "expired",
    "failed": "failed",
}


@dataclass(frozen=True)
class SmsFallback:
    """When a text its recipient's phone did not take goes to their mobile by SMS: `after`
    it was stored, or never (None: the install has no SMS gateway)."""

    after: timedelta | None = timedelta(seconds=TextPolicy().sms_after_seconds)


SMS_FALLBACK_KEY = web.AppKey("texts_sms_fallback", SmsFallback)


def _when(stamp: str | None) -> str:
    """A stored UTC time as the page shows it (minutes, UTC)."""
    return stamp[:16].replace("T", " ") if stamp else ""


def _span(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d {hours % 24} h"


def _since(stamp: str, at: datetime) -> str:
    try:
        return _span(at - datetime.fromisoformat(stamp))
    except ValueError:
        return ""


def why(row: QueueRow, sms_after: timedelta | None) -> str:
    """Why a delivery waits (or ended), in words for the admin."""
    next_try = _when(row.next_attempt_at)
    if row.state == "expired":
        return "nobody could reach the member before it expired"
    if row.state == "failed":
        return row.last_error or "it could not be delivered"
    wait = _span(sms_after) if sms_after is not None else ""
    refused = (
        "it cannot reach the member and expires"
        if row.by_sms
        else "it waits for the member's phone until it expires"
    )
    reasons = {
        "new": "the service has not tried it yet",
        "sms_due": f"the phone did not take it within {wait}: it goes to the member's mobile "
        "by SMS at the service's next look",
        "held": f"the member's SMS reached today's cap: by SMS from {next_try} UTC, or to "
        "the phone as soon as it registers",
        "sms_refused": f"the SMS gateway refused it for good: {refused}",
    }
    if row.state == "sms":
        if row.last_error.startswith("sms:"):
            text = f"the SMS gateway did not take it; tried again at {next_try} UTC"
        else:
            text = "the answer to a text that came by SMS: it goes to the member's mobile"
    elif row.state == "phone":
        text = "the member's phone is not registered or did not answer"
        if row.kind == NOTICE or sms_after is None:
            text += "; it waits for the phone"
        else:
            try:
                due = datetime.fromisoformat(row.queued_at) + sms_after
                text += f"; by SMS from {_when(due.astimezone(UTC).isoformat())} UTC"
            except ValueError:
                pass
    else:
        text = reasons.get(row.state, "")
    if not row.recipient_active:
        text = "the member is no longer active: it fails at the next try; " + text
    return text


def _shown(rows: list[QueueRow], sms_after: timedelta | None, at: datetime) -> list[Any]:
    return [
        {
            "row": r,
            "label": STATE_LABELS.get(r.state, r.state),
            "why": why(r, sms_after),
            "queued": _when(r.queued_at),
            "waited": _since(r.queued_at, at),
            "next": _when(r.next_attempt_at) if r.state not in ENDED_STATES else "",
            "ended": _when(r.ended_at),
        }
        for r in rows
    ]


def _number(raw: str) -> int:
    return max(1, int(raw)) if raw.isdigit() and len(raw) < 7 else 1


@routes.get("/texts")
async def texts_page(request: web.Request) -> web.Response:
    account = require(request, "texts.read")
    raw = {k: request.query.get(k, "")[:60] for k in ("district", "state", "page", "ended_page")}
    _, districts = reference_data(site_db(request))
    choices = (
        [] if account.team_scoped else sorted(d for d in districts.values() if account.sees(d))
    )
    district = raw["district"].strip() or None
    if district and not account.team_scoped and not account.sees(district):
        raise web.HTTPForbidden(reason=f"district {district[:40]!r} is not one of yours")
    state = raw["state"] if raw["state"] in STATES else None
    page, ended_page = _number(raw["page"]), _number(raw["ended_page"])
    scope = member_scope(account)
    sms_after = request.config_dict[SMS_FALLBACK_KEY].after
    at = datetime.now(UTC)
    f = QueueFilter(district=district, state=state)
    view = await readers(request).read(
        lambda db: queue_page(db, scope, f, sms_after, at, page, ended_page)
    )
    log.debug(
        "texts page for %s: %d waiting, %d ended lately",
        account.username,
        view.summary.waiting,
        view.summary.ended,
    )
    query = {k: v for k, v in (("district", district), ("state", state)) if v}
    context = {
        "summary": view.summary,
        "waiting": _shown(view.waiting, sms_after, at),
        "ended": _shown(view.ended, sms_after, at),
        "waiting_total": view.waiting_total,
        "ended_total": view.ended_total,
        "page": page,
        "pages": max(1, (view.waiting_total + PAGE - 1) // PAGE),
        "ended_page": ended_page,
        "ended_pages": max(1, (view.ended_total + PAGE - 1) // PAGE),
        "waiting_query": {**query, **({"ended_page": ended_page} if ended_page > 1 else {})},
        "ended_query": {**query, **({"page": page} if page > 1 else {})},
        "districts": choices if len(choices) > 1 else [],
        "district": district or "",
        "state": state or "",
        "states": STATE_LABELS,
        "show_waiting": state not in ENDED_STATES,
        "show_ended": state is None or state in ENDED_STATES,
        "sms_fallback": sms_after,
    }
    return await render(request, "texts.html", context)
