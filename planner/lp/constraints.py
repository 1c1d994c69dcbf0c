"""Stage 2 of the model: the constraint families. Each `add_<family>` function adds every row of
one family; its docstring is the family's formula (docs/lp.md lists them; a test keeps the two
in step). Registration order is build order; no family depends on another having run.

Units: work rows are shares of the work (1.0 = all of it), power rows MW, CPU rows cores, link
rows GB/s, unit rows units.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable

from fleetcore.schema import MAX_UNITS
from fleetcore.units import format_si
from planner.demand.common import SECONDS_PER_DAY
from planner.demand.types import Role, WorkloadDemand
from planner.lp.model import (
    GB,
    MW,
    UNSERVED_WEIGHT,
    Model,
    Pairs,
    Period,
    Var,
    active,
    family,
)
from planner.lp.variables import training_roles

# -- diagnosis lines (phase 1: what a non-zero slack means) -----------------------------------


def _period(entity: tuple[str, ...]) -> int | None:
    """The calendar period of a row of one period (entities end in tN), else None."""
    for last in entity[-2:][::-1]:
        if last[:1] == "t" and last[1:].isdigit():
            return int(last[1:])
    return None


def _when(model: Model, entity: tuple[str, ...]) -> str:
    """' in period N (days a-b)' for a row of one calendar period, else '': the days are what
    the report's tables show (periods count from 0, which a reader cannot tell)."""
    p = _period(entity)
    if p is None:
        return ""
    return f" in period {p} (days {_days(model.calendar[p])})"


def _days(t: Period) -> str:
    return f"{t.start_s / SECONDS_PER_DAY:g}-{t.end_s / SECONDS_PER_DAY:g}"


def _whole(value: float) -> int:
    """A shortage in units, whole (a slack of 2.0000001 units is 2, of 2.3 is 3)."""
    return math.ceil(value - 1e-6)


def _round_up(value: float, digits: int = 4) -> float:
    """value rounded up to `digits` significant digits (a suggested limit that covers it)."""
    if value <= 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(value)) - digits + 1)
    return math.ceil(value / step - 1e-9) * step


def _explain_avail(model: Model, entity: tuple[str, ...], value: float) -> str:
    d, s = entity[0], entity[1]
    site = model.scenario.topology.site(d)
    more = _whole(value)
    if s in site.systems:
        path = f"topology_changes.datacenters.{d}.systems.{s}.max_units"
        cap = site.systems[s].max_units
    else:
        path = f"topology_changes.datacenters.{d}.cpu_servers.max_units"
        cap = site.cpu_servers.max_units if site.cpu_servers is not None else 0
    return (
        f"{d}: needs {more:,} more {s} units than max_units allows{_when(model, entity)} "
        f"(--set {path}={cap + more})"
    )


def after_window(model: Model, name: str) -> str:
    """Why a workload `after` another has no period to run in, or '': it runs only in LP
    periods that begin once its predecessor's work is all done (add_after), so it needs a
    period boundary after the predecessor's start and before its own deadline (periods are cut
    at starts, deadlines and economics.period). Without it the diagnosis said only "100% of the
    work cannot be done"."""
    demand = next((d for d in model.demands if d.name == name), None)
    if demand is None or demand.after is None:
        return ""
    pred = next((d for d in model.demands if d.name == demand.after), None)
    end = demand.start_s + demand.window_s
    if pred is None or any(pred.start_s < p.start_s < end for p in model.periods):
        return ""
    return (
        f" (it runs after {pred.name}, from a period boundary once that run's work is all done, "
        f"and no boundary falls between {pred.name}'s start, day "
        f"{pred.start_s / SECONDS_PER_DAY:g}, and its own deadline, day "
        f"{end / SECONDS_PER_DAY:g}: give it a later deadline, or cut the horizon with "
        "economics.period)"
    )


def _explain_work(model: Model, entity: tuple[str, ...], value: float) -> str:
    days = ""
    if len(entity) > 2 and entity[2].startswith("p") and entity[2][1:].isdigit():
        days = f" (days {_days(model.periods[int(entity[2][1:])])})"  # p<N>: the row's LP period
    return (
        f"{':'.join(entity)}{days}: {value:.1%} of the work cannot be done by its deadline"
        f"{no_unit_in_time(model, entity)}{after_window(model, entity[0])}"
    )


