"""The contact figures of the report come from per member and month counts the contact log's
triggers keep (contact_month_counts); whatever is written to the contacts, the counts stay
those of a pass over every contact."""

from __future__ import annotations

import sqlite_utils

from directory.lookup import Directory
from directory.report import district_month_report
from tests.unit.test_report import AS_OF, add_case, add_contact, ids

COUNTED_FROM_CONTACTS = (
    "SELECT caller_member_id, coalesce(strftime('%Y-%m', placed_at), ''), count(*), "
    "count(case_id) FROM contacts WHERE caller_member_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"
)
KEPT = "SELECT member_id, month, contacts, linked FROM contact_month_counts ORDER BY 1, 2"


def kept_as_counted(db: sqlite_utils.Database) -> None:
    assert db.execute(KEPT).fetchall() == db.execute(COUNTED_FROM_CONTACTS).fetchall()


def a_case_and_a_call_on_it(directory: Directory) -> tuple[sqlite_utils.Database, dict[str, int]]:
    """Case 1 (Oyam, A's), and A's call to B on it (contact 1, March 2025)."""
    m = ids(directory)
    add_case(directory.db, 1, "Oyam", "2025-03-01T08:00:00+00:00", m["A"])
    add_contact(directory.db, 1, "2025-03-02T08:00:00+00:00", m["A"], m["B"], 1)
    return directory.db, m


def test_counts_follow_every_write_of_a_contact(directory: Directory) -> None:
    db, m = a_case_and_a_call_on_it(directory)
    add_contact(db, 2, "2025-03-03T08:00:00Z", m["A"], m["P"], None)
    # 01:30 on 1 April in Kampala is March in UTC.
    add_contact(db, 3, "2025-04-01T01:30:00+03:00", m["A"], m["B"], None)
    add_contact(db, 4, "2025-04-02T08:00:00", m["J"], m["JP"], None)
    add_contact(db, 5, "2025-04-02T09:00:00", None, m["JP"], None)  # an outsider called
    add_contact(db, 6, "not a time", m["B"], m["A"], None)
    kept_as_counted(db)
    assert db.execute(
        "SELECT contacts, linked FROM contact_month_counts WHERE member_id = ? AND month = ?",
        (m["A"], "2025-03"),
    ).fetchone() == (3, 1)
    db.execute("UPDATE contacts SET case_id = 1 WHERE id = 2")  # linked by hand
    kept_as_counted(db)
    db.execute("UPDATE contacts SET case_id = NULL WHERE id = 1")  # unlinked
    kept_as_counted(db)
    db.execute("UPDATE contacts SET placed_at = '2025-05-01T00:00:00Z' WHERE id = 3")
    db.execute("UPDATE contacts SET caller_member_id = ? WHERE id = 4", (m["P"],))
    db.execute("UPDATE contacts SET caller_member_id = ? WHERE id = 5", (m["H"],))
    db.execute("UPDATE contacts SET outcome = 'no_answer' WHERE id = 2")  # changes no count
    kept_as_counted(db)
    db.execute("DELETE FROM contacts WHERE id IN (2, 6)")
    kept_as_counted(db)
    # A month whose last contact went leaves no row behind.
    assert db.execute("SELECT min(contacts) FROM contact_month_counts").fetchone()[0] > 0


def test_the_report_counts_contacts_by_the_members_district_now(directory: Directory) -> None:
    db, m = a_case_and_a_call_on_it(directory)
    add_contact(db, 2, "2025-03-03T08:00:00+00:00", m["A"], m["B"], None)
    add_contact(db, 3, "2025-03-03T09:00:00+00:00", m["J"], m["B"], None)
    report = {(r.district, r.month): r for r in district_month_report(db, as_of=AS_OF)}
    assert (report["Oyam", "2025-03"].contacts, report["Oyam", "2025-03"].contacts_linked) == (2, 1)
    assert report["Jinja", "2025-03"].contacts == 1
    db.execute("UPDATE members SET district = 'Jinja' WHERE id = ?", (m["A"],))
    report = {(r.district, r.month): r for r in district_month_report(db, as_of=AS_OF)}
    assert report["Jinja", "2025-03"].contacts == 3
    only = district_month_report(db, "Jinja", "2025-03", as_of=AS_OF)
    assert [(r.contacts, r.contacts_linked) for r in only] == [(3, 1)]
