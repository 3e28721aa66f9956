"""Case conferences: who is called in, who may start one, one conference per case however
often it is started, invitations, and the Originate each call is."""

from __future__ import annotations

from agi.bridge_routes import BridgeRoutes
from agi.case_conferences import start_case_conference
from agi.conference_calls import originate_action
from directory.cases import open_case
from directory.conferences import ConferenceStore
from directory.lookup import Directory
from routing.case_conference import ConferenceRefusal
from routing.case_link import KeyedCase


def member(directory: Directory, ext: str):  # noqa: ANN201
    found = directory.member_by_extension(ext)
    assert found is not None
    return found


def new_case(directory: Directory, category: str, worker: str = "2002") -> int:
    return open_case(directory.db, "test", district="Oyam", category=category, assign=worker).id


def called(directory: Directory, calls: list[int]) -> list[str]:
    return [_ext(directory, directory.db["conference_calls"].get(c)) for c in calls]


def _ext(directory: Directory, row: dict) -> str:
    m = directory.member(row["member_id"])
    assert m is not None
    return m.extension


def test_sexual_abuse_calls_the_worker_police_health_and_probation_not_the_starter(
    directory: Directory,
) -> None:
    case = new_case(directory, "sexual_abuse")
    grace = member(directory, "2001")  # Okello's supervisor, starting it from her phone
    name, calls, refusal = start_case_conference(directory, case, grace, "member:2001")
    assert refusal is None and name == f"cug-case-{case}"
    assert called(directory, calls) == ["2002", "2004", "2005", "2006"]


def test_from_the_cli_the_supervisor_is_called_as_the_leader(directory: Directory) -> None:
    case = new_case(directory, "hiv")
    _, calls, _ = start_case_conference(directory, case, None, "cli:admin")
    rows = [directory.db["conference_calls"].get(c) for c in calls]
    assert [(_ext(directory, r), r["leader"]) for r in rows] == [
        ("2001", 1),
        ("2002", 0),
        ("2005", 0),
    ]
    # Started again (another admin, a supervisor's phone at once): the same conference, and
    # nobody is called twice.
    again, more, _ = start_case_conference(directory, case, None, "cli:other")
    assert again == f"cug-case-{case}" and more == []
    _, more, _ = start_case_conference(directory, case, member(directory, "2001"), "member:2001")
    assert more == []
    assert directory.db.execute("SELECT count(*) FROM conferences").fetchone()[0] == 1


def test_refusals_call_nobody(directory: Directory) -> None:
    case = new_case(directory, "neglect")
    worker = member(directory, "2003")
    cases = [
        (99999, member(directory, "2001"), ConferenceRefusal.UNKNOWN_CASE),
        (case, worker, ConferenceRefusal.NOT_A_LEADER),
    ]
    for ident, starter, reason in cases:
        assert start_case_conference(directory, ident, starter, "x")[2] is reason
    # A worker with no supervisor: nobody to lead it from the CLI.
    orphan = new_case(directory, "neglect", worker="2008")
    assert start_case_conference(directory, orphan, None, "x")[2] is ConferenceRefusal.NO_LEADER
    routes = BridgeRoutes(directory)
    code = directory.short_code("100")
    assert code is not None
    route = routes.case_conference(member(directory, "2001"), code, None)
    assert route.startswith("refuse|conference_no_case|")
    assert directory.db.execute("SELECT count(*) FROM conference_calls").fetchone()[0] == 0
    ok = routes.case_conference(member(directory, "2001"), code, KeyedCase(str(case)))
    assert ok.split("|")[2:5] == [f"cug-case-{case}", "cug-leader", "cug-leader-menu"]


