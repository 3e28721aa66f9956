"""The contact log, written from Asterisk's own call detail records.

What happened comes from Asterisk (each CDR: who, when placed, answered, ended, how it
ended); what the routing service knew (the calling member, the case) rides along in the
CDR's userfield (agi/call_tags.py). Records arrive live as AMI `Cdr` events and, after any gap
in the AMI link (a restart of the service or of Asterisk), are read back from the SQLite CDR
file Asterisk keeps. Writes are idempotent: one contact per call and callee, so a record seen
twice (live and again from the file) is stored once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from agi.call_tags import CallTags, decode
from agi.variables import TRUNK_ENDPOINT
from directory.audit import now
from directory.transactions import writing

log = logging.getLogger(__name__)

_ENDPOINT = re.compile(r"^PJSIP/([A-Za-z0-9_\-+]+)-[0-9a-f]+$")
# A leg of an escalation step (dialplan context cug-leg): ;1 is the caller's side, ;2 rings.
_LEG = re.compile(r"^Local/([0-9]+)-(\+?[0-9]*)-([cm])-([0-9]+)@cug-leg-[0-9a-f]+;([12])$")
# The better of two outcomes for the same callee in one call (a member with two phones, or
# the two sides of an escalation leg): answered without the key beats ringing out.
_RANK = {
    "answered": 7,
    "not_taken": 6,
    "busy": 5,
    "no_answer": 4,
    "unavailable": 3,
    "failed": 2,
    "refused": 1,
}


@dataclass(frozen=True)
class Leg:
    extension: str  # "0" for an outside number
    number: str
    mode: str  # c: SIP phones with a key, m: mobile
    step: int
    side: int  # 1: the caller's side of the Local channel, 2: the side that rings

    @classmethod
    def parse(cls, channel: str) -> Leg | None:
        m = _LEG.match(channel or "")
        if not m:
            return None
        return cls(m.group(1), m.group(2), m.group(3), int(m.group(4)), int(m.group(5)))


FLUSH_INTERVAL = 0.05
FLUSH_BATCH = 2000
# Records logged live and not yet met again in Asterisk's CDR file; beyond this many (the
# file unread for long) they are forgotten, and the reconciliation does the whole work again.
LIVE_MEMORY = 100_000


@dataclass(frozen=True)
class Cdr:
    """One call detail record, from an AMI `Cdr` event or from Asterisk's CDR file."""

    uniqueid: str
    linkedid: str
    channel: str
    dstchannel: str
    lastapp: str
    start: str
    answer: str
    end: str
    disposition: str
    userfield: str
    src: str
    dst: str

    @classmethod
    def from_event(cls, e: dict[str, str]) -> Cdr:
        return cls(
            uniqueid=e.get("UniqueID", ""),
            linkedid=e.get("LinkedID") or e.get("UniqueID", ""),
            channel=e.get("Channel", ""),
            dstchannel=e.get("DestinationChannel", ""),
            lastapp=e.get("LastApplication", ""),
            start=e.get("StartTime", ""),
            answer=e.get("AnswerTime", ""),
            end=e.get("EndTime", ""),
            disposition=e.get("Disposition", ""),
            userfield=e.get("UserField", ""),
            src=e.get("Source", ""),
            dst=e.get("Destination", ""),
        )

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Cdr:
        return cls(
            uniqueid=r["uniqueid"] or "",
            linkedid=r["linkedid"] or r["uniqueid"] or "",
            channel=r["channel"] or "",
            dstchannel=r["dstchannel"] or "",
            lastapp=r["lastapp"] or "",
            start=r["start"] or "",
            answer=r["answer"] or "",
            end=r["end"] or "",
            disposition=r["disposition"] or "",
            userfield=r["userfield"] or "",
            src=r["src"] or "",
            dst=r["dst"] or "",
        )


