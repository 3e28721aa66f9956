"""Conference bridges on the real Asterisk with SIPp members: what ConfBridge did is read from
AMI (ConfbridgeJoin / ConfbridgeLeave / ConfbridgeEnd), not from what the service believed."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from directory.bridges import BridgeStore
from tests.e2e.conference_phones import join, registered
from tests.e2e.harness import Pbx, Phone, messages

pytestmark = pytest.mark.e2e

CODE = "150"  # codes no other test module dials (they share the install)


@pytest.fixture(scope="module")
def bridge(pbx: Pbx) -> Iterator[int]:
    """Oyam's standing bridge on short code 105, led by Oyam's supervisors (Sarah, 3001)."""
    out = pbx.cug(
        "conference", "add-bridge", "--code", CODE, "--district", "Oyam", "--label", "Oyam bridge"
    ).stdout
    bridge_id = int(out.split()[1])
    yield bridge_id
    pbx.cug("directory", "short-codes", "remove", CODE, check=False)


def who(pbx: Pbx, ext: str) -> str:
    return f"CUG_CONF_MEMBER={pbx.member_id(ext)}"


def joined(pbx: Pbx, mark: int, ext: str, timeout: float = 15) -> dict[str, str]:
    return pbx.ami.wait_for(
        mark, "ConfbridgeJoin", lambda e: e.get("ChanVariable") == who(pbx, ext), timeout
    )


def test_members_wait_for_the_leader_and_the_bridge_ends_when_the_leader_leaves(
    pbx: Pbx, bridge: int
) -> None:
    mark = pbx.ami.mark()
    anna = join(pbx.phone("3002"), CODE, hold_ms=30000)
    ben = join(pbx.phone("3003"), CODE, hold_ms=30000)
    try:
        first = joined(pbx, mark, "3002")
        joined(pbx, mark, "3003")
        assert first["Conference"] == f"cug-bridge-{bridge}"
        assert first["Admin"] == "No"
        # No leader yet: they wait with hold music (and nobody has left).
        pbx.ami.wait_for(
            mark, "MusicOnHoldStart", lambda e: e.get("ChanVariable") == who(pbx, "3002")
        )
        assert pbx.ami.since(mark, "ConfbridgeLeave") == []
        leader_mark = pbx.ami.mark()
        sarah = join(pbx.phone("3001"), CODE, hold_ms=4000)
        lead = joined(pbx, leader_mark, "3001")
        assert lead["Admin"] == "Yes"
        sarah.wait()
        # The leader left: the bridge ends for all, Asterisk hangs up on the others.
        pbx.ami.wait_for(leader_mark, "ConfbridgeEnd", timeout=10)
        anna.wait(timeout=15)
        ben.wait(timeout=15)
    finally:
        for phone in (anna, ben):
            if phone.running():
                phone.hang_up_now()
    assert anna.code == ben.code == sarah.code == 200
    assert anna.ended_by_asterisk and ben.ended_by_asterisk
    assert not sarah.ended_by_asterisk
    left = {e.get("ChanVariable") for e in pbx.ami.since(mark, "ConfbridgeLeave")}
    assert left == {who(pbx, "3001"), who(pbx, "3002"), who(pbx, "3003")}


def test_another_districts_member_needs_the_pin_and_is_locked_out_after_wrong_ones(
    pbx: Pbx, bridge: int
) -> None:
    jinja_police = pbx.phone("3008")
    mark = pbx.ami.mark()
    # No PIN on the bridge: closed to other districts, refused before it is answered.
    assert jinja_police.call(CODE).code == 403
    db = pbx.db()
    try:
        BridgeStore(db).set_pin(bridge, "2468", "test")
    finally:
        db.close()
    inside = join(jinja_police, CODE, hold_ms=3000, keys="2468#")
    event = joined(pbx, mark, "3008")
    assert event["Admin"] == "No"
    inside.wait()
    assert inside.code == 200 and not inside.ended_by_asterisk
    # A wrong PIN, then nothing twice (each a wrong try): locked out, the call ended.
    mark = pbx.ami.mark()
    guessing = join(jinja_police, CODE, hold_ms=40000, keys="1111#").wait(timeout=60)
    assert guessing.code == 200 and guessing.ended_by_asterisk
    assert [e for e in pbx.ami.since(mark, "ConfbridgeJoin")] == []
    # Locked: even the right PIN is not asked for, the next call is refused at once.
    assert jinja_police.call(CODE).code == 403
    rows = pbx.wait_contacts("dialed = ? AND refusal = ?", (CODE, "bridge_pin_locked"))
    assert rows[-1]["caller_member_id"] == pbx.member_id("3008")
    db = pbx.db()
    try:
        db.execute("DELETE FROM bridge_pin_failures")
        db.conn.commit()
    finally:
        db.close()


def test_a_non_member_never_joins(pbx: Pbx, bridge: int) -> None:
    mark = pbx.ami.mark()
    stranger = Phone(pbx, "3002", "not-the-password")
    assert stranger.call(CODE).code == 401
    nobody = Phone(pbx, "7777", "whatever-it-is")
    assert nobody.call(CODE).code == 401
    time.sleep(1)
    assert pbx.ami.since(mark, "ConfbridgeJoin") == []


def participations(pbx: Pbx, bridge: int, since_id: int) -> list[dict]:
    return pbx.contacts(
        "kind = 'conference' AND dialed = ? AND id > ?", (f"cug-bridge-{bridge}", since_id)
    )


def last_contact_id(pbx: Pbx) -> int:
    rows = pbx.contacts("1 = 1")
    return rows[-1]["id"] if rows else 0


def test_every_participation_is_logged_and_the_list_comes_from_asterisk(
    pbx: Pbx, bridge: int
) -> None:
    before = last_contact_id(pbx)
    mark = pbx.ami.mark()
    anna = join(pbx.phone("3002"), CODE, hold_ms=40000)
    ben = None
    try:
        joined(pbx, mark, "3002")
        listed = json.loads(pbx.cug("conference", "list", "--json").stdout)
        assert [c["name"] for c in listed] == [f"cug-bridge-{bridge}"]
        (entry,) = listed[0]["participants"]
        assert entry["member_id"] == pbx.member_id("3002") and entry["waiting"]
        assert "Worker Anna (3002)" in pbx.cug("conference", "list").stdout
        # Logged live, while Anna is still in: joined, not yet left.
        (row,) = pbx.wait_contacts(
            "kind = 'conference' AND id > ? AND caller_member_id = ?",
            (before, pbx.member_id("3002")),
        )
        assert row["ended_at"] is None and row["outcome"] == "answered"
        ben = join(pbx.phone("3003"), CODE, hold_ms=8000)
        joined(pbx, mark, "3003")
        # The service stops; Asterisk holds the conference, Ben leaves meanwhile.
        pbx.stop_service()
        pbx.ami.wait_for(
            mark, "ConfbridgeLeave", lambda e: e.get("ChanVariable") == who(pbx, "3003"), 20
        )
        pbx.start_service(reinstall=False)
        # Ben's leave was missed: taken from his call's CDR when the service is back.
        pbx.wait_contacts(
            "kind = 'conference' AND id > ? AND caller_member_id = ? AND ended_at IS NOT NULL",
            (before, pbx.member_id("3003")),
        )
        assert anna.running()
        left = pbx.ami.since(mark, "ConfbridgeLeave")
        assert [e.get("ChanVariable") for e in left] == [who(pbx, "3003")]  # Anna stayed
        leader_mark = pbx.ami.mark()
        sarah = join(pbx.phone("3001"), CODE, hold_ms=3000)
        joined(pbx, leader_mark, "3001")
        sarah.wait()
        anna.wait(timeout=15)
        ben.wait(timeout=15)
    finally:
        for phone in (anna, ben):
            if phone is not None and phone.running():
                phone.hang_up_now()
    deadline = time.monotonic() + 20
    rows: list[dict] = []
    while time.monotonic() < deadline:
        rows = participations(pbx, bridge, before)
        if len(rows) == 3 and all(r["ended_at"] for r in rows):
            break
        time.sleep(0.3)
    by_member = {r["caller_member_id"]: r for r in rows}
    assert set(by_member) == {pbx.member_id(x) for x in ("3001", "3002", "3003")}, rows
    for r in rows:
        assert r["placed_at"] and r["ended_at"] and r["placed_at"] <= r["ended_at"]
    assert json.loads(pbx.cug("conference", "list", "--json").stdout) == []


def test_every_district_and_supervisor_has_a_bridge_on_the_same_codes(pbx: Pbx) -> None:
    """110 is the caller's district's bridge, 111 their team's (their supervisor's): nobody
    had to make them, and each caller reaches their own."""
    mark = pbx.ami.mark()
    anna = join(pbx.phone("3002"), "110", hold_ms=30000)
    police = ben = sarah = None
    try:
        waiting = joined(pbx, mark, "3002")
        assert waiting["Admin"] == "No"
        oyam = waiting["Conference"]
        # Jinja's police officer dialing the same code is in Jinja's bridge.
        police = join(pbx.phone("3008"), "110", hold_ms=3000)
        assert joined(pbx, mark, "3008")["Conference"] != oyam
        # Ben's 111 is Sarah's team bridge: another conference.
        ben = join(pbx.phone("3003"), "111", hold_ms=3000)
        team = joined(pbx, mark, "3003")["Conference"]
        assert team != oyam
        # Sarah, Oyam's supervisor, leads her district's bridge; when she leaves it ends.
        sarah = join(pbx.phone("3001"), "110", hold_ms=4000)
        lead = joined(pbx, mark, "3001")
        assert (lead["Conference"], lead["Admin"]) == (oyam, "Yes")
        sarah.wait()
        anna.wait(timeout=15)
        assert anna.ended_by_asterisk
    finally:
        for phone in (anna, police, ben, sarah):
            if phone is not None and phone.running():
                phone.hang_up_now()
    listed = pbx.cug("conference", "bridges").stdout
    assert "Oyam district bridge" in listed and "Jinja district bridge" in listed
    assert "Supervisor Sarah's team bridge" in listed
    # A member with no supervisor has no team bridge: refused before it is answered, logged.
    assert pbx.phone("3006").call("111").code == 403
    (refused,) = pbx.wait_contacts(
        "dialed = '111' AND caller_member_id = ?", (pbx.member_id("3006"),)
    )
    assert refused["refusal"] == "bridge_no_supervisor"


CONFERENCE_CODE = "159"
SMALL_CODE = "151"
KEY_MS = 8500  # the announcement ("call from 3001, you are entering conference number 12")


@pytest.fixture(scope="module")
def conference_code(pbx: Pbx) -> Iterator[str]:
    pbx.cug(
        "directory",
        "short-codes",
        "add",
        CONFERENCE_CODE,
        "--kind",
        "conference",
        "--label",
        "Case conference",
    )
    yield CONFERENCE_CODE
    pbx.cug("directory", "short-codes", "remove", CONFERENCE_CODE, check=False)


def open_case(pbx: Pbx, category: str, worker: str) -> int:
    out = pbx.cug(
        "case", "open", "--district", "Oyam", "--category", category, "--assign", worker
    ).stdout
    return int(out.split()[1])


def pulled_in(pbx: Pbx, mark: int) -> list[str]:
    """The extensions the service called in (cug-leg Local channels), once per try."""
    return [
        e["Channel"].split("/")[1].split("-")[0]
        for e in pbx.ami.since(mark, "Newchannel")
        if e.get("Channel", "").startswith("Local/")
        and "@cug-leg-" in e["Channel"]
        and e["Channel"].endswith(";1")
    ]


def test_a_supervisors_code_pulls_in_exactly_the_case_people_and_logs_a_no_answer(
    pbx: Pbx, bridge: int, conference_code: str
) -> None:
    case = open_case(pbx, "sexual_abuse", "3002")  # Anna; her supervisor is Sarah
    anna, police, health = pbx.phone("3002"), pbx.phone("3004"), pbx.phone("3005")
    before = last_contact_id(pbx)
    mark = pbx.ami.mark()
    with (
        registered(anna, police, health),
        anna.behaving("key", key_ms=KEY_MS),
        police.behaving("key", key_ms=KEY_MS),
        health.behaving("ignore") as health_trace,
    ):
        sarah = join(pbx.phone("3001"), f"*{case}*{conference_code}", hold_ms=45000)
        try:
            lead = joined(pbx, mark, "3001")
            assert lead["Conference"] == f"cug-case-{case}" and lead["Admin"] == "Yes"
            sarah_id = pbx.member_id("3001")
            for ext in ("3002", "3004"):
                event = pbx.ami.wait_for(
                    mark,
                    "ConfbridgeJoin",
                    lambda e, x=ext: (
                        e.get("ChanVariable") == f"CUG_CONF_MEMBER={pbx.member_id(x)}-{sarah_id}"
                    ),
                    timeout=40,
                )
                assert event["Conference"] == f"cug-case-{case}" and event["Admin"] == "No"
            # Health did not answer: tried once more, then logged and Sarah told.
            rows = pbx.wait_contacts(
                "kind = 'conference' AND case_id = ? AND outcome != 'answered'",
                (case,),
                timeout=60,
            )
        finally:
            if sarah.running():
                sarah.hang_up_now()
            pbx.cli(f"confbridge kick cug-case-{case} all")
    assert health_trace.exists()
    # Exactly the people the case calls for: the worker, police and health of Oyam (the
    # starter is on the line; Oyam has no probation officer), health twice.
    assert sorted(pulled_in(pbx, mark)) == ["3002", "3004", "3005", "3005"]
    (missed,) = rows
    assert missed["caller_member_id"] == pbx.member_id("3005")
    assert missed["callee_member_id"] == sarah_id and missed["outcome"] == "no_answer"
    db = pbx.db()
    try:
        notices = [
            r[0]
            for r in db.execute(
                "SELECT t.body FROM texts t JOIN text_deliveries d ON d.text_id = t.id "
                "WHERE d.recipient_member_id = ?",
                (sarah_id,),
            )
        ]
    finally:
        db.close()
    assert any("Health Oyam (3005) did not answer" in (n or "") for n in notices), notices
    joined_rows = pbx.wait_contacts(
        "kind = 'conference' AND case_id = ? AND outcome = 'answered' AND id > ?",
        (case, before),
        count=3,
    )
    assert {r["caller_member_id"] for r in joined_rows} == {
        pbx.member_id(x) for x in ("3001", "3002", "3004")
    }
    shown = pbx.cug("case", "show", str(case)).stdout
    line = next(x for x in shown.splitlines() if "case conference" in x)
    for who_took_part in ("Supervisor Sarah (3001)", "Worker Anna (3002)", "Police Oyam (3004)"):
        assert who_took_part in line
    assert line.endswith("Health Oyam (3005) did not answer")


def test_a_bad_case_conference_is_refused_and_calls_nobody(pbx: Pbx, conference_code: str) -> None:
    case = open_case(pbx, "neglect", "3003")
    mark = pbx.ami.mark()
    sarah, anna = pbx.phone("3001"), pbx.phone("3002")
    assert sarah.call(f"*99999*{conference_code}").code == 403  # no such case
    assert sarah.call(conference_code).code == 403  # no case keyed in
    assert anna.call(f"*{case}*{conference_code}").code == 403  # a worker does not lead
    pbx.cug("case", "close", str(case), "--reason", "resolved")
    assert sarah.call(f"*{case}*{conference_code}").code == 403  # closed
    time.sleep(1)
    assert pulled_in(pbx, mark) == []
    assert pbx.ami.since(mark, "ConfbridgeJoin") == []
    refusals = [
        r["refusal"] for r in pbx.contacts("dialed = ? AND refusal != ''", (conference_code,))
    ]
    assert {"unknown_case", "conference_no_case", "conference_not_a_leader", "closed_case"} <= set(
        refusals
    )


def test_started_from_the_cli_the_leader_is_called_first_and_an_invite_adds_one_more(
    pbx: Pbx,
) -> None:
    case = open_case(pbx, "neglect", "3003")  # Ben; Oyam has no probation officer
    sarah, ben, dac = pbx.phone("3001"), pbx.phone("3003"), pbx.phone("3010")
    mark = pbx.ami.mark()
    with (
        registered(sarah, ben, dac),
        sarah.behaving("key", key_ms=KEY_MS),
        ben.behaving("key", key_ms=KEY_MS),
        dac.behaving("key", key_ms=KEY_MS),
    ):
        try:
            out = pbx.cug("conference", "start", str(case)).stdout
            assert "Supervisor Sarah (3001, supervisor) (leads it)" in out
            # Started twice: one conference, nobody called twice.
            again = pbx.cug("conference", "start", str(case)).stdout
            assert "0 to call" in again
            lead = pbx.ami.wait_for(
                mark, "ConfbridgeJoin", lambda e: e.get("ChanVariable") == who(pbx, "3001"), 40
            )
            assert lead["Admin"] == "Yes" and lead["Conference"] == f"cug-case-{case}"
            joined(pbx, mark, "3003", timeout=40)
            assert "Ben" in pbx.cug("conference", "list").stdout
            refused = pbx.cug("conference", "invite", str(case), "3999", check=False)
            assert refused.returncode != 0
            pbx.cug("conference", "invite", str(case), "3010")
            joined(pbx, mark, "3010", timeout=40)
        finally:
            pbx.cli(f"confbridge kick cug-case-{case} all")
    assert sorted(pulled_in(pbx, mark)) == ["3001", "3003", "3010"]


def test_the_leader_invites_one_more_from_the_keypad(pbx: Pbx, bridge: int) -> None:
    dac = pbx.phone("3010")
    mark = pbx.ami.mark()
    with registered(dac), dac.behaving("key", key_ms=KEY_MS):
        # In the bridge, Sarah presses 0, then keys in 3010 and #; and again 8 s later, in
        # case a busy machine made her first 0 fall into a prompt (a second invitation of
        # someone already being called calls nobody).
        keys = "0...3010#" + "." * 8 + "0...3010#"
        sarah = join(pbx.phone("3001"), CODE, hold_ms=40000, keys=keys, pause_ms=6000)
        try:
            joined(pbx, mark, "3001")
            event = pbx.ami.wait_for(
                mark,
                "ConfbridgeJoin",
                lambda e: (
                    e.get("ChanVariable")
                    == f"CUG_CONF_MEMBER={pbx.member_id('3010')}-{pbx.member_id('3001')}"
                ),
                timeout=40,
            )
            assert event["Conference"] == f"cug-bridge-{bridge}"
        finally:
            if sarah.running():
                sarah.hang_up_now()
            pbx.cli(f"confbridge kick cug-bridge-{bridge} all")
    assert pulled_in(pbx, mark) == ["3010"]


def test_a_member_joins_from_their_mobile_and_a_full_bridge_lets_no_more_in(
    pbx: Pbx,
) -> None:
    out = pbx.cug(
        "conference",
        "add-bridge",
        "--code",
        SMALL_CODE,
        "--district",
        "Oyam",
        "--label",
        "Small",
        "--max-members",
        "2",
    ).stdout
    small = int(out.split()[1])
    trunk = pbx.trunk()
    mark = pbx.ami.mark()
    sarah = join(pbx.phone("3001"), SMALL_CODE, hold_ms=40000)
    others = []
    try:
        assert joined(pbx, mark, "3001")["Admin"] == "Yes"
        # Anna on her mobile, over the trunk: let in by her caller ID, into the same bridge.
        anna = trunk.call(SMALL_CODE, caller="0772200002", talk_ms=4000)
        assert anna.code == 200
        assert joined(pbx, mark, "3002")["Conference"] == f"cug-bridge-{small}"
        # Two in (the leader and Ben): ConfBridge locks the bridge, the next is told so.
        ben = join(pbx.phone("3003"), SMALL_CODE, hold_ms=30000)
        others.append(ben)
        joined(pbx, mark, "3003")
        nakato = join(pbx.phone("3009"), SMALL_CODE, hold_ms=20000)
        others.append(nakato)
        nakato.wait(timeout=40)
        assert nakato.code == 200 and nakato.ended_by_asterisk
        assert [
            e
            for e in pbx.ami.since(mark, "ConfbridgeJoin")
            if e.get("ChanVariable") == who(pbx, "3009")
        ] == []
    finally:
        for phone in (sarah, *others):
            if phone.running():
                phone.hang_up_now()
        pbx.cli(f"confbridge kick cug-bridge-{small} all")
        pbx.cug("directory", "short-codes", "remove", SMALL_CODE, check=False)


def test_a_member_calling_in_keys_the_bridge_code_at_the_prompt_and_joins(
    pbx: Pbx, bridge: int
) -> None:
    # Anna calls the CUG's number from her mobile and keys the bridge's code at the prompt
    # (not a dead end: before, a bridge code at the prompt was refused).
    from tests.e2e.conftest import CUG_NUMBER
    from tests.e2e.mobiles import dial_in

    mark = pbx.ami.mark()
    gateway = Phone(pbx, pbx.trunk().username, pbx.trunk().password)
    code, _ = dial_in(gateway, CUG_NUMBER, caller="0772200002", keys=f"{CODE}#", talk_ms=3000)
    assert code == 200
    assert joined(pbx, mark, "3002")["Conference"] == f"cug-bridge-{bridge}"


def notices_to(pbx: Pbx, ext: str) -> list[str]:
    db = pbx.db()
    try:
        return [
            r[0] or ""
            for r in db.execute(
                "SELECT t.body FROM texts t JOIN text_deliveries d ON d.text_id = t.id "
                "WHERE d.recipient_member_id = ?",
                (pbx.member_id(ext),),
            )
        ]
    finally:
        db.close()


def test_from_the_cli_nobody_else_is_called_when_the_leader_is_not_reached(pbx: Pbx) -> None:
    case = open_case(pbx, "neglect", "3003")  # Ben; his supervisor Sarah leads it
    ben = pbx.phone("3003")
    mark = pbx.ami.mark()
    # Sarah has no phone registered (nor a reachable mobile): her calls fail. Ben would take
    # his at once, and would have waited on hold music for a leader who never comes.
    with registered(ben), ben.behaving("key", key_ms=KEY_MS):
        pbx.cug("conference", "start", str(case))
        (row,) = pbx.wait_contacts(
            "kind = 'conference' AND case_id = ? AND refusal = 'conference_no_leader'",
            (case,),
            timeout=40,
        )
    assert row["caller_member_id"] == pbx.member_id("3003")
    assert pulled_in(pbx, mark) == ["3001", "3001"]  # tried twice; Ben never rung
    assert pbx.ami.since(mark, "ConfbridgeJoin") == []
    deadline = time.monotonic() + 10
    while not any("did not take the call to lead" in n for n in notices_to(pbx, "3001")):
        assert time.monotonic() < deadline, notices_to(pbx, "3001")
        time.sleep(0.3)
    assert "no conference is running" in pbx.cug("conference", "list").stdout


def bens_case(pbx: Pbx) -> tuple[int, Phone, int]:
    """A neglect case of Ben's (Sarah leads its conference), his phone, and an AMI mark."""
    return open_case(pbx, "neglect", "3003"), pbx.phone("3003"), pbx.ami.mark()


