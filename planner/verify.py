"""Verify a plan by recomputing every constraint from its records and the inputs, not from the
LP's rows. One rule per check: each a small function whose docstring is the formula it
recomputes, returning one message per violation naming the record. `verify` runs them all and
raises VerificationError listing every violation as `[rule] message`."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fleetcore.errors import VerificationError
from planner.demand.types import Role, WorkloadDemand
from planner.lp.model import SAME_INSTANT_S
from planner.plan import Plan
from planner.rows import AllocationRow, CpuServerRow, JobRow, RLRow, ServingRow
from planner.scenario import Scenario
from planner.traffic import kv_pair, routed_traffic, split_kv_share_key

# Per system: a run's units per LP period and the units in service then (role_units' shape).
Units = dict[str, tuple[dict[int, float], dict[int, float]]]

# Relative tolerance for recomputed constraints: solver feasibility tolerance is ~1e-7 on the
# scaled rows; 1e-5 leaves room for the scaling without hiding a real violation.
REL_TOL = 1e-5
# Absolute slack on unit and core counts (solver noise on a zero right-hand side).
ABS_TOL = 1e-6
# Verifier cores below a thousandth of a core are no sandbox at all (the solver's scaled rows
# leave up to ~1e-5 cores of a tiny run unmet).
CORE_TOL = 1e-3
# How far from a whole number the solver may leave a whole-unit variable: its integrality
# tolerance is 1e-6 (HiGHS, CBC); a hundred-thousandth of a unit is noise, a fraction is not.
WHOLE_TOL = 1e-5
# Cost terms under 1e-6 US$ are left out of the plan's rows (readplan.COST_ZERO_USD); a cent
# covers thousands of them.
COST_ABS_TOL_USD = 0.01


@dataclass
class Context:
    """What every rule reads: the plan, its inputs, and indexes over the plan's records."""

    plan: Plan
    scenario: Scenario
    demands: list[WorkloadDemand]
    integral: bool = field(init=False)
    # Units in service per (datacenter, system, calendar period), from the schedule.
    units: dict[tuple[str, str, int], float] = field(init=False)
    spot: dict[tuple[str, str, int], float] = field(init=False)  # spot units, likewise
    calendar: list[tuple[int, float, float]] = field(init=False)  # (t, start_s, end_s)
    rl_rows: dict[str, RLRow] = field(init=False)
    cpu_rows: dict[str, CpuServerRow] = field(init=False)
    # CPU-only servers in service per (datacenter, calendar period), from the CPU schedule.
    cpu_units: dict[tuple[str, int], float] = field(init=False)
    # Indexes built once (a rule scanning every record per role, pool or period is quadratic):
    # allocations per (workload, role), in plan order; the chosen sizing candidates.
    by_role: dict[tuple[str, str], list[AllocationRow]] = field(init=False)
    picked: set[tuple[str, str]] = field(init=False)
    # Filled on first use: calendar_of per start, arrival periods per lead time, units busy with
    # work other than RL per (datacenter, system, LP period).
    _calendar_of: dict[float, int] = field(init=False, default_factory=dict)
    _arrivals: dict[float, dict[int, int | None]] = field(init=False, default_factory=dict)
    _busy: dict[tuple[str, str, int], list[float]] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.integral = self.plan.status != "relaxed"
        self.units = {(r.datacenter, r.system, r.period): r.units for r in self.plan.schedule}
        self.spot = {(r.datacenter, r.system, r.period): r.spot_units for r in self.plan.schedule}
        self.calendar = sorted({(r.period, r.start_s, r.end_s) for r in self.plan.schedule})
        self.rl_rows = {r.workload: r for r in self.plan.rl}
        self.cpu_rows = {c.datacenter: c for c in self.plan.cpu_servers}
        self.cpu_units = {(c.datacenter, c.period): c.units for c in self.plan.cpu_schedule}
        self.by_role = {}
        for a in self.plan.allocations:
            self.by_role.setdefault((a.workload, a.role), []).append(a)
        self.picked = {(s.workload, s.candidate) for s in self.plan.sizing or [] if s.chosen}

    def rows_of(self, demand: WorkloadDemand, role: Role) -> list[AllocationRow]:
        return list(self.by_role.get((demand.name, role.name), []))

    def roles(self) -> list[tuple[WorkloadDemand, Role]]:
        """Every role whose work the plan must do: model sizing candidates only if chosen (rule
        one_candidate checks the choice)."""
        return [(d, r) for d in self.demands for r in d.roles if self.chosen(r)]

    def chosen(self, role: Role) -> bool:
        return role.choice is None or (self.integral and role.choice in self.picked)

    def spot_loss(self, d: str, s: str, t: int) -> float:
        """Units of work spot units at (d, s) in t lose to preemption: (1 - goodput) x spot."""
        goodput = self.scenario.catalog.system(s).spot_goodput
        return (1.0 - (goodput or 1.0)) * self.spot.get((d, s, t), 0.0)

    def calendar_of(self, start_s: float) -> int:
        """The calendar period an LP period starting at start_s lies in."""
        if start_s not in self._calendar_of:
            t = max(t for t, a, _ in self.calendar if a <= start_s + SAME_INSTANT_S)
            self._calendar_of[start_s] = t
        return self._calendar_of[start_s]

    def arrival(self, t: int, lead_s: float) -> int | None:
        """The first calendar period starting at least lead_s after calendar period t starts
        (None: after the horizon)."""
        if lead_s not in self._arrivals:
            starts = {u: a for u, a, _ in self.calendar}
            self._arrivals[lead_s] = {
                t0: min(
                    (u for u, a in starts.items() if a >= a0 + lead_s - SAME_INSTANT_S),
                    default=None,
                )
                for t0, a0 in starts.items()
            }
        return self._arrivals[lead_s][t]

    def busy_units(self, d: str, s: str, period: int) -> float:
        """Units of (d, s) allocated in LP period `period` to work other than RL runs."""
        if self._busy is None:
            rl_names = {x.name for x in self.demands if x.rl is not None}
            self._busy = {}
            for a in self.plan.allocations:
                if a.workload not in rl_names:
                    key = (a.datacenter, a.system, a.period)
                    self._busy.setdefault(key, []).append(a.units)
        return sum(self._busy.get((d, s, period), []))


@dataclass(frozen=True)
class Rule:
    name: str
    check: Callable[[Context], list[str]]

    @property
    def formula(self) -> str:
        return " ".join((self.check.__doc__ or "").split())


RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Callable[[Context], list[str]]], Callable[[Context], list[str]]]:
    """Register the decorated function as verification rule `name`."""

    def register(check: Callable[[Context], list[str]]) -> Callable[[Context], list[str]]:
        if name in RULES:
            raise ValueError(f"verification rule {name!r} registered twice")
        RULES[name] = Rule(name, check)
        return check

    return register


def verify(plan: Plan, scenario: Scenario, demands: list[WorkloadDemand]) -> list[str]:
    """Run every rule; return the names of the rules passed, or raise VerificationError listing
    every violation."""
    ctx = Context(plan, scenario, demands)
    problems = [f"[{r.name}] {msg}" for r in RULES.values() for msg in r.check(ctx)]
    if problems:
        raise VerificationError(
            "the solved plan fails verification:\n  - " + "\n  - ".join(problems)
        )
    return [r.name for r in RULES.values() if not (r.name in INTEGRAL_ONLY and not ctx.integral)]


