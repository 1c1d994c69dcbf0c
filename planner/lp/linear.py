"""The LP's own modelling objects: a column (`Col`), a linear expression (`Affine`), a row
(`Row`) and the problem that holds them (`LinearProblem`), made for fleet-scale builds and
handed to HiGHS as arrays (planner/lp/transfer.py). For CBC and for writing a model file,
`to_pulp` makes PuLP's problem from them, column for column and row for row.

Why not PuLP's objects: at 102k columns a third of the build went into them, not into the
planner's own rules (bench/bench_build.py): each LpVariable hashes through a Python method
(~1M calls a build, one per term put into a row), each row is an LpConstraint around an
LpAffineExpression, and each variable's constructor checks its name. These hash by identity in
C and carry only what the solve reads back.

They keep PuLP's names and meanings where PuLP's own HiGHS reader (`findSolutionValues`) and
the planner read them: a column's name, lowBound, upBound, cat (a binary is an integer column
in [0, 1], as PuLP makes it), varValue, dj and index; a row's constant (its terms' constant
minus the right-hand side), sense (PuLP's -1, 0, 1), pi, slack and index; the problem's
variables() (the columns of the objective and the rows, sorted by name: PuLP's order, so HiGHS
receives the same model as from PuLP, tests/test_transfer.py), _constraints (rows by name, in
the order added), objective, sense, status and sol_status.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from typing import Any

import pulp

CONTINUOUS, INTEGER, BINARY = pulp.LpContinuous, pulp.LpInteger, pulp.LpBinary
LE, GE, EQ = pulp.LpConstraintLE, pulp.LpConstraintGE, pulp.LpConstraintEQ
_FLOAT = {float}


class Col:
    """A column: a variable of the LP. Hashed by identity (object's hash, in C)."""

    __slots__ = ("name", "lowBound", "upBound", "cat", "varValue", "dj", "index")

    def __init__(self, name: str, low: float | None, up: float | None, cat: str) -> None:
        self.name = name
        self.lowBound = low
        self.upBound = up
        self.cat = cat
        self.varValue: float | None = None
        self.dj: float | None = None
        self.index = -1

    def value(self) -> float | None:
        return self.varValue

    def __repr__(self) -> str:
        return self.name


def variable(name: str, low: float | None, up: float | None, cat: str = CONTINUOUS) -> Col:
    """A column as PuLP's LpVariable(name, low, up, cat) would be: a binary is an integer in
    [0, 1]; a bound that is not finite is PuLP's error; a name PuLP would rewrite (characters
    outside [A-Za-z0-9_]) is refused, as the planner never makes one."""
    if name.translate(pulp.LpElement.trans) != name:
        raise ValueError(f"variable name {name!r} has characters an LP file cannot hold")
    if cat == BINARY:
        return Col(name, 0, 1, INTEGER)
    for bound in (low, up):
        if bound is not None and not math.isfinite(bound):
            raise pulp.PulpError(f"a variable's bound must be finite, got {bound}")
    return Col(name, low, up, cat)


class Affine(dict[Col, float]):
    """A linear expression: {column: coefficient}, in the order terms came, and a constant."""

    __slots__ = ("constant",)

    def __init__(self, constant: float = 0.0) -> None:
        super().__init__()
        self.constant = constant

    def value(self) -> float | None:
        """Its value at the columns' values; None while a column has none (PuLP's rule)."""
        total = self.constant
        for col, coef in self.items():
            if col.varValue is None:
                return None
            total += col.varValue * coef
        return total


def expr(
    pairs: Iterable[tuple[Col, float]], constant: float = 0.0, into: Affine | None = None
) -> Affine:
    """A linear expression from (column, coefficient) pairs, made in one pass. A column given
    more than once gets the sum of its coefficients (at its first place); no term has a
    coefficient of 0; each is a float (0.0 + c). `into`: fill this empty expression (a Row)."""
    listed = pairs if isinstance(pairs, list) else list(pairs)
    out = Affine() if into is None else into
    # The pairs as they are, kept when they are the usual distinct columns with float
    # coefficients, none 0.
    out.update(listed)
    if len(out) != len(listed) or 0 in out.values() or set(map(type, out.values())) - _FLOAT:
        out.clear()
        get = out.get
        for col, coef in listed:
            if coef != 0:
                out[col] = get(col, 0.0) + coef
        if 0 in out.values():  # terms that cancelled
            for col in [c for c, a in out.items() if a == 0]:
                del out[col]
    out.constant = constant
    return out


def total(exprs: Iterable[Affine]) -> Affine:
    """The sum of expressions (PuLP's lpSum of expressions: coefficients of a column added, a
    term that sums to 0 kept, constants added)."""
    out = Affine()
    get = out.get
    for e in exprs:
        out.constant += e.constant
        for col, coef in e.items():
            out[col] = get(col, 0) + coef
    return out


class Row(Affine):
    """A row: `terms + constant  sense  0`, so constant = -(right-hand side)."""

    __slots__ = ("sense", "name", "pi", "slack", "index")

    def __init__(self, sense: int, name: str, constant: float = 0.0) -> None:
        # an empty dict needs no dict.__init__; Affine's only sets the constant
        self.constant = constant
        self.sense = sense
        self.name = name
        self.pi: float | None = None
        self.slack: float | None = None
        self.index = -1

    @property
    def expr(self) -> Row:
        """Its terms (PuLP keeps them in `expr`; here the row is its own expression)."""
        return self

    def valid(self, eps: float = 0.0) -> bool:
        """Whether the columns' values meet the row within eps (PuLP's LpConstraint.valid)."""
        value = self.value()
        if value is None:
            return False
        return abs(value) <= eps if self.sense == EQ else value * self.sense >= -eps

    def getLb(self) -> float | None:  # noqa: N802 (PuLP's name, read by its HiGHS reader)
        return -self.constant if self.sense in (GE, EQ) else None

    def getUb(self) -> float | None:  # noqa: N802
        return -self.constant if self.sense in (LE, EQ) else None


class LinearProblem:
    """The rows, the objective and the solve's status. Columns are not registered: they are
    those the objective and the rows hold (`variables`)."""

    def __init__(self, name: str, sense: int = pulp.LpMinimize) -> None:
        self.name = name
        self.sense = sense
        self.objective = Affine()
        self._constraints: dict[str, Row] = {}
        self.status = pulp.LpStatusNotSolved
        self.sol_status = pulp.LpSolutionNoSolutionFound
        # highspy.Highs, set by PuLP's HiGHS API (createAndConfigureSolver) or planner/lp/race.py
        self.solverModel: Any = None  # noqa: N815 (PuLP's name)
        self._columns: list[Col] | None = None
        # the matrix planner/lp/transfer.py handed to solverModel (transfer.Handed), or None
        self.handed: Any = None
        # every column made for this problem, in the order made, when its maker lists them
        # (planner/lp/build.py's Model): transfer then finds the columns in use from the
        # matrix it reads anyway, not by a union over every row (`variables`); None: unknown
        self.made: list[Col] | None = None

    def add(self, pairs: Iterable[tuple[Col, float]], sense: int, rhs: float, name: str) -> Row:
        """Add the row `sum pairs  sense  rhs` named `name` (a finite rhs: PuLP's rule). A name
        PuLP would rewrite (characters outside [A-Za-z0-9_]) is refused: CBC's answer comes back
        by row name (`from_pulp`), and a diagnosis's row named after a pool (gb200-nvl72) was
        not found there (a KeyError, exit 1 with a traceback)."""
        if name.translate(pulp.LpElement.trans) != name:
            raise ValueError(f"row name {name!r} has characters an LP file cannot hold")
        if not math.isfinite(rhs):
            raise pulp.PulpError("Cannot set constraint RHS to NaN/inf values")
        if name in self._constraints:
            raise ValueError(f"duplicate row name {name}")
        row = Row(sense, name)
        expr(pairs, -rhs, into=row)
        self._constraints[name] = row
        self._columns = None
        return row

    def setObjective(self, objective: Affine) -> None:  # noqa: N802 (PuLP's name)
        self.objective = objective
        self._columns = None

    def numConstraints(self) -> int:  # noqa: N802 (PuLP's name)
        return len(self._constraints)

    def assignStatus(self, status: int, sol_status: int | None = None) -> bool:  # noqa: N802
        """PuLP's LpProblem.assignStatus (its HiGHS reader's statuses)."""
        if status not in pulp.LpStatus or (
            sol_status is not None and sol_status not in pulp.LpSolution
        ):
            raise pulp.PulpError(f"invalid status codes {status}, {sol_status}")
        self.status = status
        if sol_status is None:
            sol_status = pulp.const.LpStatusToSolution.get(status, pulp.LpSolutionNoSolutionFound)
        self.sol_status = sol_status
        return True

    def variables(self) -> list[Col]:
        """The columns of the objective and the rows, sorted by name (PuLP's list), made again
        only after a row or an objective came. A column put into a row in place must be
        followed by `changed()`."""
        if self._columns is None:
            held = set(self.objective).union(*self._constraints.values())
            self._columns = sorted(held, key=_NAME)
        return self._columns

    def changed(self) -> None:
        """A row or the objective gained a column in place: list the columns again."""
        self._columns = None


_NAME = operator.attrgetter("name")  # a column's name, read in C (the sort's key)


def _name(col: Col) -> str:
    return col.name


def to_pulp(prob: LinearProblem) -> tuple[pulp.LpProblem, dict[Col, pulp.LpVariable]]:
    """PuLP's problem of the same columns (names, bounds, categories), rows (names, terms in
    order, senses, right-hand sides) and objective, for CBC and for writing a model file; and
    each column's PuLP variable (`from_pulp` reads the solution back through it)."""
    out = pulp.LpProblem(prob.name, prob.sense)
    theirs = {
        col: pulp.LpVariable(
            col.name, col.lowBound, col.upBound, col.cat, _skip_v4_deprecation=True
        )
        for col in prob.variables()
    }
    for name, row in prob._constraints.items():
        terms = pulp.LpAffineExpression([(theirs[c], a) for c, a in row.items()])
        out.addConstraint(pulp.LpConstraint(terms, row.sense, name, -row.constant), name)
    objective = prob.objective
    out.setObjective(
        pulp.LpAffineExpression([(theirs[c], a) for c, a in objective.items()], objective.constant)
    )
    return out, theirs


def from_pulp(
    prob: LinearProblem, solved: pulp.LpProblem, theirs: dict[Col, pulp.LpVariable]
) -> None:
    """Values, reduced costs, duals, slacks and statuses of PuLP's solved copy, into `prob`."""
    for col, var in theirs.items():
        col.varValue, col.dj = var.varValue, var.dj
    for name, row in prob._constraints.items():
        con = solved._constraints[name]
        row.pi, row.slack = con.pi, con.slack
    prob.status, prob.sol_status = solved.status, solved.sol_status