def test_someone_who_takes_the_call_after_the_leader_hung_up_is_told_and_the_call_ends(
    pbx: Pbx, conference_code: str
) -> None:
    case, ben, mark = bens_case(pbx)
    with registered(ben), ben.behaving("key", key_ms=KEY_MS) as ben_trace:
        # Sarah starts it from her phone and hangs up while Ben's phone rings; Ben presses 1
        # after she left.
        sarah = join(pbx.phone("3001"), f"*{case}*{conference_code}", hold_ms=2000)
        assert joined(pbx, mark, "3001")["Admin"] == "Yes"
        sarah.wait()
        (row,) = pbx.wait_contacts(
            "kind = 'conference' AND case_id = ? AND refusal = 'conference_ended'",
            (case,),
            timeout=40,
        )
        deadline = time.monotonic() + 10
        while not any(d == "in" and m.startswith("BYE ") for d, m in messages(ben_trace)):
            assert time.monotonic() < deadline, "Ben's call was not ended"
            time.sleep(0.3)
    assert row["caller_member_id"] == pbx.member_id("3003")
    assert pulled_in(pbx, mark) == ["3003"]
    joins = [e.get("ChanVariable") for e in pbx.ami.since(mark, "ConfbridgeJoin")]
    assert joins == [who(pbx, "3001")]  # Ben was never put on hold music alone
    # His call's CDR (answered, with the conference's tags) came after it ended: it adds no
    # participation beside the refusal (the case would show him as having taken part).
    time.sleep(3)
    bens = pbx.contacts(
        "kind = 'conference' AND case_id = ? AND caller_member_id = ?",
        (case, pbx.member_id("3003")),
    )
    assert [(r["outcome"], r["refusal"]) for r in bens] == [("refused", "conference_ended")]


