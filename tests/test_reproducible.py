"""The same input gives the same plan, byte for byte, whatever the machine's load (README "Plan
JSON"). Two decisions used to depend on the clock: the rounded plan's re-solves after an
interior point relaxation had simplex for a share of the relaxation's wall time before
interior point (planner/lp/incumbent.py `_resolve`), and a large relaxation is raced, simplex
against interior point, the first to finish kept (planner/lp/race.py). The budget is now a
count of simplex iterations from the LP's rows; the race runs only with solver.reproducible:
false, and the plan's solver_notes then say so. Tested on the 4-site bench fleet of
tests/test_fast_bound.py with the size thresholds lowered (the shipped scenarios are far below
them); nothing here reads a wall clock."""

from __future__ import annotations

import math
import time

import pytest
from test_fast_bound import fleet

import planner
from planner.lp import incumbent
from planner.lp import race as race_mod
from planner.lp import solve as solve_module
from planner.readplan import read_plan

_TIMED_RUN = incumbent._timed_run  # the module's own, before any test wraps it


class _LoadedClock:
    """time as a loaded machine sees it: every perf_counter() reading `factor` times the real
    elapsed time (HiGHS and the planner seem `factor` times slower)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.origin = time.perf_counter()

    def perf_counter(self) -> float:
        return self.origin + (time.perf_counter() - self.origin) * self.factor

    def __getattr__(self, name: str):
        return getattr(time, name)


@pytest.fixture
def ipm_fleet(monkeypatch: pytest.MonkeyPatch):
    """The fast path forced on, its restricted LP solved by interior point (as from
    IPM_COLUMNS columns), so the rounded plan's re-solves take `_resolve`'s budgeted path."""
    monkeypatch.setattr(solve_module, "FAST_BOUND_COLUMNS", 0)
    monkeypatch.setattr(solve_module, "IPM_COLUMNS", 0)


def _solve_recording(monkeypatch: pytest.MonkeyPatch, clock: object = time):
    """The fleet at scale 10 solved with `clock` as the planner's time module; the plan JSON,
    the rows, and (solver, simplex_iteration_limit, time_limit) of each HiGHS run in
    `_resolve`."""
    runs: list[tuple[str, int, float]] = []

    def recording(model) -> None:
        highs = model.prob.solverModel
        runs.append(
            (
                highs.getOptionValue("solver")[1],
                highs.getOptionValue("simplex_iteration_limit")[1],
                highs.getOptionValue("time_limit")[1],
            )
        )
        _TIMED_RUN(model)

    monkeypatch.setattr(incumbent, "_timed_run", recording)
    monkeypatch.setattr(incumbent, "time", clock)
    monkeypatch.setattr(solve_module, "time", clock)
    model = fleet(10.0)
    stats = solve_module.solve_model(model, "highs", 0.01, 1e6, "choose", relax_only=False)
    rows = model.prob.solverModel.getNumRow()
    return read_plan(model, stats, relaxed=False).to_json(), rows, runs


def test_the_warm_budget_is_an_iteration_count_from_the_rows(
    ipm_fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, rows, runs = _solve_recording(monkeypatch)
    budget = max(1_000, math.ceil(0.03 * rows))  # WARM_MIN_ITERATIONS, WARM_ITERATIONS_PER_ROW
    simplex = [run for run in runs if run[0] == "simplex"]
    assert simplex, "no re-solve took the budgeted simplex path"
    assert {limit for _, limit, _ in simplex} == {budget}
    # HiGHS's time limit is the scenario's (1e6 s, less what ran before), never the budget
    assert all(limit > 1e5 for _, _, limit in runs)
    # interior point runs (if any) and the idle pools' run have no iteration limit
    assert all(limit == 2**31 - 1 for method, limit, _ in runs if method != "simplex")


@pytest.mark.parametrize("factor", [1e-9, 1e3])
def test_a_plan_is_the_same_bytes_under_a_loaded_clock(
    ipm_fleet, monkeypatch: pytest.MonkeyPatch, factor: float
) -> None:
    """A clock running 1,000 times fast (a machine 1,000 times as loaded) or all but stopped
    changes no decision: the same budgets, the same HiGHS runs, the same plan JSON. (With the
    budget a share of the relaxation's wall time, the stopped clock gave simplex no time: every
    re-solve went to interior point.)"""
    plain, _, plain_runs = _solve_recording(monkeypatch)
    loaded, _, loaded_runs = _solve_recording(monkeypatch, _LoadedClock(factor))
    assert [run[:2] for run in loaded_runs] == [run[:2] for run in plain_runs]
    assert loaded == plain


def test_a_resolve_past_its_budget_goes_by_interior_point_and_lowers_it(
    ipm_fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budget of 1 iteration: the re-solves that need more are solved by interior point, the
    budget then at most that run's work (at least WARM_MIN_ITERATIONS), the plan the same
    cost."""
    plain, _, _ = _solve_recording(monkeypatch)
    monkeypatch.setattr(incumbent, "WARM_MIN_ITERATIONS", 1)
    monkeypatch.setattr(incumbent, "WARM_ITERATIONS_PER_ROW", 0.0)
    _, _, runs = _solve_recording(monkeypatch)
    simplex = [limit for method, limit, _ in runs if method == "simplex"]
    assert simplex and set(simplex) == {1}
    assert any(method == "ipm" for method, _, _ in runs)


