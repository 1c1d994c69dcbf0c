"""The model HiGHS receives from planner/lp/transfer.py (arrays, one passModel call) is the one
PuLP gives it from PuLP's own copy of the problem (planner/lp/linear.py `to_pulp`, then PuLP's
`buildSolverModel`: addCol per variable, addRow per row): costs, bounds, integrality, matrix
and row bounds equal entry by entry, for the shipped three-year scenario and for
bench/bench_lp.py's synthetic fleet; every column and row carries the index PuLP's reader uses
to read values and duals back; and the planner's columns, expressions and rows behave as
PuLP's do where the planner reads them."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pulp
import pytest

from planner.api import demands
from planner.lp.build import build
from planner.lp.linear import (
    BINARY,
    CONTINUOUS,
    GE,
    INTEGER,
    LE,
    Col,
    LinearProblem,
    expr,
    from_pulp,
    to_pulp,
    variable,
)
from planner.lp.model import Model
from planner.lp.solve import make_solver
from planner.lp.transfer import transfer
from planner.scenario import SCENARIO_DIR, load_scenario

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from bench_lp import write_scenario  # noqa: E402


def _model(path: Path) -> Model:
    scenario = load_scenario(path)
    return build(scenario, demands(scenario))


@pytest.fixture(scope="module")
def frontier() -> Model:
    return _model(SCENARIO_DIR / "frontier-3y.yaml")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """Four sites x three systems, quarters over two years, mixed pricing (rentals, contracts,
    spot), inference growth, pretraining and RL."""
    directory = tmp_path_factory.mktemp("fleet")
    return _model(write_scenario(directory, 4, 3, 4, 1, "1 quarter", "2 years", 2.0))


def _lp_by(prob: LinearProblem | pulp.LpProblem, mip: bool, ours: bool) -> dict[str, object]:
    solver = pulp.HiGHS(mip=mip, msg=False)
    if ours:
        assert isinstance(prob, LinearProblem)
        transfer(prob, solver)
    else:
        solver.createAndConfigureSolver(prob)
        solver.buildSolverModel(prob)
    lp = prob.solverModel.getLp()
    matrix = lp.a_matrix_
    return {
        "num_col": lp.num_col_,
        "num_row": lp.num_row_,
        "sense": lp.sense_,
        "offset": lp.offset_,
        "col_cost": np.asarray(lp.col_cost_),
        "col_lower": np.asarray(lp.col_lower_),
        "col_upper": np.asarray(lp.col_upper_),
        "integrality": [int(t) for t in lp.integrality_],
        "row_lower": np.asarray(lp.row_lower_),
        "row_upper": np.asarray(lp.row_upper_),
        "format": matrix.format_,
        "start": np.asarray(matrix.start_),
        "index": np.asarray(matrix.index_),
        "value": np.asarray(matrix.value_),
    }


def _indices(prob: LinearProblem | pulp.LpProblem) -> tuple[list[int], list[int]]:
    return [v.index for v in prob.variables()], [c.index for c in prob._constraints.values()]


@pytest.mark.parametrize("mip", [False, True])
@pytest.mark.parametrize("which", ["frontier", "fleet"])
def test_transfer_gives_highs_the_model_pulp_gives(
    which: str, mip: bool, request: pytest.FixtureRequest
) -> None:
    model: Model = request.getfixturevalue(which)
    theirs_prob, _ = to_pulp(model.prob)
    theirs = _lp_by(theirs_prob, mip, ours=False)
    ours = _lp_by(model.prob, mip, ours=True)
    assert _indices(theirs_prob) == _indices(model.prob)
    assert [v.name for v in theirs_prob.variables()] == [v.name for v in model.prob.variables()]
    assert theirs["num_col"] == len(model.prob.variables()) > 1000
    assert theirs["num_row"] == len(model.constraints) > 500
    if mip:
        assert sum(theirs["integrality"]) > 0  # type: ignore[arg-type]
    else:
        assert theirs["integrality"] == []
    for key, expected in theirs.items():
        got = ours[key]
        if isinstance(expected, np.ndarray):
            assert isinstance(got, np.ndarray)
            assert got.shape == expected.shape, key
            assert np.array_equal(got, expected), key  # bit for bit, infinities included
        else:
            assert got == expected, key


def test_indices_follow_pulp_column_and_row_order(fleet: Model) -> None:
    """Column i is the i-th of prob.variables() (sorted by name), row i the i-th row added:
    what findSolutionValues reads values and duals by."""
    transfer(fleet.prob, pulp.HiGHS(mip=False, msg=False))
    names = [v.name for v in fleet.prob.variables()]
    assert names == sorted(names)
    assert [v.index for v in fleet.prob.variables()] == list(range(len(names)))
    assert [c.index for c in fleet.constraints.values()] == list(range(len(fleet.constraints)))


def _handed(prob: LinearProblem) -> list[np.ndarray]:
    lp = prob.solverModel.getLp()
    return [
        np.asarray(x)
        for x in (
            lp.col_cost_,
            lp.col_lower_,
            lp.col_upper_,
            lp.row_lower_,
            lp.row_upper_,
            prob.handed.start,
            prob.handed.index,
            prob.handed.value,
        )
    ]


def test_columns_in_use_come_from_the_made_list_as_the_union_finds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A built model's first transfer takes its columns from prob.made (no union over the rows:
    `variables` is not called) and hands HiGHS what the union's transfer hands it: the same
    columns in the same order, indexes, costs, bounds and matrix."""
    model = _model(write_scenario(tmp_path, 4, 3, 4, 1, "1 quarter", "2 years", 2.0))
    prob = model.prob
    assert prob.made is not None and len(prob.made) > 1000
    union = sorted(set(prob.objective).union(*prob._constraints.values()), key=lambda c: c.name)

    def no_union() -> list[Col]:
        raise AssertionError("variables() called: the union ran")

    with monkeypatch.context() as patch:
        patch.setattr(prob, "variables", no_union)
        transfer(prob, pulp.HiGHS(mip=False, msg=False))
    ours = _handed(prob)
    assert prob._columns is not None
    assert all(a is b for a, b in zip(prob._columns, union, strict=True))
    assert [c.index for c in union] == list(range(len(union)))
    prob.made, prob._columns = None, None  # the union's transfer of the same problem
    transfer(prob, pulp.HiGHS(mip=False, msg=False))
    assert prob._columns == union
    for got, expected in zip(ours, _handed(prob), strict=True):
        assert got.dtype == expected.dtype and np.array_equal(got, expected)


