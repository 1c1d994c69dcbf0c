"""The rounded plan (planner/lp/incumbent.py) is built on the pools the LP relaxation uses; the
pools it leaves idle are fixed at 0 while rounding, and given back when rounding cannot finish
without them. Hand-solvable: two H100 sites, dc-a with cheaper power capped at exactly the x
servers (fractional) the relaxation puts there, dc-b idle in the relaxation. Rounding x up breaks
dc-a's cap, so dc-a keeps floor(x) and the rest must move to dc-b: one server there."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from tiny_site import CHAT, owned_h100_sites, write_site

import planner
from planner.lp import incumbent
from planner.plan import Plan

BUSY = CHAT.replace("requests_per_day: 1M", "requests_per_day: 60M")


def _units(plan: Plan, site: str) -> float:
    return sum(row.units for row in plan.fleet if row.datacenter == site)


def _capped(tmp_path: Path) -> tuple[Path, float, list[str]]:
    """The scenario, the relaxation's servers x, and the --set capping dc-a at x servers."""
    topology = owned_h100_sites({"dc-a": (0.05, 10, 0), "dc-b": (0.10, 10, 0)})
    path = write_site(tmp_path, BUSY, topology)
    scenario = planner.load_scenario(path)
    x = _units(planner.solve(scenario, relax=True), "dc-a")
    assert x != pytest.approx(round(x), abs=1e-3), "the test needs a fractional relaxation"
    server_w = scenario.catalog.system("hgx-h100").power_w * scenario.topology.site("dc-a").pue
    cap = [f"topology_changes.datacenters.dc-a.power_cap={x * server_w / 1e3:.9g} kW"]
    return path, x, cap


@pytest.mark.parametrize("method", [[], ["solver.method=ipm"]])
def test_rounding_takes_back_an_idle_pool_it_needs(
    tmp_path: Path, monkeypatch, method: list[str]
) -> None:
    """The same with the relaxation by interior point: the re-solves that find no plan (without
    dc-b) go through HiGHS's presolve and simplex from the basis (`_resolve`), and the dive with
    every pool still finds the plan."""
    path, x, cap = _capped(tmp_path)
    relaxed = planner.solve(planner.load_scenario(path, sets=cap), relax=True)
    assert _units(relaxed, "dc-a") == pytest.approx(x, rel=1e-6)
    assert _units(relaxed, "dc-b") == pytest.approx(0.0, abs=1e-9)  # idle in the relaxation
    dives: list[bool] = []
    dive = incumbent._dive

    def counting(model, *args, reserve=False, **options):
        dives.append(reserve)
        return dive(model, *args, reserve=reserve, **options)

    monkeypatch.setattr(incumbent, "_dive", counting)
    sc = planner.load_scenario(path, sets=[*cap, "solver.incumbent=true", *method])
    plan = planner.solve(sc, mip_gap=0.5)
    assert dives == [False, True]  # without dc-b: no start; with it: the plan
    assert plan.solver.proof == "rounded"
    assert _units(plan, "dc-a") == math.floor(x)
    assert _units(plan, "dc-b") == 1


def test_idle_pools_are_left_out_of_the_rounding(tmp_path: Path, monkeypatch) -> None:
    """Uncapped, the relaxation uses dc-a alone: every rounding re-solve has dc-b's columns
    fixed at 0, and one dive gives ceil(x) servers at dc-a."""
    path, x, _ = _capped(tmp_path)
    fixed_at_zero: list[bool] = []
    fix_and_solve = incumbent._fix_and_solve

    def recording(model, fixes):
        solved = fix_and_solve(model, fixes)
        lp = model.prob.solverModel.getLp()
        dc_b = [i for key, i in _pool_indices(model) if key == "dc-b"]
        fixed_at_zero.append(bool(dc_b) and all(lp.col_upper_[i] == 0 for i in dc_b))
        return solved

    monkeypatch.setattr(incumbent, "_fix_and_solve", recording)
    plan = planner.solve(planner.load_scenario(path, sets=["solver.incumbent=true"]), mip_gap=0.5)
    assert fixed_at_zero and all(fixed_at_zero)
    assert plan.solver.proof == "rounded"
    assert _units(plan, "dc-a") == math.ceil(x) and _units(plan, "dc-b") == 0


