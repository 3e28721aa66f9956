"""Plain value types the directory hands out: members and short codes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Member:
    id: int
    name: str
    phone: str
    extension: str
    role: str
    district: str
    sub_county: str
    organisation: str
    supervisor_id: int | None
    language: str
    active: bool
    sip_password: str

    @property
    def sip_username(self) -> str:
        """The PJSIP endpoint, auth user name and AOR of the member: their extension."""
        return self.extension

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Member:
        return cls(
            id=row["id"],
            name=row["name"],
            phone=row["phone"],
            extension=row["extension"],
            role=row["role"],
            district=row["district"],
            sub_county=row["sub_county"] or "",
            organisation=row["organisation"] or "",
            supervisor_id=row["supervisor_id"],
            language=row["language"] or "en",
            active=bool(row["active"]),
            sip_password=row["sip_password"],
        )

    def public_dict(self) -> dict[str, Any]:
        """Everything but the SIP password."""
        data = asdict(self)
        data.pop("sip_password")
        return data


@dataclass(frozen=True)
class ShortCode:
    code: str
    kind: str  # "supervisor" | "role" | "outside" | "bridge" | "conference"
    role: str | None
    number: str | None
    label: str
    bridge_id: int | None = None  # for kind bridge: which standing bridge

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ShortCode:
        return cls(
            row["code"], row["kind"], row["role"], row["number"], row["label"], row.get("bridge_id")
        )
