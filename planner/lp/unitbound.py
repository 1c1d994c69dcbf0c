"""A bound on whole-unit plans that sees a unit's cost where the LP relaxation does not.

Work on a pool needs a unit there: every `units` row keeps the allocations u[w,r,d,s,p] within
owned[d,s] + in_service[d,s,t(p)], whose columns (bought, rented, contracted, spot) are integers
counting whole units for the whole calendar period (a rental is charged for all of t's hours, not
by the hour used). So in a whole-unit plan, u > 0 implies owned + in_service >= 1 on its pool and
period. A row that needs work done (families WORK_FAMILIES: `work` and `serve` need a share >= 1;
`sizework` and `sizeserve` need it when their candidate's binary k is 1) has some u > 0, so

    sum_{v in V} v >= 1     (`work`, `serve`)        sum_{v in V} v >= k     (`sizework`, `sizeserve`)

where V is the union of the in-service columns of every (pool, calendar period) the row's
allocations are on. A row with an owned unit on any of those pools gets no cut (the owned unit
may do it at no added cost). Each cut holds for every whole-unit plan, whatever else shares the
unit (several workloads on one unit meet each of their cuts with it) and whatever the plan
colocates; rows with no demand are not made (a tier's periods before its start), so periods with
zero demand add nothing.

The LP relaxation with these cuts added (`CutLP`) relaxes the whole-unit model no less than the
LP relaxation does, so its optimum W bounds every whole-unit plan, and max(L, W) is the plan's
best bound. The relaxation of a tiny demand (one request a day: 2.5e-9 of an H100 server) costs
almost nothing, and a plan's gap against it read ~100%; against W it is the gap to one unit's
cost. The plan's model is not changed: the cuts go into a separate HiGHS model, solved only for
the reported bound (planner/lp/solve.py `_solve_full`), from the rows and column bounds the model
held before any repair (a repair's commitments bound only the plans that keep them).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.lp.linear import EQ, GE, LE, Col, Row
from planner.lp.model import Model

# Rows "a share of the work is done" (planner/lp/solve.py checks their magnitudes too).
WORK_FAMILIES = frozenset({"work", "serve", "sizework", "sizeserve"})

# A cut met by the relaxation's values to within this is not violated (the cuts then cannot raise
# the bound above the relaxation's optimum, which already meets them).
CUT_TOL = 1e-6


@dataclass(frozen=True)
class Cut:
    """sum(units) >= choice (1 when choice is None): a row's need of a whole unit."""

    row: str  # the work row's label
    units: tuple[Col, ...]
    choice: Col | None

    def violated_by(self, values: dict[Col, float]) -> bool:
        need = 1.0 if self.choice is None else values.get(self.choice, 0.0)
        return sum(values.get(v, 0.0) for v in self.units) < need - CUT_TOL


def whole_unit_cuts(model: Model) -> list[Cut]:
    """The cut of every work row (WORK_FAMILIES) that needs a unit no owned unit provides: a row
    Σ a·u >= 1 (a > 0), or Σ a·u - k >= 0 with k a binary. Rows of another shape are left out
    (leaving a cut out only weakens the bound)."""
    allocations = {var: key for key, var in model.u.items()}
    calendar = {p.index: p.calendar for p in model.periods}
    out = []
    for label, row in model.constraints.items():
        if label.family not in WORK_FAMILIES or row.sense != GE:
            continue
        work = [var for var, a in row.items() if a > 0]
        rest = [(var, a) for var, a in row.items() if a <= 0]
        if not work or any(var not in allocations for var in work):
            continue
        if not rest and row.constant < 0:
            choice = None
        elif len(rest) == 1 and rest[0][1] == -1.0 and row.constant == 0:
            choice = rest[0][0]
            if (choice.lowBound, choice.upBound) != (0, 1):
                continue
        else:
            continue
        where = {((key[2], key[3]), calendar[key[4]]) for key in (allocations[var] for var in work)}
        if any(model.owned(pool) > 0 for pool, _ in where):
            continue
        units = {var: None for pool, t in sorted(where) for var in model.in_service_cols(pool, t)}
        if units:
            out.append(Cut(str(label), tuple(units), choice))
    return out


@dataclass
class CutLP:
    """What `whole_unit_bound` needs, taken when the LP relaxation is solved: the cuts its
    solution violates (none: W = L, nothing to solve), the rows then in the model and every
    column's bounds then."""

    cuts: list[Cut]
    rows: list[Row]
    bounds: dict[Col, tuple[float | None, float | None]]


def cut_lp(model: Model) -> CutLP | None:
    """The cut LP's parts, from the model as the LP relaxation left it (its values), or None
    when the relaxation's solution meets every cut."""
    cuts = whole_unit_cuts(model)
    if not cuts:
        return None
    values = {var: var.varValue or 0.0 for cut in cuts for var in (*cut.units, cut.choice) if var}
    if not any(cut.violated_by(values) for cut in cuts):
        return None
    columns = model.prob.variables()
    return CutLP(
        cuts,
        list(model.prob._constraints.values()),
        {var: (var.lowBound, var.upBound) for var in columns},
    )


def whole_unit_bound(model: Model, parts: CutLP, time_limit_s: float) -> float | None:
    """W: the optimum of the LP relaxation as `parts` took it (its rows, its column bounds, every
    column continuous) with every cut added, solved by HiGHS in a model of its own (the plan's
    columns and HiGHS model are not touched), plus the objective's constant; None when HiGHS does
    not prove an optimum within `time_limit_s`."""
    import highspy
    import numpy as np

    columns = list(parts.bounds)
    index = {var: i for i, var in enumerate(columns)}
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = len(columns)
    cost = np.zeros(len(columns))
    for var, c in model.prob.objective.items():
        cost[index[var]] = c
    lp.col_cost_ = cost
    lp.col_lower_ = np.array([-inf if lo is None else lo for lo, _ in parts.bounds.values()])
    lp.col_upper_ = np.array([inf if up is None else up for _, up in parts.bounds.values()])
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    highs.setOptionValue("time_limit", max(1e-3, float(time_limit_s)))
    highs.passModel(lp)
    lower, upper, start, cols, coefs = [], [], [0], [], []
    for row in parts.rows:
        rhs = -row.constant
        lower.append(rhs if row.sense in (GE, EQ) else -inf)
        upper.append(rhs if row.sense in (LE, EQ) else inf)
        for var, a in row.items():
            cols.append(index[var])
            coefs.append(a)
        start.append(len(cols))
    for cut in parts.cuts:
        lower.append(1.0 if cut.choice is None else 0.0)
        upper.append(inf)
        cols += [index[var] for var in cut.units]
        coefs += [1.0] * len(cut.units)
        if cut.choice is not None:
            cols.append(index[cut.choice])
            coefs.append(-1.0)
        start.append(len(cols))
    highs.addRows(
        len(lower),
        np.array(lower),
        np.array(upper),
        len(cols),
        np.array(start[:-1], dtype=np.int32),
        np.array(cols, dtype=np.int32),
        np.array(coefs),
    )
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return float(highs.getInfo().objective_function_value) + float(model.prob.objective.constant)
