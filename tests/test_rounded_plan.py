"""A plan rounded from the LP relaxation (planner/lp/incumbent.py) is the answer when it lies
within the gap of the relaxation's bound: then no MIP search runs, the plan says so
(`solver.proof: rounded`), and its gap is proven by the relaxation alone. Hand-solvable: one
site, one system, a chat tier needing a fractional number of servers x; the rounded plan holds
ceil(x), and its gap is (cost - relaxation) / cost."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from tiny_site import CHAT, write_site

import planner
from planner.plan import Plan
from planner.report import format_plan

# Enough requests that the tier needs a fraction of a server more than a whole number.
BUSY = CHAT.replace("requests_per_day: 1M", "requests_per_day: 60M")


def _plans(tmp_path: Path, gap: float) -> tuple[Plan, Plan]:
    path = write_site(tmp_path, BUSY)
    relaxed = planner.solve(planner.load_scenario(path), relax=True)
    sc = planner.load_scenario(path, sets=["solver.incumbent=true"])
    return relaxed, planner.solve(sc, mip_gap=gap)


def _units(plan: Plan) -> float:
    return sum(row.units for row in plan.fleet)


def test_within_the_gap_the_rounded_plan_is_the_answer(tmp_path: Path) -> None:
    relaxed, plan = _plans(tmp_path, gap=0.5)
    x = _units(relaxed)
    assert x != pytest.approx(round(x), abs=1e-3), "the test needs a fractional relaxation"
    assert plan.solver.proof == "rounded"
    assert _units(plan) == math.ceil(x)
    # Proven by the relaxation's bound alone: the gap is the rounded plan's excess over it.
    assert plan.lower_bound_usd == pytest.approx(relaxed.total_cost_usd, rel=1e-9)
    expected_gap = (plan.total_cost_usd - relaxed.total_cost_usd) / plan.total_cost_usd
    assert plan.gap == pytest.approx(expected_gap, abs=1e-9)
    assert 0 < plan.gap <= 0.5
    assert plan.status == "optimal"
    assert "no MIP search" in format_plan(plan)


def test_outside_the_gap_the_mip_searches(tmp_path: Path) -> None:
    relaxed, rounded = _plans(tmp_path, gap=0.5)
    needed = (rounded.total_cost_usd - relaxed.total_cost_usd) / rounded.total_cost_usd
    _, plan = _plans(tmp_path, gap=needed / 2)
    assert plan.solver.proof == "mip"
    # One pool: the whole-unit optimum is the same ceil(x) servers.
    assert _units(plan) == math.ceil(_units(relaxed))
    assert plan.total_cost_usd == pytest.approx(rounded.total_cost_usd, rel=1e-9)


def test_the_proof_is_in_the_plan_json(tmp_path: Path) -> None:
    _, plan = _plans(tmp_path, gap=0.5)
    again = Plan.from_dict(json.loads(plan.to_json()))
    assert again.solver.proof == "rounded"


def test_an_interior_point_relaxation_gives_the_same_plan(tmp_path: Path, monkeypatch) -> None:
    """solver.method: ipm solves the relaxation by interior point; the rounded plan's re-solves
    after it are interior point too (presolved: the idle pools drop out), and the plan is the
    simplex one's."""
    from planner.lp import incumbent

    methods: list[str] = []
    fix_and_solve = incumbent._fix_and_solve

    def recording(model, fixes):
        methods.append(model.prob.solverModel.getOptionValue("solver")[1])
        return fix_and_solve(model, fixes)

    relaxed, simplex = _plans(tmp_path, gap=0.5)
    monkeypatch.setattr(incumbent, "_fix_and_solve", recording)
    path = write_site(tmp_path, BUSY)
    sc = planner.load_scenario(path, sets=["solver.incumbent=true", "solver.method=ipm"])
    plan = planner.solve(sc, mip_gap=0.5)
    assert methods and set(methods) == {"ipm"}
    assert plan.solver.proof == "rounded"
    assert _units(plan) == math.ceil(_units(relaxed))
    assert plan.lower_bound_usd == pytest.approx(relaxed.total_cost_usd, rel=1e-6)
    assert plan.total_cost_usd == pytest.approx(simplex.total_cost_usd, rel=1e-9)