def test_an_invitation_needs_the_leader_and_an_active_member(directory: Directory) -> None:
    case = new_case(directory, "hiv")
    start_case_conference(directory, case, member(directory, "2001"), "member:2001")
    routes = BridgeRoutes(directory)
    grace, okello = str(member(directory, "2001").id), str(member(directory, "2002").id)
    conference = f"cug-case-{case}"
    assert routes.invite(okello, conference, "2007").startswith("refuse|not_the_leader")
    assert routes.invite(grace, conference, "2009").startswith("refuse|inactive_member")
    assert routes.invite(grace, conference, "7777").startswith("refuse|not_a_member")
    assert routes.invite(grace, "cug-case-424242", "2007").startswith("refuse|not_the_leader")
    assert routes.invite(grace, conference, "2007") == "invited"
    store = ConferenceStore(directory.db)
    running = store.running(conference)
    assert running is not None
    calls = store.calls(running[0])
    assert calls[-1]["invited_by"] == int(grace)


def test_each_call_is_an_announced_cug_leg_into_the_conference(directory: Directory) -> None:
    case = new_case(directory, "hiv")
    start_case_conference(directory, case, member(directory, "2001"), "member:2001")
    (call, *_) = ConferenceStore(directory.db).claim_due()
    action = originate_action(
        call, member(directory, "2002"), member(directory, "2001"), "+256772100002", 6, 24, 2
    )
    assert action["Channel"] == "Local/2002-+256772100002-c-1@cug-leg/n"
    assert action["Context"] == "cug-conference-join"
    assert action["Timeout"] == "30000"
    variables = dict(str(x).split("=", 1) for x in action["Variable"])
    assert variables["__CUG_CALL"].startswith(f"2001:{case}:0:")
    assert variables["__CUG_CONF"] == f"cug-case-{case}"
    assert variables["CUG_CONF_MEMBER"] == f"{member(directory, '2002').id}-{call.invited_by}"
    assert variables["CUG_CONF_PROFILE"] == "cug-member"
    assert action["ActionID"] == f"cug-conference-{call.id}-2"
    assert all("\n" not in str(v) for v in action.values())


def test_the_report_counts_conferences_and_the_share_of_cases_that_had_one(
    directory: Directory,
) -> None:
    from directory.report import district_month_report

    cases = [new_case(directory, "hiv"), new_case(directory, "neglect"), new_case(directory, "hiv")]
    grace = member(directory, "2001")
    start_case_conference(directory, cases[0], grace, "member:2001")
    start_case_conference(directory, cases[0], None, "cli:x")  # the same, still running
    ConferenceStore(directory.db).end(f"cug-case-{cases[0]}")
    start_case_conference(directory, cases[0], grace, "member:2001")  # a second one
    start_case_conference(directory, cases[2], grace, "member:2001")
    (oyam,) = district_month_report(directory.db, district="Oyam")
    assert (oyam.cases, oyam.case_conferences, oyam.cases_with_conference) == (3, 3, 2)
    assert oyam.to_dict()["conference_share"] == 2 / 3


def a_case_conference_held(directory: Directory) -> int:
    """A case whose conference ran 14:02-14:19 with Grace and Okello; Acen did not answer."""
    from agi.contact_log import ContactLog, participation_contact

    case = new_case(directory, "hiv")
    grace, okello, acen = (member(directory, x) for x in ("2001", "2002", "2005"))
    start_case_conference(directory, case, grace, "member:2001")
    name = f"cug-case-{case}"
    directory.db.execute("UPDATE conferences SET started_at = '2026-12-04T14:02:00+00:00'")
    directory.db.conn.commit()
    rows = [
        participation_contact(
            "1.1",
            member_id=grace.id,
            conference=name,
            joined_at="2026-12-04T14:02:01+00:00",
            left_at="2026-12-04T14:19:00+00:00",
        ),
        participation_contact(
            "1.2",
            member_id=okello.id,
            conference=name,
            invited_by=grace.id,
            joined_at="2026-12-04T14:02:30+00:00",
            left_at="2026-12-04T14:19:00+00:00",
        ),
        {
            **participation_contact(
                "call-3", member_id=acen.id, conference=name, invited_by=grace.id, joined_at=None
            ),
            "placed_at": "2026-12-04T14:02:00+00:00",
            "outcome": "no_answer",
        },
        # Turned away (the conference was full), and one whose call was lost with the link.
        {
            **participation_contact(
                "away-4", member_id=member(directory, "2007").id, conference=name, joined_at=None
            ),
            "placed_at": "2026-12-04T14:03:00+00:00",
            "outcome": "refused",
            "refusal": "conference_full",
        },
        {
            **participation_contact(
                "call-5", member_id=member(directory, "2006").id, conference=name, joined_at=None
            ),
            "placed_at": "2026-12-04T14:04:00+00:00",
            "outcome": "unknown",
        },
    ]
    ContactLog(directory.db).write_rows(rows)
    ConferenceStore(directory.db).end(name)
    directory.db.execute("UPDATE conferences SET ended_at = '2026-12-04T14:19:02+00:00'")
    directory.db.conn.commit()
    return case


