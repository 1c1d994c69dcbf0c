"""Benchmark: a sweep's cost per point and the parent's peak memory against the number of points.

A cheap scenario (one chat tier of llama-3.1-70b on the h100-cluster preset) is swept over
requests_per_day = 1M, 2M, ... ; each sweep runs in a fresh Python process (so its peak memory
is its own), `--jobs` worker processes wide, with and without keep_plans. Printed per sweep:
points, wall seconds, milliseconds per point, the CPU milliseconds per point of the workers
(their start-up included) and of the parent, and the parent's peak resident memory (the
workers' are not in it). The machine's load average is printed first: on a shared machine the
wall figures move with it, the CPU figures much less.

    python bench/bench_sweep.py                       # 100, 300 and 1000 points on 2 workers
    python bench/bench_sweep.py --points 50 200 --jobs 1

Then, in one process and one core, the same points' cost per point against the warm re-solve
limit: one HiGHS model kept, each point's costs, bounds, right-hand sides and coefficients
changed in place and re-solved from the previous basis (LP relaxation, then the MIP), with
nothing else done (no loading, demand models, model building, reading or verifying). Printed:
both per-point times, their ratio, and how many points' MIP objectives differ from a cold solve;
and the same sweep with the serving physics computed afresh at every point (its per-process
cache cleared first, as every point was before the cache: planner/demand/memo.py).

Read the per-point figures against each other (same run, same machine), not as absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = """\
description: bench - one chat tier on one site
topology: h100-cluster
economics:
  horizon: 365 days
  pricing: amortised
workloads:
  chat:
    kind: inference
    model: llama-3.1-70b
    precision: fp8
    requests_per_day: 10M
    prompt_tokens: 1000
    output_tokens: 500
    tokens_per_s_per_user: 30
