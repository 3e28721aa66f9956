"""What the system texts back: refusals, "queued", delivery and failure notices, and the
answers to the commands a worker on a basic phone can text (HELP, WHO, CASES, DONE).

Short, plain English a basic handset shows in one or two screens; every answer says what to
do next, so nobody is left at a dead end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from routing.sms_requests import SmsProblem
from routing.texts import MAX_BODY, MAX_SIP_BODY_BYTES, CommandKind, TextPolicy, TextRefusal

_REFUSALS = {
    TextRefusal.EMPTY: "Your text was empty, so it was not sent.",
    TextRefusal.TOO_LONG: (
        f"Your text was too long and was not sent: at most {MAX_BODY} letters, and at most "
        f"{MAX_SIP_BODY_BYTES} bytes from a SIP phone (about half as many letters in a "
        "language with accents). Send it in parts."
    ),
    TextRefusal.NOT_TEXT: "Your text could not be read (not plain text), so it was not sent.",
    TextRefusal.NOT_A_MEMBER: (
        "Not sent: {addressed} is not a member of the CUG. Texts go to members' extensions, "
        "their phone numbers or short codes. Text HELP to {service} for the codes."
    ),
    TextRefusal.OUTSIDE_NUMBER: (
        "Not sent: texts go to CUG members only, not to {addressed}. Call 116 for the "
        "National Child Helpline."
    ),
    TextRefusal.SENDER_NOT_ALLOWED: "Not sent: your phone is not an active member of the CUG.",
    TextRefusal.NOBODY: (
        "Not sent: nobody answers to {addressed} for you (no supervisor, or nobody in that "
        "role in your district). Call 116 if a child is in danger."
    ),
    TextRefusal.NO_LONGER_A_MEMBER: "Not sent: {addressed} is no longer a member of the CUG.",
    TextRefusal.SELF: "Not sent: that is your own number.",
    TextRefusal.TEAM_TOO_BIG: (
        "Not sent: {addressed} reaches more than {team_limit} members; only supervisors, "
        "probation and DAC officers text a team that large. Ask your supervisor (100)."
    ),
    TextRefusal.TOO_MANY: (
        "Not sent: you sent more than {per_minute} texts in a minute. Wait a minute and send "
        "it again."
    ),
}


def refusal_text(refusal: TextRefusal, addressed: str, policy: TextPolicy) -> str:
    return _REFUSALS[refusal].format(
        addressed=addressed[:20] or "(nobody)",
        service=policy.service_number,
        per_minute=policy.per_minute,
        team_limit=policy.team_limit,
    )


def queued_text(names: Sequence[str], expiry_hours: int) -> str:
    who = _names(names)
    return (
        f"{who} cannot be reached now. Your text is kept and delivered when their phone is "
        f"back, for up to {expiry_hours} hours; you get a notice either way."
    )


def _names(names: Sequence[str], most: int = 3) -> str:
    shown = list(names[:most])
    more = len(names) - len(shown)
    text = ", ".join(shown)
    return text + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class Outcome:
    """How one delivery of a text ended, for the sender's notice."""

    name: str
    delivered: bool


def local_time(stamp: str, zone: str) -> str:
    """HH:MM of an ISO time in the install's time zone (the members' clock)."""
    try:
        at = datetime.fromisoformat(stamp).astimezone(ZoneInfo(zone))
    except (ValueError, ZoneInfoNotFoundError):
        return stamp[11:16]
    return at.strftime("%H:%M")


def local_date(stamp: str, zone: str) -> str:
    """YYYY-MM-DD of an ISO time in the install's time zone; "" for none."""
    if not stamp:
        return ""
    try:
        return datetime.fromisoformat(stamp).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d")
    except (ValueError, ZoneInfoNotFoundError):
        return stamp[:10]