HELD = (
    "case conference 14:02-14:19: Grace Akello (2001), Okello Denis (2002); "
    "Dr. Acen Sarah (2005) did not answer; Ayo Betty (2007) not put in (no leader, or "
    "full); Ogwang Peter (2006) not known whether they took the call"
)


def test_a_case_shows_its_conference_who_took_part_and_who_did_not_answer(
    directory: Directory,
) -> None:
    from directory.conference_view import case_conferences, describe

    (conference,) = case_conferences(directory.db, a_case_conference_held(directory))
    assert describe(conference) == HELD


def test_the_case_timeline_tells_a_conference_in_one_line(directory: Directory) -> None:
    from directory.case_timeline import case_timeline
    from directory.case_view import case_details
    from directory.cases import get_case

    case = get_case(directory.db, a_case_conference_held(directory))
    timeline = case_timeline(directory.db, case_details(directory.db, case))
    assert [e for e in timeline if e["kind"] == "conference"] == [
        {"at": "2026-12-04T14:02:00+00:00", "kind": "conference", "text": HELD}
    ]
    # Its participations are in that line, not each on a line of its own.
    assert not any("→" in e["text"] and "conference #" in e["text"] for e in timeline)


def test_calls_being_placed_when_the_service_stopped_are_not_waited_for(
    directory: Directory,
) -> None:
    case = new_case(directory, "hiv")
    start_case_conference(directory, case, member(directory, "2001"), "member:2001")
    store = ConferenceStore(directory.db)
    claimed = store.claim_due()
    assert claimed and store.abandon_calling() == len(claimed)
    # Started again, the people whose calls were lost are called again.
    _, calls, _ = start_case_conference(directory, case, member(directory, "2001"), "m")
    assert len(calls) == len(claimed)


def test_a_leader_being_called_when_the_service_stopped_may_have_joined(
    directory: Directory,
) -> None:
    """Their conference is not ended under them: the others are still called (told, if
    they take the call when no leader is there)."""
    case = new_case(directory, "hiv")
    name = f"cug-case-{case}"
    grace, okello = member(directory, "2001"), member(directory, "2002")
    store = ConferenceStore(directory.db)
    store.start(name, case, "cli:admin", grace.id, [(grace.id, True), (okello.id, False)], None)
    (leader,) = store.claim_due()
    assert store.abandon_calling() == 1
    assert directory.db["conference_calls"].get(leader.id)["status"] == "unknown"
    assert store.drop_leaderless() == [] and store.running(name) is not None
    assert [c.member_id for c in store.claim_due()] == [okello.id]


def test_a_case_conference_from_a_phone_stays_in_the_cases_district(
    directory: Directory,
) -> None:
    # Jinja's supervisor (2011) dials an Oyam case: refused, nobody is called.
    case = new_case(directory, "sexual_abuse")
    _, calls, refusal = start_case_conference(directory, case, member(directory, "2011"), "x")
    assert refusal is ConferenceRefusal.OTHER_DISTRICT and calls == []
    assert directory.db.execute("SELECT count(*) FROM conference_calls").fetchone()[0] == 0


