"""CI guard for the fast path at fleet scale (issue 14): a bench_lp fleet past LARGE_COLUMNS
(30 sites x 5 systems, quarters over 5 years, scale 1.2: ~102k columns, ~5 s CPU) planned
as a user plans it, with nothing forced. The plan must come from the rounded-aggregated proof,
within the gap target against the relaxed aggregated LP's optimum, and pass the verifier.

Why: session 27 found that a maintenance change made the fast path refuse its rounded plan at
100 sites (3.6e-8 sandbox cores at a site with no unit), so the bench fell to the full MIP and
its 300 s time limit; no test noticed for a whole session. This fleet is what CI can afford;
the 100-site fleet (39 s CPU) is the bench's (bench/bench_lp.py --sites 100 --systems 5
--period '1 quarter' --horizon '6 years' --scale 1.2).

No clock decides these tests (session 34: the 10-site test's 60 s solver.time_limit passed at
load ~2 and failed at load 16+, its 27 s solve slowed past the limit). Each plan gets
NO_CLOCK_S, a limit no load reaches before CI's own timeout, and a regression off the fast path
fails at once, when the slower path starts, not when a limit runs out: `_no_full_path` (the
fleets past FAST_BOUND_COLUMNS: the full path must not run) and `_no_mip_search` (the rounded
path: no HiGHS MIP search may start)."""

from __future__ import annotations

from pathlib import Path

import bench_module
import pytest

import planner
from planner.lp import solve as solve_module
from planner.verify import RULES

BENCH = bench_module.load("bench_lp")

# solver.time_limit of every plan below: one day, so the plan's outcome never waits on the
# clock (these solves take 20-30 s at load ~2; a machine 3,000 times slower is not one CI runs
# on). What stops a regression is the guards below, which need no clock.
NO_CLOCK_S = 86400.0


class SlowPathRan(Exception):
    """A guard's failure: the solve began a path the test says the plan does not need."""