def no_unit_in_time(model: Model, entity: tuple[str, ...]) -> str:
    """Why, when no pool that could do the work can hold a unit in its periods: nothing owned
    there and no order arrives in time (lead times, available_from) under this pricing. Without
    it a multi-period plan of new sites said only "100% of the work cannot be done"."""
    w, r = entity[0], entity[1]
    period = None
    if len(entity) > 2 and entity[2].startswith("p") and entity[2][1:].isdigit():
        period = model.periods[int(entity[2][1:])]
    entries = model.u_of_role(w, r, period)
    if not entries:
        return ""
    for d, s, p, _ in entries:
        if model.owned((d, s)) > 0 or model.in_service_cols((d, s), p.calendar):
            return ""
    systems = sorted({s for _, s, _, _ in entries})
    leads = ", ".join(
        f"{s} {model.lead_time_s(s) / 86400:g} days" for s in systems if model.lead_time_s(s) > 0
    )
    start = min(p.start_s for _, _, p, _ in entries) / 86400
    end = max(p.end_s for _, _, p, _ in entries) / 86400
    return (
        f" (no unit can be in service from day {start:g} to {end:g} where it runs: none owned, "
        f"and no order arrives by then{': lead times ' + leads if leads else ''})"
    )


X86 = "x86_64"


def _cpu_isa(entity: tuple[str, ...]) -> str:
    """A cpu row's ISA: named after the site for arm64 rows, x86_64 otherwise."""
    tail = entity[1] if len(entity) > 1 else ""
    return tail if tail and not (tail[:1] in "tp" and tail[1:].isdigit()) else X86


def _explain_cpu(model: Model, entity: tuple[str, ...], value: float) -> str:
    d, isa = entity[0], _cpu_isa(entity)
    when = _when(model, entity)
    catalog = model.scenario.catalog
    site = model.scenario.topology.site(d)
    have = sum(
        catalog.spare_cores(s) * site.systems[s].max_units
        for s in site.systems
        if catalog.isa(s) == isa
    )
    fix = "allow more CPU servers"
    cpu = site.cpu_servers
    if cpu is not None and catalog.isa(cpu.system) == isa:
        per = catalog.system_cores(cpu.system)
        have += per * cpu.max_units
        more = _whole(value / per)
        path = f"topology_changes.datacenters.{d}.cpu_servers.max_units"
        fix = f"allow {more:,} more CPU servers (--set {path}={cpu.max_units + more})"
    # a sliver of a core (a tiny run's sandboxes) must not read as "0 cores more"
    needed = f"{value:,.0f}" if value >= 1 else f"{value:.2g}"
    return (
        f"{d}: verifier CPU needs {needed} {isa} cores more than the plan can give there{when} "
        f"(at most {have:,.0f} {isa} cores with every system and CPU server at max_units); "
        f"{fix}, generate elsewhere, or lower samples per problem or verifier cost"
    )


def _explain_power(model: Model, entity: tuple[str, ...], value: float) -> str:
    d = entity[0]
    site = model.scenario.topology.site(d)
    when = _when(model, entity)
    t = model.calendar[_period(entity) or 0]
    cap = site.power_cap_between(t.start_s, t.end_s)
    need_kw = _round_up((cap + value * MW) / 1e3)
    fix = (
        f"--set 'topology_changes.datacenters.{d}.power_cap={need_kw:.6g} kW'"
        if not site.power_ramp
        else f"raise the cap in force on days {_days(t)} to {need_kw:.6g} kW"
    )
    return (
        f"{d}: power would exceed its cap of {format_si(cap, 'W')}{when} "
        f"by {format_si(value * MW, 'W')} ({fix})"
    )


def _explain_link(model: Model, entity: tuple[str, ...], value: float) -> str:
    link_id = entity[0]
    link = model.scenario.topology.link(link_id)
    gbps = link.capacity_bytes_per_s * 8 / GB
    need = _round_up(gbps + value * 8)
    return (
        f"link {link_id}: traffic would exceed its {gbps:,.0f} Gbps by {value * 8:,.1f} Gbps; "
        f"raise its capacity to {need:.6g} Gbps (topology_changes.links) or keep the work on "
        "one site"
    )


def _cpu_step(model: Model, entity: tuple[str, ...]) -> float:
    """The fewest spare cores of the row's ISA one more unit at the site adds (0 when none)."""
    catalog = model.scenario.catalog
    site = model.scenario.topology.site(entity[0])
    isa = _cpu_isa(entity)
    cores = [catalog.spare_cores(s) for s in site.systems if catalog.isa(s) == isa]
    if site.cpu_servers is not None and catalog.isa(site.cpu_servers.system) == isa:
        cores.append(float(catalog.system_cores(site.cpu_servers.system)))
    return min((c for c in cores if c > 0), default=0.0)


