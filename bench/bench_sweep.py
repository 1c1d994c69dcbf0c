"""Benchmark: a sweep's cost per point and the parent's peak memory against the number of points.

A cheap scenario (one chat tier of llama-3.1-70b on the h100-cluster preset) is swept over
requests_per_day = 1M, 2M, ... ; each sweep runs in a fresh Python process (so its peak memory
is its own), `--jobs` worker processes wide, with and without keep_plans. Printed per sweep:
points, wall seconds, milliseconds per point, and the parent's peak resident memory (the
workers' are not in it).

    python bench/bench_sweep.py                       # 100, 300 and 1000 points on 2 workers
    python bench/bench_sweep.py --points 50 200 --jobs 1

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

    started = time.perf_counter()
    sw = planner.sweep(
        scenario, {AXIS: [f"{i}M" for i in range(1, points + 1)]}, jobs=jobs, keep_plans=keep
    )
    wall = time.perf_counter() - started
    ok = sum(1 for p in sw.points if p["status"] == "optimal")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"points": points, "optimal": ok, "wall_s": wall, "peak_mib": peak_mib}))


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--jobs", type=int, default=2)
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
        print(
            f"{'points':>7} {'plans kept':>10} {'wall s':>8} {'ms/point':>9} {'parent peak MiB':>16}"
        )
        for points in args.points:
            for keep in (False, True):
                if keep and points > args.keep_plans_up_to:
                    continue
                r = measure(scenario, points, args.jobs, keep)
                assert r["optimal"] == points, r
                print(
                    f"{points:>7} {'yes' if keep else 'no':>10} {r['wall_s']:>8.2f} "
                    f"{1000 * r['wall_s'] / points:>9.2f} {r['peak_mib']:>16.1f}"
                )


if __name__ == "__main__":
    main()
