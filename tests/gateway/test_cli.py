"""`cug sms-gateway test` sends through a real Kannel."""

from __future__ import annotations

from pathlib import Path

from cug.settings import load
from tests.gateway.kannel import Kannel
from tests.unit.cli_runner import Cug


def test_cug_sms_gateway_test_sends_one_text(kannel: Kannel, tmp_path: Path) -> None:
    s = load(home=tmp_path)
    s.sms_gateway = kannel.gateway_config()
    s.save()
    cug = Cug(tmp_path)
    out = cug("sms-gateway", "test", "0772 100 020", "Habari from the CUG").output
    assert out.startswith("+256772100020 (test-")
    assert out.rstrip().endswith("accepted: 0: Accepted for delivery")
    assert kannel.wait_for_text("+256772100020").text() == "Habari from the CUG"
    cug("sms-gateway", "test", "0772100021")
    assert kannel.wait_for_text("+256772100021").text().startswith("CUG: a test text")


def test_cug_sms_gateway_test_fails_loudly(kannel: Kannel, tmp_path: Path) -> None:
    s = load(home=tmp_path)
    s.sms_gateway = kannel.gateway_config(password="wrong-password")
    s.save()
    out = Cug(tmp_path)("sms-gateway", "test", "0772100022", ok=False).output
    assert "rejected: authorization failed" in out
    assert "wrong-password" not in out
