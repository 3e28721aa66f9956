"""Texts relayed between members, per district and month, for the dashboard (`cug report` has
no such figure): a text counts in the month (UTC) it was sent and the district of its sender
(member texts only, not the system's notices); its deliveries count by how they ended, and
`delivered_by_sms` those that reached a mobile by SMS."""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlite_utils


@dataclass(frozen=True)
class TextFigures:
    texts: int = 0
    deliveries: int = 0
    delivered: int = 0
    delivered_by_sms: int = 0
    expired: int = 0


def texts_by_district_month(
    db: sqlite_utils.Database, team: frozenset[int] | None = None
) -> dict[tuple[str, str], TextFigures]:
    """The figures per (district, month); `team` (member ids) counts only their texts."""
    narrow, params = "", {}
    if team is not None:
        narrow = "AND t.sender_member_id IN (SELECT value FROM json_each(:team)) "
        params["team"] = json.dumps(sorted(team))
    found = db.execute(
        "SELECT m.district, strftime('%Y-%m', t.created_at), count(DISTINCT t.id), count(d.id), "
        "sum(d.status = 'delivered'), sum(d.status = 'delivered' AND d.via = 'sms'), "
        "sum(d.status = 'expired') "
        "FROM texts t JOIN members m ON m.id = t.sender_member_id "
        "LEFT JOIN text_deliveries d ON d.text_id = t.id "
        f"WHERE t.kind = 'text' {narrow}GROUP BY 1, 2",
        params,
    ).fetchall()
    return {
        (district, month): TextFigures(texts, deliveries, delivered or 0, sms or 0, expired or 0)
        for district, month, texts, deliveries, delivered, sms, expired in found
        if month
    }