def test_auto_keeps_the_rounded_plan_outside_the_gap(tmp_path: Path, monkeypatch) -> None:
    """With solver.incumbent: auto on a large model (here: any model, the thresholds lowered), a
    rounded plan outside the gap is still the plan: "feasible", its gap proven by the
    relaxation's bound and above the target, no MIP search (HiGHS's root heuristics do not keep
    to the time limit at fleet scale); `true` runs the MIP from it instead."""
    from planner.lp import incumbent, solve

    relaxed, rounded = _plans(tmp_path, gap=0.5)
    excess = (rounded.total_cost_usd - relaxed.total_cost_usd) / rounded.total_cost_usd
    monkeypatch.setattr(incumbent, "ROUNDED_COLUMNS", 0)
    monkeypatch.setattr(incumbent, "LARGE_COLUMNS", 0)
    # the whole-unit bound's group cut proves this plan optimal (the next test): off here, so
    # the case stays a plan outside the relaxation's gap
    monkeypatch.setattr(solve, "cut_lp", lambda model: None)
    path = write_site(tmp_path, BUSY)
    plan = planner.solve(planner.load_scenario(path), mip_gap=excess / 2)
    assert plan.solver.proof == "rounded" and plan.status == "feasible"
    assert _units(plan) == math.ceil(_units(relaxed))
    assert plan.lower_bound_usd == pytest.approx(relaxed.total_cost_usd, rel=1e-9)
    assert plan.gap == pytest.approx(excess, abs=1e-9) and plan.gap > excess / 2
    assert "above the gap target" in format_plan(plan)
    forced = planner.load_scenario(path, sets=["solver.incumbent=true"])
    assert planner.solve(forced, mip_gap=excess / 2).solver.proof == "mip"


def test_auto_on_a_mid_sized_model(tmp_path: Path, monkeypatch) -> None:
    """With solver.incumbent: auto from ROUNDED_COLUMNS columns (here: any model, the threshold
    lowered) and below LARGE_COLUMNS, the rounded plan is the answer within the gap (no MIP
    search) and HiGHS's MIP runs from it outside the gap; below ROUNDED_COLUMNS (the default on
    this one-pool model) the MIP runs whatever the gap."""
    from planner.lp import incumbent

    relaxed, rounded = _plans(tmp_path, gap=0.5)
    excess = (rounded.total_cost_usd - relaxed.total_cost_usd) / rounded.total_cost_usd
    path = write_site(tmp_path, BUSY)
    assert planner.solve(planner.load_scenario(path), mip_gap=0.5).solver.proof == "mip"
    monkeypatch.setattr(incumbent, "ROUNDED_COLUMNS", 0)
    within = planner.solve(planner.load_scenario(path), mip_gap=0.5)
    assert within.solver.proof == "rounded" and within.status == "optimal"
    assert _units(within) == math.ceil(_units(relaxed))
    outside = planner.solve(planner.load_scenario(path), mip_gap=excess / 2)
    assert outside.solver.proof == "mip" and outside.status == "optimal"
    assert outside.total_cost_usd == pytest.approx(rounded.total_cost_usd, rel=1e-9)


def test_a_large_relaxation_is_solved_by_interior_point(tmp_path: Path, monkeypatch) -> None:
    """With the method left to HiGHS, an LP relaxation of IPM_COLUMNS columns and more is solved
    by interior point (faster at 205k-368k columns, README "Speed"); below it, by simplex; the
    optimum is the same; a method the scenario names is kept."""
    from planner.api import demands
    from planner.lp import solve as solve_module
    from planner.lp.build import build

    path = write_site(tmp_path, BUSY)

    def relaxation(method: str) -> tuple[float, str]:
        scenario = planner.load_scenario(path)
        model = build(scenario, demands(scenario))
        stats = solve_module.solve_model(model, "highs", 0.01, 60.0, method, relax_only=True)
        assert stats.objective_usd is not None
        return stats.objective_usd, model.prob.solverModel.getOptionValue("solver")[1]

    simplex_usd, used = relaxation("choose")
    assert used == "choose"  # HiGHS's choice for an LP: simplex
    monkeypatch.setattr(solve_module, "IPM_COLUMNS", 0)
    interior_usd, used = relaxation("choose")
    assert used == "ipm"
    assert interior_usd == pytest.approx(simplex_usd, rel=1e-7)
    assert relaxation("simplex")[1] == "simplex"