def test_an_officer_starts_it_and_the_workers_supervisor_still_joins_as_a_leader(
    directory: Directory,
) -> None:
    case = new_case(directory, "neglect")
    officer = member(directory, "2006")  # Oyam's probation officer, from their phone
    _, calls, refusal = start_case_conference(directory, case, officer, "member:2006")
    assert refusal is None
    rows = [directory.db["conference_calls"].get(c) for c in calls]
    assert ("2001", 1) in [(_ext(directory, r), r["leader"]) for r in rows]
    assert ("2002", 0) in [(_ext(directory, r), r["leader"]) for r in rows]


def test_a_second_start_from_a_phone_rings_nobody_twice_and_joins_as_a_member(
    directory: Directory,
) -> None:
    case = new_case(directory, "neglect")
    routes = BridgeRoutes(directory)
    code = directory.short_code("100")
    assert code is not None
    grace, officer = member(directory, "2001"), member(directory, "2006")
    first = routes.case_conference(grace, code, KeyedCase(str(case)))
    assert first.split("|")[3:5] == ["cug-leader", "cug-leader-menu"]
    ringing = directory.db.execute("SELECT count(*) FROM conference_calls").fetchone()[0]
    # The probation officer dials the same case while Grace leads it: Grace (on the line) is
    # not rung again, and the officer joins as a member, not a second leader.
    second = routes.case_conference(officer, code, KeyedCase(str(case)))
    assert second.split("|")[3:5] == ["cug-member", "cug-member-menu"]
    rows = directory.db.execute(
        "SELECT member_id, status FROM conference_calls ORDER BY id"
    ).fetchall()
    assert len(rows) == ringing  # nobody new; the officer was to be called and dialed first
    assert [s for m, s in rows if m == grace.id] == ["answered"]
    assert [s for m, s in rows if m == officer.id] == ["answered"]  # not rung now


def test_nobody_is_called_into_a_conference_that_has_ended(directory: Directory) -> None:
    case = new_case(directory, "sexual_abuse")
    name, calls, _ = start_case_conference(directory, case, member(directory, "2001"), "x")
    assert calls
    store = ConferenceStore(directory.db)
    store.end(name)  # the leader hung up before the service placed the calls
    assert store.claim_due() == []


def test_from_the_cli_the_others_are_called_only_once_the_leader_took_the_call(
    directory: Directory,
) -> None:
    case = new_case(directory, "hiv")
    _, calls, _ = start_case_conference(directory, case, None, "cli:admin")
    store = ConferenceStore(directory.db)
    # Only the leader (Grace) is rung first: the others would wait on hold music for her.
    (first,) = store.claim_due()
    assert first.leader and _ext(directory, {"member_id": first.member_id}) == "2001"
    assert store.claim_due() == [] and store.drop_leaderless() == []
    store.settle(first.id, "answered")
    assert sorted(c.member_id for c in store.claim_due()) == sorted(
        member(directory, x).id for x in ("2002", "2005")
    )


def test_a_leader_who_is_not_reached_means_nobody_else_is_called(directory: Directory) -> None:
    case = new_case(directory, "hiv")
    name, calls, _ = start_case_conference(directory, case, None, "cli:admin")
    store = ConferenceStore(directory.db)
    (first,) = store.claim_due()
    store.settle(first.id, "no_answer")
    dropped = store.drop_leaderless()
    assert sorted(c.member_id for c in dropped) == sorted(
        member(directory, x).id for x in ("2002", "2005")
    )
    assert store.claim_due() == [] and store.running(name) is None
    statuses = [r["status"] for r in directory.db["conference_calls"].rows]
    assert statuses == ["no_answer", "not_called", "not_called"]


