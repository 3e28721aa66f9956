"""`cug case ...` and `cug report` as an admin uses them, on a directory in a temporary home."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.unit.cli_runner import Cug as BaseCug

MEMBERS_CSV = """name,phone,role,district,supervisor_phone,extension
Grace Akello,0772100001,supervisor,Oyam,,2001
Okello Denis,0772100002,psw,Oyam,0772100001,2002
Auma Christine,0772100003,psw,Oyam,0772100001,2003
Dr. Acen Sarah,0772100005,health,Oyam,,2005
Lanyero Joy,0772100009,psw,Oyam,0772100001,2009
"""


class Cug(BaseCug):
    """The CLI runner with the case tests' helpers."""

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def add_contact(self, contact_id: int, placed_at: str, caller: str, callee: str) -> None:
        """A call in the contact log, as the log writer leaves it (not linked to a case)."""
        ids = dict(self.sql("SELECT extension, id FROM members"))
        self.sql(
            "INSERT INTO contacts (id, kind, source_key, caller_member_id, callee_member_id, "
            "placed_at, answered_at, outcome, recorded_at) VALUES (?, 'call', ?, ?, ?, ?, ?, "
            "'answered', ?)",
            (
                contact_id,
                f"k{contact_id}",
                ids[caller],
                ids[callee],
                placed_at,
                placed_at,
                placed_at,
            ),
        )


@pytest.fixture
def cug(tmp_path: Path) -> Cug:
    runner = Cug(tmp_path / "home")
    csv = tmp_path / "members.csv"
    csv.write_text(MEMBERS_CSV)
    runner("directory", "import", str(csv))
    runner("directory", "deactivate", "2009")
    return runner


def case_number(result: Result) -> int:
    found = re.search(r"^case (\d+) opened", result.stdout, re.MULTILINE)
    assert found, result.stdout
    return int(found.group(1))


