"""The admin site's Texts page: the texts waiting for delivery and why, and those that
expired or failed lately, for the members each account may see; never a text's body."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils

from directory.lookup import Directory
from directory.member_list import MemberScope
from directory.text_queue_view import (
    QueueFilter,
    ended_query,
    queue_page,
    state_sql,
    waiting_ids_query,
)
from directory.texts import FAILED, NOTICE, TEXT, TextStore
from tests.unit.site_client import Browser, accounts, site

SECRET = "Zq7-child-at-Aboke"  # in every body: it must never be on the page
DELIVERY = re.compile(r'data-delivery="(\d+)"')


def member_id(directory: Directory, extension: str) -> int:
    found = directory.member_by_extension(extension)
    assert found is not None
    return found.id


class Texts:
    """Texts stored through TextStore as the relay stores them, each left in one state the
    relay leaves deliveries in; `ids[name]` is the delivery's id."""

    def __init__(self, db: sqlite_utils.Database, directory: Directory) -> None:
        self.db = db
        self.store = TextStore(db)
        self.directory = directory
        self.ids: dict[str, int] = {}
        self.now = datetime.now(UTC)

    def text(
        self,
        name: str,
        sender: str | None,
        recipient: str,
        body: str = "",
        kind: str = TEXT,
        expires_in: timedelta = timedelta(hours=72),
        by_sms: bool = False,
    ) -> int:
        _, (delivery,) = self.store.store(
            kind=kind,
            sender_id=member_id(self.directory, sender) if sender else None,
            addressed=recipient,
            body=body or f"{name}: {SECRET}",
            recipients=[member_id(self.directory, recipient)],
            expires_at=self.now + expires_in,
            by_sms=by_sms,
        )
        self.ids[name] = delivery
        return delivery

    def hold(self, recipient: str) -> None:
        """The recipient's phone did not take a text (MessageSend failed)."""
        self.store.hold(
            member_id(self.directory, recipient),
            "AMI: Could not send message",
            self.now + timedelta(seconds=60),
        )

    def stored_ago(self, name: str, ago: timedelta) -> None:
        stamp = (self.now - ago).isoformat(timespec="milliseconds")
        self.db.execute(
            "UPDATE texts SET created_at = ? WHERE id = "
            "(SELECT text_id FROM text_deliveries WHERE id = ?)",
            (stamp, self.ids[name]),
        )


@pytest.fixture
def texts(db: sqlite_utils.Database, directory: Directory) -> Texts:
    accounts(db)
    t = Texts(db, directory)
    # Oyam: 2002 and 2003 are in Grace's (2001) team, 2004-2007 are not.
    t.text("phone", "2004", "2002", body="Café ☕ visit at 3")  # 17 characters, 21 bytes
    t.hold("2002")
    t.text("by_sms", "2004", "2003", by_sms=True)
    t.text("held", "2002", "2004")
    t.store.retry_later(
        t.ids["held"], "sms: daily cap reached", t.now + timedelta(hours=9), notify=False
    )
    t.text("refused", "2002", "2005")
    t.store.sms_refused(t.ids["refused"], "number barred")
    t.text("new", "2002", "2006")
    t.text("expired", "2002", "2007", expires_in=-timedelta(hours=1))
    t.text("expired_long_ago", "2002", "2007", expires_in=-timedelta(days=9))
    t.store.expire_due(t.now)
    t.text("delivered", "2002", "2008")
    t.store.delivered([t.ids["delivered"]], "sip")
    # Jinja.
    t.text("off_for_days", "2012", "2011")
    t.hold("2011")
    t.stored_ago("off_for_days", timedelta(days=2))
    t.text("notice", None, "2011", kind=NOTICE)
    t.hold("2011")
    t.stored_ago("notice", timedelta(days=1))
    t.text("retrying", "2002", "2014")
    t.store.retry_later(t.ids["retrying"], "sms: gateway unreachable", t.now, notify=True)
    t.text("failed", "2011", "2012")
    t.store.fail(t.ids["failed"], FAILED, "no longer a member")
    return t


