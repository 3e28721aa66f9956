"""Phone numbers as the directory stores them: E.164 through phonenumbers, Uganda by default."""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import PhoneNumberType

DEFAULT_REGION = "UG"
MAX_INPUT_LENGTH = 40
_ALLOWED = re.compile(r"^[0-9+()\-. /]+$")


class InvalidNumber(ValueError):
    """A string that is not a usable phone number, with the reason in its message."""


def normalise(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return the E.164 form of a number written in any local or international format.

    `0772 123456`, `+256772123456`, `256-772-123-456`, `772123456` and `00256772123456`
    all give `+256772123456`.
    """
    return phonenumbers.format_number(_parse(raw, region), phonenumbers.PhoneNumberFormat.E164)


def _parse(raw: str, region: str, validate: bool = True) -> phonenumbers.PhoneNumber:
    """The parsed number, checked valid unless the caller checks its type itself (parsing
    and typing are the costly parts: each done once per number)."""
    text = (raw or "").strip()
    if not text:
        raise InvalidNumber("no number given")
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidNumber(f"too long to be a phone number ({len(text)} characters)")
    if not _ALLOWED.match(text):
        raise InvalidNumber(f"not a phone number: {text!r}")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"not a phone number: {text!r} ({exc})") from None
    if validate and not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(f"not a valid phone number: {text!r}")
    return parsed


_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


def is_mobile(e164: str) -> bool:
    """True when an E.164 number is in a mobile range (phones that take texts and calls)."""
    return phonenumbers.number_type(phonenumbers.parse(e164, None)) in _MOBILE_TYPES


@functools.lru_cache(maxsize=4096)  # supervisors' numbers repeat across an import
def normalise_member_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """A member's own number: any valid number of the home country's mobile ranges."""
    parsed = _parse(raw, region, validate=False)
    if phonenumbers.region_code_for_number(parsed) != region:
        if not phonenumbers.is_valid_number(parsed):
            raise InvalidNumber(f"not a valid phone number: {raw.strip()!r}")
        raise InvalidNumber(f"{raw.strip()!r} is not a number of {region}")
    kind = phonenumbers.number_type(parsed)  # UNKNOWN: no valid number of this region
    if kind == PhoneNumberType.UNKNOWN:
        raise InvalidNumber(f"not a valid phone number: {raw.strip()!r}")
    if kind not in _MOBILE_TYPES:
        raise InvalidNumber(f"{raw.strip()!r} is not a mobile number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_normalise(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 or None, for places where a non-number is an ordinary answer (a dialed string)."""
    try:
        return normalise(raw, region)
    except InvalidNumber:
        return None


# Service numbers of the phone network (116, 999, 112...): phonenumbers knows few of them,
# so any short run of digits is taken as one; anything longer must be a valid number.
_SERVICE_NUMBER = re.compile(r"^[0-9]{3,6}$")


def normalise_outside_number(raw: str, region: str = DEFAULT_REGION) -> str:
    """A number a short code rings over the trunk: a service number of 3 to 6 digits as it
    is, or a valid phone number in any format as E.164."""
    text = (raw or "").strip()
    if _SERVICE_NUMBER.match(text):
        return text
    return normalise(text, region)