def test_a_case_from_report_to_closing(cug: Cug) -> None:
    opened = cug(
        "case", "open", "--district", "oyam", "--category", "neglect",
        "--reference", "NCH-2025-0042", "--urgency", "urgent", "--assign", "2002",
        "--reported-at", "2025-03-03T11:00:00+03:00", "--follow-up", "2025-03-10",
        "--summary", "Boy, 9, left alone for days.\nNeighbour reported.",
    )  # fmt: skip
    number = case_number(opened)
    assert f"members key *{number}* before the number they dial" in opened.stdout
    # The worker's first call, two hours after the report, is linked afterwards by hand.
    cug.add_contact(1, "2025-03-03T10:00:00+00:00", "2002", "2005")
    assert "linked to case" in cug("case", "link", "1", "NCH-2025-0042").stdout
    assert (
        "assigned to 2003 Auma Christine" in cug("case", "assign", str(number), "0772100003").stdout
    )
    cug("case", "follow-up", str(number), "2025-03-12")
    referred = cug(
        "case", "refer", str(number), "--service", "health", "--to", "2005",
        "--consent", "--consent-by", "the boy's grandmother", "--at", "2025-03-04T09:00",
    )  # fmt: skip
    referral = int(re.findall(r"referral (\d+) made", referred.stdout)[0])
    cug("case", "referral", "accept", str(referral), "--at", "2025-03-04T12:00")
    cug("case", "referral", "complete", str(referral), "--at", "2025-03-06T09:00")
    closed = cug("case", "close", str(number), "--reason", "Grandmother takes care of him")
    assert f"case {number} closed" in closed.stdout
    # A call made after closing, linked to the case: marked as such.
    cug.add_contact(2, "2025-03-20T08:00:00+00:00", "2003", "2005")
    assert "(after the case was closed)" in cug("case", "link", "2", str(number)).stdout

    shown = cug.json("case", "show", str(number))
    case = shown["case"]
    assert (case["status"], case["urgency"], case["reference"]) == (
        "closed",
        "urgent",
        "NCH-2025-0042",
    )
    assert case["reported_at"] == "2025-03-03T08:00:00+00:00"
    assert case["follow_up_due"] == "2025-03-12T23:59:59+00:00"
    assert case["summary"] == "Boy, 9, left alone for days.\nNeighbour reported."
    assert case["close_reason"] == "Grandmother takes care of him"
    assert case["assigned"]["extension"] == "2003"
    [ref] = shown["referrals"]
    assert (ref["service"], ref["status"], ref["consent"], ref["consent_by"]) == (
        "health",
        "completed",
        True,
        "the boy's grandmother",
    )
    assert ref["to"]["name"] == "Dr. Acen Sarah"
    assert [(h["status"], h["at"], h["actor"]) for h in ref["history"]] == [
        ("made", "2025-03-04T09:00:00+00:00", "tester"),
        ("accepted", "2025-03-04T12:00:00+00:00", "tester"),
        ("completed", "2025-03-06T09:00:00+00:00", "tester"),
    ]
    assert [e["action"] for e in shown["events"]] == [
        "open",
        "contact.link",
        "reassign",
        "follow_up",
        "referral.made",
        "referral.accepted",
        "referral.completed",
        "close",
        "contact.link",
    ]
    assert {e["actor"] for e in shown["events"]} == {"tester"}
    assert [(c["id"], c["link"], c["after_close"]) for c in shown["contacts"]] == [
        (1, "manual", False),
        (2, "manual", True),
    ]
    assert shown["contacts"][0]["caller"]["name"] == "Okello Denis"
    # Response: the case is now assigned to 2003, whose only contact on it came after the
    # report by 17 days: 2025-03-03T08:00 -> 2025-03-20T08:00 = 1468800 s.
    assert shown["response"]["first_contact_seconds"] == 17 * 86400
    # Every change is in the audit with the acting admin.
    audited = cug.sql(
        "SELECT action FROM audit WHERE actor = 'tester' AND action NOT LIKE 'member%'"
    )
    assert [a for (a,) in audited] == [
        "case.open",
        "contact.link",
        "case.assign",
        "case.follow_up",
        "referral.make",
        "referral.accept",
        "referral.complete",
        "case.close",
        "contact.link",
    ]

    text = cug("case", "show", "nch-2025-0042").stdout
    assert "NCH-2025-0042  (closed, urgent)" in text
    assert "health -> 2005 Dr. Acen Sarah, consent by the boy's grandmother: completed" in text
    assert "2025-03-20T08:00:00  call 2: 2003 Auma Christine -> 2005 Dr. Acen Sarah" in text

    report = cug.json("report", "--month", "2025-03")
    [row] = report
    assert (row["district"], row["cases"], row["referrals_completed"]) == ("Oyam", 1, 1)
    assert row["referral_completion_median_s"] == 2 * 86400
    assert (row["contacts"], row["contacts_linked"], row["linked_share"]) == (2, 2, 1.0)
    assert "Oyam       2025-03" in cug("report", "--district", "Oyam").stdout
    per_case = cug.json("report", "--case", str(number))
    assert per_case["first_contact_id"] == 2


def test_listing_cases(cug: Cug) -> None:
    cug("case", "open", "--district", "Oyam", "--category", "hiv", "--assign", "2002")
    cug("case", "open", "--district", "Oyam", "--category", "neglect", "--assign", "2003")
    cug("case", "close", "1", "--reason", "Family moved")
    listed = cug.json("case", "list", "--status", "open")
    assert [(c["id"], c["assigned"]["extension"]) for c in listed] == [(2, "2003")]
    assert [c["id"] for c in cug.json("case", "list", "--assigned", "0772100002")] == [1]
    assert len(cug.json("case", "list", "--district", "oyam")) == 2
    assert cug.json("case", "list", "--district", "Jinja") == []
    assert "CUG-2" in cug("case", "list").stdout
    assert "no member" in cug("case", "list", "--assigned", "2999", ok=False).output