def _power_step(model: Model, entity: tuple[str, ...]) -> float:
    """The least facility MW one more unit at the site draws."""
    catalog = model.scenario.catalog
    site = model.scenario.topology.site(entity[0])
    systems = list(site.systems) + ([site.cpu_servers.system] if site.cpu_servers else [])
    return min(catalog.system(s).power_w * site.pue / MW for s in systems)


# -- helpers ----------------------------------------------------------------------------------


def work_pairs(
    model: Model,
    demand: WorkloadDemand,
    role: Role,
    sites: set[str],
    scale: float,
    period: Period | None = None,
) -> Pairs:
    """(u, rate x period length / scale) pairs: the share of `scale` work units done at `sites`
    (in one period, or over the whole window when period is None)."""
    if len(sites) == 1:
        (site,) = sites
        entries = model.u_of_role_at(demand.name, role.name, period, site)
        return [(var, role.rates[s].per_unit_s * p.length_s / scale) for _, s, p, var in entries]
    return [
        (var, role.rates[s].per_unit_s * p.length_s / scale)
        for d, s, p, var in model.u_of_role(demand.name, role.name, period)
        if d in sites
    ]


def work_terms(
    model: Model,
    demand: WorkloadDemand,
    role: Role,
    sites: set[str],
    scale: float,
    period: Period | None = None,
) -> tuple[list[Var], list[float]]:
    """work_pairs' columns and coefficients as two lists, the same values in the same order
    (rate x period length, `Model.work_rates`, divided by `scale` in C: a map over the list)."""
    cols, rate_len = model.work_rates(demand.name, role, sites, period)
    return cols, list(map(operator.truediv, rate_len, itertools.repeat(scale)))


def big_m(model: Model, role: Role, d: str, s: str, p: int) -> float:
    """The most units role r can use on (d, s) in period p: max_units, or fewer when all of its
    work fits in fewer, amount / (rate · len_p). A tight bound keeps a binary held at the
    solver's integrality tolerance (1e-6) from letting more than 1e-6 of the work through. In
    the elastic model (diagnosis) max_units may grow by its slack (family avail), so the bound
    is the work's alone: capped at max_units, a job larger than a site allows was reported as
    work undone instead of the units it lacks."""
    cap = float(model.max_units((d, s)))
    rate = role.rates[s].per_unit_s
    length = model.periods[p].length_s
    if role.amount > 0 and rate > 0 and length > 0:
        need = role.amount / (rate * length)
        return min(need, MAX_UNITS) if model.elastic else min(cap, need)
    return cap


def tie(model: Model, family_name: str, demand: WorkloadDemand, roles: list[Role], choice) -> None:
    """u[w,r,d,s,p] - M[r,d,s,p] · choice(d, s) <= 0 for the given roles' allocations, M the
    tight bound `big_m` (at most max_units[d,s])."""
    by_name = {r.name: r for r in roles}
    for (w, r, d, s, p), var in model.work_of(demand, set(by_name)):
        m = big_m(model, by_name[r], d, s, p)
        model.row(family_name, (w, r, d, s, f"p{p}"), [(var, 1.0), (choice(d, s), -m)], "<=", 0.0)


def _rl(model: Model) -> list[WorkloadDemand]:
    return [d for d in model.demands if d.rl is not None]


def _pretrain(model: Model) -> list[WorkloadDemand]:
    return [d for d in model.demands if d.pretrain is not None]


# -- pools ------------------------------------------------------------------------------------


