"""Solve the model honestly: LP relaxation first (lower bound, shadow prices), then the MIP with
a gap and a time limit; trust values only on a proven or feasible solution status, report the
gap proven, and diagnose infeasibility with penalised slacks instead of saying "Infeasible".

PuLP 3.3 facts this relies on (../shared/DESIGN.md): a time-limited HiGHS MIP reports status 1
with sol_status 2; CBC leaves numbers in variables of an infeasible model; an unbounded MIP reads
"Infeasible" through HiGHS. So we read sol_status, not status, and verify every plan after.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pulp

from fleetcore.errors import InfeasibleError, SolverError
from planner.lp.build import build
from planner.lp.incumbent import find_start
from planner.lp.model import FAMILIES, Label, Model

PROVEN = pulp.LpSolutionOptimal  # 1
FEASIBLE = pulp.LpSolutionIntegerFeasible  # 2
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
    while the solver runs."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _run(model: Model, solver: pulp.LpSolver) -> tuple[int, float]:
    """Solve through PuLP. With HiGHS, PuLP's own steps (configure, transfer the model, run,
    read values) are called one by one so that the time inside HiGHS's run is measured alone:
    the benchmark's overhead ratio needs it (HiGHS's getRunTime counts the transfer too)."""
    started = time.perf_counter()
    try:
        with _quiet_stdout():
            if isinstance(solver, pulp.HiGHS):
                prob = model.prob
                solver.createAndConfigureSolver(prob)
                solver.buildSolverModel(prob)
                run_started = time.perf_counter()
                solver.callSolver(prob)
                model.solver_run_s += time.perf_counter() - run_started
                status, sol_status = solver.findSolutionValues(prob)
                prob.assignStatus(status, sol_status)
            else:
                model.prob.solve(solver)
    except pulp.PulpSolverError as exc:
        raise SolverError(f"the solver failed: {exc}") from None
    return model.prob.sol_status, time.perf_counter() - started


def _resolve_as_mip(model: Model, solver: pulp.LpSolver) -> tuple[int, float]:
    """Re-solve the HiGHS model PuLP left from the LP relaxation as the MIP, in place: restore
    integrality and the MIP options instead of handing PuLP's model to HiGHS a second time
    (about 1 s at 60k variables). Values are read back by PuLP's own HiGHS reader."""
    import highspy

    highs = model.prob.solverModel
    started = time.perf_counter()
    with _quiet_stdout():
        start = find_start(model)  # None: off, or no restricted plan; the MIP runs as before
    integer = [var.index for var in model.prob.variables() if var.cat == pulp.LpInteger]
    for index in integer:
        highs.changeColIntegrality(index, highspy.HighsVarType.kInteger)
    highs.setOptionValue("mip_rel_gap", float(solver.gapRel))
    highs.setOptionValue("time_limit", float(solver.timeLimit))
    try:
        with _quiet_stdout():
            if start is not None:
                start.offer(highs)
            run_started = time.perf_counter()
            highs.run()
            model.solver_run_s += time.perf_counter() - run_started
            status, sol_status = solver.findSolutionValues(model.prob)
    except Exception as exc:  # highspy raises plain RuntimeErrors
        raise SolverError(f"the solver failed: {exc}") from None
    model.prob.assignStatus(status, sol_status)
    return model.prob.sol_status, time.perf_counter() - started


def _polish(model: Model, solver: pulp.LpSolver) -> None:
    """Fix every integer column at its rounded MIP value and re-solve the rest as an LP, in
    place. A MIP solution may hold a binary at 1e-6 (the solver's integrality tolerance), which
    through a big-M row (u <= max_units · y) lets a one-site job put a sliver of its work on a
    second site; with the integers exact, those rows are exact. If the fixed LP has no solution
    (rounding moved a row past its tolerance), the MIP's values are kept."""
    import highspy

    highs = model.prob.solverModel
    integer = [var for var in model.prob.variables() if var.cat == pulp.LpInteger]
    if not integer:
        return
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
    except Exception as exc:  # highspy raises plain RuntimeErrors
        raise SolverError(f"the solver failed: {exc}") from None


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


