"""How a text travels as SMS: GSM 7-bit when every character has a GSM code, else UCS-2;
and how many SMS parts it takes once the gateway splits and concatenates it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

# GSM 03.38 default alphabet (the escape code 0x1B left out) and its extension table, whose
# characters take two septets each.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")

SINGLE = {"gsm": 160, "ucs2": 70}  # characters (septets, UTF-16 units) in one SMS
PER_PART = {"gsm": 153, "ucs2": 67}  # in each part of a concatenated SMS (6-octet UDH)


class Coding(Enum):
    GSM = "gsm"  # Kannel coding 0
    UCS2 = "ucs2"  # Kannel coding 2

    @property
    def kannel(self) -> int:
        return 0 if self is Coding.GSM else 2


@dataclass(frozen=True)
class Segments:
    coding: Coding
    units: int  # septets for GSM, UTF-16 code units for UCS-2
    parts: int


def coding_for(text: str) -> Coding:
    return Coding.GSM if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text) else Coding.UCS2


def segments(text: str) -> Segments:
    """The coding of `text`, its length in that coding, and the SMS parts it needs."""
    coding = coding_for(text)
    if coding is Coding.GSM:
        units = len(text) + sum(ch in GSM_EXTENSION for ch in text)
    else:
        units = len(text.encode("utf-16-be")) // 2
    if units <= SINGLE[coding.value]:
        return Segments(coding, units, 1)
    return Segments(coding, units, math.ceil(units / PER_PART[coding.value]))