def test_someone_who_left_is_called_again_and_an_invitation_that_calls_nobody_says_so(
    pbx: Pbx, conference_code: str
) -> None:
    case, ben, mark = bens_case(pbx)
    sarah = None
    try:
        with registered(ben):
            with ben.behaving("key", key_ms=KEY_MS):
                sarah = join(pbx.phone("3001"), f"*{case}*{conference_code}", hold_ms=60000)
                ben_in = f"CUG_CONF_MEMBER={pbx.member_id('3003')}-{pbx.member_id('3001')}"
                first = pbx.ami.wait_for(
                    mark, "ConfbridgeJoin", lambda e: e.get("ChanVariable") == ben_in, 40
                )
                # In it: inviting him again makes no call, and the admin is told so.
                again = pbx.cug("conference", "invite", str(case), "3003", check=False)
                assert again.returncode != 0 and "already in" in again.stderr
                left_mark = pbx.ami.mark()
                pbx.cli(f"confbridge kick cug-case-{case} {first['Channel']}")
                pbx.ami.wait_for(
                    left_mark, "ConfbridgeLeave", lambda e: e.get("ChanVariable") == ben_in
                )
            # He left: invited again, he is called again and back in.
            with ben.behaving("key", key_ms=KEY_MS):
                back_mark = pbx.ami.mark()
                out = pbx.cug("conference", "invite", str(case), "3003").stdout
                assert "1 to call" in out
                joined(pbx, back_mark, "3003", timeout=40)
    finally:
        if sarah is not None and sarah.running():
            sarah.hang_up_now()
        pbx.cli(f"confbridge kick cug-case-{case} all")
    assert pulled_in(pbx, mark) == ["3003", "3003"]