def check_plan(
    plan: Plan, scenario: Scenario, demands: list[WorkloadDemand]
) -> dict[str, list[str]]:
    """Every rule's violations, by rule name (empty lists for rules that hold)."""
    ctx = Context(plan, scenario, demands)
    return {r.name: r.check(ctx) for r in RULES.values()}


# Rules that hold only for whole-unit plans: the LP relaxation's site choices are fractional (it
# is a bound, not a plan to route).
INTEGRAL_ONLY = {
    "whole_units",
    "placed_rate",
    "one_site",
    "one_system_type",
    "training_state",
    "link_capacity",
    "solver_whole",
}


def _outside_window(demand: WorkloadDemand, start_s: float, end_s: float) -> bool:
    return end_s > demand.end_s + SAME_INSTANT_S or start_s < demand.start_s - SAME_INSTANT_S


@rule("whole_units")
def check_whole_units(ctx: Context) -> list[str]:
    """units[d,s] and CPU servers[d] are whole numbers (whole-unit plans)"""
    if not ctx.integral:
        return []
    rows = [
        (f"{r.datacenter}/{r.system} in period {r.period}", what, getattr(r, what))
        for r in ctx.plan.schedule
        for what in ("ordered", "rented_units", "units")
    ]
    rows += [
        (f"{c.datacenter}/{c.system} in period {c.period}", what, getattr(c, what))
        for c in ctx.plan.cpu_schedule
        for what in ("ordered", "rented_units", "units")
    ]
    return [
        f"{where}: {value} {what} is not whole"
        for where, what, value in rows
        if value != int(value)
    ]


@rule("unit_bounds")
def check_unit_bounds(ctx: Context) -> list[str]:
    """owned[d,s] <= units[d,s] <= max_units[d,s], and likewise for CPU servers"""
    topo = ctx.scenario.topology
    out = []
    rows = []
    for r in ctx.plan.schedule:
        pool = topo.site(r.datacenter).systems[r.system]
        where = f"{r.system} in period {r.period}"
        rows.append((r.datacenter, where, r.units, pool.owned, pool.max_units))
    for c in ctx.plan.cpu_schedule:
        cpu = topo.site(c.datacenter).cpu_servers
        assert cpu is not None
        where = f"{c.system} in period {c.period}"
        rows.append((c.datacenter, where, c.units, cpu.owned, cpu.max_units))
    for d, s, units, owned, max_units in rows:
        if units > max_units * (1 + REL_TOL) or units < owned - REL_TOL:
            out.append(f"{d}/{s}: {units} units outside [{owned}, {max_units}]")
    return out


@rule("fleet_ledger")
def check_fleet_ledger(ctx: Context) -> list[str]:
    """per pool and calendar period t: arriving[t] = sum of orders placed at t' whose lead time
    ends at t (the first period starting at least lead_time after t'); owned_units[t] = owned +
    arrivals so far, less those past their lifetime; units[t] = owned_units[t] + rented_units[t]
    + contracted_units[t] + spot_units[t]; no orders under rental pricing, no rentals under amortised pricing,
    contracts only under mixed pricing; each fleet row's bought, contracted, rented and spot units
    are the schedule's at the pool's first peak period (bought = owned_units[t] - owned)"""
    economics = ctx.scenario.data.economics
    catalog = ctx.scenario.catalog
    topo = ctx.scenario.topology
    starts = {t: a for t, a, _ in ctx.calendar}
    out = []
    rows = sorted(ctx.plan.schedule, key=lambda r: (r.datacenter, r.system, r.period))
    pools: dict[tuple[str, str], list] = {}
    for x in rows:
        pools.setdefault((x.datacenter, x.system), []).append(x)
    # each pool's orders as (units, the period they arrive in), in the pool's period order:
    # looked up once per order, not once per order and period
    orders: dict[tuple[str, str], list[tuple[float, int | None]]] = {}
    for r in rows:
        spec = catalog.system(r.system)
        lead_s = spec.lead_time_s if economics.period_s is not None and spec.lead_time_s else 0.0
        life_s = spec.lifetime_s if economics.period_s is not None else float("inf")
        key = (r.datacenter, r.system)
        if key not in orders:
            orders[key] = [(x.ordered, ctx.arrival(x.period, lead_s)) for x in pools[key]]
        pool = orders[key]
        arriving = sum(units for units, a in pool if a == r.period)
        bought = sum(
            units
            for units, a in pool
            if a is not None and a <= r.period and r.start_s < starts[a] + life_s
        )
        owned = topo.site(r.datacenter).systems[r.system].owned + bought
        where = f"{r.datacenter}/{r.system} in period {r.period}"
        if abs(arriving - r.arriving) > ABS_TOL:
            out.append(f"{where}: {r.arriving:g} arriving, orders placed earlier give {arriving:g}")
        if abs(owned - r.owned_units) > ABS_TOL:
            out.append(f"{where}: {r.owned_units:g} owned in service, the orders give {owned:g}")
        leased = r.rented_units + r.contracted_units + r.spot_units
        if abs(r.units - r.owned_units - leased) > ABS_TOL:
            out.append(
                f"{where}: units {r.units:g} != owned {r.owned_units:g} + rented "
                f"{r.rented_units:g} + contracted {r.contracted_units:g} + spot {r.spot_units:g}"
            )
        if economics.pricing != "mixed" and r.contracted_units > 0:
            out.append(
                f"{where}: {r.contracted_units:g} contracted under {economics.pricing} pricing"
            )
        if economics.pricing == "rental" and r.ordered > 0:
            out.append(f"{where}: {r.ordered:g} ordered under rental pricing")
        if economics.pricing == "amortised" and r.rented_units > 0:
            out.append(f"{where}: {r.rented_units:g} rented under amortised pricing")
    for f in ctx.plan.fleet:
        in_pool = pools.get((f.datacenter, f.system))
        if not in_pool:
            continue
        peak = max(in_pool, key=lambda x: x.units)  # the first period at the peak
        split = (
            ("bought_units", f.bought_units, peak.owned_units - f.owned_units),
            ("contracted_units", f.contracted_units, peak.contracted_units),
            ("rented_units", f.rented_units, peak.rented_units),
            ("spot_units", f.spot_units, peak.spot_units),
        )
        out += [
            f"{f.datacenter}/{f.system} fleet row: {name} {have:g}, the schedule's peak period "
            f"{peak.period} has {want:g}"
            for name, have, want in split
            if abs(have - want) > ABS_TOL
        ]
    return out


@rule("pool_capacity")
def check_pool_capacity(ctx: Context) -> list[str]:
    """sum of allocations' units on (d, s) in period p + spare units held there for serving
    tiers' N+k racks <= units in service[d,s,t(p)] - (1 - spot_goodput[s]) x
    spot_units[d,s,t(p)], and no allocation at all on a pool with no unit in service (however
    tiny: the plan reader leaves out only tiny work that nothing backs, which a solver's
    absolute tolerance put on no unit)"""
    used: dict[tuple[str, str, int], float] = {}
    starts: dict[int, float] = {}
    for a in ctx.plan.allocations:
        key = (a.datacenter, a.system, a.period)
        used[key] = used.get(key, 0.0) + a.units
        starts[a.period] = a.period_start_s
    for row in ctx.plan.serving:  # spare units held for N+k racks
        for (d, s, p), units in spare_pools(row).items():
            used[(d, s, p)] = used.get((d, s, p), 0.0) + units
    out = []
    for (d, s, p), value in used.items():
        t = ctx.calendar_of(starts[p])
        units = ctx.units.get((d, s, t), 0.0)
        have = units - ctx.spot_loss(d, s, t)
        if value > have * (1 + REL_TOL) + ABS_TOL or (units == 0 and value > 0):
            out.append(f"{d}/{s}: allocations use {value:.4g} units of {have:g} in period {p}")
    return out


