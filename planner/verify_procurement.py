"""Verification rules of procurement over time: vendor supply per period, spot capacity kept
away from serving, and the cash-flow table. Registered into planner.verify.RULES on import (the
end of planner/verify.py imports this module)."""

from __future__ import annotations

from planner.verify import ABS_TOL, REL_TOL, Context, rule

YEAR_S = 365 * 86400.0


def supply_cap(ctx: Context, system: str, length_s: float) -> int | None:
    """economics.supply[s], else floor(catalog supply_per_year x period / year); None: none."""
    economics = ctx.scenario.data.economics
    if system in economics.supply:
        return economics.supply[system]
    per_year = ctx.scenario.catalog.system(system).supply_per_year
    return None if per_year is None else int(per_year * length_s / YEAR_S + 1e-9)


@rule("supply")
def check_supply(ctx: Context) -> list[str]:
    """per system s and calendar period t: sum over sites of arriving[d,s,t] <= supply[s,t]
    (economics.supply[s], else floor(supply_per_year[s] x len_t / year))"""
    arriving: dict[tuple[str, int], float] = {}
    length: dict[int, float] = {}
    for r in ctx.plan.schedule:
        key = (r.system, r.period)
        arriving[key] = arriving.get(key, 0.0) + r.arriving
        length[r.period] = r.end_s - r.start_s
    out = []
    for (s, t), value in sorted(arriving.items()):
        cap = supply_cap(ctx, s, length[t])
        if cap is not None and value > cap + ABS_TOL:
            out.append(f"{s} in period {t}: {value:g} units arrive, the supply is {cap}")
    return out


@rule("spot")
def check_spot(ctx: Context) -> list[str]:
    """spot_units > 0 only under mixed pricing for a system with a spot offer; serving
    allocations on (d, s) in period p <= units[d,s,t(p)] - spot_units[d,s,t(p)] (serving never
    runs on preemptible units)"""
    mixed = ctx.scenario.data.economics.pricing == "mixed"
    out = []
    for r in ctx.plan.schedule:
        offer = ctx.scenario.catalog.system(r.system).spot_usd_per_hour is not None
        if r.spot_units > 0 and not (mixed and offer):
            out.append(
                f"{r.datacenter}/{r.system} in period {r.period}: {r.spot_units:g} spot units "
                "without a spot offer under mixed pricing"
            )
    serving = {d.name for d in ctx.demands if d.steady_load}
    used: dict[tuple[str, str, int], float] = {}
    starts: dict[int, float] = {}
    for a in ctx.plan.allocations:
        if a.workload in serving:
            key = (a.datacenter, a.system, a.period)
            used[key] = used.get(key, 0.0) + a.units
            starts[a.period] = a.period_start_s
    for (d, s, p), value in sorted(used.items()):
        t = ctx.calendar_of(starts[p])
        have = ctx.units.get((d, s, t), 0.0) - ctx.spot.get((d, s, t), 0.0)
        if value > have * (1 + REL_TOL) + ABS_TOL:
            out.append(
                f"{d}/{s} in period {p}: serving uses {value:.4g} units, only {have:g} are not spot"
            )
    return out
