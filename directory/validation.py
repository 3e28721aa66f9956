"""Checks on the values an admin or a CSV file gives for a member."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from directory.numbers import InvalidNumber, normalise_member_phone

EXTENSION_PATTERN = re.compile(r"^[1-9][0-9]{3,5}$")
LIMITS = {"name": 120, "sub_county": 80, "organisation": 120, "language": 16}


class MemberError(ValueError):
    """One or more reasons why a member's values cannot be stored."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def clean_text(
    value: str | None,
    field_name: str,
    errors: list[str],
    required: bool = False,
    limit: int | None = None,
) -> str:
    """`value` stripped; a reason appended to `errors` when it is missing (if required), holds
    control characters or line breaks, or is longer than `limit` (default: LIMITS or 120)."""
    text = (value or "").strip()
    if required and not text:
        errors.append(f"{field_name} is missing")
        return text
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text):
        errors.append(f"{field_name} contains control characters or line breaks")
        return text
    limit = limit or LIMITS.get(field_name, 120)
    if len(text) > limit:
        errors.append(f"{field_name} is longer than {limit} characters ({len(text)})")
    return text


# A district's name: letters (any script) first, then letters, digits, spaces and . ' - only
# (names reach Asterisk's config, CSV files and pages: nothing that means something there).
DISTRICT_NAME = re.compile(r"^[^\W\d_][\w .'\u2019-]{0,39}$")


def clean_district_name(value: str | None, errors: list[str]) -> str:
    """A new district's name, checked; a reason appended to `errors` when it cannot be one."""
    text = clean_text(value, "district", errors, required=True, limit=40)
    if text and not errors and not DISTRICT_NAME.match(text):
        errors.append(
            f"district {text[:40]!r}: letters first, then only letters, digits, spaces and . ' -"
        )
    return text


@dataclass
class MemberValues:
    """A member's fields as given, before they are checked."""

    name: str = ""
    phone: str = ""
    role: str = ""
    district: str = ""
    supervisor_phone: str = ""
    extension: str = ""
    sub_county: str = ""
    organisation: str = ""
    language: str = ""
    active: str = ""  # an export's `active` column; checked by the import, never stored


@dataclass
class CleanMember:
    """A member's fields after checking: phone in E.164, codes known to the directory."""

    name: str
    phone: str
    role: str
    district: str
    supervisor_phone: str | None
    extension: str | None
    sub_county: str
    organisation: str
    language: str
    errors: list[str] = field(default_factory=list)


def clean_member(values: MemberValues, roles: set[str], districts: dict[str, str]) -> CleanMember:
    """Check every field; the result's `errors` lists all that is wrong (empty when fine).

    `districts` maps a lower-cased district name to its stored spelling.
    """
    errors: list[str] = []
    name = clean_text(values.name, "name", errors, required=True)
    phone = ""
    raw_phone = (values.phone or "").strip()
    if not raw_phone:
        errors.append("phone is missing")
    else:
        try:
            phone = normalise_member_phone(raw_phone)
        except InvalidNumber as exc:
            errors.append(f"phone: {exc}")
    role = (values.role or "").strip().lower()
    if not role:
        errors.append("role is missing")
    elif role not in roles:
        errors.append(f"unknown role {role[:40]!r} (known: {', '.join(sorted(roles))})")
    district_given = (values.district or "").strip()
    district = districts.get(district_given.lower(), "")
    if not district_given:
        errors.append("district is missing")
    elif not district:
        errors.append(
            f"unknown district {district_given[:40]!r} "
            "(add it with `cug directory districts --add`)"
        )
    supervisor_phone: str | None = None
    raw_supervisor = (values.supervisor_phone or "").strip()
    if raw_supervisor:
        try:
            supervisor_phone = normalise_member_phone(raw_supervisor)
        except InvalidNumber as exc:
            errors.append(f"supervisor_phone: {exc}")
        if supervisor_phone and supervisor_phone == phone:
            errors.append("a member cannot be their own supervisor")
    extension = (values.extension or "").strip() or None
    if extension is not None and not EXTENSION_PATTERN.match(extension):
        errors.append(f"extension {extension[:20]!r} must be 4 to 6 digits, not starting with 0")
    sub_county = clean_text(values.sub_county, "sub_county", errors)
    organisation = clean_text(values.organisation, "organisation", errors)
    language = clean_text(values.language, "language", errors) or "en"
    return CleanMember(
        name=name,
        phone=phone,
        role=role,
        district=district,
        supervisor_phone=supervisor_phone,
        extension=extension,
        sub_county=sub_county,
        organisation=organisation,
        language=language,
        errors=errors,
    )