def solve_model(
    model: Model, solver: str, gap: float, time_limit_s: float, method: str, relax_only: bool
) -> SolveStats:
    """Solve in place: the LP relaxation (bound, duals), then unless relax_only the MIP.
    Raises InfeasibleError (with a diagnosis) or SolverError."""
    status, lp_s = _run(model, make_solver(solver, False, gap, time_limit_s, method))
    _check_relaxation(model, status, solver, time_limit_s, method)
    lower = pulp.value(model.prob.objective)
    model.duals = {label: c.pi for label, c in model.constraints.items()}
    size = (len(model.prob.variables()), len(model.constraints))
    if relax_only:
        return SolveStats(
            solver, method, lp_s, 0.0, lower, lower, lower, 0.0, status, *size, gap_target=gap
        )
    mip = make_solver(solver, True, solver_gap(gap, lower, model), time_limit_s, method)
    status, mip_s = _resolve_as_mip(model, mip) if solver == "highs" else _run(model, mip)
    _check_mip(model, status, solver, time_limit_s, method)
    bound = _highs_bound(model) if solver == "highs" else None
    if solver == "highs":
        _polish(model, mip)  # the MIP's status stands: polishing proves nothing new
    objective = pulp.value(model.prob.objective)
    best_bound = max(lower, bound) if bound is not None else lower
    if bound is None and status == PROVEN and objective:
        # CBC does not hand back its bound; "optimal" from it means within its gap target.
        best_bound = max(best_bound, objective * (1 - gap))
    proven_gap = max(0.0, (objective - best_bound) / objective) if objective else 0.0
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
        gap_target=gap,
    )


def _check_relaxation(
    model: Model, status: int, solver: str, time_limit_s: float, method: str
) -> None:
    """Only a proven LP relaxation goes on; an infeasible one is diagnosed."""
    if status == PROVEN:
        return
    if status in (pulp.LpSolutionInfeasible, pulp.LpSolutionNoSolutionFound):
        raise diagnose(model.scenario, model.demands, solver, time_limit_s, method)
    if status == pulp.LpSolutionUnbounded:
        raise SolverError("the LP relaxation is unbounded: a cost or a bound is missing (a bug)")
    raise SolverError(f"the LP relaxation ended with solution status {status}")


def _check_mip(model: Model, status: int, solver: str, time_limit_s: float, method: str) -> None:
    """Only a proven or feasible MIP solution goes on. The relaxation can split a one-site job or
    a unit across sites; the whole-unit, one-site plan cannot: an infeasible MIP is diagnosed
    with the integer model itself."""
    if status in (PROVEN, FEASIBLE):
        return
    if status == pulp.LpSolutionInfeasible:
        raise diagnose(model.scenario, model.demands, solver, time_limit_s, method, mip=True)
    raise SolverError(
        f"no plan found within the time limit ({time_limit_s:g} s); "
        "raise solver.time_limit or the gap"
    )


def diagnose(
    scenario, demands, solver: str, time_limit_s: float, method: str, mip: bool = False
) -> InfeasibleError:
    """Phase 1: minimise weighted slacks and name every constraint that needs one: which demand
    cannot be met, which resource is short and by how much. The LP relaxation is enough when it
    is itself infeasible; mip=True keeps whole units and one-site choices (when only the integer
    plan is infeasible), so the slacks are then at least what a real plan would need."""
    elastic = build(scenario, demands, elastic=True)
    status, _ = _run(elastic, make_solver(solver, mip, 0.01 if mip else 0.0, time_limit_s, method))
    if status not in (PROVEN, FEASIBLE):
        return InfeasibleError(
            "the scenario is infeasible even with every demand and capacity relaxed: "
            "a structural problem (e.g. no system can run a workload anywhere)",
            _unrunnable(demands, scenario.topology.system_names()),
        )
    lines = []
    for label, slack in elastic.slacks.items():
        value = slack.var.value() or 0.0
        if value > ZERO_TOL:
            lines.append(_explain(elastic, label, value, slack.unit))
    lines.extend(_unrunnable(demands, scenario.topology.system_names()))
    return InfeasibleError(
        "no plan meets every demand within the constraints; the smallest relaxation found "
        "(one way to make it feasible; other limits may be traded for these):",
        lines,
    )


def _unrunnable(demands, placed: list[str]) -> list[str]:
    """Roles no system placed in the topology can run. Demands carry rates for every catalog
    system, so a role runnable only on systems no site holds (FP4 on an H100-only topology, while
    B200 is in the catalog) must count as unrunnable here, with the placed systems' reasons."""
    out = []
    for demand in demands:
        for role in demand.roles:
            rates = {s: r for s, r in role.rates.items() if s in placed}
            if role.amount > 0 and not any(r.feasible for r in rates.values()):
                reasons = "; ".join(f"{s}: {r.reason}" for s, r in sorted(rates.items()))
                out.append(f"{demand.name}/{role.name} can run on no system here ({reasons})")
    return out


def _explain(model: Model, label: Label, value: float, unit: str) -> str:
    """The diagnosis line of one non-zero slack, in the words of its family."""
    explain = FAMILIES[label.family].explain
    if explain is None:
        return f"{label}: short by {value:g} {unit}"
    return explain(model, label.entity, value)
