"""Why the solver picked what it picked: the cost of one unit of each work item's work on each
system the topology offers, before any constraint (power, CPU, links, availability) bites.

    usd per work unit = usd per unit-second / rate (work units per second per unit)
    amortised (and mixed): usd per unit-second = what the plan's objective charges a unit bought
               and kept busy, per second in service (planner/lp/objective.py):
               capex_usd · CRF / year · (1 + network_storage_capex_fraction)
               + capex_usd · maintenance_fraction_per_year / year
               + facility_usd_per_kw_month · power_w / 1000 / month
               + power_w · PUE · usd_per_kwh / 3.6e6
               (CRF = r / (1 - (1 + r)^-L) per year, r = economics.cost_of_capital, L = lifetime
               in years; 1 / L at r = 0; a figure not given is not charged). Before session 22
               it was capex_usd / lifetime_s + energy alone: GB200 NVL72 at frontier-lab's
               dc-east was priced 39% under what the plan charges it.
    rental:    usd per unit-second = rental_usd_per_hour / 3600

This is the marginal price of the work on a unit bought (or rented) for the purpose and kept
busy; owned units (no capex), idle time and the constraints move the real plan away from it,
which is what the plan's binding constraints and shadow prices then explain.
"""

from __future__ import annotations

from typing import Any

from fleetcore.tables import table
from planner.demand.types import WorkloadDemand
from planner.scenario import Scenario

J_PER_KWH = 3.6e6
S_PER_H = 3600.0


def bought_usd_per_s(scenario: Scenario, system_name: str, d: str) -> float:
    """What the objective charges a unit of `system_name` bought for site d and kept busy, per
    second in service (the module docstring's amortised formula)."""
    from planner.lp.objective import S_PER_MONTH, S_PER_YEAR, capital_recovery_factor

    system = scenario.catalog.system(system_name)
    site = scenario.topology.site(d)
    crf = capital_recovery_factor(scenario.data.economics.cost_of_capital, system.lifetime_s)
    usd = system.capex_usd * crf / S_PER_YEAR * (1 + (system.network_storage_capex_fraction or 0))
    usd += system.capex_usd * (system.maintenance_fraction_per_year or 0.0) / S_PER_YEAR
    usd += (site.facility_usd_per_kw_month or 0.0) * system.power_w / 1000 / S_PER_MONTH
    return usd + system.power_w * site.pue * site.electricity_usd_per_kwh / J_PER_KWH


def unit_costs(scenario: Scenario, demands: list[WorkloadDemand]) -> list[dict[str, Any]]:
    """One record per (workload, role, system placed somewhere): the cheapest site's price of
    one work unit, or why the system cannot do the work."""
    catalog = scenario.catalog
    topo = scenario.topology
    rental = scenario.data.economics.pricing == "rental"
    out = []
    for demand in demands:
        for role in demand.roles:
            for system_name in topo.system_names():
                rate = role.rates.get(system_name)
                system = catalog.system(system_name)
                best: tuple[float, str] | None = None
                for d in topo.datacenters():
                    if system_name not in topo.site(d).systems:
                        continue
                    if rental:
                        per_s = system.rental_usd_per_hour / S_PER_H
                    else:
                        per_s = bought_usd_per_s(scenario, system_name, d)
                    if best is None or per_s < best[0]:
                        best = (per_s, d)
                assert best is not None
                per_s = rate.per_unit_s if rate is not None and rate.feasible else 0.0
                out.append(
                    {
                        "workload": demand.name,
                        "role": role.name,
                        "system": system_name,
                        "datacenter": best[1],
                        "work_unit": role.work_unit,
                        "usd_per_unit_s": best[0],
                        "rate_per_unit_s": per_s,
                        "usd_per_work_unit": best[0] / per_s if per_s > 0 else None,
                        "why": rate.reason if rate is not None else "no rate",
                    }
                )
    return out


def format_unit_costs(records: list[dict[str, Any]]) -> str:
    """A table per work item, cheapest first; per million tokens or per EFLOP."""
    out = [
        "Cost of the work on each system (a unit bought for it and kept busy; before constraints)"
    ]
    keys = sorted({(r["workload"], r["role"]) for r in records}, key=lambda k: (k[0], k[1]))
    for workload, role in keys:
        rows = [r for r in records if (r["workload"], r["role"]) == (workload, role)]
        rows.sort(key=lambda r: (r["usd_per_work_unit"] is None, r["usd_per_work_unit"] or 0.0))
        scale, unit = (1e6, "$/M tokens") if rows[0]["work_unit"] == "token" else (1e18, "$/EFLOP")
        cheapest = rows[0]["usd_per_work_unit"]
        out.append(f"\n{workload}/{role}")
        out.append(
            table(
                ["system", "site", unit, "vs cheapest", "why"],
                [
                    [
                        r["system"],
                        r["datacenter"],
                        f"{r['usd_per_work_unit'] * scale:,.4g}"
                        if r["usd_per_work_unit"] is not None
                        else "-",
                        f"x{r['usd_per_work_unit'] / cheapest:.2f}"
                        if r["usd_per_work_unit"] and cheapest
                        else "-",
                        r["why"],
                    ]
                    for r in rows
                ],
            )
        )
    return "\n".join(out)