def iso(asterisk_time: str) -> str | None:
    """Asterisk's 'YYYY-MM-DD HH:MM:SS' (the machine's local time) as ISO 8601 in UTC."""
    text = (asterisk_time or "").strip()[:19]
    if len(text) != 19 or text[10] != " ":
        return None
    try:
        # fromisoformat reads this shape ~30 times faster than strptime (several per call).
        local = datetime.fromisoformat(text).astimezone()
    except ValueError:
        return None
    return local.astimezone(UTC).isoformat(timespec="seconds")


def endpoint_of(channel: str) -> str | None:
    match = _ENDPOINT.match(channel or "")
    return match.group(1) if match else None


def outcome_of(cdr: Cdr, tags: CallTags | None) -> str:
    if tags is not None and tags.refusal:
        return "refused"
    disposition = cdr.disposition.upper()
    if disposition == "ANSWERED" and (cdr.dstchannel or (tags is not None and tags.kind)):
        return "answered"
    if disposition == "BUSY":
        return "busy"
    if disposition == "NO ANSWER" and cdr.dstchannel:
        return "no_answer"
    if cdr.lastapp in ("Dial", "Playback", "Hangup", "Progress") or disposition == "NO ANSWER":
        return "unavailable" if not cdr.dstchannel else "failed"
    return "failed"


def escalation_from_cdr(cdr: Cdr) -> dict[str, Any] | None:
    """The escalation a CDR of the caller's own channel belongs to, if the call escalates."""
    tags = decode(cdr.userfield)
    if tags is None or not tags.steps or Leg.parse(cdr.channel) is not None:
        return None
    started = iso(cdr.start)
    if not cdr.linkedid or started is None:
        return None
    return {
        "linkedid": cdr.linkedid,
        "caller_member_id": tags.caller_id,
        "callee_member_id": tags.callee_id,
        "case_id": tags.case_id,
        "urgent": 1 if tags.urgent else 0,
        "steps": tags.steps,
        "started_at": started,
        "exhausted": 1 if tags.exhausted else 0,
        "seen_at": now(),
    }


def call_contact(cdr: Cdr, tags: CallTags | None, callee_key: str, **fields: Any) -> dict[str, Any]:
    """A contact row of kind `call` from one CDR: Asterisk's ids and times, the case link
    from the tags, and `fields` (who called whom, what was dialed, how it ended, the step)."""
    return {
        "kind": "call",
        "source_key": f"call:{cdr.linkedid}:{callee_key}",
        "uniqueid": cdr.uniqueid,
        "linkedid": cdr.linkedid,
        **fields,
        "placed_at": iso(cdr.start),
        "answered_at": iso(cdr.answer),
        "ended_at": iso(cdr.end),
        "case_id": tags.case_id if tags else None,
        "link": tags.link if tags else "",
        "link_note": tags.note if tags else "",
        "after_close": 1 if tags and tags.after_close else 0,
        "recorded_at": now(),
    }


# Calls whose CDR is no contact: a flash (the flash log holds it) and a call back on which
# the member dialed nothing (the service logs the call back from OriginateResponse).
UNLOGGED_KINDS = frozenset({"flash", "callback", "conference-pin"})
# A member's call into a conference: each participation is a contact of kind conference,
# from AMI's ConfbridgeJoin/Leave (agi/conference_log.py) and this call's CDR. ConfBridge's
# own announcer and recorder channels are no contacts. (A call that never got past the PIN
# is tagged conference-pin: not a participation.)
CONFERENCE_KIND = "conference"
TURNED_AWAY_PREFIX = "away-"  # a turned-away call's contact: conference:away-<uniqueid>
_CONFERENCE_CHANNELS = ("CBAnn/", "CBRec/")
_CASE_CONFERENCE = re.compile(r"^cug-case-([0-9]{1,9})$")


def conference_case(conference: str) -> int | None:
    """The case of a case conference (ConfBridge name cug-case-<case>), else None."""
    found = _CASE_CONFERENCE.match(conference or "")
    return int(found.group(1)) if found else None


