"""The SMS relay's store: texts, one delivery per recipient, and their contact rows.

A text is stored with all its deliveries and contact rows in one transaction before the
sender's phone is told anything, so a text the relay accepted is never lost: the service
can die right after and deliver it when it is back. Deliveries go out per recipient in the
order they were stored. A delivery ends `delivered` (handed to the member's registered
phone, or accepted by the SMS gateway for their mobile), `expired` (nobody could be reached
before its expiry) or `failed` (the recipient is no longer a member, or the gateway refused
the number).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils

from directory.audit import now
from directory.transactions import writing

log = logging.getLogger(__name__)

QUEUED, DELIVERED, EXPIRED, FAILED = "queued", "delivered", "expired", "failed"
TEXT, NOTICE, ALERT = "text", "notice", "alert"
# text: a member's; notice: the system's answer to a sender (refusals, commands, outcomes),
# never sent by SMS; alert: a missed-call notice, sent by SMS to a member without a phone.


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Pending:
    """A delivery waiting to go out, with what the recipient's phone is sent."""

    delivery_id: int
    text_id: int
    recipient_id: int
    recipient_extension: str
    recipient_mobile: str | None
    sender_id: int | None
    sender_extension: str | None
    sender_name: str | None
    body: str
    kind: str
    case_id: int | None
    attempts: int
    created_at: str
    team: str  # the short code's label when the text went to a team
    by_sms: int = 0  # 1: to the member's mobile at once (the answer to a text that came by SMS)
    cost_exempt: int = 0  # 1: not held back by the daily SMS cap (the notice that it was reached)


@dataclass(frozen=True)
class Settled:
    """A delivery that ended, for the notice its sender gets."""

    delivery_id: int
    text_id: int
    status: str
    sender_id: int | None
    recipient_id: int
    recipient_name: str
    recipient_extension: str
    addressed: str
    team: str
    created_at: str
    body: str | None


_PENDING = (
    "SELECT d.id, d.text_id, d.recipient_member_id, r.extension, r.phone, t.sender_member_id,"
    " s.extension, s.name, t.body, t.kind, t.case_id, d.attempts, t.created_at, t.team,"
    " d.by_sms, d.cost_exempt "
    "FROM text_deliveries d JOIN texts t ON t.id = d.text_id "
    "JOIN members r ON r.id = d.recipient_member_id "
    "LEFT JOIN members s ON s.id = t.sender_member_id "
)