@rule("busy_units")
def check_busy_units(ctx: Context) -> list[str]:
    """per pool (d, s) and calendar period t: busy_units[d,s,t] x len_t = sum over the
    allocations on (d, s) in the LP periods p inside t of units x period_s (each allocation's
    units tied to its work by the model's rate: rule runnable), within REL_TOL x max(1,
    recomputed busy units) + ABS_TOL: the busy hours cost_lines prices energy from"""
    busy_s: dict[tuple[str, str, int], float] = {}
    for a in ctx.plan.allocations:
        key = (a.datacenter, a.system, ctx.calendar_of(a.period_start_s))
        busy_s[key] = busy_s.get(key, 0.0) + a.units * a.period_s
    out = []
    stated = {(r.datacenter, r.system, r.period): r for r in ctx.plan.schedule}
    for key in sorted(set(stated) | set(busy_s)):
        d, s, t = key
        row = stated.get(key)
        if row is None:
            out.append(f"{d}/{s} in period {t}: allocations but no schedule row")
            continue
        want = busy_s.get(key, 0.0) / (row.end_s - row.start_s)
        if abs(row.busy_units - want) > REL_TOL * max(1.0, want) + ABS_TOL:
            out.append(
                f"{d}/{s} in period {t}: the schedule says {row.busy_units:.6g} busy units, "
                f"the allocations give {want:.6g}"
            )
    return out


@rule("runnable")
def check_runnable(ctx: Context) -> list[str]:
    """every allocation is on a system where its role's rate is positive, and its record
    carries that rate: rate_per_unit_s = rate[r,s] > 0, work_done = units x rate x period_s"""
    out = []
    for demand, role in ctx.roles():
        for a in ctx.rows_of(demand, role):
            rate = role.rates[a.system].per_unit_s
            where = f"{demand.name}/{role.name} on {a.datacenter}/{a.system} in period {a.period}"
            if rate <= 0:
                out.append(f"{where}: runs where it cannot run")
            elif abs(a.rate_per_unit_s - rate) > REL_TOL * rate:
                out.append(f"{where}: rate {a.rate_per_unit_s:.6g}/s, the model's is {rate:.6g}/s")
            elif abs(a.work_done - a.units * rate * a.period_s) > REL_TOL * max(a.work_done, 1.0):
                out.append(f"{where}: work_done {a.work_done:.6g} is not units x rate x period")
    return out


@rule("window")
def check_window(ctx: Context) -> list[str]:
    """every allocation's period lies inside its workload's window [start, deadline]"""
    return [
        f"{demand.name}/{role.name} runs outside its window (period {a.period})"
        for demand, role in ctx.roles()
        for a in ctx.rows_of(demand, role)
        if _outside_window(demand, a.period_start_s, a.period_end_s)
    ]


def _done(ctx: Context, demand: WorkloadDemand, role: Role, key: str) -> dict[object, float]:
    """Work done (units x rate x period length) by the role, summed by `key` of its rows."""
    out: dict[object, float] = {}
    for a in ctx.rows_of(demand, role):
        work = a.units * role.rates[a.system].per_unit_s * a.period_s
        out[getattr(a, key)] = out.get(getattr(a, key), 0.0) + work
    return out


def _done_at(ctx: Context, demand: WorkloadDemand, role: Role) -> dict[tuple[str, int], float]:
    """Work done (units x rate x period length) by the role per (site, LP period)."""
    out: dict[tuple[str, int], float] = {}
    for a in ctx.rows_of(demand, role):
        key = (a.datacenter, a.period)
        out[key] = out.get(key, 0.0) + a.units * role.rates[a.system].per_unit_s * a.period_s
    return out


@rule("steady_load")
def check_steady_load(ctx: Context) -> list[str]:
    """serving: work done in period p >= amount x share_p (len_p / window, or the growth
    curve's share of the window), in every period of its window"""
    out = []
    for demand, role in ctx.roles():
        if not demand.steady_load or role.amount <= 0:
            continue
        done = _done(ctx, demand, role, "period")
        for period in ctx.plan.periods:
            if _outside_window(demand, period.start_s, period.end_s):
                continue
            need = role.amount * demand.load_between(period.start_s, period.end_s)
            have = done.get(period.period, 0.0)
            if have < need * (1 - REL_TOL):
                out.append(
                    f"{demand.name}/{role.name}: {have:.4g} of {need:.4g} {role.work_unit}s "
                    f"served in period {period.period}"
                )
    return out


@rule("work_by_deadline")
def check_work_by_deadline(ctx: Context) -> list[str]:
    """pretraining and the RL trainer: work done over the window >= amount"""
    out = []
    for demand, role in ctx.roles():
        if demand.steady_load or role.placement == "with_generation" or role.amount <= 0:
            continue
        have = sum(_done(ctx, demand, role, "datacenter").values())
        if have < role.amount * (1 - REL_TOL):
            out.append(
                f"{demand.name}/{role.name}: {have:.4g} of {role.amount:.4g} "
                f"{role.work_unit}s done by the deadline"
            )
    return out


@rule("with_generation")
def check_with_generation(ctx: Context) -> list[str]:
    """RL roles placed with generation: work done at d >= per_sample x samples generated at d
    (within REL_TOL of the role's whole amount, the scale of the LP's row)"""
    out = []
    for demand, role in ctx.roles():
        if role.placement != "with_generation" or role.per_sample is None:
            continue
        done = _done(ctx, demand, role, "datacenter")
        for d, samples in ctx.rl_rows[demand.name].samples_by_site.items():
            need = role.per_sample * samples
            have = done.get(d, 0.0)
            # The LP row is scaled by the role's whole amount: its tolerance is relative to that.
            if have < need - REL_TOL * role.amount:
                out.append(
                    f"{demand.name}/{role.name} at {d}: {have:.4g} of {need:.4g} "
                    f"{role.work_unit}s done"
                )
    return out


@rule("scored_with_generation")
def check_scored_with_generation(ctx: Context) -> list[str]:
    """RL reward models (reward:<name>): at every site d and in every LP period p, work done_r
    at d in p / amount_r >= generate's work done at d in p / amount_generate (a sample is
    scored where and in the period it is generated; within REL_TOL, the scale of the LP's
    row); done = units x rate x period length"""
    from planner.kinds.rl import scoring_roles

    out = []
    for demand in ctx.demands:
        generate = next((r for r in demand.roles if r.name == "generate"), None)
        if demand.rl is None or generate is None or generate.amount <= 0:
            continue
        made = _done_at(ctx, demand, generate)
        for role in scoring_roles(demand):
            scored = _done_at(ctx, demand, role)
            for (d, p), gen in sorted(made.items()):
                share = scored.get((d, p), 0.0) / role.amount
                if share < gen / generate.amount - REL_TOL:
                    out.append(
                        f"{demand.name}/{role.name} at {d} in period {p}: scores "
                        f"{share:.4%} of its work, {gen / generate.amount:.4%} of the tokens "
                        "were generated there"
                    )
    return out


