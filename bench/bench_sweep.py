"""Benchmark: a sweep's cost per point and the parent's peak memory against the number of points.

A cheap scenario (one chat tier of llama-3.1-70b on the h100-cluster preset) is swept over
requests_per_day = 1M, 2M, ... ; each sweep runs in a fresh Python process (so its peak memory
is its own), `--jobs` worker processes wide, with and without keep_plans. Printed per sweep:
points, wall seconds, milliseconds per point, the CPU milliseconds per point of the workers
(their start-up included) and of the parent, and the parent's peak resident memory (the
workers' are not in it). The machine's load average is printed first: on a shared machine the
wall figures move with it, the CPU figures much less.

    python bench/bench_sweep.py                       # 100, 300 and 1000 points on 2 workers
    python bench/bench_sweep.py --points 50 200 --jobs 1

Then, in one process and one core, the same points' cost per point, with a new HiGHS object per
point (`--fresh-solver`) and with the kept one (the default: planner/lp/transfer.py
`kept_solver`), against the warm re-solve limit: one HiGHS model kept, each point's costs,
bounds, right-hand sides and coefficients changed in place and re-solved from the previous
basis (LP relaxation, then the MIP), with nothing else done (no loading, demand models, model
building, reading or verifying). CPU time of the process (HiGHS runs on one thread), so a
loaded machine moves the figures less than wall time. `--rounds` rounds, interleaved: medians and each round's
ratios, and how many points' MIP objectives differ from the MIP solved alone (each point's model
in a new object, no relaxation run first); and the cold re-solve floor: the limit's two runs
with each point's model passed anew (no basis kept). Then the LP relaxation
alone, HiGHS only, solved from nothing against re-solved from the previous point's basis (time;
answers differing in any bit; points ending on another basis; warm answers a uniqueness
certificate, primal and dual nondegeneracy beyond 1e-6, would accept); the kept sweep's points
with HiGHS's own runs timed inside them (every `highspy.Highs.run`: relaxation, MIP, polish) against
the rest of a point, both as multiples of the limit; the sweep with the serving physics computed afresh at
every point (its per-process cache cleared first: planner/demand/memo.py); and the kept point
by stage (`_stages`: loading and validating, demand models, the build, the solve's Python,
HiGHS's runs, reading the plan, verifying, summarising, the rest), each as a multiple of the
limit, with what a point would cost without its loading, demand models and build (the
ceiling of patching a kept model in their place); and whether the MIP or the polish could be
left out with the same bytes (`_skippable`: relaxations integral, polishes that changed nothing); and
HiGHS's runs by kind (`_run_kinds`: relaxation, MIP, polish, other) with the models built a
point (the re-rating's re-solves). `--rl-points N`
does the same serially on rl-verifiers.yaml over samples_per_problem = 4, 5, ...

Read the per-point figures against each other (same run, same machine), not as absolutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = """\
description: bench - one chat tier on one site
topology: h100-cluster
economics:
  horizon: 365 days
  pricing: amortised
workloads:
  chat:
    kind: inference
    model: llama-3.1-70b
    precision: fp8
    requests_per_day: 10M
    prompt_tokens: 1000
    output_tokens: 500
    tokens_per_s_per_user: 30
