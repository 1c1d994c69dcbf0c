"""The LP on hand-solvable scenarios, physics of the shipped plans, diagnoses, solvers and output.

Every exact optimum below is computed here from the inputs: the per-system rates the LP is fed
(`planner.demands`), the catalog figures (capex, lifetime, power, cores) and the topology and
economics of the small fixtures written to tmp_path. Fixtures make one effect dominate (one site,
electricity 0, equal or skewed prices through a catalog overlay) so the optimum is a short formula
or a small enumeration over unit counts; the solver runs with mip_gap 0.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

import cli
import planner
from fleetcore.errors import InfeasibleError
from planner.lp.model import GB, S_PER_H

YEAR = "365 days"
HOURS_PER_YEAR = 8760.0
REL = 1e-6
EPS = 1e-9


# -- fixtures written to tmp_path ----------------------------------------------------------

# The shipped catalog's ownership figures beyond capex and busy energy (lead times, term
# contracts, network/storage, maintenance, idle power) cleared, so that the optima below stay
# short formulas in capex, rent and energy; a test sets any of them through its own overlay.
TCO_FIGURES_CLEARED: dict[str, Any] = {
    "lead_time": None,
    "contracts": [],
    "network_storage_capex_fraction": None,
    "maintenance_fraction_per_year": None,
    "idle_power_fraction": None,
    "spot_usd_per_hour": None,
    "spot_goodput": None,
}


def without_tco(catalog: dict[str, Any] | None) -> dict[str, Any]:
    """A catalog overlay that clears TCO_FIGURES_CLEARED for every shipped system, with the
    test's own overlay (`catalog`) merged over it."""
    from hardware.catalog import load_catalog

    systems: dict[str, Any] = {name: dict(TCO_FIGURES_CLEARED) for name in load_catalog().systems}
    for name, figures in ((catalog or {}).get("systems") or {}).items():
        systems[name] = {**systems.get(name, {}), **figures}
    return {**(catalog or {}), "systems": systems}


def write_scenario(
    tmp_path: Path,
    sites: dict[str, Any],
    workloads: dict[str, Any],
    *,
    links: list[dict[str, Any]] | None = None,
    pricing: str = "amortised",
    catalog: dict[str, Any] | None = None,
    name: str = "case",
) -> Path:
    """A scenario file (plus its topology and catalog overlay) in tmp_path; returns its path."""
    topo = {
        "name": "t",
        "description": "test fixture",
        "source": "tests/test_lp.py",
        "datacenters": sites,
        "links": links or [],
    }
    (tmp_path / f"{name}-topo.yaml").write_text(yaml.safe_dump(topo, sort_keys=False))
    doc: dict[str, Any] = {
        "topology": f"{name}-topo.yaml",
        "economics": {"horizon": YEAR, "pricing": pricing},
        "solver": {"mip_gap": 0},
        "workloads": workloads,
    }
    overlay = without_tco(catalog)
    (tmp_path / f"{name}-catalog.yaml").write_text(yaml.safe_dump(overlay, sort_keys=False))
    doc["catalog"] = [f"{name}-catalog.yaml"]
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def site(
    systems: dict[str, dict[str, int]],
    *,
    cap: str = "100 MW",
    pue: float = 1.0,
    price: float = 0.0,
    cpu: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "power_cap": cap,
        "pue": pue,
        "electricity_usd_per_kwh": price,
        "systems": systems,
    }
    if cpu is not None:
        out["cpu_servers"] = cpu
    return out


def inference(requests: str, model: str = "llama-3.1-8b", **kw: Any) -> dict[str, Any]:
    return {
        "kind": "inference",
        "model": model,
        "requests_per_day": requests,
        "prompt_tokens": 1000,
        "output_tokens": 500,
        "tokens_per_s_per_user": 30,
        **kw,
    }


def rl_workload(
    policy: str,
    problems: str,
    *,
    kept: float = 0.25,
    verifiers: list | None = None,
    deadline: str = "10 days",
    samples_per_update: str = "10K",
) -> dict[str, Any]:
    return {
        "kind": "rl",
        "policy": policy,
        "problems": problems,
        "samples_per_problem": 8,
        "prompt_tokens": 500,
        "completion_tokens": 2000,
        "kept_fraction": kept,
        "samples_per_update": samples_per_update,
        "deadline": deadline,
        "goodput": 0.9,
        "verifiers": verifiers or [],
        # separate pools: these cases place generation and training at different sites, so
        # no colocated refit/offload pace (tests/test_rl_colocated.py covers that)
        "colocated": False,
    }


# -- hand computation helpers --------------------------------------------------------------


def horizon_s(sc: planner.Scenario) -> float:
    return sc.data.economics.horizon_s


def capex_per_unit(sc: planner.Scenario, system: str) -> float:
    """Amortised capex of one new unit over the horizon (US$)."""
    sys_ = sc.catalog.system(system)
    return sys_.capex_usd * horizon_s(sc) / sys_.lifetime_s


def usd_per_busy_hour(sc: planner.Scenario, dc: str, system: str) -> float:
    """Energy of one busy unit-hour: power_w/1000 x PUE x usd_per_kwh."""
    s = sc.topology.site(dc)
    return sc.catalog.system(system).power_w / 1000 * s.pue * s.electricity_usd_per_kwh


def by_name(sc: planner.Scenario) -> dict[str, Any]:
    return {d.name: d for d in planner.demands(sc)}


def unit_need(demand: Any, role: Any, system: str) -> float:
    """Units of `system` busy for the whole window to do all of the role's work."""
    rate = role.rates[system].per_unit_s
    assert rate > 0, f"{demand.name}/{role.name} cannot run on {system}"
    return role.amount / (rate * demand.window_s)


def total_need(demand: Any, system: str, roles: list[str] | None = None) -> float:
    return sum(
        unit_need(demand, r, system) for r in demand.roles if roles is None or r.name in roles
    )


def busy_hours(demand: Any, system: str, roles: list[str] | None = None) -> float:
    return total_need(demand, system, roles) * demand.window_s / S_PER_H


def ceil(x: float) -> int:
    """ceil with a guard against float noise at whole numbers (fixtures keep needs away from them)."""
    n = math.ceil(x - 1e-9)
    assert abs(x - round(x)) > 1e-6 or abs(x - n) < 1e-6
    return n