STAYS_CODE = "152"


def oyam_bridge(pbx: Pbx, code: str, *options: str) -> int:
    """A new bridge of Oyam's on `code`, with `options` (--stays...): its id."""
    out = pbx.cug(
        "conference", "add-bridge", "--code", code, "--district", "Oyam", "--label", code, *options
    ).stdout
    return int(out.split()[1])


def test_on_a_stays_bridge_the_members_talk_on_when_the_leader_leaves(pbx: Pbx) -> None:
    stays = oyam_bridge(pbx, STAYS_CODE, "--stays")
    mark = pbx.ami.mark()
    anna = join(pbx.phone("3002"), STAYS_CODE, hold_ms=30000)
    ben = join(pbx.phone("3003"), STAYS_CODE, hold_ms=30000)
    try:
        joined(pbx, mark, "3002")
        joined(pbx, mark, "3003")
        sarah = join(pbx.phone("3001"), STAYS_CODE, hold_ms=7000)  # hears "2 others" first
        joined(pbx, mark, "3001")
        sarah.wait()
        pbx.ami.wait_for(
            mark, "ConfbridgeLeave", lambda e: e.get("ChanVariable") == who(pbx, "3001")
        )
        time.sleep(1)
        # The leader left: the bridge goes on, and the others talk on (not back on hold).
        (room,) = json.loads(pbx.cug("conference", "list", "--json").stdout)
        assert room["name"] == f"cug-bridge-{stays}"
        waiting = {p["member_id"]: p["waiting"] for p in room["participants"]}
        assert waiting == {pbx.member_id("3002"): False, pbx.member_id("3003"): False}
        assert anna.running() and ben.running()
    finally:
        for phone in (anna, ben):
            if phone.running():
                phone.hang_up_now()
        pbx.cli(f"confbridge kick cug-bridge-{stays} all")
        pbx.cug("directory", "short-codes", "remove", STAYS_CODE, check=False)


