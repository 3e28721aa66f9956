"""Place one call on the running demo with SIPp phones: `python -m tests.e2e.demo_call 2002 2003`.

The callee's phone registers and answers; the caller dials. Prints what each side saw.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import click

from cug.settings import default_home
from tests.e2e.harness import Pbx, received_requests

log = logging.getLogger("demo_call")


@click.command()
@click.argument("caller")
@click.argument("dialed")
@click.option("--callee", help="Member whose phone answers (default: DIALED, if a member).")
def main(caller: str, dialed: str, callee: str | None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    work = Path(tempfile.mkdtemp(prefix="cug-demo-call-"))
    pbx = Pbx.existing(default_home(), work)
    answering = pbx.phone(callee or dialed)
    log.info("%s registers: %s", answering.username, answering.register())
    with answering.listening() as trace:
        result = pbx.phone(caller).call(dialed, talk_ms=1000)
    log.info("%s dialed %s: SIP %s", caller, dialed, result.code)
    log.info("%s's phone rang: %s", answering.username, bool(received_requests(trace, "INVITE")))
    log.info("SIP traces in %s", work)


if __name__ == "__main__":
    main()
