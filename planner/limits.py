"""The value of every limit: counterfactual re-solves of a plan's scenario with one limit relaxed
(or one discrete choice forced to its runner-up), in parallel.

Why not shadow prices alone: the LP relaxation's duals value a limit at the margin of the
*relaxation*. When a limit acts through a discrete choice (a training job on one site and one
system type, a whole rack group that no longer fits under a power cap), the relaxation splits
the job instead and the dual is 0, or the row is not even at its limit in the whole-unit plan.
A re-solve with the limit moved measures what it is worth in the plan that would be built.

What is re-solved (every counterfactual goes through the scenario machinery: `--set` paths on
`topology_changes`, or a catalog overlay file; never the LP's internals):

- power:D        the site's power cap (and its power_ramp) lifted to what every unit at its
                 max_units would draw: cap_lift_w = (sum_s max_units[s] · power_w[s] + CPU
                 servers' max_units · power_w) · PUE. A cap already above that cannot bind and
                 is not re-solved.
- avail:D:S      max_units of a pool, lifted to 2 x max_units (at least +1).
- avail:D:cpu    max_units of the site's CPU servers, lifted to 2 x (at least +1).
- link:L         a link's capacity, lifted to 10 x.
- cpu:D          at a site without CPU servers that generates RL samples: CPU servers allowed
                 (up to 10,000 of the topology's CPU-only system).
Then every limit whose lift shows a saving is re-solved again at the marginal step: +10% of
the cap or capacity, +10% of max_units (at least one unit).

- choice:system:S   the training jobs on system S moved off it: a catalog overlay sets
                    `systems.S.training: null` (S keeps serving; no training job can run there).
- choice:pool:D:S   the pool where a training job runs closed to new units: max_units = owned.

saving_usd = plan cost - re-solve cost (> 0: relaxing saves that much; < 0: the forced
alternative costs that much more). With a MIP gap, both costs are within their proven gaps of
the optima, so the saving the bounds prove is, for a relaxed limit, plan lower bound - re-solve
cost (at least 0), and for a forced choice, plan cost - re-solve lower bound (its extra cost proven when < 0;
a forced choice that comes out cheaper: plan lower bound - re-solve cost, at least 0).
A limit or choice "shows value" when that proven figure is non-zero in its direction
(Plan.limits_with_value); the report then never says "Binding constraints: none".
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fleetcore.tables import table, usd
from planner.plan import Plan
from planner.rows import LimitValueRow
from planner.scenario import Scenario, jobs_arg, solver_args

# Marginal step for limits whose lift shows value: +10% of the limit.
STEP_FRACTION = 0.10
POOL_LIFT_FACTOR = 2.0
LINK_LIFT_FACTOR = 10.0
TRAINING_ROLES = ("pretrain", "train")
# A saving or proven saving within this share of the plan's cost (or a cent) is the solvers'
# rounding, not value: HiGHS's feasibility tolerances are 1e-7, and the plan's figures are
# summed from per-term costs. Before session 24 a proven 1.49e-8 US$ (the plan's bound and cost
# summed in different orders) listed all 13 unused limits of frontier-lab at an 8 MW dc-east cap
# as "counterfactual re-solves find value in", each with a printed saving of $0.
NOISE_REL = 1e-6
NOISE_USD = 0.01


@dataclass(frozen=True)
class Counterfactual:
    """One re-solve: which limit, how it was moved, and the scenario changes that move it."""

    limit: str
    kind: str  # limit | choice
    step: str
    before: str
    after: str
    sets: tuple[str, ...]
    unused: bool = False
    overlay: dict[str, Any] | None = None  # catalog overlay (written to a temp file)


def _q(value: float, unit: str) -> str:
    """A quantity as the scenario YAML reads it ('1.2e+08 W')."""
    return f"{value:.17g} {unit}"


def _mw(w: float) -> str:
    return f"{w / 1e6:,.1f} MW"


def _power(scenario: Scenario, plan: Plan, lift: bool) -> list[Counterfactual]:
    catalog = scenario.catalog
    used = {p.datacenter: p.facility_power_w for p in plan.power}
    out = []
    for d in scenario.topology.datacenters():
        site = scenario.topology.site(d)
        full_it_w = sum(catalog.system(s).power_w * x.max_units for s, x in site.systems.items())
        if site.cpu_servers is not None:
            full_it_w += (
                catalog.system(site.cpu_servers.system).power_w * site.cpu_servers.max_units
            )
        full_w = full_it_w * site.pue
        caps = [site.power_cap_w, *(step.power_cap_w for step in site.power_ramp)]
        if min(caps) >= full_w:
            continue  # the cap cannot bind: every unit at max_units fits under it
        base = f"topology_changes.datacenters.{d}"
        if lift:
            sets = (f"{base}.power_cap={_q(max(full_w, max(caps)), 'W')}", f"{base}.power_ramp=[]")
            step, after = "lifted to every unit at max_units", _mw(max(full_w, max(caps)))
        else:
            k = 1 + STEP_FRACTION
            ramp = ", ".join(
                f"{{from: {_q(s.from_s, 's')}, power_cap: {_q(s.power_cap_w * k, 'W')}}}"
                for s in site.power_ramp
            )
            sets = (
                f"{base}.power_cap={_q(site.power_cap_w * k, 'W')}",
                f"{base}.power_ramp=[{ramp}]",
            )
            step, after = f"+{STEP_FRACTION:.0%}", _mw(site.power_cap_w * k)
        out.append(
            Counterfactual(
                f"power:{d}",
                "limit",
                step,
                _mw(site.power_cap_w),
                after,
                sets,
                unused=used.get(d, 0.0) == 0.0,
            )
        )
    return out


def _pools(scenario: Scenario, plan: Plan, lift: bool) -> list[Counterfactual]:
    units = {(f.datacenter, f.system): f.units for f in plan.fleet}
    units.update({(c.datacenter, c.system): c.units for c in plan.cpu_servers})
    out = []
    for d in scenario.topology.datacenters():
        site = scenario.topology.site(d)
        pools = [(s, x.max_units, f"systems.{s}") for s, x in site.systems.items()]
        if site.cpu_servers is not None:
            pools.append((site.cpu_servers.system, site.cpu_servers.max_units, "cpu_servers"))
        for s, cap, path in pools:
            if lift:
                new = max(cap + 1, int(cap * POOL_LIFT_FACTOR))
                step = f"lifted x{POOL_LIFT_FACTOR:g}"
            else:
                new = max(cap + 1, int(round(cap * (1 + STEP_FRACTION))))
                step = f"+{STEP_FRACTION:.0%} (at least one unit)"
            out.append(
                Counterfactual(
                    f"avail:{d}:{s}",
                    "limit",
                    step,
                    f"{cap:,} units",
                    f"{new:,} units",
                    (f"topology_changes.datacenters.{d}.{path}.max_units={new}",),
                    unused=units.get((d, s), 0.0) == 0.0,
                )
            )
    return out


CPU_SERVERS_ALLOWED = 10000


def _cpu_without_servers(scenario: Scenario, plan: Plan) -> list[Counterfactual]:
    """cpu:D at a site with no CPU servers, when the plan generates RL samples there (its
    verifier cores come from spare host cores only): CPU servers allowed, up to 10,000 of the
    topology's (else the catalog's first) CPU-only system."""
    topo = scenario.topology
    used = [topo.site(d).cpu_servers for d in topo.datacenters()]
    systems = [c.system for c in used if c is not None]
    systems += [n for n, s in scenario.catalog.systems.items() if s.accelerators == 0]
    generating = {d for r in plan.rl for d, v in r.samples_by_site.items() if v > 0}
    out = []
    for d in topo.datacenters():
        if topo.site(d).cpu_servers is not None or d not in generating or not systems:
            continue
        value = f"{{system: {systems[0]}, max_units: {CPU_SERVERS_ALLOWED}}}"
        out.append(
            Counterfactual(
                f"cpu:{d}",
                "limit",
                "CPU servers allowed",
                "spare host cores only",
                f"+ up to {CPU_SERVERS_ALLOWED:,} {systems[0]}",
                (f"topology_changes.datacenters.{d}.cpu_servers={value}",),
            )
        )
    return out


def _links(scenario: Scenario, plan: Plan, lift: bool) -> list[Counterfactual]:
    links = scenario.topology.data.links
    traffic = {r.link: r.traffic_bytes_per_s for r in plan.links}
    out = []
    for i, link in enumerate(links):
        k = LINK_LIFT_FACTOR if lift else 1 + STEP_FRACTION
        items = []
        for j, other in enumerate(links):
            cap = other.capacity_bytes_per_s * (k if j == i else 1.0)
            fields = [
                *([f"name: {other.name}"] if other.name is not None else []),
                f"a: {other.a}",
                f"b: {other.b}",
                f"capacity: {_q(cap, 'B/s')}",
                f"latency: {_q(other.latency_s, 's')}",
                f"cost_usd_per_tb: {other.cost_usd_per_tb!r}",
            ]
            items.append("{" + ", ".join(fields) + "}")
        gbps = link.capacity_bytes_per_s * 8 / 1e9
        out.append(
            Counterfactual(
                f"link:{link.id}",
                "limit",
                f"lifted x{LINK_LIFT_FACTOR:g}" if lift else f"+{STEP_FRACTION:.0%}",
                f"{gbps:,.0f} Gbps",
                f"{gbps * k:,.0f} Gbps",
                (f"topology_changes.links=[{', '.join(items)}]",),
                unused=traffic.get(link.id, 0.0) == 0.0,
            )
        )
    return out


def training_placements(allocations: list[Any]) -> dict[str, set[tuple[str, str]]]:
    """Training job -> the (datacenter, system) pools its training allocations use; accepts
    AllocationRow objects or their dicts."""
    out: dict[str, set[tuple[str, str]]] = {}
    for a in allocations:
        rec: dict[str, Any] = a if isinstance(a, dict) else vars(a)
        if rec["role"] in TRAINING_ROLES and rec["units"] > 0:
            out.setdefault(str(rec["workload"]), set()).add(
                (str(rec["datacenter"]), str(rec["system"]))
            )
    return out


def _choices(scenario: Scenario, plan: Plan) -> list[Counterfactual]:
    placed = training_placements(plan.allocations)
    systems: dict[str, list[str]] = {}
    pools: dict[tuple[str, str], list[str]] = {}
    for job, where in sorted(placed.items()):
        for d, s in sorted(where):
            systems.setdefault(s, []).append(job)
            pools.setdefault((d, s), []).append(job)
    out = []
    for s, jobs in systems.items():
        out.append(
            Counterfactual(
                f"choice:system:{s}",
                "choice",
                "training jobs moved off it (training: null)",
                f"{', '.join(jobs)} on {s}",
                "runner-up system",
                (),
                overlay={"systems": {s: {"training": None}}},
            )
        )
    for (d, s), jobs in pools.items():
        owned = scenario.topology.site(d).systems[s].owned
        out.append(
            Counterfactual(
                f"choice:pool:{d}:{s}",
                "choice",
                f"no new {s} at {d} (max_units = owned)",
                f"{', '.join(jobs)} at {d}",
                f"{owned:,} units",
                (f"topology_changes.datacenters.{d}.systems.{s}.max_units={owned}",),
            )
        )
    return out


def topology_ref(scenario: Scenario) -> str:
    """The scenario's topology as a --set value: a --set path is read from the working
    directory, so a topology file named relative to the scenario file is named whole."""
    from topologies.builder import is_topology_path

    topology = scenario.data.topology
    if is_topology_path(topology) and not Path(topology).is_absolute():
        return str(Path(scenario.file).parent / topology)
    return topology


def variant_tasks(
    scenario: Scenario,
    variants: list[tuple[tuple[str, ...], dict[str, Any] | None]],
    options: dict[str, Any],
    tmp: Path,
) -> list[dict[str, Any]]:
    """sweeps.run_point tasks, one per variant (sets, catalog overlay or None): the scenario's
    own overrides and sets, its topology, then the variant's sets, and its overlay written to
    `tmp` and appended to the scenario's catalog list."""
    base_dir = Path(scenario.file).parent
    catalog = [str(p if Path(p).is_absolute() else base_dir / p) for p in scenario.data.catalog]
    topology = topology_ref(scenario)
    tasks = []
    for i, (extra, overlay) in enumerate(variants):
        sets = [*scenario.applied_sets, f"topology={topology}", *extra]
        if overlay is not None:
            path = tmp / f"overlay-{i}.yaml"
            path.write_text(yaml.safe_dump(overlay, sort_keys=True), encoding="utf-8")
            listed = yaml.safe_dump([*catalog, str(path)], default_flow_style=True).strip()
            sets.append(f"catalog={listed}")
        tasks.append(
            {
                "scenario_path": scenario.file,
                "overrides": scenario.applied_overrides,
                "sets": tuple(sets),
                "options": options,
                "cache_dir": None,
            }
        )
    return tasks


