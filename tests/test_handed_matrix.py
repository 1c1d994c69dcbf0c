"""The matrix planner/lp/transfer.py hands to HiGHS, kept with the problem (`Handed`,
`handed_matrix`), read instead of HiGHS's copy (`getLp().a_matrix_`, which comes back through
Python lists): the relaxed aggregated LP's arrays (aggregate.from_highs) and the rounding's row
entries (incumbent._RowCheck) are the same to the bit and in the same order as those read from
HiGHS, before HiGHS solved (it holds the rows as handed) and after (it holds them by columns).
The previous code that read HiGHS's copy is kept below as the reference."""

from __future__ import annotations

import sys
from pathlib import Path

import highspy
import numpy as np
import pytest
import scipy.sparse as sp
from test_lp_rows import _scenario

from planner.api import demands
from planner.lp import aggregate
from planner.lp import solve as solve_module
from planner.lp.build import build
from planner.lp.incumbent import _RowCheck
from planner.lp.transfer import handed_matrix, transfer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


def _reference_from_highs(highs, constant: float) -> aggregate.Arrays:  # noqa: ANN001
    """aggregate.from_highs before the handed matrix: HiGHS's copy read back."""
    lp = highs.getLp()
    n, m = lp.num_col_, lp.num_row_
    mat = lp.a_matrix_
    start = np.asarray(mat.start_, dtype=np.int64)
    index = np.asarray(mat.index_, dtype=np.int64)
    value = np.asarray(mat.value_, dtype=np.float64)
    if mat.format_ == highspy.MatrixFormat.kColwise:
        a = sp.csc_matrix((value, index, start), shape=(m, n)).tocsr()
    else:
        a = sp.csr_matrix((value, index, start), shape=(m, n))
    a.sum_duplicates()
    got = aggregate.from_highs(highs, constant)  # the rest is read as before
    got.a = a
    return got


def _reference_entries(highs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """_RowCheck's (rows, columns, coefs) before the handed matrix: HiGHS's copy."""
    lp = highs.getLp()
    matrix = lp.a_matrix_
    by_rows = matrix.format_ == highspy.MatrixFormat.kRowwise
    runs = np.repeat(np.arange(lp.num_row_ if by_rows else lp.num_col_), np.diff(matrix.start_))
    index = np.asarray(matrix.index_)
    rows = runs if by_rows else index
    columns = index if by_rows else runs
    return rows, columns, np.asarray(matrix.value_)


def _same_arrays(got: aggregate.Arrays, want: aggregate.Arrays) -> None:
    for name in ("cost", "lo", "hi", "integer", "rlo", "rhi"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    assert got.constant == want.constant
    assert got.a.shape == want.a.shape
    for name in ("indptr", "indices", "data"):
        mine, theirs = getattr(got.a, name), getattr(want.a, name)
        assert np.array_equal(mine, theirs), name
    assert got.a.data.tobytes() == want.a.data.tobytes()  # to the bit (signed zeros too)


def _same_entries(model) -> None:  # noqa: ANN001
    check = _RowCheck(model)
    rows, columns, coefs = _reference_entries(model.prob.solverModel)
    assert np.array_equal(check.rows, rows)
    assert np.array_equal(check.columns, columns)
    assert check.coefs.dtype == np.float64 and coefs.dtype == np.float64
    assert check.coefs.tobytes() == coefs.tobytes()
    assert check.rows.dtype == rows.dtype and check.columns.dtype == columns.dtype


@pytest.mark.parametrize(
    "name", ["fleet-quarters", "fleet-year", "split", "frontier-3y", "rl-verifiers--rental"]
)
def test_handed_matrix_is_highs_copy_before_and_after_a_solve(name: str, tmp_path: Path) -> None:
    scenario = _scenario(name, tmp_path)
    model = build(scenario, demands(scenario))
    solver = solve_module.make_solver("highs", False, 0.01, 60.0, "choose")
    transfer(model.prob, solver)
    highs = model.prob.solverModel
    handed = handed_matrix(model.prob)
    assert handed is not None
    constant = float(model.prob.objective.constant)
    assert highs.getLp().a_matrix_.format_ == highspy.MatrixFormat.kRowwise
    _same_arrays(
        aggregate.from_highs(highs, constant, handed), _reference_from_highs(highs, constant)
    )
    _same_entries(model)
    highs.run()  # HiGHS now holds the matrix by columns
    assert highs.getLp().a_matrix_.format_ == highspy.MatrixFormat.kColwise
    assert handed_matrix(model.prob) is handed
    _same_arrays(
        aggregate.from_highs(highs, constant, handed), _reference_from_highs(highs, constant)
    )
    _same_entries(model)


def test_handed_matrix_is_not_used_once_highs_holds_another(tmp_path: Path) -> None:
    """A coefficient HiGHS no longer holds (fewer nonzeros), another HiGHS object, or a problem
    never transferred: None, and _RowCheck reads HiGHS's copy."""
    scenario = _scenario("fleet-year", tmp_path)
    model = build(scenario, demands(scenario))
    assert handed_matrix(model.prob) is None
    solver = solve_module.make_solver("highs", False, 0.01, 60.0, "choose")
    transfer(model.prob, solver)
    handed = handed_matrix(model.prob)
    assert handed is not None
    highs = model.prob.solverModel
    row = int(np.flatnonzero(np.diff(handed.start))[0])
    highs.changeCoeff(row, int(handed.index[handed.start[row]]), 0.0)  # an entry removed
    assert highs.getNumNz() == len(handed.value) - 1
    assert handed_matrix(model.prob) is None
    _same_entries(model)
    model.prob.solverModel = highspy.Highs()
    assert handed_matrix(model.prob) is None