class TextStore:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def store(
        self,
        *,
        kind: str,
        sender_id: int | None,
        addressed: str,
        body: str,
        recipients: list[int],
        expires_at: datetime,
        case_id: int | None = None,
        link: str = "",
        team: str = "",
        by_sms: bool = False,
        cost_exempt: bool = False,
    ) -> tuple[int, list[int]]:
        """Store a text, a queued delivery per recipient and (for members' texts) a contact
        row each, in one transaction; returns the text's id and the deliveries' ids.
        `by_sms`: the deliveries go to the recipients' mobiles at once, not to their SIP
        phones; `cost_exempt`: the daily SMS cap does not hold them back."""
        stamp = now()
        with writing(self.db):
            text_id = (
                self.db["texts"]
                .insert(
                    {
                        "kind": kind,
                        "sender_member_id": sender_id,
                        "addressed": addressed[:64],
                        "team": team,
                        "body": body,
                        "case_id": case_id,
                        "link": link,
                        "created_at": stamp,
                    }
                )
                .last_pk
            )
            deliveries = []
            for recipient in recipients:
                delivery_id = (
                    self.db["text_deliveries"]
                    .insert(
                        {
                            "text_id": text_id,
                            "recipient_member_id": recipient,
                            "status": QUEUED,
                            "next_attempt_at": stamp,
                            "expires_at": _iso(expires_at),
                            "by_sms": int(by_sms),
                            "cost_exempt": int(cost_exempt),
                        }
                    )
                    .last_pk
                )
                deliveries.append(int(delivery_id))
                if kind == TEXT:
                    self.db["contacts"].insert(
                        {
                            "kind": "text",
                            "source_key": f"text:{delivery_id}",
                            "caller_member_id": sender_id,
                            "callee_member_id": recipient,
                            "dialed": addressed[:32],
                            "placed_at": stamp,
                            "outcome": QUEUED,
                            "case_id": case_id,
                            "link": link,
                            "recorded_at": stamp,
                            "text_delivery_id": delivery_id,
                        }
                    )
        return int(text_id), deliveries

    def recipients_waiting(self) -> list[int]:
        """Members with a delivery queued for their SIP phone."""
        return [
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT recipient_member_id FROM text_deliveries "
                "WHERE status = ? AND by_sms = 0",
                (QUEUED,),
            )
        ]

    def waiting_member(self, extension: str) -> int | None:
        """The active member with `extension`, when a text waits for their SIP phone."""
        row = self.db.execute(
            "SELECT m.id FROM members m JOIN text_deliveries d ON d.recipient_member_id = m.id "
            "WHERE m.extension = ? AND m.active = 1 AND d.status = ? AND d.by_sms = 0 LIMIT 1",
            (extension, QUEUED),
        ).fetchone()
        return int(row[0]) if row else None

    def due_recipients(self) -> list[int]:
        """Members with a delivery for their SIP phone whose time to try again has come."""
        return [
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT recipient_member_id FROM text_deliveries "
                "WHERE status = ? AND next_attempt_at <= ? AND by_sms = 0",
                (QUEUED, now()),
            )
        ]

    def sender_of(self, text_id: int) -> int | None:
        row = self.db.execute(
            "SELECT sender_member_id FROM texts WHERE id = ?", (text_id,)
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def pending_for(self, member_id: int, limit: int = 50) -> list[Pending]:
        """The member's queued deliveries for their SIP phone, oldest first."""
        rows = self.db.execute(
            _PENDING + "WHERE d.status = ? AND d.recipient_member_id = ? AND d.by_sms = 0 "
            "ORDER BY d.id LIMIT ?",
            (QUEUED, member_id, limit),
        ).fetchall()
        return [Pending(*row) for row in rows]

    def due_by_mobile(self, older_than: datetime, limit: int = 200) -> list[Pending]:
        """Queued deliveries for members' mobiles: those meant for SMS at once (answers to a
        text that came by SMS), and those that waited longer than `older_than` for a phone
        to register. A failed SMS waits for its retry time; failed SIP tries do not hold it
        back. The system's answers to SIP texts never go by SMS (they would cost money, and
        a phone that answers them would loop), nor a text the gateway refused for good."""
        rows = self.db.execute(
            _PENDING + "WHERE d.status = ? AND (d.next_attempt_at <= ? "
            "OR d.last_error NOT LIKE 'sms:%') AND r.active = 1 AND d.sms_refused = 0 "
            "AND (d.by_sms = 1 OR (t.created_at <= ? AND t.kind != ?)) ORDER BY d.id LIMIT ?",
            (QUEUED, now(), _iso(older_than), NOTICE, limit),
        ).fetchall()
        return [Pending(*row) for row in rows]

    def log_on_case(self, sender_id: int, case_id: int, body: str, after_close: bool) -> int:
        """A text filed on a case with nobody to deliver it to (`#<case> <text>` by SMS): the
        text, and a contact row on the case with no callee. Returns the text's id."""
        stamp = now()
        with writing(self.db):
            text_id = int(
                self.db["texts"]
                .insert(
                    {
                        "kind": TEXT,
                        "sender_member_id": sender_id,
                        "addressed": f"#{case_id}",
                        "team": "",
                        "body": body,
                        "case_id": case_id,
                        "link": "prefix",
                        "created_at": stamp,
                    }
                )
                .last_pk
            )
            self.db["contacts"].insert(
                {
                    "kind": "text",
                    "source_key": f"note:{text_id}",
                    "caller_member_id": sender_id,
                    "callee_member_id": None,
                    "dialed": f"#{case_id}",
                    "placed_at": stamp,
                    "outcome": "logged",
                    "case_id": case_id,
                    "link": "prefix",
                    "after_close": int(after_close),
                    "recorded_at": stamp,
                }
            )
        return text_id

    def delivered(self, delivery_ids: list[int], via: str) -> None:
        """Mark deliveries handed over (one transaction for the batch)."""
        if not delivery_ids:
            return
        stamp = now()
        marks = ", ".join("?" * len(delivery_ids))
        with writing(self.db):
            # No notice owed for a text delivered at once: it leaves the notice look-up.
            self.db.execute(
                f"UPDATE text_deliveries SET status = ?, via = ?, delivered_at = ?, "
                f"attempts = attempts + 1, notified_at = CASE WHEN notify = 0 THEN ? "
                f"ELSE notified_at END WHERE id IN ({marks}) AND status = ?",
                (DELIVERED, via, stamp, stamp, *delivery_ids, QUEUED),
            )
            self.db.execute(
                f"UPDATE contacts SET outcome = ?, answered_at = ? "
                f"WHERE text_delivery_id IN ({marks})",
                (DELIVERED, stamp, *delivery_ids),
            )

    def handed_since(self, since: datetime) -> list[tuple[int, str, datetime]]:
        """(member, extension, first hand-over) of each active member whose SIP phone was
        handed texts since `since`."""
        rows = self.db.execute(
            "SELECT d.recipient_member_id, m.extension, min(d.delivered_at) "
            "FROM text_deliveries d JOIN members m ON m.id = d.recipient_member_id "
            "WHERE d.delivered_at >= ? AND d.status = ? AND d.via = 'sip' AND m.active = 1 "
            "GROUP BY d.recipient_member_id",
            (_iso(since), DELIVERED),
        ).fetchall()
        return [(int(r[0]), r[1], datetime.fromisoformat(r[2])) for r in rows]

    def requeue_recent(self, member_id: int, since: datetime) -> int:
        """Put back in the queue the texts handed to the member's phone since `since`: the
        phone stopped answering Asterisk (it may have been gone when they were sent). A text
        may arrive twice this way; none is lost. Returns how many."""
        stamp = _iso(since)
        with writing(self.db):
            ids = [
                r[0]
                for r in self.db.execute(
                    "SELECT id FROM text_deliveries WHERE recipient_member_id = ? "
                    "AND status = ? AND via = 'sip' AND delivered_at >= ?",
                    (member_id, DELIVERED, stamp),
                )
            ]
            if ids:
                marks = ", ".join("?" * len(ids))
                self.db.execute(
                    f"UPDATE text_deliveries SET status = ?, via = NULL, delivered_at = NULL, "
                    f"last_error = 'phone stopped answering', next_attempt_at = ? "
                    f"WHERE id IN ({marks})",
                    (QUEUED, now(), *ids),
                )
                self.db.execute(
                    f"UPDATE contacts SET outcome = ?, answered_at = NULL "
                    f"WHERE text_delivery_id IN ({marks})",
                    (QUEUED, *ids),
                )
        return len(ids)

    def retry_later(self, delivery_id: int, error: str, at: datetime, *, notify: bool) -> None:
        """A try that did not reach the member: try again at `at` (it stays queued)."""
        with writing(self.db):
            self.db.execute(
                "UPDATE text_deliveries SET attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ?, notify = max(notify, ?) WHERE id = ? AND status = ?",
                (error[:200], _iso(at), 1 if notify else 0, delivery_id, QUEUED),
            )

    def hold(self, member_id: int, error: str, at: datetime) -> list[int]:
        """The member's phone did not take a text: all their queued texts wait until `at`
        (or until their phone is back). Returns the ids of members' texts tried for the
        first time, whose senders are told they wait (and told again when delivered)."""
        with writing(self.db):
            first = [
                r[0]
                for r in self.db.execute(
                    "SELECT d.text_id FROM text_deliveries d JOIN texts t ON t.id = d.text_id "
                    "WHERE d.recipient_member_id = ? AND d.status = ? AND d.attempts = 0 "
                    "AND t.kind = ? AND d.by_sms = 0 ORDER BY d.id",
                    (member_id, QUEUED, TEXT),
                )
            ]
            self.db.execute(
                "UPDATE text_deliveries SET attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ?, notify = CASE WHEN attempts = 0 AND (SELECT kind FROM "
                "texts WHERE id = text_id) = ? THEN 1 ELSE notify END "
                "WHERE recipient_member_id = ? AND status = ? AND by_sms = 0",
                (error[:200], _iso(at), TEXT, member_id, QUEUED),
            )
        return first

    def sms_refused(self, delivery_id: int, reason: str) -> None:
        """The gateway refused a text for good: it waits for the member's phone only."""
        with writing(self.db):
            self.db.execute(
                "UPDATE text_deliveries SET sms_refused = 1, last_error = ? WHERE id = ?",
                (f"sms refused: {reason}"[:200], delivery_id),
            )

    def fail(self, delivery_id: int, status: str, error: str) -> None:
        """End a delivery that cannot succeed (EXPIRED or FAILED)."""
        with writing(self.db):
            # The system's own texts owe nobody a notice; a member's text owes its sender one.
            self.db.execute(
                "UPDATE text_deliveries SET status = ?, last_error = ?, notified_at = CASE "
                "WHEN (SELECT kind FROM texts WHERE id = text_id) != ? THEN ? ELSE NULL END "
                "WHERE id = ? AND status = ?",
                (status, error[:200], TEXT, now(), delivery_id, QUEUED),
            )
            self.db.execute(
                "UPDATE contacts SET outcome = ? WHERE text_delivery_id = ?",
                (status, delivery_id),
            )

    def expire_due(self, at: datetime | None = None) -> int:
        """Expire every queued delivery past its expiry; returns how many."""
        stamp = _iso(at or datetime.now(UTC))
        with writing(self.db):
            ids = [
                r[0]
                for r in self.db.execute(
                    "SELECT id FROM text_deliveries WHERE status = ? AND expires_at <= ?",
                    (QUEUED, stamp),
                )
            ]
            for delivery_id in ids:
                self.fail(delivery_id, EXPIRED, "expired before the recipient could be reached")
        return len(ids)

    def to_notify(self, limit: int = 200) -> list[list[Settled]]:
        """Members' texts whose deliveries all ended and whose sender is owed a notice (one
        had to wait and was delivered later, or one expired or failed): every delivery of
        each such text, for one notice per text."""
        ids = [
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT d.text_id FROM text_deliveries d JOIN texts t "
                "ON t.id = d.text_id WHERE d.notified_at IS NULL AND d.status != 'queued' "
                "AND t.kind = ? "
                "AND d.status != ? AND (d.notify = 1 OR d.status != ?) "
                "AND NOT EXISTS (SELECT 1 FROM text_deliveries o WHERE o.text_id = d.text_id "
                "AND o.status = ?) ORDER BY d.text_id LIMIT ?",
                (TEXT, QUEUED, DELIVERED, QUEUED, limit),
            )
        ]
        return [self._settled(text_id) for text_id in ids]

    def _settled(self, text_id: int) -> list[Settled]:
        rows = self.db.execute(
            "SELECT d.id, d.text_id, d.status, t.sender_member_id, d.recipient_member_id, "
            "r.name, r.extension, t.addressed, t.team, t.created_at, t.body "
            "FROM text_deliveries d JOIN texts t ON t.id = d.text_id "
            "JOIN members r ON r.id = d.recipient_member_id WHERE d.text_id = ? ORDER BY d.id",
            (text_id,),
        ).fetchall()
        return [Settled(*row) for row in rows]

    def notified(self, delivery_ids: list[int]) -> None:
        if delivery_ids:
            marks = ", ".join("?" * len(delivery_ids))
            with writing(self.db):
                self.db.execute(
                    f"UPDATE text_deliveries SET notified_at = ? WHERE id IN ({marks})",
                    (now(), *delivery_ids),
                )

    def purge_bodies(self, older_than: timedelta, at: datetime | None = None) -> int:
        """Remove the bodies of texts all of whose deliveries ended more than `older_than`
        ago (delivered, expired or failed); the texts' contact rows stay. Returns how many."""
        cutoff = _iso((at or datetime.now(UTC)) - older_than)
        with writing(self.db):
            cursor = self.db.execute(
                "UPDATE texts SET body = NULL, purged_at = ? WHERE purged_at IS NULL "
                "AND body IS NOT NULL "
                "AND created_at <= ? AND NOT EXISTS (SELECT 1 FROM text_deliveries d "
                "WHERE d.text_id = texts.id AND (d.status = ? OR d.delivered_at > ?))",
                (now(), cutoff, QUEUED, cutoff),
            )
        return int(cursor.rowcount)

    def counts(self) -> dict[str, int]:
        return {
            row[0]: int(row[1])
            for row in self.db.execute(
                "SELECT status, count(*) FROM text_deliveries GROUP BY status"
            )
        }