OYAM = {"phone", "by_sms", "held", "refused", "new", "expired"}
JINJA = {"off_for_days", "notice", "retrying", "failed"}
TEAM = {"phone", "by_sms"}  # Grace's team: 2002 and 2003


def shown(t: Texts, page: str) -> set[str]:
    names = {v: k for k, v in t.ids.items()}
    return {names[int(i)] for i in DELIVERY.findall(page)}


async def test_each_role_sees_exactly_the_texts_of_its_members(texts: Texts) -> None:
    async with site(texts.db) as client:
        b = Browser(client)
        for account, expected in (("nat", OYAM | JINJA), ("oyam", OYAM), ("jinja", JINJA)):
            await b.login(account)
            status, page = await b.get("/admin/texts")
            assert status == 200, page
            assert shown(texts, page) == expected, account
            assert 'href="/admin/texts"' in page  # the nav link
            await b.logout()
        await b.login("grace")
        status, page = await b.get("/admin/texts")
        assert status == 200 and shown(texts, page) == TEAM
        assert 'name="district"' not in page  # a team, not districts, is a supervisor's scope


async def test_the_body_is_never_shown_only_its_length(texts: Texts) -> None:
    async with site(texts.db) as client:
        b = Browser(client)
        for account in ("nat", "oyam", "jinja", "grace"):
            await b.login(account)
            for query in ("", "?state=phone", "?state=expired", "?state=failed", "?page=2"):
                status, page = await b.get(f"/admin/texts{query}")
                assert status == 200
                assert SECRET not in page and "Café" not in page and "visit at 3" not in page
            await b.logout()
        await b.login("oyam")
        _, page = await b.get("/admin/texts")
    row = _row(page, texts.ids["phone"])
    assert "17 characters" in row  # characters, not bytes
    assert f"{len('by_sms: ' + SECRET)} characters" in _row(page, texts.ids["by_sms"])


def _row(page: str, delivery: int) -> str:
    start = page.index(f'data-delivery="{delivery}"')
    return page[start : page.index("</tr>", start)]


async def test_states_are_shown_with_their_reasons(texts: Texts) -> None:
    async with site(texts.db) as client:
        b = Browser(client)
        await b.login("nat")
        _, page = await b.get("/admin/texts")
    ids = texts.ids
    row = _row(page, ids["phone"])
    assert "phone not registered" in row and "AMI: Could not send message" in row
    assert "by SMS from" in row and "Okello Denis (2002)" in row and "Sgt. Opio James (2004)" in row
    assert "Oyam" in row and ">1<" in row  # one try
    row = _row(page, ids["off_for_days"])
    assert "waiting for the SMS fallback" in row and "waiting 2 d 0 h" in row
    row = _row(page, ids["notice"])  # the CUG's notices never go by SMS
    assert "phone not registered" in row and "it waits for the phone" in row and "CUG notice" in row
    row = _row(page, ids["held"])
    assert "held: daily SMS cap" in row and "today&#39;s cap" in row
    row = _row(page, ids["refused"])
    assert "SMS refused by the gateway" in row and "sms refused: number barred" in row
    row = _row(page, ids["retrying"])
    assert "by SMS" in row and "tried again at" in row and "sms: gateway unreachable" in row
    row = _row(page, ids["by_sms"])
    assert "came by SMS" in row
    assert "not tried yet" in _row(page, ids["new"])
    row = _row(page, ids["expired"])
    assert "expired" in row and "before it expired" in row
    assert "no longer a member" in _row(page, ids["failed"])
    # The expired long ago and the delivered are not on the page.
    assert f'data-delivery="{ids["expired_long_ago"]}"' not in page
    assert f'data-delivery="{ids["delivered"]}"' not in page


