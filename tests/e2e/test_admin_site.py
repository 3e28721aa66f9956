"""The admin site in a real Chromium (Debian's, driven by Playwright) against the real
`cug serve` and Asterisk: an admin logs in, adds a member, and a SIPp phone registers with the
credentials the page showed and calls another member; a CSV with bad rows shows each line and
imports nothing; a district admin is refused another district's member; the live view shows a
call and a conference in progress. Screenshots of the pages are kept in the test's tmp folder
(screens/)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conference_phones import join
from tests.e2e.harness import REPO, CallResult, Pbx, Phone

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "national admin password"


def cug_admin(pbx: Pbx, *args: str, password: str = PASSWORD) -> None:
    """`cug admin ...` with the password on stdin, as an installer scripts it."""
    proc = subprocess.run(
        [sys.executable, "-m", "cug.cli", "admin", *args, "--password-stdin"],
        input=password + "\n",
        capture_output=True,
        text=True,
        env=pbx.env,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def admins(pbx: Pbx) -> Pbx:
    cug_admin(pbx, "create", "e2e-nat")
    cug_admin(pbx, "create", "e2e-jinja", "--role", "district", "--district", "Jinja")
    return pbx


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def screens(tmp_path: Path) -> Path:
    folder = tmp_path / "screens"
    folder.mkdir()
    return folder


def log_in(browser: Browser, pbx: Pbx, username: str, password: str = PASSWORD) -> Page:
    page = browser.new_page(viewport={"width": 800, "height": 900})
    page.goto(f"http://127.0.0.1:{pbx.http_port}/admin/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    return page


def fill_new_member(page: Page, name: str, phone: str, extension: str) -> None:
    """Open the form from the member list and fill it in: a community development officer of
    Oyam (a role no short code or chain of the other end-to-end tests rings)."""
    page.get_by_role("link", name="Add a member").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Phone", exact=True).fill(phone)
    page.get_by_label("Role").select_option("cdo")
    page.get_by_label("District").select_option("Oyam")
    page.get_by_label("Extension").fill(extension)


def add_member(pbx: Pbx, page: Page, name: str, phone: str, extension: str) -> str:
    """Add a member on the site; the SIP password the page shows once, when the service has
    written it for Asterisk."""
    fill_new_member(page, name, phone, extension)
    page.get_by_role("button", name="Add").click()
    secret = page.locator("#sip-password").inner_text().strip()
    pbx.wait_endpoint_row("ps_auths", extension, lambda r: r and r["password"] == secret)
    return secret


def test_admin_adds_a_member_whose_phone_registers_and_calls(
    admins: Pbx, browser: Browser, screens: Path
) -> None:
    pbx = admins
    page = log_in(browser, pbx, "e2e-nat")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.screenshot(path=screens / "members.png", full_page=True)
    fill_new_member(page, 'Browser <script>alert("x")</script> Added', "0772 200 077", "3077")
    page.screenshot(path=screens / "member-form.png", full_page=True)
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("heading")).to_contain_text('<script>alert("x")</script>')
    username = page.locator("#sip-username").inner_text().strip()
    password = page.locator("#sip-password").inner_text().strip()
    page.screenshot(path=screens / "member-added.png", full_page=True)
    assert username == "3077" and len(password) >= 20
    # The service writes the new member's realtime rows; the phone registers with what the
    # page showed, then calls a colleague through the real Asterisk.
    pbx.wait_endpoint_row("ps_auths", "3077", lambda r: r and r["password"] == password)
    phone = Phone(pbx, username, password)
    assert phone.register() == 200
    ben = pbx.phone("3003")
    assert ben.register() == 200
    mark = pbx.ami.mark()
    with ben.listening():
        result = phone.call("3003")
    assert result.code == 200, result.received()
    pbx.ami.wait_for(mark, "DialEnd", lambda e: e.get("DialStatus") == "ANSWER")
    # The list shows the name as text, found by a search as it is typed (htmx swaps the
    # table in; the address follows); nothing the page runs breaks the site's CSP.
    page.goto(f"http://127.0.0.1:{pbx.http_port}/admin/members")
    page.get_by_label("Search").fill("3077")
    expect(page.locator("td", has_text="Browser <script>")).to_be_visible()
    expect(page.locator("#member-table")).to_contain_text("1 member")
    page.wait_for_url("**/admin/members?q=3077*")
    page.screenshot(path=screens / "members-search.png", full_page=True)
    assert problems == []
    page.close()


def test_a_csv_with_bad_rows_shows_each_line_and_imports_nothing(
    admins: Pbx, browser: Browser, screens: Path, tmp_path: Path
) -> None:
    pbx = admins
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "name,phone,role,district,supervisor_phone\n"
        "Fine Person,0772200081,psw,Oyam,\n"
        "No Phone,,psw,Oyam,\n"
        "Odd Role,0772200083,wizard,Oyam,\n"
    )
    before = pbx.db().execute("SELECT count(*) FROM members").fetchone()[0]
    page = log_in(browser, pbx, "e2e-nat")
    page.get_by_role("link", name="Import a CSV file").click()
    page.get_by_label("CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("2 bad row(s)")
    expect(alert).to_contain_text("phone is missing")
    expect(alert).to_contain_text("unknown role 'wizard'")
    expect(alert.locator("td").first).to_have_text("3")
    page.screenshot(path=screens / "import-refused.png", full_page=True)
    assert pbx.db().execute("SELECT count(*) FROM members").fetchone()[0] == before
    page.close()


def test_a_district_admin_is_refused_another_districts_member(
    admins: Pbx, browser: Browser, screens: Path
) -> None:
    pbx = admins
    page = log_in(browser, pbx, "e2e-jinja")
    expect(page.locator("td", has_text="Police Jinja")).to_be_visible()
    expect(page.locator("td", has_text="Worker Ben")).to_have_count(0)
    response = page.goto(f"http://127.0.0.1:{pbx.http_port}/admin/members/3003")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading")).to_contain_text("may not see or do this")
    page.screenshot(path=screens / "refused.png", full_page=True)
    api = page.request.get(f"http://127.0.0.1:{pbx.http_port}/api/v1/members/3003")
    assert api.status == 403
    page.close()


def test_the_live_view_shows_a_call_in_progress(
    admins: Pbx, browser: Browser, screens: Path
) -> None:
    pbx = admins
    anna, ben = pbx.phone("3002"), pbx.phone("3003")
    assert anna.register() == 200 and ben.register() == 200
    page = log_in(browser, pbx, "e2e-nat")
    results: list[CallResult] = []
    mark = pbx.ami.mark()
    with ben.listening():
        call = threading.Thread(target=lambda: results.append(anna.call("3003", talk_ms=8000)))
        call.start()
        pbx.ami.wait_for(mark, "DialEnd", lambda e: e.get("DialStatus") == "ANSWER")
        page.get_by_role("link", name="Live").click()
        expect(page.locator("#ami-state")).to_contain_text("AMI link up")
        calls = page.locator("#live-calls")
        expect(calls).to_contain_text("Worker Anna")
        expect(calls).to_contain_text("Up")
        expect(page.locator("#live-phones")).to_contain_text("3003")
        page.screenshot(path=screens / "live.png", full_page=True)
        # A member added on the site while the call is up: written for Asterisk at once,
        # and the call goes on.
        other = log_in(browser, pbx, "e2e-nat")
        add_member(pbx, other, "During The Call", "0772200079", "3079")
        other.close()
        call.join(timeout=30)
    # The call that was up during the change ended normally: answered, then BYE and 200 OK.
    assert results and results[0].code == 200 and results[0].returncode == 0
    # Refreshed in place: once the call ended, the panel says so without a reload.
    expect(page.locator("#live-calls")).to_contain_text("No calls.", timeout=15_000)
    # The same service's /metrics: the AMI link, the call's FastAGI decision, the phones.
    secret = pbx.settings()["metrics"]["secret"]
    metrics = page.request.get(f"http://metrics:{secret}@127.0.0.1:{pbx.http_port}/metrics").text()
    assert "cug_ami_up 1.0" in metrics
    assert 'cug_fastagi_decision_seconds_count{route="member-call"}' in metrics
    assert "cug_registered_phones " in metrics
    page.close()


def test_every_page_renders_under_the_csp(admins: Pbx, browser: Browser, screens: Path) -> None:
    """Each page of the site opens from the menu, with nothing the browser refuses (the
    Content-Security-Policy allows no inline script or style); a screenshot of each."""
    pbx = admins
    page = log_in(browser, pbx, "e2e-nat")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    for link, heading in (
        ("Cases", "Cases"),
        ("Figures", "Figures per district and month"),
        ("Short codes", "Short codes"),
        ("Chains", "Escalation chains"),
        ("Bridges", "Conference bridges"),
        ("Texts", "Texts waiting for delivery"),
        ("Audit", "Audit trail"),
        ("Accounts", "Admin accounts"),
        ("My password", "My password"),
        ("Members", "Members"),
    ):
        page.get_by_role("link", name=link, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        page.screenshot(path=screens / f"{link.lower().replace(' ', '-')}.png", full_page=True)
    assert problems == []
    # On a phone's screen: the member list still reads (the district column gives way).
    page.set_viewport_size({"width": 360, "height": 740})
    page.get_by_role("link", name="Members", exact=True).click()
    expect(page.locator("th.wide").first).to_be_hidden()
    page.screenshot(path=screens / "members-small-screen.png", full_page=True)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.close()


def test_a_new_password_and_a_deactivation_reach_asterisk(
    admins: Pbx, browser: Browser, screens: Path
) -> None:
    pbx = admins
    page = log_in(browser, pbx, "e2e-nat")
    first = add_member(pbx, page, "Short Stay", "0772200078", "3078")
    assert Phone(pbx, "3078", first).register() == 200
    page.get_by_role("link", name="Back to Short Stay").click()
    page.get_by_role("button", name="New SIP password").click()
    second = page.locator("#sip-password").inner_text().strip()
    assert second != first
    pbx.wait_endpoint_row("ps_auths", "3078", lambda r: r and r["password"] == second)
    assert Phone(pbx, "3078", first).register() == 401
    assert Phone(pbx, "3078", second).register() == 200
    page.get_by_role("link", name="Back to Short Stay").click()
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("status")).to_contain_text("Short Stay deactivated")
    page.screenshot(path=screens / "member-deactivated.png", full_page=True)
    pbx.wait_endpoint_row("ps_auths", "3078", lambda r: r is None)
    assert Phone(pbx, "3078", second).register() == 401
    page.close()


def test_the_live_view_shows_a_conference_in_progress(
    admins: Pbx, browser: Browser, screens: Path
) -> None:
    """What ConfbridgeListRooms and ConfbridgeList say of a bridge Anna is in, as the page
    shows it, and nothing once she has left."""
    pbx = admins
    code = "152"  # a code no other test module dials
    out = pbx.cug(
        "conference", "add-bridge", "--code", code, "--district", "Oyam", "--label", "Live"
    ).stdout
    name = f"cug-bridge-{int(out.split()[1])}"
    page = log_in(browser, pbx, "e2e-nat")
    mark = pbx.ami.mark()
    anna = join(pbx.phone("3002"), code, hold_ms=12000)
    try:
        pbx.ami.wait_for(mark, "ConfbridgeJoin", lambda e: e.get("Conference") == name, 15)
        page.get_by_role("link", name="Live").click()
        conferences = page.locator("#live-conferences")
        expect(conferences).to_contain_text(name)
        expect(conferences).to_contain_text("Worker Anna (3002)")
        page.screenshot(path=screens / "live-conference.png", full_page=True)
        anna.wait(timeout=30)
        # Refreshed in place: once she has left, the bridge is gone from the page.
        expect(conferences).to_contain_text("No conferences.", timeout=15_000)
    finally:
        if anna.running():
            anna.hang_up_now()
        pbx.cug("directory", "short-codes", "remove", code, check=False)
    page.close()
