"""Who a case conference calls in, and who may start one: pure decisions over plain values.

A case conference calls the people the case involves: the assigned worker, their
supervisor (who leads it), and the district's contacts its category calls for (police for
sexual abuse, health for HIV-related care...): for each role, the first active member of
that role in the case's district. Whoever started it from their phone is already on the
line and is not called. A closed or unknown case, a starter who may not lead, and a case
with nobody to call are refused with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from directory.case_model import Case
from directory.model import Member

# The district contacts each case category calls in, besides the worker and supervisor.
CATEGORY_ROLES: dict[str, tuple[str, ...]] = {
    "sexual_abuse": ("police", "health", "probation"),
    "physical_violence": ("police", "probation"),
    "neglect": ("probation",),
    "child_labour": ("probation", "dac"),
    "child_marriage": ("police", "probation"),
    "hiv": ("health",),
    "malnutrition": ("health",),
    "other": ("probation",),
}
# Who may start a case conference from their phone, and leads it.
LEAD_ROLES = frozenset({"supervisor", "probation", "dac"})


class ConferenceRefusal(Enum):
    NO_CASE = "conference_no_case"  # the code was dialed without *<case>*
    UNKNOWN_CASE = "unknown_case"
    CLOSED_CASE = "closed_case"
    NOT_A_LEADER = "conference_not_a_leader"
    NO_LEADER = "conference_no_leader"  # started by an admin: nobody to lead it
    NOBODY_TO_CALL = "conference_nobody_to_call"
    OTHER_DISTRICT = "conference_other_district"  # a phone start on another district's case


@dataclass(frozen=True)
class ConferencePlan:
    leader: Member | None = None
    callees: tuple[Member, ...] = ()
    refusal: ConferenceRefusal | None = None
    roles: tuple[str, ...] = field(default=())
    supervisor: Member | None = None  # the worker's supervisor: leads beside whoever started


def refused(reason: ConferenceRefusal) -> ConferencePlan:
    return ConferencePlan(refusal=reason)


def plan_conference(
    case: Case | None,
    starter: Member | None,
    member: Callable[[int], Member | None],
    first_with_role: Callable[[str, str], Member | None],
    lead: Member | None = None,
) -> ConferencePlan:
    """Whom the conference on `case` calls. `starter`: the member who dialed it (leads it and
    is not called), or None when an admin started it: then `lead` (called first; held to the
    roles and district a starter is held to), else the worker's supervisor leads it.
    `member(id)` and `first_with_role(district, role)` read the directory."""
    if case is None:
        return refused(ConferenceRefusal.UNKNOWN_CASE)
    if case.closed:
        return refused(ConferenceRefusal.CLOSED_CASE)
    if starter is not None and starter.role not in LEAD_ROLES:
        return refused(ConferenceRefusal.NOT_A_LEADER)
    worker = member(case.assigned_member_id) if case.assigned_member_id else None
    supervisor = member(worker.supervisor_id) if worker and worker.supervisor_id else None
    if (
        starter is not None
        and starter.district != case.district
        and (supervisor is None or starter.id != supervisor.id)
    ):
        # From a phone, only the case's district (or the worker's own supervisor): anyone
        # else would call its people and hear the case.
        return refused(ConferenceRefusal.OTHER_DISTRICT)
    if starter is None and lead is not None:
        # An admin's choice of leader (CLI, API) is held to what a phone start is: a
        # supervisor, probation or DAC officer of the case's district (or the worker's own
        # supervisor); anyone else would lead it and hear the case.
        if lead.role not in LEAD_ROLES:
            return refused(ConferenceRefusal.NOT_A_LEADER)
        if lead.district != case.district and (supervisor is None or lead.id != supervisor.id):
            return refused(ConferenceRefusal.OTHER_DISTRICT)
    leader = starter or lead or supervisor
    if leader is None or not leader.active:
        return refused(ConferenceRefusal.NO_LEADER)
    roles = CATEGORY_ROLES.get(case.category, CATEGORY_ROLES["other"])
    wanted: list[Member | None] = [leader, worker, supervisor]
    wanted += [first_with_role(case.district, role) for role in roles]
    callees: list[Member] = []
    for person in wanted:
        if person is None or not person.active or person.id == getattr(starter, "id", None):
            continue
        if all(c.id != person.id for c in callees):
            callees.append(person)
    if not callees:
        return refused(ConferenceRefusal.NOBODY_TO_CALL)
    return ConferencePlan(leader=leader, callees=tuple(callees), roles=roles, supervisor=supervisor)