@rule("all_samples")
def check_all_samples(ctx: Context) -> list[str]:
    """RL: samples generated over all sites >= the run's samples"""
    out = []
    for demand in ctx.demands:
        if demand.rl is None:
            continue
        total = sum(ctx.rl_rows[demand.name].samples_by_site.values())
        if total < demand.rl.samples * (1 - REL_TOL):
            out.append(f"{demand.name}: {total:.4g} of {demand.rl.samples:.4g} samples generated")
    return out


def _single_site(demand: WorkloadDemand, role: Role) -> bool:
    if role.placement == "trainer":
        return True
    multi = demand.pretrain is not None and demand.pretrain.allow_multi_site
    return role.placement == "single_site" and not multi


@rule("after")
def check_after(ctx: Context) -> list[str]:
    """a workload `after` v runs only in periods that start once v's work is all done: every
    completing role of v (pretraining, the RL trainer) has done amount x (1 - REL_TOL) by the
    end of the period before"""
    out = []
    by_name = {d.name: d for d in ctx.demands}
    ends = sorted((p.end_s, p.period) for p in ctx.plan.periods)
    for demand in ctx.demands:
        if demand.after is None:
            continue
        before = by_name[demand.after]
        done_by = {role.name: _done(ctx, before, role, "period") for role in before.roles}
        finished_at = None  # the first period by whose end v is done
        for end_s, period in ends:
            done = all(
                sum(done_by[role.name].get(q, 0.0) for _, q in ends if _ <= end_s)
                >= role.amount * (1 - REL_TOL)
                for role in before.roles
                if role.placement != "with_generation" and role.amount > 0
            )
            if done:
                finished_at = period
                break
        for a in ctx.plan.allocations:
            if a.workload == demand.name and (finished_at is None or a.period <= finished_at):
                out.append(
                    f"{demand.name}/{a.role} runs in period {a.period}, before {demand.after} "
                    f"is done ({'never' if finished_at is None else f'end of period {finished_at}'})"
                )
    return out


@rule("weight_push")
def check_weight_push(ctx: Context) -> list[str]:
    """RL: a push of fresh weights from the trainer to each other generating site, as a burst
    (weight bytes / narrowest link on the path + its latency), takes at most
    max_staleness_updates x window / updates"""
    from planner.kinds.rl import push_s

    out = []
    for demand in ctx.demands:
        if demand.rl is None:
            continue
        row = ctx.rl_rows[demand.name]
        if not isinstance(row.trainer_site, str):
            continue
        budget = demand.rl.push_budget_s(demand.window_s)
        for d in row.samples_by_site:
            took = push_s(ctx.scenario.topology, demand, row.trainer_site, d)
            if took is not None and took > budget * (1 + REL_TOL):
                out.append(
                    f"{demand.name}: a weight push {row.trainer_site} -> {d} takes {took:,.0f} s, "
                    f"more than the {budget:,.0f} s its staleness allows"
                )
    return out


@rule("update_pace")
def check_update_pace(ctx: Context) -> list[str]:
    """RL with max_completion_tokens or colocated: in every period, sum over generate rows of
    units x rate x the system's pace (update floor + colocated refit/offload/overhead) <=
    max(1, max_staleness_updates) x samples_per_update x completion_tokens (each update lasts
    at least its longest sample's decode plus, colocated, its refit, offload and overhead)"""
    out = []
    for demand in ctx.demands:
        if demand.rl is None or not demand.rl.pace_s_by_system():
            continue
        floors = demand.rl.pace_s_by_system()
        role = next(r for r in demand.roles if r.name == "generate")
        bound = max(1.0, demand.rl.max_staleness_updates) * demand.rl.generated_tokens_per_update
        paced: dict[int, float] = {}
        for a in ctx.rows_of(demand, role):
            if a.system in floors:
                work_per_s = a.units * role.rates[a.system].per_unit_s
                paced[a.period] = paced.get(a.period, 0.0) + work_per_s * floors[a.system]
        for period, value in sorted(paced.items()):
            if value > bound * (1 + REL_TOL):
                out.append(
                    f"{demand.name}: generation in period {period} runs {value / bound:.3g} "
                    "updates at once, more than its longest samples allow "
                    f"(max {max(1.0, demand.rl.max_staleness_updates):g})"
                )
    return out


@rule("update_order")
def check_update_order(ctx: Context) -> list[str]:
    """RL: by the end of every period p of the run's window but its last, for r = train,
    policy_logprobs, reference: done_r(<= p) / amount_r <= generated(<= p) / amount_generate
    (no update trains on samples not yet generated) and generated(<= p) / amount_generate <=
    done_r(<= p) / amount_r + max(1, max_staleness_updates) / updates (generation at most that
    many updates ahead); done = units x rate x period length summed over the role's rows in
    periods <= p"""
    from planner.kinds.rl import UPDATE_ROLES, order_slack

    out = []
    for demand in ctx.demands:
        generate = next((r for r in demand.roles if r.name == "generate"), None)
        if demand.rl is None or generate is None or generate.amount <= 0:
            continue
        ends = sorted(
            p.end_s
            for p in ctx.plan.periods
            if p.start_s >= demand.start_s - SAME_INSTANT_S
            and p.end_s <= demand.end_s + SAME_INSTANT_S
        )
        slack = order_slack(demand)
        generated = _done_by_end(ctx, demand, generate)
        for role in demand.roles:
            if role.name not in UPDATE_ROLES or role.amount <= 0:
                continue
            done = _done_by_end(ctx, demand, role)
            for end in ends[:-1]:
                gen = _sum_until(generated, end) / generate.amount
                upd = _sum_until(done, end) / role.amount
                if upd > gen + REL_TOL:
                    out.append(
                        f"{demand.name}/{role.name}: {upd:.4%} of its work done by "
                        f"{end / 86400:g} days, ahead of the {gen:.4%} of the tokens generated"
                    )
                elif gen > upd + slack + REL_TOL:
                    out.append(
                        f"{demand.name}/{role.name}: {gen:.4%} of the tokens generated by "
                        f"{end / 86400:g} days, more than {slack:.4%} ahead of its "
                        f"{upd:.4%} done"
                    )
    return out


def _done_by_end(ctx: Context, demand: WorkloadDemand, role: Role) -> dict[float, float]:
    """Work done by the role (units x rate x period length) summed by its periods' end_s."""
    out: dict[float, float] = {}
    for a in ctx.rows_of(demand, role):
        work = a.units * role.rates[a.system].per_unit_s * a.period_s
        out[a.period_end_s] = out.get(a.period_end_s, 0.0) + work
    return out


def _sum_until(done: dict[float, float], end_s: float) -> float:
    return sum(v for e, v in done.items() if e <= end_s + SAME_INSTANT_S)


