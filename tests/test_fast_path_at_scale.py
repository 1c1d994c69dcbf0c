"""The fast path at fleet scale, in CI (issue 14).

Session 27 found that a maintenance change had made the fast path refuse its rounded plan at 100
sites (3.6e-8 sandbox cores at a site with no unit, within the LP's tolerance), so the 100-site
bench fell to the full MIP and its time limit; no test had run the fast path on a fleet, and the
regression went unseen for a session. These tests plan two synthetic fleets of bench/bench_lp.py
(10 sites x 5 systems over 6 years of quarters with 8 RL runs and their sandbox cores: ~42k
columns; 20 sites: ~87k columns, where the relaxed aggregated bound's path proves the plan) and
assert that the plan came from the fast path with its proof, within the gap target, verified,
and that the fast path left no note of refusing. The exact 100-site noise is tested on its own
(tests/test_sandbox_cores_zero.py); these guard the path itself: any change that makes it give
up on a fleet (a check too strict, a bound that no longer proves) fails here, in a few seconds.
Timing is not asserted (bench/bench_lp.py prints it). Checked to fail: with every CPU row whose
supply rounds to no unit taken as work on no unit (SANDBOX_CORES_ZERO = -1, the 100-site
failure mode made certain), the 10-site plan is repaired and goes to the full MIP (`mip`, not
`rounded`)."""

from __future__ import annotations

from pathlib import Path

import bench_module
import pytest

import planner

BENCH = bench_module.load("bench_lp")


@pytest.mark.parametrize(
    ("sites", "scale", "proof"),
    [(10, 0.4, "rounded"), (20, 0.8, "rounded-aggregated")],
)
def test_a_fleet_is_planned_by_the_fast_path_with_its_proof(
    tmp_path: Path, sites: int, scale: float, proof: str
) -> None:
    # 60 s: the fast path takes ~5 s CPU here; a regression that sends the plan to the full
    # MIP fails at its limit instead of holding the suite for the default 300 s
    path = BENCH.write_scenario(
        tmp_path, sites, 5, 12, 8, "1 quarter", "6 years", scale, time_limit_s=60.0
    )
    plan = planner.solve(planner.load_scenario(path))
    assert plan.solver.proof == proof, plan.solver_notes
    assert plan.status == "optimal"
    assert plan.gap is not None and plan.lower_bound_usd is not None
    assert plan.gap <= plan.solver.mip_gap_target
    assert plan.total_cost_usd * (1 - plan.gap) == pytest.approx(plan.lower_bound_usd, rel=1e-9)
    assert not [n for n in plan.solver_notes if "gave no plan" in n or "full path ran" in n]
    # verified: solve raises VerificationError otherwise; the whole-unit rules ran too
    assert "solver_whole" in plan.checks and len(plan.checks) > 20
    # a fleet, not a toy: (nearly) every site holds units, and the RL runs' sandbox cores are
    # planned (their verifiers' CPU: the family whose noise broke the 100-site fleet)
    assert len({f.datacenter for f in plan.fleet if f.units > 0}) >= sites - 2
    assert sum(1 for w in plan.workloads if w.kind == "rl") == 8
    assert plan.solver.variables > 4000 * sites
