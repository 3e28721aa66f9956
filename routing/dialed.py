"""What a dialed string means: an extension, a short code, a phone number, or nothing usable."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from directory.numbers import try_normalise

MAX_DIALED = 32
_DIALABLE = re.compile(r"^[0-9+*#]+$")
SHORT_CODE_DIGITS = 3  # what members dial for a short code; 4 to 6 digits are extensions
_SHORT_CODE = re.compile(rf"^[0-9]{{{SHORT_CODE_DIGITS}}}$")
_EXTENSION = re.compile(r"^[1-9][0-9]{3,5}$")


class DialedKind(Enum):
    EXTENSION = "extension"
    SHORT_CODE = "short_code"
    NUMBER = "number"
    INVALID = "invalid"


@dataclass(frozen=True)
class Dialed:
    kind: DialedKind
    value: str  # the extension, the code, or the E.164 number; empty when invalid
    reason: str = ""


def parse_dialed(raw: str) -> Dialed:
    """Classify a dialed string by its shape alone (the directory is asked later).

    Three digits are a short code, four to six an extension, anything longer a phone
    number in any local or international format.
    """
    text = (raw or "").strip()
    if not text:
        return Dialed(DialedKind.INVALID, "", "nothing dialed")
    if len(text) > MAX_DIALED:
        return Dialed(DialedKind.INVALID, "", "too many digits")
    if not _DIALABLE.match(text):
        return Dialed(DialedKind.INVALID, "", "not a dialable string")
    if _SHORT_CODE.match(text):
        return Dialed(DialedKind.SHORT_CODE, text)
    if _EXTENSION.match(text):
        return Dialed(DialedKind.EXTENSION, text)
    e164 = try_normalise(text)
    if e164 is None:
        return Dialed(DialedKind.INVALID, "", "not a valid number")
    return Dialed(DialedKind.NUMBER, e164)