def _no_full_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The full path (LP relaxation, then rounding or MIP search: `_solve_full`) fails the test
    the moment it starts, its reason in the message (the solver notes the fast path left)."""

    def refused(model, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise SlowPathRan(f"the full path ran: {model.solver_notes}")

    monkeypatch.setattr(solve_module, "_solve_full", refused)


def _no_mip_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every HiGHS MIP search fails the test the moment it starts: on the model in place
    (`_run_mip`: the start was not the plan, or the tight-tolerance re-run) and handed over
    again (`_run` with a MIP solver: a repair's re-solve). LP runs go through."""
    run = solve_module._run

    def mip_in_place(model, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise SlowPathRan(f"a MIP search ran on the model in place: {model.solver_notes}")

    def lp_only(model, solver, deadline=None):  # noqa: ANN001, ANN202
        if solver.mip:
            raise SlowPathRan(f"a MIP search ran (a repair's re-solve): {model.solver_notes}")
        return run(model, solver, deadline)

    monkeypatch.setattr(solve_module, "_run_mip", mip_in_place)
    monkeypatch.setattr(solve_module, "_run", lp_only)


def _bench_fleet(tmp_path: Path) -> Path:
    return BENCH.write_scenario(
        tmp_path, 30, 5, 12, 2, "1 quarter", "5 years", 1.2, time_limit_s=NO_CLOCK_S
    )


def test_the_bench_fleet_is_planned_on_the_fast_path_with_its_proof(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = planner.load_scenario(_bench_fleet(tmp_path))
    _no_full_path(monkeypatch)
    plan = planner.solve(scenario)
    assert plan.solver.variables >= solve_module.FAST_BOUND_COLUMNS  # the path applies unforced
    assert plan.solver.proof == solve_module.ROUNDED_AGGREGATED, plan.solver_notes
    assert plan.solver_notes == []  # no refusal, no full path
    assert plan.status == "optimal"
    # the gap recomputed from the plan's own cost and the relaxed aggregated LP's optimum
    assert plan.lower_bound_usd is not None and plan.gap is not None
    gap = (plan.total_cost_usd - plan.lower_bound_usd) / plan.total_cost_usd
    assert plan.gap == pytest.approx(gap, rel=1e-6, abs=1e-9)
    assert 0 <= gap <= plan.solver.mip_gap_target
    # every verifier rule ran and passed (verify raises on a violation): whole units included
    assert plan.checks == [rule.name for rule in RULES.values()]


# The sandbox cores the 100-site bench fleet's rounded plan left at a site with no unit in
# service (session 27): the LP's feasibility tolerance, nothing charged.
NOISE_CORES = 3.6e-8


def test_the_fast_path_keeps_its_plan_over_tolerance_noise_in_sandbox_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 100-site regression on a fleet CI affords: the noise that fleet's rounded plan held
    (NOISE_CORES sandbox cores in a cpu row whose supply columns all read back 0) is put into
    this fleet's rounded plan, in the first such row, right after the fast path polishes it.
    The fast path must keep the plan (proof, gap, verifier). With SANDBOX_CORES_ZERO back at
    1e-9 (session 27's regression) the fast path refuses it and this test fails."""
    scenario = planner.load_scenario(_bench_fleet(tmp_path))
    placed: list[str] = []
    polish = solve_module._polish

    def polish_then_noise(model, solver):  # noqa: ANN001, ANN202
        polish(model, solver)
        if placed:
            return
        cores = {var.name for var in model.cores.values()}
        for label, row in model.constraints.items():
            if label.family != "cpu" or row.constant < 0:
                continue
            supply = [var for var, c in row.items() if c < 0]
            if not supply or any(round(var.value() or 0.0) != 0 for var in supply):
                continue
            for var, c in row.items():
                if c > 0 and var.name in cores and (var.value() or 0.0) == 0.0:
                    var.varValue = NOISE_CORES
                    placed.append(var.name)
                    return

    monkeypatch.setattr(solve_module, "_polish", polish_then_noise)
    _no_full_path(monkeypatch)
    plan = planner.solve(scenario)
    assert placed, "no cpu row with no unit in service: the noise was not placed"
    assert plan.solver.proof == solve_module.ROUNDED_AGGREGATED, plan.solver_notes
    assert plan.solver_notes == []
    assert plan.lower_bound_usd is not None
    gap = (plan.total_cost_usd - plan.lower_bound_usd) / plan.total_cost_usd
    assert 0 <= gap <= plan.solver.mip_gap_target
    assert plan.checks == [rule.name for rule in RULES.values()]


def test_a_refused_rounded_plan_says_why_in_the_solver_notes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refusal names the check that failed (the 100-site regression's note said only 'work on
    no unit' though sandbox cores were the cause). The fast path is forced on
    tests/test_fast_bound.py's 4-site fleet; its rounded plan is made to fail the sandbox check
    once (one cpu row), so the full path runs and gives the plan."""
    import test_fast_bound

    calls: list[int] = []
    original = solve_module._cores_on_no_unit

    def refused_once(model):  # noqa: ANN001, ANN202
        calls.append(1)
        return [[]] if len(calls) == 1 else original(model)

    monkeypatch.setattr(solve_module, "FAST_BOUND_COLUMNS", 0)
    monkeypatch.setattr(solve_module, "_cores_on_no_unit", refused_once)
    model = test_fast_bound.fleet(10.0)
    stats = solve_module.solve_model(model, "highs", 0.01, 60.0, "choose", relax_only=False)
    refusal = [note for note in model.solver_notes if "gave no plan" in note]
    assert len(refusal) == 1, model.solver_notes
    assert "the rounded plan needed a repair (sandbox cores on no unit in 1 cpu rows" in refusal[0]
    assert "work on no unit" not in refusal[0]  # only the check that failed is named
    assert stats.proof != solve_module.ROUNDED_AGGREGATED


def test_a_smaller_fleet_is_planned_by_the_rounded_path_with_its_proof(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other fast path: below FAST_BOUND_COLUMNS (10 sites x 5 systems over 6 years of
    quarters, 8 RL runs with their sandbox cores: ~42k columns) the plan is rounded from the
    full LP relaxation and proven by its bound (`rounded`), no MIP search. Checked to fail with
    every CPU row whose supply rounds to no unit taken as work on no unit (SANDBOX_CORES_ZERO =
    -1): the plan needs a repair, whose MIP re-solve `_no_mip_search` stops at once (it was a
    60 s solver.time_limit, which also failed the test when load slowed the solve past it)."""
    path = BENCH.write_scenario(
        tmp_path, 10, 5, 12, 8, "1 quarter", "6 years", 0.4, time_limit_s=NO_CLOCK_S
    )
    _no_mip_search(monkeypatch)
    plan = planner.solve(planner.load_scenario(path))
    assert plan.solver.variables < solve_module.FAST_BOUND_COLUMNS
    assert plan.solver.proof == "rounded", plan.solver_notes
    assert plan.solver_notes == []
    assert plan.status == "optimal"
    assert plan.lower_bound_usd is not None and plan.gap is not None
    gap = (plan.total_cost_usd - plan.lower_bound_usd) / plan.total_cost_usd
    assert 0 <= gap <= plan.solver.mip_gap_target
    assert plan.checks == [rule.name for rule in RULES.values()]
    assert sum(1 for w in plan.workloads if w.kind == "rl") == 8
