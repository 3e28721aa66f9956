"""The answer for one call as the dialplan reads it: one channel variable, CUG_ROUTE.

The whole answer in one variable set by one AGI command keeps the routing to one round
trip per call and makes it all-or-nothing: the dialplan sees a whole route or none. Fields
are separated by `|`, and every value in it is made by the service (digits, extensions,
E.164 numbers, the CDR tags, base64), so nothing a caller or an admin typed can add a field.

    dial|<cdr tags>|<caller extension>:<case>:<urgent>:<caller name>|<secs>|<first>|<step>...
    refuse|<reason>|<cdr tags>
    prompt

`<caller name>` is the caller's name from the directory, base64 (UTF-8), for the callee's
display; the dialplan decodes it into CALLERID(name).
`<first>` is the extension of the one member the first step rings when the dialplan may
ring their registered phones straight away, for `<secs>` seconds (no key to press, no
outside number), so the usual call (rung once, answered) runs a handful of dialplan
priorities; it is empty when the first step needs the walk (a team, a key, an outside
number). When that member has no phone registered the walk rings their mobile.

A step is `<ring seconds>:<confirm>:<leg>&<leg>...`, and a leg is `<extension>-<number>`:
the member's extension (0 for an outside number) and the number to ring over the trunk when
their SIP phone is not reachable (empty without a trunk). `confirm` is 1 when whoever
answers must press a key before the caller is put through (every step after the callee's
own, and every mobile). The dialplan (cug-connect) walks the steps itself, so a call keeps
its chain when an admin edits it, and finishes when the service dies mid-chain.
"""

from __future__ import annotations

import base64
import logging
import re

from routing.escalation import Step

log = logging.getLogger(__name__)

# res_agi reads a command into a 2,048-byte buffer; stay well inside it.
MAX_ROUTE = 1500
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


MAX_NAME = 60  # characters of the caller's name shown to the callee


def encode_name(name: str) -> str:
    """The caller's name for the route: printable, at most MAX_NAME characters, base64."""
    shown = "".join(ch for ch in name if ch.isprintable()).strip()[:MAX_NAME]
    return base64.b64encode(shown.encode()).decode("ascii")


def first_extension(step: Step) -> str:
    """The member the dialplan may ring straight away for `step`, or "" (see the module)."""
    if step.confirm or step.outside_number or len(step.targets) != 1:
        return ""
    ext = step.targets[0].endpoint or ""
    return ext if _EXTENSION.match(ext) else ""


def dial_route(
    tags: str,
    caller_extension: str,
    caller_name: str,
    case_id: int | None,
    urgent: bool,
    steps: list[Step],
) -> str:
    """The route for a call to connect; steps that would not fit are left off (logged)."""
    ext = caller_extension if _EXTENSION.match(caller_extension or "") else "0"
    first = first_extension(steps[0]) if steps else ""
    secs = max(1, min(int(steps[0].ring_seconds), 600)) if first else ""
    route = (
        f"dial|{_safe(tags)}|{ext}:{case_id or 0}:{1 if urgent else 0}:"
        f"{encode_name(caller_name)}|{secs}|{first}"
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