def _frontier(monkeypatch: pytest.MonkeyPatch, sets: list[str]) -> tuple[planner.Plan, list]:
    """frontier-3y solved with every LP relaxation raceable (RACE_COLUMNS 0); the plan and the
    races run."""
    monkeypatch.setattr(race_mod, "RACE_COLUMNS", 0)
    winners: list[str | None] = []
    race = race_mod.race

    def recording(highs: object) -> str | None:
        won = race(highs)
        winners.append(won)
        return won

    monkeypatch.setattr(solve_module, "race", recording)
    plan = planner.solve(planner.load_scenario("frontier-3y", sets=sets))
    return plan, winners


def test_reproducible_skips_the_race(monkeypatch: pytest.MonkeyPatch) -> None:
    plan, winners = _frontier(monkeypatch, [])  # solver.reproducible: true, the default
    assert winners == []
    assert not any("raced" in note for note in plan.solver_notes)


def test_a_raced_plan_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    plan, winners = _frontier(monkeypatch, ["solver.reproducible=false"])
    assert len(winners) >= 1 and winners[0] in race_mod.METHODS
    note = solve_module.RACED_NOTE.format(method=winners[0])
    assert note in plan.solver_notes
    assert "solver.reproducible: true" in note and "may differ from run to run" in note
    assert "solver_notes" in plan.to_dict()


class _StoppedHighs:
    """A HiGHS model whose last run ended at a limit (no clock read: the status is set)."""

    def __init__(self, status: object) -> None:
        self.status = status

    def getModelStatus(self) -> object:  # noqa: N802 - highspy's name
        return self.status


@pytest.mark.parametrize(
    ("status", "noted"),
    [("kTimeLimit", True), ("kInterrupt", True), ("kOptimal", False), ("kIterationLimit", False)],
)
def test_a_plan_a_time_limit_stopped_says_so(status: str, noted: bool) -> None:
    """A plan ("feasible") from a run solver.time_limit stopped depends on where the clock
    stopped it: its solver_notes say so, once; other plans get no such note."""
    import types

    import highspy

    highs = _StoppedHighs(getattr(highspy.HighsModelStatus, status))
    model = types.SimpleNamespace(prob=types.SimpleNamespace(solverModel=highs), solver_notes=[])
    for _ in range(2):
        solve_module._check_mip(model, solve_module.INCUMBENT, "highs", 30.0, "choose")  # type: ignore[arg-type]
    note = solve_module.TIME_LIMIT_NOTE.format(limit=30.0)
    assert model.solver_notes == ([note] if noted else [])
    assert "30 s" in note
