"""Installing the repo's Asterisk configuration, plus the install's own values, into an etc dir.

The repo's asterisk-conf/*.conf and dialplan/*.conf are copied as they are. What belongs to
one install (ports, the AMI user's secret, where the routing service listens, the trunk's
credentials) is written into etc/cug-local/: the only config files not kept in the repo. The
members' endpoints are rows in the endpoints database (agi/endpoint_db.py), filled here from
the directory and kept in step by the service.
"""

from __future__ import annotations

import logging
import math
import os
import re
import struct
from pathlib import Path

from agi import endpoint_db, variables
from agi.member_endpoints import EndpointSync
from cug.settings import Settings

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = REPO / "asterisk-conf"
DIALPLAN_DIR = REPO / "dialplan"
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:\-/]+$")
VARLIB = "/var/lib/asterisk"  # astvarlibdir of a system install (Debian's)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _safe(value: str, what: str) -> str:
    """Values written into config must be plain tokens: no spaces, semicolons or newlines."""
    if not _SAFE_VALUE.match(value):
        raise ValueError(f"{what} {value!r} is not usable in Asterisk config")
    return value


def rewrite_directories(text: str, directories: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        return f"{key} => {directories[key]}" if key in directories else match.group(0)

    return re.sub(r"^(\w+) => .*$", replace, text, flags=re.MULTILINE)


def local_files(settings: Settings) -> dict[str, str]:
    """The install's own config snippets, by their path under the etc dir."""
    bind = f"{_safe(settings.sip_bind, 'SIP bind address')}:{int(settings.sip_port)}"
    transports = "".join(
        f"[transport-{proto}]\ntype = transport\nprotocol = {proto}\nbind = {bind}\n\n"
        for proto in ("udp", "tcp")
    )
    trunk = "; no trunk configured (cug.ini [trunk] enabled = no)\n"
    if settings.trunk_enabled:
        # The gateway authenticates as the endpoint's own name: PJSIP identifies a request
        # by the digest user name (identify_by=auth_username) by the endpoint of that name,
        # so calls in from any mobile caller ID still need the trunk's password.
        user = variables.TRUNK_ENDPOINT
        trunk = (
            f"[{variables.TRUNK_ENDPOINT}](cug-trunk-endpoint)\n"
            f"auth = {variables.TRUNK_ENDPOINT}\naors = {variables.TRUNK_ENDPOINT}\n\n"
            f"[{variables.TRUNK_ENDPOINT}]\ntype = auth\nauth_type = userpass\nrealm = cug\n"
            f"username = {user}\npassword = {_safe(settings.trunk_password, 'trunk password')}\n\n"
            f"[{variables.TRUNK_ENDPOINT}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n"
            "qualify_frequency = 30\n"
        )
    return {
        "cug-local/pjsip-transports.conf": transports,
        "cug-local/pjsip-trunk.conf": trunk,
        "cug-local/manager-port.conf": f"port = {int(settings.ami_port)}\n",
        "cug-local/manager-users.conf": (
            # The service: the events it uses (manager-service-events.conf), its actions.
            f"[{_safe(settings.ami_username, 'AMI user')}]\n"
            f"secret = {_safe(settings.ami_secret, 'AMI secret')}\n"
            "deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\n"
            "read = system,call,cdr,security\n"
            "write = system,call,originate,reporting,message\n"
            '#include "manager-service-events.conf"\n\n'
            # A read-only watcher for diagnostics and the end-to-end tests: every call event.
            f"[{_safe(settings.ami_username, 'AMI user')}-watch]\n"
            f"secret = {_safe(settings.ami_watch_secret, 'AMI watch secret')}\n"
            "deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\n"
            "read = system,call,cdr,reporting,agent\n"
            "write =\n"
        ),
        "cug-local/dialplan-globals.conf": (
            f"CUG_AGI = {settings.agi_url}\nCUG_RING_SECONDS = {int(settings.ring_seconds)}\n"
            f"CUG_KEY_SECONDS = {int(settings.key_seconds)}\n"
            f"CUG_TEXT_NUMBER = {_safe(settings.texts.service_number, 'text service number')}\n"
            f"CUG_DIGITS_SECONDS = {int(settings.callbacks.digits_seconds)}\n"
            # Time after answering to hear who calls and press 1, in two tries.
            f"CUG_CONFIRM_SECONDS = {2 * (int(settings.key_seconds) + 10)}\n"
        ),
    }


RINGBACK_DIR = "cug-local/moh-ringback"


def ringback_tone(seconds: int = 30, rate: int = 8000) -> bytes:
    """Ringback as Asterisk's raw signed-linear audio (.sln): 425 Hz, 1 s on, 4 s off."""
    samples = []
    for n in range(seconds * rate):
        on = (n % (5 * rate)) < rate
        samples.append(int(8000 * math.sin(2 * math.pi * 425 * n / rate)) if on else 0)
    return struct.pack(f"<{len(samples)}h", *samples)


def install_ringback(etc: Path, asterisk_etc: str) -> None:
    """The file music on hold class cug-next-step plays, and the snippet naming its folder."""
    tone = etc / RINGBACK_DIR / "ringback.sln"
    if not tone.exists():
        tone.parent.mkdir(parents=True, exist_ok=True)
        tone.write_bytes(ringback_tone())
    _write(
        etc / "cug-local/musiconhold-ringback.conf",
        f"directory = {_safe(asterisk_etc, 'etc dir')}/{RINGBACK_DIR}\n",
    )


def install(settings: Settings, etc: Path, directories: dict[str, str] | None = None) -> None:
    """Write the whole configuration into `etc` (an Asterisk's astetcdir)."""
    etc.mkdir(parents=True, exist_ok=True)
    install_ringback(etc, (directories or {}).get("astetcdir", str(etc.resolve())))
    for source in sorted(CONF_DIR.glob("*.conf")) + sorted(DIALPLAN_DIR.glob("*.conf")):
        text = source.read_text()
        if source.name == "asterisk.conf" and directories:
            text = rewrite_directories(text, directories)
        _write(etc / source.name, text)
    for name, text in local_files(settings).items():
        _write(etc / name, text, mode=0o600)
    # Asterisk's own path of the endpoints database (inside its root, for a sandbox).
    varlib = _safe((directories or {}).get("astvarlibdir", VARLIB), "astvarlibdir")
    _write(
        etc / "cug-local/endpoints-db.conf",
        f"dbfile => {varlib}/{endpoint_db.FILE_NAME}\n",
        mode=0o600,
    )
    if settings.endpoints_db is None:
        raise ValueError("no endpoints_db in settings: where Asterisk reads members' endpoints")
    sync = EndpointSync(settings.db, etc, settings.endpoints_db)
    try:
        sync.sync()
    finally:
        sync.close()
    log.info("Asterisk configuration installed in %s", etc)
