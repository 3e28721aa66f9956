"""Escalation steps kept for calls alike, dropped when the directory's version moves."""

from __future__ import annotations

from routing.escalation import Step
from routing.step_cache import StepCache

A = [Step(label="callee")]
B = [Step(label="supervisor")]


class Planner:
    def __init__(self, steps: list[Step]) -> None:
        self.steps, self.calls = steps, 0

    def __call__(self) -> list[Step]:
        self.calls += 1
        return list(self.steps)


def test_calls_alike_are_planned_once_until_the_version_moves() -> None:
    cache, plan = StepCache(), Planner(A)
    assert cache.steps(1, "k", plan) == A
    assert cache.steps(1, "k", plan) == A
    assert plan.calls == 1
    plan.steps = B
    assert cache.steps(2, "k", plan) == B  # members or chains changed: planned again
    assert plan.calls == 2


def test_a_caller_changing_the_steps_they_got_changes_nothing_kept() -> None:
    cache = StepCache()
    got = cache.steps(1, "k", Planner(A))
    got.append(Step(label="extra"))
    assert cache.steps(1, "k", Planner(B)) == A


def test_without_a_version_nothing_is_kept() -> None:
    cache, plan = StepCache(), Planner(A)
    cache.steps(None, "k", plan)
    cache.steps(None, "k", plan)
    assert plan.calls == 2 and len(cache) == 0


def test_the_least_recently_used_plan_goes_first() -> None:
    cache = StepCache(size=2)
    cache.steps(1, "a", Planner(A))
    cache.steps(1, "b", Planner(A))
    cache.steps(1, "a", Planner(B))  # a used again: b is now the oldest
    cache.steps(1, "c", Planner(A))
    plan = Planner(B)
    assert cache.steps(1, "a", plan) == A and plan.calls == 0
    assert cache.steps(1, "b", plan) == B and plan.calls == 1
