"""What-if: how do the cheapest fleet and its CPU:accelerator mix change as RL samples per
problem grow from 4 to 64, on Trainium2 (rainier-campus) vs GB200 NVL72 (nvl72-campus)?

Scenario: planner/scenarios/rl-verifiers.yaml - RL on a 70B policy whose code sandbox spends
120 core-seconds on each of 60% of the samples, plus a chat tier. Verifier cores grow with the
samples; units busy serving chat lend none, the RL run's own Trainium2 hosts lend about 4 spare
x86 cores per chip (the NVL72's Grace cores are arm64, which the x86 sandbox cannot use), and the
planner buys CPU-only servers for the rest, in proportion to the samples.

Run: python examples/whatif.py  (about 2 s; --jobs N to solve points in parallel)
"""

from __future__ import annotations

import sys
from pathlib import Path

import planner

SCENARIO = Path(planner.__file__).parent / "scenarios" / "rl-verifiers.yaml"
SAMPLES = [4, 8, 16, 32, 64]
TOPOLOGIES = {"rainier": "rainier-campus (Trainium2)", "nvl72": "nvl72-campus (GB200 NVL72)"}


def main(jobs: int = 1) -> int:
    # One point per (samples, topology): the topologies are named overrides in the scenario.
    sweep = planner.sweep(
        SCENARIO,
        {"workloads.rl-code.samples_per_problem": SAMPLES},
        scenarios=list(TOPOLOGIES),
        jobs=jobs,
    )
    failed = [p for p in sweep.points if p["status"] not in ("optimal", "feasible")]
    for p in failed:
        print(f"{p['point']}: {p['status']}: {p['error']}")
    print(f"Cheapest fleet vs RL samples per problem ({SCENARIO.name})\n")
    header = f"{'samples':>7}  {'total cost':>10}  {'fleet':<24}  {'CPU servers':>11}  {'cores/accel':>11}  {'RL cost':>8}"
    first_cpu: dict[str, int | None] = {}
    for override, label in TOPOLOGIES.items():
        print(label)
        print(header)
        first_cpu[override] = None
        for n in SAMPLES:
            p = sweep[f"samples_per_problem={n} scenario={override}"]
            if p["status"] not in ("optimal", "feasible"):
                print(f"{n:>7}  {p['status']}")
                continue
            fleet = ", ".join(
                f"{int(v)} {k.split(':', 1)[1]}"
                for k, v in p.items()
                if k.startswith("units:") and v
            )
            if p["cpu_servers"] > 0 and first_cpu[override] is None:
                first_cpu[override] = n
            cost = f"${p['total_cost_usd'] / 1e6:.2f}M"
            rl_cost = f"${p['cost_usd:rl-code'] / 1e6:.2f}M"
            print(
                f"{n:>7}  {cost:>10}  {fleet:<24}  {int(p['cpu_servers']):>11}  "
                f"{p['cores_per_accelerator']:>11.1f}  {rl_cost:>8}"
            )
        print()
    print("Answer:")
    for override, label in TOPOLOGIES.items():
        n = first_cpu[override]
        when = (
            f"from {n} samples per problem on" if n is not None else "never, up to 64 samples, on"
        )
        print(f"  CPU-only servers enter the cheapest fleet {when} {label}.")
    ratio = {
        o: sweep[f"samples_per_problem=64 scenario={o}"]["total_cost_usd"]
        / sweep[f"samples_per_problem=4 scenario={o}"]["total_cost_usd"]
        for o in TOPOLOGIES
    }
    print("  Cost growth 4 -> 64 samples: " + ", ".join(f"{o} x{r:.2f}" for o, r in ratio.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    jobs = int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 1
    sys.exit(main(jobs))