WAITING_CODE = "153"


def test_those_waiting_for_the_leader_count_towards_the_member_limit(pbx: Pbx) -> None:
    small = oyam_bridge(pbx, WAITING_CODE, "--max-members", "2")
    mark = pbx.ami.mark()
    anna = join(pbx.phone("3002"), WAITING_CODE, hold_ms=30000)
    ben = join(pbx.phone("3003"), WAITING_CODE, hold_ms=30000)
    sarah = None
    try:
        joined(pbx, mark, "3002")
        joined(pbx, mark, "3003")
        # Two wait for the leader: the bridge is full, the next caller hears so.
        nakato = join(pbx.phone("3009"), WAITING_CODE, hold_ms=20000).wait(timeout=40)
        assert nakato.code == 200 and nakato.ended_by_asterisk
        joins = [e.get("ChanVariable") for e in pbx.ami.since(mark, "ConfbridgeJoin")]
        assert who(pbx, "3009") not in joins
        (row,) = pbx.wait_contacts(
            "refusal = 'conference_full' AND dialed = ?", (f"cug-bridge-{small}",)
        )
        assert row["caller_member_id"] == pbx.member_id("3009")
        # The leader still gets in.
        sarah = join(pbx.phone("3001"), WAITING_CODE, hold_ms=8000)
        assert joined(pbx, mark, "3001")["Admin"] == "Yes"
    finally:
        for phone in (anna, ben, sarah):
            if phone is not None and phone.running():
                phone.hang_up_now()
        pbx.cli(f"confbridge kick cug-bridge-{small} all")
        pbx.cug("directory", "short-codes", "remove", WAITING_CODE, check=False)


