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

A row that needs more than one unit gets a stronger cut. Its allocations' coefficients a_i
(rate · len_p / amount: the share of the work one unit does there) are at most a_max, so
Σ a_i·u_i >= 1 gives Σ u_i >= 1 / a_max =: n, the units the row needs if served alone by its
fastest unit in its longest period. Each u_i is at most N_i, the in-service columns of its pool
and calendar period summed (the `units` row: u_i's coefficient is 1, the row's other terms
are not negative, and a spot unit counts spot_goodput <= 1 of a unit there), so

    sum_i N_i = sum_{v} c_v · v >= n,  hence  >= ceil(n)   (c_v: how many of the row's
                                                            allocations v is in service for)

as its left side is an integer in a whole-unit plan (x k, the binary, for the sizing rows:
k = 0 leaves 0 >= 0). So the cut is sum_v c_v · v >= R·k with R = ceil(n (1 - NEED_TOL)), when
R >= 2; else the union cut above, with every c_v = 1, which is then the stronger. A row in one
period holds one allocation per pool, so there c_v is 1 too. Valid for any rates: no pool
needs the same rate as another (a slower pool only makes the row need more units than R).

Rows that share their pools add up (`_group_cuts`). Take rows r in G, each with no choice k,
all of whose allocations are in one LP period p of calendar period t, on the same set P of
pools, no owned unit on P. Row r's allocation columns are its own (u[w,r,d,s,p]: one per work
item, role and pool), and the `units` row of each pool q in P sums every allocation of every
work item on (q, p) at coefficient 1 with the rest of its left side not negative (rows sharing
an allocation column are not grouped): so
sum_{r in G} u_{r,q} <= the units in service on (q, t) (a spot unit counted spot_goodput <= 1).
Summing over q and using sum_q u_{r,q} >= n_r for each r,

    sum_{q in P} sum_{v in in_service(q, t)} v >= sum_{r in G} n_r,  hence  >= R_G = ceil(sum n_r)

(rounded as R: ceil(sum n_r (1 - NEED_TOL))), its left side an integer. It is added when R_G
exceeds every row's own R: a serving tier's decode and prefill rows needing 0.6 unit each need
two whole units (a unit serves one work item at a time), where each row's cut gives one. Rows
spread over several LP periods are left out (each period's `units` row bounds only its own
allocations), and so are sizing rows (their need is times a binary).