@rule("colocated")
def check_colocated(ctx: Context) -> list[str]:
    """serving: for every decode role and the role that prefills its prompts (decode and
    prefill; model_from: decode@c and prefill@c of every candidate c), at every site and period,
    the share of the period's decode work done there - the share of its prefill work = the share
    of requests prefilled elsewhere and decoded there - those prefilled there and decoded
    elsewhere (0 unless disaggregate_across_sites: a request's prefill and decode at one site);
    prefill: aggregated: the same on every pool (a site's system), with nothing prefilled
    elsewhere (the decode instances prefill); RL generation (generate and generate_prefill, the
    engine prefilling its rollouts' prompts): the same on every pool, as shares of the run's
    work (not of a period's)"""
    out = []
    for demand in ctx.demands:
        if not demand.steady_load and not demand.prefill_on_decode_pools:
            continue
        by_pool = demand.prefill_on_decode_pools
        for decode, prefill in demand.prefill_pairs():
            shares: dict[tuple[str, str, int], list[float]] = {}
            for i, role in enumerate((decode, prefill)):
                for a in ctx.rows_of(demand, role):
                    need = role.amount * (
                        demand.load_between(a.period_start_s, a.period_end_s)
                        if demand.steady_load
                        else 1.0
                    )
                    work = a.units * role.rates[a.system].per_unit_s * a.period_s
                    where = (a.datacenter, a.system if by_pool else "", a.period)
                    shares.setdefault(where, [0.0, 0.0])[i] += work / need
            moved = {} if by_pool else _kv_moved(ctx, demand, decode.name)
            for (d, s, p), (dec, pre) in sorted(shares.items()):
                net = moved.get((d, p), 0.0)
                if abs(dec - pre - net) > 1e-4 * max(1.0, dec, pre):
                    on_pool = "prefill: aggregated" if demand.steady_load else "generation"
                    at = f"{d}/{s} ({on_pool})" if by_pool else d
                    out.append(
                        f"{demand.name} at {at} in period {p}: {dec:.3%} of the "
                        f"{decode.name} but {pre:.3%} of the {prefill.name}, {net:.3%} of the "
                        "requests prefilled elsewhere (net)"
                    )
    return out


def _kv_moved(ctx: Context, demand: WorkloadDemand, decode: str) -> dict[tuple[str, int], float]:
    """Per (site, period): share of the requests of decode role `decode` prefilled at other
    sites and decoded there, less those prefilled there and decoded elsewhere (the serving
    row's kv_shares)."""
    out: dict[tuple[str, int], float] = {}
    for row in ctx.plan.serving:
        if row.workload != demand.name:
            continue
        for key, share in row.kv_shares.items():
            r, a, b, p = split_kv_share_key(key)
            if kv_pair(demand, r).decode != decode:
                continue
            out[(b, p)] = out.get((b, p), 0.0) + share
            out[(a, p)] = out.get((a, p), 0.0) - share
    return out


@rule("site_loss")
def check_site_loss(ctx: Context) -> list[str]:
    """serving with survive_site_loss (or headroom domain site, k sites): for every set L of k
    sites and period p, the work the sites not in L do in p >= the period's share of the load
    (N+k across sites)"""
    out = []
    sites = ctx.scenario.topology.datacenters()
    for demand, role in ctx.roles():
        if not demand.survive_site_loss or role.amount <= 0:
            continue
        by_period: dict[int, list[AllocationRow]] = {}
        for a in ctx.rows_of(demand, role):
            by_period.setdefault(a.period, []).append(a)
        for period in ctx.plan.periods:
            if _outside_window(demand, period.start_s, period.end_s):
                continue
            need = role.amount * demand.load_between(period.start_s, period.end_s)
            rows = by_period.get(period.period, [])
            for lost in itertools.combinations(sites, demand.sites_lost):
                have = sum(
                    a.units * role.rates[a.system].per_unit_s * a.period_s
                    for a in rows
                    if a.datacenter not in lost
                )
                if have < need * (1 - REL_TOL):
                    out.append(
                        f"{demand.name}/{role.name} in period {period.period}: without "
                        f"{'+'.join(lost)} the other sites serve {have / need:.1%} of the load"
                    )
    return out


def spare_pools(row: ServingRow) -> dict[tuple[str, str, int], float]:
    """A serving row's spare units by (datacenter, system, period)."""
    out = {}
    for key, units in row.spare_units.items():
        d, s, p = key.rsplit("/", 2)
        out[(d, s, int(p[1:]))] = units
    return out


@rule("rack_headroom")
def check_rack_headroom(ctx: Context) -> list[str]:
    """serving with headroom {k, domain: rack}: every pool (d, s) a tier serves from in period p
    holds k spare units for it (losing any k units of the pool leaves the units it serves with;
    integer plans only: the LP relaxation holds a share of k)"""
    if not ctx.integral:
        return []
    out = []
    rows = {r.workload: r for r in ctx.plan.serving}
    for demand in ctx.demands:
        if demand.racks_lost <= 0:
            continue
        spares = spare_pools(rows[demand.name]) if demand.name in rows else {}
        pools = {
            (a.datacenter, a.system, a.period)
            for a in ctx.plan.allocations
            if a.workload == demand.name and a.units > ABS_TOL
        }
        for d, s, p in sorted(pools):
            held = spares.get((d, s, p), 0.0)
            if held < demand.racks_lost * (1 - REL_TOL):
                out.append(
                    f"{demand.name} serves from {d}/{s} in period {p} with {held:g} spare units; "
                    f"N+{demand.racks_lost} racks needs {demand.racks_lost}"
                )
    return out


@rule("kv_hop")
def check_kv_hop(ctx: Context) -> list[str]:
    """serving that prefills at a for decode at b: a path joins a and b, and with a TTFT target
    the hop (path latency + one prompt's KV / the narrowest link's capacity) <= kv_hop_budget"""
    from planner.kinds.inference import kv_hop_s

    out = []
    by_name = {d.name: d for d in ctx.demands}
    for row in ctx.plan.serving:
        demand = by_name[row.workload]
        if row.kv_shares and demand.kv_bytes <= 0:
            out.append(f"{row.workload} prefills at other sites without disaggregate_across_sites")
        for key in row.kv_shares:
            r, a, b, _ = split_kv_share_key(key)
            per_request = kv_pair(demand, r).kv_bytes_per_request
            hop = kv_hop_s(ctx.scenario.topology, per_request, a, b)
            budget = demand.kv_hop_budget_s
            if hop is None or (budget is not None and hop > budget * (1 + REL_TOL)):
                took = "no path" if hop is None else f"{hop * 1e3:,.1f} ms"
                out.append(
                    f"{row.workload} prefills at {a} for decode at {b}: hop {took}, "
                    f"budget {budget or 0:g} s"
                )
    return out


@rule("kv_peak")
def check_kv_peak(ctx: Context) -> list[str]:
    """the KV cache of prompts prefilled at another site than their decode, at each period's
    rate (not its average over the window), routed on the topology's paths <= each link's
    capacity in every period"""
    from planner.traffic import kv_period_traffic

    topo = ctx.scenario.topology
    spans = {p.period: (p.start_s, p.end_s) for p in ctx.plan.periods}
    out = []
    for (link_id, p), value in sorted(
        kv_period_traffic(topo, ctx.demands, ctx.plan.serving, spans).items()
    ):
        cap = topo.link(link_id).capacity_bytes_per_s
        if value > cap * (1 + REL_TOL):
            link = topo.link(link_id)
            out.append(
                f"link {link.a}--{link.b} in period {p}: KV {value * 8 / 1e9:,.1f} Gbps > "
                f"{cap * 8 / 1e9:,.1f} Gbps"
            )
    return out


@rule("one_site")
def check_one_site(ctx: Context) -> list[str]:
    """a pretraining job (unless allow_multi_site) and an RL trainer run on one site, and the
    trainer on the plan's trainer_site"""
    if not ctx.integral:
        return []
    out = []
    for demand, role in ctx.roles():
        if not _single_site(demand, role):
            continue
        sites = sorted({a.datacenter for a in ctx.rows_of(demand, role)})
        if len(sites) > 1:
            out.append(f"{demand.name}/{role.name} must run on one site, runs on {sites}")
        elif role.placement == "trainer" and sites:
            trainer = ctx.rl_rows[demand.name].trainer_site
            if sites != [trainer]:
                out.append(
                    f"{demand.name}/{role.name} runs at {sites[0]}, its trainer site is {trainer}"
                )
    return out