"""
AXIS = "workloads.chat.requests_per_day"
RL = str(ROOT / "planner" / "scenarios" / "rl-verifiers.yaml")
RL_AXIS = "workloads.rl-code.samples_per_problem"
# Each axis's values for n points: the chat tier's demand 1M, 2M, ...; RL samples 4, 5, ...
AXIS_VALUES = {
    AXIS: lambda n: [f"{i}M" for i in range(1, n + 1)],
    RL_AXIS: lambda n: [str(4 + i) for i in range(n)],
}


def child(scenario: str, points: int, jobs: int, keep: bool) -> None:
    """Run one sweep in this process and print its figures as JSON."""
    sys.path.insert(0, str(ROOT))
    import planner

    parent_cpu, workers_cpu = _cpu_s(resource.RUSAGE_SELF), _cpu_s(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    sw = planner.sweep(
        scenario, {AXIS: [f"{i}M" for i in range(1, points + 1)]}, jobs=jobs, keep_plans=keep
    )
    wall = time.perf_counter() - started
    ok = sum(1 for p in sw.points if p["status"] == "optimal")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "points": points,
                "optimal": ok,
                "wall_s": wall,
                "peak_mib": peak_mib,
                "parent_cpu_s": _cpu_s(resource.RUSAGE_SELF) - parent_cpu,
                # Workers that have exited (the pool is shut down when sweep() returns).
                "workers_cpu_s": _cpu_s(resource.RUSAGE_CHILDREN) - workers_cpu,
            }
        )
    )


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _tasks(scenario: str, axis: str, values: list[str], keep_solver: bool) -> list[dict]:
    return [
        {
            "scenario_path": scenario,
            "overrides": (),
            "sets": (f"{axis}={v}",),
            "options": {"relax": False, "solver": None, "time_limit_s": None, "mip_gap": None},
            "cache_dir": None,
            "keep_plan": False,
            "reuse_solver": keep_solver,
        }
        for v in values
    ]


def _serial_s(tasks: list[dict]) -> float:
    """Seconds per point of a serial sweep over `tasks` (sweeps.run_point, as a worker runs)."""
    from planner.sweeps import run_point

    started = time.process_time()
    for task in tasks:
        run_point(task)
    return (time.process_time() - started) / len(tasks)


# HiGHS's runs of a kept sweep point by kind (`_run_kinds`): the planner function that calls
# `highspy.Highs.run` (PuLP's callSolver runs the LP relaxation: planner/lp/solve.py `_run`;
# `_run_mip` the MIP and `_tighten`'s rounds; `_polish` the fixed-integer LP). Runs from anywhere
# else (the rounded start's re-solves, a whole-unit bound or a diagnosis in objects of their
# own, a scaled re-run) are "other".
RUN_KINDS = (("relaxation", "callSolver"), ("MIP", "_run_mip"), ("polish", "_polish"))


@contextlib.contextmanager
def _timed_runs() -> Iterator[dict[str, list[float]]]:
    """Within: every `highspy.Highs.run` timed (CPU), by kind (RUN_KINDS, from the calling
    function's name, and "other"): yields {kind: [seconds, runs]}, added to as runs end.
    `highspy.Highs.run` is restored on leaving."""
    import highspy

    kinds = {caller: kind for kind, caller in RUN_KINDS}
    spent: dict[str, list[float]] = {kind: [0.0, 0] for kind in [*kinds.values(), "other"]}
    run = highspy.Highs.run

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        kind = kinds.get(sys._getframe(1).f_code.co_name, "other")
        started = time.process_time()
        try:
            return run(self, *args, **kwargs)
        finally:
            spent[kind][0] += time.process_time() - started
            spent[kind][1] += 1

    setattr(highspy.Highs, "run", timed)  # noqa: B010 - a method patched for timing
    try:
        yield spent
    finally:
        setattr(highspy.Highs, "run", run)  # noqa: B010


def _highs_share(tasks: list[dict]) -> tuple[float, float, float]:
    """The kept sweep over `tasks` once more, serially, with every `highspy.Highs.run` timed
    (`_timed_runs`): CPU seconds a point inside HiGHS's runs, runs a point, and CPU seconds a
    point in all (the timing wrapper's own cost included in the latter only)."""
    from planner.sweeps import run_point

    with _timed_runs() as spent:
        started = time.process_time()
        for task in tasks:
            run_point(task)
        total = time.process_time() - started
    n = len(tasks)
    return sum(s for s, _ in spent.values()) / n, sum(r for _, r in spent.values()) / n, total / n


def _run_kinds(tasks: list[dict]) -> tuple[dict[str, tuple[float, float]], float, float]:
    """The kept sweep over `tasks` once more, serially, with every `highspy.Highs.run` timed
    (CPU) by kind (`_timed_runs`): {kind: (seconds a point, runs a point)}; models built a
    point (planner.api's `build` calls: one per solve, the re-rating's re-solves included:
    planner/api.py `_rerate_loop`); and seconds a point in all. Every function is restored."""
    import planner.api as api
    from planner.sweeps import run_point

    built = [0]
    build = api.build

    def counted(*args: Any, **kwargs: Any) -> Any:
        built[0] += 1
        return build(*args, **kwargs)

    api.build = counted
    try:
        with _timed_runs() as spent:
            started = time.process_time()
            for task in tasks:
                run_point(task)
            total = time.process_time() - started
    finally:
        api.build = build
    n = len(tasks)
    return {k: (v[0] / n, v[1] / n) for k, v in spent.items()}, built[0] / n, total / n


# The stages of a kept sweep point (`_stages`): (label, module, attribute looked up at call time).
STAGES = (
    ("load and validate", "planner.scenario", "load_scenario"),
    ("demand models", "planner.api", "demands"),
    ("model build", "planner.api", "build"),
    ("solve (Python)", "planner.api", "solve_model"),
    ("read plan", "planner.api", "read_plan"),
    ("verify", "planner.api", "verify"),
    ("summarise", "planner.sweeps", "point_outputs"),
)
HIGHS_RUNS = "HiGHS's runs"


def _stages(tasks: list[dict]) -> tuple[dict[str, float], float]:
    """The kept sweep over `tasks` once more, serially, with each stage of STAGES and every
    `highspy.Highs.run` timed (CPU): seconds a point per stage ("solve (Python)" is
    solve_model less HiGHS's runs inside it; "the rest": the point less every stage: the
    re-rating loop, attaching jobs and context, run_point's own), and seconds a point in all.
    The timing wrappers' own cost lands in the stages; every function is restored."""
    import importlib

    import highspy

    from planner.sweeps import run_point

    spent: dict[str, float] = dict.fromkeys([label for label, _, _ in STAGES] + [HIGHS_RUNS], 0.0)

    def timed(label: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.process_time() - started

        return wrapper

    saved = [(importlib.import_module(m), a) for _, m, a in STAGES]
    originals = [getattr(mod, attr) for mod, attr in saved]
    run = highspy.Highs.run
    try:
        for (label, _, _), (mod, attr), fn in zip(STAGES, saved, originals, strict=True):
            setattr(mod, attr, timed(label, fn))
        setattr(highspy.Highs, "run", timed(HIGHS_RUNS, run))  # noqa: B010
        started = time.process_time()
        for task in tasks:
            run_point(task)
        total = time.process_time() - started
    finally:
        for (mod, attr), fn in zip(saved, originals, strict=True):
            setattr(mod, attr, fn)
        setattr(highspy.Highs, "run", run)  # noqa: B010
    spent["solve (Python)"] -= spent[HIGHS_RUNS]
    spent["the rest"] = total - sum(spent.values())
    return {k: v / len(tasks) for k, v in spent.items()}, total / len(tasks)


def _skippable(tasks: list[dict]) -> tuple[int, int, int]:
    """Whether either HiGHS run after the relaxation could be left out of the kept sweep's points
    over `tasks` with the same bytes: how many points' LP relaxations are integral in every
    integer column (within 1e-9; only those could skip the MIP), and, of the points polished,
    how many MIP solutions had every integer column exactly whole and how many the polish
    (planner/lp/solve.py `_polish`) left with every column's value the same bits (only those
    could skip it). Returns (relaxations integral, MIP integers exact, polish unchanged)."""
    import pulp

    import planner.lp.solve as solve
    from planner.sweeps import run_point

    counts = [0, 0, 0]
    polish, resolve = solve._polish, solve._resolve_as_mip

    def integers(model: Any) -> list:
        return [v for v in model.prob.variables() if v.cat == pulp.LpInteger]

    def resolve_counted(model: Any, *args: Any) -> Any:
        counts[0] += all(abs(v.varValue - round(v.varValue)) <= 1e-9 for v in integers(model))
        return resolve(model, *args)

    def polish_counted(model: Any, *args: Any) -> Any:
        before = [v.varValue for v in model.prob.variables()]
        counts[1] += all(v.varValue == round(v.varValue) for v in integers(model))
        out = polish(model, *args)
        counts[2] += before == [v.varValue for v in model.prob.variables()]
        return out

    solve._polish, solve._resolve_as_mip = polish_counted, resolve_counted
    try:
        for task in tasks:
            run_point(task)
    finally:
        solve._polish, solve._resolve_as_mip = polish, resolve
    return counts[0], counts[1], counts[2]


def _relaxations(scenario: str, axis: str, values: list[str]) -> list:
    """Each point's LP relaxation as HiGHS receives it (planner/lp/transfer.py)."""
    from planner.api import demands
    from planner.lp.build import build
    from planner.lp.solve import make_solver
    from planner.lp.transfer import transfer
    from planner.scenario import load_scenario

    out = []
    for v in values:
        sc = load_scenario(scenario, sets=[f"{axis}={v}"])
        model = build(sc, demands(sc))
        transfer(model.prob, make_solver("highs", False, sc.data.solver.mip_gap, 60.0, "choose"))
        out.append(model.prob.solverModel.getLp())
    return out


def _change_in_place(highs, lp) -> None:
    """Costs, bounds, right-hand sides and coefficients of `lp` into `highs` (same structure)."""
    import highspy

    n, m = lp.num_col_, lp.num_row_
    highs.changeColsCost(n, range(n), lp.col_cost_)
    highs.changeColsBounds(n, range(n), lp.col_lower_, lp.col_upper_)
    highs.changeRowsBounds(m, range(m), lp.row_lower_, lp.row_upper_)
    a = lp.a_matrix_
    rowwise = a.format_ == highspy.MatrixFormat.kRowwise
    for outer in range(len(a.start_) - 1):
        for k in range(a.start_[outer], a.start_[outer + 1]):
            row, col = (outer, a.index_[k]) if rowwise else (a.index_[k], outer)
            highs.changeCoeff(row, col, a.value_[k])


def _answer(highs) -> tuple:
    sol = highs.getSolution()
    return (
        tuple(sol.col_value),
        tuple(sol.col_dual),
        tuple(sol.row_dual),
        highs.getInfo().objective_function_value,
    )


def _basis(highs) -> tuple:
    b = highs.getBasis()
    return tuple(int(x) for x in b.col_status), tuple(int(x) for x in b.row_status)


# Margin of the uniqueness certificate (`_certified`): beyond HiGHS's primal and dual feasibility
# tolerances (1e-7).
CERTIFY_MARGIN = 1e-6


def _certified(highs) -> bool:
    """Whether the optimal basis in `highs` is certified unique: every nonbasic column and row
    has a reduced cost (dual) beyond CERTIFY_MARGIN (dual nondegenerate: the primal optimum is
    unique) and every basic one a value beyond CERTIFY_MARGIN of its bounds (primal
    nondegenerate: so is the dual, and the basis is the one optimal basis). Only then would a
    warm-started answer be, in exact arithmetic, the one a cold solve finds."""
    import highspy

    sol, basis, lp = highs.getSolution(), highs.getBasis(), highs.getLp()
    basic = highspy.HighsBasisStatus.kBasic
    pairs = [
        (sol.col_value, sol.col_dual, basis.col_status, lp.col_lower_, lp.col_upper_),
        (sol.row_value, sol.row_dual, basis.row_status, lp.row_lower_, lp.row_upper_),
    ]
    for values, duals, statuses, lower, upper in pairs:
        for x, d, status, lo, hi in zip(values, duals, statuses, lower, upper, strict=True):
            if status == basic:
                if min(x - lo, hi - x) <= CERTIFY_MARGIN:
                    return False
            elif abs(d) <= CERTIFY_MARGIN:
                return False
    return True


def warm_basis(lps: list) -> tuple[float, float, int, int, int]:
    """The relaxation alone, HiGHS only: seconds per point solved from nothing in one kept object
    (passModel: what sweeps do) and re-solved from the previous point's basis after changing
    the LP in place (what a warm-started sweep would do); how many points' answers (column
    values, reduced costs, row duals, objective) differ in any bit between the two, how many
    end on another basis, and how many warm answers a uniqueness certificate (`_certified`)
    would accept."""
    import highspy

    def kept() -> highspy.Highs:
        highs = highspy.Highs()
        for key, value in (("output_flag", False), ("threads", 1), ("time_limit", 60.0)):
            highs.setOptionValue(key, value)
        return highs

    cold_highs, warm_highs = kept(), kept()
    warm_highs.passModel(lps[0])
    warm_highs.run()
    cold_answers = []
    started = time.process_time()
    for lp in lps:
        cold_highs.passModel(lp)
        cold_highs.run()
        cold_answers.append((_answer(cold_highs), _basis(cold_highs)))
    cold_s = (time.process_time() - started) / len(lps)
    warm_answers = []
    started = time.process_time()
    for lp in lps:
        _change_in_place(warm_highs, lp)
        warm_highs.run()
        warm_answers.append((_answer(warm_highs), _basis(warm_highs), _certified(warm_highs)))
    warm_s = (time.process_time() - started) / len(lps)  # (the certificate's Python included)
    differ = sum(w[0] != c[0] for w, c in zip(warm_answers, cold_answers, strict=True))
    other_basis = sum(w[1] != c[1] for w, c in zip(warm_answers, cold_answers, strict=True))
    certified = sum(w[2] for w in warm_answers)
    return cold_s, warm_s, differ, other_basis, certified


def limit_s(lps_mip: list, cold_start: bool = False) -> tuple[float, int, list[float]]:
    """The warm re-solve limit: one HiGHS model kept, each point's costs, bounds, right-hand
    sides and coefficients changed in place, re-solved from the previous basis as the LP
    relaxation then as the MIP; seconds per point and how many MIP objectives differ from
    `cold` (each point's model solved alone). cold_start: the same two runs with each point's
    model passed anew instead (`passModel`: no basis kept), the floor of HiGHS's time for
    answers that cannot depend on the point before."""
    import highspy

    lps, colds = zip(*lps_mip, strict=True)
    kept = highspy.Highs()
    kept.setOptionValue("output_flag", False)
    kept.setOptionValue("threads", 1)
    kept.setOptionValue("mip_rel_gap", 0.01)
    kept.passModel(lps[0])
    integer = [
        j for j, t in enumerate(lps[0].integrality_) if t != highspy.HighsVarType.kContinuous
    ]
    continuous = [highspy.HighsVarType.kContinuous] * len(integer)
    ints = [highspy.HighsVarType.kInteger] * len(integer)
    differ = 0
    started = time.process_time()
    for lp, cold in zip(lps, colds, strict=True):
        if cold_start:
            kept.passModel(lp)
        else:
            _change_in_place(kept, lp)
        kept.changeColsIntegrality(len(integer), integer, continuous)
        kept.run()
        kept.changeColsIntegrality(len(integer), integer, ints)
        kept.run()
        warm = kept.getInfo().objective_function_value
        differ += abs(warm - cold) > 1e-6 * max(1.0, abs(cold))
    return (time.process_time() - started) / len(lps), differ, list(colds)


def warm_limit(scenario: str, points: int, axis: str = AXIS, rounds: int = 5) -> None:
    """Print, serially in one process, a sweep point's time with a new HiGHS object per point
    (`--fresh-solver`, as before session 19) and with the kept object (the default), against
    the warm re-solve limit, `rounds` times interleaved (medians, and each round's ratios).
    Then the relaxation alone re-solved from the previous basis (not used by sweeps: README
    "Sweeps"), and the sweep with the serving physics computed afresh at every point."""
    sys.path.insert(0, str(ROOT))
    from planner.api import demands
    from planner.demand.inference import clear_physics_caches
    from planner.lp.build import build
    from planner.lp.solve import _quiet_stdout, make_solver
    from planner.scenario import load_scenario
    from planner.sweeps import run_point

    values = AXIS_VALUES[axis](points)
    fresh, kept = _tasks(scenario, axis, values, False), _tasks(scenario, axis, values, True)
    for task in fresh + kept:  # physics caches warm, as a worker's after a few points
        run_point(task)
    with _quiet_stdout():
        models = []
        for v in values:  # each point's model in HiGHS, and its cold MIP optimum
            sc = load_scenario(scenario, sets=[f"{axis}={v}"])
            prob = build(sc, demands(sc)).prob
            solver = make_solver("highs", True, sc.data.solver.mip_gap, 60.0, "choose")
            solver.createAndConfigureSolver(prob)
            solver.buildSolverModel(prob)
            lp = prob.solverModel.getLp()
            prob.solverModel.run()
            models.append((lp, prob.solverModel.getInfo().objective_function_value))
        columns = {(m[0].num_col_, m[0].num_row_) for m in models}
        rows = []
        for _ in range(rounds):
            fresh_s = _serial_s(fresh)
            kept_s = _serial_s(kept)
            # (the limit needs one structure for all points)
            limit, differ, _ = limit_s(models) if len(columns) == 1 else (float("nan"), -1, [])
            floor, floor_differ, _ = limit_s(models, cold_start=True)
            rows.append((fresh_s, kept_s, limit, differ, floor, floor_differ))
        relax_cold, relax_warm, relax_differ, relax_basis, relax_certified = warm_basis(
            _relaxations(scenario, axis, values)
        )
        highs_s, highs_runs, kept_again_s = _highs_share(kept)
        stages, staged_s = _stages(kept)
        run_kinds, built, _ = _run_kinds(kept)
        integral, exact, unchanged = _skippable(kept)
        started = time.process_time()
        for task in kept:
            clear_physics_caches()
            run_point(task)
        cold_physics_s = (time.process_time() - started) / points
    med = [statistics.median(r[i] for r in rows) for i in (0, 1, 2, 4)]
    print(
        f"serial, {points} points over {axis}, {rounds} interleaved rounds (medians): "
        f"new HiGHS object per point {1000 * med[0]:.2f} ms/point; kept object (default) "
        f"{1000 * med[1]:.2f} ms/point; warm re-solve limit {1000 * med[2]:.2f} ms/point"
    )
    print(
        "  ratios per round (fresh/limit, kept/limit, kept/fresh): "
        + "; ".join(f"{f / lim:.2f}x {k / lim:.2f}x {k / f:.3f}" for f, k, lim, *_ in rows)
    )
    print(
        f"  medians: fresh {med[0] / med[2]:.2f}x, kept {med[1] / med[2]:.2f}x the limit; "
        f"MIP objectives of the limit differing from the MIP solved alone: {rows[-1][3]} of "
        f"{points}"
    )
    print(
        f"  cold re-solve floor (the same two HiGHS runs, each point's model passed anew): "
        f"{1000 * med[3]:.2f} ms/point, {med[3] / med[2]:.2f}x the limit; kept object "
        f"{med[1] / med[3]:.2f}x the floor; its MIP objectives differing from the MIP solved alone: "
        f"{rows[-1][5]} of {points}"
    )
    print(
        f"  the LP relaxation alone in HiGHS: from nothing in the kept object "
        f"{1000 * relax_cold:.3f} ms/point, from the previous point's basis "
        f"{1000 * relax_warm:.3f} ms/point (its certificate's Python included); answers "
        f"differing in any bit: {relax_differ} of {points}, on another basis: {relax_basis}, "
        f"warm answers certified unique (nondegenerate by {CERTIFY_MARGIN:g}): "
        f"{relax_certified}"
    )
    print(
        f"  HiGHS's own runs inside the kept sweep's points (relaxation, MIP, polish): "
        f"{1000 * highs_s:.2f} ms/point in {highs_runs:g} runs a point, {highs_s / med[2]:.2f}x "
        f"the limit; the rest of a point (loading, demand, building, reading, verifying, the "
        f"solve's Python) {1000 * (kept_again_s - highs_s):.2f} ms, "
        f"{(kept_again_s - highs_s) / med[2]:.2f}x the limit"
    )
    print(
        "  HiGHS's runs by kind, ms a point (runs a point, x the limit): "
        + "; ".join(
            f"{kind} {1000 * s:.3f} ({r:.2f} runs, {s / med[2]:.2f}x)"
            for kind, (s, r) in run_kinds.items()
        )
        + f"; models built a point {built:.2f} (a solve each: the re-rating's re-solves)"
    )
    print(
        f"  serving physics not cached (kept object): {1000 * cold_physics_s:.2f} ms/point "
        f"({cold_physics_s / med[2]:.2f}x the limit)"
    )
    print(
        f"  stages of a kept point, ms and x the limit (CPU; {1000 * staged_s:.2f} ms/point "
        "timed): " + "; ".join(f"{k} {1000 * v:.3f} ({v / med[2]:.2f}x)" for k, v in stages.items())
    )
    # What a point would cost if a kept model were patched in place of loading, demand models
    # and the build (everything else as today: HiGHS's three runs, reading, verifying).
    patched = staged_s - sum(
        stages[k] for k in ("load and validate", "demand models", "model build")
    )
    # And with the solve's Python free too: what every design that solves each point cold in
    # HiGHS (its three runs) and reads, verifies and summarises it in Python still spends.
    kept_stages = (HIGHS_RUNS, "read plan", "verify", "summarise")
    floor_s = sum(stages[k] for k in kept_stages)
    print(
        f"  a point without loading, demand models and the build (their ceiling): "
        f"{1000 * patched:.2f} ms, {patched / med[2]:.2f}x the limit; HiGHS's runs alone "
        f"{stages[HIGHS_RUNS] / med[2]:.2f}x; with HiGHS's runs, reading, verifying and "
        f"summarising only: {1000 * floor_s:.2f} ms, {floor_s / med[2]:.2f}x"
    )
    print(
        f"  HiGHS's runs that could be left out with the same bytes: LP relaxations integral "
        f"(the MIP not needed) {integral} of {points}; MIP solutions with every integer exactly "
        f"whole {exact}, of which the polish changed no value's bits in {unchanged} (skipping "
        f"it would change the other {points - unchanged} points' plans)"
    )


def measure(scenario: str, points: int, jobs: int, keep: bool) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", scenario, str(points), str(jobs), str(int(keep))]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, scenario, points, jobs, keep = sys.argv
        child(scenario, int(points), int(jobs), keep == "1")
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--limit-child":
        warm_limit(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit-points", type=int, default=200, help="points for the limit")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the limit")
    parser.add_argument(
        "--rl-points",
        type=int,
        default=0,
        help="also the serial comparison on rl-verifiers.yaml over samples_per_problem",
    )
    parser.add_argument(
        "--keep-plans-up-to",
        type=int,
        default=300,
        help="also run keep_plans=True (full plans in the parent) up to this many points",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scenario = str(Path(tmp) / "chat.yaml")
        Path(scenario).write_text(SCENARIO, encoding="utf-8")
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average {load} on {os.cpu_count()} CPUs")
        print(
            f"{'points':>7} {'plans kept':>10} {'wall s':>8} {'ms/point':>9} "
            f"{'worker CPU ms/point':>20} {'parent CPU ms/point':>20} {'parent peak MiB':>16}"
        )
        for points in args.points:
            for keep in (False, True):
                if keep and points > args.keep_plans_up_to:
                    continue
                r = measure(scenario, points, args.jobs, keep)
                assert r["optimal"] == points, r
                print(
                    f"{points:>7} {'yes' if keep else 'no':>10} {r['wall_s']:>8.2f} "
                    f"{1000 * r['wall_s'] / points:>9.2f} "
                    f"{1000 * r['workers_cpu_s'] / points:>20.2f} "
                    f"{1000 * r['parent_cpu_s'] / points:>20.2f} {r['peak_mib']:>16.1f}"
                )
        serial = [(scenario, args.limit_points, AXIS), (RL, args.rl_points, RL_AXIS)]
        for path, points, axis in serial:
            if not points:
                continue
            cmd = [sys.executable, __file__, "--limit-child", path, str(points), axis]
            cmd.append(str(args.rounds))
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
            print("\n".join(out.stdout.strip().splitlines()[-11:]))
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average {load} at the end")


if __name__ == "__main__":
    main()