def cheapest(pools: list[dict[str, float]]) -> tuple[float, tuple[int, ...], float]:
    """Exact optimum of "one unit of work, split freely over pools", by enumeration.

    A pool: lo..hi units (lo = owned), owned, capex (US$ per new unit), share (fraction of the work
    one unit does in the window), energy (US$ for one unit busy the whole window). For each unit
    combination covering the work, the cheapest busy split fills pools in order of energy per
    work. Returns (cost, units, runner-up cost)."""
    best: list[tuple[float, tuple[int, ...]]] = []
    for units in itertools.product(*[range(int(p["lo"]), int(p["hi"]) + 1) for p in pools]):
        if sum(n * p["share"] for n, p in zip(units, pools, strict=True)) < 1 - EPS:
            continue
        cost = sum((n - p["owned"]) * p["capex"] for n, p in zip(units, pools, strict=True))
        left = 1.0
        for i in sorted(range(len(pools)), key=lambda i: pools[i]["energy"] / pools[i]["share"]):
            work = min(left, units[i] * pools[i]["share"])
            cost += work / pools[i]["share"] * pools[i]["energy"]
            left -= work
        best.append((cost, units))
    best.sort()
    return best[0][0], best[0][1], best[1][0] if len(best) > 1 else math.inf


def fleet(plan: Any) -> dict[tuple[str, str], float]:
    return {(f.datacenter, f.system): f.units for f in plan.fleet}


def cpu_units(plan: Any) -> dict[str, float]:
    return {c.datacenter: c.units for c in plan.cpu_servers}


# -- 1. the cheapest rate per unit of work wins --------------------------------------------


def test_cheapest_per_work_wins(tmp_path: Path) -> None:
    # H100 is a third of B200's price per unit and less than half its speed: cheaper per FLOP.
    catalog = {"systems": {"hgx-h100": {"capex_usd": 100000}, "hgx-b200": {"capex_usd": 300000}}}
    path = write_scenario(
        tmp_path,
        {
            "a": site(
                {"hgx-h100": {"max_units": 100}, "hgx-b200": {"max_units": 100}},
                pue=1.25,
                price=0.1,
            )
        },
        {
            "pt": {
                "kind": "pretrain",
                "model": "llama-3.1-8b",
                "tokens": "1T",
                "deadline": "30 days",
                "goodput": 0.9,
                "global_batch_tokens": "4M",
            }
        },
        catalog=catalog,
    )
    sc = planner.load_scenario(path)
    demand = by_name(sc)["pt"]
    (role,) = demand.roles
    rate = {s: role.rates[s].per_unit_s for s in ("hgx-h100", "hgx-b200")}
    per_work = {s: capex_per_unit(sc, s) / rate[s] for s in rate}
    assert per_work["hgx-h100"] < per_work["hgx-b200"]  # the premise
    assert capex_per_unit(sc, "hgx-b200") > capex_per_unit(sc, "hgx-h100")  # no mix can beat it

    need = unit_need(demand, role, "hgx-h100")
    units = ceil(need)
    busy_h = role.amount / rate["hgx-h100"] / S_PER_H
    expected = units * capex_per_unit(sc, "hgx-h100") + busy_h * usd_per_busy_hour(
        sc, "a", "hgx-h100"
    )
    # The same from the enumeration over both systems (guards the "no mix" argument).
    pools = [
        dict(
            lo=0,
            hi=ceil(unit_need(demand, role, s)),
            owned=0,
            capex=capex_per_unit(sc, s),
            share=1 / unit_need(demand, role, s),
            energy=usd_per_busy_hour(sc, "a", s) * demand.window_s / S_PER_H,
        )
        for s in ("hgx-h100", "hgx-b200")
    ]
    cost, best_units, runner_up = cheapest(pools)
    assert math.isclose(cost, expected, rel_tol=1e-12) and best_units == (units, 0)
    assert runner_up > cost * (1 + 1e-3)

    plan = planner.solve(sc)
    assert plan.status == "optimal"
    assert fleet(plan) == {("a", "hgx-h100"): units, ("a", "hgx-b200"): 0}
    assert math.isclose(plan.total_cost_usd, expected, rel_tol=REL)
    costs = {c.name: c.cost_usd for c in plan.costs()}
    assert math.isclose(costs["capex"], units * capex_per_unit(sc, "hgx-h100"), rel_tol=REL)
    assert math.isclose(
        costs["energy"], busy_h * usd_per_busy_hour(sc, "a", "hgx-h100"), rel_tol=REL
    )

    # Flip the prices: B200 at the same price per unit is cheaper per FLOP and wins alone.
    catalog["systems"]["hgx-b200"]["capex_usd"] = 100000
    (tmp_path / "case-catalog.yaml").write_text(yaml.safe_dump(without_tco(catalog)))
    flipped = planner.load_scenario(path)
    units_b = ceil(unit_need(demand, role, "hgx-b200"))
    expected_b = units_b * capex_per_unit(flipped, "hgx-b200") + role.amount / rate[
        "hgx-b200"
    ] / S_PER_H * usd_per_busy_hour(flipped, "a", "hgx-b200")
    plan = planner.solve(flipped)
    assert fleet(plan) == {("a", "hgx-h100"): 0, ("a", "hgx-b200"): units_b}
    assert math.isclose(plan.total_cost_usd, expected_b, rel_tol=REL)


# -- 2. a CPU-heavy verifier: k CPU servers next to Rainier, or a flip to NVL72 ------------

RL_VERIFIER = [
    {"name": "sandbox", "core_seconds_per_sample": 8, "applies_to": 0.5},
    {"name": "checker", "core_seconds_per_sample": 0.5, "applies_to": 0.2},
]


def verifier_cores(sc: planner.Scenario, demand: Any, name: str = "rl") -> float:
    spec = sc.data.workloads[name]
    per_sample = sum(v.core_seconds_per_sample * v.applies_to for v in spec.verifiers)
    assert math.isclose(demand.rl.verifier_core_s_per_sample, per_sample, rel_tol=1e-12)
    return per_sample * demand.rl.samples / demand.window_s


def test_verifier_needs_k_cpu_servers_on_rainier(tmp_path: Path) -> None:
    path = write_scenario(
        tmp_path,
        {
            "rainier": site(
                {"trn2-server": {"max_units": 100}},
                pue=1.15,
                price=0.08,
                cpu={"system": "cpu-server", "max_units": 50},
            )
        },
        {"rl": rl_workload("llama-3.1-8b", "20M", verifiers=RL_VERIFIER)},
    )
    sc = planner.load_scenario(path)
    cat = sc.catalog
    assert cat.spare_cores("trn2-server") == 96 - 2 * 16 == 64
    assert cat.system_cores("cpu-server") == 192
    demand = by_name(sc)["rl"]
    need = total_need(demand, "trn2-server")
    n = ceil(need)
    cores = verifier_cores(sc, demand)
    cpu_cost = (
        capex_per_unit(sc, "cpu-server")
        + usd_per_busy_hour(sc, "rainier", "cpu-server") * HOURS_PER_YEAR
    )
    energy = busy_hours(demand, "trn2-server") * usd_per_busy_hour(sc, "rainier", "trn2-server")

    def cost(extra: int) -> tuple[float, int]:
        k = max(0, math.ceil((cores - 64 * (n + extra)) / 192 - 1e-9))
        return (n + extra) * capex_per_unit(sc, "trn2-server") + energy + k * cpu_cost, k

    options = sorted(cost(e) + (e,) for e in range(0, 5))
    expected, k, extra = options[0]
    assert extra == 0 and k == math.ceil((cores - 64 * n) / 192) and k >= 2  # the case we meant
    assert options[1][0] > expected * (1 + 1e-3)

    plan = planner.solve(sc)
    assert fleet(plan)[("rainier", "trn2-server")] == n
    assert cpu_units(plan)["rainier"] == k
    assert math.isclose(plan.total_cost_usd, expected, rel_tol=REL)
    (row,) = plan.rl
    assert math.isclose(row.verifier_cores_by_site["rainier"], cores, rel_tol=REL)