@family(
    "avail",
    "datacenter:system",
    resource=True,
    price_unit="usd_per_unit",
    slack_unit="units",
    explain=_explain_avail,
)
def add_avail(model: Model) -> None:
    """owned[d,s] + in_service[d,s,t] <= max_units[d,s] in every calendar period t, and
    likewise owned[d,cpu] + cpu_in_service[d,t] <= max_units[d,cpu]   (units; in_service =
    units bought, arrived and not retired, plus units rented in t; a row, not a bound, so it
    has a shadow price: $ per extra unit)"""
    entities: list[tuple[str, ...]] = []
    counts: list[int] = []
    cols: list[Var] = []
    rhs: list[float] = []
    weights: list[float] = []
    for pool in model.pools():
        cap = model.max_units(pool)
        for t in model.calendar:
            units = model.in_service_cols(pool, t.index)  # coefficient 1 each
            if units:
                entities.append(model.at(pool, t.index))
                counts.append(len(units))
                cols += units
                rhs.append(cap - model.owned(pool))
                weights.append(1.0 / max(1, cap))
    for d in model.sites:
        cpu = model.scenario.topology.site(d).cpu_servers
        if cpu is None:
            continue
        cap = cpu.max_units
        for t in model.calendar:
            units = model.cpu_in_service_cols(d, t.index)  # coefficient 1 each
            if units:
                entities.append(model.at((d, cpu.system), t.index))
                counts.append(len(units))
                cols += units
                rhs.append(cap - cpu.owned)
                weights.append(1.0 / max(1, cap))
    model.rows("avail", entities, counts, cols, [1.0] * len(cols), "<=", rhs, weights)


@family("units", "datacenter:system:period")
def add_units(model: Model) -> None:
    """sum_{w,r} u[w,r,d,s,p] + sum_w k_w · b[w,d,s,p] <= owned[d,s] + in_service[d,s,t(p)] -
    (1 - goodput[s]) · spot[d,s,t(p)] in every period p   (units: a unit serves one work item at
    a time, and is free for another once its deadline has passed; a spot unit does spot_goodput
    of a unit's work; a serving tier with N+k racks holds k spare units of every pool it serves
    from)"""
    work = model.u_by_pool_period()[0]  # (d, s, p): [u], in u's order
    served: dict[tuple[str, str, int], tuple[list[Var], list[float]]] = {}
    racks = {x.name: float(x.racks_lost) for x in model.demands}
    for (w, d, s, p), var in model.serves.items():
        held = served.setdefault((d, s, p), ([], []))
        held[0].append(var)
        held[1].append(racks[w])
    calendar = {p.index: p.calendar for p in model.periods}
    entities: list[tuple[str, ...]] = []
    counts: list[int] = []
    cols: list[Var] = []
    coefs: list[float] = []
    rhs: list[float] = []
    # the rows in the order of their pools' first allocation, then of the pools only served
    for key in [*work, *(k for k in served if k not in work)]:
        d, s, p = key
        start = len(cols)
        used = work.get(key, [])
        cols += used
        coefs += [1.0] * len(used)
        if key in served:
            cols += served[key][0]
            coefs += served[key][1]
        spot = model.spot.get((d, s, calendar[p]))
        supply = model.in_service_cols_but((d, s), calendar[p], spot)  # coefficient 1 each
        cols += supply
        coefs += [-1.0] * len(supply)
        if spot is not None:
            cols.append(spot)
            coefs.append(-model.spot_goodput(s))
        entities.append((d, s, f"p{p}"))
        counts.append(len(cols) - start)
        rhs.append(float(model.owned((d, s))))
    model.rows("units", entities, counts, cols, coefs, "<=", rhs)


# -- work -------------------------------------------------------------------------------------


@family("work", "workload:role", slack_unit="fraction of the work", explain=_explain_work)
def add_work(model: Model) -> None:
    """sum_{d,s,p} u[w,r,d,s,p] · rate[r,s] · len_p / amount_r >= 1   (pretraining and the RL
    trainer: all the work by the deadline, in any periods of the window; the RL trainer's
    periods follow its generation, rows rlorder and rllead)"""
    for demand in model.demands:
        if demand.steady_load:
            continue
        for role in demand.roles:
            if role.amount <= 0 or role.placement == "with_generation" or role.choice:
                continue  # a sizing candidate's work: family sizework (planner/kinds/pretrain.py)
            pairs = work_pairs(model, demand, role, set(model.sites), role.amount)
            model.row("work", (demand.name, role.name), pairs, ">=", 1.0, UNSERVED_WEIGHT)


@family("serve", "workload:role:period", slack_unit="fraction of the work", explain=_explain_work)
def add_serve(model: Model) -> None:
    """sum_{d,s} u[w,r,d,s,p] · rate[r,s] · len_p / (amount_r · share_p) >= 1 in every period p
    of the window (serving: a steady load, each period serving its share of the work:
    share_p = len_p / T_w, or with growth g per year the integral of g^(t/year) over p / over
    the window)"""
    every = set(model.sites)
    entities: list[tuple[str, ...]] = []
    counts: list[int] = []
    cols: list[Var] = []
    coefs: list[float] = []
    for demand in model.demands:
        if not demand.steady_load:
            continue
        for role in demand.roles:
            if role.amount <= 0 or role.choice:
                continue  # a sizing candidate's load: family sizeserve (planner/kinds/pretrain.py)
            for period in model.periods:
                if not active(period, demand):
                    continue
                share = role.amount * demand.load_between(period.start_s, period.end_s)
                terms, rates = work_terms(model, demand, role, every, share, period)
                entities.append((demand.name, role.name, f"p{period.index}"))
                counts.append(len(terms))
                cols += terms
                coefs += rates
    n = len(entities)
    model.rows("serve", entities, counts, cols, coefs, ">=", [1.0] * n, [UNSERVED_WEIGHT] * n)