async def test_the_summary_counts_what_the_account_may_see(texts: Texts) -> None:
    def summary(page: str) -> list[str]:
        found = re.search(r'<dl class="facts" aria-label="Summary">(.*?)</dl>', page, re.S)
        assert found
        return re.findall(r"<dd>(\d+)</dd>", found.group(1))

    async with site(texts.db) as client:
        b = Browser(client)
        await b.login("oyam")
        # waiting, for the phone (phone, refused, new), by SMS (by_sms, held), ended.
        assert summary((await b.get("/admin/texts"))[1]) == ["5", "3", "2", "1"]
        await b.logout()
        await b.login("nat")
        assert summary((await b.get("/admin/texts"))[1]) == ["8", "4", "4", "2"]
        assert summary((await b.get("/admin/texts?district=Jinja"))[1]) == ["3", "1", "2", "1"]
        await b.logout()
        await b.login("grace")
        assert summary((await b.get("/admin/texts"))[1]) == ["2", "1", "1", "0"]


async def test_another_districts_rows_are_refused_or_none(texts: Texts) -> None:
    async with site(texts.db) as client:
        b = Browser(client)
        await b.login("oyam")
        assert (await b.get("/admin/texts?district=Jinja"))[0] == 403
        assert (await b.get("/admin/texts?district=jinja&state=failed"))[0] == 403
        status, page = await b.get("/admin/texts?district=Oyam")
        assert status == 200 and shown(texts, page) == OYAM
        await b.logout()
        await b.login("grace")
        status, page = await b.get("/admin/texts?district=Jinja")
        assert status == 200 and shown(texts, page) == set()
        await b.logout()
        await b.login("nat")
        status, page = await b.get("/admin/texts?district=Jinja")
        assert status == 200 and shown(texts, page) == JINJA


async def test_the_state_filter(texts: Texts) -> None:
    async with site(texts.db) as client:
        b = Browser(client)
        await b.login("nat")
        for state, expected in (
            ("held", {"held"}),
            ("sms_due", {"off_for_days"}),
            ("phone", {"phone", "notice"}),
            ("sms", {"by_sms", "retrying"}),
            ("expired", {"expired"}),
            ("failed", {"failed"}),
        ):
            status, page = await b.get(f"/admin/texts?state={state}")
            assert status == 200 and shown(texts, page) == expected, state
        status, page = await b.get("/admin/texts?state=wizard")  # unknown: every state
        assert status == 200 and shown(texts, page) == OYAM | JINJA


async def test_pages_of_fifty(texts: Texts) -> None:
    many = [texts.text(f"many{n}", "2012", "2014") for n in range(60)]
    async with site(texts.db) as client:
        b = Browser(client)
        await b.login("jinja")
        status, first = await b.get("/admin/texts")
        assert status == 200 and "page 1 of 2" in first
        assert "page=2" in first
        _, second = await b.get("/admin/texts?page=2")
        one, two = DELIVERY.findall(first), DELIVERY.findall(second)
        # The ended (failed) one is on both pages, after the waiting ones.
        ended = str(texts.ids["failed"])
        assert one[-1] == ended and two[-1] == ended
        one, two = one[:-1], two[:-1]
        assert len(one) == 50 and len(two) == 13 and not set(one) & set(two)
        jinja_waiting = {texts.ids[n] for n in JINJA - {"failed"}} | set(many)
        assert {int(i) for i in one + two} == jinja_waiting
        # Per recipient, oldest first: 2014's texts in the order they were stored.
        of_2014 = [int(i) for i in one + two if int(i) in set(many) | {texts.ids["retrying"]}]
        assert of_2014 == sorted(of_2014)
        status, page = await b.get("/admin/texts?page=99")
        assert status == 200 and DELIVERY.findall(page) == [ended]


async def test_viewing_changes_nothing(texts: Texts) -> None:
    def snapshot() -> list[tuple]:
        return texts.db.execute(
            "SELECT * FROM text_deliveries d JOIN texts t ON t.id = d.text_id ORDER BY d.id"
        ).fetchall()

    before = snapshot()
    async with site(texts.db) as client:
        b = Browser(client)
        await b.login("nat")
        assert (await b.get("/admin/texts?state=phone&page=1"))[0] == 200
        assert (await b.post("/admin/texts", {}))[0] == 405
    assert snapshot() == before
    actions = texts.db.execute("SELECT DISTINCT action FROM audit WHERE actor = 'admin:nat'")
    assert {r[0] for r in actions} == {"admin.login"}