def test_verifier_flips_the_choice_to_nvl72(tmp_path: Path) -> None:
    # No CPU servers; electricity 0 so cost is capex alone. 16 core-s per sample / 2 = 8 per sample.
    # The sandbox is built for arm64, so the NVL72's Grace cores can run it and the Trainium2
    # servers' x86 hosts cannot.
    heavy = [{"name": "sandbox", "core_seconds_per_sample": 16, "applies_to": 0.5, "isa": "arm64"}]
    sites = {"rainier": site({"trn2-server": {"max_units": 200}, "gb200-nvl72": {"max_units": 5}})}
    path = write_scenario(
        tmp_path, sites, {"rl": rl_workload("llama-3.1-8b", "20M", verifiers=heavy)}
    )
    sc = planner.load_scenario(path)
    cat = sc.catalog
    assert cat.spare_cores("gb200-nvl72") == 36 * 72 - 2 * 72 == 2448
    demand = by_name(sc)["rl"]
    cores = verifier_cores(sc, demand)
    trn_work = total_need(demand, "trn2-server")
    assert total_need(demand, "gb200-nvl72") <= 1  # one rack does all the GPU work
    # Only racks give arm64 cores: ceil(cores / 2448) racks, which also do the GPU work.
    racks = ceil(cores / 2448)
    assert racks == 1
    plan = planner.solve(sc)
    assert fleet(plan) == {("rainier", "trn2-server"): 0, ("rainier", "gb200-nvl72"): racks}
    expected = racks * capex_per_unit(sc, "gb200-nvl72")
    assert math.isclose(plan.total_cost_usd, expected, rel_tol=REL)

    # The same sandbox built for x86_64: Grace cores cannot run it, so the Trainium2 hosts
    # (64 spare x86 cores a server) carry it: max(GPU work, cores / 64) servers, no rack.
    x86 = planner.load_scenario(
        path,
        sets=[
            "workloads.rl.verifiers=[{name: sandbox, core_seconds_per_sample: 16, applies_to: 0.5}]"
        ],
    )
    servers = max(ceil(trn_work), ceil(cores / 64))
    plan = planner.solve(x86)
    assert fleet(plan) == {("rainier", "trn2-server"): servers, ("rainier", "gb200-nvl72"): 0}
    assert math.isclose(
        plan.total_cost_usd, servers * capex_per_unit(x86, "trn2-server"), rel_tol=REL
    )

    # With few verifier cores the same site stays on Trainium2 (cheaper per unit of work here).
    light = planner.load_scenario(path, sets=["workloads.rl.verifiers=[]"])
    plan = planner.solve(light)
    n = ceil(total_need(by_name(light)["rl"], "trn2-server"))
    assert capex_per_unit(light, "gb200-nvl72") > n * capex_per_unit(light, "trn2-server")
    assert fleet(plan) == {("rainier", "trn2-server"): n, ("rainier", "gb200-nvl72"): 0}
    assert math.isclose(plan.total_cost_usd, n * capex_per_unit(light, "trn2-server"), rel_tol=REL)


# -- 3. a power cap forces a split across datacenters --------------------------------------

H100_KW = 10.2
CAPPED_UNITS = 4


def power_capped(tmp_path: Path) -> Path:
    # Site a is cheaper to run but its cap fits 4.5 HGX H100 at PUE 1.2, so 4 whole units.
    cap_w = (CAPPED_UNITS + 0.5) * H100_KW * 1000 * 1.2
    return write_scenario(
        tmp_path,
        {
            "a": site({"hgx-h100": {"max_units": 100}}, cap=f"{cap_w} W", pue=1.2, price=0.05),
            "b": site({"hgx-h100": {"max_units": 100}}, pue=1.3, price=0.12),
        },
        {"chat": inference("110M")},
        name="capped",
    )


def test_power_cap_forces_a_split(tmp_path: Path) -> None:
    sc = planner.load_scenario(power_capped(tmp_path))
    assert sc.catalog.system("hgx-h100").power_w == H100_KW * 1000
    demand = by_name(sc)["chat"]
    need = total_need(demand, "hgx-h100")  # decode + prefill, both anywhere
    assert need > CAPPED_UNITS + 1
    cap_units = math.floor(sc.topology.site("a").power_cap_w / (H100_KW * 1000 * 1.2))
    assert cap_units == CAPPED_UNITS
    window_h = demand.window_s / S_PER_H
    pools = [
        dict(
            lo=0,
            hi=cap_units,
            owned=0,
            capex=capex_per_unit(sc, "hgx-h100"),
            share=1 / need,
            energy=usd_per_busy_hour(sc, d, "hgx-h100") * window_h,
        )
        for d in ("a", "b")
    ]
    pools[1]["hi"] = ceil(need) + 2
    expected, units, runner_up = cheapest(pools)
    assert units == (CAPPED_UNITS, ceil(need) - CAPPED_UNITS)
    # By formula: all units bought, site a busy all year, b busy for the rest.
    formula = ceil(need) * capex_per_unit(sc, "hgx-h100") + window_h * (
        CAPPED_UNITS * usd_per_busy_hour(sc, "a", "hgx-h100")
        + (need - CAPPED_UNITS) * usd_per_busy_hour(sc, "b", "hgx-h100")
    )
    assert math.isclose(expected, formula, rel_tol=1e-12)

    plan = planner.solve(sc)
    assert fleet(plan) == {
        ("a", "hgx-h100"): CAPPED_UNITS,
        ("b", "hgx-h100"): ceil(need) - CAPPED_UNITS,
    }
    assert math.isclose(plan.total_cost_usd, expected, rel_tol=REL)


def test_relaxed_power_shadow_price(tmp_path: Path) -> None:
    """LP relaxation: one more MW at a moves 1/(10.2 kW x 1.2) MW of units from b to a, each
    saving 10.2 kW x 8760 h x (1.3 x 0.12 - 1.2 x 0.05): 1000 x 8760 x (0.156 - 0.06) / 1.2 $/MW."""
    sc = planner.load_scenario(power_capped(tmp_path))
    plan = planner.solve(sc, relax=True)
    prices = {p.constraint: p for p in plan.shadow_prices}
    expected = 1000 * HOURS_PER_YEAR * (1.3 * 0.12 - 1.2 * 0.05) / 1.2
    assert prices["power:a"].unit == "usd_per_mw"
    assert math.isclose(prices["power:a"].value_usd, expected, rel_tol=1e-6)
    assert "power:b" not in prices


