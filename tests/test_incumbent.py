"""The primal heuristic (planner/lp/incumbent.py): the start it builds from the LP relaxation is a
whole plan that satisfies every row and bound, and a plan solved with it costs what the plan
solved without it costs, within the gap HiGHS proves for each."""

from __future__ import annotations

import math

import highspy
import numpy as np
import pulp
import pytest

import planner
from planner.api import demands
from planner.lp import solve as solve_mod
from planner.lp.build import build
from planner.lp.incumbent import find_start

SCENARIO = "frontier-lab"  # one-site/one-system training and RL binaries, integer orders
TOL = 1e-6


ON = ("solver.incumbent=true",)
OFF = ("solver.incumbent=false",)


def _relaxed_model(sets: tuple[str, ...]) -> solve_mod.Model:
    sc = planner.load_scenario(SCENARIO, sets=sets)
    model = build(sc, demands(sc))
    status, _ = solve_mod._run(model, solve_mod.make_solver("highs", False, 0.01, 60.0, "choose"))
    assert status == solve_mod.OPTIMAL
    return model


def test_the_start_is_a_whole_plan_within_every_row_and_bound() -> None:
    model = _relaxed_model(ON)
    relaxation = list(model.prob.solverModel.getSolution().col_value)
    start = find_start(model)
    assert start is not None
    values = dict(zip(start.columns, start.values, strict=True))
    for var in model.prob.variables():
        value = values[var.index]
        var.varValue = value
        if var.cat == pulp.LpInteger:
            assert value == pytest.approx(round(value), abs=TOL), var.name
        assert var.lowBound is None or value >= var.lowBound - TOL, var.name
        assert var.upBound is None or value <= var.upBound + TOL, var.name
    broken = [label for label, con in model.constraints.items() if not con.valid(TOL)]
    assert broken == []
    # No plan costs less than the relaxation; the start is a plan.
    assert pulp.value(model.prob.objective) >= sum(
        c * relaxation[v.index] for v, c in model.prob.objective.items()
    ) + model.prob.objective.constant - TOL * abs(model.prob.objective.constant + 1)
    # The relaxation is left as it was: the same optimum, re-read from HiGHS.
    after = model.prob.solverModel.getSolution().col_value
    assert all(math.isclose(a, b, abs_tol=TOL) for a, b in zip(after, relaxation, strict=True))


def test_switched_off_there_is_no_start() -> None:
    assert find_start(_relaxed_model(OFF)) is None


def test_the_plan_costs_the_same_with_and_without_the_start_within_the_gap() -> None:
    on = planner.solve(planner.load_scenario(SCENARIO, sets=ON))
    off = planner.solve(planner.load_scenario(SCENARIO, sets=OFF))
    gap = max(on.gap, off.gap, 0.0)
    # Each plan is proven within its gap of the bound; both bounds are below the optimum.
    assert on.total_cost_usd <= off.total_cost_usd / (1 - off.gap) + TOL
    assert off.total_cost_usd <= on.total_cost_usd / (1 - on.gap) + TOL
    assert math.isclose(on.total_cost_usd, off.total_cost_usd, rel_tol=gap + TOL)


def test_after_an_interior_point_relaxation_the_relaxation_is_put_back_by_simplex() -> None:
    """The start's re-solves keep the relaxation's method (interior point here), but putting the
    relaxation back is a simplex run from its basis (an interior point run would discard the
    basis and solve it again from scratch); the option is left as it was."""
    sc = planner.load_scenario(SCENARIO, sets=ON)
    model = build(sc, demands(sc))
    status, _ = solve_mod._run(model, solve_mod.make_solver("highs", False, 0.01, 60.0, "ipm"))
    assert status == solve_mod.OPTIMAL
    highs = model.prob.solverModel
    relaxation = list(highs.getSolution().col_value)
    start = find_start(model)  # no acceptance: the start is offered, the relaxation put back
    assert start is not None and not start.proven
    info = highs.getInfo()
    assert info.ipm_iteration_count == 0 and info.simplex_iteration_count == 0
    assert highs.getOptionValue("solver")[1] == "ipm"
    after = highs.getSolution().col_value
    assert all(math.isclose(a, b, abs_tol=TOL) for a, b in zip(after, relaxation, strict=True))


def test_a_large_simplex_re_solve_is_presolved_for_infeasibility_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From LARGE_COLUMNS columns a re-solve after a simplex relaxation runs HiGHS's presolve
    first: a try with no member of a one-of choice group (the job placed nowhere) is found
    infeasible there, without a simplex run, and the basis is kept for the next try; below
    LARGE_COLUMNS the same try is a simplex run."""
    from planner.lp import incumbent

    for large, runs_expected in ((0, 0), (10**9, 1)):
        monkeypatch.setattr(incumbent, "LARGE_COLUMNS", large)
        model = _relaxed_model(ON)
        highs = model.prob.solverModel
        assert highs.getOptionValue("solver")[1] != "ipm"
        group = next(g for g, one in incumbent._groups(model) if one)
        highs.changeColsBounds(
            len(group), np.array(group, dtype=np.int32), np.zeros(len(group)), np.zeros(len(group))
        )
        runs: list[str] = []
        run = incumbent._timed_run

        def counting(m: solve_mod.Model, runs: list[str] = runs, run=run) -> None:
            runs.append("run")
            run(m)

        monkeypatch.setattr(incumbent, "_timed_run", counting)
        incumbent._resolve(model)
        monkeypatch.setattr(incumbent, "_timed_run", run)
        assert highs.getModelStatus() == highspy.HighsModelStatus.kInfeasible
        assert len(runs) == runs_expected
        if large == 0:
            assert highs.getBasis().valid


def test_the_start_is_the_same_from_pool_columns_made_by_the_caller(monkeypatch) -> None:
    """planner/lp/solve.py `_solve_fast` hands find_start the pool_columns it made for the
    bound's idle pools (pools=): the start is the one find_start builds from its own, and those
    pools are the ones it leaves idle (an empty map: no pool left out, a different dive)."""
    from planner.lp import incumbent

    made = find_start(_relaxed_model(ON))
    model = _relaxed_model(ON)
    handed = find_start(model, pools=incumbent.pool_columns(model))
    assert made is not None and handed is not None
    assert handed.values == made.values and handed.objective == made.objective
    fixed: list[int] = []
    monkeypatch.setattr(incumbent, "_fix_idle", lambda m, idle: fixed.extend(idle))
    find_start(_relaxed_model(ON), pools={})
    assert fixed == []
    model = _relaxed_model(ON)
    find_start(model, pools=incumbent.pool_columns(model))
    assert fixed  # frontier-lab's relaxation leaves pools idle


def test_stable_order_is_numpys_stable_argsort() -> None:
    """planner/lp/incumbent.py `stable_order` (16 bits a pass) gives np.argsort's stable
    permutation: keys with many ties, keys past 16 and 32 bits, one key, none, negative keys
    (numpy's own sort)."""
    from planner.lp.incumbent import stable_order

    rng = np.random.default_rng(11)
    cases = [
        rng.integers(0, 40, size=5000),  # ties: the stable order within them counts
        rng.integers(0, 120_000, size=50_000),  # two passes
        rng.integers(0, 2**40, size=3000),  # three
        np.array([7]),
        np.zeros(0, dtype=np.int64),
        rng.integers(-5, 5, size=300),
        rng.integers(0, 60_000, size=4000).astype(np.int32),
    ]
    for keys in cases:
        assert np.array_equal(stable_order(keys), np.argsort(keys, kind="stable"))