@rule("one_system_type")
def check_one_system_type(ctx: Context) -> list[str]:
    """a training job (pretraining, RL trainer) runs on one system type"""
    if not ctx.integral:
        return []
    out = []
    for demand, role in ctx.roles():
        if role.placement not in ("single_site", "trainer") and demand.pretrain is None:
            continue
        systems = sorted({a.system for a in ctx.rows_of(demand, role)})
        if len(systems) > 1:
            out.append(f"{demand.name}/{role.name} must run on one system type, runs on {systems}")
    return out


@rule("training_state")
def check_training_state(ctx: Context) -> list[str]:
    """a training job runs on a pool only if the pool has >= min_units[s] in service in that
    period (its model state must be resident on that many units at once)"""
    if not ctx.integral:
        return []
    out = []
    for demand, role in ctx.roles():
        for a in ctx.rows_of(demand, role):
            need = role.min_units.get(a.system, 0)
            have = ctx.units.get((a.datacenter, a.system, ctx.calendar_of(a.period_start_s)), 0.0)
            if have < need * (1 - REL_TOL):
                out.append(
                    f"{demand.name}/{role.name} runs on {a.datacenter}/{a.system} in period "
                    f"{a.period}, which has {have:g} units; its state needs {need}"
                )
    return out


@rule("verifier_cores")
def check_verifier_cores(ctx: Context) -> list[str]:
    """sum_{w RL} core_s_per_sample[isa] x samples generated at d in p / len_p <= spare host
    cores of d's units of that ISA in service in t(p), less those of units busy with
    pretraining or serving in p, + CPU server cores of that ISA at d, in every LP period p and
    for each ISA the sandboxes need (samples generated at d in p = the generate role's work done
    there in p / its tokens per sample: a period in which d generates nothing needs none),
    within REL_TOL x the cores lent + max(CORE_TOL, REL_TOL x every RL run's cores, REL_TOL x
    the spare cores of every unit in service there, busy or not: the cores lent are a
    difference of those large terms, each as precise as the solver's values)"""
    out = []
    isas = sorted({i for d in ctx.demands if d.rl for i in d.rl.verifier_core_s_by_isa})
    # The LP's cpu rows are scaled by all the verifier cores of all RL runs: the tolerance too.
    scale = sum(
        d.rl.verifier_core_s_per_sample * d.rl.samples / d.window_s for d in ctx.demands if d.rl
    )
    for (d, isa, p, start_s), need in sorted(_sandbox_need(ctx, "cores", isas).items()):
        have = _lent_cores(ctx, d, isa, p, start_s)
        # the cores lent are a difference of large terms (units in service less units busy),
        # each as precise as the solver's values: CBC's, read back to 8 significant digits,
        # left 96.999991 of 97 GB200 racks busy, 0.022 cores lent of 237,456 (test_properties
        # test_cbcs_sandbox_cores_on_busy_racks): REL_TOL of the gross terms, as rules whose
        # right-hand side is large hold it
        gross = _lent_cores(ctx, d, isa, p, start_s, busy=False)
        if need > have * (1 + REL_TOL) + max(CORE_TOL, REL_TOL * scale, REL_TOL * gross):
            out.append(
                f"{d} in period {p}: verifier needs {need:,.1f} {isa} cores, "
                f"{have:,.1f} available (units busy with pretraining or serving lend none)"
            )
    return out


def _sandbox_need(
    ctx: Context, what: str, isas: list[str]
) -> dict[tuple[str, str, int, float], float]:
    """Per (site, ISA, LP period, its start): the cores (what = "cores") or sandbox memory bytes
    ("memory") the RL runs' sandboxes need there, for the samples generated there in it
    (planner/kinds/rl.py generated_samples), positive needs only."""
    from planner.kinds.rl import generated_samples

    starts = {p.period: p.start_s for p in ctx.plan.periods}
    need: dict[tuple[str, str, int, float], float] = {}
    for demand in ctx.demands:
        rl = demand.rl
        if rl is None:
            continue
        for (d, p), (samples, period_s) in generated_samples(demand, ctx.plan.allocations).items():
            for isa in isas:
                value = (
                    rl.verifier_cores(isa, samples, period_s)
                    if what == "cores"
                    else rl.verifier_memory_bytes(isa, samples, period_s)
                )
                if value > 0:
                    key = (d, isa, p, starts[p])
                    need[key] = need.get(key, 0.0) + value
    return need


@rule("one_candidate")
def check_one_candidate(ctx: Context) -> list[str]:
    """model sizing: exactly one candidate c of each sizing workload w is chosen, and no unit
    serves a candidate that is not (its pretraining and serving roles have no allocation); the
    LP relaxation instead: sum_c work done_c / amount_c >= 1 over w's pretraining candidates"""
    out = []
    sized = sorted({r.choice[0] for d in ctx.demands for r in d.roles if r.choice is not None})
    for w in sized:
        rows = [s for s in ctx.plan.sizing or [] if s.workload == w]
        if not ctx.integral:
            roles = [(d, r) for d in ctx.demands for r in d.roles if r.choice and r.choice[0] == w]
            share = sum(
                sum(_done(ctx, d, r, "datacenter").values()) / r.amount
                for d, r in roles
                if not d.steady_load and r.amount > 0
            )
            if share < 1 - REL_TOL:
                out.append(f"{w}: its candidates do {share:.4g} of one pretraining between them")
            continue
        picked = [s.candidate for s in rows if s.chosen]
        if len(picked) != 1:
            out.append(f"{w}: {len(picked)} candidates chosen ({', '.join(picked)}), not one")
        for d in ctx.demands:
            for r in d.roles:
                unchosen = r.choice is not None and r.choice[0] == w and r.choice[1] not in picked
                if unchosen and any(a.units > ABS_TOL for a in ctx.rows_of(d, r)):
                    assert r.choice is not None
                    out.append(f"{d.name}/{r.name}: units for candidate {r.choice[1]}, not chosen")
    return out


@rule("sandbox_memory")
def check_sandbox_memory(ctx: Context) -> list[str]:
    """sum_{w RL} byte_s_per_sample[isa] x samples generated at d in p / len_p <= host memory
    lent with the cores of d's units of that ISA in service in t(p) and not busy with
    pretraining or serving (host_memory x spare cores / cores) + CPU servers' host memory, in
    every LP period p and for each ISA whose sandboxes state their memory, within REL_TOL x the
    memory lent + max(1 MB, REL_TOL x the memory every unit in service there lends, busy or
    not)"""
    catalog = ctx.scenario.catalog
    out = []
    isas = sorted({i for d in ctx.demands if d.rl for i in d.rl.verifier_byte_s_by_isa})
    for (d, isa, p, start_s), need in sorted(_sandbox_need(ctx, "memory", isas).items()):
        have = _lent_cores(ctx, d, isa, p, start_s, catalog.spare_host_memory)
        gross = _lent_cores(ctx, d, isa, p, start_s, catalog.spare_host_memory, busy=False)
        if need > have * (1 + REL_TOL) + max(1e6, REL_TOL * gross):  # as verifier_cores
            out.append(
                f"{d} in period {p}: sandboxes hold {need / 1e12:,.3f} TB of "
                f"{isa} host memory, {have / 1e12:,.3f} TB lent"
            )
    return out


