"""What the service and Asterisk logged while a failed end-to-end test ran, added to the
test's report: a CI run keeps only pytest's output, and the post-mortem starts there."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import Pbx

MAX_LINES = 80  # of each log, the last ones
# Asterisk's messages log carries a security event per REGISTER and challenge: noise here.
NOISE = ("SECURITY[",)


def log_files(pbx: Pbx) -> list[Path]:
    """The logs worth reading after a failure: the service's, and Asterisk's warnings."""
    return [pbx.home / "serve.log", *[p for p in pbx.asterisk_logs() if p.name == "messages.log"]]


def marks(pbx: Pbx) -> dict[Path, int]:
    """Where each log ends now: what a test adds is read from there."""
    return {path: path.stat().st_size if path.exists() else 0 for path in log_files(pbx)}


def sections(start: dict[Path, int]) -> list[tuple[str, str]]:
    """The lines each log gained since `start` (the last MAX_LINES, noise left out)."""
    out = []
    for path, offset in start.items():
        if not path.exists():
            continue
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
        lines = [line for line in text.splitlines() if not any(n in line[:40] for n in NOISE)]
        if lines:
            out.append((f"post-mortem: {path.name}", "\n".join(lines[-MAX_LINES:])))
    return out
