"""Fast incumbents: a primal heuristic between the LP relaxation and the MIP.

At fleet scale HiGHS proves the LP bound within the gap at its root, then spends most of its time
looking for a first integer plan (the one-site, one-system and running binaries have to be found
by its own heuristics). This module builds one from the LP relaxation, on the HiGHS model PuLP
left in place, and hands it to HiGHS as a start. The pools the relaxation leaves idle (each of
their columns at 0) are first fixed at 0, so the re-solves below move work among the pools it
chose; if rounding then finds no plan it is tried again with every pool (`_idle_pools`) and
room kept in the rows rounding pushes past (`_reserve_counts`).

1. each choice group in turn (a training job's site y[w,d] or trainer site t[w,d], its system
   type x[w,s], a pretraining's model-size candidate k[w,c]) is fixed at its dominant share: the
   largest LP value gets 1, the others 0; if that costs more than a quarter of the gap's budget
   the next two largest are tried and the cheapest kept; the LP is re-solved (warm, in place)
   before the next group;
2. the remaining binaries are fixed: running on[...] and generates z[w,d] at 1 where the LP uses
   them at all (rounded up, so the capacity they switch on is there), done[w,p] to the nearest;
   the LP is re-solved;
3. every integer count is rounded up and fixed: first the lasting ones (orders, term
   contracts, CPU-server orders; a pool's orders cumulatively, the units bought by each period
   rounded up once), then, from the LP re-solved with those whole, the per-period ones
   (rentals, spot units, CPU rentals); the last LP sets the continuous rest. Where rounding up
   breaks a row (a binding power cap), the counts that push it past its bound are rounded down
   and fixed, the LP re-solved with the other counts free (it moves the lost work elsewhere),
   and the rest rounded again. When a term contract is used at less than half a unit over a
   whole one and the plan misses the gap, this step runs again with those fractions rounded
   down, and the cheaper plan is kept (`_cheaper_rounding`).

If that finds no plan, steps 1-3 run again with every pool, and step 3 keeps room in each row
that rounding up pushes past its bound instead of rounding counts down (the row's bound lowered
in the LP by how far past it is, round after round, until the counts rounded up fit): where
power caps bind at every site, rounding down loses more units than the rest of the fleet can
replace. If any step has no optimal LP, there is no start and the MIP runs as before. A start within the
gap of the relaxation's bound is the plan: proven within the gap by the relaxation alone, so the
MIP is not run (at 174k columns the MIP's search took 100 s where this takes ~10 s). Otherwise
the column bounds are restored and the start only offers HiGHS an incumbent: HiGHS checks it
against the full model, and the gap reported is still the one HiGHS proves.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import pulp

from planner.lp.model import Model, Pool

# A binary or count the LP relaxation uses below this is not used (solver noise).
USED_TOL = 1e-6
# Members of a choice group tried, largest LP shares first (see _fix_group).
TRIES = 3
# A choice group's try is kept at once when it adds at most 1/SLACK_SHARES of the gap's budget
# (the cost a plan may have over the relaxation and still be proven within the gap).
SLACK_SHARES = 4
# Rounds of rounding the unit counts (each fixes at least one count; two sufficed at 50 sites).
ROUNDS = 8
# A term contract's fraction of a unit below this is also tried rounded down (`_cheaper_rounding`).
DROP_CONTRACT_FRACTION = 0.5
# Rounds of keeping room in the rows rounding pushes past (the 20-site power-capped bench took 6).
RESERVE_ROUNDS = 16
# Units `_RowCheck.trim` may take off rounded-up counts before it gives up (37 at the 20-site
# power-capped bench at 2.879x; each unit costs one pass over the matrix).
TRIM_UNITS = 2000
# Simplex iterations a re-solve after an interior-point relaxation may take from the last basis
# before interior point solves it instead (`_resolve`), per row of the LP: a cold dual simplex
# solve of the fleet benches' LPs takes 0.7-0.95 iterations a row (README "Speed": 33.5-45.6k
# iterations at 47,948 rows), and a warm re-solve past a few percent of that is one interior
# point does better. 1,752 iterations at 58,398 rows (50 sites x 5 systems x 24 months), about
# what the earlier budget of a tenth of the relaxation's wall time allowed there (1,767
# iterations in 5.7 s CPU, one run). An iteration count, not seconds: a budget in seconds ended
# where the machine's load put it, so which re-solves simplex finished, and so which of
# equal-cost vertices the plan took, depended on the load (session 22: 2 of 15 runs of that
# fleet gave another plan of the same cost).
WARM_ITERATIONS_PER_ROW = 0.03
# The least budget (a small LP's re-solves from the basis take tens of pivots).
WARM_MIN_ITERATIONS = 1_000
# Simplex iterations one interior point iteration of a re-solve is counted as (`_work`): at 50
# sites x 5 systems x 24 months a re-solve's interior point run took 43 iterations and a
# 477-iteration crossover in 1.06 s CPU (the restricted LP, its fixed columns presolved away),
# ~22 ms an interior point iteration, where a warm simplex iteration took 2.5-3.2 ms: ~8-9, 10
# rounded (one run, README "Speed").
IPM_ITERATION_SIMPLEX = 10


class Bounds:
    """The column bounds the relaxation had, to put back."""

    def __init__(self, model: Model) -> None:
        import numpy as np

        lp = model.prob.solverModel.getLp()
        self.lower = np.array(lp.col_lower_, dtype=np.float64)
        self.upper = np.array(lp.col_upper_, dtype=np.float64)

    def restore(self, model: Model, columns: list[int] | None = None) -> None:
        import numpy as np

        index = (
            np.arange(len(self.lower), dtype=np.int32)
            if columns is None
            else np.array(columns, dtype=np.int32)
        )
        model.prob.solverModel.changeColsBounds(
            len(index), index, self.lower[index], self.upper[index]
        )


def _groups(model: Model) -> list[tuple[list[int], bool]]:
    """Column indices of each choice group, and whether exactly one member is 1 in an integer
    plan (a pretraining with allow_multi_site may be hosted on several sites)."""
    by_owner: dict[tuple[str, str], list[int]] = {}
    choices = (
        ("site", model.site),
        ("trainer", model.trainer),
        ("system", model.system_choice),
        ("candidate", model.candidate),
    )
    for kind, variables in choices:
        for key, var in variables.items():
            by_owner.setdefault((kind, key[0]), []).append(var.index)
    multi = {
        ("site", d.name)
        for d in model.demands
        if d.pretrain is not None and d.pretrain.allow_multi_site
    }
    return [(group, owner not in multi) for owner, group in by_owner.items()]


def _choice_fixes(group: list[int], chosen: int) -> dict[int, float]:
    """Step 1 for one group: `chosen` at 1, the rest at 0 (chosen -1: none)."""
    return {index: 1.0 if index == chosen else 0.0 for index in group}


def _fix_group(
    model: Model, group: list[int], one: bool, values: list[float], bounds: Bounds, slack: float
) -> list[float] | None:
    """Fix one choice group from the current LP values and re-solve: the member with the
    largest LP share alone at 1, then the next largest, up to TRIES members (for a many-of
    group, last, every member the LP uses). The first try whose LP costs at most `slack` more
    than the LP before it is kept at once; else the cheapest feasible try, or None when none is.
    (At 174k columns one try of a pretraining's system is a ~30 s re-solve, and the dominant
    share cost 0.02% there; at 67k columns it cost 0.48% where the second share cost 0.03%.)"""
    before = model.prob.solverModel.getInfo().objective_function_value
    used = sorted((i for i in group if values[i] > USED_TOL), key=lambda i: -values[i])
    tries = [_choice_fixes(group, chosen) for chosen in used[:TRIES] or [-1]]
    if not one:  # one site is cheapest when it fits (no gradient traffic); else all used
        tries.append({i: 1.0 if i in used else 0.0 for i in group})
    best: tuple[float, dict[int, float]] | None = None
    for fixes in tries:
        solved = _fix_and_solve(model, fixes)
        if solved is not None:
            cost = model.prob.solverModel.getInfo().objective_function_value
            if cost <= before + slack:
                return solved
            best = (cost, fixes) if best is None or cost < best[0] else best
        bounds.restore(model, group)
    return None if best is None else _fix_and_solve(model, best[1])


def _switch_fixes(model: Model, values: list[float]) -> dict[int, float]:
    """Step 2: running and generating binaries rounded up, done binaries to the nearest."""
    fixes: dict[int, float] = {}
    for var in list(model.running.values()) + list(model.generates.values()):
        fixes[var.index] = 1.0 if values[var.index] > USED_TOL else 0.0
    for var in model.done.values():
        fixes[var.index] = 1.0 if values[var.index] >= 0.5 else 0.0
    return fixes


def _fix_and_solve(model: Model, fixes: dict[int, float]) -> list[float] | None:
    """Fix the columns at their values, re-solve the LP in place; its column values, or None."""
    import highspy
    import numpy as np

    highs = model.prob.solverModel
    indices = np.fromiter(fixes, dtype=np.int32, count=len(fixes))
    fixed = np.fromiter(fixes.values(), dtype=np.float64, count=len(fixes))
    highs.changeColsBounds(len(fixes), indices, fixed, fixed)
    _resolve(model)
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return highs.getSolution().col_value  # a new list each call


def _resolve(model: Model) -> None:
    """Re-solve the HiGHS model in place with its method. After an interior-point relaxation
    (method "ipm", planner/lp/solve.py `_choose_method`), HiGHS's presolve first checks the
    restricted LP for infeasibility (~0.2 s at 369k columns; the basis is kept), then simplex
    runs from the last basis for at most `model.warm_budget_iterations` simplex iterations
    (`warm_budget`, then at most the last interior point re-solve's work: `_work`), and
    interior point only if that stops short of an answer. Interior point starts cold: at 369k columns (100 sites) each re-solve cost 15-31 s even where the crossover after
    it needed 0-249 iterations, and the rounded plan's re-solves 163 s in all; simplex from the
    basis re-solves most of them in 0.2-4 s (README "Speed"). The budget is an iteration count
    so that which re-solves simplex answers, and so the vertex taken, is the same on every run
    whatever the machine's load (a budget in seconds was not: README "Plan JSON"). From
    LARGE_COLUMNS columns the presolve check runs before a simplex re-solve too: at 50 sites x
    20 quarters, from a raced relaxation's interior point vertex (planner/lp/race.py), simplex
    took 42.5 s to prove the pretraining site's first try infeasible."""
    import highspy

    highs = model.prob.solverModel
    ipm = highs.getOptionValue("solver")[1] == "ipm"
    if not ipm and highs.getNumCol() < LARGE_COLUMNS:
        _timed_run(model)
        return
    basis = highs.getBasis()
    started = time.perf_counter()
    highs.presolve()
    model.solver_run_s += time.perf_counter() - started
    if highs.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
        highs.setBasis(basis)  # an infeasible presolve drops the basis the next try starts from
        return
    if not ipm:
        _timed_run(model)
        return
    # HiGHS counts simplex_iteration_limit per run (its time_limit stays the scenario's, over
    # all its runs on the model: a limit the user set, which ends the plan "feasible").
    if model.warm_budget_iterations > 0:
        limit = highs.getOptionValue("simplex_iteration_limit")[1]
        highs.setOptionValue("simplex_iteration_limit", model.warm_budget_iterations)
        highs.setOptionValue("solver", "simplex")
        try:
            _timed_run(model)
        finally:
            highs.setOptionValue("simplex_iteration_limit", limit)
            highs.setOptionValue("solver", "ipm")
        answered = (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInfeasible)
        if highs.getModelStatus() in answered:
            return
    _timed_run(model)
    # Simplex past what an interior point re-solve costs is work lost: at 24 months one took
    # 4.1 s after 11 s of simplex (README "Speed").
    model.warm_budget_iterations = min(
        model.warm_budget_iterations, max(WARM_MIN_ITERATIONS, _work(highs))
    )


def _work(highs: Any) -> int:
    """The last run's work in simplex iterations: its simplex and crossover iterations, and
    IPM_ITERATION_SIMPLEX for each interior point iteration. Counted, not timed: the same on
    every run of the same model."""
    info = highs.getInfo()
    return (
        max(0, info.simplex_iteration_count)
        + max(0, info.crossover_iteration_count)
        + IPM_ITERATION_SIMPLEX * max(0, info.ipm_iteration_count)
    )


def warm_budget(highs: Any) -> int:
    """The simplex iterations a re-solve after the relaxation may take before interior point
    solves it (`_resolve`): WARM_ITERATIONS_PER_ROW of the LP's rows, at least
    WARM_MIN_ITERATIONS. From the model's size alone: the same on every run."""
    return max(WARM_MIN_ITERATIONS, math.ceil(WARM_ITERATIONS_PER_ROW * highs.getNumRow()))


def _timed_run(model: Model) -> None:
    """One HiGHS run, its wall time added to model.solver_run_s (the benches' HiGHS time)."""
    highs = model.prob.solverModel
    started = time.perf_counter()
    highs.run()
    model.solver_run_s += time.perf_counter() - started


def _fix_binaries(model: Model, bounds: Bounds, slack: float) -> list[float] | None:
    """Steps 1-2 on the relaxation's values; the column values of the LP with every binary
    fixed, or None. The groups are fixed one at a time, each from the LP re-solved after the
    last (a site and a system chosen apart could be a pool that does not exist); `slack` is
    what each group's choice may add to the LP's cost before the next shares are tried."""
    values: list[float] | None = model.prob.solverModel.getSolution().col_value
    for group, one in _groups(model):
        assert values is not None
        values = _fix_group(model, group, one, values, bounds, slack)
        if values is None:
            return None
    assert values is not None
    switches = _switch_fixes(model, values)
    return _fix_and_solve(model, switches) if switches else values


def _dive(
    model: Model,
    integers: list[int],
    bounds: Bounds,
    slack: float = 0.0,
    reserve: bool = False,
    accept_usd: float | None = None,
) -> list[float] | None:
    """Steps 1-3: the column values of the LP with every integer fixed, or None. `reserve`:
    counts that round up past a row's bound keep room in the row (`_reserve_counts`) instead
    of being rounded down (`_round_counts`). (Offering HiGHS the binaries alone when rounding
    fails, for it to complete, made frontier-3y's MIP ~10x slower; a restricted MIP over the
    counts ~3x: neither is done.)"""
    values = _fix_binaries(model, bounds, slack)
    binaries = _all_binaries(model)
    counts = [i for i in integers if i not in binaries]
    if values is None or not counts:
        return values
    rows = _RowCheck(model)
    if reserve:
        return _round_stages(model, counts, values, rows, _reserve_counts)
    return _cheaper_rounding(model, counts, values, rows, accept_usd)


def _round_stages(
    model: Model, counts: list[int], values: list[float], rows: _RowCheck, rounding, **options
) -> list[float] | None:
    """Step 3 in its two stages: the lasting counts, then the per-period ones (`_lasting`)."""
    lasting = _lasting(model)
    for stage in ([i for i in counts if i in lasting], [i for i in counts if i not in lasting]):
        if values is not None and stage:
            values = rounding(model, stage, values, rows, **options)
    return values


def _cheaper_rounding(
    model: Model,
    counts: list[int],
    values: list[float],
    rows: _RowCheck,
    accept_usd: float | None = None,
) -> list[float] | None:
    """Step 3 twice when some term contract's LP value is less than DROP_CONTRACT_FRACTION
    over a whole unit: with every contract rounded up, then with those fractions rounded down
    (`_rounded_up`), each from the LP as steps 1-2 left it; the cheaper plan is kept (fixed
    again if it was the first). A contract rounded up is a whole unit for its whole term;
    rounded down, its fraction is served by what the rounding left spare or by the period
    (rentals, spot, rounded up in turn): cheaper where the fraction is small or the term runs
    past the work (5 contracts rounded up were +0.66% of the plan at 50 sites x 24 months),
    dearer where a whole rental costs more than the contract (an H100's on-demand hour is ~3x
    its 1-year contract's). The second rounding is skipped when the first plan already costs at
    most `accept_usd` (within the gap: at 174k columns it would add ~3 s for 0.03%)."""
    if not _small_contract_fractions(model, values):
        return _round_stages(model, counts, values, rows, _round_counts)
    before = Bounds(model)  # the counts' bounds as steps 1-2 left them (idle pools' at 0)
    up = _round_stages(model, counts, values, rows, _round_counts)
    highs = model.prob.solverModel
    up_usd = highs.getInfo().objective_function_value if up is not None else math.inf
    if accept_usd is not None and up_usd <= accept_usd:
        return up
    before.restore(model, counts)
    dropped = _round_stages(model, counts, values, rows, _round_counts, drop_contracts=True)
    if dropped is not None and highs.getInfo().objective_function_value < up_usd:
        return dropped
    if up is None:
        return None
    return _fix_and_solve(model, {i: float(round(up[i])) for i in counts})


def _small_contract_fractions(model: Model, values: list[float]) -> bool:
    """Whether some term contract is used at less than DROP_CONTRACT_FRACTION over a whole unit."""
    for var in model.contract.values():
        part = values[var.index] - math.floor(values[var.index] + USED_TOL)
        if USED_TOL < part < DROP_CONTRACT_FRACTION:
            return True
    return False


def _lasting(model: Model) -> set[int]:
    """The counts that last beyond their period (orders, term contracts, CPU server orders):
    rounded first, the LP then re-solved with the per-period counts (rentals, spot units,
    CPU rentals) free, so that the capacity the rounding-up adds serves in place of rentals
    before those are rounded in turn."""
    families = (model.buy, model.contract, model.cpu_buy)
    return {var.index for family in families for var in family.values()}


def _round_counts(
    model: Model,
    counts: list[int],
    values: list[float],
    rows: _RowCheck,
    drop_contracts: bool = False,
) -> list[float] | None:
    """Step 3: every free count is rounded up, except the counts that would push a row past its
    bound (a site's power cap, max_units, a supply limit in some period): those are rounded down
    and fixed, and the LP is re-solved with the other counts still free, so it moves the work
    they lose onto pools with room; then the free counts are rounded again. Each round fixes at
    least one count, and at most ROUNDS rounds are made; then every count is fixed and the last
    LP sets the continuous rest. `drop_contracts`: see `_rounded_up`."""
    free, fixed = set(counts), dict[int, float]()
    for _ in range(ROUNDS):
        up = _rounded_up(model, free, values, drop_contracts)
        culprits = rows.pushing_past(values, up) & free
        if not culprits:
            return _fix_and_solve(model, {**fixed, **up})
        fixed.update({i: float(math.floor(values[i] + USED_TOL)) for i in culprits})
        free -= culprits
        solved = _fix_and_solve(model, fixed)
        if solved is None:
            return None
        values = solved
    return None


def _reserve_counts(
    model: Model, counts: list[int], values: list[float], rows: _RowCheck
) -> list[float] | None:
    """Step 3 when rounding down did not give a plan: every free count is rounded up; each row
    this pushes past a bound keeps room in the LP (its bound tightened, the rooms added up over
    the rounds), the LP is re-solved with every count still free, and the counts are rounded up
    again; at most RESERVE_ROUNDS rounds. Then the rows' bounds are put back, every count fixed,
    and the last LP sets the continuous rest. A round first tries the room that brings the
    counts cheapest to round down to their floor (`_RowCheck.room`), and if that LP has no
    solution, only how far past the row is. When neither has a solution (the room kept has
    used up what the rows had) or the rounds run out, the rows get their bounds back and the
    counts rounded up from the last LP that had a solution (its counts sit below the rows by
    the room kept) are trimmed, a unit at a time, until they push no row past
    (`_RowCheck.trim`), and fixed all at once; if that LP has no solution, the counts still
    pushing a row past are rounded down as `_round_counts` does. Rounding down every count that
    pushes a binding power cap gives up up to a unit per order of every system at the site from
    each period on: at 20 sites whose caps bind in the last quarters what was left could not
    serve their work (and re-solving after each round down, with the other counts free, the LP
    fills the caps again: at 2.879x the bench's 20-site fleet 3,907 counts pushed past in the
    second round, where trimming took 37 units off).
    Of the two steps, the excess alone took ~80 rounds where a rack's count sat 0.99 above its
    floor, and the room to the floor alone left the LP infeasible at another 20-site fleet."""
    free, reserve, touched = set(counts), dict[int, float](), set[int]()
    try:
        for _ in range(RESERVE_ROUNDS):
            up = _rounded_up(model, free, values)
            past = rows.past(values, up)
            if not past:
                rows.tighten(model, dict.fromkeys(touched, 0.0))
                touched = set()
                return _fix_and_solve(model, up)
            touched |= past.keys()
            bold = {r: rows.room(r, excess, values, up) for r, excess in past.items()}
            for step in (bold, past):  # the room to the cheapest floor; if infeasible, the excess
                trial = {**reserve, **{r: reserve.get(r, 0.0) + step[r] for r in past}}
                rows.tighten(model, trial)
                solved = _fix_and_solve(model, {})
                if solved is not None:
                    reserve, values = trial, solved
                    break
            else:
                break  # no more room to keep: round down what still pushes past, below
        # From the last LP that had a solution (its counts keep the room), the rows get their
        # bounds back; the counts rounded up are trimmed unit by unit until no row is past and
        # fixed at once; if that LP has no solution, the counts still pushing a row past are
        # rounded down (`_round_counts`).
        rows.tighten(model, dict.fromkeys(touched, 0.0))
        touched = set()
        trimmed = rows.trim(values, _rounded_up(model, free, values))
        if trimmed is not None:
            solved = _fix_and_solve(model, trimmed)
            if solved is not None:
                return solved
        return _round_counts(model, sorted(free), values, rows)
    finally:
        rows.tighten(model, dict.fromkeys(touched, 0.0))


def _rounded_up(
    model: Model, free: set[int], values: list[float], drop_contracts: bool = False
) -> dict[int, float]:
    """Each free count rounded up, but a pool's orders rounded up cumulatively: in order of t,
    buy[t] = max(0, ceil(x_1 + ... + x_t) - the orders already rounded), so the units bought by
    t are the LP's rounded up once rather than once per period (monthly orders of a fraction
    of a unit each would buy up to one unit a month too many). A pool whose units retire within
    the horizon keeps its orders rounded one by one where the cumulative rounding would leave
    fewer units in service than the LP in some period. With `drop_contracts`, a term contract
    whose fraction over a whole unit is below DROP_CONTRACT_FRACTION is rounded down instead:
    the LP re-solved with it whole serves that fraction by the period (rentals, spot), not with
    a whole unit for the whole term."""
    up = {i: float(math.ceil(values[i] - USED_TOL)) for i in free}
    if drop_contracts:
        for var in model.contract.values():
            whole = math.floor(values[var.index] + USED_TOL)
            if var.index in free and values[var.index] - whole < DROP_CONTRACT_FRACTION:
                up[var.index] = float(whole)
    for pool in model.pools():
        orders = sorted(model.orders(pool)[0], key=lambda order: order[0])
        if not any(var.index in free for _, var in orders):
            continue
        ordered, rounded, cumulative = 0.0, 0.0, {}
        for _, var in orders:
            ordered += values[var.index]
            if var.index in free:
                cumulative[var.index] = max(0.0, float(math.ceil(ordered - USED_TOL)) - rounded)
            rounded += cumulative.get(var.index, values[var.index])
        if _serves_as_much(model, pool, cumulative, values):
            up.update(cumulative)
    return up


def _serves_as_much(
    model: Model, pool: tuple[str, str], rounded: dict[int, float], values: list[float]
) -> bool:
    """Whether the pool's bought units in service, with its orders at `rounded`, are at least
    the LP's in every calendar period."""
    for t in range(len(model.calendar)):
        pairs = model.in_service(pool, t, rented=False)
        lp = sum(c * values[v.index] for v, c in pairs)
        if sum(c * rounded.get(v.index, values[v.index]) for v, c in pairs) < lp - USED_TOL:
            return False
    return True


class _RowCheck:
    """Row activities of the HiGHS model at given column values (numpy over its matrix)."""

    def __init__(self, model: Model) -> None:
        import highspy
        import numpy as np

        lp = model.prob.solverModel.getLp()
        matrix = lp.a_matrix_
        # HiGHS holds the matrix by columns once it has solved, by rows after addRows until then.
        by_rows = matrix.format_ == highspy.MatrixFormat.kRowwise
        self.rows, self.columns, self.coefs = _entries(model, matrix, by_rows)
        self.by_row = stable_order(self.rows)  # the entries, row by row
        self.row_starts = np.searchsorted(self.rows[self.by_row], np.arange(lp.num_row_ + 1))
        self.lower = np.asarray(lp.row_lower_)
        self.upper = np.asarray(lp.row_upper_)
        self.n_rows = lp.num_row_

    def past(self, values: list[float], changed: dict[int, float]) -> dict[int, float]:
        """The rows that `changed` (replacing their columns' values in `values`) pushes past a
        bound, and how far: above the upper bound > 0, below the lower bound < 0. A row the LP
        values already leave past it (within the solver's tolerance) counts from where they
        leave it: only the push is returned."""
        import numpy as np

        activity, before = self._activity(values, changed), self._activity(values, {})
        over = activity - np.maximum(self.upper, before)
        under = activity - np.minimum(self.lower, before)
        past = {int(r): float(over[r]) for r in np.flatnonzero(over > USED_TOL)}
        past.update({int(r): float(under[r]) for r in np.flatnonzero(under < -USED_TOL)})
        return past

    def room(self, row: int, excess: float, values: list[float], up: dict[int, float]) -> float:
        """The room (signed as `excess`) that brings the counts of `row` cheapest to round down
        to their floor in the LP re-solved: the counts pushing it, the fewest LP units given up
        (value - floor) per unit of excess they take back first, until rounding them down would
        take back `excess`; at least `excess`. (Keeping only the excess moves the LP's value of
        a count by the excess each round: a count 0.99 of a rack over its floor past a power
        cap by 1.7 kW would take ~80 rounds.)"""
        entries = self.by_row[self.row_starts[row] : self.row_starts[row + 1]]
        sign = 1.0 if excess > 0 else -1.0
        ranked: list[tuple[float, float, float]] = []
        for column, coef in zip(
            self.columns[entries].tolist(), self.coefs[entries].tolist(), strict=True
        ):
            if column in up:
                floor = math.floor(values[column] + USED_TOL)
                relief = sign * coef * (up[column] - floor)
                given_up = sign * coef * max(0.0, values[column] - floor)
                if relief > USED_TOL:
                    ranked.append((given_up / relief, given_up, relief))
        room, taken = 0.0, 0.0
        for _, given_up, relief in sorted(ranked):
            if taken >= abs(excess):
                break
            room, taken = room + given_up, taken + relief
        return sign * max(room, abs(excess))

    def trim(self, values: list[float], up: dict[int, float]) -> dict[int, float] | None:
        """`up` (counts rounded up from the LP `values`) with units taken off, one at a time,
        until no row is past its bound: the row furthest past first, from the count in it that
        gives up the fewest LP units per unit of the row relieved (a unit taken off count c at
        LP value v gives up max(0, v - (c - 1)) - max(0, v - c) units: none while c - 1 >= v).
        A row past only through columns not in `up` (continuous ones, which the LP re-solves)
        is left to the LP. None when TRIM_UNITS units do not do it."""
        fixes, left = dict(up), set[int]()
        for _ in range(TRIM_UNITS):
            past = {r: x for r, x in self.past(values, fixes).items() if r not in left}
            if not past:
                return fixes
            row, excess = max(past.items(), key=lambda item: abs(item[1]))
            sign = 1.0 if excess > 0 else -1.0
            entries = self.by_row[self.row_starts[row] : self.row_starts[row + 1]]
            best: tuple[float, int] | None = None
            for column, coef in zip(
                self.columns[entries].tolist(), self.coefs[entries].tolist(), strict=True
            ):
                count = fixes.get(column)
                if count is None or sign * coef <= 0 or count < 1 - USED_TOL:
                    continue
                value = values[column]
                given_up = max(0.0, value - (count - 1)) - max(0.0, value - count)
                if best is None or given_up / (sign * coef) < best[0]:
                    best = (given_up / (sign * coef), column)
            if best is None:
                left.add(row)
            else:
                fixes[best[1]] -= 1.0
        return None

    def tighten(self, model: Model, room: dict[int, float]) -> None:
        """Set the rows' bounds in the HiGHS model to theirs less `room` (signed as `past`):
        an upper bound lowered by a positive room, a lower bound raised by a negative one."""
        import numpy as np

        if not room:
            return
        index = np.fromiter(room, dtype=np.int32, count=len(room))
        kept = np.fromiter(room.values(), dtype=np.float64, count=len(room))
        lower = self.lower[index] - np.minimum(kept, 0.0)
        upper = self.upper[index] - np.maximum(kept, 0.0)
        model.prob.solverModel.changeRowsBounds(len(index), index, lower, upper)

    def _activity(self, values: list[float], changed: dict[int, float]):
        import numpy as np

        x = np.array(values, dtype=np.float64)
        index = np.fromiter(changed, dtype=np.int64, count=len(changed))
        x[index] = np.fromiter(changed.values(), dtype=np.float64, count=len(changed))
        return np.bincount(self.rows, weights=self.coefs * x[self.columns], minlength=self.n_rows)

    def pushing_past(self, values: list[float], changed: dict[int, float]) -> set[int]:
        """The columns with a coefficient pushing a row past its bound (up past its upper bound
        or down past its lower) once `changed` replaces their values in `values`."""
        activity = self._activity(values, changed)
        over = activity > self.upper + USED_TOL
        under = activity < self.lower - USED_TOL
        pushes = (over[self.rows] & (self.coefs > 0)) | (under[self.rows] & (self.coefs < 0))
        return set(self.columns[pushes].tolist())


def _entries(model: Model, matrix: Any, by_rows: bool) -> tuple[Any, Any, Any]:
    """The matrix entries (row, column, coefficient: int64, int64, float64 arrays) in the
    order HiGHS holds them: by rows (each row's terms as handed over) or by columns (each
    column's rows ascending, how HiGHS lays the rows it was handed out by columns), so the
    row activities are summed in HiGHS's order. From the matrix planner/lp/transfer.py handed
    over (`handed_matrix`) where HiGHS holds it still, else from HiGHS's copy (`matrix`,
    read back through Python lists: ~0.2 s at 1.6M entries)."""
    import numpy as np

    from planner.lp.transfer import handed_matrix

    handed = handed_matrix(model.prob)
    if handed is None:
        runs = np.repeat(np.arange(len(matrix.start_) - 1), np.diff(matrix.start_))
        index = np.asarray(matrix.index_)
        return (
            (runs, index, np.asarray(matrix.value_))
            if by_rows
            else (index, runs, np.asarray(matrix.value_))
        )
    m = len(handed.start) - 1
    if by_rows:
        runs = np.repeat(np.arange(m), np.diff(handed.start))
        return runs, handed.index, handed.value
    # by columns, each column's rows ascending: a stable sort of the row-ordered entries by
    # column (numpy, not scipy: importing scipy costs every plan ~0.2 s, tests/test_startup.py)
    rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(handed.start))
    order = stable_order(handed.index)
    return rows[order], np.asarray(handed.index, dtype=np.int64)[order], handed.value[order]


