"""Does the plan depend on the machine's load? Solve bench_lp.py's fleet with the planner's
clock (the `time` module planner/lp/solve.py and planner/lp/incumbent.py read) running FACTOR
times real time, as a machine FACTOR times as loaded would make HiGHS's runs look, and print
the plan's cost, gap, a hash of its column values, the CPU time (os.times), and each re-solve
of the rounded plan (`_resolve`: method, iteration limit, status, iterations, CPU s).

    python bench/warm_budget_load.py --factor 0.1     # 50 sites x 5 systems x 24 months, scale 3
    python bench/warm_budget_load.py --factor 1 --bound full

Session 22 (README "Speed"): with the budget in seconds a factor of 0.1 changed the plan
($643,987,510 against $644,193,115); with the budget in simplex iterations it does not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import bench_module  # noqa: E402

from planner.lp import incumbent  # noqa: E402
from planner.lp import solve as solve_module  # noqa: E402


class Clock:
    """time, with perf_counter() running `factor` times real time."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.origin = time.perf_counter()

    def perf_counter(self) -> float:
        return self.origin + (time.perf_counter() - self.origin) * self.factor

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=float, default=1.0)
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--systems", type=int, default=5)
    parser.add_argument("--period", default="1 month")
    parser.add_argument("--horizon", default="2 years")
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--bound", choices=("auto", "full"), default="auto")
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    timed_run = incumbent._timed_run

    def recording(model: Any) -> None:
        highs = model.prob.solverModel
        started = cpu_s()
        timed_run(model)
        info = highs.getInfo()
        runs.append(
            {
                "method": highs.getOptionValue("solver")[1],
                "limit": highs.getOptionValue("simplex_iteration_limit")[1],
                "status": str(highs.getModelStatus()).rsplit(".", 1)[-1],
                "simplex": info.simplex_iteration_count,
                "ipm": info.ipm_iteration_count,
                "crossover": info.crossover_iteration_count,
                "cpu_s": round(cpu_s() - started, 2),
            }
        )

    incumbent._timed_run = recording  # type: ignore[assignment]
    clock = Clock(args.factor)
    incumbent.time = clock  # type: ignore[assignment]
    solve_module.time = clock  # type: ignore[assignment]
    if args.bound == "full":
        solve_module.FAST_BOUND_COLUMNS = 10**12
    fleet = argparse.Namespace(
        across_sites=False,
        sites=args.sites,
        systems=args.systems,
        inference=12,
        rl=2,
        period=args.period,
        horizon=args.horizon,
        scale=args.scale,
        prefill=None,
    )
    model = bench_module.load("aggregate_serving_lp").build_fleet(fleet)
    started = cpu_s()
    stats = solve_module.solve_model(model, "highs", 0.01, 1500.0, "choose", relax_only=False)
    spent = cpu_s() - started
    values = [round(var.varValue or 0.0, 6) for var in model.prob.variables()]
    digest = hashlib.sha256(json.dumps(values).encode()).hexdigest()[:12]
    print(
        f"columns {len(values):,}  proof {stats.proof}  cost ${stats.objective_usd:,.0f}  "
        f"gap {stats.gap:.4%}  values {digest}  solve CPU {spent:.1f} s"
    )
    for run in runs:
        print("  ", json.dumps(run))


if __name__ == "__main__":
    main()