# -- 4. a thin link forbids splitting generation from training -----------------------------


def rl_link_case(tmp_path: Path, capacity_gbs: float) -> Path:
    """Site t owns one NVL72 rack (free, but too small for all of generation and training);
    site g can buy HGX H100. Links cost $1/TB; electricity is 0 everywhere."""
    return write_scenario(
        tmp_path,
        {
            "t": site({"gb200-nvl72": {"max_units": 1, "owned": 1}}),
            "g": site({"hgx-h100": {"max_units": 500}}),
        },
        # 100K samples an update: 1,000 updates, so each system's weight sync (pool_sync_s: 140 GB
        # at 92 GB/s + 0.15 s = 1.7 s an update since rlsync, ~10 s with rlstep's fixed part; both
        # pools wait) idles it ~1.3% of the window, and the rack can still train alone
        {"rl": rl_workload("llama-3.1-70b", "80M", kept=0.05, samples_per_update="100K")},
        links=[
            {
                "a": "t",
                "b": "g",
                "capacity": f"{capacity_gbs} GB/s",
                "latency": "10 ms",
                "cost_usd_per_tb": 1.0,
            }
        ],
        name=f"link{capacity_gbs:g}",
    )


def rl_link_expectations(sc: planner.Scenario) -> dict[str, Any]:
    d = by_name(sc)["rl"]
    rl = d.rl
    gen = [r.name for r in d.roles if r.placement == "with_generation"]
    k_gbs = rl.kept_fraction * rl.samples * rl.trajectory_bytes_per_kept_sample / d.window_s / GB
    w_gbs = rl.weight_bytes_per_update * rl.updates / d.window_s / GB
    usd_per_gbs = GB * d.window_s / 1e12 * 1.0  # $ for 1 GB/s over the window at $1/TB
    h100 = capex_per_unit(sc, "hgx-h100")
    gen_t, gen_g = total_need(d, "gb200-nvl72", gen), total_need(d, "hgx-h100", gen)
    train_t, train_g = total_need(d, "gb200-nvl72", ["train"]), total_need(d, "hgx-h100", ["train"])
    assert train_t + gen_t > 1  # the owned rack cannot do everything
    assert train_t < 1  # but it can train alone (its rates net of the weight sync's idle share)
    options = {}
    # No split: everything at g (the rack at t cannot hold it all).
    options["all_at_g"] = (ceil(train_g + gen_g) * h100, 0.0)
    # Trainer at t: the rack trains and generates what it can; g generates the rest.
    share_t = (1 - train_t) / gen_t
    rest = 1 - share_t
    options["trainer_t"] = (
        ceil(rest * gen_g) * h100 + (k_gbs * rest + w_gbs) * usd_per_gbs,
        k_gbs * rest + w_gbs,
    )
    # Trainer at g: g trains, the rack generates what it can, g buys whole units for the rest
    # and then, since trajectories cost link money, generates as much as those units allow.
    units_g = ceil(train_g + (1 - min(1.0, 1 / gen_t)) * gen_g)
    share_t = max(0.0, 1 - (units_g - train_g) / gen_g)
    options["trainer_g"] = (
        units_g * h100 + (k_gbs * share_t + w_gbs) * usd_per_gbs,
        k_gbs * share_t + w_gbs,
    )
    return {"k_gbs": k_gbs, "w_gbs": w_gbs, "options": options, "samples": rl.samples}


def test_thin_link_keeps_generation_with_the_trainer(tmp_path: Path) -> None:
    probe = rl_link_expectations(planner.load_scenario(rl_link_case(tmp_path, 1000.0)))
    w_gbs, k_gbs, options = probe["w_gbs"], probe["k_gbs"], probe["options"]
    split = min(options["trainer_t"], options["trainer_g"])
    assert split[0] < options["all_at_g"][0] * 0.99  # splitting is worth it on a fat link

    thin = planner.load_scenario(
        rl_link_case(tmp_path, 0.5 * w_gbs)
    )  # thinner than the weights alone
    plan = planner.solve(thin)
    (row,) = plan.rl
    assert row.trainer_site == "g"
    assert row.samples_by_site == {"g": pytest.approx(probe["samples"], rel=1e-9)}
    assert math.isclose(plan.total_cost_usd, options["all_at_g"][0], rel_tol=REL)
    assert all(link.traffic_bytes_per_s == 0 for link in plan.links)

    fat_cap = 2 * (w_gbs + k_gbs)
    fat = planner.load_scenario(rl_link_case(tmp_path, fat_cap))
    plan = planner.solve(fat)
    (row,) = plan.rl
    assert set(row.samples_by_site) == {"t", "g"}  # generation split from training
    assert math.isclose(sum(row.samples_by_site.values()), probe["samples"], rel_tol=1e-9)
    assert math.isclose(plan.total_cost_usd, split[0], rel_tol=REL)
    chosen = "trainer_t" if row.trainer_site == "t" else "trainer_g"
    assert math.isclose(options[chosen][0], split[0], rel_tol=REL)
    (link,) = plan.links
    assert math.isclose(link.traffic_bytes_per_s / GB, options[chosen][1], rel_tol=1e-6)
    assert link.traffic_bytes_per_s <= link.capacity_bytes_per_s


# -- 5. owned units are used before new ones are bought ------------------------------------


@pytest.mark.parametrize("requests", ["20M", "60M"])
def test_owned_units_first(tmp_path: Path, requests: str) -> None:
    # Site a owns 3 HGX H100 and runs them dearly; site b is cheaper to run but owns none.
    path = write_scenario(
        tmp_path,
        {
            "a": site({"hgx-h100": {"max_units": 20, "owned": 3}}, pue=1.2, price=0.15),
            "b": site({"hgx-h100": {"max_units": 20}}, pue=1.2, price=0.05),
        },
        {"chat": inference(requests)},
    )
    sc = planner.load_scenario(path)
    demand = by_name(sc)["chat"]
    need = total_need(demand, "hgx-h100")
    window_h = demand.window_s / S_PER_H
    pools = [dict(lo=3, hi=20, owned=3), dict(lo=0, hi=20, owned=0)]
    for p, d in zip(pools, ("a", "b"), strict=True):
        p.update(
            capex=capex_per_unit(sc, "hgx-h100"),
            share=1 / need,
            energy=usd_per_busy_hour(sc, d, "hgx-h100") * window_h,
        )
    expected, units, _ = cheapest(pools)
    if need < 3:
        # Owned units carry it all: no capex, energy of the busy hours at a.
        assert units == (3, 0)
        assert math.isclose(
            expected, need * window_h * usd_per_busy_hour(sc, "a", "hgx-h100"), rel_tol=1e-12
        )
    else:
        # The 3 owned units are kept; only the remainder is bought (at the cheaper site).
        assert units == (3, ceil(need - 3))
    plan = planner.solve(sc)
    assert fleet(plan) == {("a", "hgx-h100"): units[0], ("b", "hgx-h100"): units[1]}
    assert math.isclose(plan.total_cost_usd, expected, rel_tol=REL)
    new = {(f.datacenter, f.system): f.new_units for f in plan.fleet}
    assert new[("a", "hgx-h100")] == 0