"""
AXIS = "workloads.chat.requests_per_day"


def child(scenario: str, points: int, jobs: int, keep: bool) -> None:
    """Run one sweep in this process and print its figures as JSON."""
    sys.path.insert(0, str(ROOT))
    import planner

    parent_cpu, workers_cpu = _cpu_s(resource.RUSAGE_SELF), _cpu_s(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    sw = planner.sweep(
        scenario, {AXIS: [f"{i}M" for i in range(1, points + 1)]}, jobs=jobs, keep_plans=keep
    )
    wall = time.perf_counter() - started
    ok = sum(1 for p in sw.points if p["status"] == "optimal")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "points": points,
                "optimal": ok,
                "wall_s": wall,
                "peak_mib": peak_mib,
                "parent_cpu_s": _cpu_s(resource.RUSAGE_SELF) - parent_cpu,
                # Workers that have exited (the pool is shut down when sweep() returns).
                "workers_cpu_s": _cpu_s(resource.RUSAGE_CHILDREN) - workers_cpu,
            }
        )
    )


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def warm_limit(scenario: str, points: int) -> None:
    """Print a serial sweep's time per point and the warm re-solve limit's (see the docstring)."""
    sys.path.insert(0, str(ROOT))
    import highspy

    from planner.api import demands
    from planner.demand.inference import clear_physics_caches
    from planner.lp.build import build
    from planner.lp.solve import _quiet_stdout, make_solver
    from planner.scenario import load_scenario
    from planner.sweeps import run_point

    tasks = [
        {
            "scenario_path": scenario,
            "overrides": (),
            "sets": (f"{AXIS}={i}M",),
            "options": {"relax": False, "solver": None, "time_limit_s": None, "mip_gap": None},
            "cache_dir": None,
            "keep_plan": False,
        }
        for i in range(1, points + 1)
    ]
    run_point(tasks[0])  # warm caches, as a sweep's worker has after its first point
    started = time.perf_counter()
    for task in tasks:
        run_point(task)
    point_s = (time.perf_counter() - started) / points
    started = time.perf_counter()
    for task in tasks:
        clear_physics_caches()
        run_point(task)
    cold_physics_s = (time.perf_counter() - started) / points
    models = []
    with _quiet_stdout():
        for task in tasks:  # each point's model in HiGHS, and its cold MIP optimum
            sc = load_scenario(scenario, sets=list(task["sets"]))
            prob = build(sc, demands(sc)).prob
            solver = make_solver("highs", True, sc.data.solver.mip_gap, 60.0, "choose")
            solver.createAndConfigureSolver(prob)
            solver.buildSolverModel(prob)
            lp = prob.solverModel.getLp()
            prob.solverModel.run()
            models.append((lp, prob.solverModel.getInfo().objective_function_value))
        kept = highspy.Highs()
        kept.setOptionValue("output_flag", False)
        kept.setOptionValue("threads", 1)
        kept.setOptionValue("mip_rel_gap", 0.01)
        kept.passModel(models[0][0])
        integer = [
            j
            for j, t in enumerate(models[0][0].integrality_)
            if t != highspy.HighsVarType.kContinuous
        ]
        continuous = [highspy.HighsVarType.kContinuous] * len(integer)
        ints = [highspy.HighsVarType.kInteger] * len(integer)
        differ = 0
        started = time.perf_counter()
        for lp, cold in models:
            n, m = lp.num_col_, lp.num_row_
            kept.changeColsCost(n, range(n), lp.col_cost_)
            kept.changeColsBounds(n, range(n), lp.col_lower_, lp.col_upper_)
            kept.changeRowsBounds(m, range(m), lp.row_lower_, lp.row_upper_)
            a = lp.a_matrix_
            rowwise = a.format_ == highspy.MatrixFormat.kRowwise
            for outer in range(len(a.start_) - 1):
                for k in range(a.start_[outer], a.start_[outer + 1]):
                    row, col = (outer, a.index_[k]) if rowwise else (a.index_[k], outer)
                    kept.changeCoeff(row, col, a.value_[k])
            kept.changeColsIntegrality(len(integer), integer, continuous)
            kept.run()
            kept.changeColsIntegrality(len(integer), integer, ints)
            kept.run()
            warm = kept.getInfo().objective_function_value
            differ += abs(warm - cold) > 1e-6 * max(1.0, abs(cold))
        limit_s = (time.perf_counter() - started) / points
    print(
        f"serial, {points} points: sweep {1000 * point_s:.2f} ms/point; warm re-solve limit "
        f"{1000 * limit_s:.2f} ms/point; ratio {point_s / limit_s:.2f}x; MIP objectives "
        f"differing from cold solves: {differ} of {points}; serving physics not cached: "
        f"{1000 * cold_physics_s:.2f} ms/point ({cold_physics_s / limit_s:.2f}x)"
    )


def measure(scenario: str, points: int, jobs: int, keep: bool) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", scenario, str(points), str(jobs), str(int(keep))]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, scenario, points, jobs, keep = sys.argv
        child(scenario, int(points), int(jobs), keep == "1")
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--limit-child":
        warm_limit(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit-points", type=int, default=200, help="points for the limit")
    parser.add_argument(
        "--keep-plans-up-to",
        type=int,
        default=300,
        help="also run keep_plans=True (full plans in the parent) up to this many points",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scenario = str(Path(tmp) / "chat.yaml")
        Path(scenario).write_text(SCENARIO, encoding="utf-8")
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average {load} on {os.cpu_count()} CPUs")
        print(
            f"{'points':>7} {'plans kept':>10} {'wall s':>8} {'ms/point':>9} "
            f"{'worker CPU ms/point':>20} {'parent CPU ms/point':>20} {'parent peak MiB':>16}"
        )
        for points in args.points:
            for keep in (False, True):
                if keep and points > args.keep_plans_up_to:
                    continue
                r = measure(scenario, points, args.jobs, keep)
                assert r["optimal"] == points, r
                print(
                    f"{points:>7} {'yes' if keep else 'no':>10} {r['wall_s']:>8.2f} "
                    f"{1000 * r['wall_s'] / points:>9.2f} "
                    f"{1000 * r['workers_cpu_s'] / points:>20.2f} "
                    f"{1000 * r['parent_cpu_s'] / points:>20.2f} {r['peak_mib']:>16.1f}"
                )
        if args.limit_points:
            cmd = [sys.executable, __file__, "--limit-child", scenario, str(args.limit_points)]
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
            print(out.stdout.strip().splitlines()[-1])
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average {load} at the end")


if __name__ == "__main__":
    main()
