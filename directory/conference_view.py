"""A case's conferences as a case shows them: "case conference 14:02-14:19: A, B, C; D did not
answer", from the conferences started on it and the contact log's participations."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from directory.case_model import rows


def case_conferences(db: sqlite_utils.Database, case_id: int) -> list[dict[str, Any]]:
    """Each conference on the case, oldest first: when it started and ended, who took part
    (first join, last leave), who was called in and did not answer, who was not put in (not
    called for want of a leader, or turned away) and whose call's outcome is not known."""
    out = []
    for conf in rows(
        db.execute(
            "SELECT id, bridge, started_by, started_at, ended_at FROM conferences "
            "WHERE case_id = ? ORDER BY julianday(started_at), id",
            (case_id,),
        )
    ):
        span = "julianday(k.placed_at) >= julianday(:start) - 0.0007"  # a minute's slack
        if conf["ended_at"]:
            span += " AND julianday(k.placed_at) <= julianday(:end)"
        people = rows(
            db.execute(
                "SELECT m.extension, m.name, k.outcome, min(k.placed_at) AS joined, "
                "max(k.ended_at) AS left_at FROM contacts k JOIN members m "
                "ON m.id = k.caller_member_id WHERE k.kind = 'conference' AND k.case_id = :case "
                f"AND k.dialed = :bridge AND {span} GROUP BY m.id, k.outcome "
                "ORDER BY min(julianday(k.placed_at))",
                {
                    "case": case_id,
                    "bridge": conf["bridge"],
                    "start": conf["started_at"],
                    "end": conf["ended_at"],
                },
            )
        )
        took_part = [p for p in people if p["outcome"] == "answered"]
        missed = [p for p in people if all(t["extension"] != p["extension"] for t in took_part)]
        out.append(
            {
                **conf,
                "took_part": [
                    {k: p[k] for k in ("extension", "name", "joined", "left_at")} for p in took_part
                ],
                "did_not_answer": _named(missed, _NOT_IN | _NOT_KNOWN, exclude=True),
                # Not put in: never called (their leader was not reached), or told the
                # conference had no leader any more or was full when they took the call.
                "not_put_in": _named(missed, _NOT_IN),
                "not_known": _named(missed, _NOT_KNOWN),  # the AMI link dropped as they rang
            }
        )
    return out


_NOT_IN = {"refused"}
_NOT_KNOWN = {"unknown"}


def _named(
    people: list[dict[str, Any]], outcomes: set[str], exclude: bool = False
) -> list[dict[str, str]]:
    """Name and extension of `people` whose outcome is one of `outcomes` (or, `exclude`,
    none of them)."""
    return [
        {"extension": p["extension"], "name": p["name"]}
        for p in people
        if (p["outcome"] in outcomes) != exclude
    ]


def describe(conference: dict[str, Any]) -> str:
    """One line: `case conference 14:02-14:19: A (3001), B (3002); D (3005) did not answer`."""
    start = (conference["started_at"] or "")[11:16]
    end = (conference["ended_at"] or "")[11:16] or "running"
    names = ", ".join(f"{p['name']} ({p['extension']})" for p in conference["took_part"])
    line = f"case conference {start}-{end}: {names or 'nobody joined'}"
    for key, said in (
        ("did_not_answer", "did not answer"),
        ("not_put_in", "not put in (no leader, or full)"),
        ("not_known", "not known whether they took the call"),
    ):
        if conference.get(key):
            who = ", ".join(f"{p['name']} ({p['extension']})" for p in conference[key])
            line += f"; {who} {said}"
    return line