def test_made_columns_in_no_row_are_left_out_and_a_foreign_column_takes_the_union(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A made column no row or objective holds is left out (its index as it was, the places
    after it closed up) without the union; a column only in the objective is in use; a column
    in a row that is not a made one sends the transfer to the union, which finds it even when
    it holds an index of another transfer."""
    solver = pulp.HiGHS(mip=False, msg=False)
    a, b, c, d, other = (variable(n, 0, None) for n in ("a", "b", "c", "d", "other"))
    prob = LinearProblem("p")
    prob.made = [d, c, b, a]
    prob.setObjective(expr([(d, 5.0)]))
    prob.add([(c, 1.0), (a, 2.0)], GE, 1.0, "c0")
    b.index = 7
    with monkeypatch.context() as patch:
        patch.setattr(prob, "variables", lambda: pytest.fail("the union ran"))
        transfer(prob, solver)
    assert prob._columns is not None and [v.name for v in prob._columns] == ["a", "c", "d"]
    assert (a.index, b.index, c.index, d.index) == (0, 7, 1, 2)
    assert prob.handed.index.tolist() == [1, 0] and prob.handed.value.tolist() == [1.0, 2.0]
    assert list(prob.solverModel.getLp().col_cost_) == [0.0, 0.0, 5.0]

    again = LinearProblem("q")  # `other` holds index 0 as from this transfer
    again.made = [a, c]
    again.setObjective(expr([(c, 1.0)]))
    again.add([(other, 1.0), (a, 1.0), (c, 1.0)], LE, 4.0, "c0")
    other.index = 0
    transfer(again, solver)
    assert [v.name for v in again.variables()] == ["a", "c", "other"]
    assert again.handed.index.tolist() == [2, 0, 1]
    assert again.solverModel.getNumCol() == 3


def test_problem_variables_follow_every_change() -> None:
    """LinearProblem.variables() is cached, yet follows a row added, a new objective and a
    column put into a row in place (after `changed()`), sorted by name as PuLP's list is."""
    prob = LinearProblem("p")
    x, y, z, w, v = (variable(n, 0, None) for n in ("x", "y", "z", "w", "v"))
    prob.setObjective(expr([(x, 1.0), (y, 2.0)]))
    prob.add([(x, 1.0), (y, 1.0)], GE, 1.0, "c0")
    assert [var.name for var in prob.variables()] == ["x", "y"]
    prob.add([(y, 1.0), (z, 1.0)], LE, 4.0, "c1")
    assert [var.name for var in prob.variables()] == ["x", "y", "z"]
    prob._constraints["c0"][w] = 3.0
    prob.changed()
    assert [var.name for var in prob.variables()] == ["w", "x", "y", "z"]
    prob.setObjective(expr([(x, 1.0), (v, 1.0)]))
    assert [var.name for var in prob.variables()] == ["v", "w", "x", "y", "z"]
    assert prob.variables() is prob.variables()
    theirs, _ = to_pulp(prob)
    assert [var.name for var in theirs.variables()] == ["v", "w", "x", "y", "z"]


def test_rows_hold_pulps_bounds_and_refuse_what_pulp_refuses() -> None:
    """A row's constant is minus its right-hand side and its bounds PuLP's getLb/getUb; an
    infinite right-hand side and a repeated name are refused."""
    prob = LinearProblem("p")
    x = variable("x", 0, None)
    ge, le, eq = (prob.add([(x, 2.0)], sense, 3.0, f"c{i}") for i, sense in enumerate((1, -1, 0)))
    for ours in (ge, le, eq):
        theirs = pulp.LpConstraint(pulp.LpAffineExpression([(x, 2.0)]), ours.sense, None, 3.0)
        assert (ours.constant, ours.getLb(), ours.getUb()) == (
            theirs.constant,
            theirs.getLb(),
            theirs.getUb(),
        )
    x.varValue = 1.5
    assert ge.value() == 0.0 and ge.valid() and le.valid() and eq.valid()
    x.varValue = 1.0
    assert ge.value() == -1.0 and not ge.valid() and le.valid() and not eq.valid(0.5)
    with pytest.raises(pulp.PulpError):
        prob.add([(x, 1.0)], GE, math.inf, "c3")
    with pytest.raises(ValueError, match="duplicate row name c0"):
        prob.add([(x, 1.0)], GE, 0.0, "c0")
    # PuLP would rename it unit_s0_gb200_nvl72_0, and CBC's answer is read back by name
    theirs = pulp.LpProblem("p")
    theirs.addConstraint(
        pulp.LpConstraint(theirs.add_variable("x") >= 1, name="unit_s0_gb200-nvl72_0")
    )
    assert list(theirs._constraints) == ["unit_s0_gb200_nvl72_0"]
    with pytest.raises(ValueError, match="characters an LP file cannot hold"):
        prob.add([(x, 1.0)], GE, 1.0, "unit_s0_gb200-nvl72_0")


def test_cbc_solves_pulps_copy_and_its_answer_comes_back() -> None:
    """to_pulp and from_pulp: CBC solves PuLP's copy; values, reduced costs, duals, slacks and
    statuses come back to the planner's columns and rows. min x + 2y, x + y >= 3, x <= 2,
    y integer: x = 2, y = 1, cost 4; the LP relaxation's dual of the first row is 2."""
    prob = LinearProblem("p")
    x, y = variable("x", 0, None), variable("y", 0, None, INTEGER)
    prob.setObjective(expr([(x, 1.0), (y, 2.0)], constant=0.5))
    cover = prob.add([(x, 1.0), (y, 1.0)], GE, 3.0, "c0")
    cap = prob.add([(x, 1.0)], LE, 2.0, "c1")
    for mip in (False, True):
        theirs, columns = to_pulp(prob)
        theirs.solve(make_solver("cbc", mip, 0.0, 60.0, "choose"))
        from_pulp(prob, theirs, columns)
        assert (x.varValue, y.varValue) == (2.0, 1.0)
        assert prob.objective.value() == 4.5
        assert prob.status == pulp.LpStatusOptimal
        if not mip:
            assert (cover.pi, cap.pi, cover.slack, cap.slack) == (2.0, -1.0, 0.0, 0.0)


def test_expr_sums_repeats_and_drops_zeros_in_first_appearance_order() -> None:
    """expr: a column given twice gets the sum of its coefficients at the place it first
    appeared, zeros (given or summed) are left out, a generator works like a list."""
    x, y, z = (variable(n, 0, None) for n in ("x", "y", "z"))
    summed = expr([(x, 1.0), (y, 2.0), (x, -1.0), (z, 0.0), (x, 3.0)])
    assert list(summed.items()) == [(x, 3.0), (y, 2.0)]
    cancelled = expr([(y, 2.0), (x, 1.5), (y, -2.0)], constant=4.0)
    assert list(cancelled.items()) == [(x, 1.5)] and cancelled.constant == 4.0
    assert list(expr((v, 1.0) for v in (z, y)).items()) == [(z, 1.0), (y, 1.0)]
    mixed = expr([(x, 1), (y, 2.5), (z, 0)])
    assert list(mixed.items()) == [(x, 1.0), (y, 2.5)]
    assert [type(c) for c in mixed.values()] == [float, float]


@pytest.mark.parametrize("cat", [CONTINUOUS, INTEGER, BINARY])
def test_variable_is_the_column_pulps_constructor_makes(cat: str) -> None:
    """variable() gives the name, bounds, category and empty value PuLP's LpVariable has (a
    binary is an integer in [0, 1]); a bound that is not finite is PuLP's error; a name PuLP
    would rewrite is refused; columns hash by identity."""
    for name in ("u1", "n12"):
        for low, up in ((0, None), (None, None), (0, 1), (1.5, 10.0), (-2, 0.0)):
            ours = variable(name, low, up, cat)
            theirs = pulp.LpVariable(name, low, up, cat, _skip_v4_deprecation=True)
            fields = ("name", "lowBound", "upBound", "cat", "varValue", "dj")
            assert [getattr(ours, f) for f in fields] == [getattr(theirs, f) for f in fields]
            assert type(ours) is Col and hash(ours) == object.__hash__(ours)
    for bound in (math.inf, math.nan):  # PuLP's error (a binary's bounds are PuLP's 0 and 1)
        if cat != BINARY:
            with pytest.raises(pulp.PulpError):
                variable("u1", bound, None, cat)
    with pytest.raises(ValueError, match="x-1"):
        variable("x-1", 0, None, cat)


def test_value_of_a_variable_is_its_value_read_through_value() -> None:
    """readplan.value_of reads a column's varValue itself: the same as through value(), for
    no value, solver noise, -0.0 and a value; an expression and a number as before."""
    from planner.readplan import VALUE_ZERO, value_of

    x, y = variable("x", 0, None), variable("y", 0, None)
    for solved in (None, VALUE_ZERO / 2, -0.0, 0.0, 3, 2.5, -1e-3):
        x.varValue = solved
        through_value = x.value()
        expected = (
            0.0 if through_value is None or abs(through_value) < VALUE_ZERO else through_value
        )
        assert repr(value_of(x)) == repr(float(expected))
    x.varValue, y.varValue = 2.0, 0.5
    assert value_of(expr([(x, 1.0), (y, 2.0)])) == 3.0 and value_of(4) == 4.0
