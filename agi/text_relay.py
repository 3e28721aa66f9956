"""FastAGI handler for members' texts: a SIP MESSAGE Asterisk received (context cug-messages).

The dialplan hands over, base64-encoded so no header or body byte can reach the AGI
protocol: who sent it (the From URI: its user is the endpoint that passed digest auth, as
PJSIP identifies members by user name), what they addressed (the To user), the body's
Content-Length and the body. This handler only unpacks and checks what the SIP side hands
over; deciding, storing and answering are the same for texts by SMS (agi/text_intake.py).
Whatever is refused, the sender gets a text saying why.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time

from agi import variables as v
from agi.fastagi import AgiCall
from agi.text_intake import Channel, TextIntake
from directory.model import Member
from routing.texts import MAX_SIP_BODY_BYTES, TextRefusal, check_body, parse_command

log = logging.getLogger(__name__)

# The sender is the user of the From URI (PJSIP identified them by it, and their digest
# credentials matched): the URI at the end of the header, never a display name before it,
# which the phone chooses ("sip:2001@x" <sip:2002@host> is member 2002).
_FROM_USER = re.compile(r'(?:^|<)sips?:([0-9]{3,8})@[^<>"\s]*>?$')
_ADDRESSED = re.compile(r"^[0-9+*#]{1,32}$")


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


class TextRoutes:
    """The route `member-text` of the FastAGI server."""

    def __init__(self, intake: TextIntake) -> None:
        self.intake = intake
        self.directory = intake.directory
        self.store = intake.store

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
        if self.intake.flooding(sender):
            result = self.intake.too_many(sender, addressed, Channel.SIP)
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
        intake = self.intake
        if not _ADDRESSED.match(addressed):
            return intake.refuse(sender, TextRefusal.NOT_A_MEMBER, addressed, Channel.SIP)
        if isinstance(body, TextRefusal):
            return intake.refuse(sender, body, addressed, Channel.SIP)
        if addressed == intake.texts.service_number:
            return intake.command(sender, parse_command(body), Channel.SIP)
        return intake.relay(sender, addressed, body, Channel.SIP)
