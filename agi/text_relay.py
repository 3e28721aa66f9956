"""FastAGI handler for members' texts: a SIP MESSAGE Asterisk received (context cug-messages).

The dialplan hands over, base64-encoded so no header or body byte can reach the AGI
protocol: who sent it (the From URI: its user is the endpoint that passed digest auth, as
PJSIP identifies members by user name), what they addressed (the To user), the body's
Content-Length and the body. The decision is routing's (routing/texts.py); the text is
stored with a delivery per recipient before this handler returns, then the delivery worker
(agi/text_delivery.py) hands it to the recipients' phones. Whatever is refused, the sender
gets a text saying why.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta

from agi import variables as v
from agi.fastagi import AgiCall
from agi.text_delivery import TextDelivery
from directory.case_links import CaseLookup
from directory.lookup import Directory
from directory.model import Member
from directory.texts import TEXT, TextStore
from routing.calls import Policy
from routing.case_link import KeyedCase, link_call
from routing.text_replies import cases_text, help_text, local_date, refusal_text, who_text
from routing.texts import (
    MAX_SIP_BODY_BYTES,
    CommandKind,
    TextPolicy,
    TextRefusal,
    check_body,
    may_text_team,
    parse_command,
    recipients,
    split_case_tag,
)

log = logging.getLogger(__name__)

# The sender is the user of the From URI (PJSIP identified them by it, and their digest
# credentials matched): the URI at the end of the header, never a display name before it,
# which the phone chooses ("sip:2001@x" <sip:2002@host> is member 2002).
_FROM_USER = re.compile(r'(?:^|<)sips?:([0-9]{3,8})@[^<>"\s]*>?$')
_ADDRESSED = re.compile(r"^[0-9+*#]{1,32}$")
OPEN_CASES_SHOWN = 5


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


class TextRoutes:
    """The route `member-text` of the FastAGI server."""

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
        self.delivery = delivery
        self._recent: dict[int, deque[float]] = defaultdict(deque)  # per sender, last minute
        self._told_too_many: dict[int, float] = {}

    def _expiry(self) -> datetime:
        return datetime.now(UTC) + timedelta(hours=self.texts.expiry_hours)

    async def member_text(self, call: AgiCall) -> None:
        """Args: 1 From URI (base64), 2 the To user, 3 Content-Length, 4 the body (base64)."""
        started = time.perf_counter()
        sender_uri = (_b64(call.arg(1)) or b"").decode("utf-8", "replace")
        match = _FROM_USER.search(sender_uri.strip())
        sender = self.directory.member_by_extension(match.group(1)) if match else None
        addressed = call.arg(2)
        if sender is None or not sender.active:
            # Not a member (PJSIP let no stranger in, so a member deactivated meanwhile):
            # nobody to tell, nothing stored.
            log.warning("text from %r refused: not an active member", sender_uri[:40])
            await call.set_variable(v.TEXT_RESULT, "refused")
            return
        if self._flooding(sender.id):
            result = self._too_many(sender, addressed)
        else:
            result = self._decide(sender, addressed, call.arg(3), call.arg(4))
        # Stored (or the sender's answer is): the dialplan's fallback notice is not needed.
        await call.set_variable(v.TEXT_RESULT, result.split(" ", 1)[0])
        log.info(
            "text from %s to %r: %s (%.1f ms)",
            sender.extension,
            addressed[:32],
            result,
            (time.perf_counter() - started) * 1000,
        )

    def _decide(self, sender: Member, addressed: str, length: str, encoded: str) -> str:
        raw = _b64(encoded)
        declared = int(length) if length.isdigit() else 0
        if raw is None:
            body: str | TextRefusal = TextRefusal.NOT_TEXT
        elif declared > MAX_SIP_BODY_BYTES or (declared > 0 and not raw):
            body = TextRefusal.TOO_LONG  # Asterisk dropped a body too big for it
        else:
            body = check_body(raw)
        if not _ADDRESSED.match(addressed):
            return self._refuse(sender, TextRefusal.NOT_A_MEMBER, addressed)
        if isinstance(body, TextRefusal):
            return self._refuse(sender, body, addressed)
        if addressed == self.texts.service_number:
            return self._command(sender, body)
        decision = recipients(self.directory, sender, addressed, self.policy)
        if decision.refusal is not None:
            return self._refuse(sender, decision.refusal, addressed)
        targets = [t for t in decision.recipients if t.member_id != sender.id]
        if not targets:
            return self._refuse(sender, TextRefusal.NOT_A_MEMBER, addressed)
        if not may_text_team(sender, len(targets), self.texts):
            return self._refuse(sender, TextRefusal.TEAM_TOO_BIG, addressed)
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
            expires_at=self._expiry(),
            case_id=link.case_id,
            link=link.source,
            team=decision.team,
        )
        for target in targets:
            self.delivery.wake(target.member_id)
        case = f", case {link.case_id}" if link.case_id else ""
        return f"text {text_id} to {len(targets)} member(s){case}"

    def _flooding(self, sender_id: int) -> bool:
        """Every text a member sends counts (refused ones and commands too): over
        `per_minute` in the last minute, they are not handled."""
        now = time.monotonic()
        recent = self._recent[sender_id]
        while recent and now - recent[0] > 60:
            recent.popleft()
        recent.append(now)
        return len(recent) > self.texts.per_minute

    def _too_many(self, sender: Member, addressed: str) -> str:
        """Tell the sender once a minute, not once per text: the answers must not flood."""
        now = time.monotonic()
        if now - self._told_too_many.get(sender.id, -3600.0) < 60:
            return "dropped: too_many"
        self._told_too_many[sender.id] = now
        return self._refuse(sender, TextRefusal.TOO_MANY, addressed)

    def _refuse(self, sender: Member, refusal: TextRefusal, addressed: str) -> str:
        self.delivery.notify(sender.id, refusal_text(refusal, addressed, self.texts))
        return f"refused: {refusal.value}"

    def _command(self, sender: Member, body: str) -> str:
        command = parse_command(body)
        if command is None or command.kind is CommandKind.HELP:
            answer = help_text(self.texts)
        elif command.kind is CommandKind.WHO:
            answer = who_text(command.argument, self._who(command.argument))
        else:
            answer = self._cases(sender.id)
        self.delivery.notify(sender.id, answer)
        return f"command {command.kind.value if command else 'unknown'}"

    def _who(self, extension: str) -> tuple[str, str, str] | None:
        row = self.directory.db.execute(
            "SELECT m.name, coalesce(r.title, m.role), m.district FROM members m "
            "LEFT JOIN roles r ON r.code = m.role WHERE m.extension = ? AND m.active = 1",
            (extension,),
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def _cases(self, member_id: int) -> str:
        rows = self.directory.db.execute(
            "SELECT id, category, coalesce(follow_up_due, '') FROM cases "
            "WHERE assigned_member_id = ? AND status != 'closed' "
            "ORDER BY coalesce(follow_up_due, '9999'), id",
            (member_id,),
        ).fetchall()
        shown = [
            (r[0], r[1], local_date(r[2], self.texts.timezone)) for r in rows[:OPEN_CASES_SHOWN]
        ]
        return cases_text(shown, len(rows))
