"""An admin's short codes, checked: what a code may be, what it reaches, what depends on it.

A short code is what a member dials (three digits: routing/dialed.py reads four to six as
an extension) and one of three kinds (routing/calls.py resolves them at each call):
`supervisor` (the caller's supervisor), `role` (every active member of a role in the
caller's district) and `outside` (a number over the trunk: the Child Helpline 116, 999).
The outside codes are the outside numbers members may reach, so a code whose number an
escalation chain rings (the default chain rings 116) cannot be removed or pointed
elsewhere until the chain no longer needs it.

Every check runs and every reason is given at once; a refused change changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from directory.chains import ChainStore
from directory.model import ShortCode
from directory.numbers import InvalidNumber, normalise_outside_number, try_normalise
from directory.short_codes import ShortCodeStore
from directory.validation import clean_text
from routing.calls import DirectoryView
from routing.dialed import SHORT_CODE_DIGITS
from routing.escalation import (
    DEFAULT_CHAIN,
    URGENT_PREFIX,
    ChainError,
    Rule,
    RuleKind,
    parse_rules,
)
from routing.texts import COMMAND_WORDS

KINDS = ("supervisor", "role", "outside", "bridge", "district_bridge", "team_bridge", "conference")
MAX_LABEL = 60


class ShortCodeError(ValueError):
    """Every reason a short code change is refused."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class ShortCodeValues:
    """A short code as an admin gave it, before it is checked."""

    code: str
    kind: str = ""
    role: str = ""
    number: str = ""
    label: str = ""
    bridge: str = ""  # for kind bridge: the bridge's id (`cug conference bridges`)


def check_code(code: str) -> list[str]:
    """Why `code` cannot be dialed as a short code (empty when it can)."""
    shown = code[:20]
    if not code:
        return ["the short code is missing"]
    if "*" in code or "#" in code:
        return [
            f"short code {shown!r} cannot hold * or #: *<case>*<number> keys in a case "
            f"and {URGENT_PREFIX} marks a call urgent"
        ]
    if not code.isdigit() or not code.isascii():
        return [f"short code {shown!r} must be digits only"]
    if len(code) != SHORT_CODE_DIGITS:
        size = "too long" if len(code) > SHORT_CODE_DIGITS else "too short"
        return [
            f"short code {shown!r} is {size}: short codes have {SHORT_CODE_DIGITS} digits "
            "(4 to 6 digits are extensions, more a phone number)"
        ]
    return []


def _clean(
    values: ShortCodeValues, roles: set[str], bridges: frozenset[int] = frozenset()
) -> tuple[ShortCode, list[str]]:
    """The stored form of `values` and why it cannot be stored (code not checked here)."""
    reasons: list[str] = []
    bridge_id = _bridge_id(values, bridges, reasons)
    kind = values.kind.strip().lower()
    role = values.role.strip().lower()
    number = values.number.strip()
    if kind not in KINDS:
        reasons.append(f"unknown kind {kind[:20]!r} (known: {', '.join(KINDS)})")
    if kind == "role" and not role:
        reasons.append(f"kind role needs --role (known: {', '.join(sorted(roles))})")
    elif role and role not in roles:
        reasons.append(f"unknown role {role[:40]!r} (known: {', '.join(sorted(roles))})")
    if role and kind in KINDS and kind != "role":
        reasons.append("--role is only for kind role")
    if kind == "outside" and not number:
        reasons.append("kind outside needs --number (e.g. 116)")
    elif number:
        try:
            number = normalise_outside_number(number)
        except InvalidNumber as exc:
            reasons.append(f"outside number: {exc} (a service number has 3 to 6 digits)")
        if kind in KINDS and kind != "outside":
            reasons.append("--number is only for kind outside")
    label = clean_text(values.label, "label", reasons, required=True, limit=MAX_LABEL)
    clean = ShortCode(values.code, kind, role or None, number or None, label, bridge_id)
    return clean, reasons


def _bridge_id(values: ShortCodeValues, bridges: frozenset[int], reasons: list[str]) -> int | None:
    """Kind bridge names a standing bridge (`--bridge ID`); no other kind takes one."""
    kind, given = values.kind.strip().lower(), values.bridge.strip()
    if kind != "bridge":
        if given:
            reasons.append("--bridge is only for kind bridge")
        return None
    if not given:
        reasons.append("kind bridge needs --bridge (a bridge id, `cug conference bridges`)")
        return None
    if not given.isdigit() or int(given) not in bridges:
        reasons.append(f"unknown bridge {given[:20]!r}")
        return None
    return int(given)


def _clashes(directory: DirectoryView, store: ShortCodeStore, code: str) -> list[str]:
    existing = store.get(code)
    if existing is not None:
        return [f"short code {code} already exists ({existing.label}); change it with `edit`"]
    member = directory.member_by_extension(code)
    if member is not None:
        return [f"short code {code} is the extension of {member.name}"]
    return []


def _same_number(a: str, b: str) -> bool:
    if a == b:
        return True
    e164 = try_normalise(a)
    return e164 is not None and e164 == try_normalise(b)


def _chains_ringing(chains: ChainStore, number: str) -> list[str]:
    """The escalation chains in use that ring `number` over the trunk, described."""
    found: list[tuple[str, list[Rule]]] = []
    for stored in chains.all():
        try:
            found.append((f"the escalation chain for {stored.scope}", parse_rules(stored.rules)))
        except ChainError:
            continue  # a chain that does not parse is passed over by calls too
    everyone = chains.get("", "", False)
    if everyone is None:  # without a chain for every member, calls may follow the default
        found.append(("the default escalation chain", list(DEFAULT_CHAIN)))
    return [
        name
        for name, rules in found
        if any(r.kind is RuleKind.OUTSIDE and _same_number(r.value, number) for r in rules)
    ]


