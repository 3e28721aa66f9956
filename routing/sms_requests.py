"""What a text from a basic phone asks for. Such a text comes to the CUG's one number, so
whom it is for is in the text itself:

    3003 <text>            to the member with extension 3003 (or a member's number, a code)
    SUP <text>             to a short code by its word (SUP: my supervisor; words are data)
    #12 <text>             filed on case 12
    3003 #12 <text>        to 3003, filed on case 12 (as a case tag from a SIP phone)
    HELP, WHO 3003, CASES, DONE 12    commands, answered by text

Pure: the words come in as a mapping (word -> short code) from the directory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from routing.texts import COMMAND_WORDS, Command, CommandKind, parse_command, split_case_tag

_ADDRESS = re.compile(r"^\+?[0-9]{3,15}$")
_PUNCTUATION = ":,.;-"


class SmsProblem(Enum):
    NO_ADDRESS = "no_address"  # does not start with whom it is for
    NO_TEXT = "no_text"  # whom it is for, and nothing else


@dataclass(frozen=True)
class SmsRequest:
    command: Command | None = None
    addressed: str = ""  # an extension, a number or a short code
    body: str = ""
    case: int | None = None  # `#<case> <text>`: a note on the case, for nobody in particular
    problem: SmsProblem | None = None


def parse_sms(text: str, words: Mapping[str, str]) -> SmsRequest:
    """What `text` (already checked: not empty, trimmed) asks for."""
    parts = text.split(None, 1)
    first = parts[0] if parts else ""
    rest = parts[1].strip() if len(parts) > 1 else ""
    word = first.rstrip(_PUNCTUATION).upper()
    if word in COMMAND_WORDS:
        return SmsRequest(command=parse_command(text) or Command(CommandKind.HELP))
    if first.startswith("#"):
        case, note = split_case_tag(text)
        if case is None:
            return SmsRequest(problem=SmsProblem.NO_ADDRESS)
        if not note:
            return SmsRequest(addressed=f"#{case}", problem=SmsProblem.NO_TEXT)
        return SmsRequest(case=case, body=note)
    if word in words:
        addressed = words[word]
    elif _ADDRESS.match(first.rstrip(_PUNCTUATION)):
        addressed = first.rstrip(_PUNCTUATION)
    else:
        return SmsRequest(problem=SmsProblem.NO_ADDRESS)
    if not rest:
        return SmsRequest(addressed=first.rstrip(_PUNCTUATION), problem=SmsProblem.NO_TEXT)
    return SmsRequest(addressed=addressed, body=rest)
