"""A real Asterisk 22 for development, demos and tests, where no system Asterisk is installed.

Debian 12 has no Asterisk package; Debian unstable does. The first use builds a root file
system with it (mmdebstrap, ~20 s, ~350 MB), cached outside the work tree (CUG_ASTERISK_ROOT,
default ~/.cache/cug/asterisk-22). Each install runs its own Asterisk from that root under
/srv/cug/<instance>/ with its own ports, so a demo and test runs can run side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from agi import endpoint_db
from cug import asterisk_config
from cug.settings import Settings

log = logging.getLogger(__name__)

ROOT_PACKAGES = "asterisk,asterisk-modules,asterisk-core-sounds-en"
BOOT_TIMEOUT = 60.0


class SandboxError(RuntimeError):
    pass


def default_root() -> Path:
    env = os.environ.get("CUG_ASTERISK_ROOT")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cug" / "asterisk-22"


def ensure_root(root: Path) -> Path:
    """Build the Asterisk root once; concurrent callers wait for the first one."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / "usr/sbin/asterisk").exists():
            return root
        if shutil.which("mmdebstrap") is None:
            raise SandboxError(
                "mmdebstrap is not installed: run scripts/setup (apt-get install mmdebstrap)"
            )
        building = root.with_name(root.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        log.info("building the Asterisk root in %s (once; about 20 s)", root)
        cmd = [
            "mmdebstrap",
            "--variant=apt",
            f"--include={ROOT_PACKAGES}",
            "--components=main",
            '--aptopt=Acquire::Check-Valid-Until "false"',
            "sid",
            str(building),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise SandboxError(f"mmdebstrap failed:\n{result.stderr[-3000:]}")
        hostname = socket.gethostname()
        (building / "etc/hosts").write_text(f"127.0.0.1 localhost {hostname}\n::1 localhost\n")
        if root.exists():
            shutil.rmtree(root)
        building.rename(root)
        return root


class Sandbox:
    """One install's Asterisk inside the shared root."""

    def __init__(self, settings: Settings, root: Path | None = None) -> None:
        self.settings = settings
        self.root = root or settings.asterisk_root or default_root()
        self.inside = Path("/srv/cug") / settings.instance
        self.host = self.root / self.inside.relative_to("/")

    @property
    def conf_inside(self) -> str:
        return str(self.inside / "etc/asterisk.conf")

    def directories(self) -> dict[str, str]:
        i = self.inside
        return {
            "astetcdir": str(i / "etc"),
            "astvarlibdir": str(i / "lib"),
            "astdbdir": str(i / "lib"),
            "astkeydir": str(i / "lib"),
            "astspooldir": str(i / "spool"),
            "astrundir": str(i / "run"),
            "astlogdir": str(i / "log"),
        }

    def prepare(self) -> None:
        """Build the root if needed and install this instance's configuration into it."""
        ensure_root(self.root)
        for sub in ("etc", "lib", "spool", "run", "log"):
            (self.host / sub).mkdir(parents=True, exist_ok=True)
        self.settings.asterisk_root = self.root
        self.settings.asterisk_etc = self.host / "etc"
        self.settings.cdr_file = self.host / "log" / "master.db"
        self.settings.endpoints_db = self.host / "lib" / endpoint_db.FILE_NAME
        self.settings.save()
        asterisk_config.install(self.settings, self.host / "etc", self.directories())

    def cli(self, command: str, timeout: float = 15) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["chroot", str(self.root), "asterisk", "-C", self.conf_inside, "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def pid(self) -> int | None:
        try:
            pid = int((self.host / "run/asterisk.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def running(self) -> bool:
        if self.pid() is None:
            return False
        try:
            return self.cli("core show uptime", timeout=5).returncode == 0
        except subprocess.TimeoutExpired:
            return True  # alive, busy (loading or reloading)

    def start(self) -> None:
        if self.running():
            log.info("Asterisk of %s already running", self.settings.instance)
            return
        result = subprocess.run(
            ["chroot", str(self.root), "asterisk", "-C", self.conf_inside],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise SandboxError(f"Asterisk did not start: {result.stderr[-2000:]}")
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if self.cli("core waitfullybooted", timeout=BOOT_TIMEOUT).returncode == 0:
                    return
            except subprocess.TimeoutExpired:
                break
            time.sleep(0.2)
        raise SandboxError(
            f"Asterisk did not boot within {BOOT_TIMEOUT:.0f} s (a very large directory loads "
            f"slowly; it may still come up): see {self.host}/log"
        )

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):  # too busy: killed below
            self.cli("core stop now", timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.1)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Stop and delete this instance's files (not the shared root)."""
        self.stop()
        shutil.rmtree(self.host, ignore_errors=True)


class ServiceProcess:
    """`cug serve` for an install, run in the background with a pid file and a log file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid_file = settings.home / "serve.pid"
        self.log_file = settings.home / "serve.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return None  # our own child, and it has exited
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (ProcessLookupError, FileNotFoundError):
            return None
        return None if state == "Z" else pid  # a killed service nobody has reaped yet

    def start(self) -> int:
        running = self.pid()
        if running:
            return running
        log_handle = open(self.log_file, "a")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [sys.executable, "-m", "cug.cli", "--home", str(self.settings.home), "serve"],
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log_handle.close()
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.05)
        if self.pid() is not None:
            log.warning("cug serve (pid %d) did not stop in 10 s: killed", pid)
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5  # gone, its ports free, before anything restarts
            while time.monotonic() < deadline and self.pid() is not None:
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