def solve_variants(
    scenario: Scenario,
    variants: list[tuple[tuple[str, ...], dict[str, Any] | None]],
    options: dict[str, Any],
    jobs: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Solve every variant (sweeps.run_point records: outputs, plan dict), `jobs` at a time in
    spawned worker processes (as sweeps do); in this process when jobs == 1."""
    from planner.sweeps import _run_pool, run_point

    results: dict[int, dict[str, Any]] = {}

    def done(i: int, result: dict[str, Any]) -> None:
        results[i] = result
        if progress is not None:
            progress(len(results), len(variants))

    with tempfile.TemporaryDirectory(prefix="planner-variants-") as tmp:
        tasks = variant_tasks(scenario, variants, options, Path(tmp))
        if jobs <= 1 or len(tasks) <= 1:
            for i, task in enumerate(tasks):
                done(i, run_point(task))
        else:
            _run_pool(tasks, done, jobs)
    return [results[i] for i in range(len(variants))]


def _runner_up(plan_dict: dict[str, Any] | None) -> str:
    if plan_dict is None:
        return ""
    placed = training_placements(plan_dict["allocations"])
    return "; ".join(
        f"{job}: {', '.join(f'{d}/{s}' for d, s in sorted(where))}"
        for job, where in sorted(placed.items())
    )


def _row(plan: Plan, cf: Counterfactual, result: dict[str, Any]) -> LimitValueRow:
    """saving = plan cost - re-solve cost; proven: plan lower bound - re-solve cost (a limit;
    a choice whose re-solve is cheaper: at least 0), plan cost - re-solve lower bound (a
    choice)."""
    out = result["outputs"]
    cost = out.get("total_cost_usd") if out["status"] in ("optimal", "feasible") else None
    saving = proven = None
    if cost is not None:
        saving = plan.total_cost_usd - cost
        cf_plan = result["plan"] or {}
        bound = plan.lower_bound_usd if plan.lower_bound_usd is not None else plan.total_cost_usd
        if cf.kind == "limit":
            # a relaxed limit never costs more: a negative figure is the gap, not a proven
            # extra cost (before session 24 every unused limit printed "proven $-0", and under
            # a 1% gap as much as minus 1% of the plan)
            proven = max(0.0, bound - cost)
        elif saving > 0:
            # a forced choice that comes out cheaper: what the plan's bound proves of that
            # saving, 0 when it proves none (plan cost - the re-solve's bound overstated it,
            # $442,069 proven of a $413,195 saving; a negative figure would read as an extra
            # cost proven, Plan.limits_with_value)
            proven = max(0.0, bound - cost)
        else:
            cf_bound: float | None = cf_plan.get("lower_bound_usd")
            proven = plan.total_cost_usd - (cf_bound if cf_bound is not None else cost)
    noise = max(NOISE_USD, NOISE_REL * abs(plan.total_cost_usd))
    if saving is not None and abs(saving) < noise:
        saving = 0.0
    if proven is not None and abs(proven) < noise:
        proven = 0.0
    return LimitValueRow(
        limit=cf.limit,
        kind=cf.kind,
        step=cf.step,
        limit_before=cf.before,
        limit_after=cf.after,
        total_cost_usd=cost,
        saving_usd=saving,
        saving_proven_usd=proven,
        unused=cf.unused,
        runner_up=_runner_up(result["plan"]) if cf.kind == "choice" else "",
        # a re-solve that failed (a time limit, a solver error) says why: the row holds no cost
        status=f"{out['status']}: {out.get('error')}"
        if out["status"] == "failed"
        else out["status"],
    )


def _solve_all(
    scenario: Scenario,
    cfs: list[Counterfactual],
    options: dict[str, Any],
    jobs: int,
    progress: Callable[[int, int], None] | None,
) -> list[dict[str, Any]]:
    return solve_variants(scenario, [(cf.sets, cf.overlay) for cf in cfs], options, jobs, progress)


def value_limits(
    scenario: Scenario,
    plan: Plan,
    *,
    jobs: int = 2,
    solver: str | None = None,
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[LimitValueRow]:
    """Counterfactual values of the plan's limits and training choices (module docstring):
    phase 1 lifts every limit that could bind and forces every training choice; phase 2 re-solves
    the limits whose lift saved money at the marginal step (+10%). Rows: choices, then limits
    by saving."""
    jobs = jobs_arg(jobs, "value_limits")
    solver_args(
        "value_limits", {"solver": solver, "time_limit_s": time_limit_s, "mip_gap": mip_gap}
    )
    started = time.perf_counter()
    options = {"relax": False, "solver": solver, "time_limit_s": time_limit_s, "mip_gap": mip_gap}
    lifts = (
        _power(scenario, plan, True) + _pools(scenario, plan, True) + _links(scenario, plan, True)
    )
    first = lifts + _cpu_without_servers(scenario, plan) + _choices(scenario, plan)
    rows = [
        _row(plan, cf, r)
        for cf, r in zip(first, _solve_all(scenario, first, options, jobs, progress), strict=True)
    ]
    valued = {r.limit for r in rows if r.kind == "limit" and (r.saving_usd or 0.0) > 0}
    steps = [
        cf
        for cf in _power(scenario, plan, False)
        + _pools(scenario, plan, False)
        + _links(scenario, plan, False)
        if cf.limit in valued
    ]
    if steps:
        results = _solve_all(scenario, steps, options, jobs, progress)
        rows += [_row(plan, cf, r) for cf, r in zip(steps, results, strict=True)]
    plan.stats["value_limits_s"] = time.perf_counter() - started
    plan.stats["value_limits_solves"] = float(len(first) + len(steps))
    best: dict[str, float] = {}
    for r in rows:
        best[r.limit] = max(best.get(r.limit, 0.0), abs(r.saving_usd or 0.0))
    rows.sort(key=lambda r: (r.kind != "choice", -best[r.limit], r.limit, r.step.startswith("+")))
    return rows


def format_limit_values(plan: Plan, out: list[str]) -> None:
    """The report's hook (planner/report.py): with --value-limits, append the "Value of limits"
    section to `out`, and where the binding list says "none" while a counterfactual shows value,
    say so instead. Without --value-limits: nothing."""
    rows = plan.limit_values
    if rows is None:
        return
    valued = plan.limits_with_value
    header = next(
        (i for i, line in enumerate(out) if line.startswith("\nBinding constraints")), None
    )
    if valued and header is not None:
        for i in range(header + 1, len(out)):
            if out[i].startswith("\n"):
                break  # the next section
            if out[i].lstrip().startswith("none"):
                out[i] = (
                    "  none at the LP's margin, but counterfactual re-solves find value in: "
                    + ", ".join(dict.fromkeys(valued))
                    + " (see Value of limits)"
                )
    out.append(
        "\nValue of limits (counterfactual re-solves; saving = plan cost - re-solve cost,"
        " proven = beyond both solvers' gaps)"
    )
    table_rows = []
    for r in rows:
        saving = "-" if r.saving_usd is None else usd(r.saving_usd)
        proven = "-" if r.saving_proven_usd is None else usd(r.saving_proven_usd)
        if r.kind == "choice":
            note = r.runner_up or ("no alternative: infeasible" if r.status == "infeasible" else "")
        else:
            # a limit the plan does not use can still hold work out (an 8 MW cap at dc-east,
            # under the NVL72 job's 9 MW: unused, and lifting it saves $33.96M); before session
            # 24 such a row said only "unused in the plan"
            shows = r.saving_proven_usd is not None and r.saving_proven_usd > 0
            note = "unused in the plan" if r.unused else ""
            if r.unused and shows:
                note += ", yet lifting it lets work in"
        table_rows.append(
            [
                r.limit,
                r.step,
                f"{r.limit_before} -> {r.limit_after}",
                r.status,
                saving,
                proven,
                note,
            ]
        )
    out.append(
        table(
            ["limit or choice", "step", "limit", "status", "saving", "proven", "note"], table_rows
        )
    )
    out.append(
        "  (a choice's negative saving is the extra cost of the forced alternative; limits that"
        " save nothing when lifted are not re-solved at the +10% step)"
    )
    if "value_limits_s" in plan.stats:
        out.append(
            f"  ({plan.stats['value_limits_solves']:.0f} re-solves in "
            f"{plan.stats['value_limits_s']:.0f} s)"
        )