def participation_contact(
    uniqueid: str,
    *,
    member_id: int | None,
    conference: str,
    invited_by: int | None = None,
    joined_at: str | None,
    left_at: str | None = None,
    linkedid: str = "",
) -> dict[str, Any]:
    """One member's time in a conference: the member is the caller, whoever called them in
    (a case conference's pull-in, an invitation) the callee; its case is the conference's."""
    case_id = conference_case(conference)
    return {
        "kind": CONFERENCE_KIND,
        "source_key": f"{CONFERENCE_KIND}:{uniqueid}",
        "uniqueid": uniqueid,
        "linkedid": linkedid or uniqueid,
        "caller_member_id": member_id,
        "caller_number": "",
        "callee_member_id": invited_by,
        "callee_number": "",
        "dialed": conference[:40],
        "placed_at": joined_at,
        "answered_at": joined_at,
        "ended_at": left_at,
        "outcome": "answered",
        "refusal": "",
        "case_id": case_id,
        "link": CONFERENCE_KIND if case_id else "",
        "link_note": "",
        "after_close": 0,
        "step": None,
        "confirm": None,
        "recorded_at": now(),
    }


def system_contact(
    kind: str,
    ref: int,
    *,
    member_id: int | None,
    outcome: str,
    placed_at: str | None,
    case_id: int | None = None,
    callee_number: str = "",
    answered_at: str | None = None,
    ended_at: str | None = None,
    uniqueid: str = "",
    linkedid: str = "",
) -> dict[str, Any]:
    """The contact a call the system placed is (a follow-up reminder to the assigned worker,
    a call back to a member who flashed): the system calling `member_id`."""
    return {
        "kind": kind,
        "source_key": f"{kind}:{ref}",
        "uniqueid": uniqueid,
        "linkedid": linkedid,
        "caller_member_id": None,
        "caller_number": "",
        "callee_member_id": member_id,
        "callee_number": callee_number,
        "dialed": "",
        "placed_at": placed_at,
        "answered_at": answered_at,
        "ended_at": ended_at,
        "outcome": outcome,
        "refusal": "",
        "case_id": case_id,
        "link": kind,
        "link_note": "",
        "after_close": 0,
        "step": None,
        "confirm": None,
        "recorded_at": now(),
    }


def reminder_contact(reminder_id: int, **fields: Any) -> dict[str, Any]:
    """The contact a follow-up reminder call is: the system calling the assigned worker."""
    return system_contact("reminder", reminder_id, **fields)


