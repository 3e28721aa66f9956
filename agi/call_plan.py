"""The answer for one call as the dialplan reads it: one channel variable, CUG_ROUTE.

One variable set in one AGI command keeps the routing to two round trips per call (the
caller's name, then the route) and makes the answer all-or-nothing: the dialplan sees a
whole route or none. Fields are separated by `|`, and every value in it is made by the
service (digits, extensions, E.164 numbers, the CDR tags), so nothing a caller typed can
add a field.

    dial|<cdr tags>|<caller extension>:<case>:<urgent>|<secs>|<dial now>|<step>|<step>...
    refuse|<reason>|<cdr tags>
    prompt

`<dial now>` is the Dial() string of the first step's registered SIP phones, looked up when
the call was routed (`<secs>` their ring time), so the usual call (rung once, answered)
runs a handful of dialplan priorities; it is empty when the first step needs the walk
(a key to press, a mobile, nobody registered).

A step is `<ring seconds>:<confirm>:<leg>&<leg>...`, and a leg is `<extension>-<number>`:
the member's extension (0 for an outside number) and the number to ring over the trunk when
their SIP phone is not reachable (empty without a trunk). `confirm` is 1 when whoever
answers must press a key before the caller is put through (every step after the callee's
own, and every mobile). The dialplan (cug-connect) walks the steps itself, so a call keeps
its chain when an admin edits it, and finishes when the service dies mid-chain.
"""

from __future__ import annotations

import logging
import re

from routing.escalation import Step

log = logging.getLogger(__name__)

# res_agi reads a command into a 2,048-byte buffer; stay well inside it.
MAX_ROUTE = 1500
MAX_DIAL_NOW = 600  # more registered phones than that: the dialplan's walk rings them
_EXTENSION = re.compile(r"^[1-9][0-9]{3,5}$")
_NUMBER = re.compile(r"^\+?[0-9]{2,15}$")


def _leg(extension: str, number: str) -> str | None:
    ext = extension if _EXTENSION.match(extension or "") else "0"
    num = number if number and _NUMBER.match(number) else ""
    if ext == "0" and not num:
        return None
    return f"{ext}-{num}"


def encode_step(step: Step) -> str:
    legs: list[str] = []
    if step.outside_number:
        leg = _leg("", step.outside_number)
        if leg:
            legs.append(leg)
    for target in step.targets:
        leg = _leg(target.endpoint, (target.mobile or "") if step.mobiles else "")
        if leg:
            legs.append(leg)
    seconds = max(1, min(int(step.ring_seconds), 600))
    return f"{seconds}:{1 if step.confirm else 0}:{'&'.join(legs)}"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_:;=+*#.\-]", "", text)


# What a Dial() string of registered contacts may hold: PJSIP/<endpoint>/<sip URI> joined by
# &. A contact URI is what a member's phone registered: anything else (a comma would end
# Dial()'s first argument, a | a route field) and the dialplan's own walk rings it instead.
_DIAL_NOW = re.compile(r"^PJSIP/[0-9]+/sips?:[A-Za-z0-9_.!~*'+\-@:;=?%\[\]]+$")


def dial_now(contacts: list[str]) -> str:
    """The Dial() string for contacts PJSIP_DIAL_CONTACTS gave, or "" if any looks odd."""
    parts = [p for c in contacts for p in c.split("&") if p]
    if not parts or not all(_DIAL_NOW.match(p) for p in parts):
        return ""
    joined = "&".join(parts)
    return joined if len(joined) <= MAX_DIAL_NOW else ""


def dial_route(
    tags: str,
    caller_extension: str,
    case_id: int | None,
    urgent: bool,
    steps: list[Step],
    now: str = "",
) -> str:
    """The route for a call to connect; steps that would not fit are left off (logged).
    `now`: the first step's registered phones as a Dial() string (see dial_now), or ""."""
    ext = caller_extension if _EXTENSION.match(caller_extension or "") else "0"
    first = max(1, min(int(steps[0].ring_seconds), 600)) if steps and now else ""
    route = (
        f"dial|{_safe(tags)}|{ext}:{case_id or 0}:{1 if urgent else 0}|{first}|"
        f"{now if first else ''}"
    )
    for n, step in enumerate(steps):
        part = encode_step(step)
        if len(route) + 1 + len(part) > MAX_ROUTE:
            log.warning("route too long: steps %d-%d left off", n + 1, len(steps))
            break
        route += "|" + part
    return route


def refuse_route(reason: str, tags: str) -> str:
    return f"refuse|{_safe(reason)}|{_safe(tags)}"


PROMPT_ROUTE = "prompt"
