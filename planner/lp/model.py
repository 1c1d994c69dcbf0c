"""The LP's data: periods, row labels, the constraint-family registry and the Model that holds
the LP problem with every variable, row, cost term and flow, keyed by typed labels.

Scaling (why the odd units): HiGHS is happiest with coefficients near 1, so
- work constraints are divided by the work required (1.0 = all of it),
- RL samples are fractions of the run's samples (g[w,d] in [0, 1]),
- power is in MW, traffic in GB/s (1e9 bytes/s), CPU in cores, money in US$.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias, TypeVar

import pulp

from planner.demand.types import Role, WorkloadDemand
from planner.lp.linear import (
    CONTINUOUS,
    EQ,
    GE,
    LE,
    Affine,
    Col,
    LinearProblem,
    Row,
    expr,
    variable,
)

if TYPE_CHECKING:  # the LP reads a resolved scenario; importing it here would be circular
    from planner.scenario import Scenario

GB = 1e9
MW = 1e6
S_PER_H = 3600.0
# Weight of unserved work in phase 1 (diagnosis): leaving work undone is 1,000x worse than
# exceeding a resource by 100% of its size, so the diagnosis names resources first.
UNSERVED_WEIGHT = 1000.0
# A boundary or window edge closer than this is the same instant (periods, windows).
SAME_INSTANT_S = 60.0

Pool = tuple[str, str]  # (datacenter, system)
UKey = tuple[str, str, str, str, int]  # (workload, role, datacenter, system, period)
PoolT = tuple[str, str, int]  # (datacenter, system, calendar period)
Var: TypeAlias = Col
Pairs: TypeAlias = list[tuple[Var, float]]
Sense: TypeAlias = Literal["<=", ">=", "=="]
SENSES = {"<=": LE, ">=": GE, "==": EQ}


_VALUE = operator.attrgetter("varValue")
_T = TypeVar("_T")


def _row_of(counts: list[int]) -> Iterator[int]:
    """Each term's row number, for rows of `counts` terms each."""
    return itertools.chain.from_iterable(itertools.repeat(i, c) for i, c in enumerate(counts))


# The parts of a u_by_role entry (d, s, period, var)
_SITE, _SYSTEM, _VAR = operator.itemgetter(0), operator.itemgetter(1), operator.itemgetter(3)

# Bounds of the usual column (no float check needed) and prefixes `variable` has accepted.
_PLAIN_BOUND = (None, 0)
_CHECKED: set[str] = set()


@dataclass(frozen=True)
class Period:
    """A slice of the horizon between two consecutive cuts. LP periods are cut at every
    workload start and deadline and at every calendar boundary; `calendar` is the index of the
    calendar period (the fleet's period) it lies in."""

    index: int
    start_s: float
    end_s: float
    calendar: int = 0

    @functools.cached_property
    def length_s(self) -> float:
        """end_s - start_s (kept: the families read it once per allocation term)."""
        return self.end_s - self.start_s


