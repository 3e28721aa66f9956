"""Starting a case conference and inviting one more, the same for a supervisor's
`*<case>*<code>`, `cug conference start|invite` and the JSON API: the plan
(routing/case_conference.py) stored as calls the routing service places
(agi/conference_calls.py)."""

from __future__ import annotations

from collections.abc import Callable

from directory.cases import find_case
from directory.conferences import ConferenceStore
from directory.lookup import Directory
from directory.model import Member
from routing.bridges import BRIDGE_PREFIX, CASE_PREFIX
from routing.case_conference import ConferenceRefusal, plan_conference


def _first_with_role(directory: Directory) -> Callable[[str, str], Member | None]:
    def first(district: str, role: str) -> Member | None:
        found = directory.members_with_role(district, role, 1)
        return found[0] if found else None

    return first


def start_case_conference(
    directory: Directory,
    case_ident: int | str,
    starter: Member | None,
    actor: str,
    lead: Member | None = None,
    starter_is_leader: bool | None = None,
) -> tuple[str, list[int], ConferenceRefusal | None]:
    """Start (or join) the conference on a case and request the calls its plan makes:
    (conference name, new call ids, refusal). Called for `*<case>*<code>` and the CLI.
    `starter_is_leader`: whether the starter leads it, when the caller already asked
    (`starter_leads`)."""
    case = find_case(directory.db, case_ident)
    plan = plan_conference(case, starter, directory.member, _first_with_role(directory), lead)
    if plan.refusal is not None or case is None or plan.leader is None:
        return "", [], plan.refusal or ConferenceRefusal.UNKNOWN_CASE
    name = f"{CASE_PREFIX}{case.id}"
    # Whoever leads is called as a leader (marked, the admin keys): the admin's chosen lead,
    # and the worker's supervisor even when an officer started it from their phone.
    leads = {plan.supervisor.id} if plan.supervisor is not None else set()
    if starter is None:
        leads.add(plan.leader.id)
    callees = [(m.id, m.id in leads) for m in plan.callees]
    inviter = starter.id if starter else None
    present = None
    if starter is not None:
        if starter_is_leader is None:
            starter_is_leader = starter_leads(directory, name, starter)
        present = (starter.id, starter_is_leader)
    _, calls, _ = ConferenceStore(directory.db).start(
        name, case.id, actor, plan.leader.id, callees, inviter, present
    )
    return name, calls, None


def starter_leads(directory: Directory, name: str, starter: Member) -> bool:
    """Whether a member dialing the case's conference from their phone joins it as a leader:
    when they start it, or lead it already, or are the leader's equal (a supervisor); an
    officer dialing into a conference someone else leads joins as a member."""
    running = ConferenceStore(directory.db).running(name)
    if running is None or running[1] in (None, starter.id):
        return True
    calls = directory.db.execute(
        "SELECT 1 FROM conference_calls k JOIN conferences c ON c.id = k.conference_id "
        "WHERE c.bridge = ? AND c.ended_at IS NULL AND k.member_id = ? AND k.leader = 1",
        (name, starter.id),
    ).fetchone()
    return calls is not None


def conference_name(case_or_name: str) -> str:
    """A case number (or a conference's own name, cug-case-12 / cug-bridge-3) as the name."""
    text = case_or_name.strip()
    return text if text.startswith("cug-") else f"{CASE_PREFIX}{text}"


def invite_by_admin(
    directory: Directory, conference: str, extension: str, actor: str
) -> tuple[list[int], str]:
    """An admin (CLI, API) calls one more member into the running `conference`: the new
    call's id, or why not (also when they are in it or being called already: no call is
    made; someone who took part and left is called again)."""
    store = ConferenceStore(directory.db)
    running = store.running(conference)
    present = store.present(conference) if conference.startswith(BRIDGE_PREFIX) else set()
    if running is None and present:
        running = (0, None)  # a standing bridge people are in: this invitation records it
    if running is None:
        return [], f"no conference {conference[:40]!r} is running"
    invitee = directory.member_by_extension(extension.strip())
    if invitee is None or not invitee.active:
        return [], f"{extension[:10]!r} is not an active member's extension"
    case_id = None
    if conference.startswith(CASE_PREFIX):
        case_id = int(conference.removeprefix(CASE_PREFIX))
    _, calls, _ = store.start(conference, case_id, actor, running[1], [(invitee.id, False)], None)
    if not calls:
        return [], f"{invitee.extension} is already in {conference} or being called into it"
    return calls, ""
