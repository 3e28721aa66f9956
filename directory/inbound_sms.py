"""Texts the SMS gateway delivered from members' mobiles, by the gateway's message id: a
gateway that did not hear our answer delivers the same text again, and it must be taken
once. Rows are written in the same transaction as the text they stored."""

from __future__ import annotations

import sqlite_utils

from directory.audit import now


class InboundLog:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def seen(self, gateway: str, message_id: str) -> str | None:
        """The outcome of the text with this id, if it was taken before."""
        row = self.db.execute(
            "SELECT outcome FROM inbound_sms WHERE gateway = ? AND message_id = ?",
            (gateway, message_id[:128]),
        ).fetchone()
        return row[0] if row else None

    def record(self, gateway: str, message_id: str, sender: str, outcome: str) -> None:
        self.db["inbound_sms"].insert(
            {
                "gateway": gateway,
                "message_id": message_id[:128],
                "received_at": now(),
                "sender": sender[:32],
                "outcome": outcome[:100],
            }
        )
