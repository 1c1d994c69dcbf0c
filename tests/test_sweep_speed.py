"""Sweeps at scale: the parent keeps per-point outputs, not full plans, unless asked; a plan asked
for later is the one a kept-plans sweep gives. (Time and memory are printed by
bench/bench_sweep.py, not asserted.)"""

from __future__ import annotations

from pathlib import Path

import pytest

import planner

ROOT = Path(__file__).resolve().parents[1]
RL = str(ROOT / "planner" / "scenarios" / "rl-verifiers.yaml")
SAMPLES = "workloads.rl-code.samples_per_problem"


@pytest.fixture(scope="module")
def kept():
    return planner.sweep(RL, {SAMPLES: [4, 16]}, keep_plans=True)


def test_without_keep_plans_the_parent_holds_outputs_only(kept, tmp_path):
    lean = planner.sweep(RL, {SAMPLES: [4, 16]}, out_dir=tmp_path)
    assert lean.plans == {}
    assert lean.to_json() == kept.to_json() and lean.to_csv() == kept.to_csv()
    assert set(kept.plans) == {"samples_per_problem=4", "samples_per_problem=16"}
    # The cache still gets full plans: a later sweep reads them back.
    again = planner.sweep(RL, {SAMPLES: [4, 16]}, out_dir=tmp_path, keep_plans=True)
    assert again.reused == 2
    assert again.plans == kept.plans


def test_a_plan_asked_for_later_is_the_kept_one(kept):
    lean = planner.sweep(RL, {SAMPLES: [4]})
    assert lean.plans == {}
    name = "samples_per_problem=4"
    assert lean.plan(name).to_json() == kept.plan(name).to_json()
    assert list(lean.plans) == [name]  # solved once, then kept


def test_failed_point_has_no_plan_either_way():
    lean = planner.sweep(RL, {SAMPLES: [0]})
    assert lean[0]["status"] == "bad_input"
    assert lean.plan(0) is None