def _pool_indices(model) -> list[tuple[str, int]]:
    return [(pool[0], i) for pool, cols in incumbent.pool_columns(model).items() for i in cols]


def test_after_an_interior_point_relaxation_the_idle_pools_are_fixed_by_simplex(
    tmp_path: Path, monkeypatch
) -> None:
    """Fixing the idle pools at 0 leaves the relaxation's basis optimal: that run is simplex
    from it, with no iterations, even after an interior point relaxation (interior point
    discards the basis and would solve the reduced LP again); the rounding's re-solves after it
    keep the relaxation's method, and the plan is the same."""
    path, x, _ = _capped(tmp_path)
    runs: list[tuple[str, int, int]] = []
    fix_and_solve = incumbent._fix_and_solve

    def recording(model, fixes):
        solved = fix_and_solve(model, fixes)
        highs = model.prob.solverModel
        info = highs.getInfo()
        runs.append(
            (
                highs.getOptionValue("solver")[1],
                info.ipm_iteration_count,
                info.simplex_iteration_count,
            )
        )
        return solved

    monkeypatch.setattr(incumbent, "_fix_and_solve", recording)
    sets = ["solver.incumbent=true", "solver.method=ipm"]
    plan = planner.solve(planner.load_scenario(path, sets=sets), mip_gap=0.5)
    assert runs[0] == ("choose", 0, 0)  # the idle pools: simplex from the basis, no iterations
    assert len(runs) > 1 and {method for method, _, _ in runs[1:]} == {"ipm"}
    # ... and the re-solves after it go by simplex from the last basis (`_resolve`), within
    # their budget on this small LP: no interior point iterations
    assert all(ipm == 0 for _, ipm, _ in runs[1:])
    assert plan.solver.proof == "rounded"
    assert _units(plan, "dc-a") == math.ceil(x) and _units(plan, "dc-b") == 0


def test_a_resolve_past_its_simplex_budget_goes_by_interior_point(
    tmp_path: Path, monkeypatch
) -> None:
    """With no simplex iterations to spend (a budget of 0) each re-solve after the interior
    point relaxation is solved by interior point instead, to the same plan; HiGHS's time limit
    is what is left of the plan's throughout."""
    path, x, _ = _capped(tmp_path)
    monkeypatch.setattr(incumbent, "WARM_ITERATIONS_PER_ROW", 0.0)
    monkeypatch.setattr(incumbent, "WARM_MIN_ITERATIONS", 0)
    runs: list[tuple[str, float]] = []
    timed_run = incumbent._timed_run

    def recording(model) -> None:
        highs = model.prob.solverModel
        runs.append((highs.getOptionValue("solver")[1], highs.getOptionValue("time_limit")[1]))
        timed_run(model)

    monkeypatch.setattr(incumbent, "_timed_run", recording)
    sets = ["solver.incumbent=true", "solver.method=ipm", "solver.time_limit=123 s"]
    plan = planner.solve(planner.load_scenario(path, sets=sets), mip_gap=0.5)
    assert runs[0][0] == "choose"  # the idle pools
    # every re-solve by interior point, under what is left of the plan's 123 s (HiGHS counts
    # it over the model's runs: one figure for all of them)
    assert len(runs) > 1 and {method for method, _ in runs[1:]} == {"ipm"}
    (limit_s,) = {limit for _, limit in runs}
    assert 100.0 < limit_s < 123.0
    assert plan.solver.proof == "rounded"
    assert _units(plan, "dc-a") == math.ceil(x) and _units(plan, "dc-b") == 0