@family("aggregate", "workload:role:datacenter:system:period")
def add_aggregate(model: Model) -> None:
    """u[w,r,d,s,p] · rate_r,s · len_p / (amount_r · share_p)
    = u[w,r',d,s,p] · rate_r',s · len_p / (amount_r' · share_p)   for every decode role r and
    the role r' that prefills its prompts in the same engine's steps (Role.prefill_of), of a
    workload whose prefill runs on its decode instances: a serving tier with prefill:
    aggregated (decode and prefill; model_from: decode@c and prefill@c for every candidate c, a
    candidate not chosen with no units: 0 = 0) and RL generation (generate and
    generate_prefill: the generation engine prefills its rollouts' prompts); share_p the
    period's share of a steady load (1 for RL, whose work is not spread by period). Each pool
    does the same share of a period's decode and prefill; prefill never runs on another
    system or site than its decode"""
    for demand in model.demands:
        if not demand.prefill_on_decode_pools:
            continue
        for decode, prefill in demand.prefill_pairs():
            for period in model.periods:
                if not active(period, demand):
                    continue
                share = (
                    demand.load_between(period.start_s, period.end_s) if demand.steady_load else 1.0
                )
                for d in model.sites:
                    by_system: dict[str, Pairs] = {}
                    for sign, role in ((1.0, decode), (-1.0, prefill)):
                        scale = role.amount * share
                        for _, s, p, var in model.u_of_role_at(demand.name, role.name, period, d):
                            coef = sign * role.rates[s].per_unit_s * p.length_s / scale
                            by_system.setdefault(s, []).append((var, coef))
                    for s, pairs in by_system.items():
                        entity = (demand.name, decode.name, d, s, f"p{period.index}")
                        model.row("aggregate", entity, pairs, "==", 0.0)


# -- where a training job runs ------------------------------------------------------------------


@family("onesystem", "workload")
def add_onesystem(model: Model) -> None:
    """sum_s x[w,s] = 1   (a training job, pretraining or the RL trainer, runs on one system
    type: no job spans GB200 racks and H100 servers)"""
    for demand in model.demands:
        xs = [v for (w, _), v in model.system_choice.items() if w == demand.name]
        if xs:
            model.row("onesystem", (demand.name,), [(v, 1.0) for v in xs], "==", 1.0)


@family("system", "workload:role:datacenter:system:period")
def add_system(model: Model) -> None:
    """u[w,r,d,s,p] <= max_units[d,s] · x[w,s]   (for the roles of a training job)"""
    for demand in model.demands:
        if not any(w == demand.name for w, _ in model.system_choice):
            continue
        tie(
            model,
            "system",
            demand,
            training_roles(demand),
            lambda d, s, w=demand.name: model.system_choice[(w, s)],
        )


@family("mingroup", "workload:role:datacenter:system:period")
def add_mingroup(model: Model) -> None:
    """owned[d,s] + in_service[d,s,t(p)] >= min_units[r,s] · on[w,r,d,s,p]   (a training job
    that runs on a pool in a period needs a pool that holds its state at once while it runs:
    bytes_per_param · params / usable HBM; u, the units averaged over the period, may be less
    when the job runs for part of it)"""
    calendar = {p.index: p.calendar for p in model.periods}
    for (w, r, d, s, p), on in model.running.items():
        need = float(_role(model, w, r).min_units[s])
        pairs = model.in_service((d, s), calendar[p]) + [(on, -need)]
        entity = (w, r, d, s, f"p{p}")
        model.row("mingroup", entity, pairs, ">=", -float(model.owned((d, s))))