The LP relaxation with these cuts added (`CutLP`) relaxes the whole-unit model no less than the
LP relaxation does, so its optimum W bounds every whole-unit plan, and max(L, W) is the plan's
best bound. The relaxation of a tiny demand (one request a day: 2.5e-9 of an H100 server) costs
almost nothing, and a plan's gap against it read ~100%; against W it is the gap to one unit's
cost. The plan's model is not changed: the cuts go into a separate HiGHS model, solved only for
the reported bound (planner/lp/solve.py `_solve_full`), from the rows and column bounds the model
held before any repair (a repair's commitments bound only the plans that keep them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.lp.linear import GE, Col, Row
from planner.lp.model import Model

# Rows "a share of the work is done" (planner/lp/solve.py checks their magnitudes too).
WORK_FAMILIES = frozenset({"work", "serve", "sizework", "sizeserve"})

# A cut met by the relaxation's values to within this is not violated (the cuts then cannot raise
# the bound above the relaxation's optimum, which already meets them).
CUT_TOL = 1e-6

# A row's need n of units is rounded up from n (1 - NEED_TOL): a need of exactly 2 units computed
# as 2.0000000001 must not become 3 (the solvers meet the work row to ~1e-6 too).
NEED_TOL = 1e-6


@dataclass(frozen=True)
class Cut:
    """sum(coefs · units) >= need · choice (choice 1 when None): a row's need of whole units."""

    row: str  # the work row's label
    units: tuple[Col, ...]
    choice: Col | None
    coefs: tuple[float, ...] = ()  # c_v, one per unit column; () means 1 each
    need: float = 1.0  # R: whole units

    def weights(self) -> tuple[float, ...]:
        """c_v of each column of `units`."""
        return self.coefs or (1.0,) * len(self.units)

    def violated_by(self, values: dict[Col, float]) -> bool:
        """Whether `values` (0 where absent) leave sum(coefs · units) below the need."""
        k = 1.0 if self.choice is None else values.get(self.choice, self.choice.varValue or 0.0)
        held = sum(c * values.get(v, 0.0) for v, c in zip(self.units, self.weights(), strict=True))
        return held < self.need * k - CUT_TOL


Where = list[tuple[tuple[str, str], int]]  # (pool, calendar period) of each allocation


@dataclass(frozen=True)
class Need:
    """A work row's need of whole units: `units` R (ceil of 1 / the largest coefficient, at
    least 1), times `choice` when not None; `where`: each allocation's pool and period."""

    row: str
    choice: Col | None
    where: Where
    units: float
    # n = 1 / the largest coefficient (the unrounded need), and the LP periods of its
    # allocations (`_group_cuts`)
    share_units: float = 0.0
    lp_periods: frozenset[int] = frozenset()
    columns: frozenset[str] = frozenset()  # its allocation columns' names


def _units_needed(coefs: list[float]) -> float:
    """R = ceil(n (1 - NEED_TOL)) with n = 1 / max(coefs), at least 1 (module docstring)."""
    return max(1.0, float(math.ceil((1.0 / max(coefs)) * (1.0 - NEED_TOL))))


def _needs(model: Model) -> list[Need]:
    """The need of every work row (WORK_FAMILIES) that needs a unit no owned unit provides: a
    row Σ a·u >= 1 (a > 0; choice None), or Σ a·u - k >= 0 with k a binary (choice k). Rows of
    another shape are left out (leaving a cut out only weakens the bound)."""
    calendar = {p.index: p.calendar for p in model.periods}
    where_of = {var: ((key[2], key[3]), calendar[key[4]]) for key, var in model.u.items()}
    period_of = {var: key[4] for key, var in model.u.items()}
    out = []
    for label, row in model.constraints.items():
        if label.family not in WORK_FAMILIES or row.sense != GE:
            continue
        work = [(var, a) for var, a in row.items() if a > 0]
        rest = [(var, a) for var, a in row.items() if a <= 0]
        at = [where_of.get(var) for var, _ in work]
        if not work or None in at:
            continue
        choice = None
        share = -row.constant  # the row is Σ a·u + constant >= 0
        if rest:
            choice = rest[0][0]
            shaped = len(rest) == 1 and rest[0][1] == -1.0 and row.constant == 0
            if not shaped or (choice.lowBound, choice.upBound) != (0, 1):
                continue
            share = 1.0
        elif row.constant >= 0:
            continue
        where: Where = at  # type: ignore[assignment]  # no None: checked above
        if any(model.owned(pool) > 0 for pool in {pool for pool, _ in where}):
            continue
        units = _units_needed([a / share for _, a in work])
        share_units = 1.0 / max(a / share for _, a in work)
        periods = frozenset(period_of[var] for var, _ in work)
        names = frozenset(var.name for var, _ in work)
        out.append(Need(str(label), choice, where, units, share_units, periods, names))
    return out


def _cut(model: Model, need: Need) -> Cut | None:
    """The union cut (every c_v 1, need 1) when R is 1; else the counted cut (module
    docstring)."""
    if need.units <= 1.0:
        units = {
            v: None for pool, t in sorted(set(need.where)) for v in model.in_service_cols(pool, t)
        }
        return Cut(need.row, tuple(units), need.choice) if units else None
    counted: dict[Col, float] = {}
    for pool, t in need.where:
        for v in model.in_service_cols(pool, t):
            counted[v] = counted.get(v, 0.0) + 1.0
    if not counted:
        return None
    return Cut(need.row, tuple(counted), need.choice, tuple(counted.values()), need.units)


def _group_cuts(model: Model, needs: list[Need]) -> list[Cut]:
    """The cut of every group of two or more rows with no choice, in one LP period and on the
    same pools, whose summed need R_G exceeds each row's R (module docstring)."""
    groups: dict[tuple[int, frozenset[tuple[str, str]]], list[Need]] = {}
    for need in needs:
        if need.choice is None and len(need.lp_periods) == 1:
            pools = frozenset(pool for pool, _ in need.where)
            groups.setdefault((next(iter(need.lp_periods)), pools), []).append(need)
    out = []
    for group in groups.values():
        if len(group) < 2:
            continue
        if len(frozenset().union(*(n.columns for n in group))) < sum(len(n.columns) for n in group):
            continue  # rows sharing an allocation: their needs are not additive
        total = _units_needed([1.0 / sum(need.share_units for need in group)])
        if total <= max(need.units for need in group):
            continue
        where = sorted({(pool, t) for need in group for pool, t in need.where})
        units = {v: None for pool, t in where for v in model.in_service_cols(pool, t)}
        if units:
            label = " + ".join(need.row for need in group)
            out.append(Cut(label, tuple(units), None, (), total))
    return out


def whole_unit_cuts(model: Model) -> list[Cut]:
    """The cut of every work row that needs a unit no owned unit provides (`_needs`), and of
    every group of such rows sharing their pools in one LP period (`_group_cuts`)."""
    needs = _needs(model)
    rows = [cut for need in needs if (cut := _cut(model, need)) is not None]
    return rows + _group_cuts(model, needs)


@dataclass
class CutLP:
    """What `whole_unit_bound` needs, taken when the LP relaxation is solved: every cut (at
    least one of which its solution violates), the rows then in the model and every column's
    bounds then."""

    cuts: list[Cut]
    rows: list[Row]
    bounds: dict[Col, tuple[float | None, float | None]]


def _short(row: Row) -> bool:
    """Whether a work row's allocations hold fewer units, summed, than R times its choice's
    value (R: `_units_needed`; choice 1 when there is none). If not, its cut is met: each
    allocation is at most its pool's units in service, which its cut counts once per
    allocation (for R = 1 and a row in one calendar period the union cut is that sum)."""
    work = [(var, a) for var, a in row.items() if a > 0]
    if not work:
        return False
    units = sum(var.varValue or 0.0 for var, _ in work)
    rest = [(var, a) for var, a in row.items() if a < 0]
    k = sum(-a * (var.varValue or 0.0) for var, a in rest) if rest else 1.0
    share = 1.0 if rest else -row.constant
    if share <= 0:
        return False
    need = _units_needed([a / share for _, a in work]) * k
    return need > CUT_TOL and units < need - CUT_TOL


def cut_lp(model: Model) -> CutLP | None:
    """The cut LP's parts, from the model as the LP relaxation left it (its values), or None
    when the relaxation's solution meets every cut (then W = L: nothing to solve). First a scan
    of the work rows (`_short`: 0.36 s -> 0.04 s at 67k columns, where every cut took 0.8 s
    to make); then a row whose allocations hold a pool and period with enough units in service
    meets its cut (those units are part of its sum), and only the others' cuts are made to be
    checked."""
    work = (row for label, row in model.constraints.items() if label.family in WORK_FAMILIES)
    short = any(_short(row) for row in work if row.sense == GE)
    # groups of rows are checked whatever the scan found: rows each meeting their own cut may
    # together hold fewer units than their summed need
    needs = _needs(model)
    groups = _group_cuts(model, needs)
    grouped = any(cut.violated_by({v: v.varValue or 0.0 for v in cut.units}) for cut in groups)
    if not short and not grouped:
        return None
    held: dict[tuple[tuple[str, str], int], float] = {}

    def units_at(pool: tuple[str, str], t: int) -> float:
        if (pool, t) not in held:
            held[(pool, t)] = sum(v.varValue or 0.0 for v in model.in_service_cols(pool, t))
        return held[(pool, t)]

    def violated(need: Need) -> bool:
        k = 1.0 if need.choice is None else need.choice.varValue or 0.0
        wanted = need.units * k
        if wanted <= CUT_TOL or any(
            units_at(pool, t) >= wanted - CUT_TOL for pool, t in need.where
        ):
            return False
        cut = _cut(model, need)
        return cut is not None and cut.violated_by({v: v.varValue or 0.0 for v in cut.units})

    if not grouped and not any(violated(need) for need in needs):
        return None
    cuts = [cut for need in needs if (cut := _cut(model, need)) is not None] + groups
    return CutLP(
        cuts,
        list(model.prob._constraints.values()),
        {var: (var.lowBound, var.upBound) for var in model.prob.variables()},
    )


def whole_unit_bound(model: Model, parts: CutLP, time_limit_s: float) -> float | None:
    """W: the optimum of the LP relaxation as `parts` took it (its rows, its column bounds, every
    column continuous) with every cut added, solved by HiGHS in a model of its own (the plan's
    columns and HiGHS model are not touched), plus the objective's constant; None when HiGHS does
    not prove an optimum within `time_limit_s`."""
    import highspy
    import numpy as np

    from planner.lp.transfer import _bounds, _costs, _row_bounds, _rowwise

    columns = list(parts.bounds)
    for i, var in enumerate(columns):  # the order transfer() gives them: prob.variables()
        var.index = i
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = len(columns)
    lp.col_cost_ = _costs(model.prob, len(columns))
    lp.col_lower_ = _bounds([lo for lo, _ in parts.bounds.values()], -inf)
    lp.col_upper_ = _bounds([up for _, up in parts.bounds.values()], inf)
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    highs.setOptionValue("time_limit", max(1e-3, float(time_limit_s)))
    highs.passModel(lp)
    if parts.rows:  # the rows as transfer() hands them to HiGHS
        start, index, value = _rowwise(parts.rows)
        lower, upper = _row_bounds(parts.rows, inf)
        highs.addRows(len(parts.rows), lower, upper, len(index), start[:-1], index, value)
    # the cuts: sum(c · units) - R · choice >= 0, or sum(c · units) >= R
    cut_lower, cut_start, cut_cols = [], [0], []
    cut_coefs: list[float] = []
    for cut in parts.cuts:
        cut_lower.append(cut.need if cut.choice is None else 0.0)
        cut_cols += [var.index for var in cut.units]
        cut_coefs += list(cut.weights())
        if cut.choice is not None:
            cut_cols.append(cut.choice.index)
            cut_coefs.append(-cut.need)
        cut_start.append(len(cut_cols))
    highs.addRows(
        len(cut_lower),
        np.array(cut_lower),
        np.full(len(cut_lower), inf),
        len(cut_cols),
        np.array(cut_start[:-1], dtype=np.int64),
        np.array(cut_cols, dtype=np.int64),
        np.array(cut_coefs),
    )
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return float(highs.getInfo().objective_function_value) + float(model.prob.objective.constant)
