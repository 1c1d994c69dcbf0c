"""Solve the model honestly: LP relaxation first (lower bound, shadow prices), then the MIP with
a gap and a time limit; trust values only on a proven or feasible solution status, report the
gap proven, and diagnose infeasibility with penalised slacks instead of saying "Infeasible".

PuLP 3.3 facts this relies on (../shared/DESIGN.md): a time-limited HiGHS MIP reports status 1
with sol_status 2; CBC leaves numbers in variables of an infeasible model; an unbounded MIP reads
"Infeasible" through HiGHS. So we read HiGHS's own model and primal solution statuses (CBC:
PuLP's sol_status, not status; `outcome`), and verify every plan after.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import math
import operator
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pulp

from fleetcore.errors import ConfigError, InfeasibleError, Problem, SolverError
from fleetcore.schema import MAX_UNITS
from fleetcore.yamlio import Doc
from planner.lp.build import build
from planner.lp.incumbent import LARGE_COLUMNS, find_start, searches
from planner.lp.linear import GE, LE, Affine, LinearProblem, Row, expr, from_pulp, to_pulp
from planner.lp.model import FAMILIES, Label, Model, Pairs, Period, UKey, Var
from planner.lp.race import can_race, race
from planner.lp.unitbound import WORK_FAMILIES, CutLP, cut_lp, whole_unit_bound
from planner.rows import WHOLE_UNIT_NOTE

PROVEN = pulp.LpSolutionOptimal  # 1
FEASIBLE = pulp.LpSolutionIntegerFeasible  # 2

# How a solve ended, told apart the same way for HiGHS and CBC (`outcome`).
OPTIMAL = "optimal"  # proven within the gap
INCUMBENT = "feasible"  # a solution, not proven (a MIP stopped by its time limit)
INFEASIBLE = "infeasible"  # proven: no solution exists
UNBOUNDED = "unbounded"
TIME_LIMIT = "time limit"  # stopped by a limit with no solution in hand
TROUBLED = "numerical trouble"  # the solver gave up (solve error, unknown status)
# Values below this are solver noise, not a resource in use (units, cores, GB/s, fractions).
ZERO_TOL = 1e-6


@dataclass
class SolveStats:
    solver: str
    method: str
    lp_s: float
    mip_s: float
    lower_bound_usd: float | None  # best proven bound: no plan can cost less
    lp_relaxation_usd: float | None  # LP relaxation optimum (a weaker bound)
    objective_usd: float | None
    gap: float | None  # (objective - best bound) / objective, as proven by the solver
    sol_status: int
    variables: int
    constraints: int
    gap_target: float  # the relative gap asked for (the scenario's, or an override)
    # How the gap was proven: "mip" (the solver's branch and bound), "rounded" (a plan rounded
    # from the LP relaxation within the gap of its bound, no MIP search), "relaxed" (--relax),
    # ROUNDED_AGGREGATED and ROUNDED_AGGREGATED_FULL (solver.bound auto: `solve_model`).
    proof: str = "mip"


def make_solver(
    name: str, mip: bool, gap: float, time_limit_s: float, method: str
) -> pulp.LpSolver:
    if name == "highs":
        if not pulp.HiGHS().available():
            raise SolverError(
                "HiGHS (highspy) is not installed: pip install highspy, or use --solver cbc"
            )
        options = {} if method == "choose" else {"solver": method}
        return pulp.HiGHS(
            mip=mip, msg=False, gapRel=gap, timeLimit=time_limit_s, threads=1, **options
        )
    if name == "cbc":
        with warnings.catch_warnings():
            # PuLP 3.3 flags its bundled CBC for removal in PuLP 4; 3.3 is the line we pin, and
            # the bundled binary is what makes the fallback work with no extra install.
            warnings.filterwarnings(
                "ignore", message="PULP_CBC_CMD is deprecated", category=DeprecationWarning
            )
            solver = pulp.PULP_CBC_CMD(mip=mip, msg=False, gapRel=gap, timeLimit=time_limit_s)
        if not solver.available():
            raise SolverError("CBC is not available in this PuLP installation; use --solver highs")
        return solver
    raise SolverError(f"unknown solver {name!r} (highs or cbc)")


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """highspy prints a banner on stdout (file descriptor 1) when a model is created, before
    PuLP can switch output off; it would corrupt `--json` output, so fd 1 goes to /dev/null
    while the solver runs. Nested uses are free: only the outermost one redirects (a plan's
    solve takes one for all its runs: `solve_model`; eight pairs of dup2 cost ~0.1 ms a sweep
    point). fd 1 is the process's: the count is too, under a lock, so with threads solving at
    once the first in redirects and the last out puts fd 1 back (a bare global count let the
    first thread out restore fd 1 under the others and went negative, redirecting never
    again)."""
    global _QUIET_DEPTH, _QUIET_SAVED
    with _QUIET_LOCK:
        if _QUIET_DEPTH == 0:
            sys.stdout.flush()
            saved = os.dup(1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 1)
            except BaseException:
                os.close(saved)
                raise
            finally:
                os.close(devnull)
            _QUIET_SAVED = saved
        _QUIET_DEPTH += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET_DEPTH -= 1
            if _QUIET_DEPTH == 0 and _QUIET_SAVED is not None:
                sys.stdout.flush()
                os.dup2(_QUIET_SAVED, 1)
                os.close(_QUIET_SAVED)
                _QUIET_SAVED = None


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """numpy's large arrays on ordinary pages while inside: numpy asks the kernel for
    transparent huge pages (madvise MADV_HUGEPAGE) for every array of 4 MiB or more, and where
    the kernel's THP `defrag` setting is `madvise` (this project's machines) each first touch
    of such memory may compact memory to find a free 2 MiB page, in the kernel, while the
    process waits. The fast path's arrays (`_solve_fast`: the relaxed aggregated LP's
    aggregation, the rounding's row checks) are tens of MB made and dropped once a plan, so at
    50 sites x 5 systems x 24 months the aggregation's first call took 0.71 s where a second
    call on the same arrays took 0.37 s: 0.32 s of it system time (29.6k minor page faults
    against 7k), 0.09-0.40 s over runs; with ordinary pages 0.15 s (bench/bench_lp.py, README
    "Session 21"). Nothing computed changes: the same arrays, on other pages. numpy's setting
    is the process's, so nested and threaded uses are counted under a lock: the first in turns
    it off, the last out puts back what it was. A numpy without the setting: nothing done."""
    global _PAGES_DEPTH, _PAGES_SAVED
    setter = _madvise_setter()
    if setter is None:
        yield
        return
    with _PAGES_LOCK:
        if _PAGES_DEPTH == 0:
            _PAGES_SAVED = bool(setter(False))
        _PAGES_DEPTH += 1
    try:
        yield
    finally:
        with _PAGES_LOCK:
            _PAGES_DEPTH -= 1
            if _PAGES_DEPTH == 0:
                setter(_PAGES_SAVED)


def _madvise_setter() -> Any:
    """numpy's private huge-page switch, `_set_madvise_hugepage(enabled) -> previous`:
    numpy._core.multiarray on numpy 2, numpy.core.multiarray on numpy 1.x (pyproject allows
    1.26, whose numpy module has no `_core` attribute; review21: the lookup found nothing there
    and small_pages did nothing); None when neither has it. numpy 2's `numpy.core` is not read
    (a deprecated alias that warns)."""
    import numpy as np

    core = getattr(np, "_core", None)
    if core is None and np.lib.NumpyVersion(np.__version__) < "2.0.0":
        core = getattr(np, "core", None)
    return getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)


_PAGES_DEPTH = 0  # small_pages's nesting, over every thread of the process
_PAGES_SAVED = True  # numpy's huge-page setting before the outermost small_pages
_PAGES_LOCK = threading.Lock()

_QUIET_DEPTH = 0  # _quiet_stdout's nesting, over every thread of the process
_QUIET_SAVED: int | None = None  # fd 1 as it was before the outermost _quiet_stdout
_QUIET_LOCK = threading.Lock()


def _run(model: Model, solver: pulp.LpSolver, deadline: float | None = None) -> tuple[str, float]:
    """Solve through PuLP. With HiGHS, PuLP's own steps (configure, transfer the model, run,
    read values) are called one by one so that the time inside HiGHS's run is measured alone:
    the benchmark's overhead ratio needs it (HiGHS's getRunTime counts the transfer too).
    `deadline` (time.perf_counter()): HiGHS is also interrupted at it (`_stop_at`)."""
    started = time.perf_counter()
    try:
        with _quiet_stdout():
            if isinstance(solver, pulp.HiGHS):
                prob = model.prob
                from planner.lp.transfer import transfer  # PuLP's two steps, from arrays

                transfer(prob, solver)
                model.scaled_highs = False
                _scale_objective(prob.solverModel)
                _choose_method(prob.solverModel, solver)
                _scale_matrix(prob.solverModel)
                if deadline is not None:
                    _stop_at(prob.solverModel, deadline)
                run_started = time.perf_counter()
                highs = prob.solverModel
                raced = None
                if can_race(highs, solver.mip) and not model.scenario.data.solver.reproducible:
                    raced = race(highs)
                if raced is None:
                    solver.callSolver(prob)
                else:
                    model.solver_notes.append(RACED_NOTE.format(method=raced))
                model.solver_run_s += time.perf_counter() - run_started
                _read_highs(model, solver)
                if solver.mip and outcome(prob) == TROUBLED and _tiny_needs(model):
                    return _run_scaled(model, solver, started)
            else:
                with _tiny_work_scaled(model):
                    theirs, columns = to_pulp(model.prob)
                    theirs.solve(solver)
                    from_pulp(model.prob, theirs, columns)
    except pulp.PulpSolverError as exc:
        raise SolverError(f"the solver failed: {exc}") from None
    return outcome(model.prob), time.perf_counter() - started


def _run_scaled(model: Model, solver: pulp.HiGHS, started: float) -> tuple[str, float]:
    """HiGHS's MIP once more, after numerical trouble, with every tiny allocation in units of
    its need (`_tiny_work_scaled`, as CBC solves them), in a HiGHS model of its own; its values
    are read back times the need. A tier of one request a day beside CPU servers put
    coefficients of 1.3e-3 to 8.3e9 in the matrix, and HiGHS's MIP presolve left violations its
    postsolve could not undo (a solve error, exit 3); with the allocations scaled they span
    1.5e-9 to 73 and the MIP is solved. The model stays scaled in HiGHS
    (model.scaled_highs): it is not polished or tightened, as CBC's plans are not, and the
    verifier judges it; `_repair` catches work the scaled unit rows let through on no unit.
    A solver note says so. Returns the outcome and the seconds since `started`."""
    from planner.lp.transfer import transfer

    try:
        with _quiet_stdout(), _tiny_work_scaled(model):
            transfer(model.prob, solver)
            model.scaled_highs = True
            run_started = time.perf_counter()
            solver.callSolver(model.prob)
            model.solver_run_s += time.perf_counter() - run_started
            _read_highs(model, solver)
    except pulp.PulpSolverError as exc:
        raise SolverError(f"the solver failed: {exc}") from None
    if SCALED_NOTE not in model.solver_notes:
        model.solver_notes.append(SCALED_NOTE)
    return outcome(model.prob), time.perf_counter() - started


# The plan's solver_notes when HiGHS's MIP was solved again with tiny allocations scaled.
SCALED_NOTE = (
    "HiGHS ran into numerical trouble on the whole-unit plan (coefficients spanning too many "
    "orders of magnitude: a demand tiny beside a unit's rate), so the MIP was solved again "
    "with each tiny allocation in units of its need, as CBC solves it; that plan is not "
    "polished"
)


# The plan's solver_notes when the relaxation was raced (solver.reproducible: false).
RACED_NOTE = (
    "the LP relaxation was raced, dual simplex against interior point (solver.reproducible: "
    "false), and {method} finished first: where the optimum is not unique, a plan of the same "
    "cost may differ from run to run; solver.reproducible: true (the default) gives the same "
    "plan on every run"
)


# HiGHS calls costs above this "excessively large" (its log suggests scaling the objective).
LARGE_COST = 1e6


def _scale_objective(highs, columns: int = LARGE_COLUMNS) -> None:
    """On a large model (LARGE_COLUMNS and up) with costs above LARGE_COST, set HiGHS's
    user_objective_scale to the power of two its own warning suggests, -ceil(log2(max|c| /
    LARGE_COST)): HiGHS scales the costs inside and reports objective and duals unscaled. At
    174k columns (README "Speed") the LP relaxation took 45.6k simplex iterations and 38 s CPU
    with it against 73.5k and 105 s without, to the same optimum. Smaller models are left alone:
    their LPs take under a second, and the scaling can pick another optimal vertex among ties,
    which would change shipped plans for no gain."""
    import numpy as np

    if highs.getNumCol() < columns:
        return
    biggest = float(np.abs(np.asarray(highs.getLp().col_cost_)).max(initial=0.0))
    if biggest > LARGE_COST:
        highs.setOptionValue("user_objective_scale", -math.ceil(math.log2(biggest / LARGE_COST)))


# HiGHS's simplex scaling "max value" (its default is 2, equilibration).
MAX_VALUE_SCALING = 4


def _scale_matrix(highs) -> None:
    """On a large model (LARGE_COLUMNS and up) whose relaxation simplex solves, HiGHS's simplex
    scales the matrix by its largest values instead of equilibrating it. At 174k columns (50
    sites x 20 quarters) the relaxation took 33.5k simplex iterations and 15.6 s CPU with it
    against 45.6k and 40 s, to the same optimum (bare HiGHS on the same model), and the plan
    36 s instead of 44 (README "Speed"); it stays set for the re-solves and the MIP on the same
    model. Not after an interior point relaxation (IPM_COLUMNS): there only the re-solves would
    use it, and at 24 monthly periods they landed on a plan 1.01% over the bound instead of
    0.89%, in more time. Smaller models are left alone, as for the objective."""
    if highs.getNumCol() >= LARGE_COLUMNS and highs.getOptionValue("solver")[1] != "ipm":
        highs.setOptionValue("simplex_scale_strategy", MAX_VALUE_SCALING)


# From this many columns an LP HiGHS would solve by simplex (method "choose") is solved by
# interior point: measured on the fleet benches (README "Speed"), interior point took the
# relaxation from 246 s to 83 s at 205,915 columns (24 monthly periods) and from 251 s to 169 s
# at 368,415 (100 sites), while at 174,215 (50 sites x 20 quarters) simplex was faster (38 s
# against 47 s).
IPM_COLUMNS = 200_000


def _choose_method(highs, solver: pulp.LpSolver) -> None:
    """For an LP of IPM_COLUMNS columns and more where the method is left to HiGHS, interior
    point (the rounded plan's re-solves after it too, `_resolve_as_mip`)."""
    if solver.mip or "solver" in solver.optionsDict:  # a MIP, or a method the scenario chose
        return
    if highs.getNumCol() >= IPM_COLUMNS:
        highs.setOptionValue("solver", "ipm")


# An allocation whose role's work, all of it in one period, needs less than this share of a unit
# is solved by CBC in units of that need (see _tiny_work_scaled).
SCALE_BELOW_UNITS = 1e-3


def _tiny_needs(model: Model) -> dict[str, tuple[Var, float]]:
    """{name: (u[w,r,d,s,p], M)} for the allocations with M = amount / (rate · len_p) below
    SCALE_BELOW_UNITS: the units that would do all of the role's work there in that period."""
    roles = {(d.name, r.name): r for d in model.demands for r in d.roles}
    out = {}
    for (w, r, _, s, p), var in model.u.items():
        role = roles[(w, r)]
        rate, length = role.rates[s].per_unit_s, model.periods[p].length_s
        if role.amount > 0 and rate > 0 and length > 0:
            need = role.amount / (rate * length)
            if need < SCALE_BELOW_UNITS:
                out[var.name] = (var, need)
    return out


# HiGHS's own bound is not taken on a model with an allocation whose role's work in a period
# needs less than this share of a unit (`proven_status`): its presolve proved a wrong optimum
# with needs down to 1.6e-8 (a tiny RL run); bench_lp's fleets, whose smallest need is 3.3e-4
# (an RL run's generate_prefill on a GB200 rack), keep it. Needs in between were not seen to
# fail: 2,575 generated scenarios (tests/test_properties.py's generators, tiers of 1 to 1M
# requests a day; 1,456 planned by both solvers), each plan's bound checked against the other
# solver's cost, found only that case.
HIGHS_BOUND_BELOW_UNITS = 1e-6


def _needs_below(model: Model, units: float) -> bool:
    """Whether an allocation's need M (`_tiny_needs`) is below `units`."""
    return any(need < units for _, need in _tiny_needs(model).values())


@contextlib.contextmanager
def _tiny_work_scaled(model: Model) -> Iterator[None]:
    """CBC scales its rows, so a tiny demand's row (one request a day: 4e8 · u >= 1) becomes
    u >= 2.5e-9, which u = 0 meets within its feasibility tolerance (1e-7): it returned the work
    undone and called it optimal. While CBC runs, such an allocation is a variable in units of
    its need M (u = M · u'): every coefficient of u times M, its upper bound over M; its value
    is read back as M · u'. Then the work is done, and work on too few units (within the
    tolerance on the units row) is what `_repair` commits whole units for. The coefficients
    and bounds are put back exactly as they were."""
    tiny = _tiny_needs(model)
    saved: list[tuple[Affine, Var, float]] = []
    for terms in [model.prob.objective, *model.constraints.values()]:
        for var, coef in list(terms.items()):
            if var.name in tiny:
                saved.append((terms, var, coef))
                terms[var] = coef * tiny[var.name][1]
    bounds = {name: var.upBound for name, (var, _) in tiny.items()}
    for var, need in tiny.values():
        if var.upBound is not None:
            var.upBound = var.upBound / need
    try:
        yield
    finally:
        for terms, var, coef in saved:
            terms[var] = coef
        for name, (var, need) in tiny.items():
            var.upBound = bounds[name]
            if var.varValue is not None:
                var.varValue = var.varValue * need


def outcome(prob: LinearProblem) -> str:
    """How the last solve of `prob` ended. PuLP's statuses alone blur it: its HiGHS reader maps
    a time limit to "integer feasible" whenever HiGHS holds any objective value (an interrupted
    LP's iterate is no solution), and its CBC reader maps "Integer infeasible" to no solution
    found, the same as a time limit. So HiGHS's own model status and primal solution status are
    read; for CBC, PuLP's status (Infeasible covers integer infeasibility; Not Solved means
    stopped, on time, with no incumbent)."""
    highs = getattr(prob, "solverModel", None)
    if highs is not None and hasattr(highs, "getModelStatus"):
        return _highs_outcome(highs)
    if prob.sol_status == PROVEN:
        return OPTIMAL
    if prob.sol_status == FEASIBLE:
        return INCUMBENT
    return {
        pulp.LpStatusInfeasible: INFEASIBLE,
        pulp.LpStatusUnbounded: UNBOUNDED,
        pulp.LpStatusNotSolved: TIME_LIMIT,
    }.get(prob.status, TROUBLED)


def _highs_outcome(highs) -> str:
    import highspy

    status = highs.getModelStatus()
    kind = highspy.HighsModelStatus
    if status == kind.kOptimal:
        return OPTIMAL
    if status in (kind.kInfeasible, kind.kUnboundedOrInfeasible):
        return INFEASIBLE  # an unbounded model is a bug; its diagnosis says it is unbounded
    if status == kind.kUnbounded:
        return UNBOUNDED
    limits = (
        kind.kTimeLimit,
        kind.kIterationLimit,
        kind.kInterrupt,
        kind.kObjectiveBound,
        kind.kObjectiveTarget,
        kind.kSolutionLimit,
    )
    if status in limits:
        has_solution = highs.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
        return INCUMBENT if has_solution else TIME_LIMIT
    return TROUBLED


class TimeLimitError(SolverError):
    """No plan: solver.time_limit ran out first (exit 3, as any solver failure). Told apart
    from numerical trouble so that a re-solve after a plan was found (planner/api.py's
    re-rating) keeps that plan instead of failing the command."""


def _trouble(what: str, how: str, time_limit_s: float) -> SolverError:
    """The SolverError (exit 3) of a solve that ended without a usable answer."""
    if how == TIME_LIMIT:
        return TimeLimitError(
            f"no plan found within the time limit ({time_limit_s:g} s; {what} not finished); "
            "raise solver.time_limit (--time-limit) or the gap (--gap)"
        )
    if how == UNBOUNDED:
        return SolverError(f"the {what} is unbounded: a cost or a bound is missing (a bug)")
    return SolverError(
        f"the solver ran into numerical trouble on the {what} (status: {how}); the scenario's "
        "figures may span too many orders of magnitude: check for huge or tiny figures, or try "
        "--solver cbc"
    )


def _resolve_as_mip(
    model: Model, solver: pulp.LpSolver, lower: float, gap: float
) -> tuple[str, float, bool]:
    """Re-solve the HiGHS model PuLP left from the LP relaxation as the MIP, in place: restore
    integrality and the MIP options instead of handing PuLP's model to HiGHS a second time
    (about 1 s at 60k variables). Values are read back by PuLP's own HiGHS reader. First, when
    the scenario asks for one, a start is built from the relaxation (planner/lp/incumbent.py):
    if it is within `gap` of the relaxation's bound `lower` it is the plan and the MIP is not
    run; with solver.incumbent: auto it is the plan in any case (`searches`), "feasible" with
    its gap above the target. The flag returned says whether the MIP ran (else HiGHS holds no
    MIP bound). After an interior point relaxation the start's re-solves try simplex from the
    last basis within a budget and fall back to interior point (incumbent.py `_resolve`): by
    interior point alone each re-solve starts cold (15-31 s at 369k columns), by simplex alone
    some take 30k iterations. What follows the start (polish, MIP) is simplex, HiGHS's choice,
    warm from the last basis."""
    import highspy

    highs = model.prob.solverModel
    started = time.perf_counter()
    keep = not searches(model)  # solver.incumbent: auto - the start is the plan either way
    with _quiet_stdout():
        start = find_start(model, _acceptable(model, lower, gap), keep)
    highs.setOptionValue("solver", "choose")
    if start is not None and (start.proven or keep):
        _read_highs(model, solver)
        how = outcome(model.prob) if start.proven else INCUMBENT  # a plan, gap above target
        return how, time.perf_counter() - started, False
    integer = [var.index for var in model.prob.variables() if var.cat == pulp.LpInteger]
    for index in integer:
        highs.changeColIntegrality(index, highspy.HighsVarType.kInteger)
    highs.setOptionValue("mip_rel_gap", float(solver.gapRel))
    highs.setOptionValue("time_limit", float(solver.timeLimit))
    _run_mip(model, solver, start.offer if start is not None else None)
    return outcome(model.prob), time.perf_counter() - started, True


def _run_mip(model: Model, solver: pulp.LpSolver, offer: Callable[[Any], None] | None) -> None:
    """Run HiGHS's MIP on the model in place (`offer` hands it a start first) and read the
    values back."""
    highs = model.prob.solverModel
    try:
        with _quiet_stdout():
            if offer is not None:
                offer(highs)
            run_started = time.perf_counter()
            highs.run()
            model.solver_run_s += time.perf_counter() - run_started
            _read_highs(model, solver)
    except Exception as exc:  # highspy raises plain RuntimeErrors
        raise SolverError(f"the solver failed: {exc}") from None


def _tighten(
    model: Model, solver: pulp.LpSolver, bound: float, gap: float
) -> tuple[str, float, float]:
    """When HiGHS stops "optimal" at its gap but the plan it returned is over `gap` on the
    plan's own cost (its reported objective can sit under c·x of the solution it hands back:
    0.2% on frontier-3y present_value, session 25), run the MIP once more from that solution
    with the relative gap asked shrunk by the excess, g' = g_asked x g / g_plan, and read it
    back; up to TIGHTEN_ROUNDS times while the plan stays over `gap` against the bound given,
    a round that returned no cheaper plan halving the gap asked (frontier-3y present_value,
    session 29: one round left the plan 1.04% over its bound, HiGHS holding it within the
    shrunk gap by its own objective), until a round stops other than optimal (a time limit).
    The bound tested is the best proven so far: a round's MIP bound (valid for the unchanged
    model) that rises above it lifts it, so a plan within `gap` of it stops the rounds, and a
    later round's lower bound (its search began anew) does not lower it.
    Returns (outcome, the best bound, seconds): the bound given, or higher, never None."""
    started = time.perf_counter()
    how = OPTIMAL
    previous = math.inf
    for _ in range(TIGHTEN_ROUNDS):
        objective = pulp.value(model.prob.objective)
        if not objective or (objective - bound) / objective <= gap + GAP_SLACK:
            break
        highs = model.prob.solverModel
        asked = float(highs.getOptionValue("mip_rel_gap")[1])
        # a round that returned the same plan: HiGHS holds it within the shrunk gap by its own
        # objective, so the next asks for half
        shrink = gap * objective / (objective - bound) if objective < previous else 0.5
        previous = objective
        highs.setOptionValue("mip_rel_gap", asked * shrink)
        _run_mip(model, solver, lambda h: h.setSolution(h.getSolution()))
        how, highs_bound = outcome(model.prob), _highs_bound(model)
        if highs_bound is not None:
            bound = max(bound, highs_bound)
        if how != OPTIMAL:
            break
    return how, bound, time.perf_counter() - started


# Rounds of `_tighten` at most (each a MIP run from the plan in hand).
TIGHTEN_ROUNDS = 3


def _stop_at(highs, deadline: float) -> None:
    """Interrupt HiGHS's simplex, interior point and MIP at `deadline` (time.perf_counter()):
    the relaxation, the rounded plan's re-solves and the MIP together keep to
    solver.time_limit. HiGHS's own limit counts the same runs but is not checked everywhere: at
    174k columns its MIP root heuristics ran 10.7 min under a 300 s limit, at 205k columns (24
    monthly periods) past 1,500 s. An interrupted run reads like a time limit
    (`_highs_outcome`)."""

    def stop(event) -> None:
        if time.perf_counter() > deadline:
            event.interrupt()

    highs.cbSimplexInterrupt += stop
    highs.cbIpmInterrupt += stop  # the rounded plan's re-solves after an interior point relaxation
    highs.cbMipInterrupt += stop


def _acceptable(model: Model, lower: float, gap: float) -> float | None:
    """The largest objective, as HiGHS holds it (PuLP's constant C left out), of a plan proven
    within the relative gap g by the relaxation's bound L alone: (S + C - L) / (S + C) <= g,
    i.e. S <= L / (1 - g) - C. None when L is not positive (no relative gap is proven then)."""
    if lower <= 0 or gap >= 1:
        return None
    return lower / (1.0 - gap) - float(model.prob.objective.constant)


def _read_highs(model: Model, solver: pulp.LpSolver) -> None:
    """Read HiGHS's values into PuLP's variables when it holds a solution; otherwise leave them.
    PuLP's reader has no entry for some limit statuses (a solution limit): it raises KeyError
    after it has read the values, so the solution is then an incumbent."""
    how = _highs_outcome(model.prob.solverModel)
    if how in (OPTIMAL, INCUMBENT):
        try:
            status, sol_status = solver.findSolutionValues(model.prob)
        except KeyError:
            status, sol_status = pulp.LpStatusOptimal, FEASIBLE
        model.prob.assignStatus(status, sol_status)
        _record_objective(model)
    else:
        model.prob.assignStatus(pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound)


def _polish(model: Model, solver: pulp.LpSolver) -> None:
    """Fix every integer column at its rounded MIP value and re-solve the rest as an LP, in
    place. A MIP solution may hold a binary at 1e-6 (the solver's integrality tolerance), which
    through a big-M row (u <= max_units · y) lets a one-site job put a sliver of its work on a
    second site; with the integers exact, those rows are exact. If the fixed LP has no solution
    (rounding moved a row past its tolerance), the MIP's values are kept. A binary of
    model.idle_binaries whose columns are all at most VALUE_ZERO is fixed at 0: at 1 it only
    costs (a weight flow to an RL site that generates nothing), which the MIP's gap let
    stand."""
    import highspy

    highs = model.prob.solverModel
    integer = [var for var in model.prob.variables() if var.cat == pulp.LpInteger]
    if not integer:
        return
    idled = [
        (binary, binary.value() or 0.0)
        for binary, enabled in model.idle_binaries
        if all((var.value() or 0.0) <= VALUE_ZERO for var in enabled)
    ]
    for binary, _ in idled:
        binary.varValue = 0.0
    # one column at a time: HiGHS's batch calls (changeColsIntegrality, changeColsBounds) to the
    # same end state moved frontier-3y's golden plan (its re-solve took another path)
    bounds = [(var.index, float(round(var.value() or 0.0))) for var in integer]
    for index, value in bounds:
        highs.changeColIntegrality(index, highspy.HighsVarType.kContinuous)
        highs.changeColBounds(index, value, value)
    try:
        with _quiet_stdout():
            run_started = time.perf_counter()
            highs.run()
            model.solver_run_s += time.perf_counter() - run_started
            if highs.getModelStatus() == highspy.HighsModelStatus.kOptimal:
                status, sol_status = solver.findSolutionValues(model.prob)
                model.prob.assignStatus(status, sol_status)
                _record_objective(model)
            else:
                for binary, value in idled:
                    binary.varValue = value
    except Exception as exc:  # highspy raises plain RuntimeErrors
        raise SolverError(f"the solver failed: {exc}") from None


def _record_objective(model: Model) -> None:
    """HiGHS's objective at the values just read, plus the constant PuLP does not hand it."""
    value = model.prob.solverModel.getInfo().objective_function_value
    model.solver_objective_usd = float(value) + float(model.prob.objective.constant)


def _highs_bound(model: Model) -> float | None:
    highs = getattr(model.prob, "solverModel", None)
    if highs is None:
        return None
    try:
        bound = highs.getInfo().mip_dual_bound
    except AttributeError:
        return None
    if abs(bound) >= 1e300:
        return None
    # PuLP hands HiGHS the objective without its constant term; add it back.
    return float(bound) + float(model.prob.objective.constant)


def solver_gap(gap: float, lower: float, model: Model) -> float:
    """The relative gap to ask of the solver so that *our* gap is within `gap`.

    PuLP hands the solver the objective without its constant; owned units make that constant
    negative (their sunk capex is subtracted), so the solver's objective is larger than ours and
    its relative gap looser. With C < 0 and the LP bound L <= optimum, asking for
    gap x L / (L - C) guarantees (cost - bound) / cost <= gap."""
    constant = float(model.prob.objective.constant)
    if constant >= 0 or lower <= 0:
        return gap
    return gap * lower / (lower - constant)


# HiGHS refuses matrix values of 1e15 and more (its large_matrix_value): it drops the rows that
# hold them and reports the rest optimal (PuLP's reader then fails with an IndexError); 1e20 is
# its infinity. CBC takes them and returns a plan that fails verification.
MAX_COEFFICIENT = 1e15


# A row's constant (the terms' constant moved to its bound), read in one pass.
_CONSTANT = operator.attrgetter("constant")


def check_magnitudes(model: Model) -> None:
    """Refuse, as bad input naming the scenario field behind it, a row or objective coefficient
    the solvers cannot hold (a demand of 1e-12 requests a day, a figure in the wrong unit)."""
    problems: dict[tuple[str, ...], Problem] = {}
    for label, con in _large_rows(model):
        biggest = max(map(abs, con.values()), default=0.0)
        if biggest >= MAX_COEFFICIENT or abs(con.constant) >= MAX_COEFFICIENT:
            loc = _field_of(label)
            problems.setdefault(
                loc,
                model.scenario.doc.problem(
                    loc,
                    f"its figures give the model a coefficient of {max(biggest, abs(con.constant)):.3g} "
                    f"(row {label}); the solver holds at most {MAX_COEFFICIENT:g}: check the "
                    "magnitude and unit of this input (a demand too small or a figure too large)",
                ),
            )
    for label, con in _work_rows(model):
        reach = sum(v for v in con.values() if v > 0)
        if 0 < reach * MAX_UNITS < 1:
            loc = _field_of(label)
            problems.setdefault(
                loc,
                model.scenario.doc.problem(
                    loc,
                    f"its work needs more than {MAX_UNITS:.0e} units of every system that can "
                    f"run it (row {label}: a unit does at most {reach:.3g} of it); the solver "
                    f"plans with at most {MAX_UNITS:.0e} units: check the magnitude and unit of "
                    "this input",
                ),
            )
    biggest = max(map(abs, model.prob.objective.values()), default=0.0)
    if biggest >= MAX_COEFFICIENT:
        problems[()] = model.scenario.doc.problem(
            (),
            f"a cost coefficient of {biggest:.3g} US$ (the solver holds at most "
            f"{MAX_COEFFICIENT:g}): check prices and their units",
        )
    if problems:
        raise ConfigError(list(problems.values()))


def _large_rows(model: Model) -> Iterable[tuple[Label, Row]]:
    """The labelled rows, or none when no coefficient or right-hand side of any reaches
    MAX_COEFFICIENT: one pass over all coefficients at once (into one array, its largest
    magnitude in numpy; a min and a max pass in Python took twice the time at 835k
    coefficients), the row by row scan only to name the rows that do."""
    import numpy as np

    rows = model.constraints.values()
    chain = itertools.chain.from_iterable
    count = sum(map(len, rows))
    values = np.fromiter(chain(map(dict.values, rows)), dtype=float, count=count)
    constants = np.fromiter(map(_CONSTANT, rows), dtype=float, count=len(rows))
    biggest = max(np.abs(values).max(initial=0.0), np.abs(constants).max(initial=0.0))
    if biggest < MAX_COEFFICIENT:
        return ()
    return model.constraints.items()


def _work_rows(model: Model) -> Iterable[tuple[Label, Row]]:
    """The work rows (WORK_FAMILIES; coefficient of a unit: rate · period / work): past
    MAX_UNITS units of work the coefficients fall under HiGHS's small_matrix_value (1e-9),
    which drops them, and the plan became "infeasible even with every demand relaxed"."""
    return (
        (label, con) for label, con in model.constraints.items() if label.family in WORK_FAMILIES
    )


def _field_of(label: Label) -> tuple[str, ...]:
    """The scenario location behind a row: its workload, or the topology for a site or link."""
    entity = FAMILIES[label.family].entity
    if entity.startswith("workload"):
        return ("workloads", label.entity[0])
    if entity.startswith(("datacenter", "link")):
        return ("topology",)
    return ()


def solve_model(
    model: Model,
    solver: str,
    gap: float,
    time_limit_s: float,
    method: str,
    relax_only: bool,
    deadline: float | None = None,
    diagnose_infeasible: bool = True,
) -> SolveStats:
    """Solve in place: the LP relaxation (bound, duals), then unless relax_only the MIP.
    Raises InfeasibleError (with a diagnosis), SolverError, or ConfigError for coefficients
    the solver cannot hold. Where the fast bound applies (`_fast_applies`), the plan is first
    rounded against the relaxed aggregated LP's bound (`_solve_fast`); when that finds no plan
    within the gap (or fails: any exception but a diagnosis is caught, and noted), the full
    path runs with what is left of `time_limit_s` (the limit bounds the whole solve) and
    `_keep` picks the plan. With nothing left, the fast plan is the answer if there is one,
    else the full path's time limit error. Why the full path ran goes to model.solver_notes
    (the plan JSON's `solver_notes`, printed by the report).

    `deadline` (time.perf_counter()): when solver.time_limit ends for the whole plan
    (planner/api.py `solve` starts it; default: `time_limit_s` from now). Every run below, the
    diagnosis of an infeasible model included, gets what is left of it; with nothing left the
    relaxation does not run (TimeLimitError, naming the limit). diagnose_infeasible=False: an
    infeasible model's InfeasibleError comes without the diagnosis (`_undiagnosed`)."""
    check_magnitudes(model)
    model.diagnose_infeasible = diagnose_infeasible
    if deadline is None:
        deadline = time.perf_counter() + time_limit_s
    if deadline - time.perf_counter() <= 0:
        raise TimeLimitError(
            f"no plan found within the time limit ({time_limit_s:g} s): it was used up before "
            "the LP relaxation could run (rating the workloads, building the model, earlier "
            "solves); raise solver.time_limit (--time-limit)"
        )
    with _quiet_stdout():  # one redirection for every run below
        stats = _solve_model(model, solver, gap, time_limit_s, method, relax_only, deadline)
    return within_target(model, stats)


def within_target(model: Model, stats: SolveStats) -> SolveStats:
    """A plan is proven ("optimal") only if its gap, (objective - bound) / objective on the
    plan's own cost, is within the target (+ GAP_SLACK); else it is "feasible", with a note.
    The solver's own "optimal" is not enough: HiGHS's MIP reported an objective 0.2% under
    the cost of the solution it handed back (frontier-3y present_value, session 25: 2,557.35M
    against c·x = 2,562.96M, PuLP's constant left out), so its 0.94% gap was 1.14% on the
    plan."""
    if stats.sol_status != PROVEN or stats.gap is None or stats.gap <= stats.gap_target + GAP_SLACK:
        return stats
    model.solver_notes.append(
        f"the solver stopped at its {stats.gap_target:.2%} gap target, but the plan it returned "
        f"is {stats.gap:.2%} over the best bound: feasible, not proven within the target"
    )
    return dataclasses.replace(stats, sol_status=FEASIBLE)


def _solve_model(
    model: Model,
    solver: str,
    gap: float,
    time_limit_s: float,
    method: str,
    relax_only: bool,
    deadline: float,
) -> SolveStats:
    if not _fast_applies(model, solver, relax_only):
        budget = _left(deadline)
        return _solve_full(model, solver, gap, time_limit_s, method, relax_only, budget_s=budget)
    try:
        with small_pages():
            fast = _solve_fast(model, gap, time_limit_s, method, deadline)
    except (InfeasibleError, ConfigError):
        raise  # a diagnosis or bad input: the full path would say the same
    except Exception as exc:  # noqa: BLE001 - the fast path is an optimisation, never fatal
        fast = None
        model.solver_notes.append(
            f"the relaxed aggregated bound's path (solver.bound auto) failed "
            f"({type(exc).__name__}: {exc}); the full path ran"
        )
    if fast is not None and fast.gap is not None and fast.gap <= gap:
        return fast
    left = deadline - time.perf_counter()
    then = (
        "the full path ran"
        if left > 0
        else f"no time was left of solver.time_limit ({time_limit_s:g} s) for the full path"
    )
    if fast is not None and fast.gap is not None:
        model.solver_notes.append(
            f"the plan rounded on the relaxed aggregated bound's pools (solver.bound auto) was "
            f"{fast.gap:.2%} over that bound, above the {gap:.2%} target; {then}"
        )
    saved = _Saved(model) if fast is not None else None
    model.full_lp_usd = None
    try:
        if left <= 0:  # the fast path used the whole limit: the full path's own message
            raise _trouble("LP relaxation", TIME_LIMIT, time_limit_s)
        full = _solve_full(model, solver, gap, time_limit_s, method, relax_only, budget_s=left)
    except SolverError as exc:
        # no plan from the full path (its time limit): the fast path's whole-unit plan, its
        # gap (above the target) proven against the best bound known, is the answer
        if saved is None or fast is None or fast.gap is None:
            raise
        saved.restore(model)
        model.solver_notes.append(
            f"the full path ended with no plan ({exc}): this plan is kept"
            if left > 0
            else "this plan is kept (the full path did not run)"
        )
        return _with_bound(fast, model.full_lp_usd, model.full_lp_usd)
    if saved is None or fast is None:
        return full
    kept = _keep(fast, full)
    if kept is full:
        model.solver_notes.append("the full path's plan, as cheap or cheaper, is the plan")
    else:
        saved.restore(model)
        model.solver_notes.append(
            "the full path found no cheaper plan: the plan rounded on the relaxed aggregated "
            "bound's pools is kept, its gap proven against the higher of the two bounds"
        )
    return kept


def _with_bound(fast: SolveStats, bound: float | None, lp_usd: float | None) -> SolveStats:
    """The fast plan's stats with its lower bound the higher of its own (the relaxed aggregated
    LP's) and `bound` (the full model's best bound, when the full path found one: both bound
    every plan from below), its gap recomputed on it, `lp_usd` the full LP relaxation's optimum
    when it was solved, and the proof ROUNDED_AGGREGATED_FULL when the full bound is the
    higher."""

    lower = fast.lower_bound_usd
    if bound is None or lower is None or bound <= lower:
        return dataclasses.replace(fast, lp_relaxation_usd=lp_usd)
    objective = fast.objective_usd
    proven_gap = max(0.0, (objective - bound) / objective) if objective else 0.0
    status = PROVEN if proven_gap <= fast.gap_target else fast.sol_status
    return dataclasses.replace(
        fast,
        lower_bound_usd=bound,
        lp_relaxation_usd=lp_usd,
        gap=proven_gap,
        sol_status=status,
        proof=ROUNDED_AGGREGATED_FULL,
    )


def _keep(fast: SolveStats, full: SolveStats) -> SolveStats:
    """Of the fast plan (its gap over the target) and the full path's plan, both whole-unit
    plans of the same model: the cheaper, proven against the higher of the two lower bounds
    (the relaxed aggregated LP's and the full path's best: each bounds every plan from below).
    On a tie the full path's plan. The full plan's own stats stand (its bound is at least the
    relaxed aggregated one, which relaxes its LP, up to the solvers' tolerances)."""
    if fast.objective_usd is None or fast.gap is None:
        return full
    if full.objective_usd is not None and full.objective_usd <= fast.objective_usd:
        return full
    return _with_bound(fast, full.lower_bound_usd, full.lp_relaxation_usd)


# From this many columns, with solver.incumbent auto (where the rounded start is the plan:
# planner/lp/incumbent.py `searches`) and solver.bound auto, the plan's bound is the relaxed
# aggregated LP's (`_solve_fast`). Tests lower it to run the fast path on small fleets.
FAST_BOUND_COLUMNS = LARGE_COLUMNS


def _fast_applies(model: Model, solver: str, relax_only: bool) -> bool:
    """Whether `_solve_fast` is tried: HiGHS, a plan (not --relax), solver.bound auto,
    solver.incumbent auto and FAST_BOUND_COLUMNS columns or more."""
    options = model.scenario.data.solver
    return (
        solver == "highs"
        and not relax_only
        and options.bound == "auto"
        and options.incumbent == "auto"
        and len(model.prob.variables()) >= FAST_BOUND_COLUMNS
    )


class _Saved:
    """A plan's values in the PuLP model (column values, status, HiGHS's objective, duals), to
    put back after another solve of the same model."""

    def __init__(self, model: Model) -> None:
        self.values = [var.varValue for var in model.prob.variables()]
        self.status = (model.prob.status, model.prob.sol_status)
        self.objective = model.solver_objective_usd
        self.duals = dict(model.duals)

    def restore(self, model: Model) -> None:
        for var, value in zip(model.prob.variables(), self.values, strict=True):
            var.varValue = value
        model.prob.assignStatus(*self.status)
        model.solver_objective_usd = self.objective
        model.duals = self.duals


def _solve_fast(
    model: Model, gap: float, time_limit_s: float, method: str, deadline: float
) -> SolveStats | None:
    """The plan proven against the relaxed aggregated LP's bound, or None (then the full path
    runs: `solve_model`).

    1. The bound: the LP as HiGHS holds it, each serving tier's colocate rows summed over the
       sites and its serving columns aggregated exactly (planner/lp/aggregate.py), solved by
       HiGHS's simplex with the planner's objective scaling. A sum of rows is implied by them,
       so every solution of the LP relaxation solves the relaxed LP: its optimum is at most the
       LP relaxation's, itself at most any whole-unit plan's; the aggregation keeps the optimum
       (aggregate.py). So the relaxed aggregated optimum L bounds every plan from below.
    2. The pools (site, system) its solution uses (any column of the pool above
       incumbent.USED_TOL once mapped back: units, orders, contracts, rentals, the split of the
       aggregated busy units) define the restricted LP: the full model with every other pool's
       columns fixed at 0 (the incumbent's idle-pool mechanism). Solved as the relaxation
       would be (planner's method, scaling); it stands in for the relaxation: the rounding
       starts from its values and basis. The plan's shadow prices are the bound's duals
       mapped to the full model's rows (each colocate row its sum's dual): dual feasible for
       the full LP, optimal where the bound equals the LP relaxation's optimum.
    3. The start is rounded as ever (`find_start`, the start kept as the plan) and its gap
       proven against L: (plan - L) / plan.
    None when no block aggregates, the relaxed or the restricted LP is not optimal, no start
    is found, or the rounded plan needs a repair (`_repair` would change the model the full
    path then solves); why goes to model.solver_notes. A plan outside the gap is returned for
    `solve_model` to compare. Every step keeps to `deadline` (solver.time_limit from the start
    of the solve): each LP gets what is left of it, and HiGHS is interrupted at it
    (`_stop_at`) from the restricted LP on. The whole-unit bound (planner/lp/unitbound.py) is
    not tried here: it solves the full LP with its cuts, 49 s at 120k columns (bench_lp 30 sites
    x 5 systems, 24 quarters, scale 1.2) against 8.6 s for this whole path, and raised that
    plan's bound by 0.0006%; a plan over the target goes to the full path, which tries it."""
    import highspy
    import numpy as np

    from planner.lp import aggregate
    from planner.lp.incumbent import USED_TOL, pool_columns
    from planner.lp.transfer import handed_matrix, transfer

    started = time.perf_counter()
    lp_solver = make_solver("highs", False, gap, _left(deadline), method)
    constant = float(model.prob.objective.constant)
    with _quiet_stdout():
        transfer(model.prob, lp_solver)
        highs = model.prob.solverModel
        keys = {var.index: key for key, var in model.u.items()}
        arr = aggregate.from_highs(highs, constant, handed_matrix(model.prob))
        u_columns = np.fromiter(keys, dtype=np.int64, count=len(keys))
        codes = aggregate.codes_of(arr, u_columns, model.u_codes())
        bound = relaxed_bound(arr, keys, _left(deadline), codes=codes)
        if bound is None:
            return _no_fast_plan(
                model,
                "no serving tier's colocate rows aggregated, or the relaxed aggregated LP was "
                "not solved to optimality",
            )
        model.fast_bound = bound
        model.solver_run_s += bound.solve_s  # HiGHS's run on the relaxed aggregated LP
        lower = bound.objective
        values = bound.x
        idle: list[int] = []
        pools = pool_columns(model)  # the rounding's idle pools are found on the same columns
        for columns in pools.values():
            if np.all(np.abs(values[columns]) <= USED_TOL):
                idle.extend(columns)
        if not idle or len(idle) == highs.getNumCol():
            return _no_fast_plan(model, "the relaxed aggregated LP's solution leaves no pool idle")
        _scale_objective(highs)
        _choose_method(highs, lp_solver)
        _scale_matrix(highs)
        index = np.array(idle, dtype=np.int32)
        zero = np.zeros(len(index))
        highs.changeColsBounds(len(index), index, zero, zero)
        # HiGHS counts its limit from this model's first run: what is left now
        highs.setOptionValue("time_limit", _left(deadline))
        _stop_at(highs, deadline)
        run_started = time.perf_counter()
        highs.run()
        model.solver_run_s += time.perf_counter() - run_started
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return _no_fast_plan(
                model, "the LP on the pools the relaxed aggregated LP uses was not optimal"
            )
        _read_highs(model, lp_solver)
    lp_s = time.perf_counter() - started
    # The shadow prices: the bound's duals on the full model's rows (aggregate.py
    # `original_row_duals`), not the restricted LP's (its idle pools fixed at 0 would price
    # capacity as if no other pool could take the work).
    y = bound.row_dual
    model.duals = {label: float(y[row.index]) for label, row in model.constraints.items()}
    size = (len(model.prob.variables()), len(model.constraints))
    mip = make_solver("highs", True, solver_gap(gap, lower, model), _left(deadline), method)
    mip_started = time.perf_counter()
    with _quiet_stdout():
        start = find_start(model, _acceptable(model, lower, gap), keep=True, pools=pools)
    highs.setOptionValue("solver", "choose")
    if start is None:
        return _no_fast_plan(model, "no whole-unit plan was rounded from that LP")
    _read_highs(model, mip)
    how = outcome(model.prob) if start.proven else INCUMBENT
    _check_mip(model, how, "highs", time_limit_s, method, deadline)
    _polish(model, mip)
    placed = _allocations(model)  # read once for both checks: the values stay as they are
    repairs = _repairs_needed(model, placed)
    if repairs:
        return _no_fast_plan(model, f"the rounded plan needed a repair ({'; '.join(repairs)})")
    mip_s = time.perf_counter() - mip_started
    objective = pulp.value(model.prob.objective)
    proven_gap = max(0.0, (objective - lower) / objective) if objective else 0.0
    status = PROVEN if how == OPTIMAL else FEASIBLE
    return SolveStats(
        "highs",
        method,
        lp_s,
        mip_s,
        lower,
        None,  # the LP relaxation is not solved here: its optimum is not known (>= lower)
        objective,
        proven_gap,
        status,
        *size,
        gap,
        ROUNDED_AGGREGATED,
    )


def _repairs_needed(model: Model, placed: list[Allocation]) -> list[str]:
    """What `_repair` would fix in the rounded plan, one phrase per check that fails, each
    with its count (the user reads why the fast path refused its plan in the solver notes: a
    refusal at fleet scale hands the model to the full path, which may not finish)."""
    found = []
    on_no_unit = _work_on_no_unit(model, placed)
    if on_no_unit:
        found.append(f"work on no unit in {len(on_no_unit)} pool-periods")
    off_choice = _work_off_its_choice(model, placed)
    if off_choice:
        found.append(f"work off its chosen site or layout in {len(off_choice)} allocations")
    cores = _cores_on_no_unit(model)
    if cores:
        found.append(
            f"sandbox cores on no unit in {len(cores)} cpu rows (above "
            f"SANDBOX_CORES_ZERO, {SANDBOX_CORES_ZERO:g} cores)"
        )
    return found


# SolveStats.proof of a plan rounded from the LP on the pools the relaxed aggregated LP uses,
# its gap proven by that LP's optimum (`_solve_fast`).
ROUNDED_AGGREGATED = "rounded-aggregated"
# The same plan kept after the full path ran (that plan missed the gap) and found no cheaper
# one, its gap proven by the full path's bound, the higher (`_keep`, `_with_bound`).
ROUNDED_AGGREGATED_FULL = "rounded-aggregated-full-bound"

# Seconds HiGHS is given when the deadline has passed (its time_limit must be positive):
# it stops at once, reading as a time limit.
NO_TIME_S = 1e-3


def _left(deadline: float) -> float:
    """The seconds left until `deadline` (time.perf_counter()), at least NO_TIME_S."""
    return max(NO_TIME_S, deadline - time.perf_counter())


def _no_fast_plan(model: Model, why: str) -> SolveStats | None:
    """`_solve_fast`'s None, with why in model.solver_notes."""
    model.solver_notes.append(
        f"the relaxed aggregated bound's path (solver.bound auto) gave no plan: {why}; the "
        "full path ran"
    )
    return None


def relaxed_bound(arr: Any, keys: dict[int, tuple], time_limit_s: float, codes: Any = None) -> Any:
    """Step 1 of `_solve_fast` on the LP `arr` (planner/lp/aggregate.py Arrays) with its
    allocation columns `keys` ({column: (w, r, d, s, p)}): the relaxed aggregated LP solved by
    HiGHS's simplex (one thread, the planner's objective scaling), as an aggregate.RelaxedBound;
    None when nothing aggregates or the LP is not solved to optimality. `codes`: the
    allocation columns' codes made already (aggregate.codes_of), else made from `keys`."""
    import highspy
    import numpy as np

    from planner.lp import aggregate

    started = time.perf_counter()
    found = aggregate.aggregable(arr, keys, codes)
    if found is None:
        return None
    _, groups, agg = found
    prepared = time.perf_counter()
    holder = LinearProblem("relaxed_aggregated")
    solver = make_solver("highs", False, 0.0, time_limit_s, "simplex")
    solver.createAndConfigureSolver(holder)
    highs = holder.solverModel
    aggregate.load_highs(highs, agg.lp)
    _scale_objective(highs, columns=0)
    run_started = time.perf_counter()
    highs.run()
    run_s = time.perf_counter() - run_started
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    answer = highs.getSolution()
    x = aggregate.map_back(agg, np.asarray(answer.col_value, dtype=np.float64))
    duals = np.asarray(answer.row_dual, dtype=np.float64)
    return aggregate.RelaxedBound(
        objective=float(highs.getInfo().objective_function_value) + agg.lp.constant,
        x=x,
        row_dual=aggregate.original_row_duals(arr.a.shape[0], groups, agg, duals),
        summed_rows=sum(len(rows) for rows in groups),
        groups=len(groups),
        blocks=len(agg.blocks),
        columns=agg.lp.a.shape[1],
        prepare_s=prepared - started,
        solve_s=run_s,
    )


def _solve_full(
    model: Model,
    solver: str,
    gap: float,
    time_limit_s: float,
    method: str,
    relax_only: bool,
    budget_s: float | None = None,
) -> SolveStats:
    """Today's path: the full LP relaxation, then the rounded start or the MIP. The solvers get
    `budget_s` (what the fast path left of the limit; default the whole `time_limit_s`); the
    messages quote `time_limit_s`, the scenario's limit. The relaxation's optimum, once proven,
    is also left in model.full_lp_usd (a bound `solve_model` may still use if what follows
    fails)."""
    budget = time_limit_s if budget_s is None else budget_s
    deadline = time.perf_counter() + budget
    how, lp_s = _run(model, make_solver(solver, False, gap, budget, method))
    _check_relaxation(model, how, solver, time_limit_s, method, deadline)
    _cbc_objective(model, solver)
    lower = pulp.value(model.prob.objective)
    model.full_lp_usd = lower
    model.duals = {label: c.pi for label, c in model.constraints.items()}
    size = (len(model.prob.variables()), len(model.constraints))
    if relax_only:
        return SolveStats(
            solver, method, lp_s, 0.0, lower, lower, lower, 0.0, PROVEN, *size, gap, "relaxed"
        )
    cuts = cut_lp(model)  # before any repair changes the model
    trusted = solver == "highs" and not _needs_below(model, HIGHS_BOUND_BELOW_UNITS)
    # HiGHS counts its limit over every run on the model (the relaxation's included); CBC's
    # MIP is a new run: what is left
    mip_limit_s = budget if solver == "highs" else _left(deadline)
    mip = make_solver(solver, True, solver_gap(gap, lower, model), mip_limit_s, method)
    if solver == "highs":
        _stop_at(model.prob.solverModel, deadline)
        how, mip_s, searched = _resolve_as_mip(model, mip, lower, gap)
        if how == TROUBLED and _tiny_needs(model):
            mip.timeLimit = _left(deadline)
            how, more_s = _run_scaled(model, mip, time.perf_counter())
            mip_s, searched = mip_s + more_s, True
        # A start proven by the relaxation's bound alone leaves HiGHS with no MIP bound.
        bound = _highs_bound(model) if searched else lower
        if searched and how == OPTIMAL and not model.scaled_highs and trusted:
            how, bound, extra_s = _tighten(model, mip, max(lower, bound or lower), gap)
            mip_s += extra_s
        if not trusted:
            bound = None
            if searched and not model.scaled_highs:
                how, mip_s = _highs_tight_tolerance(model, mip, how, mip_s, lower, gap)
    else:
        (how, mip_s), bound, searched = _run(model, mip), None, True
        how, mip_s, bound = _cbc_without_preprocessing(model, mip, how, mip_s, lower, gap, deadline)
    _check_mip(model, how, solver, time_limit_s, method, deadline)
    if solver == "highs" and not model.scaled_highs:
        # the MIP's status stands: polishing proves nothing new. Not CBC: its own fixed-integer
        # re-solve (tried in session 24) left a weight flow short of what the verifier routes
        # to a sliver of generation, a plan that failed cost_lines.
        _polish(model, mip)
    # Without a solver's bound it takes (`proven_status`), plans are measured against the LP
    # relaxation's optimum, the bound proven here.
    best_bound = max(lower, bound) if bound is not None else lower
    how, mip_s, repaired = _repair(
        model,
        mip,
        how,
        mip_s,
        (solver, time_limit_s, method),
        deadline,
        None if trusted or solver != "highs" else (lower, gap),
    )
    searched = searched or repaired is not None  # a repair solves the MIP again
    _cbc_objective(model, solver)
    objective = pulp.value(model.prob.objective)
    raised = _with_whole_units(model, cuts, best_bound, objective, gap, deadline)
    proven_gap = max(0.0, (objective - raised) / objective) if objective else 0.0
    status = PROVEN if how == OPTIMAL else FEASIBLE
    if raised > best_bound and how == INCUMBENT and proven_gap <= gap + GAP_SLACK:
        # a rounded plan outside the relaxation's gap (no MIP search at this size) or a MIP
        # stopped with an incumbent, proven within the target by the whole-unit bound: W
        # bounds every whole-unit plan, so the plan is proven as any within the gap is
        status = PROVEN
    best_bound = raised
    if repaired is not None:
        # The repaired model's optimum bounds only plans that keep its commitments; the bound
        # proven before them bounds every plan, so the gap is the plan's against it.
        status = PROVEN if how == OPTIMAL and proven_gap <= gap + GAP_SLACK else FEASIBLE
        if not trusted:
            repaired = dataclasses.replace(repaired, bound_usd=None)
        model.solver_notes.append(repair_note(repaired, best_bound, proven_gap, objective))
    elif not trusted:
        status = proven_status(model, solver, how, proven_gap, gap, best_bound)
    return SolveStats(
        solver,
        method,
        lp_s,
        mip_s,
        best_bound,
        lower,
        objective,
        proven_gap,
        status,
        *size,
        gap,
        "mip" if searched else "rounded",
    )


def _with_whole_units(
    model: Model,
    cuts: CutLP | None,
    bound_usd: float,
    objective_usd: float | None,
    gap: float,
    deadline: float,
) -> float:
    """The best bound, raised to the whole-unit bound W (planner/lp/unitbound.py) when the
    plan misses the gap target against `bound_usd` and the LP relaxation violated a cut: W
    bounds every whole-unit plan, so the plan's gap is measured against max(bound, W), and a
    solver note says so. W is solved with what is left until `deadline`; not used when it is not
    proven, is no higher, or exceeds the plan's own cost (a plan with work on no unit: the
    verifier's to judge, the bound left as it was)."""
    if cuts is None or not objective_usd or objective_usd <= 0:
        return bound_usd
    if (objective_usd - bound_usd) / objective_usd <= gap + GAP_SLACK:
        return bound_usd
    whole = whole_unit_bound(model, cuts, _left(deadline))
    if whole is None or whole <= bound_usd or whole > objective_usd * (1 + GAP_SLACK):
        return bound_usd
    model.solver_notes.append(
        WHOLE_UNIT_NOTE.format(rows=len(cuts.cuts), whole=whole, bound=bound_usd)
    )
    return whole


def proven_status(
    model: Model, solver: str, how: str, proven_gap: float, gap: float, bound_usd: float
) -> int:
    """The status of a plan whose solver's own bound is not taken: CBC's (it does not come back
    through PuLP) and HiGHS's on a model with an allocation needing under
    HIGHS_BOUND_BELOW_UNITS of a unit. Either one's "optimal" alone was not proof: their
    presolves, on coefficients spanning ~1e-3 to 1e10, cut off the optimum and proved the rest
    (CBC: a 10K-request tier beside a pretraining run, two H100s bought, US$205,412, called
    optimal, where the LP relaxation and HiGHS's plan were US$25,000 on the owned B200 (US$28,750
    since maintenance covers the network/storage share); HiGHS: a 1M-request tier beside a tiny
    RL run, US$13,558,378 called optimal with that as its bound, where one GB200 rack does it
    all for US$6,622,560, CBC's plan). So the plan is proven ("optimal") only when its solver
    stopped optimal and it is within the gap target of the best bound proven here (the LP relaxation's optimum, or the
    whole-unit bound); otherwise "feasible", with a solver note saying what the gap is measured
    against."""
    if how != OPTIMAL:
        return FEASIBLE
    if proven_gap <= gap + GAP_SLACK:
        return PROVEN
    why = CBC_WHY if solver == "cbc" else HIGHS_TINY_WHY
    model.solver_notes.append(
        UNPROVEN_NOTE.format(why=why, gap=proven_gap, target=gap, bound=bound_usd)
    )
    return FEASIBLE


# The plan's solver_notes when its solver's "optimal" is not within the target of a bound
# proven here (`proven_status`).
UNPROVEN_NOTE = (
    "{why}: the plan's gap, {gap:.2%}, is measured against the best bound proven here "
    "({bound:,.2f} US$: the LP relaxation's optimum, or the whole-unit bound where a note gives "
    "it), above the {target:.2%} target: feasible, not proven"
)
CBC_WHY = "CBC stopped at its gap target, but it hands back no bound"
HIGHS_TINY_WHY = (
    "HiGHS stopped at its gap target, but on a model with allocations under 1e-6 of a unit its "
    "own bound is not taken (at its default tolerances it cut off such a model's optimum and "
    "proved the rest)"
)


def _cbc_without_preprocessing(
    model: Model,
    mip: pulp.LpSolver,
    how: str,
    mip_s: float,
    lower: float,
    gap: float,
    deadline: float,
) -> tuple[str, float, float | None]:
    """When CBC stops "optimal" with a plan over the gap target against the LP relaxation's
    optimum `lower` ((c·x - L) / c·x > g), solve again with CBC's preprocessing off and keep the
    cheaper plan. The run without preprocessing stopping optimal is taken as CBC's proof: its
    plan's cost x (1 - its gap target) is returned as a bound (None otherwise), so a plan whose
    only distance from the LP relaxation is a weak relaxation (frontier-lab: 23.7%) is not
    left "feasible" (a solver note says what the bound rests on). CBC 2.10's preprocessing cut off the optimum of a 10K-request tier beside a
    pretraining run (two H100s bought, US$205,412 "optimal"; without it the owned B200 at
    US$28,750, the LP relaxation's optimum; tests/test_cbc_bound.py), and CBC hands back no
    bound that would show it. Returns the outcome kept, the MIP seconds (both runs) and that
    bound."""
    objective = float(pulp.value(model.prob.objective) or 0.0)
    if how != OPTIMAL or objective <= 0 or (objective - lower) / objective <= gap + GAP_SLACK:
        return how, mip_s, None
    if deadline - time.perf_counter() <= 0:
        return how, mip_s, None
    before = [var.varValue for var in model.prob.variables()]
    status = (model.prob.status, model.prob.sol_status)
    again = copy.copy(mip)
    again.options = [*mip.options, "preprocess off"]
    again.timeLimit = _left(deadline)
    how_again, more_s = _run(model, again)
    after = float(pulp.value(model.prob.objective) or 0.0)
    target = float(again.optionsDict.get("gapRel") or 0.0)
    bound = after * (1 - target) if how_again == OPTIMAL and after else None
    if bound is not None:
        model.solver_notes.append(CBC_PROOF_NOTE.format(bound=bound))
    if how_again in (OPTIMAL, INCUMBENT) and 0 < after < objective * (1 - GAP_SLACK):
        model.solver_notes.append(CBC_PREPROCESS_NOTE.format(was=objective, now=after))
        return how_again, mip_s + more_s, bound
    for var, value in zip(model.prob.variables(), before, strict=True):
        var.varValue = value
    model.prob.assignStatus(*status)
    return how, mip_s + more_s, bound


# HiGHS's MIP feasibility tolerance (its default 1e-6) on `_highs_tight_tolerance`'s run.
TIGHT_MIP_FEASIBILITY = 1e-9


def _highs_tight_tolerance(
    model: Model, mip: pulp.LpSolver, how: str, mip_s: float, lower: float, gap: float
) -> tuple[str, float]:
    """On a model whose HiGHS bound is not taken (an allocation under HIGHS_BOUND_BELOW_UNITS
    of a unit), when HiGHS stops with a plan over the gap target against the LP relaxation's
    optimum `lower` ((c·x - L) / c·x > g), run its MIP once more in place with its MIP
    feasibility tolerance at TIGHT_MIP_FEASIBILITY and keep the cheaper plan, cheapest then
    cleanest: the second run's plan where it is cheaper by more than GAP_SLACK, or of the same
    cost (within GAP_SLACK either way) and needing no repair where the first plan needs one
    (`_repairs_needed`: work the default tolerance let through, which `_repair` would commit
    and solve again for); otherwise the first (a tie of two plans alike: the first, so the
    answer does not hang on which run came last). A solver note says which was kept and why.
    A 1M-request tier beside a tiny RL run (tests/test_cbc_bound.py): at HiGHS 1.16's
    default 1e-6 its MIP, presolve on or off, returned two GB200 racks and a Trainium2 server,
    US$13,558,378, "optimal"; at 1e-9 it returned one rack, US$6,622,560, CBC's plan (with the
    tiny allocations scaled, `_run_scaled`, it called the MIP infeasible). HiGHS's bound from
    this run is not taken either: the plan is labelled against the bounds proven here. Returns
    the outcome kept and the MIP seconds (both runs)."""
    objective = float(pulp.value(model.prob.objective) or 0.0)
    if how not in (OPTIMAL, INCUMBENT) or objective <= 0:
        return how, mip_s
    if (objective - lower) / objective <= gap + GAP_SLACK:
        return how, mip_s
    highs = model.prob.solverModel
    before = [var.varValue for var in model.prob.variables()]
    repairs = _repairs_needed(model, _allocations(model))  # the first plan's
    status = (model.prob.status, model.prob.sol_status)
    recorded = model.solver_objective_usd
    started = time.perf_counter()
    default = highs.getOptionValue("mip_feasibility_tolerance")[1]
    highs.setOptionValue("mip_feasibility_tolerance", TIGHT_MIP_FEASIBILITY)
    try:
        _run_mip(model, mip, None)
    finally:
        highs.setOptionValue("mip_feasibility_tolerance", default)
    more_s = time.perf_counter() - started
    how_again = outcome(model.prob)
    after = float(pulp.value(model.prob.objective) or 0.0)
    if how_again in (OPTIMAL, INCUMBENT) and 0 < after < objective * (1 - GAP_SLACK):
        model.solver_notes.append(HIGHS_TOLERANCE_NOTE.format(was=objective, now=after))
        return how_again, mip_s + more_s
    same = how_again in (OPTIMAL, INCUMBENT) and 0 < after <= objective * (1 + GAP_SLACK)
    if same and repairs and not _repairs_needed(model, _allocations(model)):
        model.solver_notes.append(
            HIGHS_TOLERANCE_CLEAN_NOTE.format(was=objective, now=after, what="; ".join(repairs))
        )
        return how_again, mip_s + more_s
    for var, value in zip(model.prob.variables(), before, strict=True):
        var.varValue = value
    model.prob.assignStatus(*status)
    model.solver_objective_usd = recorded
    return how, mip_s + more_s


# The plan's solver_notes when HiGHS's MIP at a tighter feasibility tolerance found a cheaper
# plan (`_highs_tight_tolerance`).
HIGHS_TOLERANCE_NOTE = (
    "HiGHS stopped at {was:,.2f} US$, over the gap target against the LP relaxation's optimum, "
    "on a model with allocations under 1e-6 of a unit; solved again with its MIP feasibility "
    "tolerance at 1e-9 (default 1e-6) it found {now:,.2f} US$, the plan kept"
)


# The plan's solver_notes when HiGHS's MIP at a tighter feasibility tolerance found a plan of
# the same cost that needs no repair where the first did (`_highs_tight_tolerance`).
HIGHS_TOLERANCE_CLEAN_NOTE = (
    "HiGHS stopped at {was:,.2f} US$, over the gap target against the LP relaxation's optimum, "
    "on a model with allocations under 1e-6 of a unit, with a plan that needed repair ({what}); "
    "solved again with its MIP feasibility tolerance at 1e-9 (default 1e-6) it found "
    "{now:,.2f} US$, the same cost, needing none: the plan kept"
)


# The plan's solver_notes when CBC solved again without preprocessing found a cheaper plan.
CBC_PREPROCESS_NOTE = (
    "CBC stopped optimal at {was:,.2f} US$, over the gap target against the LP relaxation's "
    "optimum; solved again with its preprocessing off it found {now:,.2f} US$, the plan kept"
)


# The plan's solver_notes when CBC's run without preprocessing stopped optimal: the bound taken.
CBC_PROOF_NOTE = (
    "the bound {bound:,.2f} US$ is CBC's run without preprocessing stopped optimal at its gap "
    "target (CBC hands back no bound: its plan's cost x (1 - target) is taken as proven; with "
    "preprocessing, CBC 2.10 was seen to cut off the optimum and call the rest optimal)"
)


def _cbc_objective(model: Model, solver: str) -> None:
    """CBC's objective as PuLP keeps it: PuLP does not read CBC's reported value, so this is the
    objective expression (its constant included) at the values CBC wrote."""
    if solver == "cbc":
        model.solver_objective_usd = float(pulp.value(model.prob.objective) or 0.0)


# Rounds of `_repair` before the plan is left to the verifier.
REPAIR_ROUNDS = 3

# Families u[w,r,d,s,p] - M · b <= 0 with b a binary choice (pretraining site, RL trainer site,
# system type, model size, running on a pool): M = min(max_units, amount / (rate · len_p)) is
# tight, but for a tiny role (an RL trainer's 2.4e17 FLOP on a GB200 rack, 6.8e-7 of a unit over
# 50 days) M itself is below the solvers' absolute feasibility tolerance, so all of the role's
# work can pass with b at 0.
TIE_FAMILIES = ("site", "trainer", "system", "sizetie", "running")


@dataclass(frozen=True)
class Repaired:
    """What `_repair` did: its rounds (each a MIP solve), what it committed, and the best bound
    of the last repaired model (None: not known), which bounds only the plans that keep those
    commitments."""

    rounds: int
    committed: tuple[str, ...]
    bound_usd: float | None


# Slack on the gap target when a repaired plan's gap is judged against it: the solver's own
# relative gap is met to about this.
GAP_SLACK = 1e-9


def repair_note(repaired: Repaired, bound_usd: float, gap: float, objective_usd: float) -> str:
    """The plan's solver note after `_repair`: what was committed, and what the gap is measured
    against."""
    own = (
        f"; against the repaired model's own bound ({repaired.bound_usd:,.2f} US$), which "
        f"bounds only plans with those commitments, it is within "
        f"{max(0.0, (objective_usd - repaired.bound_usd) / objective_usd):.2%}"
        if repaired.bound_usd is not None and objective_usd
        else ""
    )
    return (
        f"the solver's tolerance let work through that no whole unit or choice backs, so the "
        f"plan was repaired ({repaired.rounds} round{'s' if repaired.rounds > 1 else ''}: "
        f"{'; '.join(repaired.committed)}) and solved again; its gap, {gap:.2%}, is measured "
        f"against the bound proven before the repair ({bound_usd:,.2f} US$), which bounds "
        f"every plan{own}"
    )


def _repair(
    model: Model,
    mip: pulp.LpSolver,
    how: str,
    mip_s: float,
    run: tuple[str, float, str],
    deadline: float,
    tight: tuple[float, float] | None = None,
) -> tuple[str, float, Repaired | None]:
    """Work the solvers' absolute feasibility tolerance lets through: (1) a tiny demand (one
    request a day needs 2.5e-9 of a unit) fits within the tolerance (1e-7) on the row that keeps
    work within the units in service, so both solvers may serve it on no unit at all; (2) a tiny
    role's work fits within the tolerance on its tie row (TIE_FAMILIES), so it may run off the
    site, system or size the plan chose; (3) tiny sandbox cores (400 core-seconds over 200
    days: 2.3e-5 cores, 9.5e-9 of a GB200 rack's) fit within the tolerance on their `cpu` row,
    so they may run on no unit at all (`_cores_on_no_unit`). Commit what the solver chose: (1)
    at least one unit in service on that pool in that period (or, where the pool can hold none,
    none of its work there), (2) the choice where the work ran (`_choose_where_it_runs`), (3) at least one unit
    of the row's ISA in service at that site in that period (any of its systems or CPU
    servers: the solver picks); and solve the MIP again. Returns the last solve's outcome, the
    MIP seconds so far, and what was repaired (None: nothing). The repaired model's bound
    bounds only plans that keep the commitments, so the caller measures the gap against the
    bound proven before them. Each repair solve gets what is left of the time limit
    (`deadline`).

    `tight` ((the LP relaxation's optimum, the gap target): HiGHS on a model whose own bound is
    not taken, `proven_status`): each repair solve gets the cure the first MIP got,
    `_highs_tight_tolerance`. A repair solve is a MIP on the same tiny allocations, and HiGHS
    1.16's presolve at its default tolerance cut off its optimum as it did the first MIP's:
    the 1M-request tier beside a tiny RL run at the catalog's rates (tests/test_cbc_bound.py)
    was repaired (rl/train committed to the GB200 rack's system and trainer choices) and
    re-solved to the rack plus a Trainium2 server, US$6,935,818, "optimal" with that as
    HiGHS's bound, where the rack alone, US$6,622,560, keeps every commitment (checked row by
    row: no violation); at 1e-9 the repair solve returns the rack alone."""
    solver, time_limit_s, method = run
    rounds, committed, bound = 0, [], None
    for _ in range(REPAIR_ROUNDS):
        placed = _allocations(model)
        empty = _work_on_no_unit(model, placed)
        off = _work_off_its_choice(model, placed)
        sandboxes = _cores_on_no_unit(model)
        if not empty and not off and not sandboxes:
            break
        rounds += 1
        for supply in sandboxes:
            model.prob.add(supply, GE, 1.0, f"repair_{model.prob.numConstraints()}")
        if sandboxes:
            committed.append(f"a unit for sandbox cores on none in {len(sandboxes)} row(s)")
        committed += _choose_where_it_runs(model, off)
        barred = False
        for pool, t, work in empty:
            pairs = model.in_service(pool, t)
            if model.max_units(pool) == 0 or not pairs:
                for var in work:
                    var.upBound = 0.0
                barred = True
                committed.append(f"no work on {pool[0]}/{pool[1]} in period {t} (no unit there)")
            else:
                model.prob.add(pairs, GE, 1.0, f"repair_{model.prob.numConstraints()}")
                committed.append(f"a unit of {pool[0]}/{pool[1]} in service in period {t}")
        if barred:
            others = [var for var in _on_no_unit(model) if var.upBound != 0.0]
            for var in others:
                var.upBound = 0.0
            if others:
                committed.append(
                    f"no work on the other pools that can hold no unit ({len(others)} allocations)"
                )
        mip.timeLimit = max(0.0, deadline - time.perf_counter())
        how, more_s = _run(model, mip)
        mip_s += more_s
        if tight is not None and not model.scaled_highs:
            how, mip_s = _highs_tight_tolerance(model, mip, how, mip_s, *tight)
        _check_mip(model, how, solver, time_limit_s, method, deadline)
        bound = _highs_bound(model) if solver == "highs" else None  # CBC hands back none
        if solver == "highs" and not model.scaled_highs:
            _polish(model, mip)
    if not rounds:
        return how, mip_s, None
    return how, mip_s, Repaired(rounds, tuple(committed), bound)


def _on_no_unit(model: Model) -> list[Var]:
    """The allocations on a pool and period that can hold no unit (none owned, and max_units 0
    or no unit it could buy, rent or contract then): no whole-unit plan puts work there, but
    the solvers' tolerance does. Barring only the pool a plan used let the next MIP move a tiny
    tier to the next such pool, one a round: with three of them (four sites, one H100 allowed
    at s0) the repair's rounds ran out with the tier at s0 on no unit, and the plan failed
    pool_capacity (exit 3)."""
    calendar = {p.index: p.calendar for p in model.periods}
    empty: dict[tuple[tuple[str, str], int], bool] = {}
    out = []
    for (_, _, d, s, p), var in model.u.items():
        pool, t = (d, s), calendar[p]
        if (pool, t) not in empty:
            none = model.max_units(pool) == 0 or not model.in_service(pool, t)
            empty[(pool, t)] = model.owned(pool) == 0 and none
        if empty[(pool, t)]:
            out.append(var)
    return out


# Below this a variable's value is solver noise. Basic values are exact solutions of the basis
# and non-basic ones sit on their bounds, so noise is far below the solver's feasibility
# tolerance (1e-7 on the scaled rows); a tiny real value (a 1e-7-unit allocation serving a tiny
# demand) must be kept, or the work it does disappears from the plan.
VALUE_ZERO = 1e-9
# Sandbox cores a `cpu` row may leave on no unit before the plan is repaired, in cores: a
# millionth of a core. The 100-site bench fleet's rounded plan left 3.6e-8 cores at a site
# with every supply column exactly 0 (the LP's 1e-7 feasibility tolerance, nothing charged),
# and the fast path handed a 429k-column model to the full path, which did not finish in 300 s;
# the repaired case (tests/test_rl_tiny_sandboxes.py) ran 2.3e-5 cores on 9.5e-9 of a rack.
SANDBOX_CORES_ZERO = 1e-6

# Below this share of its role's amount, work that nothing in the plan backs (`unbacked`) is the
# solvers' absolute tolerance at work: a binary held at its integrality tolerance (1e-6) lets at
# most this share through its tight big-M, a units row's tolerance a sliver onto no unit.
WORK_ZERO = 1e-6


# (key, allocation column, its LP period, whether it is tiny): `_allocations`' entries
Allocation = tuple[UKey, Var, Period, bool]


def _allocations(model: Model, in_use: list[tuple[UKey, Var]] | None = None) -> list[Allocation]:
    """(key, allocation variable, its period, whether it is tiny: under WORK_ZERO of its role's
    amount) of every allocation with a positive value. `in_use`: model.u_in_use() read already
    at the model's values (else read here)."""
    roles = {(d.name, r.name): r for d in model.demands for r in d.roles}
    periods = {p.index: p for p in model.periods}
    out = []
    for key, var in model.u_in_use() if in_use is None else in_use:
        w, r, _, s, p = key
        units = var.value() or 0.0
        if units > 0:
            role = roles[(w, r)]
            work = units * role.rates[s].per_unit_s * periods[p].length_s
            out.append((key, var, periods[p], work < WORK_ZERO * role.amount))
    return out


def _unit_in_service(model: Model, relaxed: bool = False) -> Callable[[tuple[str, str], int], bool]:
    """Whether a pool has at least one whole unit in service in a calendar period (memoised);
    `relaxed` (an LP-only plan, whose units are fractional): any units above VALUE_ZERO."""
    known: dict[tuple[tuple[str, str], int], bool] = {}

    def has(pool: tuple[str, str], t: int) -> bool:
        if (pool, t) not in known:
            if relaxed:
                ordered = sum(c * (v.value() or 0.0) for v, c in model.in_service(pool, t))
                known[(pool, t)] = model.owned(pool) + ordered > VALUE_ZERO
            else:
                ordered = sum(c * round(v.value() or 0.0) for v, c in model.in_service(pool, t))
                known[(pool, t)] = model.owned(pool) + ordered >= 0.5
        return known[(pool, t)]

    return has


def _off_choice(model: Model, relaxed: bool = False) -> set[str]:
    """Names of the allocation variables on a tie row (TIE_FAMILIES) whose binary is 0
    (`relaxed`: at most VALUE_ZERO, the relaxation's binaries being fractional)."""
    out: set[str] = set()
    for label, row in model.constraints.items():
        if label.family not in TIE_FAMILIES:
            continue
        choice = [v for v, c in row.items() if c < 0]
        if not choice:
            continue
        value = choice[0].value() or 0.0
        if (value <= VALUE_ZERO) if relaxed else round(value) == 0:
            out.update(v.name for v, c in row.items() if c > 0)
    return out


def unbacked(
    model: Model, relaxed: bool = False, in_use: list[tuple[UKey, Var]] | None = None
) -> set[str]:
    """Names of the tiny allocations (under WORK_ZERO of their role's amount) that nothing in the
    plan backs: no whole unit in service on their pool in their period, or on a tie row whose
    binary is 0. They are the solvers' tolerance at work, and readplan leaves them out; a tiny
    allocation on units in service and on its choices is work the plan does (a sliver the LP
    put on a second pool when the first is full), and is kept: leaving it out left a serving
    tier 0.1% short in a period at 100 sites. In an LP-only plan (`relaxed`) units and binaries
    are fractional: a sliver of a unit or of a choice backs its allocation (judged by whole
    units, 0.016 of an NVL72 rack's sliver of a tier's decode was left out at 30 sites, the
    tier 0.1% short). `in_use`: as for `_allocations`."""
    has_unit, off = _unit_in_service(model, relaxed), _off_choice(model, relaxed)
    return {
        var.name
        for (_, _, d, s, _), var, period, tiny in _allocations(model, in_use)
        if tiny and (var.name in off or not has_unit((d, s), period.calendar))
    }


def _work_on_no_unit(
    model: Model, placed: list[Allocation] | None = None
) -> list[tuple[tuple[str, str], int, list]]:
    """(pool, calendar period, its allocation variables) where an allocation of at least
    WORK_ZERO of its role's amount has no whole unit in service. `placed`: `_allocations(model)`
    read already at the model's values (else read here)."""
    has_unit = _unit_in_service(model)
    out: dict[tuple[tuple[str, str], int], list] = {}
    for (_, _, d, s, _), var, period, tiny in _allocations(model) if placed is None else placed:
        if not tiny and not has_unit((d, s), period.calendar):
            out.setdefault(((d, s), period.calendar), []).append(var)
    return [(pool, t, work) for (pool, t), work in out.items()]


def _cores_on_no_unit(model: Model) -> list[Pairs]:
    """The supply columns (each at coefficient 1) of every `cpu` row whose sandbox cores are
    positive while no owned unit and no whole unit of its ISA (system or CPU server) is in
    service at its site in its period: the cores run on units the solver's tolerance let
    round to 0 (9.5e-9 of a rack rented, read back as a rental the plan charges and the
    verifier does not). Supply columns are the row's negative terms (cores lent by units in
    service); its constant is minus the owned units' cores."""
    cores = {var.name for var in model.cores.values()}
    out: list[Pairs] = []
    for label, row in model.constraints.items():
        if label.family != "cpu" or row.constant < 0:
            continue
        used = (
            sum(
                c * (var.value() or 0.0)
                for var, c in row.items()
                if c > 0 and var.name in cores and (var.value() or 0.0) > VALUE_ZERO
            )
            > SANDBOX_CORES_ZERO
        )
        supply = [var for var, c in row.items() if c < 0]
        if used and supply and all(round(var.value() or 0.0) == 0 for var in supply):
            out.append([(var, 1.0) for var in supply])
    return out


def _choose_where_it_runs(model: Model, off: list[Var]) -> list[str]:
    """For each role with work off its choice (`off`), the binary of the tie row of its largest
    such allocation set to 1 (its lower bound): the choice follows the work. Barring only the
    allocations found let the next MIP move a tiny RL trainer's work (1.4e-7 of a GB200 rack)
    to another site whose binary was 0, round after round, while its trainer site stayed one
    that cannot train (Trainium2 only), until the repair's rounds ran out; barring all of them
    left no site to train at. Returns what was committed, for the solver note."""
    if not off:
        return []
    key_of = {var.name: key for key, var in model.u.items()}
    names = {var.name for var in off}
    largest: dict[tuple[str, str, str], tuple[float, Var, str]] = {}
    for label, row in model.constraints.items():
        if label.family not in TIE_FAMILIES:
            continue
        choice = [v for v, c in row.items() if c < 0]
        for var, c in row.items():
            if c > 0 and var.name in names and choice:
                w, r = key_of[var.name][:2]
                value = var.value() or 0.0
                if value > largest.get((label.family, w, r), (-1.0, None, ""))[0]:
                    largest[(label.family, w, r)] = (value, choice[0], str(label))
    out = []
    for (family, w, r), (_, binary, where) in sorted(largest.items()):
        binary.lowBound = 1.0
        out.append(f"{w}/{r}'s {family} choice where its work ran ({where})")
    return out


def _work_off_its_choice(model: Model, placed: list[Allocation] | None = None) -> list[Var]:
    """Allocation variables of at least WORK_ZERO of their role's amount on a tie row
    (TIE_FAMILIES) whose binary is 0. `placed`: as for `_work_on_no_unit`."""
    off = _off_choice(model)
    placed = _allocations(model) if placed is None else placed
    return [var for _, var, _, tiny in placed if not tiny and var.name in off]


def _check_relaxation(
    model: Model,
    how: str,
    solver: str,
    time_limit_s: float,
    method: str,
    deadline: float | None = None,
) -> None:
    """Only a proven LP relaxation goes on; an infeasible one is diagnosed (with what is left
    until `deadline`); a time limit, an unbounded model or numerical trouble is a SolverError
    (exit 3) that says which."""
    if how == OPTIMAL:
        return
    if how == INFEASIBLE:
        if not model.diagnose_infeasible:
            raise _undiagnosed()
        raise diagnose(
            model.scenario, model.demands, solver, time_limit_s, method, deadline=deadline
        )
    raise _trouble("LP relaxation", TIME_LIMIT if how == INCUMBENT else how, time_limit_s)


def _undiagnosed() -> InfeasibleError:
    """An infeasible model's error when its caller asked for no diagnosis (solve_model)."""
    return InfeasibleError("no plan meets every demand within the constraints (not diagnosed)")


# The plan's solver_notes when solver.time_limit stopped the run that gave it (`_check_mip`):
# the one dependence on the clock a scenario can ask for (README "Plan JSON").
TIME_LIMIT_NOTE = (
    "solver.time_limit ({limit:g} s) stopped the solve: this plan is the best it had then, and "
    "a run at another load may stop elsewhere with another plan; a limit the solve does not "
    "reach gives the same plan on every run"
)


def _stopped_by_clock(highs: Any) -> bool:
    """Whether HiGHS's last run ended at its time limit or at `_stop_at`'s deadline."""
    import highspy

    status = highs.getModelStatus()
    return status in (highspy.HighsModelStatus.kTimeLimit, highspy.HighsModelStatus.kInterrupt)


def _check_mip(
    model: Model,
    how: str,
    solver: str,
    time_limit_s: float,
    method: str,
    deadline: float | None = None,
) -> None:
    """Only a proven or feasible MIP solution goes on. The relaxation can split a one-site job or
    a unit across sites; the whole-unit, one-site plan cannot: an infeasible MIP (HiGHS's
    infeasible, CBC's "Integer infeasible") is diagnosed with the integer model itself, with
    what is left until `deadline`."""
    if how == INCUMBENT and solver == "highs" and _stopped_by_clock(model.prob.solverModel):
        note = TIME_LIMIT_NOTE.format(limit=time_limit_s)
        if note not in model.solver_notes:
            model.solver_notes.append(note)
    if how in (OPTIMAL, INCUMBENT):
        return
    if how == INFEASIBLE:
        if not model.diagnose_infeasible:
            raise _undiagnosed()
        raise diagnose(
            model.scenario, model.demands, solver, time_limit_s, method, mip=True, deadline=deadline
        )
    raise _trouble("whole-unit plan (MIP)", how, time_limit_s)


# The share of what is left of solver.time_limit the whole-unit diagnosis (an elastic MIP) may
# take: the rest is kept for the LP relaxation's diagnosis it falls back to, so that a whole-unit
# search the limit stops still leaves time to say what falls short (at least this much). A
# whole-unit diagnosis that finishes within its share is the same as with no limit.
WHOLE_DIAGNOSIS_SHARE = 0.5


def diagnose(
    scenario,
    demands,
    solver: str,
    time_limit_s: float,
    method: str,
    mip: bool = False,
    deadline: float | None = None,
) -> InfeasibleError:
    """Phase 1: minimise slacks and name every constraint that needs one: which demand cannot
    be met, which resource is short and by how much. Slacks are found with whole units and
    one-site choices (the elastic MIP), so applying them gives a scenario a whole-unit plan
    meets; only when no whole-unit answer comes within its share of the time left
    (WHOLE_DIAGNOSIS_SHARE) are the LP relaxation's (fractional, at least this much) amounts
    given, and said to be. Every run keeps to `deadline` (time.perf_counter(); the plan's
    solver.time_limit, planner/api.py `solve`; default `time_limit_s` from now): a stage with
    nothing left does not run and the error says so, naming the limit. `mip`: the whole-unit
    model was proven infeasible (else its LP relaxation); the whole-unit diagnosis is always
    tried first."""
    if deadline is None:
        deadline = time.perf_counter() + time_limit_s
    proven = "the whole-unit model" if mip else "the LP relaxation"
    raise_it = f"raise solver.time_limit ({time_limit_s:g} s; --time-limit) to see what falls short"
    if deadline - time.perf_counter() <= 0:
        return InfeasibleError(
            f"no plan meets every demand within the constraints (the solver proved {proven} "
            "has no solution); the diagnosis did not run",
            [f"solver.time_limit was used up before the diagnosis could start: {raise_it}"],
        )
    placed = scenario.topology.system_names()
    elastic = build(scenario, demands, elastic=True)
    whole_s = WHOLE_DIAGNOSIS_SHARE * (deadline - time.perf_counter())
    how = _phase_one(elastic, solver, method, time.perf_counter() + whole_s, whole=True)
    note = []
    whole = True
    if how not in (OPTIMAL, INCUMBENT):
        # INFEASIBLE here is the solver's numerics: a slack on every demand and limit makes
        # the elastic model feasible by construction (HiGHS called a tier of one request a day
        # on two pools held at max_units 0 infeasible, and the diagnosis said "structural")
        why = (
            "the whole-unit diagnosis ended infeasible, numerically"
            if how == INFEASIBLE
            else f"no whole-unit diagnosis within {whole_s:.3g} s (its share of what was left "
            f"of solver.time_limit, {time_limit_s:g} s)"
        )
        if deadline - time.perf_counter() <= 0:
            return InfeasibleError(
                f"no plan meets every demand within the constraints (the solver proved {proven} "
                "has no solution); the diagnosis stopped at the time limit",
                [f"{why}; the LP relaxation's diagnosis did not run: {raise_it}"],
            )
        elastic = build(scenario, demands, elastic=True)
        whole = False
        how = _phase_one(elastic, solver, method, deadline, whole=False)
        note = [
            f"({why}: the amounts above are the LP relaxation's, on fractional units, with a "
            "whole unit wherever work runs on less than one: at least this much)"
        ]
    if how in (OPTIMAL, INCUMBENT):
        elastic, how, short = _whole_units_for_work(
            elastic, how, scenario, demands, (solver, method), whole, deadline
        )
        if short:
            note.append(
                "(the diagnosis stopped at the time limit before committing a whole unit "
                "wherever work runs on less than one: a shortage of units may be missing above; "
                f"{raise_it})"
            )
    if how == INFEASIBLE:
        return InfeasibleError(
            "the scenario is infeasible even with every demand and capacity relaxed: "
            "a structural problem (e.g. no system can run a workload anywhere)",
            _unrunnable(demands, placed, scenario.doc) or ["no slack can make it feasible"],
        )
    if how == TIME_LIMIT:
        return InfeasibleError(
            f"no plan meets every demand within the constraints (the solver proved {proven} "
            "has no solution); the diagnosis stopped at the time limit",
            [
                f"the diagnosis (phase 1) found no relaxation within solver.time_limit: {raise_it}",
                *note,
            ],
        )
    if how not in (OPTIMAL, INCUMBENT):
        return InfeasibleError(
            "the solver proved the scenario infeasible but found no diagnosis",
            [
                f"the diagnosis (phase 1) ended with: {how} ({time_limit_s:g} s limit); "
                "raise solver.time_limit (--time-limit) to see what falls short"
            ],
        )
    if how == INCUMBENT:
        note.append(
            "(the diagnosis stopped at the time limit: the amounts above make the scenario "
            f"feasible but are not proven the smallest; {raise_it})"
        )
    lines = []
    # Phase 1's second solve may leave undone work up to its floor's tolerance (_phase_one:
    # floor · 1e-6 + 1e-9, weighted) wherever that saves a resource: a work slack within that
    # allowance is the tolerance, not a shortfall ("rl:train: 0.0% of the work cannot be done"
    # beside a tier no system could serve).
    floor = sum(
        s.weight * (s.var.value() or 0.0) for s in elastic.slacks.values() if s.unit in WORK_SLACKS
    )
    allowance = floor * 1e-6 + 1e-9
    for label, slack in elastic.slacks.items():
        value = slack.var.value() or 0.0
        if slack.unit in WORK_SLACKS and slack.weight * value <= 2 * allowance:
            continue
        if value > ZERO_TOL:
            lines.append(_explain(elastic, label, value, slack.unit))
    lines = collapse_periods(lines)
    lines.extend(_unrunnable(demands, placed, scenario.doc))
    if not lines:
        lines.append(
            "every slack is within the solver's tolerances: the infeasibility is numerical "
            "(figures spanning too many orders of magnitude); check for huge or tiny figures"
        )
    return InfeasibleError(
        "no plan meets every demand within the constraints; the smallest relaxation found "
        "(one way to make it feasible; other limits may be traded for these):",
        lines + (note if lines else []),
    )


def _whole_units_for_work(
    elastic: Model,
    how: str,
    scenario,
    demands,
    run: tuple[str, str],
    whole: bool,
    deadline: float,
) -> tuple[Model, str, bool]:
    """Phase 1's answer with a whole unit in service wherever it runs work on less than one.
    Work on a pool needs a whole unit there in a whole-unit plan, but a tiny demand's share of a
    unit (one request a day: 2.5e-9 of an H100 server) is within the solvers' tolerance of
    none, so phase 1 may serve it on no unit and find nothing short ("every slack is within the
    solver's tolerances", or with the LP's fractional units a slack of 1e-6 units, under
    ZERO_TOL). As `_repair` does for a plan: phase 1 is solved again with at least one unit in
    service on each such pool and period (its `avail` slack then says how many more units
    max_units must allow), or, where no unit can serve then, with none of that work there;
    at most REPAIR_ROUNDS times. `how`: how phase 1 ended on `elastic`. Returns the elastic
    model solved last, its outcome and whether a round was needed but `deadline` left it no
    time or stopped it with no answer (the answer before it is returned then: its `avail`
    slacks may miss those units)."""
    solver, method = run
    commits: set[tuple[tuple[str, str], int]] = set()
    barred: set[UKey] = set()
    for _ in range(REPAIR_ROUNDS):
        keys = {var.name: key for key, var in elastic.u.items()}
        empty = [(pool, t, work) for pool, t, work in _work_on_no_unit(elastic)]
        new = {(pool, t) for pool, t, _ in empty if elastic.in_service(pool, t)} - commits
        off = {
            keys[v.name] for pool, t, work in empty if not elastic.in_service(pool, t) for v in work
        }
        if not new and not off - barred:
            break
        if deadline - time.perf_counter() <= 0:
            return elastic, how, True
        commits |= new
        barred |= off
        again = build(scenario, demands, elastic=True)
        for pool, t in sorted(commits):
            name = f"unit_{again.prob.numConstraints()}"  # a pool's name may hold "-"
            again.prob.add(again.in_service(pool, t), GE, 1.0, name)
        for key in barred:
            again.u[key].upBound = 0.0
        then = _phase_one(again, solver, method, deadline, whole=whole)
        if then == TIME_LIMIT:
            return elastic, how, True
        elastic, how = again, then
        if how not in (OPTIMAL, INCUMBENT):
            break
    return elastic, how, False


# "w:r:pN (days a-b): x% of the work cannot be done ... from day a to b ...": one LP period's
# undone work (constraints._explain_work)
_PERIOD_LINE = re.compile(
    r"^(?P<head>.+?):p(?P<p>\d+) \(days (?P<a>[\d.e+]+)-(?P<b>[\d.e+]+)\): (?P<rest>.*)$"
)


def collapse_periods(lines: list[str]) -> list[str]:
    """Consecutive periods of one work item short for the same reason in one line: "chat:decode:
    p0-p179 (days 0-90): 100.0% ..." (a 90-day horizon in half-day periods printed 360 lines
    of it). Lines of other kinds, and periods whose share or reason differs, stay as they are."""
    out: list[str] = []
    run: list[tuple[re.Match[str], str]] = []  # (match, its reason with the days taken out)

    def flush() -> None:
        if not run:
            return
        first, last = run[0][0], run[-1][0]
        if len(run) == 1:
            out.append(first.string)
        else:
            a, b = first["a"], last["b"]
            rest = first["rest"].replace(
                f"from day {first['a']} to {first['b']}", f"from day {a} to {b}"
            )
            out.append(f"{first['head']}:p{first['p']}-p{last['p']} (days {a}-{b}): {rest}")
        run.clear()

    for line in lines:
        m = _PERIOD_LINE.match(line)
        if m is None:
            flush()
            out.append(line)
            continue
        reason = m["rest"].replace(f"from day {m['a']} to {m['b']}", "from day A to B")
        if run:
            prev, prev_reason = run[-1]
            if not (
                m["head"] == prev["head"]
                and int(m["p"]) == int(prev["p"]) + 1
                and m["a"] == prev["b"]
                and reason == prev_reason
            ):
                flush()
        run.append((m, reason))
    flush()
    return out


# Slack units of work left undone (the rest are resources: units, MW, GB/s, cores).
WORK_SLACKS = ("fraction of the work", "fraction of the samples")


def _phase_one(elastic: Model, solver: str, method: str, deadline: float, whole: bool) -> str:
    """Solve the elastic model lexicographically: first the least work left undone (resources
    free to grow), then, with no more work undone than that, the least weighted growth of the
    resources. A weighted sum of both would trade a large shortage of a small resource (a site
    allowed 1 unit that needs 2,000) for undone work and name the wrong limit. Each run gets
    what is left until `deadline` (time.perf_counter()) and HiGHS is interrupted at it; with
    nothing left a run does not start (TIME_LIMIT). INCUMBENT if either run was stopped with
    a solution (not proven the least)."""
    work = [s for s in elastic.slacks.values() if s.unit in WORK_SLACKS]
    limits = [s for s in elastic.slacks.values() if s.unit not in WORK_SLACKS]
    gap = 0.01 if whole else 0.0
    first = OPTIMAL
    if work and limits:
        if deadline - time.perf_counter() <= 0:
            return TIME_LIMIT
        undone = [(s.var, s.weight) for s in work]
        elastic.prob.setObjective(expr(undone))
        first, _ = _run(elastic, make_solver(solver, whole, 0.0, _left(deadline), method), deadline)
        if first not in (OPTIMAL, INCUMBENT):
            return first
        floor = sum(s.weight * (s.var.value() or 0.0) for s in work)
        elastic.prob.add(undone, LE, floor * (1 + 1e-6) + 1e-9, "phase1_work_floor")
        elastic.prob.setObjective(expr([(s.var, s.weight) for s in limits]))
    if deadline - time.perf_counter() <= 0:
        return TIME_LIMIT
    how, _ = _run(elastic, make_solver(solver, whole, gap, _left(deadline), method), deadline)
    return INCUMBENT if how == OPTIMAL and first == INCUMBENT else how


def _unrunnable(demands, placed: list[str], doc: Doc) -> list[str]:
    """Roles no system placed in the topology can run, each after the file and line of its
    workload (qa28b: a token budget no job can meet was named by workload alone). Demands carry
    rates for every catalog system, so a role runnable only on systems no site holds (FP4 on an
    H100-only topology, while B200 is in the catalog) must count as unrunnable here, with the
    placed systems' reasons."""
    out = []
    for demand in demands:
        for role in demand.roles:
            rates = {s: r for s, r in role.rates.items() if s in placed}
            if role.amount > 0 and not any(r.feasible for r in rates.values()):
                reasons = "; ".join(f"{s}: {r.reason}" for s, r in sorted(rates.items()))
                file, line, path = doc.where(("workloads", demand.name))
                at = f"{file}:{line}: {path}: " if line is not None else ""
                out.append(f"{at}{demand.name}/{role.name} can run on no system here ({reasons})")
    return out


def _explain(model: Model, label: Label, value: float, unit: str) -> str:
    """The diagnosis line of one non-zero slack, in the words of its family."""
    explain = FAMILIES[label.family].explain
    if explain is None:
        return f"{label}: short by {value:g} {unit}"
    return explain(model, label.entity, value)