@family("running", "workload:role:datacenter:system:period")
def add_running(model: Model) -> None:
    """u[w,r,d,s,p] <= M[r,d,s,p] · on[w,r,d,s,p], M = min(max_units, amount / (rate · len_p))
    (or it does not run there at all: with mingroup, u is semi-continuous)"""
    for (w, r, d, s, p), on in model.running.items():
        var = model.u[(w, r, d, s, p)]
        cap = big_m(model, _role(model, w, r), d, s, p)
        model.row("running", (w, r, d, s, f"p{p}"), [(var, 1.0), (on, -cap)], "<=", 0.0)


def _role(model: Model, workload: str, role: str) -> Role:
    demand = next(d for d in model.demands if d.name == workload)
    return next(r for r in demand.roles if r.name == role)


# -- traffic between sites ------------------------------------------------------------------------


# -- dependencies ---------------------------------------------------------------------------


def completing_roles(demand: WorkloadDemand) -> list[Role]:
    """The roles whose work, all done, completes a workload: all but those placed with
    generation (RL generation and scoring come before its training)."""
    return [r for r in demand.roles if r.placement != "with_generation" and r.amount > 0]


@family("ratedjob", "workload:role:system:period")
def add_ratedjob(model: Model) -> None:
    """sum_d u[w,r,d,s,p] <= max_units[r,s] in every period p   (a pretraining run or RL trainer
    held to at most the units of the job its rate was derived for: re-rating's alternative to a
    plan that squeezed it onto more units, planner/api.py _solve_rerated)"""
    for demand in model.demands:
        for role in demand.roles:
            if not role.max_units:
                continue
            cells: dict[tuple[str, int], list[Var]] = {}
            for _d, s, period, var in model.u_of_role(demand.name, role.name, None):
                if s in role.max_units:
                    cells.setdefault((s, period.index), []).append(var)
            for (s, p), xs in sorted(cells.items()):
                cap = float(role.max_units[s])
                entity = (demand.name, role.name, s, f"p{p}")
                model.row("ratedjob", entity, [(v, 1.0) for v in xs], "<=", cap)


@family("complete", "workload:role:period")
def add_complete(model: Model) -> None:
    """sum_{d,s,p' <= p} u[w,r,d,s,p'] · rate[r,s] · len_p' / amount_r >= done[w,p] for each
    completing role r (pretraining; the RL trainer)   (done[w,p] = 1 only once w's work is all
    done by the end of p)"""
    for (w, p), done in model.done.items():
        demand = next(d for d in model.demands if d.name == w)
        for role in completing_roles(demand):
            pairs = [
                (var, role.rates[s].per_unit_s * period.length_s / role.amount)
                for d, s, period, var in model.u_by_role.get((w, role.name), [])
                if period.index <= p
            ]
            model.row("complete", (w, role.name, f"p{p}"), pairs + [(done, -1.0)], ">=", 0.0)


@family("after", "workload:role:datacenter:system:period")
def add_after(model: Model) -> None:
    """u[w,r,d,s,p] <= max_units[d,s] · done[v,p-1] for a workload w `after` v   (w runs only in
    periods that begin once all of v's work is done; never in the first period)"""
    for demand in model.demands:
        if demand.after is None:
            continue
        for (w, r, d, s, p), var in model.work_of(demand, {r.name for r in demand.roles}):
            pairs = [(var, 1.0)]
            if p > 0:
                pairs.append((model.done[(demand.after, p - 1)], -float(model.max_units((d, s)))))
            model.row("after", (w, r, d, s, f"p{p}"), pairs, "<=", 0.0)


# -- site resources -------------------------------------------------------------------------------


@family(
    "cpu",
    "datacenter[:arm64][:period]",
    resource=True,
    price_unit="usd_per_core",
    slack_unit="cores",
    explain=_explain_cpu,
    unit_step=_cpu_step,
)
def add_cpu(model: Model) -> None:
    """sum_{w RL active in p} c[w,d,isa] + sum_{s with isa} spare_cores[s] · sum_{w' not RL, r}
    u[w',r,d,s,p] <= sum_{s with isa} spare_cores[s] · (owned[d,s] + in_service[d,s,t(p)]) +
    cores[cpu] · (owned[d,cpu] + cpu_in_service[d,t(p)]) (if the CPU servers are of that
    isa), in every LP period p in which an RL
    run is active and for each ISA the sandboxes need   (cores; spare_cores = host cores -
    host_cores_reserved_per_accelerator x accelerators; units busy with pretraining or serving
    in p lend no cores, units running RL work or idle do, CPU servers always count; an x86_64
    sandbox cannot use Grace's arm64 cores; the entity ends in tN with several calendar periods
    and in pN when a calendar period holds several LP periods with sandboxes)"""
    rl = {d.name: d for d in _rl(model)}
    total = sum(
        d.rl.verifier_core_s_per_sample * d.rl.samples / d.window_s for d in rl.values() if d.rl
    )
    weight = 1.0 / max(1.0, total)
    for d in model.sites:
        for isa in sorted({isa for (_, site, isa) in model.cores if site == d}):
            rows = _cpu_rows(model, rl, d, isa)
            per_t: dict[int, int] = {}
            for period, _ in rows:
                per_t[period.calendar] = per_t.get(period.calendar, 0) + 1
            for period, users in rows:
                supply, owned_cores = _cpu_supply(model, d, isa, period)
                base = (d,) if isa == X86 else (d, isa)
                entity = model.at(base, period.calendar)
                if per_t[period.calendar] > 1:
                    entity = (*entity, f"p{period.index}")
                model.row("cpu", entity, users + supply, "<=", owned_cores, weight)


