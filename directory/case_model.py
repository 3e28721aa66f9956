"""Plain value types for cases and referrals, as read from their tables."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

CASE_STATUSES = ("open", "referred", "closed")
URGENCIES = ("normal", "urgent")
REFERRAL_STATUSES = ("made", "accepted", "declined", "completed", "failed")


@dataclass(frozen=True)
class Case:
    id: int  # the case number members key in
    reference: str
    district: str
    category: str
    urgency: str
    status: str
    assigned_member_id: int | None
    reported_at: str
    opened_at: str | None
    closed_at: str | None
    close_reason: str | None
    follow_up_due: str | None
    summary: str
    created_by: str | None

    @property
    def closed(self) -> bool:
        return self.status == "closed"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Case:
        return cls(
            id=row["id"],
            reference=row["reference"],
            district=row["district"],
            category=row["category"],
            urgency=row["urgency"],
            status=row["status"],
            assigned_member_id=row["assigned_member_id"],
            reported_at=row["reported_at"],
            opened_at=row["opened_at"],
            closed_at=row["closed_at"],
            close_reason=row["close_reason"],
            follow_up_due=row["follow_up_due"],
            summary=row["summary"] or "",
            created_by=row["created_by"],
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Referral:
    id: int
    case_id: int
    service: str
    to_member_id: int | None
    consent: bool
    consent_by: str
    status: str
    reason: str
    made_at: str
    made_by: str
    updated_at: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Referral:
        return cls(
            id=row["id"],
            case_id=row["case_id"],
            service=row["service"],
            to_member_id=row["to_member_id"],
            consent=bool(row["consent"]),
            consent_by=row["consent_by"] or "",
            status=row["status"],
            reason=row["reason"] or "",
            made_at=row["made_at"],
            made_by=row["made_by"],
            updated_at=row["updated_at"],
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rows(cursor: Any) -> list[dict[str, Any]]:
    """A cursor's rows as dicts keyed by column name."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
