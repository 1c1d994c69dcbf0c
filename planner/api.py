"""The Python API: load a scenario, turn its workloads into demands, solve, verify.

import planner
scenario = planner.load_scenario("my.yaml").override({"workloads.rl.samples_per_problem": 32})
plan = planner.solve(scenario)
plan.costs(by="workload")  # CostTotalRow(by, name, cost_usd) list, sorted by name
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from fleetcore.errors import InfeasibleError
from planner.demand.types import WorkloadDemand
from planner.kinds import attach_jobs, demands_for, held_to_rated, placed_jobs, rerated
from planner.kinds.base import RERATE_SOLVES
from planner.lp.build import build, thaw
from planner.lp.linear import LinearProblem
from planner.lp.solve import TimeLimitError, solve_model
from planner.plan import Plan
from planner.readplan import read_plan
from planner.rows import JobRow
from planner.scenario import (
    Scenario,
    SolverOptions,
    load_scenario,
    scenario_path_arg,
    solver_args,
)
from planner.verify import verify


def demands(scenario: Scenario, deadline: float | None = None) -> list[WorkloadDemand]:
    """Every workload of the scenario as LP work items with per-system rates, on the systems its
    topology places (the rest of the catalog cannot be used, and its layout searches are the
    slowest part of a plan). deadline (time.perf_counter(), solve's solver.time_limit): a
    workload whose rating would start past it is not rated, a TimeLimitError naming the stage
    (rating is most of a cold plan's time: 1.6 s of frontier-3y's 1.9 s, README "Speed")."""
    systems = scenario.topology.system_names()
    horizon_s = scenario.data.economics.horizon_s
    workloads = dict(scenario.data.workloads)
    started = time.perf_counter()

    def before(name: str, rated: int) -> None:
        if deadline is not None and time.perf_counter() >= deadline:
            raise TimeLimitError(
                f"no plan found within the time limit "
                f"({scenario.data.solver.time_limit_s:g} s, for the whole plan): it ran out "
                f"while rating the workloads ({rated} of {len(workloads)} rated in "
                f"{time.perf_counter() - started:.2f} s; {name} not started), before the model "
                "was built; raise solver.time_limit (--time-limit)"
            )

    return demands_for(workloads, scenario.catalog, systems, horizon_s, before)


def solve(
    scenario: Scenario | str | Path,
    relax: bool = False,
    solver: str | None = None,
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    method: str | None = None,
    save_model: str | Path | None = None,
) -> Plan:
    """Cheapest plan for the scenario, verified. relax=True returns the LP relaxation
    (fractional units) with its shadow prices.

    save_model: also write the model, before solving, as LP (`.lp`) or MPS (`.mps`) for
    other solvers (PuLP's writeLP / writeMPS).

    A pretraining run's rate is derived before the solve, at the job its window needs, and an
    RL trainer's at its work spread over its window; once solved, each is rated again at the
    job the plan places it on and, where that rate is lower by more than RERATE_TOL, the plan
    is solved again at it (each kind's Rerate hook, planner/kinds/__init__.py: pretrain.py and
    rl.py placed_jobs; plan.pretrain_jobs and plan.rl_jobs state both jobs and the rate used).

    scenario: a loaded Scenario, or a file path or shipped scenario's name (loaded as is).

    solver.time_limit (time_limit_s) is a deadline for the whole plan, from this call on (the
    scenario's loading is before it): rating the workloads (a workload whose rating would start
    past it is not rated: a TimeLimitError naming the stage; one already rating finishes), every
    build and solve of the re-rating (each solve, its diagnosis of an infeasible model included,
    gets what is left: planner/lp/solve.py `solve_model`). A re-solve or held plan
    (_solve_rerated) the limit leaves no time for is not run and the plan says so
    (solver_notes); the first solve with no time left is a TimeLimitError naming the limit.
    Not bounded by it: a model's build once started, verification and the context after it,
    and the report the caller formats (measured: under 6% of a cold plan's time on
    frontier-lab and frontier-3y; README "Speed"): a plan is never returned unverified.

    Raises InfeasibleError (with a diagnosis), SolverError or VerificationError.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario_path_arg(scenario, "planner.solve"))
    options = scenario.data.solver
    given = {"solver": solver, "mip_gap": mip_gap, "time_limit_s": time_limit_s, "method": method}
    effective = _solver_options(options, {k: v for k, v in given.items() if v is not None})
    if effective != options:
        # The plan records the options it was solved with (e.g. its gap target, from --gap).
        data = scenario.data.model_copy(update={"solver": effective})
        scenario = dataclasses.replace(scenario, data=data)
        options = effective
    started = time.perf_counter()
    deadline = started + options.time_limit_s
    rated = demands(scenario, deadline)
    rating_s = time.perf_counter() - started
    if time.perf_counter() >= deadline:
        raise TimeLimitError(
            f"no plan found within the time limit ({options.time_limit_s:g} s, for the whole "
            f"plan): rating the workloads took {rating_s:.2f} s, all of it, and the model was "
            "not built; raise solver.time_limit (--time-limit)"
        )
    try:
        plan, work, jobs, build_s, solve_s = _solve_rerated(
            scenario, rated, relax, options, save_model, deadline
        )
        if not relax:
            attach_jobs(plan, scenario, work, jobs)
        solved = time.perf_counter()
        plan.checks = verify(plan, scenario, work)
    finally:
        thaw()
    _attach_context(plan, scenario)
    done = time.perf_counter()
    plan.stats.update(
        {
            "build_s": rating_s + build_s,
            "solve_s": solve_s,
            "verify_report_s": done - solved,
        }
    )
    return plan


def _solve_rerated(
    scenario: Scenario,
    rated: list[WorkloadDemand],
    relax: bool,
    options: Any,
    save_model: str | Path | None,
    deadline: float,
) -> tuple[Plan, list[WorkloadDemand], list[JobRow], float, float]:
    """Build, solve and read the plan, re-rated (_rerate_loop). Where a solve squeezed a run
    onto more units than its rate's job (the LP's rate does not fall with the units, so which
    squeeze a solve picks is the solver's arbitrary choice: frontier-3y's HiGHS and CBC plans
    were 1.07% apart), the plan is also solved with each such run held to at most its rated job
    on that system (Role.max_units, row `ratedjob`: per LP period its units summed over sites),
    from the pre-solve rates and re-rated as well; the cheaper of the two plans is kept (a tie:
    the held one). The held plan is solved as soon as a solve squeezes a run: when its cost is
    within the gap target of that solve's proven bound, no re-rated plan can be cheaper by more
    than the target (a re-rated model only lowers rates, so its optimum is at least that
    bound) and none is solved. A held model that finds no plan (a genuine squeeze: the window
    needs more units) keeps the re-rated plan. Returns the plan, the demands it was solved
    with, its JobRows and the build and solve seconds (of every solve).

    Every solve keeps to `deadline` (solver.time_limit for the whole plan, `solve`); a held
    plan or re-solve it leaves no time for is not run, and the plan returned says which
    (its solver_notes)."""
    notes: list[str] = []  # the stages the deadline stopped, for the plan kept
    loop = _rerate_loop(
        scenario, rated, rated, relax, options, save_model, deadline, notes, stop_on_squeeze=True
    )
    build_s, solve_s = loop.build_s, loop.solve_s
    held: _Loop | None = None
    out = loop
    if not relax and loop.stopped:
        held = _held(scenario, rated, loop.squeezed, relax, options, deadline, notes)
        if held is not None:
            build_s, solve_s = build_s + held.build_s, solve_s + held.solve_s
        if held is not None and _within_gap(held, loop, options.mip_gap):
            out = held
        else:
            loop = _rerate_loop(
                scenario,
                loop.work,
                rated,
                relax,
                options,
                None,
                deadline,
                notes,
                resume=loop,
                held=held,
            )
            build_s, solve_s = build_s + loop.build_s, solve_s + loop.solve_s
            out = loop
            if loop.held_wins:
                assert held is not None
                out = held
            elif held is None or loop.squeezed - held.squeezed:  # hold every run squeezed
                more = _held(scenario, rated, loop.squeezed, relax, options, deadline, notes)
                if more is not None:
                    build_s, solve_s = build_s + more.build_s, solve_s + more.solve_s
                    if held is None or more.plan.total_cost_usd <= held.plan.total_cost_usd:
                        held = more
    if out is loop and held is not None and held.plan.total_cost_usd <= loop.plan.total_cost_usd:
        out = held
    out.plan.solver_notes.extend(note for note in notes if note not in out.plan.solver_notes)
    return out.plan, out.work, out.jobs, build_s, solve_s


def _within_gap(held: _Loop, loop: _Loop, gap: float) -> bool:
    """Whether the held plan costs at most the gap target over the bound proven for `loop`'s
    last model: a re-rated model after it only lowers rates, so its optimum is at least that
    bound, and no re-rated plan can be cheaper than the held one by more than the target."""
    bound = loop.plan.lower_bound_usd
    cost = held.plan.total_cost_usd
    return bound is not None and cost - bound <= gap * cost


def _held(
    scenario: Scenario,
    rated: list[WorkloadDemand],
    squeezed: set[tuple[str, str, str]],
    relax: bool,
    options: Any,
    deadline: float,
    notes: list[str],
) -> _Loop | None:
    """The plan with the `squeezed` runs held to their rated jobs (held_to_rated), re-rated;
    where that plan squeezes another run, solved again with it held too (at most once a run).
    Its `squeezed` is the runs held. None when a held model has no plan, or `deadline` left no
    time to find one (said in `notes`).

    A held model with no plan is solved once more with each held cap raised to the fewest whole
    units that can do its role's work in its window at the rate held, where that is more
    (held_to_rated's within_window; the record's status then `held to the units its window
    needs`): a rated job of fewer units than that cannot do the work on its own, so the hold at
    it left no held plan, and a plan that squeezed the run by indifference kept its re-rated
    cost. tests/test_held.py: an RL trainer rated at 24 H100s, as sized before session 34
    (3.09 servers of work at that job's rate), held to 3 servers had no plan and the re-rated
    plan cost US$345,000; held to 4, US$285,000."""
    hold = set(squeezed)
    widen = False
    while True:
        if time.perf_counter() >= deadline:
            notes.append(
                _not_run("the plan with the squeezed runs held to their rated jobs", options)
            )
            return None
        held = held_to_rated(rated, hold, scenario, widen)
        try:
            out = _rerate_loop(
                scenario,
                held,
                rated,
                relax,
                options,
                None,
                deadline,
                notes,
                stop_on_squeeze=True,
                diagnose=False,
            )
        except InfeasibleError:
            if widen or held_to_rated(rated, hold, scenario, True) == held:
                return None
            widen = True
            continue
        except TimeLimitError:
            notes.append(
                _not_run("the plan with the squeezed runs held to their rated jobs", options, True)
            )
            return None
        if not out.stopped:
            return dataclasses.replace(out, squeezed=hold)
        if out.squeezed <= hold:  # a held run cannot pass its job: re-rate as any plan
            out = _rerate_loop(
                scenario, out.work, rated, relax, options, None, deadline, notes, resume=out
            )
            return dataclasses.replace(out, squeezed=hold)
        hold |= out.squeezed


def _not_run(stage: str, options: Any, stopped: bool = False) -> str:
    """The solver note of a stage solver.time_limit (the plan's deadline) left out."""
    how = "was stopped with no plan" if stopped else "did not run"
    return (
        f"{stage} {how}: solver.time_limit ({options.time_limit_s:g} s, for the whole plan) was "
        "used up; raise it (--time-limit) to have it solved"
    )


@dataclasses.dataclass
class _Loop:
    """Where a _rerate_loop ended: its plan, the demands it was solved with, its
    JobRows, the solves so far, the runs it re-rated lower because squeezed onto more
    units ((workload, role, system)), the demands its last re-rating came from (kept when a
    re-solve finds no plan), its build and solve seconds and whether it stopped at a squeeze."""

    plan: Plan
    work: list[WorkloadDemand]
    jobs: list[JobRow]
    solves: int
    squeezed: set[tuple[str, str, str]]
    previous: list[WorkloadDemand]
    build_s: float = 0.0
    solve_s: float = 0.0
    stopped: bool = False  # stop_on_squeeze ended it, before re-rating the squeezed runs
    held_wins: bool = False  # it stopped (still optimistic) where the held plan is within the gap


def _rerate_loop(
    scenario: Scenario,
    start: list[WorkloadDemand],
    rated: list[WorkloadDemand],
    relax: bool,
    options: Any,
    save_model: str | Path | None,
    deadline: float,
    notes: list[str],
    resume: _Loop | None = None,
    stop_on_squeeze: bool = False,
    held: _Loop | None = None,
    diagnose: bool = True,
) -> _Loop:
    """Build, solve and read the plan from the demands `start`; then (whole-unit plans) rate
    every pretraining run and RL trainer at the job the plan places it on (the kinds' Rerate
    hooks: planner/kinds placed_jobs) and, while one's rate there lies more than RERATE_TOL
    below the rate the plan used, re-solve with that rate, at most RERATE_SOLVES solves in all;
    a re-solve that finds no plan keeps the one before, its optimistic runs stated as not converged. stop_on_squeeze:
    return as soon as a solve squeezed a run onto more units than its rate's job (before
    re-rating it); `resume` (such a stop) goes on from there: its demands re-rated first;
    with `held` (the held plan, _held) it stops as soon as that plan is within the gap target
    of a solve's proven bound (_within_gap): no later re-rated plan can beat it by more.
    Each solve gets what is left until `deadline`; a re-solve it leaves no time for, or stops
    with no plan, keeps the plan before as one that finds no plan does, said in `notes`.
    An infeasible model is diagnosed only where its error is what the caller sees: the first
    solve, and not with diagnose=False (_held: a held model with no plan is dropped)."""
    if resume is not None:
        plan: Plan | None = resume.plan
        jobs, squeezed, first = resume.jobs, set(resume.squeezed), resume.solves + 1
        previous, work = resume.work, rerated(resume.work, resume.jobs, scenario, resume.plan)
    else:
        plan, jobs, squeezed, first = None, [], set(), 1
        previous = work = start
    build_s = solve_s = 0.0
    for solves in range(first, RERATE_SOLVES + 1):
        if plan is not None and time.perf_counter() >= deadline:
            notes.append(_not_run(f"the re-rating's solve {solves}", options))
            return _Loop(
                plan, previous, _not_converged(jobs), solves - 1, squeezed, previous, build_s,
                solve_s,
            )  # fmt: skip
        t0 = time.perf_counter()
        model = build(scenario, work)  # frozen out of the cycle collector until the thaw
        if save_model is not None:
            write_model(model.prob, save_model)
        t1 = time.perf_counter()
        try:
            stats = solve_model(
                model,
                solver=options.solver,
                gap=options.mip_gap,
                time_limit_s=options.time_limit_s,
                method=options.method,
                relax_only=relax,
                deadline=deadline,
                diagnose_infeasible=diagnose and plan is None,
            )
        except (InfeasibleError, TimeLimitError) as exc:
            if plan is None:
                raise
            if isinstance(exc, TimeLimitError):
                notes.append(_not_run(f"the re-rating's solve {solves}", options, True))
            # the re-rated runs cannot be placed (or not in the time left): keep the plan
            # before, saying so
            return _Loop(
                plan, previous, _not_converged(jobs), solves - 1, squeezed, previous,
                build_s + t1 - t0, solve_s,
            )  # fmt: skip
        build_s += t1 - t0
        solve_s += time.perf_counter() - t1
        plan = read_plan(model, stats, relaxed=relax)
        if relax:
            return _Loop(plan, work, [], solves, squeezed, previous, build_s, solve_s)
        jobs = placed_jobs(plan, scenario, work, rated, solves, solves == RERATE_SOLVES)
        if not any(j.status == "optimistic" for j in jobs):
            break
        done = _Loop(plan, work, jobs, solves, squeezed, previous, build_s, solve_s)
        if held is not None and _within_gap(held, done, options.mip_gap):
            return dataclasses.replace(done, held_wins=True)
        now = {
            (j.workload, j.role, j.system)
            for j in jobs
            if j.status == "optimistic" and j.placed_accelerators > j.rate_job_accelerators
        }
        squeezed |= now
        if stop_on_squeeze and now and solves < RERATE_SOLVES:
            return _Loop(plan, work, jobs, solves, squeezed, previous, build_s, solve_s, True)
        previous, work = work, rerated(work, jobs, scenario, plan)
    assert plan is not None
    return _Loop(plan, work, jobs, solves, squeezed, previous, build_s, solve_s)


def _not_converged(jobs: list[JobRow]) -> list[JobRow]:
    return [
        dataclasses.replace(j, status="not converged") if j.status == "optimistic" else j
        for j in jobs
    ]


def _solver_options(options: SolverOptions, given: dict[str, object]) -> SolverOptions:
    """The scenario's solver options with solve()'s arguments, validated as the scenario's
    `solver:` block is (scenario.solver_args: a bad argument is a ConfigError naming it, not a
    failure deep in the solver: solve(mip_gap=2) or method="foo" were taken as given,
    mip_gap="x" a TypeError). The validated values, not the given ones: time_limit_s="60 s"
    is 60.0 (taken as given, the deadline's float + str was a TypeError traceback)."""
    update = solver_args("planner.solve", given)
    return options.model_copy(update=update) if update else options


def _attach_context(plan: Plan, scenario: Scenario) -> None:
    """Catalog prices and economics for the decision summary (planner/decision.py)."""
    systems = {f.system for f in plan.fleet} | {c.system for c in plan.cpu_servers}
    plan.catalog_prices = {
        name: {
            "capex_usd": spec.capex_usd,
            "lifetime_s": spec.lifetime_s,
            "rental_usd_per_hour": spec.rental_usd_per_hour,
        }
        for name, spec in sorted(scenario.catalog.systems.items())
        if name in systems
    }
    econ = scenario.data.economics
    plan.economics = {
        "pricing": econ.pricing,
        "cost_of_capital": econ.cost_of_capital,
        "horizon_s": econ.horizon_s,
        "discount_rate": econ.discount_rate,
        "after_horizon": econ.after_horizon,
    }
    if econ.resale_fraction:  # only when given: every other plan's economics as before
        plan.economics["resale_fraction"] = econ.resale_fraction
    if econ.after_horizon == "ends" and econ.period_s is None:
        # one fleet for the horizon under ends: a unit stands for ceil(H / L) purchases
        # (planner/lp/objective.py purchases); only systems bought more than once are named
        from planner.lp.objective import purchases_over

        again = {
            name: n
            for name, prices in plan.catalog_prices.items()
            if (n := purchases_over(econ.horizon_s, float(prices["lifetime_s"]))) > 1
        }
        if again:
            plan.economics["purchases"] = again


def write_model(prob: LinearProblem, path: str | Path) -> Path:
    """The problem as an MPS file (`.mps`) or else CPLEX LP format, written by PuLP from its
    copy of the problem (planner/lp/linear.py `to_pulp`)."""
    from fleetcore.outfile import atomic_path
    from planner.lp.linear import to_pulp

    theirs = to_pulp(prob)[0]
    out = Path(path)
    with atomic_path(out) as tmp:  # PuLP writes by name
        if out.suffix.lower() == ".mps":
            theirs.writeMPS(str(tmp))
        else:
            theirs.writeLP(str(tmp))
    return out
