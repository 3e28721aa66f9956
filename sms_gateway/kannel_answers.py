"""What Kannel's smsbox answers to `sendsms`, as a SendResult.

smsbox (1.4) answers, from its source and as observed here:
- 202 `0: Accepted for delivery`: bearerbox handed the text to an SMSC connection;
- 202 `3: Queued for later delivery`: no SMSC is up; bearerbox keeps it and sends it later;
- 202 `Sent.`: the same acceptance when smsbox has `immediate-sendsms-reply = true`;
- 403 `Authorization failed for sendsms`: wrong user name or password (or a disallowed IP);
- 403 `Not routable. Do not try again.`: no SMSC will ever take it;
- 400 `...rejected` / `Number(s) has/have been denied by white- and/or black-lists.`;
- 503 `Temporal failure, try again later.` and 500 `Sending failed.`: bearerbox trouble.
Every 4xx but 408 and 429 is permanent for that text; 408, 429 and 5xx are temporary.
A redirect means the configured URL is wrong: permanent until an admin fixes it.
"""

from __future__ import annotations

from sms_gateway.gateway import SendResult, SendStatus

MAX_REASON = 200
TEMPORARY_4XX = {408, 429}


def reason_text(body: str) -> str:
    """The gateway's answer on one short line (it may be an HTML error page)."""
    one_line = " ".join(body.split())
    return one_line[:MAX_REASON]


def kannel_answer(http_status: int, body: str) -> SendResult:
    reason = reason_text(body)
    if 200 <= http_status < 300:
        if reason.startswith("3:"):
            return SendResult(SendStatus.ACCEPTED, f"queued: {reason}")
        return SendResult(SendStatus.ACCEPTED, reason or f"HTTP {http_status}")
    detail = f"HTTP {http_status}: {reason}" if reason else f"HTTP {http_status}"
    if http_status >= 500 or http_status in TEMPORARY_4XX:
        return SendResult(SendStatus.FAILED, detail)
    if http_status in (401, 403) and "authori" in reason.lower():
        return SendResult(SendStatus.REJECTED, f"authorization failed ({detail})")
    if 300 <= http_status < 400:
        return SendResult(SendStatus.REJECTED, f"unexpected redirect, check the url ({detail})")
    return SendResult(SendStatus.REJECTED, detail)