def stable_order(keys: Any) -> Any:
    """np.argsort(keys, kind="stable") of an integer array, the same permutation (a stable sort
    has one answer), sorted 16 bits at a time when no key is negative: numpy radix-sorts 16-bit
    keys and merge-sorts wider ones, 0.064 s against 0.007 for a pass at 835k entries; each
    pass sorts stably by the next 16 bits, least significant first."""
    import numpy as np

    keys = np.asarray(keys)
    if not len(keys) or keys.dtype.kind not in "iu" or keys.min() < 0 or keys.max() >= 2**62:
        return np.argsort(keys, kind="stable")
    keys = keys.astype(np.int64, copy=False)
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    top, shift = int(keys.max()), 16
    while top >> shift:
        digit = ((keys[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
    return order


def _all_binaries(model: Model) -> set[int]:
    dicts = (model.site, model.trainer, model.system_choice, model.candidate)
    more = (model.running, model.generates, model.done)
    return {var.index for d in dicts + more for var in d.values()}


@dataclass
class Start:
    """A start for the MIP: a value for every column (a whole plan), its objective as HiGHS
    holds it (without PuLP's constant), and whether it is already proven good enough (then the
    HiGHS model is left holding it, as the solution of the LP with every integer fixed)."""

    columns: list[int]
    values: list[float]
    objective: float
    proven: bool = False

    def offer(self, highs: object) -> None:
        """Hand the start to HiGHS (it checks it against the model before using it)."""
        import numpy as np

        index = np.array(self.columns, dtype=np.int32)
        values = np.array(self.values, dtype=np.float64)
        highs.setSolution(len(index), index, values)  # type: ignore[attr-defined]


# solver.incumbent: auto builds a start from ROUNDED_COLUMNS columns up; a start within the gap
# is the plan. Below, HiGHS's MIP alone (the shipped single-period scenarios, 13-148 columns,
# solve in well under a second and its plans are as tight or tighter: rl-verifiers--rental
# 0.60% against the start's 1.00%). From there multi-period models make HiGHS's MIP slow where
# the start is not: session 17 (README "Speed"), bench_lp.py's fleet at 2 sites x 12 quarters
# (4,235 columns) MIP 35.8 s / start 1.7 s, 3 x 12 (6,357) 66.9 s / 1.3 s, the start the
# cheaper plan both times; frontier-3y (1,748) HiGHS's MIP 3.4-7 s, the start $3.198B against
# the MIP's $3.210B.
ROUNDED_COLUMNS = 1_000

# A large model: from this many columns a start outside the gap is the plan too (README "Speed":
# at 174k columns the rounded plan is proven within 0.12% in ~10 s of re-solves, where HiGHS's
# MIP search after the relaxation had not finished in 10.7 min).
LARGE_COLUMNS = 50_000


def wanted(model: Model) -> bool:
    """Whether the scenario asks for a start (solver.incumbent: true, or auto from
    ROUNDED_COLUMNS columns)."""
    setting = model.scenario.data.solver.incumbent
    if setting == "auto":
        return len(model.prob.variables()) >= ROUNDED_COLUMNS
    return bool(setting)


def searches(model: Model) -> bool:
    """Whether HiGHS's MIP search runs from a start that is not within the gap: when the
    scenario asks for the start outright (solver.incumbent: true), and with auto below
    LARGE_COLUMNS. From there (auto) the start is the plan, its gap proven by the relaxation and
    reported above the target: at 205k columns HiGHS's central rounding, a root heuristic that
    checks no limit, was still running 28 min into a 1,500 s limit (README "Speed")."""
    setting = model.scenario.data.solver.incumbent
    if setting == "auto":
        return len(model.prob.variables()) < LARGE_COLUMNS
    return setting is True


def find_start(
    model: Model,
    accept_usd: float | None = None,
    keep: bool = False,
    pools: dict[Pool, list[int]] | None = None,
) -> Start | None:
    """A start built from the LP relaxation left in the HiGHS model, or None when the scenario
    does not ask for one (`wanted`) or a restricted LP has no solution. A start whose objective
    (HiGHS's, without PuLP's constant) is at most `accept_usd` is `proven`: the HiGHS model is
    left holding it, for the caller to read as the plan; so is any start when `keep`. Otherwise
    the model's bounds and basis are put back as the relaxation left them, so the MIP runs as it
    would have, offered the start. `pools`: `pool_columns(model)` made already (else made
    here)."""
    if not wanted(model):
        return None
    highs = model.prob.solverModel
    model.warm_budget_iterations = warm_budget(highs)  # from the LP's rows
    bounds = Bounds(model)
    basis = highs.getBasis()
    integers = [var.index for var in model.prob.variables() if var.cat == pulp.LpInteger]
    relaxation = highs.getInfo().objective_function_value
    # Each choice group may spend a quarter of the gap's budget before others are compared.
    slack = 0.0 if accept_usd is None else max(0.0, accept_usd - relaxation) / SLACK_SHARES
    try:
        idle = _idle_pools(model, pool_columns(model) if pools is None else pools)
        if idle:
            _fix_idle(model, idle)
        values = _dive(model, integers, bounds, slack, accept_usd=accept_usd)
        if values is None:  # the idle pools may hold what rounding needs; rounding down did not
            _put_back(model, bounds, basis)
            values = _dive(model, integers, bounds, slack, reserve=True)
    except BaseException:
        _put_back(model, bounds, basis)
        raise
    objective = highs.getInfo().objective_function_value
    proven = values is not None and accept_usd is not None and objective <= accept_usd
    if values is not None and (proven or keep):
        return Start(list(range(len(values))), values, objective, proven=proven)
    _put_back(model, bounds, basis)
    if values is None:
        return None
    return Start(list(range(len(values))), values, objective)


def pool_columns(model: Model) -> dict[Pool, list[int]]:
    """Every column that belongs to one pool (d, s): its orders, rentals, contracts, spot units,
    owned hours, and the allocations, running and serving switches on it."""
    pairs: list[tuple[Pool, int]] = []
    for fleet in (model.buy, model.rent, model.spot, model.owned_busy_h):
        pairs += [((key[0], key[1]), var.index) for key, var in fleet.items()]
    pairs += [((key[0], key[1]), var.index) for key, var in model.contract.items()]
    by_pool: dict[Pool, list[int]] = {}
    for pool, index in pairs:
        by_pool.setdefault(pool, []).append(index)
    # The allocations by pool from the model's index (u in declaration order, pools in the
    # order u first names them: as a scan of u would group them), then the switches.
    for pool, entries in model.u_by_pool().items():
        by_pool.setdefault(pool, []).extend([var.index for _, var in entries])
    pairs = [((key[2], key[3]), var.index) for key, var in model.running.items()]
    pairs += [((key[1], key[2]), var.index) for key, var in model.serves.items()]
    for pool, index in pairs:
        by_pool.setdefault(pool, []).append(index)
    return by_pool


def _idle_pools(model: Model, pools: dict[Pool, list[int]]) -> list[int]:
    """The columns of the pools the relaxation leaves idle (every column of the pool, its
    orders, rentals and allocations, at 0): the rounded plan is built without them. Fixing
    them at 0 leaves the relaxation's basis optimal, and the re-solves after each rounding
    step move work among the pools the relaxation chose (at 50 sites x 24 months it uses 61
    of 250 pools) instead of through every pool of the fleet."""
    import numpy as np

    values = np.asarray(model.prob.solverModel.getSolution().col_value, dtype=float)
    idle: list[int] = []
    for columns in pools.values():
        if np.all(np.abs(values[columns]) <= USED_TOL):  # every column of the pool at 0
            idle.extend(columns)
    return idle


def _fix_idle(model: Model, idle: list[int]) -> None:
    """Fix the idle pools' columns at 0 and re-solve by simplex from the relaxation's basis,
    whatever method the relaxation used: the columns are at 0 already, so the basis stays
    optimal and the run takes no iterations. Under interior point (which discards a basis)
    this run solved the reduced LP again (69 IPM iterations, ~8 s CPU at 50 sites x 24 months);
    from the same relaxation the rounded plan took 58.7 s CPU instead of 61.0 there (the same
    plan) and 50.7 s instead of 66.7 at 100 sites (0.14% over the bound instead of 0.18%,
    README "Speed"). The re-solves after it keep the relaxation's method (`_resolve`)."""
    highs = model.prob.solverModel
    method = highs.getOptionValue("solver")[1]
    highs.setOptionValue("solver", "choose")
    try:
        _fix_and_solve(model, dict.fromkeys(idle, 0.0))
    finally:
        highs.setOptionValue("solver", method)


def _put_back(model: Model, bounds: Bounds, basis: object) -> None:
    """The relaxation as it was: its column bounds, its basis, its optimum (no iterations). The
    run is simplex whatever the re-solves used: HiGHS's interior point discards a basis."""
    highs = model.prob.solverModel
    bounds.restore(model)
    highs.setBasis(basis)
    method = highs.getOptionValue("solver")[1]
    highs.setOptionValue("solver", "choose")
    try:
        highs.run()
    finally:
        highs.setOptionValue("solver", method)
