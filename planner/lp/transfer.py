"""Hand the LP (planner/lp/linear.py) to HiGHS as arrays: one `passModel` call for the columns
and one `addRows` call for the matrix, instead of PuLP's one `addCol` per variable and one
`addRow` per row (0.8 s at 67k columns, bench/bench_build.py).

The columns are `prob.variables()` in its order (sorted by name, PuLP's), the rows
`prob._constraints` in theirs, and every column and row gets the `index` PuLP's reader
(`findSolutionValues`) and planner/lp/solve.py use; costs, bounds, integrality and the matrix
are what PuLP gives HiGHS from its copy of the problem (`to_pulp`), term by term
(tests/test_transfer.py compares HiGHS's `getLp()` of both).

The matrix handed over is kept with the problem (`prob.handed`, a `Handed`): reading it back
from HiGHS (`getLp().a_matrix_`) turns its 1.6M indexes and values into Python lists and back
(~0.2 s at 206k columns, twice a fast-path plan), so the relaxed aggregated LP's arrays
(planner/lp/aggregate.py `from_highs`) and the rounding's row checks (planner/lp/incumbent.py
`_RowCheck`) take it from here (`handed_matrix`) while HiGHS still holds that matrix.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import pulp

from planner.lp.linear import Col, LinearProblem, Row

_INDEX = attrgetter("index")
_CONSTANT = attrgetter("constant")
_SENSE = attrgetter("sense")


def transfer(prob: LinearProblem, solver: pulp.HiGHS) -> None:
    """`solver.createAndConfigureSolver(prob); solver.buildSolverModel(prob)`, from arrays: a
    configured `highspy.Highs` in `prob.solverModel` holding the problem (its objective's
    constant left out, as PuLP leaves it)."""
    import highspy

    _configure(prob, solver)
    rows = list(prob._constraints.values())
    columns, matrix = _columns_and_matrix(prob, rows)
    lp = highspy.HighsLp()
    lp.num_col_ = len(columns)
    lp.col_cost_ = _costs(prob, len(columns))
    lp.col_lower_ = _bounds([v.lowBound for v in columns], -highspy.kHighsInf)
    lp.col_upper_ = _bounds([v.upBound for v in columns], highspy.kHighsInf)
    if solver.mip and any(v.cat == pulp.LpInteger for v in columns):
        integer, continuous = highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous
        lp.integrality_ = [integer if v.cat == pulp.LpInteger else continuous for v in columns]
    prob.solverModel.passModel(lp)
    for i, con in enumerate(rows):
        con.index = i
    prob.handed = None
    if rows:
        # Added as rows to a model of columns (PuLP's way), HiGHS keeps the matrix row-wise.
        start, index, value = matrix
        prob.handed = Handed(prob.solverModel, len(columns), start, index, value)
        lower, upper = _row_bounds(rows, highspy.kHighsInf)
        prob.solverModel.addRows(
            len(rows),
            lower,
            upper,
            len(index),
            start[:-1],
            index,
            value,
        )


@dataclass
class Handed:
    """The matrix `transfer` handed to `highs`, row-wise as passed to addRows: row i's entries
    are index[start[i]:start[i+1]] (columns) and value[...] (coefficients), in its terms'
    order; n columns."""

    highs: Any
    n: int
    start: np.ndarray  # int64, one per row and one past the last
    index: np.ndarray  # int64
    value: np.ndarray  # float64


def handed_matrix(prob: LinearProblem) -> Handed | None:
    """The matrix `transfer` handed to HiGHS (`Handed`) when the HiGHS object `prob` holds is
    the one it went to and still has its shape (columns, rows, nonzeros: HiGHS drops a
    coefficient under its small_matrix_value, which would show as fewer nonzeros); None
    otherwise (then read it from HiGHS: `getLp().a_matrix_`). Nothing in the planner changes a
    coefficient in HiGHS after the transfer."""
    handed = getattr(prob, "handed", None)
    highs = prob.solverModel
    if handed is None or highs is None or handed.highs is not highs:
        return None
    shape = (highs.getNumCol(), highs.getNumRow(), highs.getNumNz())
    if shape != (handed.n, len(handed.start) - 1, len(handed.value)):
        return None
    return handed


def _costs(prob: LinearProblem, n: int) -> np.ndarray:
    """Column costs: the objective's coefficients (negated to maximise), 0 where absent."""
    cost = np.zeros(n)
    objective = prob.objective
    if objective:
        sign = -1.0 if prob.sense == pulp.LpMaximize else 1.0
        where = np.fromiter(map(_INDEX, objective.keys()), dtype=np.int64, count=len(objective))
        cost[where] = sign * np.fromiter(objective.values(), dtype=float, count=len(objective))
    return cost


def _bounds(values: list[float | None], infinite: float) -> np.ndarray:
    """A bound per column or row; None (no bound) becomes HiGHS's infinity of that side."""
    return np.array([infinite if v is None else v for v in values], dtype=float)


