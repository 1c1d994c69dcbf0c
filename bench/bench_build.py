"""Benchmark: the time from a scenario file to a model inside HiGHS, by stage, at fleet scale.

Builds bench/bench_lp.py's synthetic scenario and times, separately: loading the scenario,
the demand models (planner/api.py `demands`), building the PuLP model (planner/lp/build.py),
and handing it to HiGHS (a HiGHS object configured as for the LP relaxation, then the model
transfer planner/lp/solve.py uses: `transfer`, or PuLP's own `buildSolverModel` with
--pulp-transfer). Nothing is solved. With --profile, each stage's cProfile top functions
(cumulative time) are printed.

    python bench/bench_build.py                                   # 20 sites, 20 quarters
    python bench/bench_build.py --sites 50 --scale 3 --repeat 1   # 174k variables
    python bench/bench_build.py --profile build

Wall-clock figures on a shared machine are noisy: read the medians and the stage shares.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lp import add_fleet_arguments, write_fleet  # noqa: E402

STAGES = ("load", "demands", "build", "transfer")


def _stage(name: str, fn: Callable[[], Any], profile: set[str], times: dict[str, float]) -> Any:
    """Run one stage, add its wall time to `times`; print its profile when asked."""
    profiler = cProfile.Profile() if name in profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    out = fn()
    if profiler is not None:
        profiler.disable()
    times[name] = time.perf_counter() - started
    times[f"{name}_cpu"] = time.process_time() - cpu
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
        print(f"--- profile of {name} ---\n{text.getvalue()}")
    return out


def run_once(path: Path, profile: set[str], pulp_transfer: bool) -> dict[str, float]:
    """Seconds per stage for one pass, plus the model's size."""
    import pulp

    from planner.api import demands
    from planner.demand.inference import clear_physics_caches
    from planner.lp.build import build
    from planner.scenario import load_scenario

    clear_physics_caches()  # every pass cold, as a single plan is
    times: dict[str, float] = {}
    scenario = _stage("load", lambda: load_scenario(path), profile, times)
    work = _stage("demands", lambda: demands(scenario), profile, times)
    model = _stage("build", lambda: build(scenario, work), profile, times)
    solver = pulp.HiGHS(mip=False, msg=False)

    def hand_over() -> None:
        if pulp_transfer:
            solver.createAndConfigureSolver(model.prob)
            solver.buildSolverModel(model.prob)
        else:
            from planner.lp.transfer import transfer

            transfer(model.prob, solver)

    _stage("transfer", hand_over, profile, times)
    highs = model.prob.solverModel
    times["columns"] = float(highs.getNumCol())
    times["rows"] = float(highs.getNumRow())
    times["nonzeros"] = float(highs.getNumNz())
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_fleet_arguments(parser)
    parser.add_argument("--repeat", type=int, default=3, help="passes (medians are printed)")
    parser.add_argument("--profile", nargs="*", default=[], choices=STAGES, help="stages")
    parser.add_argument(
        "--pulp-transfer", action="store_true", help="PuLP's buildSolverModel for the transfer"
    )
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        path = write_fleet(Path(tmp), args)
        for i in range(args.repeat):
            runs.append(run_once(path, set(args.profile) if i == 0 else set(), args.pulp_transfer))
    first = runs[0]
    print(
        f"{args.sites} sites x {args.systems} systems, {args.period} over {args.horizon}, "
        f"scale {args.scale:g}: {first['columns']:,.0f} columns, {first['rows']:,.0f} rows, "
        f"{first['nonzeros']:,.0f} nonzeros; transfer: "
        f"{'PuLP buildSolverModel' if args.pulp_transfer else 'planner transfer'}"
    )
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    total = sum(medians[s] for s in STAGES)
    total_cpu = sum(medians[f"{s}_cpu"] for s in STAGES)
    print(f"{'stage':>9} {'wall s':>7} {'share':>6} {'CPU s':>7}   (wall s of each pass)")
    for stage in STAGES:
        each = " ".join(f"{r[stage]:.2f}" for r in runs)
        print(
            f"{stage:>9} {medians[stage]:7.2f} {medians[stage] / total:6.1%} "
            f"{medians[f'{stage}_cpu']:7.2f}   ({each})"
        )
    print(f"{'total':>9} {total:7.2f} {'':>6} {total_cpu:7.2f}   (medians of {len(runs)} passes)")


if __name__ == "__main__":
    main()
