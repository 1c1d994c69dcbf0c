"""Benchmark: the CLI's start-up and `planner plan` on the default scenario, against a bare
Python process that imports highspy and solves the same model.

The default plan's model is written as MPS (`planner plan --save-lp`); the bare baseline is
`python -c "import highspy; h = highspy.Highs(); h.readModel(MPS); h.run()"` (the MIP at the
plan's gap, no LP relaxation first, no polish, no demand models, no verification); a second
baseline solves it in the planner's own steps (LP relaxation, then the MIP in place, warm), the
fairer yardstick when HiGHS's cold MIP is the slower of the two; a third solves, in those steps,
the model as the planner hands it to HiGHS (written by HiGHS: `EXACT`), since the MPS file's
rounded numbers put HiGHS's MIP on another path. Commands
run in turn, A B A B ..., each RUNS times after one warm-up; every figure is the median of its
runs (user + system CPU seconds of the finished child, and wall seconds), and each ratio is the
median of the pair-by-pair ratios, so a drift in the machine's speed moves both sides.

    python bench/bench_startup.py            # 7 runs each
    python bench/bench_startup.py --runs 11

Read the ratios, not the absolute times: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = str(ROOT / "cli.py")
BARE = (
    "import sys, highspy\n"
    "h = highspy.Highs()\n"
    "h.setOptionValue('output_flag', False)\n"
    "h.setOptionValue('mip_rel_gap', float(sys.argv[2]))\n"
    "h.readModel(sys.argv[1])\n"
    "h.run()\n"
    "print(h.getInfo().objective_function_value)\n"
)
# The same model solved the way the planner solves it: the LP relaxation first, then the MIP in
# place on the same HiGHS object (its integrality restored), so the MIP starts warm.
BARE_SAME_STEPS = (
    "import sys, highspy\n"
    "h = highspy.Highs()\n"
    "h.setOptionValue('output_flag', False)\n"
    "h.setOptionValue('threads', 1)\n"
    "h.readModel(sys.argv[1])\n"
    "lp = h.getLp()\n"
    "ints = [j for j, t in enumerate(lp.integrality_) if t != highspy.HighsVarType.kContinuous]\n"
    "h.changeColsIntegrality(len(ints), ints, [highspy.HighsVarType.kContinuous] * len(ints))\n"
    "h.run()\n"
    "h.changeColsIntegrality(len(ints), ints, [highspy.HighsVarType.kInteger] * len(ints))\n"
    "h.setOptionValue('mip_rel_gap', float(sys.argv[2]))\n"
    "h.run()\n"
    "print(h.getInfo().objective_function_value)\n"
)


# The default plan's model written by HiGHS from the planner's own transfer (the numbers it
# solves, bit for bit). PuLP's MPS writer rounds costs and coefficients to 12 significant digits,
# and HiGHS's MIP on that file takes another path: 0.4-0.5 s where the planner's exact copy took
# 7 s (session 17, one root node either way; its cut loop after a poorer first plan).
EXACT = (
    "import sys\n"
    "from planner.api import demands\n"
    "from planner.lp.build import build\n"
    "from planner.lp.solve import make_solver\n"
    "from planner.lp.transfer import transfer\n"
    "from planner.scenario import DEFAULT_SCENARIO, load_scenario\n"
    "sc = load_scenario(DEFAULT_SCENARIO)\n"
    "model = build(sc, demands(sc))\n"
    "transfer(model.prob, make_solver('highs', True, 0.01, 60.0, 'choose'))\n"
    "model.prob.solverModel.writeModel(sys.argv[1])\n"
)


def child_env() -> dict[str, str]:
    """This environment for the timed processes, with PYTHONPATH set to the checkout and
    without PYTHONDONTWRITEBYTECODE: an installed package runs from cached bytecode (pip
    compiles it at install; the warm-up writes it here), and this project's machines set the
    variable, which made every run compile the planner's ~55 modules from source (~0.13 s)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    return env


def run(cmd: list[str]) -> tuple[float, float]:
    """(cpu s, wall s) of one run of cmd, its output thrown away; raises if it fails."""
    env = child_env()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime, wall


def pair(name: str, a: list[str], b: list[str], runs: int) -> None:
    """Print A's and B's median cpu and wall seconds and the median pair-by-pair ratio A/B."""
    run(a), run(b)  # warm-up: file caches, .pyc files
    rows: list[tuple[float, float, float, float]] = []
    for _ in range(runs):
        cpu_a, wall_a = run(a)
        cpu_b, wall_b = run(b)
        rows.append((cpu_a, wall_a, cpu_b, wall_b))
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    cpu_ratio = statistics.median(r[0] / r[2] for r in rows)
    wall_ratio = statistics.median(r[1] / r[3] for r in rows)
    print(
        f"{name:<34} A cpu {med[0]:6.3f} s wall {med[1]:6.3f} s | B cpu {med[2]:6.3f} s "
        f"wall {med[3]:6.3f} s | A/B cpu {cpu_ratio:5.2f}x wall {wall_ratio:5.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    py = sys.executable
    bare_python = [py, "-c", "pass"]
    with tempfile.TemporaryDirectory() as tmp:
        mps = str(Path(tmp) / "default.mps")
        subprocess.run(
            [py, CLI, "plan", "-q", "--save-lp", mps],
            check=True,
            stdout=subprocess.DEVNULL,
            env=child_env(),
        )
        bare = [py, "-c", BARE, mps, "0.01"]
        print(f"runs: {args.runs} pairs each; B is the yardstick; medians")
        pair("planner --help  vs  python -c pass", [py, CLI, "--help"], bare_python, args.runs)
        pair(
            "planner validate  vs  bare highspy",
            [py, CLI, "validate", str(ROOT / "planner/scenarios/frontier-lab.yaml")],
            bare,
            args.runs,
        )
        pair("planner plan -q  vs  bare highspy", [py, CLI, "plan", "-q"], bare, args.runs)
        same = [py, "-c", BARE_SAME_STEPS, mps, "0.01"]
        pair("planner plan -q  vs  bare, LP+MIP", [py, CLI, "plan", "-q"], same, args.runs)
        exact = str(Path(tmp) / "exact.mps")
        subprocess.run(
            [py, "-c", EXACT, exact], check=True, stdout=subprocess.DEVNULL, env=child_env()
        )
        same_exact = [py, "-c", BARE_SAME_STEPS, exact, "0.01"]
        pair("planner plan -q  vs  bare, exact", [py, CLI, "plan", "-q"], same_exact, args.runs)


if __name__ == "__main__":
    main()