def _merged_row(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Two records of one contact as one: the better outcome, the widest span of time."""
    out = dict(old)
    out["outcome"] = max(old["outcome"], new["outcome"], key=lambda o: _RANK.get(o or "", 0))
    out["placed_at"] = _pick(min, old["placed_at"], new["placed_at"])
    out["answered_at"] = _pick(min, old["answered_at"], new["answered_at"])
    out["ended_at"] = _pick(max, old["ended_at"], new["ended_at"])
    return out


def _pick(choose: Any, a: str | None, b: str | None) -> str | None:
    present = [x for x in (a, b) if x]
    return choose(present) if present else None


class ContactLog:
    """Turns CDRs into contacts and writes them in batches, one transaction per batch."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.queue: list[Cdr] = []
        self.written = 0
        # Each record written from AMI, until the reconciliation meets it in the CDR file:
        # met there, it is passed over rather than turned into a contact a second time.
        self._logged_live: Counter[Cdr] = Counter()
        self.passed_over = 0
        self._ext_cache: dict[str, int | None] = {}

    def _member_id(self, extension: str | None) -> int | None:
        if not extension:
            return None
        if extension not in self._ext_cache:  # one look-up per extension and batch
            row = self.db.execute(
                "SELECT id FROM members WHERE extension = ?", (extension,)
            ).fetchone()
            self._ext_cache[extension] = row[0] if row else None
        return self._ext_cache[extension]

    def contact_from_cdr(self, cdr: Cdr) -> dict[str, Any] | None:
        if not cdr.uniqueid:
            return None
        if cdr.channel.startswith(_CONFERENCE_CHANNELS):
            return None
        tags = decode(cdr.userfield)
        if tags is not None and tags.kind == "reminder":
            return self._reminder_from_cdr(cdr, tags)
        if tags is not None and tags.kind == CONFERENCE_KIND:
            return self._participation_from_cdr(cdr, tags)
        if tags is not None and tags.kind in UNLOGGED_KINDS:
            return None
        inner = Leg.parse(cdr.channel)
        if inner is not None:
            return self._leg_from_cdr(cdr, tags, inner) if cdr.dstchannel else None
        outer = Leg.parse(cdr.dstchannel)
        if outer is not None:
            return self._leg_from_cdr(cdr, tags, outer)
        caller_ext = endpoint_of(cdr.channel)
        if caller_ext == TRUNK_ENDPOINT:
            caller_ext = None
        caller_id = tags.caller_id if tags and tags.caller_id else self._member_id(caller_ext)
        callee_ext = endpoint_of(cdr.dstchannel)
        callee_number = ""
        if callee_ext == TRUNK_ENDPOINT:
            # Rung on a mobile (or an outside number) over the trunk.
            callee_id = tags.callee_id if tags else None
            callee_number = tags.callee_number if tags else ""
        else:
            callee_id = self._member_id(callee_ext)
            if callee_id is None and tags is not None and not cdr.dstchannel:
                callee_id = tags.callee_id
        callee_key = str(callee_id) if callee_id else (callee_number or callee_ext or "-")
        escalated = bool(tags and tags.steps and cdr.dstchannel)
        return call_contact(
            cdr,
            tags,
            callee_key,
            caller_member_id=caller_id,
            caller_number=cdr.src[:40],
            callee_member_id=callee_id,
            callee_number=callee_number,
            dialed=(tags.dialed if tags else cdr.dst)[:40],
            outcome=outcome_of(cdr, tags),
            refusal=tags.refusal if tags else "",
            step=1 if escalated else None,
            confirm=0 if escalated else None,
        )

    def _leg_from_cdr(self, cdr: Cdr, tags: CallTags | None, leg: Leg) -> dict[str, Any]:
        """One side of an escalation leg: the caller's side says whether the call was put
        through (answered = the key was pressed); the ringing side whether someone
        answered without pressing it (not_taken)."""
        callee_id = self._member_id(leg.extension) if leg.extension != "0" else None
        outcome = outcome_of(cdr, None)
        if leg.side == 2 and tags is not None and tags.key is not None:
            outcome = "answered" if tags.key else "not_taken"
        elif leg.side == 2 and outcome == "answered":
            outcome = "not_taken"  # answered, and the key is not known to have been pressed
        callee_key = str(callee_id) if callee_id else (leg.number or leg.extension)
        return call_contact(
            cdr,
            tags,
            callee_key,
            caller_member_id=tags.caller_id if tags else None,
            caller_number=cdr.src[:40] if leg.side == 1 else "",
            callee_member_id=callee_id,
            callee_number=leg.number if leg.mode == "m" or callee_id is None else "",
            dialed=(tags.dialed if tags else "")[:40],
            outcome=outcome,
            refusal="",
            step=leg.step,
            confirm=1,
        )

    def _participation_from_cdr(self, cdr: Cdr, tags: CallTags) -> dict[str, Any] | None:
        """A member's call into a conference, after it ended: from the answer to the end (a
        ConfbridgeJoin/Leave seen live makes the span exact: the widest span is kept)."""
        if not cdr.answer or cdr.disposition != "ANSWERED":
            return None
        if self._turned_away(cdr.uniqueid):
            return None  # logged as refused when it was turned away (conference full, ended)
        return participation_contact(
            cdr.uniqueid,
            member_id=tags.caller_id,
            conference=tags.dialed,
            invited_by=tags.callee_id,
            joined_at=iso(cdr.answer),
            left_at=iso(cdr.end),
            linkedid=cdr.linkedid,
        )

    def _turned_away(self, uniqueid: str) -> bool:
        """Whether the call `uniqueid` was turned away from a conference (agi/conference_calls.py
        logs it, before the call ends and its CDR comes)."""
        return (
            self.db.execute(
                "SELECT 1 FROM contacts WHERE source_key = ?",
                (f"{CONFERENCE_KIND}:{TURNED_AWAY_PREFIX}{uniqueid}",),
            ).fetchone()
            is not None
        )

    def _reminder_from_cdr(self, cdr: Cdr, tags: CallTags) -> dict[str, Any] | None:
        """A reminder call Asterisk placed to the assigned worker (channel = the worker)."""
        if tags.reminder_id is None:
            return None
        return reminder_contact(
            tags.reminder_id,
            case_id=tags.case_id,
            member_id=self._member_id(endpoint_of(cdr.channel)),
            outcome=outcome_of(cdr, tags),
            placed_at=iso(cdr.start),
            answered_at=iso(cdr.answer),
            ended_at=iso(cdr.end),
            uniqueid=cdr.uniqueid,
            linkedid=cdr.linkedid,
        )

    def write_rows(self, rows: list[dict[str, Any]]) -> int:
        """Store contacts (from CDRs, or reminder outcomes) in one transaction: new ones
        inserted together, ones already logged merged; returns how many rows changed."""
        if not rows:
            return 0
        changed = 0
        with writing(self.db):
            fresh: dict[str, dict[str, Any]] = {}
            for row in rows:
                key = row["source_key"]
                if key in fresh:  # the same contact twice in one batch (two phones)
                    fresh[key] = _merged_row(fresh[key], row)
                else:
                    fresh[key] = row
            known = self._existing(list(fresh))
            inserts = []
            for key, row in fresh.items():
                if key in known:
                    changed += self._merge(known[key], row)
                else:
                    inserts.append(self._checked_case(row))
            if inserts:
                columns = list(inserts[0])
                self.db.conn.executemany(
                    f"INSERT INTO contacts ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})",
                    [tuple(r[c] for c in columns) for r in inserts],
                )
                changed += len(inserts)
        self.written += changed
        return changed

    def write(self, cdrs: list[Cdr]) -> int:
        """Store the contacts of `cdrs` in one transaction; returns how many rows changed."""
        self._ext_cache = {}
        rows = [row for row in map(self.contact_from_cdr, cdrs) if row is not None]
        escalations = [e for e in map(escalation_from_cdr, cdrs) if e is not None]
        with writing(self.db):
            changed = self.write_rows(rows)
            self._write_escalations(escalations)
        return changed

    def _write_escalations(self, rows: list[dict[str, Any]]) -> None:
        """One row per escalated call: its earliest start, and whether the chain ran out."""
        for row in rows:
            self.db.execute(
                "INSERT INTO escalations (linkedid, caller_member_id, callee_member_id, case_id,"
                " district, urgent, steps, started_at, exhausted, seen_at) "
                "VALUES (:linkedid, :caller_member_id, :callee_member_id, :case_id,"
                " (SELECT district FROM members WHERE id = :caller_member_id),"
                " :urgent, :steps, :started_at, :exhausted, :seen_at) "
                # A record seen again (live, then from the CDR file) changes nothing; a
                # chain found exhausted after the call was settled is settled again.
                "ON CONFLICT(linkedid) DO UPDATE SET "
                "started_at = min(started_at, excluded.started_at), "
                "exhausted = max(exhausted, excluded.exhausted), seen_at = excluded.seen_at, "
                "settled_at = CASE WHEN excluded.exhausted > exhausted THEN NULL "
                "ELSE settled_at END "
                "WHERE excluded.exhausted > exhausted OR excluded.started_at < started_at",
                row,
            )

    def _existing(self, keys: list[str]) -> dict[str, tuple]:
        found: dict[str, tuple] = {}
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            for row in self.db.execute(
                "SELECT source_key, id, outcome, placed_at, answered_at, ended_at FROM contacts "
                f"WHERE source_key IN ({', '.join('?' * len(part))})",
                part,
            ):
                found[row[0]] = row[1:]
        return found

    def _checked_case(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["case_id"] is not None and not self._case_exists(row["case_id"]):
            row["link_note"] = f"unknown_case:{row['case_id']}"
            row["case_id"], row["link"] = None, ""
        return row

    def _merge(self, old: tuple, row: dict[str, Any]) -> int:
        cid, outcome, placed, answered, ended = old
        current = {
            "outcome": outcome,
            "placed_at": placed,
            "answered_at": answered,
            "ended_at": ended,
        }
        merged = {key: value for key, value in _merged_row(current, row).items() if key in current}
        if merged == current:
            return 0
        self.db["contacts"].update(cid, merged)
        return 1

    def _case_exists(self, case_id: int) -> bool:
        return (
            self.db.execute("SELECT 1 FROM cases WHERE id = ?", (case_id,)).fetchone() is not None
        )

    # ------------------------------------------------------------------ live, from AMI
    def on_event(self, event: dict[str, str]) -> None:
        self.queue.append(Cdr.from_event(event))

    def flush(self) -> int:
        if not self.queue:
            return 0
        batch, self.queue = self.queue[:FLUSH_BATCH], self.queue[FLUSH_BATCH:]
        try:
            changed = self.write(batch)
        except Exception:
            self.queue = batch + self.queue  # keep them; the next flush tries again
            raise
        if len(self._logged_live) > LIVE_MEMORY:
            self._logged_live.clear()
        self._logged_live.update(batch)
        return changed

    def _logged_already(self, cdr: Cdr) -> bool:
        """Whether `cdr` was written live (each live record excuses one file record)."""
        count = self._logged_live.get(cdr, 0)
        if count == 0:
            return False
        if count == 1:
            del self._logged_live[cdr]
        else:
            self._logged_live[cdr] = count - 1
        self.passed_over += 1
        return True

    async def run(self) -> None:
        while True:
            try:
                self.flush()
            except Exception:
                log.exception("writing contacts failed; will retry")
            await asyncio.sleep(FLUSH_INTERVAL)

    # ------------------------------------------------------------------ reconciliation
    def reconcile(self, cdr_file: Path) -> int:
        """Read every CDR Asterisk stored since the last reconciliation; returns contacts
        changed. Safe to call at any time: records already logged are not logged again."""
        if not cdr_file.exists():
            return 0
        state = self.db["service_state"]
        key = f"cdr_rowid:{cdr_file}"
        try:
            last = int(state.get(key)["value"])
        except Exception:
            last = 0
        try:
            source = sqlite3.connect(f"file:{cdr_file}?mode=ro", uri=True, timeout=2)
        except sqlite3.Error as exc:
            log.warning("cannot open the CDR file %s: %s", cdr_file, exc)
            return 0
        source.row_factory = sqlite3.Row
        changed = 0
        try:
            while True:
                rows = source.execute(
                    "SELECT rowid AS cdr_rowid, * FROM cdr WHERE rowid > ? "
                    "ORDER BY rowid LIMIT 5000",
                    (last,),
                ).fetchall()
                if not rows:
                    break
                cdrs = [Cdr.from_row(dict(r)) for r in rows]
                with writing(self.db):
                    changed += self.write([c for c in cdrs if not self._logged_already(c)])
                    last = rows[-1]["cdr_rowid"]
                    state.upsert({"key": key, "value": str(last)}, pk="key")
        except sqlite3.Error as exc:
            log.warning("reading the CDR file %s failed: %s", cdr_file, exc)
        finally:
            source.close()
        if changed:
            log.info("reconciled %d contacts from %s", changed, cdr_file)
        log.debug("%d records logged live passed over in %s so far", self.passed_over, cdr_file)
        return changed