def _row_bounds(rows: list[Row], infinite: float) -> tuple[np.ndarray, np.ndarray]:
    """Each row's bounds as its getLb and getUb give them: -constant on the sides its sense
    bounds (the negation in Python, per row: an integer constant 0 is 0.0, not -0.0), HiGHS's
    infinity on the others."""
    n = len(rows)
    rhs = np.fromiter(map(operator.neg, map(_CONSTANT, rows)), dtype=float, count=n)
    sense = np.fromiter(map(_SENSE, rows), dtype=np.int64, count=n)
    lower = np.where(
        (sense == pulp.LpConstraintGE) | (sense == pulp.LpConstraintEQ), rhs, -infinite
    )
    upper = np.where((sense == pulp.LpConstraintLE) | (sense == pulp.LpConstraintEQ), rhs, infinite)
    return lower, upper


# Each transfer's provisional column indexes start at its own multiple of 2^32 (`_by_made`):
# an index a column got in another problem or transfer, or its -1, cannot fall among them.
_BASES = itertools.count(1)
_NAME = attrgetter("name")


def _columns_and_matrix(
    prob: LinearProblem, rows: list[Row]
) -> tuple[list[Col], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`prob.variables()`, each column's `index` set to its place there, and the matrix of
    `rows` in HiGHS's row-wise form (`_rowwise`). From `prob.made` (`_by_made`) when it lists
    exactly the columns in use; else the union over every row (`variables`)."""
    if prob._columns is None and prob.made:
        found = _by_made(prob, rows, prob.made)
        if found is not None:
            return found
    columns = prob.variables()
    for i, var in enumerate(columns):
        var.index = i
    return columns, _rowwise(rows)


def _by_made(
    prob: LinearProblem, rows: list[Row], made: list[Col]
) -> tuple[list[Col], tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
    """The columns in use sorted by name (variables' order) when every column of the rows and
    the objective is a made one: the made columns that one of them holds, which are the columns
    a union would find, in its order. Their places come from the one read of each term's column
    the matrix needs (the made columns numbered first from this transfer's base, which no other
    index equals; a made column in none keeps its index). None, every made column's index as
    it was, when a row or the objective holds a column not made."""
    columns = sorted(made, key=_NAME)
    n = len(columns)
    prior = list(map(_INDEX, columns))
    base = next(_BASES) << 32
    for i, var in enumerate(columns, base):
        var.index = i
    col, value, counts = _terms(rows)
    objective = prob.objective
    where = np.fromiter(map(_INDEX, objective), dtype=np.int64, count=len(objective))
    col -= base
    where -= base
    if not (((col >= 0) & (col < n)).all() and ((where >= 0) & (where < n)).all()):
        for var, index in zip(columns, prior, strict=True):
            var.index = index
        return None
    held = np.bincount(col, minlength=n) > 0
    held[where] = True
    if not held.all():  # made columns in no row: left out, their places closed up
        for var, index, used in zip(columns, prior, held.tolist(), strict=True):
            if not used:
                var.index = index
        place = np.cumsum(held) - 1
        col = place[col]
        columns = [var for var, used in zip(columns, held.tolist(), strict=True) if used]
    for i, var in enumerate(columns):
        var.index = i
    prob._columns = columns
    return columns, _compressed(col, value, counts)


def _rowwise(rows: list[Row]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The matrix in HiGHS's row-wise form (start, column index, value), each row's terms in
    its expression's order, zero coefficients left out: what PuLP's addRow calls build (HiGHS
    keeps a matrix built by rows row-wise until it solves)."""
    return _compressed(*_terms(rows))


def _terms(rows: list[Row]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every term of `rows`, row after row in its order: (column index, coefficient, each
    row's number of terms)."""
    counts = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    total = int(counts.sum())
    # One map over every row's columns, row after row (a row iterates its columns in order).
    chain = itertools.chain.from_iterable
    col = np.fromiter(map(_INDEX, chain(rows)), dtype=np.int64, count=total)
    value = np.fromiter(chain(map(dict.values, rows)), dtype=float, count=total)
    return col, value, counts


def _compressed(
    col: np.ndarray, value: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_terms` as (start, column index, value) without the zero coefficients."""
    rows = len(counts)
    kept = value != 0
    if not kept.all():
        row = np.repeat(np.arange(rows, dtype=np.int64), counts)
        counts = np.bincount(row[kept], minlength=rows)
        col, value = col[kept], value[kept]
    start = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    return start, col, value


# -- one HiGHS object kept between the plans of a sweep ----------------------------------------
# While `kept_solver()` is active (a sweep's point: planner/sweeps.py run_point), the first
# problem handed to HiGHS gets the process's kept `highspy.Highs` instead of a new one: its
# callbacks cleared, its options reset to HiGHS's defaults and set as PuLP sets a new one's
# (`_configure_like_pulp`), and the model passed with `passModel`, which clears the previous
# model, its solution and basis. So every point is still solved from nothing (no basis or
# solution of an earlier point is used: the answer cannot depend on the order of the points),
# but a new object and its first run's set-up (0.1-0.2 ms of the ~3 ms chat-tier point of
# bench/bench_sweep.py) are spent once per process. Other problems solved during the same point
# (a diagnosis's elastic models) get new objects, as the plan's model still holds the kept one.
# The state is per thread: threads solving at once never share an object.
_LOCAL = threading.local()


def _kept() -> dict[str, Any]:
    """This thread's kept object, the problem using it and whether a point is being solved."""
    state = getattr(_LOCAL, "state", None)
    if state is None:
        state = _LOCAL.state = {"highs": None, "owner": None, "active": False}
    return state


@contextlib.contextmanager
def kept_solver(on: bool = True) -> Iterator[None]:
    """Within: the first problem `transfer` hands to HiGHS uses the kept HiGHS object (see
    above); `on=False` leaves every transfer as before (a new object each)."""
    kept = _kept()
    if not on or kept["active"]:
        yield
        return
    kept["active"], kept["owner"] = True, None
    try:
        yield
    finally:
        kept["active"], kept["owner"] = False, None
        highs = kept["highs"]
        if highs is not None and highs.getNumCol() > KEEP_COLUMNS:
            kept["highs"] = None  # not kept holding a large model (its memory) between points


# A kept object holding a model of more columns than this is let go after its point: a new object
# costs ~0.1 ms, nothing beside a large model's solve, and a long-lived process (a notebook)
# would otherwise hold the last large model's memory.
KEEP_COLUMNS = 10_000

# HiGHS's run clock (getRunTime) adds up over every run of an object; passModel, clear,
# clearSolver and resetOptions leave it running on, highspy 1.16 has no call that zeroes it,
# and HiGHS's LP solver stops at time_limit on that clock. So a kept object's earlier points'
# run time would come off every later point's time limit (measured: with 0.6 s run on a kept
# object, a point a new object solves in milliseconds stopped at once under a 0.5 s limit,
# "LP relaxation not finished"; a sweep of 3 ms points under the default 60 s limit would
# fail from its ~20,000th point in a worker on). The kept object is let go before a point once
# its clock passes KEEP_RUN_S or KEEP_RUN_SHARE of the point's limit, whichever is less: a
# point's limit is shortened by at most that (a new object costs ~0.1 ms, spent once every
# ~30 chat-tier points of bench/bench_sweep.py at most).
KEEP_RUN_S = 0.1
KEEP_RUN_SHARE = 0.01


def _keep_run_s(solver: pulp.HiGHS) -> float:
    """The run time past which the kept object is let go before a point (KEEP_RUN_S)."""
    limit = solver.timeLimit
    return KEEP_RUN_S if limit is None else min(KEEP_RUN_S, KEEP_RUN_SHARE * float(limit))


def _configure(prob: LinearProblem, solver: pulp.HiGHS) -> None:
    """`solver.createAndConfigureSolver(prob)`, or the kept object configured the same way."""
    kept = _kept()
    owner = kept["owner"]
    if not kept["active"] or (owner is not None and owner is not prob):
        solver.createAndConfigureSolver(prob)
        return
    highs = kept["highs"]
    if highs is not None and highs.getRunTime() > _keep_run_s(solver):
        highs = kept["highs"] = None  # its run clock would shorten this point's time limit
    if highs is None:
        solver.createAndConfigureSolver(prob)
        kept["highs"] = prob.solverModel
    else:
        highs.clearCallbacks()  # solve.py's time-limit interrupts of the previous point
        highs.resetOptions()
        _configure_like_pulp(highs, solver)
        prob.solverModel = highs
    kept["owner"] = prob


def _configure_like_pulp(highs: Any, solver: pulp.HiGHS) -> None:
    """The options PuLP 3.3's HiGHS.createAndConfigureSolver sets on a new object, in its order
    (tests/test_kept_solver.py compares every option with a new object's)."""
    if solver.callbackTuple or solver.callbacksToActivate:
        raise ValueError("the kept HiGHS object is not used with PuLP callbacks")
    if not solver.msg:
        highs.setOptionValue("output_flag", False)
    if solver.gapRel is not None:
        highs.setOptionValue("mip_rel_gap", solver.gapRel)
    if solver.gapAbs is not None:
        highs.setOptionValue("mip_abs_gap", solver.gapAbs)
    if solver.threads is not None:
        highs.setOptionValue("threads", solver.threads)
    if solver.timeLimit is not None:
        highs.setOptionValue("time_limit", float(solver.timeLimit))
    for key, value in solver.optionsDict.items():
        highs.setOptionValue(key, value)
