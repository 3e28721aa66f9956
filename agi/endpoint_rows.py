"""What Asterisk's realtime PJSIP tables hold for each active member, and what changed.

PJSIP realtime has no templates: each member's rows carry every option of the templates
cug-member-endpoint, cug-member-auth and cug-member-aor in pjsip.conf (read from the
installed copy, so Asterisk config stays the one place those options are set), plus what is
the member's own: extension, digest password and caller ID.

The caller ID's name is free text an admin typed. It reaches Asterisk as `"Name" <ext>`:
quotes, angle brackets and backslashes are dropped (they would end the quoted name or start
a number), line breaks, tabs and other control or separator characters become one space,
invisible formatting characters (bidi overrides, zero-width) are dropped, and the result is
NFC-normalised and cut to CALLER_NAME_MAX characters. Letters of any script stay. A name
with nothing left gives a caller ID of the extension alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CALLER_NAME_MAX = 40  # characters: what phone displays show; SIP headers stay short
ENDPOINT_TEMPLATE = "cug-member-endpoint"
AUTH_TEMPLATE = "cug-member-auth"
AOR_TEMPLATE = "cug-member-aor"
# Realtime table (extconfig.conf's names) -> the pjsip.conf template its rows copy.
TABLE_TEMPLATES = {
    "ps_endpoints": ENDPOINT_TEMPLATE,
    "ps_auths": AUTH_TEMPLATE,
    "ps_aors": AOR_TEMPLATE,
}
# Options that may be given on several lines in a template, joined into one column.
LIST_OPTIONS = frozenset({"allow", "disallow"})

_SAFE_EXTENSION = re.compile(r"^[1-9][0-9]{3,5}$")
_SAFE_PASSWORD = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")
_OPTION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SECTION = re.compile(r"^\[([^\]]+)\]\s*(?:\(([^)]*)\))?$")
_NAME_DROPPED = frozenset('"<>\\')


def caller_name(name: str) -> str:
    """An admin-typed name made safe for `"Name" <ext>` (see the module's notes)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", name[: CALLER_NAME_MAX * 8]):
        category = unicodedata.category(ch)
        if ch in _NAME_DROPPED or category in ("Cf", "Cs", "Co", "Cn"):
            continue
        out.append(" " if category[0] in "CZ" else ch)
    return " ".join("".join(out).split())[:CALLER_NAME_MAX].rstrip()


def caller_id(name: str, extension: str) -> str:
    safe = caller_name(name)
    return f'"{safe}" <{extension}>' if safe else f"<{extension}>"


@dataclass(frozen=True)
class Account:
    """What is a member's own in their realtime rows."""

    extension: str
    callerid: str
    password: str


def account(extension: str, name: str, password: str) -> Account | None:
    """The member's account, or None (logged) when the extension or password could be
    mistaken for anything but a plain token."""
    if not _SAFE_EXTENSION.match(extension) or not _SAFE_PASSWORD.match(password):
        log.error(
            "member with extension %r has an unsafe extension or password; left out", extension[:10]
        )
        return None
    return Account(extension, caller_id(name, extension), password)


@dataclass(frozen=True)
class Templates:
    """The options each member's row copies, by realtime table, in the template's order."""

    options: dict[str, dict[str, str]]
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        text = json.dumps(self.options, sort_keys=False).encode()
        object.__setattr__(self, "fingerprint", hashlib.sha256(text).hexdigest()[:16])

    def columns(self) -> dict[str, list[str]]:
        """Every realtime table's columns, `id` first (the same for every member)."""
        return {table: list(row) for table, row in self.rows(Account("", "", "")).items()}

    def rows(self, acc: Account) -> dict[str, dict[str, str]]:
        ext = acc.extension
        return {
            "ps_endpoints": {
                "id": ext,
                **self.options["ps_endpoints"],
                "auth": ext,
                "aors": ext,
                "callerid": acc.callerid,
            },
            "ps_auths": {
                "id": ext,
                **self.options["ps_auths"],
                "username": ext,
                "password": acc.password,
            },
            "ps_aors": {"id": ext, **self.options["ps_aors"]},
        }


class TemplateError(ValueError):
    """pjsip.conf's member templates cannot be copied into realtime rows."""


def read_templates(pjsip_conf: str) -> Templates:
    """The member templates of a pjsip.conf text (its `type` options left out: a realtime
    table has one type). Only what realtime rows can hold is accepted: plain templates, no
    inheritance, option names that are plain words, one line per option but allow/disallow."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in pjsip_conf.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        header = _SECTION.match(line)
        if header:
            name, suffix = header.group(1).strip(), (header.group(2) or "").strip()
            current = None
            if name in TABLE_TEMPLATES.values():
                if suffix != "!":
                    raise TemplateError(f"[{name}] must be a plain template: ({suffix})")
                current = sections.setdefault(name, {})
            continue
        if current is None:
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.lstrip(">").strip()
        if not sep or not _OPTION_NAME.match(key):
            raise TemplateError(f"not an option line in a member template: {raw!r}")
        if key == "type":
            continue
        if key in current:
            if key not in LIST_OPTIONS:
                raise TemplateError(f"option {key} given twice in a member template")
            value = f"{current[key]},{value}"
        current[key] = value
    missing = [t for t in TABLE_TEMPLATES.values() if t not in sections]
    if missing:
        raise TemplateError(f"pjsip.conf lacks the member templates {missing}")
    options = {table: sections[template] for table, template in TABLE_TEMPLATES.items()}
    own = {"ps_endpoints": {"auth", "aors", "callerid"}, "ps_auths": {"username", "password"}}
    for table, keys in own.items():
        clash = keys & options[table].keys()
        if clash:
            raise TemplateError(f"{TABLE_TEMPLATES[table]} sets {sorted(clash)}, a member's own")
    return Templates(options)


@dataclass
class Change:
    """Members whose rows are written (new or changed) and extensions whose rows go."""

    write: list[Account] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.write or self.delete)


def diff(current: Mapping[str, Account | None], wanted: Iterable[Account]) -> Change:
    """What turns `current` (by extension; None: rows incomplete) into `wanted`."""
    change = Change()
    seen: set[str] = set()
    for acc in wanted:
        seen.add(acc.extension)
        if current.get(acc.extension) != acc:
            change.write.append(acc)
    change.delete = sorted(ext for ext in current if ext not in seen)
    return change