# -- 6. rental pricing ---------------------------------------------------------------------


@pytest.mark.parametrize("owned", [0, 2])
def test_rental_reserves_units_for_the_horizon(tmp_path: Path, owned: int) -> None:
    """Rental: new units are reserved for the horizon at rental_usd_per_hour (energy included);
    owned units pay only the energy of the busy hours rented units cannot absorb."""
    path = write_scenario(
        tmp_path,
        {"a": site({"hgx-h100": {"max_units": 20, "owned": owned}}, pue=1.2, price=0.1)},
        {"chat": inference("60M")},
        pricing="rental",
    )
    sc = planner.load_scenario(path)
    demand = by_name(sc)["chat"]
    busy_h = busy_hours(demand, "hgx-h100")
    units = ceil(total_need(demand, "hgx-h100"))
    assert units > owned
    rented = units - owned
    owned_busy_h = max(0.0, busy_h - rented * HOURS_PER_YEAR)
    expected = rented * HOURS_PER_YEAR * sc.catalog.system(
        "hgx-h100"
    ).rental_usd_per_hour + owned_busy_h * usd_per_busy_hour(sc, "a", "hgx-h100")
    plan = planner.solve(sc)
    assert fleet(plan)[("a", "hgx-h100")] == units
    assert math.isclose(plan.total_cost_usd, expected, rel_tol=REL)
    costs = {c.name: c.cost_usd for c in plan.costs()}
    assert math.isclose(costs["rental"], rented * HOURS_PER_YEAR * 55.0, rel_tol=REL)


# -- physics of the shipped frontier-lab scenario and its overrides -------------------------

OVERRIDES = [[], ["rental"], ["2x_rollouts"], ["nvl72_only"], ["h100_only"], ["rainier_only"]]


@pytest.fixture(scope="session")
def shipped_plans() -> dict[str, tuple[Any, Any]]:
    """Each override of the shipped frontier-lab solved once with HiGHS at mip_gap 0.001."""
    out = {}
    for ov in OVERRIDES:
        sc = planner.load_scenario("frontier-lab", scenarios=ov)
        out["+".join(ov) or "default"] = (sc, planner.solve(sc, mip_gap=0.001))
    return out


@pytest.mark.parametrize("key", ["+".join(ov) or "default" for ov in OVERRIDES])
def test_shipped_plan_physics(shipped_plans: dict[str, Any], key: str) -> None:
    sc, plan = shipped_plans[key]
    cat, topo = sc.catalog, sc.topology
    units = fleet(plan)
    cpus = {c.datacenter: c for c in plan.cpu_servers}
    assert all(u == int(u) for u in units.values())
    # Power: recomputed from units x catalog power x PUE.
    for d in topo.datacenters():
        s = topo.site(d)
        it_w = sum(units[(d, name)] * cat.system(name).power_w for name in s.systems)
        if d in cpus:
            it_w += cpus[d].units * cat.system(cpus[d].system).power_w
        assert it_w * s.pue <= s.power_cap_w * (1 + 1e-9)
        for name, pool in s.systems.items():
            assert pool.owned <= units[(d, name)] <= pool.max_units
    # Allocations within units, in every period of the horizon.
    used: dict[tuple[str, str, int], float] = {}
    for a in plan.allocations:
        key = (a.datacenter, a.system, a.period)
        used[key] = used.get(key, 0.0) + a.units
    for (d, name, p), u in used.items():
        assert u <= units[(d, name)] * (1 + 1e-7) + 1e-7, (d, name, p)
    # Demand met: units x rate x period length, summed over periods within [start, deadline], >= amount
    # (RL roles per generated sample).
    rl_rows = {r.workload: r for r in plan.rl}
    for demand in planner.demands(sc):
        for role in demand.roles:
            rows = [a for a in plan.allocations if (a.workload, a.role) == (demand.name, role.name)]
            assert all(
                demand.start_s - 60 <= a.period_start_s and a.period_end_s <= demand.end_s + 60
                for a in rows
            )
            done = sum(
                a.units * role.rates[a.system].per_unit_s * (a.period_end_s - a.period_start_s)
                for a in rows
            )
            assert done >= role.amount * (1 - 1e-6), (demand.name, role.name)
        if demand.rl is not None:
            assert sum(rl_rows[demand.name].samples_by_site.values()) >= demand.rl.samples * (
                1 - 1e-9
            )
    # Verifier cores within spare host cores + CPU servers, per site.
    for d in topo.datacenters():
        need = sum(
            dem.rl.verifier_core_s_per_sample
            * rl_rows[dem.name].samples_by_site.get(d, 0.0)
            / dem.window_s
            for dem in planner.demands(sc)
            if dem.rl is not None
        )
        have = sum(cat.spare_cores(name) * units[(d, name)] for name in topo.site(d).systems)
        have += cat.system_cores(cpus[d].system) * cpus[d].units if d in cpus else 0
        assert need <= have * (1 + 1e-7) + 1e-6, d
    assert math.isclose(sum(c.cost_usd for c in plan.costs()), plan.total_cost_usd, rel_tol=1e-9)


@pytest.mark.parametrize("key", ["+".join(ov) or "default" for ov in OVERRIDES])
def test_highs_and_cbc_agree(shipped_plans: dict[str, Any], key: str) -> None:
    sc, highs = shipped_plans[key]
    cbc = planner.solve(sc, solver="cbc", mip_gap=0.001)
    a, b = highs.total_cost_usd, cbc.total_cost_usd
    assert abs(a - b) <= 0.005 * max(a, b), (a, b)


