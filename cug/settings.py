"""Where an install keeps its files, which ports it uses, and its generated secrets.

Everything lives under one home folder (CUG_HOME, default ~/.local/share/cug): the settings
file cug.ini (owner-only, it holds the AMI secret, the trunk's and the SMS gateway's
passwords, the admin site's cookie key), the directory
database (CUG_DB or --db to choose another), logs and pid files.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import os
import secrets
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from routing.callbacks import CallbackPolicy
from routing.costs import CostPolicy
from routing.texts import TextPolicy
from sms_gateway.config import GatewayConfig

SETTINGS_FILE = "cug.ini"
MAX_CALLBACK_RETRIES = 3  # [callbacks] retries, at most
MAX_RETRY_SECONDS = 30  # [callbacks] retry_seconds, at most


def default_home() -> Path:
    if os.environ.get("CUG_HOME"):
        return Path(os.environ["CUG_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cug"


@dataclass
class Settings:
    home: Path
    db: Path
    instance: str = ""  # the sandboxed Asterisk's folder name; default: from the home path
    asterisk_etc: Path | None = None
    asterisk_root: Path | None = None  # a sandbox root; None for a system Asterisk
    cdr_file: Path | None = None  # Asterisk's SQLite CDR file (cdr_sqlite3_custom's master.db)
    endpoints_db: Path | None = None  # the members' PJSIP realtime tables (agi/endpoint_db.py)
    sip_bind: str = "127.0.0.1"
    sip_port: int = 5060
    ami_port: int = 5038
    agi_port: int = 4573
    http_port: int = 8480
    ring_seconds: int = 30  # how long a phone rings before the call counts as not answered
    reminder_interval: int = 60  # seconds between looks for follow-ups that are due
    key_seconds: int = 6  # how long someone who answers an escalated call has to press 1
    ami_username: str = "cug"
    ami_secret: str = ""
    ami_watch_secret: str = ""  # the read-only AMI user <username>-watch (diagnostics, tests)
    trunk_enabled: bool = False
    trunk_password: str = ""
    trunk_numbers: list[str] = field(default_factory=list)
    callback_numbers: list[str] = field(default_factory=list)  # "please call me" numbers
    callbacks: CallbackPolicy = field(default_factory=CallbackPolicy)  # [callbacks]
    sms_gateway: GatewayConfig = field(default_factory=GatewayConfig)  # [sms_gateway]
    texts: TextPolicy = field(default_factory=TextPolicy)  # [texts]: the SMS relay's rules
    costs: CostPolicy = field(default_factory=CostPolicy)  # [costs]: daily caps per member
    sms_inbound_secret: str = ""  # [sms_inbound] secret: the SMS gateway's basic-auth password
    admin_session_key: str = ""  # [admin_site] session_key: encrypts the site's session cookies
    # [admin_site] cookie_secure: the session cookie is sent over HTTPS only (the site is
    # reached through a TLS proxy); `no` only for plain HTTP on loopback (a demo, a test).
    admin_cookie_secure: bool = True
    metrics_allow: list[str] = field(default_factory=list)  # [metrics] allow: beside loopback
    metrics_secret: str = ""  # [metrics] secret: Prometheus's basic-auth password (user metrics)
    trusted_proxies: list[str] = field(default_factory=list)  # [admin_site] trusted_proxies

    @property
    def settings_path(self) -> Path:
        return self.home / SETTINGS_FILE

    @property
    def agi_url(self) -> str:
        return f"agi://127.0.0.1:{self.agi_port}"

    def save(self) -> None:
        cp = configparser.ConfigParser(interpolation=None)
        cp["cug"] = {
            "db": str(self.db),
            "instance": self.instance,
            "asterisk_etc": str(self.asterisk_etc or ""),
            "asterisk_root": str(self.asterisk_root or ""),
            "cdr_file": str(self.cdr_file or ""),
            "endpoints_db": str(self.endpoints_db or ""),
        }
        cp["network"] = {
            "sip_bind": self.sip_bind,
            "sip_port": str(self.sip_port),
            "ami_port": str(self.ami_port),
            "agi_port": str(self.agi_port),
            "http_port": str(self.http_port),
        }
        cp["calls"] = {
            "ring_seconds": str(self.ring_seconds),
            "reminder_interval": str(self.reminder_interval),
            "key_seconds": str(self.key_seconds),
        }
        cp["ami"] = {
            "username": self.ami_username,
            "secret": self.ami_secret,
            "watch_secret": self.ami_watch_secret,
        }
        cp["trunk"] = {
            "enabled": "yes" if self.trunk_enabled else "no",
            "password": self.trunk_password,
            "numbers": " ".join(self.trunk_numbers),
            "callback_numbers": " ".join(self.callback_numbers),
        }
        cp["callbacks"] = {
            name: ("yes" if value else "no") if isinstance(value, bool) else str(value)
            for name, value in asdict(self.callbacks).items()
        }
        cp["sms_gateway"] = self.sms_gateway.to_section()
        cp["texts"] = {
            name: " ".join(value) if isinstance(value, tuple) else str(value)
            for name, value in asdict(self.texts).items()
        }
        cp["costs"] = {name: str(value) for name, value in asdict(self.costs).items()}
        cp["sms_inbound"] = {"secret": self.sms_inbound_secret}
        cp["admin_site"] = {
            "session_key": self.admin_session_key,
            "cookie_secure": "yes" if self.admin_cookie_secure else "no",
            "trusted_proxies": " ".join(self.trusted_proxies),
        }
        cp["metrics"] = {"allow": " ".join(self.metrics_allow), "secret": self.metrics_secret}
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.settings_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("; CUG install settings. Owner-only: holds the AMI and trunk secrets.\n")
            cp.write(handle)
        os.replace(tmp, self.settings_path)


def _text_policy(section: configparser.SectionProxy) -> TextPolicy:
    default = TextPolicy()
    number = section.get("service_number", default.service_number).strip()
    return TextPolicy(
        service_number=number if number.isdigit() else default.service_number,
        per_minute=section.getint("per_minute", default.per_minute),
        expiry_hours=section.getint("expiry_hours", default.expiry_hours),
        sms_after_seconds=section.getint("sms_after_seconds", default.sms_after_seconds),
        sms_retry_seconds=section.getint("sms_retry_seconds", default.sms_retry_seconds),
        retention_days=section.getint("retention_days", default.retention_days),
        timezone=section.get("timezone", default.timezone).strip() or default.timezone,
        team_limit=section.getint("team_limit", default.team_limit),
        lead_roles=tuple(section.get("lead_roles", " ".join(default.lead_roles)).split()),
    )


def _callback_policy(section: configparser.SectionProxy) -> CallbackPolicy:
    default = CallbackPolicy()
    values: dict[str, int | bool] = {}
    for f in fields(CallbackPolicy):
        current = getattr(default, f.name)
        if isinstance(current, bool):
            values[f.name] = section.getboolean(f.name, current)
        else:
            values[f.name] = max(0, section.getint(f.name, current))
    # Retries stay within the few minutes a call back counts as "calling" (no second chain of
    # calls for a member who flashes again meanwhile).
    values["retries"] = min(int(values["retries"]), MAX_CALLBACK_RETRIES)
    values["retry_seconds"] = min(int(values["retry_seconds"]), MAX_RETRY_SECONDS)
    return CallbackPolicy(**values)  # type: ignore[arg-type]


def _cost_policy(section: configparser.SectionProxy) -> CostPolicy:
    default = CostPolicy()
    return CostPolicy(
        sms_per_day=section.getint("sms_per_day", default.sms_per_day),
        callbacks_per_day=section.getint("callbacks_per_day", default.callbacks_per_day),
        timezone=section.get("timezone", default.timezone).strip() or default.timezone,
    )


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def new_session_key() -> str:
    """A Fernet key (32 random bytes, URL-safe base64) for the admin site's cookies."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def load(home: Path | None = None, db: Path | None = None) -> Settings:
    """The settings of the install at `home`, or defaults (and fresh secrets) if it has none."""
    home = (home or default_home()).expanduser().resolve()
    env_db = os.environ.get("CUG_DB")
    s = Settings(
        home=home,
        db=home / "cug.db",
        # Two installs on one machine never share a sandboxed Asterisk's folder.
        instance="cug-" + hashlib.sha256(str(home).encode()).hexdigest()[:10],
        ami_secret=new_secret(),
        ami_watch_secret=new_secret(),
        trunk_password=new_secret(),
        sms_inbound_secret=secrets.token_urlsafe(32),
        admin_session_key=new_session_key(),
        metrics_secret=secrets.token_urlsafe(32),
    )
    path = home / SETTINGS_FILE
    if path.exists():
        cp = configparser.ConfigParser(interpolation=None)
        cp.read(path)
        c, n, a, t = cp["cug"], cp["network"], cp["ami"], cp["trunk"]
        s.db = Path(c.get("db") or s.db)
        s.instance = c.get("instance", s.instance)
        s.asterisk_etc = Path(c["asterisk_etc"]) if c.get("asterisk_etc") else None
        s.asterisk_root = Path(c["asterisk_root"]) if c.get("asterisk_root") else None
        s.cdr_file = Path(c["cdr_file"]) if c.get("cdr_file") else None
        s.endpoints_db = Path(c["endpoints_db"]) if c.get("endpoints_db") else None
        s.sip_bind = n.get("sip_bind", s.sip_bind)
        s.sip_port = n.getint("sip_port", s.sip_port)
        s.ami_port = n.getint("ami_port", s.ami_port)
        s.agi_port = n.getint("agi_port", s.agi_port)
        s.http_port = n.getint("http_port", s.http_port)
        s.ami_username = a.get("username", s.ami_username)
        s.ami_secret = a.get("secret") or s.ami_secret
        s.ami_watch_secret = a.get("watch_secret") or s.ami_watch_secret or new_secret()
        if cp.has_section("calls"):
            s.ring_seconds = cp["calls"].getint("ring_seconds", s.ring_seconds)
            s.reminder_interval = cp["calls"].getint("reminder_interval", s.reminder_interval)
            s.key_seconds = cp["calls"].getint("key_seconds", s.key_seconds)
        s.trunk_enabled = t.getboolean("enabled", False)
        s.trunk_password = t.get("password") or s.trunk_password
        s.trunk_numbers = t.get("numbers", "").split()
        s.callback_numbers = t.get("callback_numbers", "").split()
        if cp.has_section("callbacks"):
            s.callbacks = _callback_policy(cp["callbacks"])
        if cp.has_section("sms_gateway"):
            s.sms_gateway = GatewayConfig.from_section(cp["sms_gateway"])
        if cp.has_section("texts"):
            s.texts = _text_policy(cp["texts"])
        if cp.has_section("costs"):
            s.costs = _cost_policy(cp["costs"])
        if cp.has_section("sms_inbound"):
            s.sms_inbound_secret = cp["sms_inbound"].get("secret") or s.sms_inbound_secret
        if cp.has_section("admin_site"):
            site = cp["admin_site"]
            s.admin_session_key = site.get("session_key") or s.admin_session_key
            s.admin_cookie_secure = site.getboolean("cookie_secure", True)
            s.trusted_proxies = site.get("trusted_proxies", "").split()
        if cp.has_section("metrics"):
            s.metrics_allow = cp["metrics"].get("allow", "").split()
            s.metrics_secret = cp["metrics"].get("secret") or s.metrics_secret
    if env_db:
        s.db = Path(env_db).expanduser()
    if db is not None:
        s.db = db.expanduser()
    return s
