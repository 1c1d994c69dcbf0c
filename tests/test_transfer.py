"""The model HiGHS receives from planner/lp/transfer.py (arrays, one passModel call) is the one
PuLP's own transfer (`buildSolverModel`: addCol per variable, addRow per row) gives it: costs,
bounds, integrality, matrix and row bounds equal entry by entry, for the shipped three-year
scenario and for bench/bench_lp.py's synthetic fleet; and every variable and row carries the
index PuLP's reader uses to read values and duals back."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pulp
import pytest

from planner.api import demands
from planner.lp.build import build
from planner.lp.model import Model, Problem, expr, variable
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


def _lp_by(prob: pulp.LpProblem, mip: bool, ours: bool) -> dict[str, object]:
    solver = pulp.HiGHS(mip=mip, msg=False)
    if ours:
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


def _indices(prob: pulp.LpProblem) -> tuple[list[int], list[int]]:
    return [v.index for v in prob.variables()], [c.index for c in prob._constraints.values()]


@pytest.mark.parametrize("mip", [False, True])
@pytest.mark.parametrize("which", ["frontier", "fleet"])
def test_transfer_gives_highs_the_model_pulp_gives(
    which: str, mip: bool, request: pytest.FixtureRequest
) -> None:
    model: Model = request.getfixturevalue(which)
    theirs = _lp_by(model.prob, mip, ours=False)
    their_indices = _indices(model.prob)
    ours = _lp_by(model.prob, mip, ours=True)
    assert their_indices == _indices(model.prob)
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


def _pulp_variables(prob: pulp.LpProblem) -> list[str]:
    """PuLP's own answer: every variable of the objective and the rows, sorted by name."""
    names = set(prob.objective or ()) | {v for c in prob._constraints.values() for v in c}
    return sorted(v.name for v in names)


def test_problem_variables_follow_every_change() -> None:
    """Problem.variables() is cached, yet follows a row added, a variable put into an existing
    row or the objective, and a new objective, as PuLP's rebuilt list does."""
    prob = Problem("p", pulp.LpMinimize)
    x, y, z, w, v = (prob.add_variable(n, 0) for n in ("x", "y", "z", "w", "v"))
    prob += x + 2 * y
    prob += (x + y >= 1, "c0")
    assert [var.name for var in prob.variables()] == _pulp_variables(prob) == ["x", "y"]
    prob += (y + z <= 4, "c1")
    assert [var.name for var in prob.variables()] == _pulp_variables(prob) == ["x", "y", "z"]
    prob._constraints["c0"].expr[w] = 3.0
    assert [var.name for var in prob.variables()] == ["w", "x", "y", "z"]
    prob.setObjective(x + v)
    assert [var.name for var in prob.variables()] == ["v", "w", "x", "y", "z"]
    prob._constraints["c1"].expr[z] = 5.0  # a coefficient changed in place: no new column
    assert [var.name for var in prob.variables()] == ["v", "w", "x", "y", "z"]
    assert prob.variables() is prob.variables()


def test_expr_sums_repeats_and_drops_zeros_in_first_appearance_order() -> None:
    """model.expr: a variable given twice gets the sum of its coefficients at the place it first
    appeared, zeros (given or summed) are left out, a generator works like a list."""
    prob = Problem("p", pulp.LpMinimize)
    x, y, z = (prob.add_variable(n, 0) for n in ("x", "y", "z"))
    summed = expr([(x, 1.0), (y, 2.0), (x, -1.0), (z, 0.0), (x, 3.0)])
    assert list(summed.items()) == [(x, 3.0), (y, 2.0)]
    cancelled = expr([(y, 2.0), (x, 1.5), (y, -2.0)], constant=4.0)
    assert list(cancelled.items()) == [(x, 1.5)] and cancelled.constant == 4.0
    assert list(expr((v, 1.0) for v in (z, y)).items()) == [(z, 1.0), (y, 1.0)]


@pytest.mark.parametrize("cat", [pulp.LpContinuous, pulp.LpInteger, pulp.LpBinary])
def test_variable_is_the_one_pulps_constructor_makes(cat: str) -> None:
    """model.variable sets a variable's attributes itself: the same ones, in the same order,
    with the same values (its hash its id) as PuLP's constructor; a binary, a name PuLP
    rewrites and a bound that is not finite go through PuLP's constructor."""
    for name in ("u1", "n12", "x-1"):
        for low, up in ((0, None), (None, None), (0, 1), (1.5, 10.0), (-2, 0.0)):
            ours = variable(name, low, up, cat)
            theirs = pulp.LpVariable(name, low, up, cat, _skip_v4_deprecation=True)
            assert type(ours) is type(theirs) is pulp.LpVariable
            our_attributes, their_attributes = dict(vars(ours)), dict(vars(theirs))
            assert our_attributes.pop("hash") == id(ours) == hash(ours)
            assert their_attributes.pop("hash") == id(theirs)
            assert list(our_attributes.items()) == list(their_attributes.items())
            assert ours.name == theirs.name
    for bound in (math.inf, math.nan):  # PuLP's error (a binary's bounds are PuLP's 0 and 1)
        if cat != pulp.LpBinary:
            with pytest.raises(pulp.PulpError):
                variable("u1", bound, None, cat)


def test_expr_of_distinct_float_pairs_is_pulps_and_other_coefficients_become_floats() -> None:
    """model.expr keeps distinct variables with float coefficients as PuLP's constructor does;
    an int coefficient becomes a float (0.0 + c), as every coefficient did when each pair was
    remade, and a zero is left out."""
    prob = Problem("p", pulp.LpMinimize)
    x, y, z = (prob.add_variable(n, 0) for n in ("x", "y", "z"))
    pairs = [(z, 1.0), (x, -2.5), (y, 1e-12)]
    ours, theirs = expr(pairs, constant=3.0), pulp.LpAffineExpression(pairs, constant=3.0)
    assert list(ours.items()) == list(theirs.items()) and ours.constant == theirs.constant
    mixed = expr([(x, 1), (y, 2.5), (z, 0)])
    assert list(mixed.items()) == [(x, 1.0), (y, 2.5)]
    assert [type(c) for c in mixed.values()] == [float, float]


def test_value_of_a_variable_is_its_value_read_through_value() -> None:
    """readplan.value_of reads a variable's varValue itself: the same as through value(), for
    no value, solver noise, -0.0 and a value; an expression and a number as before."""
    from planner.readplan import VALUE_ZERO, value_of

    prob = Problem("p", pulp.LpMinimize)
    x, y = prob.add_variable("x", 0), prob.add_variable("y", 0)
    for solved in (None, VALUE_ZERO / 2, -0.0, 0.0, 3, 2.5, -1e-3):
        x.varValue = solved
        through_value = x.value()
        expected = (
            0.0 if through_value is None or abs(through_value) < VALUE_ZERO else through_value
        )
        assert repr(value_of(x)) == repr(float(expected))
    x.varValue, y.varValue = 2.0, 0.5
    assert value_of(x + 2 * y) == 3.0 and value_of(4) == 4.0