def test_over_the_trunk_a_supervisors_caller_id_alone_never_leads(
    pbx: Pbx, bridge: int, conference_code: str
) -> None:
    # dial_in_pin is off here: a caller ID is all the trunk gives, and it can be forged.
    trunk = pbx.trunk()
    case = open_case(pbx, "neglect", "3003")
    mark = pbx.ami.mark()
    sarah_mobile = pbx.member("3001")["phone"]
    # A case conference is not started (it would call people in and let the caller hear it).
    assert trunk.call(f"*{case}*{conference_code}", caller=sarah_mobile).code == 403
    # Her bridge: joined as a member (waiting for a leader), not as its leader.
    assert trunk.call(CODE, caller=sarah_mobile, talk_ms=3000).code == 200
    assert joined(pbx, mark, "3001")["Admin"] == "No"
    assert pulled_in(pbx, mark) == []
    (refused,) = pbx.wait_contacts("refusal = 'conference_needs_pin'")
    assert refused["caller_member_id"] == pbx.member_id("3001")


def test_an_admins_choice_of_leader_must_be_one_of_the_cases_leaders(pbx: Pbx) -> None:
    case = open_case(pbx, "neglect", "3003")
    mark = pbx.ami.mark()
    # A worker, the police: refused with the reason (another district's leader: unit tests).
    for lead in ("3002", "3004"):
        refused = pbx.cug("conference", "start", str(case), "--leader", lead, check=False)
        assert refused.returncode != 0 and "conference_not_a_leader" in refused.stderr
    time.sleep(1)
    assert pulled_in(pbx, mark) == []