def calendar_for(horizon_s: float, period_s: float | None) -> list[Period]:
    """The fleet's periods: [0, H] in steps of `period_s` (the last one may be shorter), or one
    period when None. A remainder shorter than a minute joins the last period."""
    if period_s is None or period_s >= horizon_s:
        return [Period(0, 0.0, horizon_s)]
    cuts = [k * period_s for k in range(1, int(horizon_s // period_s) + 1)]
    cuts = [c for c in cuts if horizon_s - c >= SAME_INSTANT_S] + [horizon_s]
    starts = [0.0, *cuts[:-1]]
    return [Period(i, a, b, calendar=i) for i, (a, b) in enumerate(zip(starts, cuts, strict=True))]


def periods_for(
    demands: list[WorkloadDemand], horizon_s: float, calendar: list[Period] | None = None
) -> list[Period]:
    """Cut [0, H] at every start and deadline (a unit freed when pretraining ends can serve RL
    or inference after) and at every calendar boundary. Boundaries closer than a minute are
    merged (they would only add variables)."""
    calendar = calendar or [Period(0, 0.0, horizon_s)]
    cuts = sorted(
        {min(t, horizon_s) for d in demands for t in (d.start_s, d.end_s) if t > 0}
        | {c.end_s for c in calendar}
    )
    merged: list[float] = []
    for cut in cuts:
        if not merged or cut - merged[-1] >= SAME_INSTANT_S:
            merged.append(cut)
        else:
            merged[-1] = max(merged[-1], cut)
    starts = [0.0, *merged[:-1]]

    def calendar_of(start_s: float) -> int:
        return max(c.index for c in calendar if c.start_s <= start_s + SAME_INSTANT_S)

    return [
        Period(i, a, b, calendar_of(a)) for i, (a, b) in enumerate(zip(starts, merged, strict=True))
    ]


def active(period: Period, demand: WorkloadDemand) -> bool:
    """A workload runs in the periods inside its window [start, deadline], within a minute."""
    return (
        period.start_s >= demand.start_s - SAME_INSTANT_S
        and period.end_s <= demand.end_s + SAME_INSTANT_S
    )


class Label(NamedTuple):
    """A row's identity: its family and the entity it constrains. Printed as family:entity.
    A named tuple: made and hashed in C (two hashes and one label per row of the build)."""

    family: str
    entity: tuple[str, ...]

    def __str__(self) -> str:
        return ":".join((self.family, *self.entity))


Explain = Callable[["Model", tuple[str, ...], float], str]
Step = Callable[["Model", tuple[str, ...]], float]


@dataclass(frozen=True)
class Family:
    """One constraint family: its name, what its entity labels are, its formula (the docstring of
    the function that adds its rows), and what the report and the diagnosis need to know.

    resource: a limit whose binding is reported (power, cores, links, availability).
    price_unit, price_factor: the shadow price's unit and the factor from the row's unit
      (rows are in MW, cores, GB/s, units; a Gbps is 1/8 GB/s).
    slack_unit: in phase 1 (diagnosis) each row gets a penalised slack in this unit; None: the
      row is never relaxed.
    explain: the diagnosis line for a non-zero slack.
    unit_step: what one more whole unit adds to the row's limit at that entity (spare cores,
      facility MW): with whole units the row binds when less than that is left.
    """

    name: str
    entity: str
    add: Callable[[Model], None]
    resource: bool = False
    price_unit: str | None = None
    price_factor: float = 1.0
    slack_unit: str | None = None
    explain: Explain | None = None
    unit_step: Step | None = None
    kind: str | None = None  # the workload kind whose module owns it; None: every kind's

    @property
    def formula(self) -> str:
        return inspect.cleandoc(self.add.__doc__ or "")


# The registry. Adding a family is one function and one `@family(...)` line: in
# planner/lp/constraints.py for a family every kind shares, in the kind's module
# (planner/kinds/) for one kind's own. Build order: `families_in_order()`.
FAMILIES: dict[str, Family] = {}


def family(
    name: str,
    entity: str,
    *,
    resource: bool = False,
    price_unit: str | None = None,
    price_factor: float = 1.0,
    slack_unit: str | None = None,
    explain: Explain | None = None,
    unit_step: Step | None = None,
    kind: str | None = None,
) -> Callable[[Callable[[Model], None]], Callable[[Model], None]]:
    """Register the decorated `add_<family>(model)` function as constraint family `name`."""

    def register(add: Callable[[Model], None]) -> Callable[[Model], None]:
        if name in FAMILIES:
            raise ValueError(f"constraint family {name!r} registered twice")
        FAMILIES[name] = Family(
            name,
            entity,
            add,
            resource,
            price_unit,
            price_factor,
            slack_unit,
            explain,
            unit_step,
            kind,
        )
        return add

    return register


def families_in_order(kinds: list[str]) -> list[Family]:
    """The families every kind shares, in registration order, then each kind's own, in the
    order of `kinds` (the registry's)."""
    shared = [f for f in FAMILIES.values() if f.kind is None]
    own = [f for k in kinds for f in FAMILIES.values() if f.kind == k]
    return shared + own


@dataclass
class Term:
    """A labelled cost term: what it is, where, and its expression in US$."""

    component: str  # capex | rental | energy | cpu_servers | links
    datacenter: str | None
    system: str | None
    workload: str | None
    expr: Affine


@dataclass
class Flow:
    """Average traffic (GB/s) of one kind between two sites, routed on a fixed path."""

    kind: str  # trajectories | weights | gradients | kv
    workload: str
    src: str
    dst: str
    path: list[str]
    var: Var


@dataclass
class Slack:
    """A phase-1 slack of one row: its variable, objective weight and unit."""

    var: Var
    weight: float
    unit: str


@dataclass
class Model:
    """The LP problem plus everything needed to read a plan back out of it."""

    scenario: Scenario
    demands: list[WorkloadDemand]
    prob: LinearProblem
    elastic: bool
    periods: list[Period] = field(default_factory=list)  # LP periods p
    calendar: list[Period] = field(default_factory=list)  # the fleet's periods t
    # -- variables (declared in planner/lp/variables.py) -------------------------------------
    buy: dict[PoolT, Var] = field(default_factory=dict)  # units ordered at the start of t
    rent: dict[PoolT, Var] = field(default_factory=dict)  # units rented on demand during t
    # units under term contract k of the system, starting at t (they serve for the term)
    contract: dict[tuple[str, str, int, int], Var] = field(default_factory=dict)
    spot: dict[PoolT, Var] = field(default_factory=dict)  # spot units during t (preemptible)
    # (binary, the columns it enables) where the binary appears in no row that needs it at 1
    # unless one of them is positive: the polish (planner/lp/solve.py _polish) sets it to 0 when
    # they all are 0, as the MIP's gap tolerance may leave it at 1 with a cost attached (an RL
    # run's `generates` flag at a site generating nothing kept a weight flow to it charged).
    idle_binaries: list[tuple[Var, list[Var]]] = field(default_factory=list)
    # candidate site d opened at the start of calendar period t (binary)
    site_open: dict[tuple[str, int], Var] = field(default_factory=dict)
    # CPU-only servers per site: ordered at the start of t (serve from their arrival until the
    # end of their life), and rented on demand for t
    cpu_buy: dict[tuple[str, int], Var] = field(default_factory=dict)
    cpu_rent: dict[tuple[str, int], Var] = field(default_factory=dict)
    u: dict[UKey, Var] = field(default_factory=dict)  # units per work item, pool and period
    u_by_role: dict[tuple[str, str], list[tuple[str, str, Period, Var]]] = field(
        default_factory=dict
    )
    site: dict[tuple[str, str], Var] = field(default_factory=dict)  # y[w,d] pretraining site
    trainer: dict[tuple[str, str], Var] = field(default_factory=dict)  # t[w,d] RL trainer site
    system_choice: dict[tuple[str, str], Var] = field(default_factory=dict)  # x[w,s]
    running: dict[UKey, Var] = field(default_factory=dict)  # on[w,r,d,s,p] semi-continuous
    done: dict[tuple[str, int], Var] = field(default_factory=dict)  # w's work done by end of p
    candidate: dict[tuple[str, str], Var] = field(default_factory=dict)  # k[w,c] model sizing
    samples: dict[tuple[str, str], Var] = field(default_factory=dict)  # g[w,d]
    generates: dict[tuple[str, str], Var] = field(default_factory=dict)  # z[w,d]
    # h[w,r,p]: the share of RL run w's role r done by the end of LP period p (rows rlsofar)
    so_far: dict[tuple[str, str, int], Var] = field(default_factory=dict)
    cores: dict[tuple[str, str, str, int], Var] = field(default_factory=dict)  # c[w,d,isa,p]
    # b[w,d,s,p]: serving tier w serves from pool (d,s) in period p (binary; N+k racks)
    serves: dict[tuple[str, str, str, int], Var] = field(default_factory=dict)
    # x[w,r,a,b,p]: share of serving tier w's requests of period p prefilled at a, decoded at b,
    # for decode role r (model_from: one per candidate)
    kv_moves: dict[tuple[str, str, str, str, int], Var] = field(default_factory=dict)
    owned_busy_h: dict[PoolT, Var] = field(default_factory=dict)  # o[d,s,t] (with rentals)
    flows: list[Flow] = field(default_factory=list)
    # -- rows, costs and results -------------------------------------------------------------
    terms: list[Term] = field(default_factory=list)
    # rows by label (their names are c0, c1, ...: PuLP would rewrite characters in labels)
    constraints: dict[Label, Row] = field(default_factory=dict)
    slacks: dict[Label, Slack] = field(default_factory=dict)
    # Row duals of the LP relaxation (filled by solve_model): the shadow prices.
    duals: dict[Label, float | None] = field(default_factory=dict)
    # The solver's own objective at the values read (filled by solve_model), with the constant
    # PuLP leaves out added back: the verifier compares the plan's total with it.
    solver_objective_usd: float | None = None
    n_vars: int = 0
    # buy and contract variables by pool, built on first use (after stage 1 declared them all)
    _by_pool: dict[Pool, tuple[list[tuple[int, Var]], list[tuple[int, int, Var]]]] | None = None
    _arrivals: dict[tuple[str, int], int | None] = field(default_factory=dict)  # arrival()
    _u_by_pool: dict[Pool, list[tuple[UKey, Var]]] | None = None  # u in declaration order
    _u_by_role_period: dict[tuple[str, str, int], list[tuple[str, str, Period, Var]]] | None = None
    solver_run_s: float = 0.0  # wall time inside HiGHS's run, summed over solves
    # Simplex iterations a re-solve of the rounded plan may take before interior point
    # (planner/lp/incumbent.py `_resolve`; set from the relaxation's work by find_start).
    warm_budget_iterations: int = 0
    # The relaxed aggregated LP's answer when the plan's bound came from it
    # (planner/lp/solve.py `_solve_fast`: a planner/lp/aggregate.py RelaxedBound), else None.
    fast_bound: Any = None
    # The full LP relaxation's optimum once solve_model has proven it (else None): a bound the
    # fast path's plan may use when the full path ran (planner/lp/solve.py `_keep`).
    full_lp_usd: float | None = None
    # Why solve_model did what it did where the fast bound applied: the fast path's failure or
    # miss, the full path's outcome; one sentence each, the plan JSON's `solver_notes`.
    solver_notes: list[str] = field(default_factory=list)
    # False: an infeasible model raises InfeasibleError without the diagnosis (planner/api.py's
    # re-solves and held plans, whose infeasibility keeps the plan before: a diagnosis would
    # spend the plan's time limit on a text no one reads). Set by solve_model.
    diagnose_infeasible: bool = True
    # Whether the HiGHS model the problem holds has its tiny allocations in units of their need
    # (planner/lp/solve.py `_run_scaled`): its values are read back only there, so it is
    # neither polished nor tightened.
    scaled_highs: bool = False
    # Indexes and memos of the helpers below, each checked against the sizes of the variable
    # dicts it was made from (rebuilt if one grew): scanning every variable per row or per
    # pool made the build quadratic in the fleet's size.
    _pool_index: dict[str, tuple[int, dict[Pool, list[tuple[tuple, Var]]]]] = field(
        default_factory=dict
    )
    _memo: dict[tuple, tuple[tuple[int, ...], list[Any]]] = field(default_factory=dict)
    # planner/lp/objective.py service_s and contract_held_s by their arguments: they read only
    # the calendar and the catalog, fixed once the model is made
    seconds: dict[tuple, float] = field(default_factory=dict)
    _serving: dict[tuple[str, int], tuple[set[int], set[tuple[int, int]]]] = field(
        default_factory=dict
    )  # serving_orders()
    _serving_in: dict[str, tuple[dict[int, list[int]], dict[tuple[int, int], list[int]]]] = field(
        default_factory=dict
    )  # _serving_periods()
    _cpu_by_site: tuple[int, dict[str, list[tuple[int, Var]]]] | None = None  # _cpu_orders()
    _u_index: tuple[int, dict[tuple, list]] | None = None
    _u_by_period: tuple[int, dict, dict] | None = None  # u_by_pool_period()
    # u's keys as integer codes (u_codes): (len(u) when made, the declaration's blocks or the
    # codes array)
    _u_codes: tuple[int, Any] | None = None

    def row(
        self,
        family_name: str,
        entity: tuple[str, ...],
        pairs: Pairs,
        sense: Sense,
        rhs: float,
        slack_weight: float = 0.0,
    ) -> None:
        """Add the row `sum pairs  sense  rhs` labelled family:entity. In phase 1 a family with a
        slack unit gets a slack s >= 0 on the side that relaxes the row (+s on >=, -s on <=),
        weighted by `slack_weight` in the phase-1 objective."""
        fam = FAMILIES[family_name]
        label = Label(family_name, entity)
        if label in self.constraints:
            raise ValueError(f"duplicate constraint label {label}")
        if self.elastic and fam.slack_unit is not None and sense != "==":
            slack = self.new_var("s")
            self.slacks[label] = Slack(slack, slack_weight, fam.slack_unit)
            pairs = pairs + [(slack, 1.0 if sense == ">=" else -1.0)]
        # PuLP names rows c0, c1, ...: so does the problem (model files keep the names).
        self.constraints[label] = self.prob.add(
            pairs, SENSES[sense], rhs, f"c{len(self.constraints)}"
        )

    def rows(
        self,
        family_name: str,
        entities: list[tuple[str, ...]],
        counts: list[int],
        cols: list[Var],
        coefs: list[float],
        sense: Sense,
        rhs: list[float],
        slack_weights: list[float] | None = None,
    ) -> None:
        """Add len(entities) rows of one family at once from flat pieces (the CSR form: row i's
        terms are the next counts[i] of cols and coefs): each row is the `row` call with those
        pairs, entities[i], sense, rhs[i] and slack_weights[i] (0 when None) would add, the same
        terms in the same order, the same name, label and bounds. The terms go into each row in
        C (`dict.update` over the slices), without a (column, coefficient) tuple per term; a row
        with a coefficient 0 or a column given twice is made by `expr`'s rules instead, and in
        phase 1 (elastic) every row goes through `row` for its slack."""
        n = len(entities)
        if len(counts) != n or len(rhs) != n or sum(counts) != len(cols) or len(coefs) != len(cols):
            raise ValueError(f"{family_name}: rows of unequal pieces")
        values = list(map(float, coefs))  # expr's 0.0 + c: every coefficient a float
        if self.elastic:
            weights = slack_weights or [0.0] * n
            start = 0
            for i in range(n):
                stop = start + counts[i]
                pairs = list(zip(cols[start:stop], values[start:stop], strict=True))
                self.row(family_name, entities[i], pairs, sense, rhs[i], weights[i])
                start = stop
            return
        # the rows holding a 0 (rare) are made by expr's rules, which leave the term out
        zero = (
            {i for i, c in zip(_row_of(counts), values, strict=True) if c == 0.0}
            if 0.0 in values
            else set()
        )
        constraints, prob = self.constraints, self.prob
        held, code = prob._constraints, SENSES[sense]
        labels = [Label(family_name, entity) for entity in entities]
        number = len(constraints)
        names = [f"c{i}" for i in range(number, number + n)]
        if len(set(labels)) != n or not constraints.keys().isdisjoint(labels):
            seen = set(constraints)
            for label in labels:
                if label in seen:
                    raise ValueError(f"duplicate constraint label {label}")
                seen.add(label)
        if not held.keys().isdisjoint(names):
            raise ValueError(f"duplicate row name {next(x for x in names if x in held)}")
        if not all(map(math.isfinite, rhs)):
            raise pulp.PulpError("Cannot set constraint RHS to NaN/inf values")
        made: list[Row] = []
        start = 0
        for i, (name, count, bound) in enumerate(zip(names, counts, rhs, strict=True)):
            stop = start + count
            row = Row(code, name, -bound)
            row.update(zip(cols[start:stop], values[start:stop], strict=True))
            if len(row) != count or i in zero:
                row.clear()
                expr(list(zip(cols[start:stop], values[start:stop], strict=True)), -bound, into=row)
            made.append(row)
            start = stop
        held.update(zip(names, made, strict=True))
        constraints.update(zip(labels, made, strict=True))
        prob.changed()

    def new_var(
        self,
        prefix: str,
        low: float | None = 0,
        up: float | None = None,
        cat: str = CONTINUOUS,
    ) -> Var:
        """A variable with a unique short name (names mean nothing; the dicts above map them).
        Columns go to the solver sorted by name (PuLP's order): the numbering fixes the column
        order, so variables are declared in one stage, in one order. The usual column (a
        continuous one, bounds None or 0, a known prefix) is made directly; any other through
        `variable`'s checks."""
        self.n_vars += 1
        if cat == CONTINUOUS and low in _PLAIN_BOUND and up in _PLAIN_BOUND and prefix in _CHECKED:
            made = Col(f"{prefix}{self.n_vars}", low, up, cat)
        else:
            made = variable(f"{prefix}{self.n_vars}", low, up, cat)
            _CHECKED.add(prefix)  # accepted: the prefix holds no character PuLP rewrites
        if self.prob.made is not None:
            self.prob.made.append(made)
        return made

    def new_columns(self, prefix: str, count: int) -> list[Var]:
        """`count` continuous columns >= 0, as `count` calls of new_var(prefix) make them (the
        same names, in the same order), made in one go."""
        if count <= 0:
            return []
        first = self.new_var(prefix, 0)
        start = self.n_vars
        self.n_vars += count - 1
        rest = [Col(f"{prefix}{i}", 0, None, CONTINUOUS) for i in range(start + 1, start + count)]
        if self.prob.made is not None:
            self.prob.made += rest
        return [first, *rest]

    def index_allocations(
        self,
        by_pool: dict[Pool, list[tuple[UKey, Var]]],
        by_role_period: dict[tuple[str, str, int], list[tuple[str, str, Period, Var]]],
        grouped: dict[tuple, list],
    ) -> None:
        """The indexes `u_of_pool`, `u_of_role` and `_u_grouped` would build by scanning u,
        filled by the declaration itself (planner/lp/variables.py `declare_allocations`): the
        same entries, in declaration order; and u by pool and LP period, and by pool and
        calendar period (`u_by_pool_period`)."""
        self._u_by_pool = by_pool
        self._u_by_role_period = by_role_period
        self._u_index = (len(self.u), grouped)

    def declared_blocks(self, blocks: tuple[list, list, list, list, list]) -> None:
        """u as `declare_allocations` made it, block by block (one role on one pool, its
        columns in consecutive places of u): each block's (workload, role) id, site id, system
        id (ids: any integers, equal exactly where the names are), its number of columns and
        its LP period indexes; `u_codes` makes its codes from them."""
        whole = sum(blocks[3]) == len(self.u)  # else u held more: u_codes scans it
        self._u_codes = (len(self.u), blocks) if whole else None

    def u_codes(self) -> Any:
        """u's keys as integer codes, in u's order: a (4, len(u)) int64 array of rows
        (workload, role), site, system and LP period index, each part equal exactly where the
        key parts are equal (planner/lp/aggregate.py `codes_of` numbers them as `_codes` does).
        Made from the declaration's blocks (`declared_blocks`: no per-column Python), or by a
        scan of u's keys when u grew since or was not made by the declaration."""
        import numpy as np

        made = self._u_codes
        if made is not None and made[0] == len(self.u) and isinstance(made[1], np.ndarray):
            return made[1]
        if made is not None and made[0] == len(self.u):
            role, site, system, lengths, periods = made[1]
            n = len(self.u)
            lengths = np.asarray(lengths, dtype=np.int64)
            codes = np.empty((4, n), dtype=np.int64)
            for row, ids in enumerate((role, site, system)):
                codes[row] = np.repeat(np.asarray(ids, dtype=np.int64), lengths)
            codes[3] = np.fromiter(itertools.chain.from_iterable(periods), np.int64, n)
        else:
            codes = _scan_codes(list(self.u))
        self._u_codes = (len(self.u), codes)
        return codes

    def u_by_pool_period(
        self,
    ) -> tuple[
        dict[tuple[str, str, int], list[Var]],
        dict[tuple[str, str, int], tuple[list[Var], list[float]]],
    ]:
        """u by (d, s, LP period p): [var], and by (d, s, calendar period t): ([var], [its LP
        period's length in hours]), in declaration order, the keys in the order u first names
        them (as a scan of u groups them); made by scanning u when u grew since."""
        if self._u_by_period is None or self._u_by_period[0] != len(self.u):
            by_p: dict[tuple[str, str, int], list[Var]] = {}
            by_t: dict[tuple[str, str, int], tuple[list[Var], list[float]]] = {}
            hours = [p.length_s / 3600.0 for p in self.periods]
            calendar = [p.calendar for p in self.periods]
            for (_w, _r, d, s, p), var in self.u.items():
                by_p.setdefault((d, s, p), []).append(var)
                held = by_t.setdefault((d, s, calendar[p]), ([], []))
                held[0].append(var)
                held[1].append(hours[p])
            self._u_by_period = (len(self.u), by_p, by_t)
        return self._u_by_period[1], self._u_by_period[2]

    @property
    def sites(self) -> list[str]:
        return self.scenario.topology.datacenters()

    def pools(self) -> list[Pool]:
        topo = self.scenario.topology
        return [(d, s) for d in self.sites for s in topo.site(d).systems]

    def max_units(self, pool: Pool) -> int:
        return self.scenario.topology.site(pool[0]).systems[pool[1]].max_units

    def owned(self, pool: Pool) -> int:
        return self.scenario.topology.site(pool[0]).systems[pool[1]].owned

    @property
    def multi_period(self) -> bool:
        """Whether the fleet changes over the horizon (economics.period is set)."""
        return self.scenario.data.economics.period_s is not None

    def at(self, entity: tuple[str, ...], t: int) -> tuple[str, ...]:
        """A row's entity in calendar period t: with one fleet for the horizon, no suffix."""
        return (*entity, f"t{t}") if len(self.calendar) > 1 else entity

    def lead_time_s(self, system: str) -> float:
        """Order-to-delivery time; with one fleet for the whole horizon, units are in place from
        the start (lead times need economics.period)."""
        lead = self.scenario.catalog.system(system).lead_time_s
        return lead if self.multi_period and lead is not None else 0.0

    def available_s(self, system: str) -> float:
        """Seconds from the start of the horizon until `system` can be delivered, rented or
        contracted (its catalog available_from; 0 when none is given)."""
        when = self.scenario.catalog.system(system).available_from
        start = self.scenario.data.economics.start_date
        if when is None or start is None:
            return 0.0
        return max(0.0, (when - start).days * 86400.0)

    def first_period(self, system: str) -> int | None:
        """The first calendar period in which `system` is available (None: not in the
        horizon)."""
        ready_s = self.available_s(system)
        for c in self.calendar:
            if c.start_s >= ready_s - SAME_INSTANT_S:
                return c.index
        return None

    def arrival(self, system: str, t: int) -> int | None:
        """The calendar period in which units of `system` ordered at the start of t start to
        serve: the first whose start is at least the lead time later and at or after the
        system's availability (None: after the horizon)."""
        if (system, t) in self._arrivals:
            return self._arrivals[(system, t)]
        ready_s = max(self.calendar[t].start_s + self.lead_time_s(system), self.available_s(system))
        arrive = next(
            (c.index for c in self.calendar[t:] if c.start_s >= ready_s - SAME_INSTANT_S), None
        )
        self._arrivals[(system, t)] = arrive
        return arrive

    def contract_covers(self, system: str, k: int, t_start: int, t: int) -> bool:
        """Whether contract k of `system` started at t_start serves in calendar period t."""
        term_s = self.scenario.catalog.system(system).contracts[k].term_s
        start_s = self.calendar[t_start].start_s
        return t_start <= t and self.calendar[t].start_s < start_s + term_s - SAME_INSTANT_S

    def _memoized(
        self, key: tuple, sizes: tuple[int, ...], make: Callable[[], list[_T]]
    ) -> list[_T]:
        """A copy of make()'s pairs, made once per key while the `sizes` (of the variable dicts
        the pairs come from) stay the same."""
        held = self._memo.get(key)
        if held is None or held[0] != sizes:
            held = self._memo[key] = (sizes, make())
        return list(held[1])

    def _unit_sizes(self) -> tuple[int, ...]:
        return len(self.buy), len(self.rent), len(self.contract), len(self.spot)

    def leased(self, pool: Pool, t: int) -> Pairs:
        """Units of `pool` serving in t that the plan does not own: rented on demand in t,
        under a term contract that covers t, or on spot in t."""
        return self._memoized(
            ("leased", pool, t),
            self._unit_sizes(),
            lambda: [(var, 1.0) for var in self.leased_cols(pool, t)],
        )

    def _leased_cols(self, pool: Pool, t: int) -> list[Var]:
        d, s = pool
        cols: list[Var] = []
        if (d, s, t) in self.rent:
            cols.append(self.rent[(d, s, t)])
        cols += self._pool_service(pool)[1][t]
        if (d, s, t) in self.spot:
            cols.append(self.spot[(d, s, t)])
        return cols

    def spot_goodput(self, system: str) -> float:
        """The share of a spot unit's time that does useful work (1 when there is no offer)."""
        goodput = self.scenario.catalog.system(system).spot_goodput
        return 1.0 if goodput is None else goodput

    def site_ready(self, d: str, t: int) -> int | None:
        """The calendar period from which candidate site d, opened at the start of t, holds
        units: the first starting at least its lead time later (lead times need
        economics.period; None: after the horizon)."""
        candidate = self.scenario.topology.site(d).candidate
        assert candidate is not None
        lead_s = candidate.lead_time_s if self.multi_period else 0.0
        ready_s = self.calendar[t].start_s + lead_s
        for c in self.calendar[t:]:
            if c.start_s >= ready_s - SAME_INSTANT_S:
                return c.index
        return None

    def site_opened_by(self, d: str, t: int) -> Pairs:
        """open[d,t'] of every opening that makes candidate site d ready by period t."""
        return [
            (var, 1.0)
            for (d2, t0), var in self.site_open.items()
            if d2 == d and (ready := self.site_ready(d, t0)) is not None and ready <= t
        ]

    def supply_cap(self, system: str, t: int) -> int | None:
        """Most units of `system` that can arrive in calendar period t, all sites together:
        economics.supply, else floor(catalog supply_per_year x len_t / year); None: no limit."""
        economics = self.scenario.data.economics
        if system in economics.supply:
            return economics.supply[system]
        per_year = self.scenario.catalog.system(system).supply_per_year
        if per_year is None:
            return None
        return int(per_year * self.calendar[t].length_s / (365 * 86400.0) + 1e-9)

    def in_service(self, pool: Pool, t: int, rented: bool = True) -> Pairs:
        """Variable part of the units of `pool` serving in calendar period t: units bought that
        have arrived and not reached the end of their lifetime, plus (rented=True) units rented
        or contracted for t. The owned units (model.owned) come on top, as a constant."""
        return self._memoized(
            ("in_service", pool, t, rented),
            self._unit_sizes(),
            lambda: [(var, 1.0) for var in self.in_service_cols(pool, t, rented)],
        )

    def in_service_cols(self, pool: Pool, t: int, rented: bool = True) -> list[Var]:
        """The columns of in_service(pool, t, rented), in its order (each has coefficient 1.0
        there: a unit bought, rented, contracted or on spot is one unit)."""
        return self._memoized(
            ("in_service_cols", pool, t, rented),
            self._unit_sizes(),
            lambda: self._in_service_cols(pool, t, rented),
        )

    def leased_cols(self, pool: Pool, t: int) -> list[Var]:
        """The columns of leased(pool, t), in its order (each has coefficient 1.0 there)."""
        return self._memoized(
            ("leased_cols", pool, t),
            self._unit_sizes(),
            lambda: self._leased_cols(pool, t),
        )

    def in_service_cols_but(self, pool: Pool, t: int, left_out: Var | None) -> list[Var]:
        """in_service_cols(pool, t) without the column `left_out` (None: all), in its order: a
        pool's spot column, last there (leased's last), when a row gives it its own
        coefficient."""
        cols = self.in_service_cols(pool, t)
        if left_out is None:
            return cols
        if cols and cols[-1] is left_out:
            cols.pop()  # a copy (_memoized)
            return cols
        return [v for v in cols if v is not left_out]

    def _in_service_cols(self, pool: Pool, t: int, rented: bool) -> list[Var]:
        cols = list(self._pool_service(pool)[0][t])
        if rented:
            cols += self.leased_cols(pool, t)
        return cols

    def orders_serving(self, pool: Pool, t: int) -> tuple[list[Var], list[Var]]:
        """The pool's buy columns whose units serve in calendar period t and its contract
        columns that cover t, each in the orders' declaration order: in_service's bought and
        contracted parts (shared lists: read them, do not change them)."""
        bought, contracted = self._pool_service(pool)
        return bought[t], contracted[t]

    def _pool_service(self, pool: Pool) -> list[list[list[Var]]]:
        """The pool's orders serving in each calendar period t, [bought, contracted]: its
        buy[t_order] columns with t_order in serving_orders(s, t)[0] and its contract[t0, k]
        columns with (t0, k) in serving_orders(s, t)[1], each in the orders' declaration
        order. Made for every t at once, each order put into the periods it serves in (the
        system's `_serving_periods`), not every order tested against every period."""
        return self._memoized(
            ("pool_service", pool), self._unit_sizes(), lambda: self._make_pool_service(pool)
        )

    def _make_pool_service(self, pool: Pool) -> list[list[list[Var]]]:
        bought_in, covered_in = self._serving_periods(pool[1])
        bought: list[list[Var]] = [[] for _ in self.calendar]
        contracted: list[list[Var]] = [[] for _ in self.calendar]
        buys, contracts = self.orders(pool)
        for t_order, var in buys:
            for t in bought_in.get(t_order, ()):
                bought[t].append(var)
        for t0, k, var in contracts:
            for t in covered_in.get((t0, k), ()):
                contracted[t].append(var)
        return [bought, contracted]

    def _serving_periods(
        self, system: str
    ) -> tuple[dict[int, list[int]], dict[tuple[int, int], list[int]]]:
        """serving_orders(system, t) inverted: the calendar periods t (ascending) in which units
        of `system` bought at t_order serve, by t_order, and in which contract (t0, k) covers,
        by (t0, k) (made once per system: the calendar and catalog are fixed)."""
        held = self._serving_in.get(system)
        if held is None:
            bought_in: dict[int, list[int]] = {}
            covered_in: dict[tuple[int, int], list[int]] = {}
            for c in self.calendar:
                bought, covering = self.serving_orders(system, c.index)
                for t_order in bought:
                    bought_in.setdefault(t_order, []).append(c.index)
                for order in covering:
                    covered_in.setdefault(order, []).append(c.index)
            held = self._serving_in[system] = (bought_in, covered_in)
        return held

    def serving_orders(self, system: str, t: int) -> tuple[set[int], set[tuple[int, int]]]:
        """The orders of `system` that serve in calendar period t, the same at every site: the
        periods t0 whose units bought at t0 have arrived and are not retired, and the (t0, k)
        of the term contracts k started at t0 that cover t (made once per system and period,
        not per pool)."""
        held = self._serving.get((system, t))
        if held is None:
            lifetime_s = self.scenario.catalog.system(system).lifetime_s
            start_s = self.calendar[t].start_s
            bought = set()
            for t_order in range(len(self.calendar)):
                arrive = self.arrival(system, t_order)
                if arrive is None or arrive > t:
                    continue
                retired = (
                    self.multi_period and start_s >= self.calendar[arrive].start_s + lifetime_s
                )
                if not retired:
                    bought.add(t_order)
            contracts = range(len(self.scenario.catalog.system(system).contracts))
            covering = {
                (t0, k)
                for t0 in range(len(self.calendar))
                for k in contracts
                if self.contract_covers(system, k, t0, t)
            }
            held = self._serving[(system, t)] = (bought, covering)
        return held

    def orders(self, pool: Pool) -> tuple[list[tuple[int, Var]], list[tuple[int, int, Var]]]:
        """The pool's buy[t] as (t, var) and contract[t, k] as (t, k, var), in declaration
        order (an index built once: scanning every pool's orders per row is quadratic)."""
        if self._by_pool is None:
            self._by_pool = {p: ([], []) for p in self.pools()}
            for (d, s, t), var in self.buy.items():
                self._by_pool[(d, s)][0].append((t, var))
            for (d, s, t, k), var in self.contract.items():
                self._by_pool[(d, s)][1].append((t, k, var))
        return self._by_pool.get(pool, ([], []))

    def cpu_owned(self, d: str) -> int:
        """CPU-only servers site d owns from the start (0 without cpu_servers)."""
        cpu = self.scenario.topology.site(d).cpu_servers
        return cpu.owned if cpu is not None else 0

    def cpu_in_service(self, d: str, t: int) -> Pairs:
        """Variable part of site d's CPU-only servers serving in calendar period t: bought,
        arrived and not retired, plus rented for t (the owned ones come on top, a constant)."""
        sizes = (len(self.cpu_buy), len(self.cpu_rent))
        return self._memoized(("cpu", d, t), sizes, lambda: self._cpu_in_service(d, t))

    def cpu_in_service_cols(self, d: str, t: int) -> list[Var]:
        """The columns of cpu_in_service(d, t), in its order (each has coefficient 1.0 there)."""
        sizes = (len(self.cpu_buy), len(self.cpu_rent))
        return self._memoized(
            ("cpu_cols", d, t), sizes, lambda: [var for var, _ in self.cpu_in_service(d, t)]
        )

    def _cpu_in_service(self, d: str, t: int) -> Pairs:
        cpu = self.scenario.topology.site(d).cpu_servers
        if cpu is None:
            return []
        serving = self.serving_orders(cpu.system, t)[0]
        pairs: Pairs = [(var, 1.0) for t_order, var in self._cpu_orders(d) if t_order in serving]
        if (d, t) in self.cpu_rent:
            pairs.append((self.cpu_rent[(d, t)], 1.0))
        return pairs

    def _cpu_orders(self, d: str) -> list[tuple[int, Var]]:
        """Site d's cpu_buy[d, t] as (t, var), in declaration order (an index by site, rebuilt
        when cpu_buy grew: scanning every site's orders per site and period is quadratic)."""
        if self._cpu_by_site is None or self._cpu_by_site[0] != len(self.cpu_buy):
            by_site: dict[str, list[tuple[int, Var]]] = {}
            for (d2, t_order), var in self.cpu_buy.items():
                by_site.setdefault(d2, []).append((t_order, var))
            self._cpu_by_site = (len(self.cpu_buy), by_site)
        return self._cpu_by_site[1].get(d, [])

    def u_of_pool(self, pool: Pool) -> list[tuple[UKey, Var]]:
        """The allocation variables on one pool, in declaration order (an index built once)."""
        return self.u_by_pool().get(pool, [])

    def u_by_pool(self) -> dict[Pool, list[tuple[UKey, Var]]]:
        """u_of_pool's index: each pool's allocations in declaration order, the pools in the
        order u first names them."""
        if self._u_by_pool is None:
            self._u_by_pool = {}
            for key, var in self.u.items():
                self._u_by_pool.setdefault((key[2], key[3]), []).append((key, var))
        return self._u_by_pool

    def u_in_use(self) -> list[tuple[UKey, Var]]:
        """The (key, var) of u whose value is not 0 (unsolved ones, None, included), in
        declaration order: what a scan of u that skips zero allocations reads. The values are
        compared at once (numpy; most allocations are 0 in a plan), not one by one in Python."""
        import numpy as np

        # u's keys and columns as lists (references, in C), a (key, var) pair made only for
        # the allocations in use: a pair for each of u's ~120k entries cost more than the rest
        keys, cols = list(self.u), list(self.u.values())
        values = np.array(list(map(_VALUE, cols)), dtype=float)  # None: nan
        return [(keys[i], cols[i]) for i in np.flatnonzero(values != 0).tolist()]

    def u_of_role(
        self, w: str, r: str, period: Period | None
    ) -> list[tuple[str, str, Period, Var]]:
        """u_by_role[(w, r)], or only its entries in one period (an index built once)."""
        if period is None:
            return self.u_by_role.get((w, r), [])
        if self._u_by_role_period is None:
            self._u_by_role_period = {}
            for (w2, r2), entries in self.u_by_role.items():
                for entry in entries:
                    key = (w2, r2, entry[2].index)
                    self._u_by_role_period.setdefault(key, []).append(entry)
        return self._u_by_role_period.get((w, r, period.index), [])

    def work_rates(
        self, w: str, role: Role, sites: set[str], period: Period | None
    ) -> tuple[list[Var], list[float]]:
        """The allocation columns of role `role` of workload w at `sites` (in one LP period, or
        all when None), in u_by_role's order, and each one's rate x period length
        (rate[r,s] · len_p: a unit's work in the period)."""
        if len(sites) == 1:
            entries = self.u_of_role_at(w, role.name, period, next(iter(sites)))
        elif len(sites) == len(self.sites):
            entries = self.u_of_role(w, role.name, period)
        else:
            entries = [e for e in self.u_of_role(w, role.name, period) if e[0] in sites]
        rates = role.rates
        return (
            [var for _, _, _, var in entries],
            [rates[s].per_unit_s * p.length_s for _, s, p, _ in entries],
        )

    def role_period_arrays(
        self, w: str, role: Role, period: Period, number: dict[str, int]
    ) -> tuple[list[Var], Any, Any]:
        """u_of_role(w, role, period)'s columns, each one's site (its `number`: an int array)
        and rate x period length (rate[r,s] · len_p, a float array), in u_by_role's order."""
        import numpy as np

        entries = self.u_of_role(w, role.name, period)
        n = len(entries)
        # one product per system: the entries are all in one period (u_of_role's), the same
        # rate[r,s] · len_p as each entry's own
        systems = list(map(_SYSTEM, entries))
        length_s = entries[0][2].length_s if entries else 0.0
        rate_len_of = {s: role.rates[s].per_unit_s * length_s for s in dict.fromkeys(systems)}
        site = np.fromiter(map(number.__getitem__, map(_SITE, entries)), np.int64, n)
        rate_len = np.fromiter(map(rate_len_of.__getitem__, systems), float, n)
        return list(map(_VAR, entries)), site, rate_len

    def work_of(self, demand: WorkloadDemand, role_names: set[str]) -> Iterable[tuple[UKey, Var]]:
        """The allocation variables of some roles of one workload, in declaration order."""
        for key, var in self._u_grouped().get((demand.name,), []):
            if key[1] in role_names:
                yield key, var

    def u_of_role_at(self, w: str, r: str, period: Period | None, d: str) -> list:
        """u_of_role(w, r, period)'s entries at site d, in the same order."""
        return self._u_grouped().get((w, r, None if period is None else period.index, d), [])

    def _u_grouped(self) -> dict[tuple, list]:
        """u by workload (key (w,): (key, var)) and u_by_role's entries by role, period and
        site (keys (w, r, p, d) and (w, r, None, d)), in declaration order; rebuilt when u grew."""
        if self._u_index is None or self._u_index[0] != len(self.u):
            grouped: dict[tuple, list] = {}
            for key, var in self.u.items():
                grouped.setdefault(key[:1], []).append((key, var))
            for (w, r), entries in self.u_by_role.items():
                for entry in entries:
                    grouped.setdefault((w, r, entry[2].index, entry[0]), []).append(entry)
                    grouped.setdefault((w, r, None, entry[0]), []).append(entry)
            self._u_index = (len(self.u), grouped)
        return self._u_index[1]

    def of_pool(self, name: str) -> dict[Pool, list[tuple[tuple, Var]]]:
        """The (key, var) entries of the variable dict `name` (buy, rent, contract, spot,
        owned_busy_h: keys that start with (d, s)) by pool, in declaration order."""
        variables: dict[tuple, Var] = getattr(self, name)
        held = self._pool_index.get(name)
        if held is None or held[0] != len(variables):
            grouped: dict[Pool, list[tuple[tuple, Var]]] = {}
            for key, var in variables.items():
                grouped.setdefault((key[0], key[1]), []).append((key, var))
            held = self._pool_index[name] = (len(variables), grouped)
        return held[1]


def _scan_codes(keys: list[UKey]) -> Any:
    """`Model.u_codes` by a scan of u's keys (w, r, d, s, p): ids numbered as first seen."""
    import numpy as np

    codes = np.empty((4, len(keys)), dtype=np.int64)
    parts = (operator.itemgetter(0, 1), operator.itemgetter(2), operator.itemgetter(3))
    for row, part in enumerate(parts):
        values = list(map(part, keys))
        ids = {v: i for i, v in enumerate(dict.fromkeys(values))}
        codes[row] = np.fromiter(map(ids.__getitem__, values), np.int64, len(values))
    codes[3] = np.fromiter(map(operator.itemgetter(4), keys), np.int64, len(keys))
    return codes
