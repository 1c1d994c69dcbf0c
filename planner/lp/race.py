"""Solve a large LP relaxation by dual simplex and by interior point at once, one forked child
each, and keep the basis of whichever ends first.

Why: on the fleet benches simplex's time on these degenerate LPs depends on its pivoting path
more than on the LP's size: at 50 sites x 20 quarters (174,715 columns) the relaxation took
24.6 s by dual simplex before a change of a few generation rates by 0.2-0.3% and 154.9 s after
it, where interior point (with crossover) took 52.6 s (README "Speed"). Nothing in the LP says
beforehand which method wins, and the machine has two cores: each method runs in its own child
(HiGHS is run with one thread), the parent waits for the first optimal basis, stops the other
child, sets the basis in its own HiGHS model and runs simplex from it (an optimal basis: a few
iterations, 0.3 s at 174k columns). The result is the LP's optimum either way; which vertex
is taken when the optimum is not unique may differ from a plain run, and from one race to the
next (the winner depends on the machine's load): so the race runs only where the scenario
sets solver.reproducible: false (planner/lp/solve.py `_run`, which notes it in the plan's
solver_notes).

A child that ends without an optimal basis (a time limit, an infeasible or unbounded LP, an
error) does not win; when neither does, or a child cannot be forked, the parent solves the LP
itself as it would have (`race` returns None), so an infeasible scenario pays its diagnosis as
before.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from typing import Any

# LPs of at least this many columns are raced. Measured (README "Speed"): at 102,435 columns
# (30 sites x 20 quarters) simplex takes 4.5 s alone and the race 7.0 s (the two children share
# the memory bus, and the parent re-runs from the basis), consistently; at 174,715 (50 sites)
# the race took 58 s where simplex alone took 155 s (interior point won).
RACE_COLUMNS = 150_000
METHODS = ("simplex", "ipm")


def can_race(highs: Any, mip: bool) -> bool:
    """Whether this run may be raced (with solver.reproducible: false, `_run` checks): an LP
    (no MIP) of RACE_COLUMNS columns or more that HiGHS would
    solve by its own choice (simplex: neither the scenario's solver.method nor the interior
    point of planner/lp/solve.py `_choose_method` from IPM_COLUMNS columns, where interior point
    alone is kept: a simplex child would not win there and would hold memory), with fork()."""
    return (
        not mip
        and hasattr(os, "fork")
        and highs.getOptionValue("solver")[1] == "choose"
        and highs.getNumCol() >= RACE_COLUMNS
    )


def race(highs: Any) -> str | None:
    """Run `highs` (a loaded highspy.Highs) by each of METHODS in a forked child; set the first
    optimal basis in `highs` and re-run from it. The winning method, or None when no child
    ended optimal (then `highs` is as it was, not run). The solver option is left as it was."""
    import highspy

    children: dict[int, tuple[int, str]] = {}  # read end -> (pid, method)
    winner: tuple[str, list[int], list[int]] | None = None
    try:
        for method in METHODS:
            read_end, write_end = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # no process to spare (memory, limits): the parent solves it
                os.close(read_end)
                os.close(write_end)
                return None
            if pid == 0:  # the child: solve, send back (status, column and row basis status)
                os.close(read_end)
                _child(highs, method, write_end)
            os.close(write_end)
            children[read_end] = (pid, method)
        while children and winner is None:
            ready, _, _ = select.select(list(children), [], [])
            for fd in ready:
                pid, method = children.pop(fd)
                answer = _read(fd)
                os.waitpid(pid, 0)
                if answer is not None and winner is None:
                    winner = (method, *answer)
    finally:
        for fd, (pid, _) in children.items():
            os.close(fd)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    if winner is None:
        return None
    method, cols, rows = winner
    basis = highs.getBasis()
    # Each status looked up, not constructed: 0.14 s -> 7 ms for 223k columns.
    status = {int(v): v for v in highspy.HighsBasisStatus.__members__.values()}
    basis.col_status = list(map(status.__getitem__, cols))
    basis.row_status = list(map(status.__getitem__, rows))
    highs.setBasis(basis)
    chosen = highs.getOptionValue("solver")[1]
    highs.setOptionValue("solver", "simplex")
    try:
        highs.run()
    finally:
        highs.setOptionValue("solver", chosen)
    return method


def _child(highs: Any, method: str, write_end: int) -> None:
    """In the forked child: solve by `method`, write the pickled answer if optimal, exit."""
    code = 1
    try:
        import highspy

        # The parent's HiGHS thread pool did not survive the fork: a fresh one for this process.
        highspy.Highs.resetGlobalScheduler(True)
        highs.setOptionValue("solver", method)
        started = time.perf_counter()
        highs.run()
        if highs.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            basis = highs.getBasis()
            if basis.valid:
                payload = (
                    time.perf_counter() - started,
                    [int(s) for s in basis.col_status],
                    [int(s) for s in basis.row_status],
                )
                with os.fdopen(write_end, "wb") as out:
                    pickle.dump(payload, out)
                code = 0
    finally:
        os._exit(code)  # no atexit handlers, buffers or test teardown of the parent's


def _read(fd: int) -> tuple[list[int], list[int]] | None:
    """A child's answer from its pipe (None: it ended without one)."""
    with os.fdopen(fd, "rb") as source:
        data = source.read()
    if not data:
        return None
    _, cols, rows = pickle.loads(data)
    return cols, rows