def _lent_cores(
    ctx: Context,
    d: str,
    isa: str,
    period: int,
    start_s: float,
    lent: Callable[[str], float] | None = None,
    busy: bool = True,
) -> float:
    """Cores (or with `lent`, what one unit lends, e.g. host memory) of one ISA at d that
    sandboxes may use in an LP period: spare cores of units in service and not busy with
    pretraining or serving, plus CPU server cores (busy=False: of every unit in service, the
    gross term)."""
    catalog = ctx.scenario.catalog
    lent = lent or catalog.spare_cores
    t = ctx.calendar_of(start_s)
    have = 0.0
    for s in ctx.scenario.topology.site(d).systems:
        if catalog.isa(s) != isa:
            continue
        held = ctx.busy_units(d, s, period) if busy else 0.0
        have += lent(s) * (ctx.units[(d, s, t)] - held)
    if d in ctx.cpu_rows and catalog.isa(ctx.cpu_rows[d].system) == isa:
        have += lent(ctx.cpu_rows[d].system) * ctx.cpu_units.get((d, t), 0.0)
    return have


@rule("power_cap")
def check_power_cap(ctx: Context) -> list[str]:
    """(sum_s units[d,s,t] x power_w[s] + CPU servers x power_w) x PUE[d] <= power_cap_w[d,t],
    the lowest cap in force during t, in every calendar period t"""
    catalog = ctx.scenario.catalog
    topo = ctx.scenario.topology
    out = []
    for d in topo.datacenters():
        site = topo.site(d)
        for t, start_s, end_s in ctx.calendar:
            it_w = sum(catalog.system(s).power_w * ctx.units[(d, s, t)] for s in site.systems)
            if d in ctx.cpu_rows:
                cpu_w = catalog.system(ctx.cpu_rows[d].system).power_w
                it_w += cpu_w * ctx.cpu_units.get((d, t), 0.0)
            cap_w = site.power_cap_between(start_s, end_s)
            if it_w * site.pue > cap_w * (1 + REL_TOL):
                out.append(
                    f"{d} in period {t}: {it_w * site.pue / 1e6:,.2f} MW > cap {cap_w / 1e6:,.2f} MW"
                )
    return out


@rule("link_capacity")
def check_link_capacity(ctx: Context) -> list[str]:
    """traffic recomputed from the plan (trajectories, weights, gradients, KV cache of prompts
    prefilled at another site) and routed on the topology's paths <= each link's capacity"""
    if not ctx.integral:
        return []
    topo = ctx.scenario.topology
    spans = {p.period: (p.start_s, p.end_s) for p in ctx.plan.periods}
    traffic, out = routed_traffic(
        topo, ctx.demands, ctx.rl_rows, ctx.plan.allocations, ctx.plan.serving, spans
    )
    for link in topo.links():
        value = traffic.get(link.id, 0.0)
        if value > link.capacity_bytes_per_s * (1 + REL_TOL):
            out.append(
                f"link {link.id}: {value * 8 / 1e9:,.1f} Gbps > "
                f"{link.capacity_bytes_per_s * 8 / 1e9:,.1f} Gbps"
            )
    return out


@rule("cost_total")
def check_cost_total(ctx: Context) -> list[str]:
    """sum of the cost rows = total_cost_usd"""
    total = sum(t.cost_usd for t in ctx.plan.costs_rows)
    if abs(total - ctx.plan.total_cost_usd) > 1e-6 * max(1.0, abs(ctx.plan.total_cost_usd)):
        return [
            f"cost rows add up to {total:,.2f} US$, the plan says {ctx.plan.total_cost_usd:,.2f}"
        ]
    return []


@rule("solver_whole")
def check_solver_whole(ctx: Context) -> list[str]:
    """every whole-unit variable as the solver left it, before the plan rounds it (units
    ordered, rented, contracted, spot; CPU servers ordered and rented; site openings; the
    site, trainer, generation, system, running, done, sizing and serving-pool choices), is within
    max(WHOLE_TOL, 1e-9 x value) of a whole number, WHOLE_TOL = 1e-5 (whole-unit plans)"""
    if not ctx.integral:
        return []
    return [
        f"{name}: the solver left {value:.9g}, not a whole number (rounded in the plan)"
        for name, value in ctx.plan.solver_values.items()
        if abs(value - round(value)) > max(WHOLE_TOL, 1e-9 * abs(value))
    ]


@rule("solver_objective")
def check_solver_objective(ctx: Context) -> list[str]:
    """total_cost_usd = the solver's objective + the constant PuLP leaves out of it, within
    REL_TOL x max(1, |objective|) + COST_ABS_TOL_USD (a plan read back from JSON has no
    objective to compare)"""
    objective = ctx.plan.solver_objective_usd
    if objective is None:
        return []
    total = ctx.plan.total_cost_usd
    if abs(total - objective) > REL_TOL * max(1.0, abs(objective)) + COST_ABS_TOL_USD:
        return [
            f"the plan's total cost {total:,.2f} US$ differs from the solver's objective "
            f"{objective:,.2f} US$ (PuLP's dropped constant included)"
        ]
    return []


@rule("proven_within_target")
def check_proven_within_target(ctx: Context) -> list[str]:
    """status "optimal" only with gap <= solver.mip_gap_target + 1e-9 (the plan's own cost
    over its best bound; planner/lp/solve.py within_target)"""
    plan = ctx.plan
    if plan.status != "optimal" or plan.gap is None or plan.solver is None:
        return []
    if plan.gap > plan.solver.mip_gap_target + 1e-9:
        return [
            f"status optimal, but the plan is {plan.gap:.4%} over its bound, above the "
            f"{plan.solver.mip_gap_target:.4%} target: feasible"
        ]
    return []


