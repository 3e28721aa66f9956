"""Attaching a logged contact (call, text, conference) to a case by hand, afterwards."""

from __future__ import annotations

import logging
from typing import Any

import sqlite_utils

from directory import audit
from directory.case_model import Case, rows
from directory.case_values import CaseError
from directory.cases import get_case, record_event
from directory.transactions import writing

log = logging.getLogger(__name__)


def get_contact(db: sqlite_utils.Database, contact_id: int) -> dict[str, Any]:
    """The contact's stored columns (not the report's derived placed_jd)."""
    columns = ", ".join(db["contacts"].columns_dict)  # PRAGMA table_info: no generated ones
    found = rows(db.execute(f"SELECT {columns} FROM contacts WHERE id = ?", (contact_id,)))
    if not found:
        raise CaseError([f"no contact {contact_id} in the contact log"])
    return found[0]


def link_contact(
    db: sqlite_utils.Database,
    contact_id: int,
    case_ident: int | str,
    actor: str,
    force: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Link contact `contact_id` to the case (link='manual'); returns the contact and whether
    anything changed.

    A contact already linked to another case is refused unless `force` (it then moves, and
    both cases' histories say so). Linking to a closed case marks the contact `after_close`.
    """
    if not actor or not actor.strip():
        raise CaseError(["who is acting (actor) is missing"])
    contact = get_contact(db, contact_id)
    case: Case = get_case(db, case_ident)
    old_case_id = contact["case_id"]
    if old_case_id == case.id:
        return contact, False
    if old_case_id is not None and not force:
        old = get_case(db, old_case_id)
        raise CaseError(
            [
                f"contact {contact_id} is linked to case {old.id} ({old.reference}): "
                "give --force to move it"
            ]
        )
    after = {
        "case_id": case.id,
        "link": "manual",
        "link_note": f"moved from case {old_case_id}" if old_case_id is not None else "",
        "after_close": int(case.closed),
    }
    before = {k: contact[k] for k in after}
    detail = {
        "contact": contact_id,
        "kind": contact["kind"],
        "placed_at": contact["placed_at"],
        "after_close": bool(case.closed),
    }
    with writing(db):
        db["contacts"].update(contact_id, after)
        if old_case_id is not None:
            record_event(db, old_case_id, actor, "contact.unlink", {**detail, "to_case": case.id})
            detail["from_case"] = old_case_id
        record_event(db, case.id, actor, "contact.link", detail)
        audit.record(db, actor, "contact.link", f"contact:{contact_id}", before, after)
    log.debug("contact %s linked to case %s by %s", contact_id, case.id, actor)
    return get_contact(db, contact_id), True
