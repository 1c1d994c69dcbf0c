"""Hand the LP (planner/lp/linear.py) to HiGHS as arrays: one `passModel` call for the columns
and one `addRows` call for the matrix, instead of PuLP's one `addCol` per variable and one
`addRow` per row (0.8 s at 67k columns, bench/bench_build.py).

The columns are `prob.variables()` in its order (sorted by name, PuLP's), the rows
`prob._constraints` in theirs, and every column and row gets the `index` PuLP's reader
(`findSolutionValues`) and planner/lp/solve.py use; costs, bounds, integrality and the matrix
are what PuLP gives HiGHS from its copy of the problem (`to_pulp`), term by term
(tests/test_transfer.py compares HiGHS's `getLp()` of both).
"""

from __future__ import annotations

import itertools
import operator
from operator import attrgetter

import numpy as np
import pulp

from planner.lp.linear import LinearProblem, Row

_INDEX = attrgetter("index")
_CONSTANT = attrgetter("constant")
_SENSE = attrgetter("sense")


def transfer(prob: LinearProblem, solver: pulp.HiGHS) -> None:
    """`solver.createAndConfigureSolver(prob); solver.buildSolverModel(prob)`, from arrays: a
    configured `highspy.Highs` in `prob.solverModel` holding the problem (its objective's
    constant left out, as PuLP leaves it)."""
    import highspy

    solver.createAndConfigureSolver(prob)
    columns = prob.variables()
    for i, var in enumerate(columns):
        var.index = i
    lp = highspy.HighsLp()
    lp.num_col_ = len(columns)
    lp.col_cost_ = _costs(prob, len(columns))
    lp.col_lower_ = _bounds([v.lowBound for v in columns], -highspy.kHighsInf)
    lp.col_upper_ = _bounds([v.upBound for v in columns], highspy.kHighsInf)
    if solver.mip and any(v.cat == pulp.LpInteger for v in columns):
        integer, continuous = highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous
        lp.integrality_ = [integer if v.cat == pulp.LpInteger else continuous for v in columns]
    prob.solverModel.passModel(lp)
    rows = list(prob._constraints.values())
    for i, con in enumerate(rows):
        con.index = i
    if rows:
        # Added as rows to a model of columns (PuLP's way), HiGHS keeps the matrix row-wise.
        start, index, value = _rowwise(rows)
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


def _rowwise(rows: list[Row]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The matrix in HiGHS's row-wise form (start, column index, value), each row's terms in
    its expression's order, zero coefficients left out: what PuLP's addRow calls build (HiGHS
    keeps a matrix built by rows row-wise until it solves)."""
    counts = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    total = int(counts.sum())
    # One map over every row's columns, row after row (a row iterates its columns in order).
    chain = itertools.chain.from_iterable
    col = np.fromiter(map(_INDEX, chain(rows)), dtype=np.int64, count=total)
    value = np.fromiter(chain(map(dict.values, rows)), dtype=float, count=total)
    kept = value != 0
    if not kept.all():
        row = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
        counts = np.bincount(row[kept], minlength=len(rows))
        col, value = col[kept], value[kept]
    start = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    return start, col, value