def test_a_large_model_is_scaled_by_its_largest_values(tmp_path: Path, monkeypatch) -> None:
    """From LARGE_COLUMNS columns HiGHS's simplex scales the matrix by its largest values (its
    default equilibration took 1.4x the iterations and 2.6x the time at 174k columns, README
    "Speed"); below, or after an interior point relaxation, HiGHS's default is kept; the
    relaxation's optimum is the same."""
    from planner.api import demands
    from planner.lp import solve as solve_module
    from planner.lp.build import build

    path = write_site(tmp_path, BUSY)

    def relaxation() -> tuple[float, int]:
        scenario = planner.load_scenario(path)
        model = build(scenario, demands(scenario))
        stats = solve_module.solve_model(model, "highs", 0.01, 60.0, "choose", relax_only=True)
        assert stats.objective_usd is not None
        highs = model.prob.solverModel
        return stats.objective_usd, highs.getOptionValue("simplex_scale_strategy")[1]

    usd, strategy = relaxation()
    assert strategy == 2  # HiGHS's default, equilibration
    monkeypatch.setattr(solve_module, "LARGE_COLUMNS", 0)
    scaled_usd, strategy = relaxation()
    assert strategy == solve_module.MAX_VALUE_SCALING
    assert scaled_usd == pytest.approx(usd, rel=1e-9)
    monkeypatch.setattr(solve_module, "IPM_COLUMNS", 0)  # an interior point relaxation
    assert relaxation()[1] == 2


def test_the_whole_unit_bound_proves_the_rounded_plan_outside_the_relaxations_gap(
    tmp_path: Path, monkeypatch
) -> None:
    """The same rounded plan with the whole-unit bound on: the tier's decode and prefill rows
    share the one pool in one period and need x = decode + prefill servers together (3.31 in
    the relaxation), so whole units need ceil(x) = 4 in service (planner/lp/unitbound.py
    `_group_cuts`), the rounded plan's count: its cost is the bound, the gap 0, and the plan is
    proven ("optimal", session 28; it was left "feasible" with a 0 gap), the report naming the
    whole-unit bound as the proof."""
    from planner.lp import incumbent

    relaxed, rounded = _plans(tmp_path, gap=0.5)
    excess = (rounded.total_cost_usd - relaxed.total_cost_usd) / rounded.total_cost_usd
    decode = sum(a.units for a in relaxed.allocations if a.role == "decode")
    prefill = sum(a.units for a in relaxed.allocations if a.role == "prefill")
    # each row's own cut (ceil of its need) is short of the pair's
    assert max(math.ceil(decode), math.ceil(prefill)) < math.ceil(decode + prefill)
    monkeypatch.setattr(incumbent, "ROUNDED_COLUMNS", 0)
    monkeypatch.setattr(incumbent, "LARGE_COLUMNS", 0)
    path = write_site(tmp_path, BUSY)
    plan = planner.solve(planner.load_scenario(path), mip_gap=excess / 2)
    assert plan.solver.proof == "rounded"
    assert _units(plan) == math.ceil(decode + prefill)
    assert plan.lower_bound_usd == pytest.approx(plan.total_cost_usd, rel=1e-9)
    assert plan.gap == pytest.approx(0.0, abs=1e-9)
    assert plan.status == "optimal"
    text = format_plan(plan)
    assert "proven by the whole-unit bound" in text and "above the gap target" not in text