def test_an_invitation_that_calls_nobody_says_so_and_someone_who_left_is_called_again(
    directory: Directory,
) -> None:
    from agi.case_conferences import invite_by_admin

    case = new_case(directory, "hiv")
    conference = f"cug-case-{case}"
    start_case_conference(directory, case, member(directory, "2001"), "member:2001")
    routes = BridgeRoutes(directory)
    grace, okello = member(directory, "2001"), member(directory, "2002")
    store = ConferenceStore(directory.db)
    for call in store.claim_due():
        store.settle(call.id, "answered")
    # Okello is in it: the leader's keypad hears a refusal, the CLI/API an error.
    assert routes.invite(str(grace.id), conference, "2002").startswith("refuse|already_called")
    calls, why = invite_by_admin(directory, conference, "2002", "cli:admin")
    assert calls == [] and "already in" in why
    # He left (ConfbridgeLeave): invited again, he is called again.
    store.left(conference, okello.id)
    assert routes.invite(str(grace.id), conference, "2002") == "invited"
    assert [c.member_id for c in store.claim_due()] == [okello.id]


def test_an_admin_invites_one_more_into_a_standing_bridge_people_are_in(
    directory: Directory,
) -> None:
    """A standing bridge has no conference record until someone is called into it: the CLI
    and the API go by who Asterisk says is in it (the contact log's open participations)."""
    from agi.case_conferences import invite_by_admin
    from agi.contact_log import ContactLog, participation_contact
    from directory.bridges import BridgeStore

    bridge = BridgeStore(directory.db).add("Oyam desk", "Oyam", None, None, 10, True, "test")
    name = bridge.conference
    calls, why = invite_by_admin(directory, name, "2002", "cli:admin")
    assert calls == [] and "no conference" in why  # nobody in it: nothing to invite into
    grace = member(directory, "2001")
    ContactLog(directory.db).write_rows(
        [
            participation_contact(
                "9.1", member_id=grace.id, conference=name, joined_at="2026-12-05T10:00:00+00:00"
            )
        ]
    )
    calls, why = invite_by_admin(directory, name, "2001", "cli:admin")
    assert calls == [] and "already in" in why
    calls, why = invite_by_admin(directory, name, "2002", "cli:admin")
    assert why == "" and len(calls) == 1
    store = ConferenceStore(directory.db)
    assert [c.member_id for c in store.claim_due()] == [member(directory, "2002").id]


def test_a_call_into_a_stays_bridge_gets_its_profile_and_member_limit(
    directory: Directory,
) -> None:
    from directory.bridges import BridgeStore

    bridge = BridgeStore(directory.db).add("Stays", "Oyam", None, None, 7, False, "test")
    grace = member(directory, "2001")
    ConferenceStore(directory.db).start(
        bridge.conference,
        None,
        "member:2001",
        grace.id,
        [(member(directory, "2007").id, False)],
        grace.id,
    )
    (call,) = ConferenceStore(directory.db).claim_due()
    action = originate_action(call, member(directory, "2007"), grace, "", 6, 24, 1, bridge)
    variables = dict(str(x).split("=", 1) for x in action["Variable"])
    assert variables["CUG_CONF_PROFILE"] == "cug-member-stays"
    assert variables["CUG_CONF_MENU"] == "cug-member-menu"
    assert variables["CUG_CONF_MAX"] == "7"


def test_a_join_route_carries_the_tags_of_a_refusal_when_the_bridge_is_full(
    directory: Directory,
) -> None:
    from agi.call_tags import decode

    case = new_case(directory, "hiv")
    code = directory.short_code("100")
    assert code is not None
    route = BridgeRoutes(directory).case_conference(
        member(directory, "2001"), code, KeyedCase(str(case))
    )
    full = decode(route.split("|")[7])
    assert full is not None and full.refusal == "conference_full" and not full.kind
    assert full.caller_id == member(directory, "2001").id


