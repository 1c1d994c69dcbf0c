"""Benchmark: the planner's time after the solver (reading the solution into plan rows,
verifying, formatting the report and the JSON) on a synthetic fleet from bench_lp.py.

Builds and solves the scenario once, then times each post-solve stage separately (best of
`--repeat` runs) and every verification rule, and optionally prints a cProfile of one stage.

    python bench/bench_post.py                          # 20 sites x 5 systems x 20 quarters
    python bench/bench_post.py --sites 50 --scale 3     # 174k variables
    python bench/bench_post.py --relax --profile verify

Wall-clock figures on a shared machine are noisy: read the ratios, not the absolute times.

Measured on the shared 2-core machine, seconds (best of 2-3 runs per stage, the 20-site
"before" one run; "before" is the code before readplan/verify were indexed, "after" this
version, each solving the same scenario in its own run):

    scenario                          stage         before   after
    20 sites, scale 1, MIP            read_plan      2.770   1.247
    (67,295 variables; HiGHS 29-34 s) verify         0.287   0.069
                                      format_plan    0.020   0.022
                                      to_json        0.141   0.095
                                      total          3.218   1.433
    50 sites, scale 3, --relax        read_plan     15.754   5.628
    (174,215 variables; HiGHS 39-43 s) (cost split) 4.963   5.030
                                      verify         0.549   0.099
                                      format_plan    0.016   0.020
                                      to_json        0.178   0.214
                                      total         16.498   5.961  (0.42x -> 0.14x HiGHS)

What is left at 50 sites is the cost split (planner/lp/objective.cost_by_period, which still
scans every allocation and order per pool); with it indexed per pool (model.u_of_pool,
model.orders) the cost split took 0.49 s and the whole post-solve path 1.47 s (0.036x HiGHS).
Per rule (after): fleet_ledger 0.06 s, cpu_ledger 0.01 s, every other rule < 0.01 s.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lp import add_fleet_arguments, write_fleet  # noqa: E402

from planner.api import demands  # noqa: E402
from planner.lp.build import build  # noqa: E402
from planner.lp.objective import cost_by_period  # noqa: E402
from planner.lp.solve import solve_model  # noqa: E402
from planner.readplan import read_plan, value_of  # noqa: E402
from planner.report import format_plan  # noqa: E402
from planner.scenario import load_scenario  # noqa: E402
from planner.verify import RULES, Context, verify  # noqa: E402


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of `repeat` runs (seconds) and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_fleet_arguments(parser)
    parser.add_argument("--relax", action="store_true", help="LP relaxation only (no MIP)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage (best is shown)")
    parser.add_argument("--rules", type=int, default=12, help="slowest rules shown")
    parser.add_argument(
        "--profile",
        choices=["read_plan", "verify", "format_plan", "to_json"],
        action="append",
        default=[],
        help="print a cProfile of this stage (repeatable)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_fleet(Path(tmp), args)
        t0 = time.perf_counter()
        scenario = load_scenario(path)
        work = demands(scenario)
        model = build(scenario, work)
        t1 = time.perf_counter()
        stats = solve_model(model, "highs", 0.01, 300.0, "choose", relax_only=args.relax)
        t2 = time.perf_counter()
    print(
        f"{stats.variables:,} variables, {stats.constraints:,} rows; build {t1 - t0:.2f} s, "
        f"solve {t2 - t1:.2f} s, HiGHS {model.solver_run_s:.2f} s",
        flush=True,
    )
    relaxed = args.relax
    stages: dict[str, Callable[[], Any]] = {
        "read_plan": lambda: read_plan(model, stats, relaxed=relaxed),
    }
    t_read, plan = best_of(args.repeat, stages["read_plan"])
    stages["verify"] = lambda: verify(plan, scenario, work)
    t_verify, plan.checks = best_of(args.repeat, stages["verify"])
    stages["format_plan"] = lambda: format_plan(plan)
    t_format, _ = best_of(args.repeat, stages["format_plan"])
    stages["to_json"] = lambda: plan.to_json()
    t_json, _ = best_of(args.repeat, stages["to_json"])
    # Part of read_plan: the cash-flow table's split of every cost term over the periods
    # (planner/lp/objective.py).
    t_cost, _ = best_of(args.repeat, lambda: cost_by_period(model, value_of))
    total = t_read + t_verify + t_format + t_json
    for name, seconds in [
        ("read_plan", t_read),
        ("(cost split)", t_cost),
        ("verify", t_verify),
        ("format_plan", t_format),
        ("to_json", t_json),
        ("total", total),
    ]:
        print(f"{name:>12} {seconds:8.3f} s")
    if model.solver_run_s:
        print(f"{'post/HiGHS':>12} {total / model.solver_run_s:8.3f}")
    t_ctx, ctx = best_of(args.repeat, lambda: Context(plan, scenario, work))
    per_rule = [("(context)", t_ctx)]
    for r in RULES.values():
        seconds, _ = best_of(args.repeat, lambda r=r: r.check(ctx))
        per_rule.append((r.name, seconds))
    per_rule.sort(key=lambda item: -item[1])
    print("slowest verification rules:")
    for name, seconds in per_rule[: args.rules]:
        print(f"{name:>20} {seconds:8.3f} s")
    for name in args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(stages[name])
        print(f"--- cProfile: {name}")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
