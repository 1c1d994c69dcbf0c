"""Benchmark: the training layout search behind every pretraining rate.

For each shipped scenario's pretraining workloads and every system with training figures, times
`pretrain_rate` (the job-size bisection, each size a layout search) with the in-process caches
cleared, and prints the chosen layout and rate so two versions can be compared.

    python bench/layout_search.py

CPU time of this process (time.process_time), less noisy than wall-clock on a shared machine.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from hardware.catalog import load_catalog
from planner.demand import training
from planner.demand.common import hardware
from planner.demand.pretrain import pretrain_throughput
from planner.kinds.pretrain import PretrainSpec
from planner.scenario import load_scenario

SCENARIOS = ["frontier-lab.yaml", "frontier-3y.yaml"]
REPEATS = 3


def clear_caches() -> None:
    for name in dir(training):
        obj = getattr(training, name)
        if hasattr(obj, "cache_clear") and not isinstance(obj, type):
            obj.cache_clear()


def main() -> None:
    catalog = load_catalog()
    root = Path(__file__).resolve().parent.parent / "planner" / "scenarios"
    systems = [
        s
        for s in catalog.systems
        if (hw := hardware(catalog, s)) is not None and hw.system.training
    ]
    total = []
    for file in SCENARIOS:
        scenario = load_scenario(root / file)
        for name, spec in scenario.data.workloads.items():
            if not isinstance(spec, PretrainSpec):
                continue
            for system in systems:
                times = []
                for _ in range(REPEATS):
                    clear_caches()
                    t0 = time.process_time()
                    tt = pretrain_throughput(spec, scenario.catalog, system)
                    times.append(time.process_time() - t0)
                med = statistics.median(times)
                total.append(med)
                lay = str(tt.step.layout) if tt.step else "-"
                print(
                    f"{file:18s} {name:16s} {system:18s} {med * 1e3:8.1f} ms  "
                    f"{tt.accelerators:>7,} acc  {lay:40s} rate {tt.rate_per_unit_s:.6e}"
                )
    print(
        f"\n{len(total)} (workload, system) pairs: median {statistics.median(total) * 1e3:.1f} ms, "
        f"max {max(total) * 1e3:.1f} ms, sum {sum(total):.2f} s"
    )


if __name__ == "__main__":
    main()
