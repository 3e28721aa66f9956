"""The install's choice of outbound SMS gateway (`[sms_gateway]` in cug.ini), checked, and the
gateway it builds.

The password lives only in the install's owner-only settings file; it is never in the repo,
never in a repr, never logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from sms_gateway.gateway import SmsGateway

KINDS = ("none", "kannel")
METHODS = ("post", "get")
# An alphanumeric sender id (11 characters at most, as GSM allows) or a phone number.
SENDER = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9 ._-]{0,10}|\+?[0-9]{3,15})$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
Number = TypeVar("Number", int, float)

log = logging.getLogger(__name__)


class GatewayConfigError(ValueError):
    """The `[sms_gateway]` settings cannot make a gateway; the message lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class GatewayConfig:
    kind: str = "none"
    url: str = ""  # the full sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""  # the `from` members see: a sender id or the CUG's number
    method: str = "post"  # post keeps the password out of URLs and access logs
    timeout: float = 10.0  # seconds for the whole request
    max_messages: int = 24  # as the sendsms-user's max-messages: 1,600 characters of UCS-2
    dlr_url: str = ""  # optional; `{reference}` in it becomes the text's reference
    dlr_mask: int = 31  # which delivery reports Kannel calls dlr_url for (with dlr_url only)

    @classmethod
    def from_section(cls, section: Mapping[str, str]) -> GatewayConfig:
        """Read leniently, so that a broken section never stops the other commands: a bad
        number keeps its default (with a warning); `problems()` says what else is wrong."""
        base = cls()
        return cls(
            kind=section.get("kind", base.kind).strip().lower() or base.kind,
            url=section.get("url", "").strip(),
            username=section.get("username", ""),
            password=section.get("password", ""),
            sender=section.get("sender", "").strip(),
            method=section.get("method", base.method).strip().lower() or base.method,
            timeout=_number(section, "timeout", float, base.timeout),
            max_messages=_number(section, "max_messages", int, base.max_messages),
            dlr_url=section.get("dlr_url", "").strip(),
            dlr_mask=_number(section, "dlr_mask", int, base.dlr_mask),
        )

    def to_section(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "url": self.url,
            "username": self.username,
            "password": self.password,
            "sender": self.sender,
            "method": self.method,
            "timeout": f"{self.timeout:g}",
            "max_messages": str(self.max_messages),
            "dlr_url": self.dlr_url,
            "dlr_mask": str(self.dlr_mask),
        }

    def problems(self) -> list[str]:
        """Every reason this configuration cannot send; empty when it can (or is `none`)."""
        if self.kind not in KINDS:
            return [f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}"]
        if self.kind == "none":
            return []
        found = []
        if not _http_url(self.url):
            found.append("url must be an http:// or https:// URL (the sendsms URL)")
        if not self.username:
            found.append("username is missing")
        if not self.password:
            found.append("password is missing (set it with `cug sms-gateway set`)")
        if not SENDER.match(self.sender):
            found.append("sender must be a sender id (up to 11 letters/digits) or a number")
        if self.method not in METHODS:
            found.append(f"method must be post or get, not {self.method!r}")
        if not 0 < self.timeout <= 120:
            found.append("timeout must be more than 0 and at most 120 seconds")
        if not 1 <= self.max_messages <= 255:
            found.append("max_messages must be 1 to 255")
        if self.dlr_url and not _http_url(self.dlr_url.replace("{reference}", "x")):
            found.append("dlr_url must be an http:// or https:// URL")
        if not 0 <= self.dlr_mask <= 255:
            found.append("dlr_mask must be 0 to 255")
        values = (self.url, self.username, self.password, self.sender, self.dlr_url)
        if any(CONTROL.search(v) for v in values):
            found.append("no value may hold a line break or control character")
        return found


def build_gateway(config: GatewayConfig) -> SmsGateway | None:
    """The configured gateway, or None when the install has none (`kind = none`)."""
    problems = config.problems()
    if problems:
        raise GatewayConfigError(problems)
    if config.kind == "none":
        return None
    from sms_gateway.kannel import KannelGateway  # here: aiohttp only when a gateway is made

    return KannelGateway(config)


def _number(
    section: Mapping[str, str], name: str, kind: Callable[[str], Number], default: Number
) -> Number:
    raw = section.get(name, "").strip()
    try:
        return kind(raw) if raw else default
    except ValueError:
        log.warning("[sms_gateway] %s = %r is not a number; using %s", name, raw, default)
        return default


def _http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
