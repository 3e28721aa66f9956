"""The contact figures of the report come from counts per member and month that the report
brings up to date (the contacts written since it last looked, by id) and that triggers keep
when a counted contact is changed or deleted: whatever is written to the contacts, and when,
they stay those of a pass over every contact."""

from __future__ import annotations

import sqlite_utils

from directory.lookup import Directory
from directory.report import count_new_contacts, district_month_report
from tests.unit.test_report import AS_OF, add_case, add_contact, ids

COUNTED_FROM_CONTACTS = (
    "SELECT m.district, strftime('%Y-%m', k.placed_at) AS month, count(*), count(k.case_id) "
    "FROM contacts k NOT INDEXED JOIN members m ON m.id = k.caller_member_id "
    "WHERE month IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"
)


def kept_as_counted(db: sqlite_utils.Database) -> None:
    reported = [
        (r.district, r.month, r.contacts, r.contacts_linked)
        for r in district_month_report(db, as_of=AS_OF)
        if r.contacts
    ]
    assert reported == [tuple(r) for r in db.execute(COUNTED_FROM_CONTACTS).fetchall()]


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
    oyam = district_month_report(db, "Oyam", "2025-03", as_of=AS_OF)
    assert [(r.contacts, r.contacts_linked) for r in oyam] == [(3, 1)]  # A's three, one linked
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
    # Written and changed before any report looked: counted once, as it is now.
    add_contact(db, 7, "2025-03-20T08:00:00+00:00", m["B"], m["A"], None)
    db.execute("UPDATE contacts SET case_id = 1, placed_at = '2025-04-20T08:00:00Z' WHERE id = 7")
    kept_as_counted(db)
    # The last contact counted is deleted and its id given to the next one: that one counts.
    db.execute("DELETE FROM contacts WHERE id = 7")
    add_contact(db, 7, "2025-03-21T08:00:00+00:00", m["J"], m["A"], None)
    kept_as_counted(db)
    db.conn.commit()
    assert count_new_contacts(db) == 0  # nothing new since the last report


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