@pytest.mark.parametrize(
    "scope",
    [
        MemberScope(),
        MemberScope(districts=("Oyam",)),
        MemberScope(districts=("Oyam", "Jinja")),
        MemberScope(team=frozenset({1, 2, 3})),
    ],
)
@pytest.mark.parametrize("state", [None, "held", "sms_due"])
def test_pages_are_read_in_index_order_without_a_sort(
    texts: Texts, scope: MemberScope, state: str | None
) -> None:
    """A page of 100,000 waiting deliveries is read from the waiting index in its order:
    no sort of the queue (no temporary B-tree), and the table itself is not read for ids."""
    at = datetime.now(UTC)
    for district in (None, "Oyam"):
        f = QueueFilter(district=district, state=state)
        sql, params = waiting_ids_query(scope, f, state_sql(at, timedelta(minutes=2)), 50, 5000)
        plan = [r[-1] for r in texts.db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
        assert not any("TEMP B-TREE" in step for step in plan), plan
        assert any("COVERING INDEX idx_text_deliveries_waiting" in step for step in plan), plan
    sql, params = ended_query(scope, QueueFilter(), at, 50, 0)
    plan = [r[-1] for r in texts.db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    assert any("INDEX idx_text_deliveries_ended (expires_at>?)" in step for step in plan), plan


def test_a_deep_page_of_100000_waiting_texts_holds_the_right_rows(
    db: sqlite_utils.Database, directory: Directory
) -> None:
    """100,000 waiting deliveries, half of them Oyam's: a page deep in the queue holds that
    page's rows and the counts are whole (how long it takes: bench/bench_text_queue.py)."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    later = (datetime.now(UTC) + timedelta(hours=72)).isoformat(timespec="milliseconds")
    ids = [member_id(directory, e) for e in ("2002", "2003", "2012", "2014")]
    with db.conn:
        db.conn.executemany(
            "INSERT INTO texts (id, kind, sender_member_id, addressed, team, body, created_at) "
            "VALUES (?, 'text', ?, '2002', '', ?, ?)",
            [(n, ids[0], f"{SECRET} {n}", stamp) for n in range(1, 100_001)],
        )
        db.conn.executemany(
            "INSERT INTO text_deliveries (text_id, recipient_member_id, status, "
            "next_attempt_at, expires_at, attempts, last_error) VALUES (?, ?, 'queued', ?, ?, "
            "1, 'AMI: Could not send message')",
            [(n, ids[n % 4], stamp, later) for n in range(1, 100_001)],
        )
    view = queue_page(db, MemberScope(districts=("Oyam",)), QueueFilter(), None, page=900)
    assert view.summary.waiting == 50_000 and view.waiting_total == 50_000
    assert len(view.waiting) == 50 and {r.recipient_extension for r in view.waiting} == {"2003"}


def test_without_an_sms_gateway_texts_wait_for_the_phone(texts: Texts) -> None:
    from web.pages_texts import why

    scope = MemberScope(districts=("Jinja",))
    view = queue_page(texts.db, scope, QueueFilter(), None)
    states = {r.delivery_id: r.state for r in view.waiting}
    assert states[texts.ids["off_for_days"]] == "phone"
    assert view.summary.states["sms_due"] == 0
    row = next(r for r in view.waiting if r.delivery_id == texts.ids["off_for_days"])
    assert why(row, None).endswith("it waits for the phone")


def test_the_migration_indexes_an_existing_directory() -> None:
    from directory.schema import migrations

    db = sqlite_utils.Database(memory=True)
    migrations.apply(db, stop_before="0021_text_queue_view")
    assert "idx_text_deliveries_waiting" not in {i.name for i in db["text_deliveries"].indexes}
    migrations.apply(db)
    names = {i.name for i in db["text_deliveries"].indexes}
    assert {"idx_text_deliveries_waiting", "idx_text_deliveries_ended"} <= names
