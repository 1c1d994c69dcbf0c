"""Sandboxes as a resource: host cores are lent to RL verifiers only by units not busy with
pretraining or serving in that period (units running RL work, idle units and CPU servers lend
theirs). Optima computed here from the inputs (tests/test_lp.py helpers)."""

from __future__ import annotations

import math
from pathlib import Path

from test_lp import (
    REL,
    RL_VERIFIER,
    by_name,
    capex_per_unit,
    ceil,
    cpu_units,
    fleet,
    inference,
    rl_workload,
    site,
    total_need,
    verifier_cores,
    write_scenario,
)

import planner


def busy_rainier(tmp_path: Path) -> Path:
    """One Trainium2 site (x86 hosts, 64 spare cores a server) serving chat all year and running
    a 10-day RL run whose x86 sandboxes need a few hundred cores; electricity 0: cost is capex."""
    sites = {
        "rainier": site(
            {"trn2-server": {"max_units": 400}}, cpu={"system": "cpu-server", "max_units": 50}
        )
    }
    workloads = {
        "chat": inference("200M"),
        "rl": rl_workload("llama-3.1-8b", "20M", verifiers=RL_VERIFIER),
    }
    return write_scenario(tmp_path, sites, workloads, name="busy")


def test_units_busy_serving_lend_no_cores_so_cpu_servers_are_bought(tmp_path: Path) -> None:
    sc = planner.load_scenario(busy_rainier(tmp_path))
    cat = sc.catalog
    spare, cpu_cores = cat.spare_cores("trn2-server"), cat.system_cores("cpu-server")
    dem = by_name(sc)
    serving = total_need(dem["chat"], "trn2-server")  # units busy serving in every period
    rl = total_need(dem["rl"], "trn2-server")  # units busy with RL in its 10 days
    cores = verifier_cores(sc, dem["rl"])
    trn, cpu = capex_per_unit(sc, "trn2-server"), capex_per_unit(sc, "cpu-server")

    def cost(servers: int, lenders: float) -> tuple[float, int, int]:
        k = max(0, math.ceil((cores - spare * lenders) / cpu_cores - 1e-9))
        return servers * trn + k * cpu, servers, k

    least = ceil(serving + rl)
    # Only units not serving lend: servers - serving of them, in the RL run's period.
    options = sorted(cost(n, n - serving) for n in range(least, least + 20))
    expected, servers, k = options[0]
    assert options[1][0] > expected * (1 + 1e-3)
    # The case we meant: counting the serving units' cores too would need no CPU server.
    assert k >= 2 and cost(least, least)[2] == 0 and cost(least, least)[0] < expected

    plan = planner.solve(sc)
    assert fleet(plan) == {("rainier", "trn2-server"): servers}
    assert cpu_units(plan)["rainier"] == k
    assert math.isclose(plan.total_cost_usd, expected, rel_tol=REL)
    (row,) = plan.rl
    assert math.isclose(row.verifier_cores_by_site["rainier"], cores, rel_tol=REL)


# -- sandbox memory: the binding one of cores or memory decides -----------------------------

SANDBOX_GB = 32


def memory_rainier(tmp_path: Path, gb: int = SANDBOX_GB) -> Path:
    """Trainium2 servers and CPU servers at one site, an RL run whose code sandbox holds `gb`
    GB per sandbox (one core each); electricity 0: cost is capex."""
    verifiers = [
        {**RL_VERIFIER[0], "memory_per_sandbox": f"{gb} GB"},
        RL_VERIFIER[1],
    ]
    sites = {
        "rainier": site(
            {"trn2-server": {"max_units": 400}}, cpu={"system": "cpu-server", "max_units": 50}
        )
    }
    workloads = {"rl": rl_workload("llama-3.1-8b", "20M", verifiers=verifiers)}
    return write_scenario(tmp_path, sites, workloads, name=f"memory{gb}")


def memory_optimum(sc: planner.Scenario) -> tuple[float, int, int, int]:
    """(cost, servers, CPU servers, CPU servers the cores alone would need) by enumeration:
    k = the larger of the CPU servers for the cores and for the sandboxes' memory left after
    what the Trainium2 servers lend (host memory x spare cores / cores)."""
    cat = sc.catalog
    demand = by_name(sc)["rl"]
    cores = verifier_cores(sc, demand)
    spec = sc.data.workloads["rl"]
    sandbox = spec.verifiers[0]
    assert sandbox.memory_per_sandbox_bytes is not None
    memory = (
        sandbox.core_seconds_per_sample
        * sandbox.applies_to
        * sandbox.memory_per_sandbox_bytes
        * demand.rl.samples
        / demand.window_s
    )
    trn = cat.system("trn2-server")
    lent = trn.host_memory_bytes * cat.spare_cores("trn2-server") / cat.system_cores("trn2-server")
    server_memory = cat.system("cpu-server").host_memory_bytes
    spare, cpu_cores = cat.spare_cores("trn2-server"), cat.system_cores("cpu-server")
    need = ceil(total_need(demand, "trn2-server"))
    best = None
    for n in range(need, need + 40):
        k_cores = max(0, math.ceil((cores - spare * n) / cpu_cores - 1e-9))
        k_memory = max(0, math.ceil((memory - lent * n) / server_memory - 1e-9))
        k = max(k_cores, k_memory)
        cost = n * capex_per_unit(sc, "trn2-server") + k * capex_per_unit(sc, "cpu-server")
        if best is None or cost < best[0] - 1e-6:
            best = (cost, n, k, k_cores)
    assert best is not None
    return best


def test_sandbox_memory_decides_the_cpu_servers_when_it_binds(tmp_path: Path) -> None:
    sc = planner.load_scenario(memory_rainier(tmp_path))
    cost, servers, k, k_cores = memory_optimum(sc)
    assert k > k_cores  # the case we meant: memory, not cores, sets the CPU servers
    plan = planner.solve(sc)
    assert fleet(plan) == {("rainier", "trn2-server"): servers}
    assert cpu_units(plan)["rainier"] == k
    assert math.isclose(plan.total_cost_usd, cost, rel_tol=REL)
    (row,) = plan.rl
    demand = by_name(sc)["rl"]
    sandbox = sc.data.workloads["rl"].verifiers[0]
    held = sandbox.core_seconds_per_sample * sandbox.applies_to * SANDBOX_GB * 1e9
    expected = held * demand.rl.samples / demand.window_s
    assert math.isclose(row.verifier_memory_bytes_by_site["rainier"], expected, rel_tol=REL)
    assert "sandbox_memory" in plan.checks


def test_small_sandboxes_leave_the_cores_binding(tmp_path: Path) -> None:
    sc = planner.load_scenario(memory_rainier(tmp_path, gb=1))
    cost, servers, k, k_cores = memory_optimum(sc)
    assert k == k_cores
    plan = planner.solve(sc)
    assert cpu_units(plan)["rainier"] == k
    assert math.isclose(plan.total_cost_usd, cost, rel_tol=REL)


def test_a_plan_says_when_sandbox_memory_was_not_checked(tmp_path: Path) -> None:
    unchecked = planner.solve(planner.load_scenario(busy_rainier(tmp_path)))
    assert any("sandbox memory not checked for rl" in line for line in unchecked.left_out)
    checked = planner.solve(planner.load_scenario(memory_rainier(tmp_path, gb=1)))
    assert not any("sandbox memory" in line for line in checked.left_out)