def listed(pbx: Pbx) -> dict[str, dict]:
    """The running conferences by name, as `cug conference list --json` has them."""
    return {c["name"]: c for c in json.loads(pbx.cug("conference", "list", "--json").stdout)}


def test_the_leaders_keys_mute_lock_remove_the_last_and_count(pbx: Pbx, bridge: int) -> None:
    name = f"cug-bridge-{bridge}"
    mark = pbx.ami.mark()
    anna = join(pbx.phone("3002"), CODE, hold_ms=40000)
    ben = sarah = None
    try:
        joined(pbx, mark, "3002")
        ben = join(pbx.phone("3003"), CODE, hold_ms=40000)
        joined(pbx, mark, "3003")
        # Sarah joins (she hears "there are 2 others in the conference", then all hear that
        # it begins: 7 s before her keys count) and presses 2 (mute everyone else), 3 (lock),
        # 4 (remove the last to join: Ben), 5 (how many), 1 (mute herself).
        sarah = join(pbx.phone("3001"), CODE, hold_ms=35000, keys="2 3 4 5 1", pause_ms=9500)
        joined(pbx, mark, "3001")
        pbx.ami.wait_for(
            mark, "ConfbridgeLeave", lambda e: e.get("ChanVariable") == who(pbx, "3003"), 30
        )
        assert sarah.running() and anna.running()  # only Ben was removed
        deadline = time.monotonic() + 15
        while True:
            room = listed(pbx)[name]
            muted = {p["member_id"]: p["muted"] for p in room["participants"]}
            if muted.get(pbx.member_id("3001")) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        # Locked, everyone else muted (and so the conference), and Sarah muted herself.
        assert room["locked"] and room["muted"]
        assert muted == {pbx.member_id("3001"): True, pbx.member_id("3002"): True}
        assert f"{name} (locked, muted): 2 in it" in pbx.cug("conference", "list").stdout
        said = "\n".join(log.read_text(errors="replace") for log in pbx.asterisk_logs())
        assert re.search(r"<PJSIP/3001-[0-9a-f]+> Playing 'conf-onlyone", said)
    finally:
        for phone in (anna, ben, sarah):
            if phone is not None and phone.running():
                phone.hang_up_now()
        pbx.cli(f"confbridge kick {name} all")
