"""Fast incumbents: a primal heuristic between the LP relaxation and the MIP.

At fleet scale HiGHS proves the LP bound within the gap at its root, then spends most of its time
looking for a first integer plan (the one-site, one-system and running binaries have to be found
by its own heuristics). This module builds one from the LP relaxation, on the HiGHS model PuLP
left in place, and hands it to HiGHS as a start:

1. each choice group in turn (a training job's site y[w,d] or trainer site t[w,d], its system
   type x[w,s], a pretraining's model-size candidate k[w,c]) is fixed at its dominant share: the
   largest LP value gets 1, the others 0; the LP is re-solved (warm, in place) before the next;
2. the remaining binaries are fixed: running on[...] and generates z[w,d] at 1 where the LP uses
   them at all (rounded up, so the capacity they switch on is there), done[w,p] to the nearest;
   the LP is re-solved;
3. every integer count (orders, rentals, contracts, CPU servers) is rounded up and fixed; the
   last LP sets the continuous rest. If that breaks a row (a binding power cap), the counts that
   push a broken row past its bound are rounded down instead, and the LP is solved once more.

If any step has no optimal LP, there is no start and the MIP runs as before. The column bounds
are restored before the MIP, so the start only offers HiGHS an incumbent: HiGHS checks it against
the full model, and the gap reported is still the one HiGHS proves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

import pulp

from planner.lp.model import Model

# A binary or count the LP relaxation uses below this is not used (solver noise).
USED_TOL = 1e-6
# Members of a choice group tried (largest LP shares first); the cheapest is kept.
TRIES = 3


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
    model: Model, group: list[int], one: bool, values: list[float], bounds: Bounds
) -> list[float] | None:
    """Fix one choice group from the current LP values and re-solve: each of the TRIES members
    with the largest LP shares alone at 1 (for a many-of group, then every member the LP uses);
    the cheapest feasible LP is kept, or None when none is feasible."""
    used = sorted((i for i in group if values[i] > USED_TOL), key=lambda i: -values[i])
    tries = [_choice_fixes(group, chosen) for chosen in used[:TRIES] or [-1]]
    if not one:  # one site is cheapest when it fits (no gradient traffic); else all used
        tries.append({i: 1.0 if i in used else 0.0 for i in group})
    best: tuple[float, dict[int, float]] | None = None
    for fixes in tries:
        solved = _fix_and_solve(model, fixes)
        if solved is not None:
            cost = model.prob.solverModel.getInfo().objective_function_value
            best = (cost, fixes) if best is None or cost < best[0] else best
        bounds.restore(model, group)
    if best is None:
        return None
    return _fix_and_solve(model, best[1])


def _switch_fixes(model: Model, values: list[float]) -> dict[int, float]:
    """Step 2: running and generating binaries rounded up, done binaries to the nearest."""
    fixes: dict[int, float] = {}
    for var in list(model.running.values()) + list(model.generates.values()):
        fixes[var.index] = 1.0 if values[var.index] > USED_TOL else 0.0
    for var in model.done.values():
        fixes[var.index] = 1.0 if values[var.index] >= 0.5 else 0.0
    return fixes


def _count_fixes(integers: Iterable[int], values: list[float]) -> dict[int, float]:
    """Step 3: every integer count rounded up (a count within USED_TOL of an integer is that
    integer, so the LP's noise does not buy a unit)."""
    return {index: float(math.ceil(values[index] - USED_TOL)) for index in integers}


def _fix_and_solve(model: Model, fixes: dict[int, float]) -> list[float] | None:
    """Fix the columns at their values, re-solve the LP in place; its column values, or None."""
    import highspy
    import numpy as np

    highs = model.prob.solverModel
    indices = np.fromiter(fixes, dtype=np.int32, count=len(fixes))
    fixed = np.fromiter(fixes.values(), dtype=np.float64, count=len(fixes))
    highs.changeColsBounds(len(fixes), indices, fixed, fixed)
    started = time.perf_counter()
    highs.run()
    model.solver_run_s += time.perf_counter() - started
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return list(highs.getSolution().col_value)


def _fix_binaries(model: Model, bounds: Bounds) -> list[float] | None:
    """Steps 1-2 on the relaxation's values; the column values of the LP with every binary
    fixed, or None. The groups are fixed one at a time, each from the LP re-solved after the
    last (a site and a system chosen apart could be a pool that does not exist)."""
    values: list[float] | None = list(model.prob.solverModel.getSolution().col_value)
    for group, one in _groups(model):
        assert values is not None
        values = _fix_group(model, group, one, values, bounds)
        if values is None:
            return None
    assert values is not None
    switches = _switch_fixes(model, values)
    return _fix_and_solve(model, switches) if switches else values


def _dive(model: Model, integers: list[int], bounds: Bounds) -> list[float] | None:
    """Steps 1-3: the column values of the LP with every integer fixed, or None. (Offering
    HiGHS the binaries alone when rounding fails, for it to complete, made frontier-3y's MIP
    ~10x slower; a restricted MIP over the counts ~3x: neither is done.)"""
    values = _fix_binaries(model, bounds)
    binaries = _all_binaries(model)
    counts = [i for i in integers if i not in binaries]
    if values is None or not counts:
        return values
    rounded = _count_fixes(counts, values)
    solved = _fix_and_solve(model, rounded)
    if solved is not None:
        return solved
    return _fix_and_solve(model, _repair(model, rounded, values))


def _repair(model: Model, rounded: dict[int, float], values: list[float]) -> dict[int, float]:
    """Step 3 again when rounding up broke a row (a site's power cap or max_units in a period):
    the counts that push a broken row further past its bound are rounded down instead."""
    import numpy as np

    lp = model.prob.solverModel.getLp()
    x = np.array(values, dtype=np.float64)
    index = np.fromiter(rounded, dtype=np.int64, count=len(rounded))
    x[index] = np.fromiter(rounded.values(), dtype=np.float64, count=len(rounded))
    matrix = lp.a_matrix_
    starts, rows = np.asarray(matrix.start_), np.asarray(matrix.index_)
    coefs = np.asarray(matrix.value_)
    columns = np.repeat(np.arange(lp.num_col_), np.diff(starts))
    activity = np.bincount(rows, weights=coefs * x[columns], minlength=lp.num_row_)
    over = activity > np.asarray(lp.row_upper_) + USED_TOL
    under = activity < np.asarray(lp.row_lower_) - USED_TOL
    pushes = (over[rows] & (coefs > 0)) | (under[rows] & (coefs < 0))
    culprits = set(columns[pushes].tolist())
    return {
        i: float(math.floor(values[i] + USED_TOL)) if i in culprits else value
        for i, value in rounded.items()
    }


def _all_binaries(model: Model) -> set[int]:
    dicts = (model.site, model.trainer, model.system_choice, model.candidate)
    more = (model.running, model.generates, model.done)
    return {var.index for d in dicts + more for var in d.values()}


@dataclass
class Start:
    """A start for the MIP: a value for every column (a whole plan)."""

    columns: list[int]
    values: list[float]

    def offer(self, highs: object) -> None:
        """Hand the start to HiGHS (it checks it against the model before using it)."""
        import numpy as np

        index = np.array(self.columns, dtype=np.int32)
        values = np.array(self.values, dtype=np.float64)
        highs.setSolution(len(index), index, values)  # type: ignore[attr-defined]


def find_start(model: Model) -> Start | None:
    """A start built from the LP relaxation left in the HiGHS model, or None when the scenario
    leaves it off (solver.incumbent: false, the default) or a restricted LP has no solution. The model's
    bounds and basis are put back as the relaxation left them, so without a start the MIP runs
    exactly as it would have."""
    if not model.scenario.data.solver.incumbent:
        return None
    highs = model.prob.solverModel
    bounds = Bounds(model)
    basis = highs.getBasis()
    integers = [var.index for var in model.prob.variables() if var.cat == pulp.LpInteger]
    try:
        values = _dive(model, integers, bounds)
    finally:
        bounds.restore(model)
        highs.setBasis(basis)
        highs.run()  # the relaxation's optimum again (no iterations): the MIP starts as before
    if values is None:
        return None
    return Start(list(range(len(values))), values)
