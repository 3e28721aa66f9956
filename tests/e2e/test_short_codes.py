"""Short codes an admin edits with `cug directory short-codes` while the PBX runs: the next
call follows the change, with no reload and no restart."""

from __future__ import annotations

import pytest

from tests.e2e.harness import Pbx, received_requests

pytestmark = pytest.mark.e2e


def test_a_code_added_edited_and_removed_applies_to_the_next_call(pbx: Pbx) -> None:
    anna = pbx.phone("3002")  # Oyam
    oyam_police, jinja_police, oyam_health = pbx.phone("3004"), pbx.phone("3008"), pbx.phone("3005")
    for phone in (oyam_police, jinja_police, oyam_health):
        assert phone.register() == 200
    assert anna.call("105").code == 403  # no such code yet
    try:
        police = ["--kind", "role", "--role", "police", "--label", "Police desk"]
        assert "added 105" in pbx.cug("directory", "short-codes", "add", "105", *police).stdout
        # At once: the police desk of Anna's district rings, not Jinja's.
        with oyam_police.listening() as oyam, jinja_police.listening() as jinja:
            assert anna.call("105").code == 200
        assert len(received_requests(oyam, "INVITE")) == 1
        assert received_requests(jinja, "INVITE") == []
        pbx.cug("directory", "short-codes", "edit", "105", "--role", "health")
        with oyam_health.listening() as health, oyam_police.listening() as oyam:
            assert anna.call("105").code == 200
        assert len(received_requests(health, "INVITE")) == 1
        assert received_requests(oyam, "INVITE") == []
    finally:
        pbx.cug("directory", "short-codes", "remove", "105", check=False)
    assert "105" not in pbx.cug("directory", "short-codes").stdout
    mark = pbx.ami.mark()
    with oyam_health.listening() as health:
        result = anna.call("105")
    # Refused as an unknown code: announced, then rejected, and nobody rang.
    assert result.code == 403
    assert received_requests(health, "INVITE") == []
    assert pbx.ami.since(mark, "DialBegin") == []
    rows = pbx.wait_contacts("dialed = ? AND refusal != ''", ("105",), count=2)
    assert {r["refusal"] for r in rows} == {"unknown_short_code"}