def _dependants(
    store: ShortCodeStore, chains: ChainStore, before: ShortCode, after: ShortCode | None
) -> list[str]:
    """Why `before` cannot become `after` (None: be removed): an escalation chain rings its
    outside number and no other code keeps that number allowed."""
    if before.kind != "outside" or not before.number:
        return []
    number = before.number
    if after is not None and after.kind == "outside" and after.number == number:
        return []
    if any(
        c.code != before.code and c.kind == "outside" and _same_number(c.number or "", number)
        for c in store.all()
    ):
        return []
    return [
        f"{name} rings {number} ({before.label}): change it first with "
        f"`cug escalation set`, or keep a short code for {number}"
        for name in _chains_ringing(chains, number)
    ]


def new_code_problems(store: ShortCodeStore, directory: DirectoryView, code: str) -> list[str]:
    """Why `code` cannot be added as a new short code: not dialable, taken by another code
    or a member's extension (empty when it can)."""
    return check_code(code) or _clashes(directory, store, code)


def add_short_code(
    store: ShortCodeStore,
    directory: DirectoryView,
    roles: set[str],
    values: ShortCodeValues,
    actor: str,
    bridges: frozenset[int] = frozenset(),
) -> ShortCode:
    """A new short code, checked (every reason at once) and stored with an audit row;
    `bridges`: the ids of the standing bridges a code of kind bridge may name."""
    code = values.code.strip()
    reasons = new_code_problems(store, directory, code)
    clean, more = _clean(replace(values, code=code), roles, bridges)
    reasons += more
    if reasons:
        raise ShortCodeError(reasons)
    store.add(clean, actor)
    return clean


def edit_short_code(
    store: ShortCodeStore,
    chains: ChainStore,
    roles: set[str],
    code: str,
    changes: dict[str, str | None],
    actor: str,
    bridges: frozenset[int] = frozenset(),
) -> tuple[ShortCode, ShortCode]:
    """Change a short code's kind, role, number or label (None: as it is); a new kind drops
    the role or number the old kind had unless given again. Returns (before, after)."""
    before = store.get(code.strip())
    if before is None:
        raise ShortCodeError([f"no short code {code.strip()[:20]!r}"])
    kind = changes.get("kind")
    new_kind = kind is not None and kind.strip().lower() != before.kind
    values = ShortCodeValues(
        code=before.code,
        kind=kind if kind is not None else before.kind,
        role=_pick(changes.get("role"), "" if new_kind else before.role or ""),
        number=_pick(changes.get("number"), "" if new_kind else before.number or ""),
        label=_pick(changes.get("label"), before.label),
        bridge=_pick(changes.get("bridge"), "" if new_kind else str(before.bridge_id or "")),
    )
    after, reasons = _clean(values, roles, bridges)
    reasons += _dependants(store, chains, before, after)
    if reasons:
        raise ShortCodeError(reasons)
    if after != before:
        store.replace(before, after, actor)
    return before, after


def _pick(given: str | None, current: str) -> str:
    return current if given is None else given


def remove_short_code(
    store: ShortCodeStore, chains: ChainStore, code: str, actor: str
) -> ShortCode:
    """Remove a short code nothing depends on; members dialing it are then refused."""
    before = store.get(code.strip())
    if before is None:
        raise ShortCodeError([f"no short code {code.strip()[:20]!r}"])
    reasons = _dependants(store, chains, before, None)
    if reasons:
        raise ShortCodeError(reasons)
    store.remove(before, actor)
    return before


def describe(code: ShortCode) -> str:
    """What a code reaches, in words: `supervisor: the caller's supervisor`, `role: police`."""
    if code.kind == "bridge":
        return f"bridge: standing bridge {code.bridge_id}"
    if code.kind == "district_bridge":
        return "district_bridge: the caller's district's bridge"
    if code.kind == "team_bridge":
        return "team_bridge: the caller's team's bridge (their supervisor's; a supervisor's own)"
    if code.kind == "conference":
        return "conference: *<case>*<code> starts that case's conference"
    target = code.number or code.role or "the caller's supervisor"
    return f"{code.kind}: {target}"


WORD = re.compile(r"^[A-Z]{2,12}$")


def set_short_code_word(store: ShortCodeStore, code: str, word: str, actor: str) -> str | None:
    """Give short code `code` the word members text it by from a basic phone (`SUP <text>`),
    or none (`word` empty or `-`). Refused with every reason: a word of 2 to 12 letters, not
    a command (HELP, WHO, CASES, DONE), not another code's word. Returns the word before."""
    existing = store.get(code.strip())
    if existing is None:
        raise ShortCodeError([f"no short code {code.strip()[:20]!r}"])
    wanted = word.strip().upper()
    if wanted in ("", "-"):
        before = store.word_of(existing.code)
        store.set_word(existing.code, None, actor)
        return before
    reasons = []
    if not WORD.match(wanted):
        reasons.append(f"word {word.strip()[:20]!r} must be 2 to 12 letters (A to Z)")
    if wanted in COMMAND_WORDS:
        reasons.append(f"{wanted} is a command members text; choose another word")
    owner = store.words().get(wanted)
    if owner is not None and owner != existing.code:
        reasons.append(f"{wanted} is already the word of short code {owner}")
    if reasons:
        raise ShortCodeError(reasons)
    before = store.word_of(existing.code)
    store.set_word(existing.code, wanted, actor)
    return before
