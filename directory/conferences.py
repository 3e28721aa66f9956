"""Conferences the system calls people into, and each call into them.

One running conference per ConfBridge name (a partial unique index): a case conference
started twice, from two phones or the CLI at once, is one bridge, and nobody already being
called or in it is called again. A call is `requested` until the service claims it
(`calling`), then `answered` (`left` once they left it: an invitation calls them again),
`no_answer` (two tries, the leader told), `unknown` (the AMI link dropped while it rang) or
`failed`; a call held back for a leader who was not reached is `not_called`, one taken when
the conference had no leader any more `turned_away`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import sqlite_utils

from directory import audit
from directory.transactions import writing


@dataclass(frozen=True)
class ConferenceCall:
    id: int
    conference_id: int
    bridge: str
    case_id: int | None
    member_id: int
    invited_by: int | None
    leader: bool
    leader_member_id: int | None
    requested_at: str


_CALL = """
SELECT k.id, k.conference_id, c.bridge, c.case_id, k.member_id, k.invited_by, k.leader,
       c.leader_member_id, k.requested_at
  FROM conference_calls k JOIN conferences c ON c.id = k.conference_id
"""
_LIVE = ("requested", "calling", "answered")
# A conference whose leader is called (started from the CLI or the API, or an officer's start
# that calls the worker's supervisor in to lead) calls the others once a leader answered:
# called in before, they would wait on hold music for a leader who may never come.
_LEADER_CALLED = (
    "EXISTS (SELECT 1 FROM conference_calls l WHERE l.conference_id = c.id AND l.leader = 1)"
)
# (A leader's call whose outcome is not known, the AMI link dropped, may have been taken:
# the others are called; should no leader be in, each is told so when they answer.)
_LEADER_REACHED = (
    "EXISTS (SELECT 1 FROM conference_calls l WHERE l.conference_id = c.id AND l.leader = 1 "
    "AND l.status IN ('answered', 'left', 'unknown'))"
)
_LEADER_RINGING = (
    "EXISTS (SELECT 1 FROM conference_calls l WHERE l.conference_id = c.id AND l.leader = 1 "
    "AND l.status IN ('requested', 'calling'))"
)


def _call(row: tuple) -> ConferenceCall:
    cid, conf, bridge, case_id, member_id, inviter, leader, lead_id, requested = row
    return ConferenceCall(
        cid, conf, bridge, case_id, member_id, inviter, bool(leader), lead_id, requested
    )


class ConferenceStore:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def running(self, bridge: str) -> tuple[int, int | None] | None:
        """(conference id, leader's member id) of the running conference `bridge`."""
        row = self.db.execute(
            "SELECT id, leader_member_id FROM conferences WHERE bridge = ? AND ended_at IS NULL",
            (bridge,),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def _conference(
        self, bridge: str, case_id: int | None, started_by: str, leader_id: int | None
    ) -> tuple[int, bool]:
        found = self.running(bridge)
        if found is not None:
            return found[0], False
        try:
            new = self.db["conferences"].insert(
                {
                    "case_id": case_id,
                    "bridge": bridge,
                    "started_by": started_by,
                    "leader_member_id": leader_id,
                    "started_at": audit.now(),
                }
            )
        except sqlite3.IntegrityError:  # started at the same moment elsewhere: that one
            found = self.running(bridge)
            assert found is not None
            return found[0], False
        return int(new.last_pk), True

    def start(
        self,
        bridge: str,
        case_id: int | None,
        started_by: str,
        leader_id: int | None,
        callees: list[tuple[int, bool]],
        invited_by: int | None,
        present: tuple[int, bool] | None = None,
    ) -> tuple[int, list[int], bool]:
        """Start (or join) the conference `bridge` and request a call to each of `callees`
        ((member id, joins as leader)) not already called into it. `present`: a member
        already on the line (who dialed it from their phone), recorded as answered so that
        a later start does not ring them. Returns the conference's id, the new calls' ids
        and whether the conference is new."""
        with writing(self.db):
            conference_id, created = self._conference(bridge, case_id, started_by, leader_id)
            live = {
                r[0]
                for r in self.db.execute(
                    "SELECT member_id FROM conference_calls WHERE conference_id = ? "
                    f"AND status IN ({','.join('?' * len(_LIVE))})",
                    (conference_id, *_LIVE),
                )
            }
            at = audit.now()
            if present is not None and present[0] in live:
                # They were to be called in, and dialed it themselves first: not rung now.
                self.db.execute(
                    "UPDATE conference_calls SET status = 'answered', updated_at = ? "
                    "WHERE conference_id = ? AND member_id = ? AND status = 'requested'",
                    (at, conference_id, present[0]),
                )
            elif present is not None:
                self.db["conference_calls"].insert(
                    {
                        "conference_id": conference_id,
                        "member_id": present[0],
                        "invited_by": None,
                        "leader": 1 if present[1] else 0,
                        "status": "answered",
                        "requested_at": at,
                        "updated_at": at,
                    }
                )
                live.add(present[0])
            calls = []
            in_it = self.present(bridge)  # dialed in themselves: no call rings them again
            for member_id, leader in callees:
                if member_id in live or member_id in in_it:
                    continue
                row = self.db["conference_calls"].insert(
                    {
                        "conference_id": conference_id,
                        "member_id": member_id,
                        "invited_by": invited_by,
                        "leader": 1 if leader else 0,
                        "status": "requested",
                        "requested_at": at,
                        "updated_at": at,
                    }
                )
                calls.append(int(row.last_pk))
                live.add(member_id)
            audit.record(
                self.db,
                started_by,
                "conference.start" if created else "conference.invite",
                bridge,
                None,
                {"case": case_id, "calls": calls},
            )
        return conference_id, calls, created

    def _take(self, where: str, status: str) -> list[ConferenceCall]:
        """The calls `where` says (SQL over k, the call, and c, its conference), now given
        `status`; inside the caller's transaction."""
        taken = [_call(r) for r in self.db.execute(_CALL + "WHERE " + where)]
        at = audit.now()
        for call in taken:
            self.db.execute(
                "UPDATE conference_calls SET status = ?, updated_at = ? WHERE id = ?",
                (status, at, call.id),
            )
        return taken

    def claim_due(self) -> list[ConferenceCall]:
        """The calls requested and not yet placed, now marked as being placed."""
        with writing(self.db):
            # Not into a conference that has ended (its leader hung up before everyone was
            # rung): they would wait alone on hold music for a leader who is gone.
            return self._take(
                "k.status = 'requested' AND c.ended_at IS NULL "
                f"AND (k.leader = 1 OR NOT {_LEADER_CALLED} OR {_LEADER_REACHED})",
                "calling",
            )

    def drop_leaderless(self) -> list[ConferenceCall]:
        """The calls held back for a leader who was called and not reached (no answer,
        busy, failed): never placed now (status not_called), and their conference is over
        (nobody else was called into it)."""
        with writing(self.db):
            dropped = self._take(
                "k.status = 'requested' AND k.leader = 0 AND c.ended_at IS NULL "
                f"AND {_LEADER_CALLED} AND NOT {_LEADER_REACHED} AND NOT {_LEADER_RINGING}",
                "not_called",
            )
            for bridge in {call.bridge for call in dropped}:
                self.db.execute(
                    "UPDATE conferences SET ended_at = ? WHERE bridge = ? AND ended_at IS NULL",
                    (audit.now(), bridge),
                )
        return dropped

    def abandon_calling(self) -> int:
        """At the service's start: calls it was placing when it stopped are over for it (a
        member who took one is in the conference and logged by ConfBridge's events). A
        leader's is `unknown`, not failed: they may be in it, so the others are still called
        (each told, if they take the call, when no leader is there) and the conference is
        not ended under a leader who joined."""
        with writing(self.db):
            cursor = self.db.execute(
                "UPDATE conference_calls SET status = CASE WHEN leader = 1 THEN 'unknown' "
                "ELSE 'failed' END, updated_at = ? WHERE status = 'calling'",
                (audit.now(),),
            )
        return cursor.rowcount

    def tried(self, call_id: int, outcome: str) -> None:
        self.db.execute(
            "UPDATE conference_calls SET attempts = attempts + 1, outcome = ?, updated_at = ? "
            "WHERE id = ?",
            (outcome, audit.now(), call_id),
        )
        self.db.conn.commit()

    def settle(self, call_id: int, status: str) -> None:
        with writing(self.db):
            self.db.execute(
                "UPDATE conference_calls SET status = ?, updated_at = ? WHERE id = ?",
                (status, audit.now(), call_id),
            )

    def present(self, bridge: str) -> set[int]:
        """The members in `bridge` now, as the contact log has them from Asterisk (joined,
        not yet left): a standing bridge runs without a record of its own here until
        someone is called into it."""
        return {
            row[0]
            for row in self.db.execute(
                "SELECT caller_member_id FROM contacts WHERE kind = 'conference' AND dialed = ? "
                "AND answered_at IS NOT NULL AND ended_at IS NULL "
                "AND caller_member_id IS NOT NULL",
                (bridge,),
            )
        }

    def left(self, bridge: str, member_id: int) -> None:
        """The member left the running conference `bridge` (ConfbridgeLeave): they may be
        called into it again."""
        with writing(self.db):
            self.db.execute(
                "UPDATE conference_calls SET status = 'left', updated_at = ? "
                "WHERE status = 'answered' AND member_id = ? AND conference_id IN "
                "(SELECT id FROM conferences WHERE bridge = ? AND ended_at IS NULL)",
                (audit.now(), member_id, bridge),
            )

    def close_stale_participations(self, running: dict[str, set[int]], older_than: str) -> int:
        """After a gap: participations still open (joined, never seen leaving) of members
        Asterisk no longer lists in that conference (`running`: each running conference's
        members) ended meanwhile, at the latest now; their call's CDR, if it comes, puts the
        real time. Without this a crash of Asterisk would leave them "in" for good. Returns
        how many."""
        at = audit.now()
        open_rows = self.db.execute(
            "SELECT id, dialed, caller_member_id FROM contacts WHERE kind = 'conference' "
            "AND answered_at IS NOT NULL AND ended_at IS NULL AND placed_at < ?",
            (older_than,),
        ).fetchall()
        stale = [r[0] for r in open_rows if r[2] not in running.get(r[1], set())]
        if stale:
            with writing(self.db):
                self.db.conn.executemany(
                    "UPDATE contacts SET ended_at = ? WHERE id = ?", [(at, i) for i in stale]
                )
        return len(stale)

    def left_all_but(self, bridge: str, present: set[int], older_than: str) -> int:
        """After a gap: who was taken into the running conference `bridge` (before
        `older_than`) and is not among those Asterisk lists in it now (`present`) left
        meanwhile, and may be called into it again. Returns how many."""
        marks = ",".join("?" * len(present)) or "NULL"
        with writing(self.db):
            cursor = self.db.execute(
                "UPDATE conference_calls SET status = 'left', updated_at = ? "
                f"WHERE status = 'answered' AND member_id NOT IN ({marks}) AND updated_at < ? "
                "AND conference_id IN (SELECT id FROM conferences WHERE bridge = ? "
                "AND ended_at IS NULL)",
                (audit.now(), *sorted(present), older_than, bridge),
            )
        return cursor.rowcount

    def turned_away(self, bridge: str, member_id: int) -> str | None:
        """The member's latest call into `bridge` was taken when it had no leader (or it was
        full): they were told so and not put in. Returns when that call was asked for (None
        for someone who dialed it themselves)."""
        with writing(self.db):
            row = self.db.execute(
                "UPDATE conference_calls SET status = 'turned_away', updated_at = ? WHERE id = "
                "(SELECT k.id FROM conference_calls k JOIN conferences c "
                "ON c.id = k.conference_id WHERE c.bridge = ? AND k.member_id = ? "
                "ORDER BY k.id DESC LIMIT 1) RETURNING requested_at",
                (audit.now(), bridge, member_id),
            ).fetchone()
        return row[0] if row else None

    def end(self, bridge: str) -> bool:
        """The conference `bridge` ended (ConfBridge says so): no call goes into it now."""
        with writing(self.db):
            cursor = self.db.execute(
                "UPDATE conferences SET ended_at = ? WHERE bridge = ? AND ended_at IS NULL",
                (audit.now(), bridge),
            )
        return cursor.rowcount > 0

    def calls(self, conference_id: int) -> list[dict]:
        return list(
            self.db["conference_calls"].rows_where(
                "conference_id = ?", [conference_id], order_by="id"
            )
        )

    def end_all_but(self, running: set[str], older_than: str) -> list[str]:
        """After a gap: the conferences Asterisk no longer runs (`running` are the ones it
        does) ended meanwhile, unless started after `older_than` or still calling people in
        (their first member may not have joined yet)."""
        rows = self.db.execute(
            "SELECT c.bridge FROM conferences c WHERE c.ended_at IS NULL AND c.started_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM conference_calls k WHERE k.conference_id = c.id "
            "AND k.status IN ('requested', 'calling'))",
            (older_than,),
        ).fetchall()
        gone = [r[0] for r in rows if r[0] not in running]
        for bridge in gone:
            self.end(bridge)
        return gone
