"""Benchmark: hostile inputs end fast and small (issue 16's bar: each within 2 s and 200 MB).

A 10-line YAML alias bomb, /dev/zero, a FIFO and a 1 GB file are each given to
`planner validate` in one fresh process; prints each input's seconds (median of --runs) and the
process's peak memory. The unit tests assert the exit code, the message and the memory bound
(tests/test_input_safety.py); time is measured here, where a busy machine is visible in the
spread, not asserted.

    python bench/bench_hostile.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BOMB = "\n".join(
    [
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
        *(
            f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]"
            for a, b in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)

CHILD = textwrap.dedent(
    """
    import sys, time
    import cli
    times = []
    for path in sys.argv[1:]:
        started = time.perf_counter()
        code = cli.main(["validate", path])
        times.append(time.perf_counter() - started)
        assert code == 1, (path, code)
    status = open("/proc/self/status").read().splitlines()
    peak_kb = int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
    print(" ".join(f"{t:.4f}" for t in times), peak_kb)
    """
)

INPUTS = ["bomb.yaml", "/dev/zero", "pipe.yaml", "big.yaml"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        here = Path(tmp)
        (here / "bomb.yaml").write_text(BOMB + "\n", encoding="utf-8")
        os.mkfifo(here / "pipe.yaml")
        with open(here / "big.yaml", "wb") as handle:
            handle.truncate(2**30)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        times: list[list[float]] = [[] for _ in INPUTS]
        peaks: list[int] = []
        for _ in range(args.runs):
            done = subprocess.run(
                [sys.executable, "-c", CHILD, *INPUTS],
                capture_output=True,
                text=True,
                cwd=here,
                env=env,
                timeout=120,
                check=True,
            )
            *each, peak = done.stdout.split()
            for i, value in enumerate(each):
                times[i].append(float(value))
            peaks.append(int(peak))
    print(f"{'input':<12} {'median s':>9} {'max s':>7}")
    for name, values in zip(INPUTS, times, strict=True):
        print(f"{name:<12} {statistics.median(values):>9.3f} {max(values):>7.3f}")
    print(f"peak memory of the process: {max(peaks) / 1024:.0f} MiB (bar: 200 MB)")


if __name__ == "__main__":
    main()