def test_a_caller_known_by_caller_id_alone_gets_no_leaders_seat(directory: Directory) -> None:
    from agi.bridge_routes import CALLER_ID_ONLY
    from tests.unit.test_bridges import add_bridge

    add_bridge(directory, "105")
    routes = BridgeRoutes(directory)
    grace = member(directory, "2001")
    case = new_case(directory, "hiv")
    conference = directory.short_code("100")
    code = directory.short_code("105")
    assert code is not None and conference is not None
    assert routes.route(grace, code).split("|")[3] == "cug-leader"
    trust = CALLER_ID_ONLY.set(True)
    try:
        # Over the trunk with no PIN: a forged caller ID must not lead, nor start a case
        # conference (it calls people in and hears the case).
        assert routes.route(grace, code).split("|")[3] == "cug-member"
        refused = routes.case_conference(grace, conference, KeyedCase(str(case)))
        assert refused.startswith("refuse|conference_needs_pin|")
    finally:
        CALLER_ID_ONLY.reset(trust)
    assert directory.db.execute("SELECT count(*) FROM conference_calls").fetchone()[0] == 0


class _LinkDrops:
    """An AMI link that drops while the Originate rings: no answer comes (panoramisk's
    future times out), or only the action's first reply, without OriginateResponse."""

    up = True

    def __init__(self, partial: bool) -> None:
        self.partial = partial
        self.sent = 0

    async def action(self, action: dict, timeout: float = 10) -> object:
        self.sent += 1
        if self.partial:
            return [{"Response": "Success", "Message": "Originate successfully queued"}]
        raise TimeoutError


def test_a_call_whose_outcome_was_lost_with_the_ami_link_is_not_a_no_answer(
    directory: Directory,
) -> None:
    import asyncio

    from agi.conference_calls import ConferenceCalls
    from agi.contact_log import ContactLog

    told: list[str] = []
    for partial in (False, True):
        case = new_case(directory, "hiv")
        start_case_conference(directory, case, member(directory, "2001"), "member:2001")
        ami = _LinkDrops(partial)
        calls = ConferenceCalls(
            directory.db,
            ami,  # type: ignore[arg-type]
            ContactLog(directory.db),
            lambda member_id, text: told.append(text),
            ring_seconds=1,
            answer_seconds=1,
            trunk=False,
            retry_after=0,
        )
        first, *_ = ConferenceStore(directory.db).claim_due()
        asyncio.run(calls._call(first))
        assert ami.sent == 1  # not tried again: they may be in the conference
        assert directory.db["conference_calls"].get(first.id)["status"] == "unknown"
        (row,) = directory.db.execute(
            "SELECT outcome FROM contacts WHERE source_key = ?", (f"conference:call-{first.id}",)
        ).fetchall()
        assert row[0] == "unknown"
        assert told and "It is not known whether" in told[-1] and "did not answer" not in told[-1]
        ConferenceStore(directory.db).end(f"cug-case-{case}")


def test_an_admins_choice_of_leader_is_held_to_the_role_and_the_district(
    directory: Directory,
) -> None:
    case = new_case(directory, "neglect")
    for lead, reason in (
        ("2003", ConferenceRefusal.NOT_A_LEADER),  # a worker
        ("2004", ConferenceRefusal.NOT_A_LEADER),  # police
        ("2011", ConferenceRefusal.OTHER_DISTRICT),  # Jinja's supervisor
    ):
        _, calls, refusal = start_case_conference(
            directory, case, None, "cli:admin", member(directory, lead)
        )
        assert refusal is reason and calls == []
    assert directory.db.execute("SELECT count(*) FROM conference_calls").fetchone()[0] == 0
    # Oyam's probation officer may lead it.
    _, calls, refusal = start_case_conference(
        directory, case, None, "cli:admin", member(directory, "2006")
    )
    assert refusal is None and calls


class _Call:
    """The FastAGI request `conference-turned-away` as the dialplan makes it."""

    def __init__(self, *args: str) -> None:
        self.args = args

    def arg(self, n: int) -> str:
        return self.args[n - 1] if n <= len(self.args) else ""


