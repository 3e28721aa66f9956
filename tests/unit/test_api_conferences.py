"""Case conferences through the JSON API: started within the token's district, audited as the
token, refused with the reason, one more invited."""

from __future__ import annotations

from tests.unit.test_api import Api, api, open_case  # noqa: F401 - the api fixture


async def test_a_token_starts_a_case_conference_and_invites_one_more(api: Api) -> None:  # noqa: F811
    case = await open_case(api, category="hiv", assign="2002")
    path = f"/api/v1/cases/{case['id']}/conference"
    started = await api.ok("POST", path, {})
    assert started["conference"] == f"cug-case-{case['id']}"
    assert [(c["extension"], c["leads"]) for c in started["calls"]] == [
        ("2001", True),
        ("2002", False),
        ("2005", False),
    ]
    again = await api.ok("POST", path, {})
    assert again["calls"] == []  # one conference, nobody called twice
    invited = await api.ok("POST", path + "/invite", {"member": "2007"})
    assert [c["extension"] for c in invited["calls"]] == ["2007"]
    status, answer = await api.call("POST", path + "/invite", {"member": "2009"})  # inactive
    assert status == 409 and "not an active member" in answer["reasons"][0]
    actions = [a["action"] for a in api.audit("api:nch-app")]
    assert actions.count("conference.start") == 1 and "conference.invite" in actions


async def test_refusals_and_district_scope(api: Api) -> None:  # noqa: F811
    case = await open_case(api, category="hiv", assign="2008")  # no supervisor: no leader
    status, answer = await api.call("POST", f"/api/v1/cases/{case['id']}/conference", {})
    assert status == 409 and answer["reasons"] == ["no conference started: conference_no_leader"]
    status, _ = await api.call("POST", f"/api/v1/cases/{case['id']}/conference", {}, who="jinja")
    assert status == 404  # another district's case is not there for a Jinja token
    status, _ = await api.call(
        "POST", f"/api/v1/cases/{case['id']}/conference/invite", {"member": "2007"}
    )
    assert status == 409  # nothing running
