"""An RL trainer whose allocation is below whole-unit noise in every period has no job to
re-rate, and the verifier does not ask for its record (hypothesis's falsifying example of
tests/test_properties.py after the RL re-rating merge, session 23)."""

from pathlib import Path

import yaml

import planner

TOPO = {
    "name": "gen",
    "description": "generated",
    "source": "test",
    "datacenters": {
        "s0": {
            "power_cap": "0.05 MW",
            "pue": 1.1,
            "electricity_usd_per_kwh": 0.0,
            "systems": {"hgx-h100": {"max_units": 1, "owned": 0}},
        }
    },
    "links": [],
}
WORK = {
    "tier0": {
        "kind": "inference",
        "model": "llama-3.1-8b",
        "precision": "bf16",
        "requests_per_day": 1,
        "prompt_tokens": 100,
        "output_tokens": 50,
        "tokens_per_s_per_user": 10,
    },
    "rl": {
        "kind": "rl",
        "policy": "llama-3.1-8b",
        "problems": "1K",
        "samples_per_problem": 1,
        "prompt_tokens": 500,
        "completion_tokens": 2000,
        "kept_fraction": 0.25,
        "samples_per_update": "10K",
        "deadline": "60 days",
        "goodput": 0.9,
        "verifiers": [
            {"name": "sandbox", "core_seconds_per_sample": 0.1, "applies_to": 0.5, "isa": "x86_64"}
        ],
    },
}


def test_a_trainer_below_whole_unit_noise_plans_without_a_job_record(tmp_path: Path) -> None:
    (tmp_path / "topo.yaml").write_text(yaml.safe_dump(TOPO, sort_keys=False))
    doc = {
        "topology": "topo.yaml",
        "economics": {"horizon": "365 days", "pricing": "amortised"},
        "workloads": WORK,
    }
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    plan = planner.solve(planner.load_scenario(tmp_path / "scenario.yaml"))
    train = [a for a in plan.allocations if a.workload == "rl" and a.role == "train"]
    # the whole update (3e16 FLOP) fits in a sliver of one server's 60 days: no job to re-rate
    assert train and all(a.units < 1e-3 for a in train)
    assert sum(a.work_done for a in train) > 0
    assert plan.rl_jobs == []
    assert "placed_rate" in plan.checks
