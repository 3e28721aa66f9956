"""Whether Asterisk's qualify finds an AOR's registered contacts reachable, read by id over
AMI (`PJSIP_AOR(<aor>,contact)`, then `PJSIP_CONTACT(<id>,status)`): no listing of every
endpoint, which a directory of 100,000 members would make slow (see sorcery.conf)."""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)

_CONTACT_ID = re.compile(r"[^\s,()]{1,200}")


async def aor_status(ami: Any, aor: str) -> str | None:
    """'Reachable' when one of the AOR's registered contacts answers Asterisk's qualify,
    'Unreachable' when they all stopped answering, '' when nothing is known (none
    registered, none qualified yet); None when Asterisk could not be asked."""
    contacts = await _getvar(ami, f"PJSIP_AOR({aor},contact)")
    if contacts is None:
        return None
    statuses = []
    for contact in filter(None, contacts.split(",")):
        if not _CONTACT_ID.fullmatch(contact):
            continue
        status = await _getvar(ami, f"PJSIP_CONTACT({contact},status)")
        if status is None:
            return None
        statuses.append(status)
    if "Reachable" in statuses:
        return "Reachable"
    return "Unreachable" if "Unreachable" in statuses else ""


async def _getvar(ami: Any, expression: str) -> str | None:
    try:
        reply = await ami.action({"Action": "Getvar", "Variable": expression})
    except (ConnectionError, TimeoutError) as exc:
        log.info("cannot read %s: %s", expression, exc or type(exc).__name__)
        return None
    if not getattr(reply, "success", False):
        return ""  # no such AOR or contact (any more)
    return str(reply.get("Value") or "").strip()