def test_someone_turned_away_is_one_refused_contact_on_the_cases_conference_line(
    directory: Directory,
) -> None:
    """Taken after the leader hung up: logged once, as refused (not also as a participation
    from the call's CDR), placed when the call was asked for, so the case's conference line
    names them."""
    import asyncio

    from agi.bridge_routes import conference_tags
    from agi.conference_calls import ConferenceCalls
    from agi.contact_log import Cdr, ContactLog
    from directory.conference_view import case_conferences, describe

    case = new_case(directory, "hiv")
    name = f"cug-case-{case}"
    grace, okello = member(directory, "2001"), member(directory, "2002")
    store = ConferenceStore(directory.db)
    store.start(name, case, "member:2001", grace.id, [(okello.id, False)], grace.id)
    contacts = ContactLog(directory.db)
    calls = ConferenceCalls(
        directory.db,
        None,
        contacts,
        None,
        ring_seconds=1,
        answer_seconds=1,
        trunk=False,  # type: ignore[arg-type]
    )
    asyncio.run(calls.turned_away(_Call(f"{okello.id}-{grace.id}", name, "1700000001.4", "ended")))
    store.end(name)
    contacts.write(
        [
            Cdr(
                uniqueid="1700000001.4",
                linkedid="1700000001.4",
                channel="Local/2002-+256772100002-c-1@cug-leg-00000001;1",
                dstchannel="",
                lastapp="Hangup",
                start="2026-12-05 10:00:00",
                answer="2026-12-05 10:00:05",
                end="2026-12-05 10:00:09",
                disposition="ANSWERED",
                userfield=conference_tags(okello.id, name, grace.id),
                src="",
                dst="s",
            )
        ]
    )
    rows = list(directory.db["contacts"].rows_where("caller_member_id = ?", [okello.id]))
    assert [(r["outcome"], r["refusal"]) for r in rows] == [("refused", "conference_ended")]
    (conference,) = case_conferences(directory.db, case)
    assert "Okello Denis (2002) not put in" in describe(conference)


def test_a_leaders_keypad_invitation_does_not_ring_someone_already_in_the_bridge(
    directory: Directory,
) -> None:
    """Someone who dialed the conference themselves has no call of the service's: the
    invitation is refused (the leader hears so), their phone is not rung a second time."""
    from agi.contact_log import ContactLog, participation_contact

    case = new_case(directory, "hiv")
    name = f"cug-case-{case}"
    grace, okello = member(directory, "2001"), member(directory, "2002")
    start_case_conference(directory, case, grace, "member:2001")
    ContactLog(directory.db).write_rows(
        [
            participation_contact(
                "5.1", member_id=okello.id, conference=name, joined_at="2026-12-05T10:00:00+00:00"
            )
        ]
    )
    store = ConferenceStore(directory.db)
    for call in store.claim_due():
        store.settle(call.id, "no_answer")  # his pull-in was not taken: he dialed in instead
    route = BridgeRoutes(directory).invite(str(grace.id), name, "2002")
    assert route.startswith("refuse|already_called")


def test_whoever_dialed_in_for_a_leader_who_is_not_reached_is_let_go(
    directory: Directory,
) -> None:
    """Someone who dialed the case's conference themselves while its chosen leader was rung
    would wait on hold music for nobody: when the leader is not reached, the service asks
    ConfBridge to let everyone in it go."""
    import asyncio

    from agi.conference_calls import ConferenceCalls
    from agi.contact_log import ContactLog

    class Ami:
        up = True

        def __init__(self) -> None:
            self.actions: list[dict] = []

        async def action(self, action: dict, timeout: float = 10) -> object:
            self.actions.append(action)
            return {"Response": "Success"}

    case = new_case(directory, "hiv")
    name, _, _ = start_case_conference(directory, case, None, "cli:admin")
    store = ConferenceStore(directory.db)
    (first,) = store.claim_due()
    store.settle(first.id, "no_answer")
    ami = Ami()
    calls = ConferenceCalls(
        directory.db,
        ami,
        ContactLog(directory.db),
        None,
        1,
        1,
        False,  # type: ignore[arg-type]
    )

    async def run() -> None:
        calls._leader_not_reached(store.drop_leaderless())
        await asyncio.gather(*calls._tasks)

    asyncio.run(run())
    assert ami.actions == [
        {"Action": "ConfbridgeKick", "Conference": name, "Channel": "participants"}
    ]
