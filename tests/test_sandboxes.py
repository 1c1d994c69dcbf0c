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