def test_bad_input_is_refused_with_every_reason(cug: Cug) -> None:
    result = cug(
        "case", "open", "--district", "Atlantis", "--category", "theft", "--assign", "2999",
        ok=False,
    )  # fmt: skip
    assert "unknown district 'Atlantis'" in result.output
    assert "unknown category 'theft'" in result.output
    assert "assign: no member with extension or number '2999'" in result.output
    inactive = cug(
        "case", "open", "--district", "Oyam", "--category", "hiv", "--assign", "2009", ok=False
    )
    assert "Lanyero Joy (2009) is deactivated" in inactive.output
    newline = cug(
        "case", "open", "--district", "Oyam", "--category", "hiv", "--reference", "NCH\n1",
        ok=False,
    )  # fmt: skip
    assert "reference contains control characters or line breaks" in newline.output
    assert cug.json("case", "list") == []
    assert cug.sql("SELECT count(*) FROM case_events") == [(0,)]
    assert "no case with number or reference '5'" in cug("case", "show", "5", ok=False).output


def test_a_closed_case_and_illegal_referral_steps(cug: Cug) -> None:
    cug("case", "open", "--district", "Oyam", "--category", "hiv")
    cug("case", "refer", "1", "--service", "health", "--no-consent")
    missing = cug("case", "refer", "1", "--service", "health", ok=False)
    assert "consent is missing" in missing.output
    early = cug("case", "referral", "complete", "1", ok=False)
    assert "referral 1 is made: only an accepted referral can be completed" in early.output
    no_reason = cug("case", "referral", "decline", "1", ok=False)
    assert "reason is missing" in no_reason.output
    cug("case", "referral", "decline", "1", "--reason", "Clinic closed")
    final = cug("case", "referral", "complete", "1", ok=False)
    assert "already declined, which is final" in final.output
    cug("case", "close", "1", "--reason", "Family moved")
    refused = cug("case", "refer", "1", "--service", "police", "--no-consent", ok=False)
    assert "is closed: reopen it before referring it (`cug case reopen 1`)" in refused.output
    assert "is closed: reopen it" in cug("case", "assign", "1", "2002", ok=False).output
    assert cug.sql("SELECT count(*) FROM referrals") == [(1,)]
    assert "reopened (referred)" in cug("case", "reopen", "1").stdout
    cug("case", "refer", "1", "--service", "police", "--no-consent")
    assert cug.sql("SELECT service, status FROM referrals ORDER BY id") == [
        ("health", "declined"),
        ("police", "made"),
    ]


def test_summary_text_is_stored_exactly(cug: Cug) -> None:
    summary = "x'; DROP TABLE cases; --\n\"%_\\ Ŋwec, Ölçü, 子供 😀"
    cug("case", "open", "--district", "Oyam", "--category", "other", "--summary", summary)
    assert cug.json("case", "show", "1")["case"]["summary"] == summary
    assert cug.sql("SELECT summary FROM cases") == [(summary,)]


def test_linking_a_contact_already_on_another_case_needs_force(cug: Cug) -> None:
    cug("case", "open", "--district", "Oyam", "--category", "hiv")
    cug("case", "open", "--district", "Oyam", "--category", "neglect")
    cug.add_contact(7, "2025-03-03T10:00:00+00:00", "2002", "2003")
    cug("case", "link", "7", "1")
    assert "already linked to case 1" in cug("case", "link", "7", "1").stdout
    refused = cug("case", "link", "7", "2", ok=False)
    assert "contact 7 is linked to case 1 (CUG-1): give --force to move it" in refused.output
    cug("case", "link", "7", "2", "--force")
    assert cug.sql("SELECT case_id, link, link_note FROM contacts") == [
        (2, "manual", "moved from case 1")
    ]
    assert [e["action"] for e in cug.json("case", "show", "1")["events"]] == [
        "open",
        "contact.link",
        "contact.unlink",
    ]
    assert "no contact 99" in cug("case", "link", "99", "2", ok=False).output


def test_report_choices_are_checked(cug: Cug) -> None:
    assert "month '2025-3' must be YYYY-MM" in cug("report", "--month", "2025-3", ok=False).output
    assert "nothing recorded yet" in cug("report").stdout
