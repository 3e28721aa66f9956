"""Members' texts, whatever they came by: decided, stored, answered.

Two doors lead here: a SIP MESSAGE from a member's phone (agi/text_relay.py, FastAGI) and an
SMS from a member's mobile through the SMS gateway (web/sms_inbound.py). Each door only
unpacks what its transport hands over (who sent it, to what, the body); from there a text is
the same: routing decides (routing/texts.py, routing/sms_requests.py), the text is stored
with a delivery per recipient before anything is answered (directory/texts.py), and the
delivery worker (agi/text_delivery.py) takes it to the recipients. The sender's answers go
back the way the text came: to a SIP sender's phone, to an SMS sender's mobile by SMS.

Each method returns a short outcome for the log ("text 12 to 1 member(s)", "refused:
not_a_member", "command who"); bodies are never logged.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from enum import Enum

from agi.text_delivery import TextDelivery
from directory.case_links import CaseLookup
from directory.case_values import CaseError
from directory.lookup import Directory
from directory.model import Member
from directory.numbers import try_normalise
from directory.referrals import move_referral
from directory.short_codes import ShortCodeStore
from directory.text_lookups import TextLookups
from directory.texts import TEXT, TextStore
from directory.transactions import writing
from routing.calls import Policy
from routing.case_link import KeyedCase, link_call
from routing.flood import FloodWindow
from routing.sms_requests import SmsRequest, parse_sms
from routing.text_replies import (
    cases_text,
    help_text,
    local_date,
    logged_text,
    no_case_text,
    refusal_text,
    sms_problem_text,
    usage_text,
    who_text,
)
from routing.texts import (
    Command,
    CommandKind,
    TextPolicy,
    TextRefusal,
    check_body,
    may_text_team,
    recipients,
    split_case_tag,
)

log = logging.getLogger(__name__)


def masked(number: str) -> str:
    """A phone number for the log: enough to recognise, not to dial."""
    shown = "".join(ch for ch in number[:32] if ch.isalnum() or ch == "+")
    return shown[:-4] + "****" if len(shown) > 6 else "****"


OPEN_CASES_SHOWN = 5


class Channel(Enum):
    SIP = "sip"  # from the member's SIP phone; answers go to it
    SMS = "sms"  # from the member's mobile through the SMS gateway; answers go by SMS


class TextIntake:
    def __init__(
        self,
        directory: Directory,
        policy: Policy,
        texts: TextPolicy,
        delivery: TextDelivery,
    ) -> None:
        self.directory = directory
        self.policy = policy
        self.texts = texts
        self.store = TextStore(directory.db)
        self.cases = CaseLookup(directory.db)
        self.lookups = TextLookups(directory.db)
        self.short_codes = ShortCodeStore(directory.db)
        self.delivery = delivery
        self.flood = FloodWindow(texts.per_minute)

    # ------------------------------------------------------------------ the doors' common steps
    def flooding(self, sender: Member) -> bool:
        """Every text a member sends counts, by SIP or SMS (refused ones and commands too):
        over `per_minute` in the last minute, they are not handled."""
        return self.flood.over(sender.id, time.monotonic())

    def too_many(self, sender: Member, addressed: str, channel: Channel) -> str:
        """Tell the sender once a minute, not once per text: the answers must not flood."""
        if not self.flood.tell(sender.id, time.monotonic()):
            return "dropped: too_many"
        return self.refuse(sender, TextRefusal.TOO_MANY, addressed, channel)

    def refuse(self, sender: Member, refusal: TextRefusal, addressed: str, channel: Channel) -> str:
        self.answer(sender, refusal_text(refusal, addressed, self.texts), channel)
        return f"refused: {refusal.value}"

    def answer(self, sender: Member, text: str, channel: Channel) -> None:
        self.delivery.notify(sender.id, text, by_sms=channel is Channel.SMS)

    # ------------------------------------------------------------------ texts to members
    def relay(self, sender: Member, addressed: str, body: str, channel: Channel) -> str:
        """A checked body to `addressed` (an extension, a number, a short code): stored with
        a delivery per recipient, or refused with the sender told why."""
        decision = recipients(self.directory, sender, addressed, self.policy)
        if decision.refusal is not None:
            return self.refuse(sender, decision.refusal, addressed, channel)
        targets = [t for t in decision.recipients if t.member_id != sender.id]
        if not targets:
            return self.refuse(sender, TextRefusal.NOT_A_MEMBER, addressed, channel)
        if not may_text_team(sender, len(targets), self.texts):
            return self.refuse(sender, TextRefusal.TEAM_TOO_BIG, addressed, channel)
        tagged, _ = split_case_tag(body)
        one = targets[0].member_id if len(targets) == 1 else None
        keyed = KeyedCase(str(tagged)) if tagged is not None else None
        link = link_call(self.cases, keyed, sender.id, one)
        text_id, _ = self.store.store(
            kind=TEXT,
            sender_id=sender.id,
            addressed=addressed,
            body=body,
            recipients=[t.member_id for t in targets],
            expires_at=datetime.now(UTC) + timedelta(hours=self.texts.expiry_hours),
            case_id=link.case_id,
            link=link.source,
            team=decision.team,
        )
        for target in targets:
            self.delivery.wake(target.member_id)
        case = f", case {link.case_id}" if link.case_id else ""
        return f"text {text_id} to {len(targets)} member(s){case}"

    def note(self, sender: Member, case_id: int, body: str, channel: Channel) -> str:
        """`#<case> <text>` for nobody in particular: filed on the case."""
        status = self.cases.case_status(case_id)
        if status is None:
            self.answer(sender, no_case_text(case_id), channel)
            return f"refused: unknown_case:{case_id}"
        after_close = status == "closed"
        text_id = self.store.log_on_case(sender.id, case_id, body, after_close)
        self.answer(sender, logged_text(case_id, after_close), channel)
        return f"note {text_id} on case {case_id}"

    # ------------------------------------------------------------------ commands
    def command(self, sender: Member, command: Command | None, channel: Channel) -> str:
        """HELP, WHO <extension>, CASES, DONE <case>: answered by text; anything else to the
        service number gets the help."""
        if command is None or command.kind is CommandKind.HELP:
            answer = help_text(self.texts, self._words(channel))
        elif command.incomplete:
            answer = usage_text(command.kind)
        elif command.kind is CommandKind.WHO:
            answer = who_text(command.argument, self.lookups.who(command.argument))
        elif command.kind is CommandKind.DONE:
            answer = self._done(sender, int(command.argument))
        else:
            answer = self._cases(sender.id)
        self.answer(sender, answer, channel)
        return f"command {command.kind.value if command else 'unknown'}"

    def _words(self, channel: Channel) -> dict[str, str] | None:
        return self.short_codes.words() if channel is Channel.SMS else None

    def _cases(self, member_id: int) -> str:
        found = self.lookups.open_cases(member_id)
        shown = [
            (c.id, c.category, local_date(c.follow_up_due, self.texts.timezone))
            for c in found[:OPEN_CASES_SHOWN]
        ]
        return cases_text(shown, len(found))

    def _done(self, sender: Member, case_id: int) -> str:
        """The sender's referral on the case is completed (accepted first if it was only
        made: doing the work accepted it). Signed `text:<extension>` in its history."""
        if self.cases.case_status(case_id) is None:
            return f"No case #{case_id}. Text CASES for your open cases."
        referrals = self.lookups.referrals_to(sender.id, case_id)
        waiting = [r for r in referrals if r.status in ("made", "accepted")]
        if not waiting:
            if any(r.status == "completed" for r in referrals):
                return f"Your referral on case #{case_id} is already completed."
            return (
                f"You have no open referral on case #{case_id}. Ask whoever referred it "
                "to you, or your supervisor (100)."
            )
        referral = waiting[0]
        actor = f"text:{sender.extension}"
        try:
            with writing(self.directory.db):
                if referral.status == "made":
                    move_referral(self.directory.db, referral.id, "accepted", actor)
                move_referral(self.directory.db, referral.id, "completed", actor)
        except CaseError as exc:
            return f"Not marked done: {exc.reasons[0]}"[:300]
        return f"Done: your referral on case #{case_id} ({referral.service}) is completed."

    # ------------------------------------------------------------------ texts by SMS
    def sms_from(self, number: str, raw: str | TextRefusal) -> str:
        """A text the SMS gateway took from the mobile `number` (any format; the gateway's
        own, often without the +). Admitted by the number of an active member; anyone else
        is refused without an answer: an SMS back would cost money for every stranger's
        text, could be aimed at any number by faking the sender, and would tell a stranger
        that the number belongs to something."""
        e164 = try_normalise(number)
        sender = self.directory.member_by_phone(e164) if e164 else None
        if sender is None or not sender.active:
            if self.flood.tell(("stranger", e164 or number[:32]), time.monotonic()):
                log.warning("text by SMS from %s refused: not an active member", masked(number))
            return "refused: not_a_member"
        return self.sms_text(sender, raw)

    def sms_text(self, sender: Member, raw: str | TextRefusal) -> str:
        """A text from a member's mobile (the SMS gateway took it; `raw` is its text, or why
        it could not be read)."""
        if self.flooding(sender):
            return self.too_many(sender, "", Channel.SMS)
        body = raw if isinstance(raw, TextRefusal) else check_body(raw)
        if isinstance(body, TextRefusal):
            return self.refuse(sender, body, "", Channel.SMS)
        request = parse_sms(body, self.short_codes.words())
        return self._sms_request(sender, request)

    def _sms_request(self, sender: Member, request: SmsRequest) -> str:
        if request.command is not None:
            return self.command(sender, request.command, Channel.SMS)
        if request.problem is not None:
            self.answer(sender, sms_problem_text(request.problem, request.addressed), Channel.SMS)
            return f"refused: {request.problem.value}"
        if request.case is not None:
            return self.note(sender, request.case, request.body, Channel.SMS)
        return self.relay(sender, request.addressed, request.body, Channel.SMS)
