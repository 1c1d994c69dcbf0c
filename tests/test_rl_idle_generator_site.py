"""An RL run's `generates` flag left at 1 at a site that generates nothing: its rows only let z
enable work or charge a weight flow, so at 1 it only costs (0.0128 US$ of weights pushed
s1 -> s0), which the MIP's 1% gap let stand in a 3.86M US$ plan. The plan charged that link
cost; the verifier, routing the traffic from the allocations (none at s0), recomputed 0 and
failed the plan (cost_lines; found by a wider generator than tests/test_properties.py's:
30-day periods, rental, session 23). The polish now fixes such a flag at 0
(model.idle_binaries)."""

from pathlib import Path

import yaml

import planner

SITES = {
    "s0": {
        "power_cap": "5 MW",
        "pue": 1.1,
        "electricity_usd_per_kwh": 0.2,
        "systems": {"gb200-nvl72": {"max_units": 151, "owned": 0}},
    },
    "s1": {
        "power_cap": "5 MW",
        "pue": 1.5,
        "electricity_usd_per_kwh": 0.0,
        "systems": {
            "hgx-b200": {"max_units": 660, "owned": 2},
            "gb200-nvl72": {"max_units": 108, "owned": 0},
        },
    },
}
LINK = {"a": "s0", "b": "s1", "capacity": "400 Gbps", "latency": "5 ms", "cost_usd_per_tb": 1.0}
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
    "colocated": True,
    "max_staleness_updates": 4,
    "verifiers": [
        {"name": "sandbox", "core_seconds_per_sample": 0.1, "applies_to": 0.5, "isa": "arm64"}
    ],
}


def _scenario(tmp_path: Path) -> Path:
    topo = {"name": "gen", "description": "generated", "source": "test"}
    topo |= {"datacenters": SITES, "links": [LINK]}
    (tmp_path / "topo.yaml").write_text(yaml.safe_dump(topo, sort_keys=False))
    econ = {"horizon": "365 days", "pricing": "rental", "period": "30 days"}
    doc = {"topology": "topo.yaml", "economics": econ, "workloads": {"rl0": RL}}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_no_weights_are_charged_to_a_site_that_generates_nothing(tmp_path: Path) -> None:
    plan = planner.solve(planner.load_scenario(_scenario(tmp_path)))  # verified, else raises
    assert "cost_lines" in plan.checks
    (rl,) = plan.rl
    links_usd = sum(c.cost_usd for c in plan.costs_rows if c.component == "links")
    assert rl.trainer_site == "s1" and set(rl.samples_by_site) == {"s1"}
    assert links_usd == 0.0  # before: 0.0128 US$ of weights to s0, which generates nothing
    assert [link.traffic_bytes_per_s for link in plan.links] == [0.0]
