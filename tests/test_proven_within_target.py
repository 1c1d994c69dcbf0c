"""A plan is "optimal" only when its own gap is within the target: the solver's "optimal" at
its gap target is not enough (HiGHS's MIP reported an objective 0.2% under the cost of the
solution it returned on frontier-3y present_value, so a 0.94% gap was 1.14% on the plan). The
solve makes such a plan "feasible" with a note, and the verifier rejects an "optimal" plan whose
gap is above its target."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import planner
from planner.lp import solve
from planner.lp.solve import FEASIBLE, PROVEN, SolveStats, within_target
from planner.plan import Plan
from planner.verify import check_plan

GOLDEN = Path(__file__).parent / "golden"


def stats(gap: float, status: int = PROVEN) -> SolveStats:
    return SolveStats(
        "highs", "choose", 1.0, 2.0, 98.0, 97.0, 100.0, gap, status, 10, 5, 0.01, "mip"
    )


def test_a_solver_optimum_above_the_target_is_feasible_with_a_note() -> None:
    model = SimpleNamespace(solver_notes=[])
    out = within_target(model, stats(0.0132))  # type: ignore[arg-type]
    assert out.sol_status == FEASIBLE
    assert model.solver_notes == [
        "the solver stopped at its 1.00% gap target, but the plan it returned is 1.32% over "
        "the best bound: feasible, not proven within the target"
    ]
    for within in (0.0099, 0.01):  # at or under the target: proven, no note
        model = SimpleNamespace(solver_notes=[])
        assert within_target(model, stats(within)) == stats(within)  # type: ignore[arg-type]
        assert model.solver_notes == []
    model = SimpleNamespace(solver_notes=[])
    assert within_target(model, stats(0.2, FEASIBLE)).sol_status == FEASIBLE  # type: ignore[arg-type]
    assert model.solver_notes == []  # a plan already feasible says so elsewhere


def test_the_present_value_plan_is_proven_within_its_target() -> None:
    """frontier-3y present_value, as its golden holds it (test_golden: byte for byte today's
    solve): HiGHS stopped "optimal" at 0.94% while the plan was 1.14% over the bound; the MIP
    now runs once more from that plan at a gap shrunk by the excess (solve.py _tighten), and
    lands at $2,596.4M, 0.32% over the bound, where it was $2,620.6M at 1.32% (session 26's
    maintenance on the network/storage share too: $2,636.4M, 0.32%). Session 29 (GB200/GB300
    trainers' groups straddling racks, the relaxation +0.13%): one such round returned the same
    plan, 1.04% over, HiGHS holding it within the shrunk gap by its own objective; the rounds
    now go on (at most TIGHTEN_ROUNDS, halving the gap asked after a round that changed
    nothing), and the plan is $2,645.6M, 0.90% over the bound. Session 34 (the B200-die BF16
    training fraction fitted 0.58 -> 0.48: the scenario's GB200 training dearer) moves the
    plan to $2,673.9M over a bound of $2,647.7M (0.98%): the gap is recomputed here from the
    record's cost and bound, not read from its `gap` field."""
    plan = json.loads((GOLDEN / "frontier-3y--present_value.json").read_text())
    assert plan["status"] == "optimal"
    assert plan["gap"] <= plan["solver"]["mip_gap_target"]
    cost, bound = plan["total_cost_usd"], plan["lower_bound_usd"]
    assert (cost - bound) / cost <= plan["solver"]["mip_gap_target"]
    assert cost == pytest.approx(2_673.9e6, abs=0.05e6)
    assert not plan.get("solver_notes")


def test_an_optimal_plan_above_its_target_is_caught() -> None:
    scenario = planner.load_scenario("frontier-lab")
    plan = Plan.from_dict(json.loads((GOLDEN / "frontier-lab.json").read_text()))
    assert plan.status == "optimal" and plan.gap is not None
    target = plan.solver.mip_gap_target
    found = check_plan(plan, scenario, planner.demands(scenario))
    assert found["proven_within_target"] == []
    tampered = dataclasses.replace(plan, gap=target * 1.5)
    found = check_plan(tampered, scenario, planner.demands(scenario))
    assert [name for name, msgs in found.items() if msgs] == ["proven_within_target"]
    assert found["proven_within_target"][0].startswith("status optimal, but the plan is ")


class _FakeHighs:
    """HiGHS's gap option, as _tighten reads and sets it."""

    def __init__(self) -> None:
        self.gap = 0.01

    def getOptionValue(self, name: str) -> tuple[int, float]:  # noqa: N802 (highspy's name)
        return 0, self.gap

    def setOptionValue(self, name: str, value: float) -> None:  # noqa: N802
        self.gap = value


def test_tighten_stops_on_a_round_that_proves_the_plan_against_its_raised_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bound 100 given, the plan at 103 (2.9% over a 1% target). The first round returns a plan
    at 102 and a MIP bound of 101.5: 0.49% over the best bound, so the rounds stop there and
    101.5 is returned. Before, the gap was tested against the stale 100 (1.96% over), a second
    round ran (its new search's bound 99.0) and 99.0, under the 101.5 proven, came back."""
    rounds: list[float] = []
    plans = iter([(102.0, 101.5), (102.0, 99.0), (102.0, 99.0)])
    model = SimpleNamespace(
        prob=SimpleNamespace(objective=103.0, solverModel=_FakeHighs()), solver_run_s=0.0
    )

    def run_mip(model: Any, solver: Any, offer: Any = None) -> None:
        model.prob.objective, bound = next(plans)
        rounds.append(bound)
        model.bound = bound

    monkeypatch.setattr(solve, "_run_mip", run_mip)
    monkeypatch.setattr(solve, "outcome", lambda prob: solve.OPTIMAL)
    monkeypatch.setattr(solve, "_highs_bound", lambda model: getattr(model, "bound", 100.0))
    how, bound, _ = solve._tighten(model, None, 100.0, 0.01)  # type: ignore[arg-type]
    assert how == solve.OPTIMAL
    assert rounds == [101.5]
    assert bound == 101.5
