"""Sandbox cores below the solver's tolerance: an RL run's verifier needs 400 core-seconds over
its 200-day window, while its GPU work sits in one 30-day period. When the LP spread the cores
over the window (rule `cpu` in every period: 2.3e-5 arm64 cores, 9.5e-9 of a GB200 rack's),
HiGHS rented 9.5e-9 of a rack in the other periods (an integer within its tolerance), so the
plan charged rentals the verifier did not recompute and the solver's objective was not the
plan's (found by a wider generator than tests/test_properties.py's, session 23); solve.py's
repair then committed a whole rack in each of the 7 periods (US$ 3.81M). Since session 24 the
cores follow the generation per LP period (rows verifier, cpu), so the rack is rented only in
the period the run generates in; the repair (a whole unit of the ISA wherever sandbox cores run
on none) is still needed where the sandboxes' ISA is not the generating system's: x86 cores of
a tiny run on 8e-7 of a CPU server (tests/test_rl_period_cores.py's scenario)."""

from pathlib import Path

import pytest
import yaml

import planner
from fleetcore.errors import InfeasibleError
from planner.lp import solve as solve_module

TOPO = {
    "name": "gen",
    "description": "generated",
    "source": "test",
    "datacenters": {
        "s0": {
            "power_cap": "5 MW",
            "pue": 1.1,
            "electricity_usd_per_kwh": 0.2,
            "systems": {"gb200-nvl72": {"max_units": 151, "owned": 0}},
        }
    },
    "links": [],
}
RL = {
    "kind": "rl",
    "policy": "llama-3.1-8b",
    "problems": "1K",
    "samples_per_problem": 8,
    "prompt_tokens": 500,
    "completion_tokens": 2000,
    "kept_fraction": 0.25,
    "samples_per_update": "10K",
    "deadline": "200 days",
    "goodput": 0.9,
    "verifiers": [
        {"name": "sandbox", "core_seconds_per_sample": 0.1, "applies_to": 0.5, "isa": "arm64"}
    ],
}


def _scenario(tmp_path: Path) -> Path:
    (tmp_path / "topo.yaml").write_text(yaml.safe_dump(TOPO, sort_keys=False))
    econ = {"horizon": "365 days", "pricing": "rental", "period": "30 days"}
    doc = {"topology": "topo.yaml", "economics": econ, "workloads": {"rl0": RL}}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_tiny_sandbox_cores_rent_a_rack_only_where_the_run_generates(tmp_path: Path) -> None:
    plan = planner.solve(planner.load_scenario(_scenario(tmp_path)))  # verified, else raises
    assert {"cost_lines", "solver_objective", "verifier_cores"} <= set(plan.checks)
    rented = {row.period: row.rented_units for row in plan.schedule if row.rented_units > 0}
    generating = {a.period for a in plan.allocations if a.role == "generate" and a.units > 0}
    # one whole rack in the one period it generates (and trains) in; before, one in each of 7
    assert len(generating) == 1 and rented == dict.fromkeys(generating, 1.0)
    rack_usd_per_h = (
        planner.load_scenario(_scenario(tmp_path)).catalog.system("gb200-nvl72").rental_usd_per_hour
    )
    assert rack_usd_per_h is not None
    assert plan.total_cost_usd == pytest.approx(rack_usd_per_h * 30 * 24, rel=1e-9)  # 544,320
    assert plan.solver_objective_usd is not None  # before the repair: 3.27M US$ for 0.54M
    assert abs(plan.solver_objective_usd - plan.total_cost_usd) <= 1e-6 * plan.total_cost_usd


def test_the_repair_finds_cores_on_no_unit(tmp_path: Path, monkeypatch) -> None:
    """x86 sandboxes of a tiny run (0.1 core-seconds a sample: 1.5e-4 cores in the period it
    generates in, 8e-7 of a 192-core CPU server) on a GB200 site: the relaxation leaves the CPU
    server within the integrality tolerance of 0, the repair commits a whole one."""
    from test_rl_period_cores import _scenario as x86_scenario

    seen: list[int] = []
    find = solve_module._cores_on_no_unit

    def counting(model):
        found = find(model)
        seen.append(len(found))
        return found

    monkeypatch.setattr(solve_module, "_cores_on_no_unit", counting)
    plan = planner.solve(planner.load_scenario(x86_scenario(tmp_path, "1K", 151, core_s=0.1)))
    assert seen[0] == 1  # the one period it generates in: cores on no whole CPU server
    assert seen[-1] == 0
    servers = {r.period: r.rented_units for r in plan.cpu_schedule if r.rented_units > 0}
    generating = {a.period for a in plan.allocations if a.role == "generate" and a.units > 0}
    assert servers == dict.fromkeys(generating, 1.0)


def test_a_sliver_of_a_core_short_is_not_printed_as_zero(tmp_path: Path) -> None:
    """Bought racks arrive after their lead time, so nothing of arm64 is in service early in the
    window: the diagnosis names the 1.5e-4 cores short (it printed "needs 0 arm64 cores")."""
    site = TOPO["datacenters"]["s0"] | {
        "systems": {
            "hgx-b200": {"max_units": 660, "owned": 2},
            "gb200-nvl72": {"max_units": 108, "owned": 0},
        }
    }
    topo = TOPO | {"datacenters": {"s0": site}}
    (tmp_path / "topo.yaml").write_text(yaml.safe_dump(topo, sort_keys=False))
    econ = {"horizon": "365 days", "pricing": "amortised", "period": "30 days"}
    doc = {"topology": "topo.yaml", "economics": econ, "workloads": {"rl0": RL}}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(InfeasibleError) as err:
        planner.solve(planner.load_scenario(path))
    lines = [line for line in err.value.diagnosis if "verifier CPU" in line]
    # the run's 8,000 samples x 0.05 core-s, all generated in one 30-day period: 1.5e-4 cores
    cores = 8000 * 0.1 * 0.5 / (30 * 86400)
    assert lines and all(f"needs {cores:.2g} arm64 cores more" in line for line in lines)
