"""Benchmark: hostile inputs end fast and small (issue 16's bar: each within 2 s and 200 MB).

A 10-line YAML alias bomb, /dev/zero, a FIFO and a 1 GB file are each given to
`planner validate` in a fresh process; prints each process's seconds (median of --runs, start-up
included) and peak memory, against the same command on a tiny invalid file (the floor). The unit tests assert the exit code, the message and the memory bound
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
import time
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
    import sys
    import cli
    code = cli.main(["validate", sys.argv[1]])
    assert code == 1, (sys.argv[1], code)
    status = open("/proc/self/status").read().splitlines()
    print(int(next(line for line in status if line.startswith("VmHWM:")).split()[1]))
    """
)

INPUTS = ["bomb.yaml", "/dev/zero", "pipe.yaml", "big.yaml", "empty.yaml"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        here = Path(tmp)
        (here / "bomb.yaml").write_text(BOMB + "\n", encoding="utf-8")
        (here / "empty.yaml").write_text("{}\n", encoding="utf-8")
        os.mkfifo(here / "pipe.yaml")
        with open(here / "big.yaml", "wb") as handle:
            handle.truncate(2**30)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        times: dict[str, list[float]] = {name: [] for name in INPUTS}
        peaks: dict[str, int] = dict.fromkeys(INPUTS, 0)
        for _ in range(args.runs):
            for name in INPUTS:  # interleaved, so load drifts hit every input alike
                started = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-c", CHILD, name],
                    capture_output=True,
                    text=True,
                    cwd=here,
                    env=env,
                    timeout=120,
                    check=True,
                )
                times[name].append(time.perf_counter() - started)
                peaks[name] = max(peaks[name], int(done.stdout.split()[-1]))
    base = statistics.median(times["empty.yaml"])
    print("whole process (python start-up and imports included), median of", args.runs, "runs")
    print(f"{'input':<12} {'median s':>9} {'max s':>7} {'x empty':>8} {'peak MiB':>9}")
    for name in INPUTS:
        median = statistics.median(times[name])
        print(
            f"{name:<12} {median:>9.3f} {max(times[name]):>7.3f} {median / base:>8.2f} "
            f"{peaks[name] / 1024:>9.0f}"
        )
    print("bar: each within 2 s and 200 MB; empty.yaml (a scenario with no fields) is the floor")


if __name__ == "__main__":
    main()