@rule("placed_rate")
def check_placed_rate(ctx: Context) -> list[str]:
    """pretraining and the RL trainer (whole-unit plans): every run has a record (pretrain_jobs;
    rl_jobs: the train role of an RL run rated at a job) whose rate_per_unit_s is its
    allocations' rate and the rate at the record's rate_job_accelerators (pretraining: the
    layout search's, pretrain_rate_at; RL: the train rate at that job, planner/kinds/rl.py
    rates_at, which the pre-solve rating's at the job it sized is); the job it runs on in each
    LP period (RL: each period the train role runs in; a colocated run's job is every role's
    units on the trainer's pool, planner/kinds/rl.py job_units) is the rate's job where the
    pool holds that many units in service, else the whole units in service, at least
    ceil(units) (period_jobs); the lowest-rated of them (binding_job) is the record's placed
    job, with the rate there; that rate >= the rate used x (1 - RERATE_TOL) unless the record
    says `not converged` and left_out states it; a held run (Role.max_units on its system) is
    held to max(its rate's job's units, window_units(amount / rate, window)), the fewest whole
    units that do its work in its window where its job's cannot, and says so: `held to its
    rated job` at its job's units, `held to the units its window needs` above them (or `not
    converged`); a record that says either runs on at most that hold in every period (a
    colocated RL run: every role's units at the trainer's site, row ratedpool; a plan with no
    such records at all, null: one read from the solver without re-rating, planner.solve's
    never, is not checked)"""
    from planner.demand.pretrain import pretrain_rate_at
    from planner.kinds.pretrain import NAME, in_service, role_spec, role_units
    from planner.kinds.rl import job_units, trainer_rate_at

    catalog = ctx.scenario.catalog
    workloads = dict(ctx.scenario.data.workloads)
    held = in_service(ctx.plan)
    out = []
    if ctx.integral and ctx.plan.pretrain_jobs is not None:

        def pretrain_at(demand: WorkloadDemand, role: Role, system: str, acc: int) -> float:
            spec, cat = role_spec(demand.name, role, workloads, catalog)
            return pretrain_rate_at(spec, cat, system, acc).per_unit_s

        by_role = role_units(ctx.plan, held)

        def pretrain_units(demand: WorkloadDemand, role: Role, every_period: bool) -> Units:
            return by_role.get((demand.name, role.name), {})

        runs = [(d, r) for d, r in ctx.roles() if d.kind == NAME]
        out += _placed_rate(
            ctx, runs, ctx.plan.pretrain_jobs, "pretrain_jobs", pretrain_at, pretrain_units
        )
    if ctx.integral and ctx.plan.rl_jobs is not None:

        def rl_at(demand: WorkloadDemand, role: Role, system: str, acc: int) -> float:
            return trainer_rate_at(ctx.scenario, demand, system, acc)

        def rl_units(demand: WorkloadDemand, role: Role, every_period: bool) -> Units:
            return job_units(ctx.plan, demand, role, held, every_period)

        rl_runs = [
            (d, r)
            for d, r in ctx.roles()
            if d.rl is not None
            and r.placement == "trainer"
            and any(rate.job_accelerators > 0 for rate in r.rates.values())
        ]
        out += _placed_rate(ctx, rl_runs, ctx.plan.rl_jobs, "rl_jobs", rl_at, rl_units)
    return out


def _placed_rate(
    ctx: Context,
    runs: list[tuple[WorkloadDemand, Role]],
    rows: Sequence[JobRow],
    table: str,
    rate_at: Callable[[WorkloadDemand, Role, str, int], float],
    units_of: Callable[[WorkloadDemand, Role, bool], Units],
) -> list[str]:
    """check_placed_rate on one kind's runs and records (`table` names them), `rate_at`
    (demand, role, system, accelerators) the kind's rate per unit at a job, `units_of`
    (demand, role, every_period) the units of its job per LP period and the units in service
    then, per system (pretraining: role_units; RL: planner/kinds/rl.py job_units; every_period:
    the periods its hold caps, not only those it trains in)."""
    from planner.kinds.base import window_units
    from planner.kinds.pretrain import HELD, HELD_WINDOW, RERATE_TOL, binding_job, period_jobs

    catalog = ctx.scenario.catalog
    records = {(j.workload, j.role): j for j in rows}
    out = []
    for demand, role in runs:
        systems = units_of(demand, role, False)
        if len(systems) != 1:
            continue
        where = f"{demand.name}/{role.name}"
        job = records.get((demand.name, role.name))
        ((system, (units, pools)),) = systems.items()
        per_unit = catalog.system(system).accelerators
        if job is None:
            # a run whose units are all below whole-unit noise in every period has no job
            rated_job = role.rates[system].job_accelerators
            noise = not period_jobs(units, pools, math.ceil(max(rated_job, 0) / per_unit))
            if (rated_job > 0 or table == "pretrain_jobs") and not noise:
                out.append(f"{where}: no {table} record of the job it runs on")
            continue
        used = {a.rate_per_unit_s for a in ctx.rows_of(demand, role)}
        rate_job = rate_at(demand, role, system, job.rate_job_accelerators)
        if any(abs(r - job.rate_per_unit_s) > REL_TOL * r for r in used):
            out.append(f"{where}: record's rate {job.rate_per_unit_s:.6g}/s is not its rows'")
        if abs(rate_job - job.rate_per_unit_s) > REL_TOL * rate_job:
            out.append(
                f"{where}: the rate used {job.rate_per_unit_s:.6g}/s is not the rate of the "
                f"{job.rate_job_accelerators:,}-accelerator job it names ({rate_job:.6g}/s)"
            )
        jobs = period_jobs(units, pools, math.ceil(job.rate_job_accelerators / per_unit))
        rates = {n: rate_at(demand, role, system, n * per_unit) for n in sorted(set(jobs.values()))}
        placed = jobs[binding_job(rates, jobs)] if jobs else 0
        if (system, placed, placed * per_unit) != (
            job.system,
            job.placed_units,
            job.placed_accelerators,
        ):
            out.append(
                f"{where}: runs on {placed:,} units of {system} at its lowest-rated period, the "
                f"record says {job.placed_units:,} of {job.system}"
            )
            continue
        have = rates[placed]
        if abs(have - job.placed_rate_per_unit_s) > REL_TOL * have:
            out.append(
                f"{where}: record's placed rate {job.placed_rate_per_unit_s:.6g}/s, the "
                f"rate at {placed * per_unit:,} accelerators is {have:.6g}/s"
            )
        short = have < job.rate_per_unit_s * (1 - RERATE_TOL)
        stated = any(x.startswith(f"{where} on {system}: not re-rated") for x in ctx.plan.left_out)
        if short and not (job.status == "not converged" and stated):
            out.append(
                f"{where}: placed on {placed * per_unit:,} accelerators, whose rate "
                f"{have:.6g}/s is {1 - have / job.rate_per_unit_s:.2%} below the "
                f"{job.rate_per_unit_s:.6g}/s the plan used, and the plan does not say so"
            )
        elif not short and job.status == "not converged":
            out.append(f"{where}: record says not converged, its placed job's rate holds")
        # the hold is the role's cap (Role.max_units): the record's rated job's units, or the
        # fewest whole units that do its work in its window at the rate held where that is more
        # (planner/kinds/pretrain.py held_to_rated, within_window: window_units, the count the
        # RL trainer's job is sized by); recomputed here, so a record naming another job, or a
        # hold below its work's need in its window, is caught
        job_units = math.ceil(job.rate_job_accelerators / per_unit)
        cap = job_units
        if system in role.max_units and demand.window_s > 0:
            unit_s = role.amount / job.rate_per_unit_s
            cap = max(cap, window_units(unit_s, demand.window_s))
            if role.max_units[system] != cap:
                out.append(
                    f"{where}: held to {role.max_units[system]:,} units of {system}, its "
                    f"{job.rate_job_accelerators:,}-accelerator rated job and its work in its "
                    f"window need {cap:,}"
                )
        if system in role.max_units:
            # `held to its rated job` at its rated job's units, `held to the units its window
            # needs` at a cap raised above them (held_status)
            said = HELD if role.max_units[system] <= job_units else HELD_WINDOW
            if job.status not in (said, "not converged"):
                out.append(
                    f"{where}: held to {role.max_units[system]:,} units of {system} (its rated "
                    f"job: {job_units:,}), so {said}; the record says {job.status}"
                )
        capped = units_of(demand, role, True)[system][0]
        if job.status in (HELD, HELD_WINDOW) and any(u > cap + WHOLE_TOL for u in capped.values()):
            top = max(capped.values())
            out.append(f"{where}: record says {job.status} ({cap:,} units), runs on {top:.6g}")
    return out


# Rules of procurement over time (supply, spot, cash flow) live in their own module, and the
# cost lines' in theirs (imported at the end of that one); importing it registers them after the
# ones above.
from planner import verify_procurement  # noqa: E402, F401