def _cpu_rows(
    model: Model, rl: dict[str, WorkloadDemand], d: str, isa: str
) -> list[tuple[Period, Pairs]]:
    """(LP period, the verifier core variables of the RL runs active in it) at d for one ISA."""
    out = []
    for period in model.periods:
        users = [
            (var, 1.0)
            for (w, site, i), var in model.cores.items()
            if site == d and i == isa and active(period, rl[w])
        ]
        if users:
            out.append((period, users))
    return out


def _cpu_supply(
    model: Model, d: str, isa: str, period: Period, lent: Callable[[str], float] | None = None
) -> tuple[Pairs, float]:
    """(-cores lent by units in service and CPU servers + cores of units busy with other work,
    cores of owned units): the variable and constant parts of a cpu row's supply. `lent`: what
    one unit of a system lends (default its spare cores; sandboxmem: its spare host memory)."""
    catalog = model.scenario.catalog
    lent = lent or catalog.spare_cores
    site = model.scenario.topology.site(d)
    rl_names = {x.name for x in _rl(model)}
    supply: Pairs = []
    owned_cores = 0.0
    for s in site.systems:
        if catalog.isa(s) != isa:
            continue
        spare = lent(s)
        supply += [(v, -spare * c) for v, c in model.in_service((d, s), period.calendar)]
        owned_cores += spare * model.owned((d, s))
        supply += [
            (var, spare)
            for (w, _, _, _, p), var in model.u_of_pool((d, s))
            if p == period.index and w not in rl_names
        ]
    cpu = site.cpu_servers
    if cpu is not None and catalog.isa(cpu.system) == isa:
        each = float(lent(cpu.system))
        supply += [(v, -each * c) for v, c in model.cpu_in_service(d, period.calendar)]
        owned_cores += each * cpu.owned
    return supply, owned_cores


TB = 1e12


@family("sandboxmem", "datacenter:isa:period", slack_unit="TB")
def add_sandboxmem(model: Model) -> None:
    """sum_{w RL active in p} Mem[w,isa] · g[w,d] + sum_{s with isa} spare_mem[s] · sum_{w' not
    RL, r} u[w',r,d,s,p] <= sum_{s with isa} spare_mem[s] · (owned[d,s] + in_service[d,s,t(p)])
    + host_memory[cpu] · (owned[d,cpu] + cpu_in_service[d,t(p)]), for each LP period p and ISA whose sandboxes state their memory
    (TB; Mem = byte_s_per_sample[isa] · samples / T_w: the memory of the sandboxes running at
    once; spare_mem = host_memory x spare cores / cores: the memory goes with the cores lent;
    with the cpu family, the binding one of cores or memory decides)"""
    catalog = model.scenario.catalog
    rl = [x for x in _rl(model) if x.rl is not None and x.rl.verifier_byte_s_by_isa]
    isas = sorted({i for x in rl if x.rl for i in x.rl.verifier_byte_s_by_isa})
    for d in model.sites:
        for isa in isas:
            for period in model.periods:
                need = [
                    (
                        model.samples[(x.name, d)],
                        x.rl.verifier_memory_bytes(isa, x.rl.samples, x.window_s) / TB,
                    )
                    for x in rl
                    if x.rl is not None and active(period, x)
                ]
                if not need:
                    continue
                supply, owned = _cpu_supply(
                    model, d, isa, period, lambda s: catalog.spare_host_memory(s) / TB
                )
                entity = (d, isa, f"p{period.index}")
                model.row("sandboxmem", entity, need + supply, "<=", owned, 1.0)