# Shipped what-ifs with no plan, and why (their goldens hold the CLI's elastic diagnosis):
# without Vera Rubin, frontier-3y's rl-2028 (2M rollouts an update) spread over 126K-142K
# GB200/GB300 GPUs (387K Trn3) decodes at 59-77% of the saturated rate (generation at the run's concurrency,
# planner/demand/rl.py generation_point) and its last two quarters exceed dc-central's and
# dc-west's power caps by 48-87 MW. A change that makes it feasible again fails here: revisit.
INFEASIBLE_OVERRIDES = {("frontier-3y.yaml", ("no_new_generation",))}
# Not solved here (HiGHS plans them in test_golden): CBC's branch and bound takes 40-150 s a
# plan on these since session 22's re-rating holds pretraining runs to their rated jobs (row
# family ratedjob), 108 s and 62 s at a 0.5% gap, 152 s and 41 s at 1%, against 12 s on
# frontier-3y's default and 4 s on rental_only, which keep the re-rating path covered with both
# solvers here.
HIGHS_ONLY_OVERRIDES = {
    ("frontier-3y.yaml", ("flat_demand",)),
    ("frontier-3y.yaml", ("west_stalls",)),
    # session 24's present-value override: CBC took 4.6 min wall (1.5 min CPU) on the npv branch,
    # where it agreed with HiGHS within 0.03% ($2,594.5M vs $2,595.3M at a 0.5% gap)
    ("frontier-3y.yaml", ("present_value",)),
}
# Compared on their LP relaxations (both solvers prove the same optimum, to 1e-6), not as
# whole-unit plans: CBC's branch and bound on frontier-3y's default took 55 s at a 1% gap and
# 88 s at 0.5% in session 25 (HiGHS 9 s), most of the suite's slowest test. Its whole-unit
# paths are compared on rental_only here (the calendar, rentals and re-rating), on
# frontier-lab's six overrides above (purchases, RL), and term contracts on a hand-solved case
# in test_capacity_over_time.py (test_reserved_or_on_demand_switches_at_the_utilisation_break_even).
RELAXATION_ONLY = {("frontier-3y.yaml", ())}


def test_every_shipped_example_solves_with_both_solvers() -> None:
    files = sorted((Path(planner.__file__).parent / "scenarios").glob("*.yaml"))
    assert files
    for file in files:
        if file.name == "frontier-lab.yaml":
            continue  # covered above, override by override
        sc = planner.load_scenario(file)
        for ov in [[], *[[name] for name in sc.data.overrides]]:
            scen = planner.load_scenario(file, scenarios=ov)
            if (file.name, tuple(ov)) in INFEASIBLE_OVERRIDES:
                with pytest.raises(InfeasibleError, match="power would exceed its cap"):
                    planner.solve(scen, mip_gap=0.005)
                continue
            if (file.name, tuple(ov)) in HIGHS_ONLY_OVERRIDES:
                continue  # HiGHS plans them in test_golden; a 0.5% solve here compared nothing
            if (file.name, tuple(ov)) in RELAXATION_ONLY:
                a = planner.solve(scen, relax=True).total_cost_usd
                b = planner.solve(scen, solver="cbc", relax=True).total_cost_usd
                assert math.isclose(a, b, rel_tol=1e-6), (file.name, ov, a, b)
                continue
            # Both proven within 0.5% of the same optimum, so within 0.5% of each other (at 0.1%
            # CBC took 220 s on frontier-3y flat_demand once session 9's physics moved it).
            a = planner.solve(scen, mip_gap=0.005).total_cost_usd
            b = planner.solve(scen, solver="cbc", mip_gap=0.005).total_cost_usd
            assert abs(a - b) <= 0.005 * max(a, b), (file.name, ov)


# -- infeasible scenarios are diagnosed -------------------------------------------------------


def diagnosis(path: Path) -> str:
    with pytest.raises(InfeasibleError) as info:
        planner.solve(planner.load_scenario(path))
    return str(info.value)


