"""Answers routing looked up, kept for calls alike, dropped when the directory's version
moves."""

from __future__ import annotations

from directory.model import Member
from routing.escalation import Step
from routing.versioned_cache import MembersAsOf, VersionedCache

A = (Step(label="callee"),)
B = (Step(label="supervisor"),)


class Planner:
    def __init__(self, steps: tuple[Step, ...]) -> None:
        self.steps, self.calls = steps, 0

    def __call__(self) -> tuple[Step, ...]:
        self.calls += 1
        return self.steps


def test_calls_alike_are_planned_once_until_the_version_moves() -> None:
    cache, plan = VersionedCache[tuple[Step, ...]](), Planner(A)
    assert cache.get(1, "k", plan) == A
    assert cache.get(1, "k", plan) == A
    assert plan.calls == 1
    plan.steps = B
    assert cache.get(2, "k", plan) == B  # members or chains changed: planned again
    assert plan.calls == 2


def test_without_a_version_nothing_is_kept() -> None:
    cache, plan = VersionedCache[tuple[Step, ...]](), Planner(A)
    cache.get(None, "k", plan)
    cache.get(None, "k", plan)
    assert plan.calls == 2 and len(cache) == 0


def test_the_least_recently_used_answer_goes_first() -> None:
    cache = VersionedCache[tuple[Step, ...]](size=2)
    cache.get(1, "a", Planner(A))
    cache.get(1, "b", Planner(A))
    cache.get(1, "a", Planner(B))  # a used again: b is now the oldest
    cache.get(1, "c", Planner(A))
    plan = Planner(B)
    assert cache.get(1, "a", plan) == A and plan.calls == 0
    assert cache.get(1, "b", plan) == B and plan.calls == 1


class Directory:
    """Counts how often members are looked up; anything else is answered as asked."""

    def __init__(self) -> None:
        self.looked_up: list[str] = []
        self.names = {"2003": "Auma"}

    def member_by_extension(self, extension: str) -> Member | None:
        self.looked_up.append(extension)
        name = self.names.get(extension)
        if name is None:
            return None
        return Member(
            id=3,
            name=name,
            phone="+256772100003",
            extension=extension,
            role="psw",
            district="Oyam",
            sub_county="",
            organisation="",
            supervisor_id=None,
            language="en",
            active=True,
            sip_password="x",
        )

    def short_code(self, code: str) -> str:
        return f"code {code}"


def test_members_are_looked_up_once_per_version_and_absent_ones_too() -> None:
    directory, kept = Directory(), VersionedCache[Member | None]()
    first = MembersAsOf(directory, 7, kept)
    assert first.member_by_extension("2003").name == "Auma"
    assert first.member_by_extension("2999") is None
    later = MembersAsOf(directory, 7, kept)  # the next call, nothing changed
    assert later.member_by_extension("2003").name == "Auma"
    assert later.member_by_extension("2999") is None
    assert directory.looked_up == ["2003", "2999"]
    assert later.short_code("100") == "code 100"  # the rest is the directory's own


def test_a_member_changed_meanwhile_is_read_again() -> None:
    directory, kept = Directory(), VersionedCache[Member | None]()
    MembersAsOf(directory, 7, kept).member_by_extension("2003")
    directory.names["2003"] = "Auma Christine"  # renamed: the version moved with it
    assert MembersAsOf(directory, 8, kept).member_by_extension("2003").name == "Auma Christine"
