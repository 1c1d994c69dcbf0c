"""Benchmark: scenarios of growing size (sites x system types x work items, up to 50 sites).

Prints, per size: variables, constraints, and the seconds spent building the model (demand
models included), solving (LP relaxation + MIP, through PuLP), on the LP relaxation alone (`LP
s`, transfer to HiGHS included), inside HiGHS itself, and verifying + reporting; and the ratio
of the planner's total to HiGHS's own solve time; and the CPU seconds of the whole plan and of
HiGHS's runs (`HighsClock`) and their ratio, which holds on a shared machine where the wall
ratio counts the other processes' turns. `--method ipm` solves the relaxation by
interior point (what follows it is simplex, warm from its crossover basis).

    python bench/bench_lp.py                 # default sizes
    python bench/bench_lp.py --sites 5 20 50 --method ipm

`--bare-mip SECONDS` also hands the same model, as the planner hands it to HiGHS (written by
HiGHS, so bit for bit), to HiGHS's own MIP in a child process (one thread, the plan's 1% gap, at
most SECONDS) and prints its CPU seconds, status and cost beside the planner's: the yardstick a
planner that only called HiGHS would meet (bench/bench_startup.py's `bare highspy` at fleet
scale).

    python bench/bench_lp.py --sites 30 --systems 5 --period "1 quarter" --horizon "6 years" \
        --scale 1.2 --bare-mip 600

`--stages` also prints the plan's CPU seconds by stage (load, demands, build, the solve's own
Python around HiGHS's runs, read_plan, verify, report), HiGHS's, the layout searches the demand
models ran (planner/demand/training.py `_SEARCHES`; none repeats: each is cached by its job size,
model, system figures and run) and the load average:

    python bench/bench_lp.py --sites 30 --systems 5 --period "1 quarter" --horizon "6 years" \
        --scale 1.2 --relax --stages

Wall-clock figures on a shared machine are noisy: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from fleetcore.errors import PlannerError
from planner.api import demands
from planner.demand import training
from planner.lp.build import build, thaw
from planner.lp.solve import make_solver, solve_model
from planner.lp.transfer import transfer
from planner.plan import Plan
from planner.readplan import read_plan
from planner.report import format_plan
from planner.scenario import Scenario, load_scenario
from planner.verify import verify

SYSTEMS = ["gb200-nvl72", "hgx-h100", "hgx-b200", "trn2-server", "trn2-ultraserver"]
INCUMBENT: dict[str, str | bool] = {"auto": "auto", "on": True, "off": False}
MODELS = ["llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "deepseek-v3"]
# HiGHS's own MIP on a written model: one thread (as the planner runs it), the plan's gap, a
# time limit; prints status, objective (its constant included), best bound and CPU seconds.
BARE_MIP = (
    "import sys, time, resource, highspy\n"
    "h = highspy.Highs()\n"
    "h.setOptionValue('output_flag', False)\n"
    "h.setOptionValue('threads', 1)\n"
    "h.setOptionValue('mip_rel_gap', float(sys.argv[2]))\n"
    "h.setOptionValue('time_limit', float(sys.argv[3]))\n"
    "h.readModel(sys.argv[1])\n"
    "cpu0 = time.process_time()\n"
    "h.run()\n"
    "cpu_s = time.process_time() - cpu0\n"
    "info = h.getInfo()\n"
    "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
    "status = h.modelStatusToString(h.getModelStatus()).replace(' ', '_')\n"
    "print(status, info.objective_function_value, info.mip_dual_bound, cpu_s, rss)\n"
)


def write_scenario(
    directory: Path,
    sites: int,
    systems: int,
    inference: int,
    rl: int,
    period: str | None = None,
    horizon: str = "365 days",
    scale: float = 1.0,
    incumbent: str | bool = "auto",
    time_limit_s: float = 300.0,
    bound: str = "auto",
) -> Path:
    """A synthetic topology (a ring of sites plus chords) and scenario sized by the arguments;
    `scale` multiplies every inference demand and each site's max_units (a fleet of ~1M
    accelerators is scale 40 at 50 sites); `period` cuts the horizon into calendar periods with
    mixed pricing (orders, lead times, contracts, rent per period)."""
    dcs = {}
    max_units = int(2000 * max(scale, 1.0))
    for i in range(sites):
        placed = {SYSTEMS[(i + k) % len(SYSTEMS)]: {"max_units": max_units} for k in range(systems)}
        dcs[f"dc{i:02d}"] = {
            "power_cap": f"{60 + 10 * (i % 5)} MW",
            "pue": 1.1 + 0.05 * (i % 4),
            "electricity_usd_per_kwh": 0.05 + 0.01 * (i % 5),
            "systems": placed,
            "cpu_servers": {"system": "cpu-server", "max_units": 2000},
        }
    names = list(dcs)
    links = [
        {
            "a": names[i],
            "b": names[(i + 1) % sites],
            "capacity": "12.8 Tbps",
            "latency": "10 ms",
            "cost_usd_per_tb": 1.0,
        }
        for i in range(sites if sites > 2 else sites - 1)
    ]
    links += [
        {
            "a": names[i],
            "b": names[(i + sites // 2) % sites],
            "capacity": "3.2 Tbps",
            "latency": "30 ms",
            "cost_usd_per_tb": 2.0,
        }
        for i in range(0, sites // 2, 3)
        if sites >= 6
    ]
    (directory / "topo.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "bench",
                "description": "synthetic benchmark topology",
                "source": "generated",
                "datacenters": dcs,
                "links": links,
            }
        )
    )
    workloads: dict[str, dict] = {
        "pretrain": {
            "kind": "pretrain",
            "model": "llama-3.1-405b",
            "tokens": "15T",
            "deadline": "120 days",
            "goodput": 0.9,
            "global_batch_tokens": "16M",
        },
    }
    for i in range(inference):
        workloads[f"serve{i:02d}"] = {
            "kind": "inference",
            "model": MODELS[i % len(MODELS)],
            "precision": "fp8",
            "requests_per_day": f"{(5 + i % 7) * scale:g}M",
            "prompt_tokens": 1000,
            "output_tokens": [775, 2000, 7661][i % 3],
            "tokens_per_s_per_user": 30,
        }
    for i in range(rl):
        workloads[f"rl{i:02d}"] = {
            "kind": "rl",
            "policy": "llama-3.1-70b",
            "problems": "1M",
            "samples_per_problem": 16,
            "prompt_tokens": 1000,
            "completion_tokens": 8000,
            "kept_fraction": 0.05,
            "samples_per_update": "500K",
            "deadline": "60 days",
            "goodput": 0.9,
            "reward_models": [{"name": "orm", "model": "llama-3.1-8b", "kind": "outcome"}],
            "verifiers": [{"name": "code", "core_seconds_per_sample": 30, "applies_to": 0.5}],
        }
    economics: dict[str, object] = {"horizon": horizon, "pricing": "amortised"}
    if period:
        economics.update(period=period, pricing="mixed", start_date="2026-01-01")
        for i in range(inference):
            workloads[f"serve{i:02d}"]["growth_per_year"] = 1.0 + (i % 3)
    path = directory / "scenario.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "topology": "topo.yaml",
                "economics": economics,
                "solver": {
                    "mip_gap": 0.01,
                    "time_limit": f"{time_limit_s:g} s",
                    "incumbent": incumbent,
                    "bound": bound,
                },
                "workloads": workloads,
            }
        )
    )
    return path


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    """The synthetic fleet's size options of bench_build.py and bench_post.py (one solved fleet,
    20 sites x 5 systems over 5 years of quarters unless told)."""
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--systems", type=int, default=5, help="system types per site")
    parser.add_argument("--inference", type=int, default=12, help="inference workloads")
    parser.add_argument("--rl", type=int, default=2, help="RL workloads")
    parser.add_argument("--period", default="1 quarter")
    parser.add_argument("--horizon", default="5 years")
    parser.add_argument("--scale", type=float, default=1.0)


def write_fleet(directory: Path, args: argparse.Namespace) -> Path:
    """`write_scenario` sized by the options of `add_fleet_arguments`."""
    return write_scenario(
        directory,
        args.sites,
        args.systems,
        args.inference,
        args.rl,
        args.period,
        args.horizon,
        args.scale,
    )


def peak_accelerators(plan: Plan, scenario: Scenario) -> float:
    """The most accelerators in service in any period (the fleet's size)."""
    per_unit = {name: system.accelerators for name, system in scenario.catalog.systems.items()}
    by_period: dict[int, float] = {}
    for row in plan.schedule:
        by_period[row.period] = by_period.get(row.period, 0.0) + row.units * per_unit[row.system]
    if not by_period:
        return sum(row.units * per_unit[row.system] for row in plan.fleet)
    return max(by_period.values())


def _cpu_s() -> float:
    """CPU seconds of this process and of its ended children (planner/lp/race.py's solvers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class HighsClock:
    """CPU and wall seconds inside highspy's Highs.run and Highs.presolve (the rounding's
    infeasibility checks, planner/lp/incumbent.py `_resolve`), summed over every call in this
    process (the relaxation, re-solves, the MIP): wall time on a shared machine counts the
    other processes' turns, CPU time only HiGHS's own work (all its threads)."""

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self.wall_s = 0.0

    def __enter__(self) -> HighsClock:
        import highspy

        self._kept = {name: getattr(highspy.Highs, name) for name in ("run", "presolve")}
        for name, call in self._kept.items():
            setattr(highspy.Highs, name, self._timed(call))
        return self

    def _timed(self, call: Any) -> Any:
        def timed(highs: Any, *args: Any) -> Any:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            try:
                return call(highs, *args)
            finally:
                self.cpu_s += time.process_time() - cpu0
                self.wall_s += time.perf_counter() - wall0

        return timed

    def __exit__(self, *exc: object) -> None:
        import highspy

        for name, call in self._kept.items():
            setattr(highspy.Highs, name, call)


def nonzeros_by_family(model: Any) -> list[tuple[str, int, int]]:
    """(family, rows, nonzeros) of a built model's rows, most nonzeros first."""
    rows: dict[str, int] = {}
    terms: dict[str, int] = {}
    for label, row in model.constraints.items():
        rows[label.family] = rows.get(label.family, 0) + 1
        terms[label.family] = terms.get(label.family, 0) + len(row)
    return sorted(((f, rows[f], terms[f]) for f in rows), key=lambda x: -x[2])


