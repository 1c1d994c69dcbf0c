"""Verify a plan by recomputing every constraint from its records and the inputs, not from the
LP's rows: units within availability, work done by each deadline, one site where required,
verifier cores, power, and link traffic (recomputed from samples per site, trainer site and
generating sites, routed on the topology's paths). A violation raises VerificationError."""

from __future__ import annotations

from planner.demand.types import WorkloadDemand
from fleetcore.errors import VerificationError
from planner.plan import Plan
from planner.scenario import Scenario
from planner.traffic import routed_traffic

# Relative tolerance for recomputed constraints: solver feasibility tolerance is ~1e-7 on the
# scaled rows; 1e-5 leaves room for the scaling without hiding a real violation.
REL_TOL = 1e-5


def verify(plan: Plan, scenario: Scenario, demands: list[WorkloadDemand]) -> list[str]:
    """Return the list of checks made; raise VerificationError listing every violation."""
    catalog = scenario.catalog
    topo = scenario.topology
    problems: list[str] = []
    checks: list[str] = []
    integral = plan.status != "relaxed"

    units = {(f["datacenter"], f["system"]): f["units"] for f in plan.fleet}
    for f in plan.fleet:
        pool = topo.site(f["datacenter"]).systems[f["system"]]
        if integral and f["units"] != int(f["units"]):
            problems.append(f"{f['datacenter']}/{f['system']}: {f['units']} units is not whole")
        if f["units"] > pool.max_units * (1 + REL_TOL) or f["units"] < pool.owned - REL_TOL:
            problems.append(
                f"{f['datacenter']}/{f['system']}: {f['units']} units outside [{pool.owned}, {pool.max_units}]"
            )
    checks.append("units within owned..max_units")

    used: dict[tuple[str, str, int], float] = {}
    for a in plan.allocations:
        key = (a["datacenter"], a["system"], a["period"])
        used[key] = used.get(key, 0.0) + a["units"]
    for (d, s, p), value in used.items():
        if value > units.get((d, s), 0.0) * (1 + REL_TOL) + 1e-6:
            problems.append(
                f"{d}/{s}: allocations use {value:.4g} units of {units.get((d, s), 0.0):g} in period {p}"
            )
    checks.append("allocations within units in every period")

    rl_rows = {r["workload"]: r for r in plan.rl}
    for demand in demands:
        for role in demand.roles:
            rows = [
                a
                for a in plan.allocations
                if a["workload"] == demand.name and a["role"] == role.name
            ]
            for a in rows:
                rate = role.rates[a["system"]].per_unit_s
                if rate <= 0:
                    problems.append(
                        f"{demand.name}/{role.name} runs on {a['system']}, where it cannot run"
                    )
            done_by_site: dict[str, float] = {}
            done_by_period: dict[int, float] = {}
            for a in rows:
                if (
                    a["period_end_s"] > demand.end_s + 60.0
                    or a["period_start_s"] < demand.start_s - 60.0
                ):
                    problems.append(
                        f"{demand.name}/{role.name} runs outside its window (period {a['period']})"
                    )
                work = a["units"] * role.rates[a["system"]].per_unit_s * a["period_s"]
                done_by_site[a["datacenter"]] = done_by_site.get(a["datacenter"], 0.0) + work
                done_by_period[a["period"]] = done_by_period.get(a["period"], 0.0) + work
            if demand.kind == "inference" and role.amount > 0:
                for period in plan.periods:
                    if (
                        period["end_s"] > demand.end_s + 60.0
                        or period["start_s"] < demand.start_s - 60.0
                    ):
                        continue
                    need = role.amount * (period["end_s"] - period["start_s"]) / demand.window_s
                    if done_by_period.get(period["period"], 0.0) < need * (1 - REL_TOL):
                        problems.append(
                            f"{demand.name}/{role.name}: {done_by_period.get(period['period'], 0.0):.4g} of {need:.4g} {role.work_unit}s served in period {period['period']}"
                        )
            if role.placement == "with_generation":
                assert demand.rl is not None and role.per_sample is not None
                for d, samples in rl_rows[demand.name]["samples_by_site"].items():
                    need = role.per_sample * samples
                    if done_by_site.get(d, 0.0) < need * (1 - REL_TOL):
                        problems.append(
                            f"{demand.name}/{role.name} at {d}: {done_by_site.get(d, 0.0):.4g} of {need:.4g} {role.work_unit}s done"
                        )
            elif role.amount > 0 and sum(done_by_site.values()) < role.amount * (1 - REL_TOL):
                problems.append(
                    f"{demand.name}/{role.name}: {sum(done_by_site.values()):.4g} of {role.amount:.4g} {role.work_unit}s done by the deadline"
                )
            one_site = role.placement == "trainer" or (
                role.placement == "single_site"
                and not (demand.pretrain and demand.pretrain.allow_multi_site)
            )
            if one_site and integral and len(done_by_site) > 1:
                problems.append(
                    f"{demand.name}/{role.name} must run on one site, runs on {sorted(done_by_site)}"
                )
            for a in rows:
                need = role.min_units.get(a["system"], 0)
                if integral and a["units"] < need * (1 - REL_TOL):
                    problems.append(
                        f"{demand.name}/{role.name} holds {a['units']:.4g} {a['system']} units at "
                        f"{a['datacenter']} in period {a['period']}; its state needs {need}"
                    )
            systems = {a["system"] for a in rows}
            if role.placement in ("single_site", "trainer") and integral and len(systems) > 1:
                problems.append(
                    f"{demand.name}/{role.name} must run on one system type, runs on {sorted(systems)}"
                )
        if demand.rl is not None:
            total = sum(rl_rows[demand.name]["samples_by_site"].values())
            if total < demand.rl.samples * (1 - REL_TOL):
                problems.append(
                    f"{demand.name}: {total:.4g} of {demand.rl.samples:.4g} samples generated"
                )
    checks.append(
        "work done by each deadline (inference: in every period), on one site and one system type where required, training state resident"
    )

    cpu_rows = {c["datacenter"]: c for c in plan.cpu_servers}
    for d in topo.datacenters():
        need = 0.0
        for demand in demands:
            if demand.rl is None:
                continue
            samples = rl_rows[demand.name]["samples_by_site"].get(d, 0.0)
            need += demand.rl.verifier_core_s_per_sample * samples / demand.window_s
        have = sum(catalog.spare_cores(s) * units[(d, s)] for s in topo.site(d).systems)
        if d in cpu_rows:
            have += cpu_rows[d]["cpu_cores"]
        if need > have * (1 + REL_TOL) + 1e-6:
            problems.append(f"{d}: verifier needs {need:,.1f} cores, {have:,.1f} available")
    checks.append("verifier cores within spare host cores + CPU servers")

    for row in plan.power:
        d = row["datacenter"]
        site = topo.site(d)
        it_w = sum(catalog.system(s).power_w * units[(d, s)] for s in site.systems)
        if d in cpu_rows:
            it_w += catalog.system(cpu_rows[d]["system"]).power_w * cpu_rows[d]["units"]
        if it_w * site.pue > site.power_cap_w * (1 + REL_TOL):
            problems.append(
                f"{d}: {it_w * site.pue / 1e6:,.2f} MW > cap {site.power_cap_w / 1e6:,.2f} MW"
            )
    checks.append("power x PUE within caps")

    if not integral:
        # The LP relaxation's site choices are fractional: it is a bound, not a plan to route.
        checks.append("(relaxed: one-site and link checks skipped; binaries are fractional)")
        return _finish(plan, problems, checks)

    traffic, routing_problems = routed_traffic(topo, demands, rl_rows, plan.allocations)
    problems.extend(routing_problems)
    for link in topo.links():
        value = traffic.get(link.id, 0.0)
        if value > link.capacity_bytes_per_s * (1 + REL_TOL):
            problems.append(
                f"link {link.id}: {value * 8 / 1e9:,.1f} Gbps > {link.capacity_bytes_per_s * 8 / 1e9:,.1f} Gbps"
            )
    checks.append("link traffic (recomputed and routed) within capacity")

    return _finish(plan, problems, checks)


def _finish(plan: Plan, problems: list[str], checks: list[str]) -> list[str]:
    if abs(sum(t["cost_usd"] for t in plan.cost_terms) - plan.total_cost_usd) > 1e-6 * max(
        1.0, abs(plan.total_cost_usd)
    ):
        problems.append("cost terms do not add up to the total")
    checks.append("cost terms add up to the total")
    if problems:
        raise VerificationError(
            "the solved plan fails verification:\n  - " + "\n  - ".join(problems)
        )
    return checks