@family(
    "power",
    "datacenter",
    resource=True,
    price_unit="usd_per_mw",
    slack_unit="MW",
    explain=_explain_power,
    unit_step=_power_step,
)
def add_power(model: Model) -> None:
    """sum_s (owned[d,s] + in_service[d,s,t]) · power_w[s] · PUE[d] + (owned[d,cpu] +
    cpu_in_service[d,t]) · power_w[cpu] · PUE[d] <= power_cap_w[d,t] in every calendar period t   (MW: IT load x PUE within the site cap; the
    cap is the lowest in force during t, power_ramp included)"""
    catalog = model.scenario.catalog
    entities: list[tuple[str, ...]] = []
    counts: list[int] = []
    cols: list[Var] = []
    coefs: list[float] = []
    rhs: list[float] = []
    weights: list[float] = []
    for d in model.sites:
        site = model.scenario.topology.site(d)
        for t in model.calendar:
            start = len(cols)
            owned_mw = 0.0
            for s in site.systems:
                mw = catalog.system(s).power_w * site.pue / MW
                units = model.in_service_cols((d, s), t.index)  # coefficient 1 each
                cols += units
                coefs += [mw] * len(units)
                owned_mw += mw * model.owned((d, s))
            if site.cpu_servers is not None:
                cpu_mw = catalog.system(site.cpu_servers.system).power_w * site.pue / MW
                units = model.cpu_in_service_cols(d, t.index)
                cols += units
                coefs += [cpu_mw] * len(units)
                owned_mw += cpu_mw * site.cpu_servers.owned
            if len(cols) == start:
                continue
            cap_mw = site.power_cap_between(t.start_s, t.end_s) / MW
            entities.append(model.at((d,), t.index))
            counts.append(len(cols) - start)
            rhs.append(cap_mw - owned_mw)
            weights.append(1.0 / cap_mw)
    model.rows("power", entities, counts, cols, coefs, "<=", rhs, weights)


@family(
    "link",
    "link",
    resource=True,
    price_unit="usd_per_gbps",
    price_factor=1.0 / 8.0,
    slack_unit="GB/s",
    explain=_explain_link,
)
def add_link(model: Model) -> None:
    """sum_{flows f whose path contains l} f <= capacity_bytes_per_s[l] / 1e9   (GB/s: average
    traffic within each link's capacity)"""
    on_link: dict[str, Pairs] = {}
    for flow in model.flows:
        for link_id in flow.path:
            on_link.setdefault(link_id, []).append((flow.var, 1.0))
    for link in model.scenario.topology.links():
        pairs = on_link.get(link.id)
        if pairs:
            cap = link.capacity_bytes_per_s / GB
            model.row("link", (link.id,), pairs, "<=", cap, 1.0 / cap)


@family("ownedbusy", "datacenter:system:period")
def add_ownedbusy(model: Model) -> None:
    """sum_{w,r,p in t} u[w,r,d,s,p] · len_p / 3600 - (leased[d,s,t] - (1 - goodput[s]) ·
    spot[d,s,t]) · len_t / 3600 <= o[d,s,t]   (hours, where units can be rented, contracted or
    taken on spot: leased units run first, their energy is in the price; owned units run the
    rest and pay energy)"""
    on_pool = model.u_by_pool_period()[1]  # (d, s, t): ([u], [its LP period's hours])
    entities: list[tuple[str, ...]] = []
    counts: list[int] = []
    cols: list[Var] = []
    coefs: list[float] = []
    for (d, s, t), o in model.owned_busy_h.items():
        hours = model.calendar[t].length_s / 3600.0
        start = len(cols)
        busy, busy_h = on_pool.get((d, s, t), ([], []))
        cols += busy
        coefs += busy_h
        cols.append(o)
        coefs.append(-1.0)
        spot = model.spot.get((d, s, t))
        leased = model.leased_cols((d, s), t)  # coefficient 1 each
        if spot is not None:
            leased = [v for v in leased if v is not spot]
        cols += leased
        coefs += [-hours] * len(leased)
        if spot is not None:
            cols.append(spot)
            coefs.append(-model.spot_goodput(s) * hours)
        entities.append(model.at((d, s), t))
        counts.append(len(cols) - start)
    model.rows("ownedbusy", entities, counts, cols, coefs, "<=", [0.0] * len(entities))


# Families of procurement over time (supply limits, spot, site openings) live in their own
# module; importing it registers them after the ones above.
from planner.lp import procurement  # noqa: E402, F401