def print_nonzeros(model: Any) -> None:
    """The families' rows and nonzeros, and each one's share of the model's nonzeros."""
    table = nonzeros_by_family(model)
    total = sum(n for _, _, n in table) or 1
    print(f"      nonzeros {total:,} in {sum(r for _, r, _ in table):,} rows:", flush=True)
    for name, rows, n in table:
        if n >= total / 200:  # families under 0.5% of the nonzeros left out
            print(f"      {name:>12} {rows:>8,} rows {n:>10,} nonzeros {n / total:6.1%}")


def run(
    sites: int,
    systems: int,
    inference: int,
    rl: int,
    method: str,
    period: str | None = None,
    horizon: str = "365 days",
    scale: float = 1.0,
    incumbent: str | bool = "auto",
    relax: bool = False,
    time_limit_s: float = 300.0,
    bound: str = "auto",
    nonzeros: bool = False,
    bare_mip_s: float = 0.0,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_scenario(
            Path(tmp),
            sites,
            systems,
            inference,
            rl,
            period,
            horizon,
            scale,
            incumbent,
            time_limit_s,
            bound,
        )
        t0, cpu0 = time.perf_counter(), _cpu_s()
        searched0 = len(training._SEARCHES)
        scenario = load_scenario(path)
        cpu_load = _cpu_s()
        work = demands(scenario)
        cpu_demands = _cpu_s()
        searched = len(training._SEARCHES) - searched0
        model = build(scenario, work)
        t1, cpu_build = time.perf_counter(), _cpu_s()
        if nonzeros:  # before the solve; its time and CPU left out of every figure
            cpu_nz = _cpu_s()
            print_nonzeros(model)
            spent = time.perf_counter() - t1
            t0, t1, cpu0 = t0 + spent, t1 + spent, cpu0 + _cpu_s() - cpu_nz
        mps = Path(tmp) / "model.mps"
        if bare_mip_s:  # written before the solve; its time and CPU left out of every figure
            cpu_w, wall_w = _cpu_s(), time.perf_counter()
            constant_usd = write_exact(model, mps)
            spent = time.perf_counter() - wall_w
            t0, t1, cpu0 = t0 + spent, t1 + spent, cpu0 + _cpu_s() - cpu_w
        cpu_presolve = _cpu_s()  # after the optional writes, left out of the stages
        with HighsClock() as highs:
            stats = solve_model(model, "highs", 0.01, time_limit_s, method, relax_only=relax)
        t2, cpu_solve = time.perf_counter(), _cpu_s()
        plan = read_plan(model, stats, relaxed=relax)
        cpu_read = _cpu_s()
        plan.checks = verify(plan, scenario, work)
        cpu_verify = _cpu_s()
        format_plan(plan)
        plan.to_json()
        t3, cpu3 = time.perf_counter(), _cpu_s()
        thaw()
        accelerators = peak_accelerators(plan, scenario)
        periods = len({row.period for row in plan.schedule}) or 1
        bare = bare_mip(mps, 0.01, bare_mip_s, constant_usd) if bare_mip_s else None
    return {
        "bare": bare,
        "cost_usd": plan.total_cost_usd,
        "variables": stats.variables,
        "constraints": stats.constraints,
        "build_s": t1 - t0,
        "solve_s": t2 - t1,
        "lp_s": stats.lp_s,
        "highs_s": model.solver_run_s,
        "verify_report_s": t3 - t2,
        "total_s": t3 - t0,
        "total_cpu_s": cpu3 - cpu0,
        "highs_cpu_s": highs.cpu_s,
        "proof": stats.proof,
        # CPU seconds by stage (`--stages`); the solve's own: the solve less HiGHS's runs
        "stages_cpu_s": {
            "load": cpu_load - cpu0,
            "demands": cpu_demands - cpu_load,
            "build": cpu_build - cpu_demands,
            "solve_own": cpu_solve - cpu_presolve - highs.cpu_s,
            "read_plan": cpu_read - cpu_solve,
            "verify": cpu_verify - cpu_read,
            "report": cpu3 - cpu_verify,
        },
        "searches": searched,  # layout searches the demand models ran (training._SEARCHES)
        "load_avg": os.getloadavg()[0],
        "fast_bound": model.fast_bound,  # planner/lp/aggregate.py RelaxedBound, or None
        "gap": stats.gap or 0.0,
        "accelerators": accelerators,
        "periods": periods,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # the largest child's (a raced relaxation's solvers, planner/lp/race.py; its resident
        # pages include those it shares with this process until either writes them)
        "child_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def write_exact(model: Any, path: Path) -> float:
    """Write `model` as the planner hands it to HiGHS (planner/lp/transfer.py; HiGHS's own MPS
    writer, every number as handed); returns the objective's constant, which transfer leaves
    out as PuLP does."""
    transfer(model.prob, make_solver("highs", True, 0.01, 60.0, "choose"))
    model.prob.solverModel.writeModel(str(path))
    return float(model.prob.objective.constant)


def bare_mip(path: Path, gap: float, time_limit_s: float, constant_usd: float) -> dict[str, Any]:
    """HiGHS's own MIP on the written model in a child process (BARE_MIP)."""
    out = subprocess.run(
        [sys.executable, "-c", BARE_MIP, str(path), str(gap), str(time_limit_s)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-5:]
    status, objective, bound, cpu_s, rss = out
    return {
        "status": status,
        "cost_usd": float(objective) + constant_usd,
        "bound_usd": float(bound) + constant_usd,
        "cpu_s": float(cpu_s),
        "rss_mib": float(rss),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, nargs="+", default=[1, 3, 10, 25, 50])
    parser.add_argument("--systems", type=int, default=3, help="system types per site")
    parser.add_argument("--inference", type=int, default=12, help="inference workloads")
    parser.add_argument("--rl", type=int, default=2, help="RL workloads")
    parser.add_argument("--method", choices=["choose", "simplex", "ipm"], default="choose")
    parser.add_argument("--period", help="calendar period, e.g. '1 quarter' (default: none)")
    parser.add_argument("--horizon", default="365 days", help="e.g. '5 years'")
    parser.add_argument("--scale", type=float, default=1.0, help="demand and max_units multiplier")
    parser.add_argument(
        "--incumbent",
        choices=["auto", "on", "off"],
        default="auto",
        help="solver.incumbent (a plan rounded from the LP relaxation; planner/lp/incumbent.py)",
    )
    parser.add_argument(
        "--relax", action="store_true", help="the LP relaxation only (planner plan --relax)"
    )
    parser.add_argument(
        "--bound",
        choices=["auto", "full"],
        default="auto",
        help="solver.bound (auto: the relaxed aggregated LP's bound where it applies; "
        "planner/lp/solve.py _solve_fast)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=300.0,
        help="solver.time_limit in s, a deadline from the start of the solve (solve_model): the "
        "relaxation, the rounded plan's re-solves, the MIP and an infeasible scenario's "
        "diagnosis together",
    )
    parser.add_argument(
        "--nonzeros",
        action="store_true",
        help="print each constraint family's rows and nonzeros of the built model",
    )
    parser.add_argument(
        "--bare-mip",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also solve the same model by HiGHS's own MIP (one thread, 1%% gap, at most "
        "SECONDS) and print it beside the plan",
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="also print each stage's CPU seconds (load, demands, build, the solve's own "
        "Python, read_plan, verify, report), HiGHS's, the layout searches the demand models "
        "ran and the load average",
    )
    args = parser.parse_args()
    stages = args.stages
    header = f"{'sites':>5} {'periods':>7} {'accel':>10} {'vars':>8} {'rows':>8} {'build s':>8} {'solve s':>8} {'LP s':>7} {'HiGHS s':>8} {'verify s':>8} {'gap':>7} {'MiB':>6} {'child MiB':>9} {'total/HiGHS':>11} {'(build+verify)/HiGHS':>21} {'total s':>8} {'CPU s':>8} {'HiGHS CPU s':>11} {'CPU/HiGHS CPU':>13} {'proof':>8}"
    print(header)
    for sites in args.sites:
        try:
            r = run(
                sites,
                args.systems,
                args.inference,
                args.rl,
                args.method,
                args.period,
                args.horizon,
                args.scale,
                INCUMBENT[args.incumbent],
                args.relax,
                args.time_limit,
                args.bound,
                args.nonzeros,
                args.bare_mip,
            )
        except PlannerError as exc:  # a size that finds no plan (a time limit) is a result too
            print(f"{sites:>5} {type(exc).__name__}: {exc}", flush=True)
            continue
        overhead = (
            (r["build_s"] + r["verify_report_s"]) / r["highs_s"] if r["highs_s"] else float("nan")
        )
        print(
            f"{sites:>5} {r['periods']:>7} {r['accelerators']:>10,.0f} {r['variables']:>8,} {r['constraints']:>8,} {r['build_s']:>8.2f} {r['solve_s']:>8.2f} "
            f"{r['lp_s']:>7.1f} {r['highs_s']:>8.2f} {r['verify_report_s']:>8.2f} {r['gap']:>7.2%} {r['peak_rss_mib']:>6.0f} {r['child_rss_mib']:>9.0f} "
            f"{r['total_s'] / r['highs_s'] if r['highs_s'] else float('nan'):>11.2f} {overhead:>21.2f} {r['total_s']:>8.1f} {r['total_cpu_s']:>8.2f} {r['highs_cpu_s']:>11.2f} "
            f"{r['total_cpu_s'] / r['highs_cpu_s'] if r['highs_cpu_s'] else float('nan'):>13.2f} {r['proof']:>8}",
            flush=True,
        )
        if stages:
            cpu = r["stages_cpu_s"]
            print(
                "      CPU s: "
                + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
                + f", HiGHS {r['highs_cpu_s']:.2f}; own/HiGHS "
                f"{sum(cpu.values()) / r['highs_cpu_s'] if r['highs_cpu_s'] else float('nan'):.3f}; "
                f"{r['searches']} layout searches; load {r['load_avg']:.2f}",
                flush=True,
            )
        bare = r["bare"]
        if bare is not None:
            found = math.isfinite(bare["cost_usd"])
            against = f"({r['cost_usd'] / bare['cost_usd'] - 1:+.2%})" if found else ""
            print(
                f"      bare HiGHS MIP: {bare['status']} in {bare['cpu_s']:.2f} CPU s "
                f"({bare['rss_mib']:.0f} MiB), "
                + (f"cost ${bare['cost_usd']:,.0f}" if found else "no plan found")
                + f" (bound ${bare['bound_usd']:,.0f}); planner ${r['cost_usd']:,.0f} {against}"
                f" in {r['total_cpu_s']:.2f} CPU s: planner CPU / bare MIP CPU "
                f"{r['total_cpu_s'] / bare['cpu_s']:.2f}",
                flush=True,
            )
        fast = r["fast_bound"]
        if fast is not None:
            print(
                f"      bound: relaxed aggregated LP, {fast.columns:,} columns ({fast.blocks:,} "
                f"blocks; {fast.summed_rows:,} colocate rows -> {fast.groups:,} sums), "
                f"relaxation + aggregation {fast.prepare_s:.2f} s, simplex {fast.solve_s:.2f} s, "
                f"{fast.objective:,.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