def test_cpu_shortfall_names_the_datacenter_and_cores(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    heavy = [{"name": "sandbox", "core_seconds_per_sample": 100, "applies_to": 1.0}]
    path = write_scenario(
        tmp_path,
        {
            "rainier": site(
                {"trn2-server": {"max_units": 4}}, cpu={"system": "cpu-server", "max_units": 1}
            )
        },
        {"rl": rl_workload("llama-3.1-8b", "1M", verifiers=heavy)},
    )
    text = diagnosis(path)
    cpu_lines = [line for line in text.splitlines() if "cores" in line]
    assert cpu_lines and "rainier" in cpu_lines[0]
    assert "power" not in text
    assert cli.main(["plan", str(path)]) == 2
    assert "rainier" in capsys.readouterr().err


def test_power_cap_too_small_names_power(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_scenario(
        tmp_path,
        {"tiny": site({"hgx-h100": {"max_units": 100}}, cap="25 kW", pue=1.2)},
        {"chat": inference("60M")},
    )
    text = diagnosis(path)
    power_lines = [line for line in text.splitlines() if "power" in line]
    assert power_lines and "tiny" in power_lines[0]
    assert cli.main(["plan", str(path)]) == 2
    assert "power" in capsys.readouterr().err


@pytest.mark.parametrize("system", ["hgx-h100", "trn2-server"])
def test_unrunnable_workload_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture, system: str
) -> None:
    """FP4 on a site of H100 or Trainium2 only (neither has FP4; B200 in the catalog does, but
    no site here holds one)."""
    workload = inference("1M", precision="fp4")
    path = write_scenario(
        tmp_path,
        {"a": site({system: {"max_units": 100}})},
        {"chat": inference("1M", precision="fp8"), "odd-one": workload},
    )
    sc = planner.load_scenario(path)
    assert not any(role.rates[system].feasible for role in by_name(sc)["odd-one"].roles)
    text = diagnosis(path)
    assert "odd-one" in text and "can run on no system" in text and "fp4" in text
    assert "chat/" not in text  # the runnable workload is not blamed
    assert cli.main(["plan", str(path)]) == 2
    assert "odd-one" in capsys.readouterr().err


# -- output: --json, --relax, --out -----------------------------------------------------------


def test_json_output_is_complete_and_deterministic(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = power_capped(tmp_path)
    outs = []
    for _ in range(2):
        assert cli.main(["plan", str(path), "--json"]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    data = json.loads(outs[0])
    assert {
        "status",
        "total_cost_usd",
        "fleet",
        "allocations",
        "costs",
        "binding_constraints",
    } <= set(data)
    assert data["status"] == "optimal"

    assert cli.main(["plan", str(path), "--json", "--relax"]) == 0
    relaxed = json.loads(capsys.readouterr().out)
    assert relaxed["status"] == "relaxed"
    prices = {p["constraint"]: p["value_usd"] for p in relaxed["shadow_prices"]}
    assert prices["power:a"] > 0

    out_dir = tmp_path / "out"
    assert cli.main(["plan", str(path), "--out", str(out_dir)]) == 0
    capsys.readouterr()
    assert json.loads((out_dir / "plan.json").read_text()) == data
    for table in ("fleet", "allocations", "costs", "power"):
        text = (out_dir / f"{table}.csv").read_text()
        assert text.splitlines()[0].count(",") >= 1, table
    fleet_rows = (out_dir / "fleet.csv").read_text().splitlines()
    assert fleet_rows[0].startswith("datacenter,system,units") and len(fleet_rows) == 3


# -- time phasing: units freed at a deadline serve later work --------------------------------


def test_units_freed_at_a_deadline_are_reused(tmp_path: Path) -> None:
    """Two pretraining runs on one site: A1 FLOPs by day 30, A2 by day 90. Periods [0,30] and
    [30,90] (and [90,365]); the cheapest fleet is n = ceil(max(A1 / (30 d x r), (A1 + A2) /
    (90 d x r))): the second run uses the whole fleet once the first is done. Without reuse it
    would be ceil(A1 / (30 d x r) + A2 / (90 d x r))."""
    pt = {"kind": "pretrain", "model": "llama-3.1-8b", "goodput": 0.9, "global_batch_tokens": "4M"}
    path = write_scenario(
        tmp_path,
        {"a": site({"hgx-h100": {"max_units": 5000}})},
        {
            "first": {**pt, "tokens": "3T", "deadline": "30 days"},
            "second": {**pt, "tokens": "6T", "deadline": "90 days"},
        },
    )
    sc = planner.load_scenario(path)
    demands = by_name(sc)
    rate = demands["first"].roles[0].rates["hgx-h100"].per_unit_s
    a1, a2 = demands["first"].roles[0].amount, demands["second"].roles[0].amount
    day = 86400.0
    reuse = ceil(max(a1 / (30 * day * rate), (a1 + a2) / (90 * day * rate)))
    no_reuse = ceil(a1 / (30 * day * rate) + a2 / (90 * day * rate))
    assert reuse < no_reuse  # the fixture is one where reuse matters
    plan = planner.solve(sc)
    assert fleet(plan)[("a", "hgx-h100")] == reuse
    assert math.isclose(plan.total_cost_usd, reuse * capex_per_unit(sc, "hgx-h100"), rel_tol=REL)
    assert [p.end_s / day for p in plan.periods] == [30, 90, 365]
    second = [a for a in plan.allocations if a.workload == "second"]
    assert max(a.period for a in second) == 1  # it runs on after the first run's deadline


def test_cpu_bound_fleet_reports_cpu_as_binding() -> None:
    """Rainier with no CPU servers and a heavy verifier: servers are bought for their host cores
    (those not busy serving chat lend them), so one server fewer could not host the verifier, and cpu:<site> is reported as binding."""
    path = Path(planner.__file__).parent / "scenarios" / "rl-verifiers.yaml"
    sc = planner.load_scenario(
        path,
        sets=[
            "topology_changes.datacenters.rainier.cpu_servers.max_units=0",
            "workloads.rl-code.samples_per_problem=64",
        ],
    )
    plan = planner.solve(sc)
    (row,) = [f for f in plan.fleet if f.system == "trn2-server"]
    spare = sc.catalog.spare_cores("trn2-server")
    need = sum(plan.rl[0].verifier_cores_by_site.values())
    # Units busy serving chat lend no cores (the RL run spans the horizon: one period).
    serving = sum(a.units for a in plan.allocations if a.workload == "chat")
    lenders = row.units - serving
    assert spare * (lenders - 1) < need <= spare * lenders * (1 + 1e-9)
    binding = {b.constraint: b for b in plan.binding_constraints}
    assert "cpu:rainier" in binding
    assert math.isclose(
        binding["cpu:rainier"].slack, spare * lenders - need, rel_tol=1e-6, abs_tol=1e-3
    )


# -- pretraining across sites: gradient sync over the link ------------------------------------


def _multi_site_case(tmp_path: Path, capacity: str, allow: bool) -> Path:
    caps = {"power_cap": "45 kW"}  # 4 hgx-h100 (10.2 kW each, PUE 1) per site
    pt = {
        "kind": "pretrain",
        "model": "llama-3.1-8b",
        "tokens": "1T",
        "deadline": "30 days",
        "goodput": 0.9,
        "global_batch_tokens": "4M",
        "allow_multi_site": allow,
    }
    return write_scenario(
        tmp_path,
        {
            "a": {**site({"hgx-h100": {"max_units": 10}}), **caps},
            "b": {**site({"hgx-h100": {"max_units": 10}}), **caps},
        },
        {"pt": pt},
        links=[
            {"a": "a", "b": "b", "capacity": capacity, "latency": "5 ms", "cost_usd_per_tb": 0.0}
        ],
        name=f"multi-{capacity.replace(' ', '')}-{allow}",
    )


def test_pretraining_split_across_sites_carries_its_gradients(tmp_path: Path) -> None:
    """7 units are needed (> 4 per site): allowed to split, the link carries 2 x gradient bytes
    per sync x syncs / window, recomputed here from the model and the spec."""
    sc = planner.load_scenario(_multi_site_case(tmp_path, "400 Gbps", True))
    demand = by_name(sc)["pt"]
    need = total_need(demand, "hgx-h100")
    assert 4 < need <= 8
    plan = planner.solve(sc)
    units = fleet(plan)
    assert units[("a", "hgx-h100")] + units[("b", "hgx-h100")] == ceil(need)
    params = sc.catalog.models["llama-3.1-8b"].params
    syncs = 1e12 / 4e6
    expected = 2 * params * 2 * syncs / demand.window_s  # bf16 gradients, bytes/s
    (link,) = plan.links
    assert math.isclose(link.traffic_bytes_per_s, expected, rel_tol=1e-6)


def test_pretraining_cannot_split_over_a_thin_link_or_when_not_allowed(tmp_path: Path) -> None:
    """A thin link (or no permission to split) leaves 4 units per site for a 7-unit job: the
    diagnosis names a limit to relax (the site's power cap, or the link when splitting is
    allowed), each with its figure."""
    for capacity, allow, words in (
        ("10 Gbps", True, ("link a--b", "cap of 45 kW")),
        ("400 Gbps", False, ("cap of 45 kW",)),
    ):
        sc = planner.load_scenario(_multi_site_case(tmp_path, capacity, allow))
        with pytest.raises(InfeasibleError) as err:
            planner.solve(sc)
        assert any(w in line for line in err.value.diagnosis for w in words), err.value.diagnosis


def test_a_workload_that_starts_later_reuses_the_units(tmp_path: Path) -> None:
    """Pretraining A1 FLOPs in [0, 30 d]; a second run A2 in [30 d, 60 d] (start: 30 days). The
    windows do not overlap, so the fleet is the larger need, not the sum:
    n = ceil(max(A1 / (30 d r), A2 / (30 d r))); the second run gets no unit before day 30."""
    pt = {"kind": "pretrain", "model": "llama-3.1-8b", "goodput": 0.9, "global_batch_tokens": "4M"}
    path = write_scenario(
        tmp_path,
        {"a": site({"hgx-h100": {"max_units": 5000}})},
        {
            "first": {**pt, "tokens": "3T", "deadline": "30 days"},
            "second": {**pt, "tokens": "2T", "start": "30 days", "deadline": "60 days"},
        },
    )
    sc = planner.load_scenario(path)
    demands = by_name(sc)
    assert demands["second"].window_s == 30 * 86400.0
    rate = demands["first"].roles[0].rates["hgx-h100"].per_unit_s
    a1, a2 = demands["first"].roles[0].amount, demands["second"].roles[0].amount
    month = 30 * 86400.0
    expected = ceil(max(a1, a2) / (month * rate))
    assert expected < ceil(a1 / (month * rate) + a2 / (month * rate))
    plan = planner.solve(sc)
    assert fleet(plan)[("a", "hgx-h100")] == expected
    assert all(a.period_start_s >= month for a in plan.allocations if a.workload == "second")


def test_start_must_come_before_the_deadline(tmp_path: Path) -> None:
    pt = {
        "kind": "pretrain",
        "model": "llama-3.1-8b",
        "goodput": 0.9,
        "global_batch_tokens": "4M",
        "tokens": "1T",
        "start": "40 days",
        "deadline": "30 days",
    }
    path = write_scenario(tmp_path, {"a": site({"hgx-h100": {"max_units": 10}})}, {"pt": pt})
    assert cli.main(["validate", str(path)]) == 1


def test_a_training_job_runs_on_one_system_type(tmp_path: Path) -> None:
    """A pretraining just over one NVL72 rack's worth: mixing 1 rack + a few H100 servers would
    be cheapest, but a job runs on one system type, so the plan is the cheaper of ceil(need) of
    each type alone (electricity 0: capex only)."""
    pt = {
        "kind": "pretrain",
        "model": "llama-3.1-70b",
        "goodput": 0.9,
        "global_batch_tokens": "4M",
        "deadline": "60 days",
    }
    sites = {"a": site({"gb200-nvl72": {"max_units": 10}, "hgx-h100": {"max_units": 500}})}
    path = write_scenario(tmp_path, sites, {"pt": {**pt, "tokens": "1T"}})
    sc = planner.load_scenario(path)
    demand = by_name(sc)["pt"]
    rack, server = (
        unit_need(demand, demand.roles[0], "gb200-nvl72"),
        unit_need(demand, demand.roles[0], "hgx-h100"),
    )
    # Scale the tokens so one rack is just too small (need ~1.1 racks).
    tokens = 1e12 * 1.1 / rack
    path = write_scenario(tmp_path, sites, {"pt": {**pt, "tokens": f"{tokens:.6g}"}})
    sc = planner.load_scenario(path)
    demand = by_name(sc)["pt"]
    rack, server = (
        unit_need(demand, demand.roles[0], "gb200-nvl72"),
        unit_need(demand, demand.roles[0], "hgx-h100"),
    )
    options = {
        "gb200-nvl72": ceil(rack) * capex_per_unit(sc, "gb200-nvl72"),
        "hgx-h100": ceil(server) * capex_per_unit(sc, "hgx-h100"),
    }
    mixed = capex_per_unit(sc, "gb200-nvl72") + ceil((rack - 1) * server / rack) * capex_per_unit(
        sc, "hgx-h100"
    )
    assert mixed < min(options.values())  # mixing would be cheaper: the rule must bite
    plan = planner.solve(sc)
    assert math.isclose(plan.total_cost_usd, min(options.values()), rel_tol=REL)
    assert len({a.system for a in plan.allocations}) == 1


def test_pretraining_holds_the_units_its_state_needs(tmp_path: Path) -> None:
    """70B with mixed-precision Adam: 16 B x 70e9 = 1.12 TB of state; an H100 server holds
    8 x 80 GB x 0.9 usable = 576 GB, so the job needs ceil(ceil(1.12e12 / 72e9) / 8) = 2 servers
    while it runs, even though its FLOPs alone would take a fraction of one. The job may run
    for part of its period (its average units are then below 2), but only on a pool that has
    the 2 servers in service."""
    pt = {
        "kind": "pretrain",
        "model": "llama-3.1-70b",
        "tokens": "2B",
        "deadline": "30 days",
        "goodput": 0.9,
        "global_batch_tokens": "4M",
    }
    path = write_scenario(tmp_path, {"a": site({"hgx-h100": {"max_units": 50}})}, {"pt": pt})
    sc = planner.load_scenario(path)
    demand = by_name(sc)["pt"]
    assert total_need(demand, "hgx-h100") < 1
    state = 16 * sc.catalog.models["llama-3.1-70b"].params
    per_gpu = (
        sc.catalog.accelerators["h100-sxm"].hbm_bytes
        * sc.catalog.system("hgx-h100").hbm_usable_fraction
    )
    expected = math.ceil(math.ceil(state / per_gpu) / 8)
    assert expected == 2 and demand.roles[0].min_units["hgx-h100"] == expected
    plan = planner.solve(sc)
    assert fleet(plan)[("a", "hgx-h100")] == expected
    in_service = {(r.datacenter, r.system, r.period): r.units for r in plan.schedule}
    assert all(in_service[(a.datacenter, a.system, 0)] >= expected for a in plan.allocations)


def test_shadow_prices_of_cores_and_cpu_servers_agree() -> None:
    """LP duality, checked by hand: when cores bind and CPU servers are not allowed, one more CPU
    server would be worth its cores at the core's shadow price, minus what the server costs over
    the horizon (capex x H / lifetime x (1 + network/storage share) + (power x PUE x price +
    capex x maintenance per year / year + facility per kW-month x kW / month) x H; session 22
    added the network/storage share, maintenance and facility)."""
    path = Path(planner.__file__).parent / "scenarios" / "rl-verifiers.yaml"
    sc = planner.load_scenario(
        path,
        sets=[
            "topology_changes.datacenters.rainier.cpu_servers.max_units=0",
            "workloads.rl-code.samples_per_problem=64",
        ],
    )
    plan = planner.solve(sc, relax=True)
    prices = {p.constraint: p.value_usd for p in plan.shadow_prices}
    site = sc.topology.site("rainier")
    server = sc.catalog.system(site.cpu_servers.system)
    horizon = horizon_s(sc)
    year_s = 365 * 86400.0
    share = 1 + (server.network_storage_capex_fraction or 0.0)
    # maintenance on the capex with its network/storage share (session 26)
    maintenance_per_s = (
        server.capex_usd * share * (server.maintenance_fraction_per_year or 0.0) / year_s
    )
    facility_per_s = (site.facility_usd_per_kw_month or 0.0) * server.power_w / 1000 / (year_s / 12)
    server_cost = (
        server.capex_usd * horizon / server.lifetime_s * share
        + server.power_w / 1000 * site.pue * site.electricity_usd_per_kwh * horizon / S_PER_H
        + (maintenance_per_s + facility_per_s) * horizon
    )
    assert share > 1 and maintenance_per_s > 0  # the cpu-server catalog entry states both
    cores = sc.catalog.system_cores(site.cpu_servers.system)
    assert prices["cpu:rainier"] > 0
    assert math.isclose(
        prices["avail:rainier:cpu-server"],
        cores * prices["cpu:rainier"] - server_cost,
        rel_tol=1e-6,
    )