def outcome_text(
    team: str, sent_at: str, body: str, outcomes: Iterable[Outcome], zone: str = "UTC"
) -> str:
    """One notice for a text whose deliveries all ended, naming it by time and first words."""
    results = list(outcomes)
    done = [o.name for o in results if o.delivered]
    missed = [o.name for o in results if not o.delivered]
    words = " ".join((body or "").split())
    what = (
        f'Your text of {local_time(sent_at, zone)} "{words[:24]}{"..." if len(words) > 24 else ""}"'
    )
    if team:
        head = f"{what} to {team}: delivered to {len(done)} of {len(results)}"
        return head + (f"; not to {_names(missed)}." if missed else ".")
    if missed:
        return (
            f"{what} could NOT be delivered to {_names(missed)} in time. Call them, or call "
            "100 for your supervisor."
        )
    return f"{what} was delivered to {_names(done)}."


def help_text(policy: TextPolicy, words: Mapping[str, str] | None = None) -> str:
    """How to text; with `words` (word -> short code), the form for texts by SMS."""
    if words is None:
        return (
            "CUG texts: send to an extension, a member's phone number or a short code (100 "
            "supervisor, 101 police, 102 health, 103 probation, 104 DAC). Start with #<case> "
            f"to file it on a case. To {policy.service_number}: WHO <extension>, CASES, "
            "DONE <case>, HELP."
        )
    named = ", ".join(f"{word} ({code})" for word, code in sorted(words.items(), key=_by_code))
    return (
        "CUG texts: start with whom it is for, then your text: an extension (3003), a "
        f"member's number, or a word: {named}. #<case> <text> files a note on a case. "
        "Commands: WHO <extension>, CASES, DONE <case>, HELP."
    )


def _by_code(item: tuple[str, str]) -> tuple[str, str]:
    return item[1], item[0]


def usage_text(kind: CommandKind) -> str:
    """The answer to a command word without what it needs."""
    if kind is CommandKind.WHO:
        return "WHO needs an extension, e.g. WHO 3003."
    return "DONE needs a case number, e.g. DONE 12, when your referral on it is completed."


def sms_problem_text(problem: SmsProblem, addressed: str) -> str:
    if problem is SmsProblem.NO_TEXT:
        return (
            f"Not sent: there was no message after {addressed[:20]}. Write it after, e.g. "
            f"{addressed[:20]} visited the home today."
        )
    return (
        "Not sent: start your text with whom it is for (an extension such as 3003, a "
        "number, or SUP for your supervisor), then your message. Text HELP for more."
    )


def logged_text(case_id: int, after_close: bool) -> str:
    closed = " (the case is closed; an admin will see it)" if after_close else ""
    return f"Filed on case #{case_id}{closed}."


def no_case_text(case_id: int) -> str:
    return f"Not filed: there is no case #{case_id}. Text CASES for your open cases."


def cap_member_text(kind: str, cap: int) -> str:
    what = "SMS" if kind == "sms" else "callbacks"
    rest = (
        "Further texts to your mobile wait until tomorrow; your CUG phone still gets them."
        if kind == "sms"
        else "Further callbacks wait until tomorrow."
    )
    return f"CUG: you reached today's limit of {cap} {what}. {rest} Your supervisor knows."


def cap_supervisor_text(member: str, kind: str, cap: int) -> str:
    what = "SMS parts" if kind == "sms" else "callbacks"
    return (
        f"CUG: {member} reached today's limit of {cap} {what}; more wait until tomorrow. "
        "Call them if something is urgent."
    )


def who_text(extension: str, found: tuple[str, str, str] | None) -> str:
    """`found`: (name, role title, district) of the active member, or None."""
    if found is None:
        return f"No active member has extension {extension[:8]}."
    name, role, district = found
    return f"{extension}: {name}, {role}, {district}."


def cases_text(cases: Sequence[tuple[int, str, str]], total: int) -> str:
    """`cases`: (id, category, next follow-up date or "") of the member's open cases."""
    if not cases:
        return "You have no open cases."
    parts = [f"#{cid} {kind}" + (f" (follow up {due})" if due else "") for cid, kind, due in cases]
    more = f" and {total - len(cases)} more" if total > len(cases) else ""
    return f"Your open cases ({total}): " + "; ".join(parts) + more + "."
