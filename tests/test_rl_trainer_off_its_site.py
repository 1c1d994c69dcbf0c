"""A tiny RL trainer's work off its trainer site (found by the property generator, stress24):
1K samples of an 8B policy need 1.4e-7 of a GB200 rack over a 30-day period, so the tight
big-M of the `trainer` row u <= M · t[w,d] is itself within the solvers' absolute tolerance of
0. HiGHS put the trainer site at s0 (Trainium2 only) and all of rl/train on a GB200 rack at
another site, three times in a row: each repair round barred that one allocation and the next
MIP moved the work to another site (`_repair`'s three rounds ran out), so the plan failed
one_site and cost_lines. The repair now sets the choice where the work ran (its tie row's
binary at 1: `_choose_where_it_runs`): one round, and the trainer runs where its site is."""

from pathlib import Path

import pytest
import yaml
from test_properties import _write

import planner

SITES = {
    "s0": {
        "power_cap": "0.5 MW",
        "pue": 1.5,
        "electricity_usd_per_kwh": 0.05,
        "systems": {"trn2-server": {"max_units": 515, "owned": 0}},
    },
    "s1": {
        "power_cap": "50 MW",
        "pue": 1.3,
        "electricity_usd_per_kwh": 0.2,
        "systems": {"gb200-nvl72": {"max_units": 1146, "owned": 3}},
        "cpu_servers": {"system": "cpu-server", "max_units": 243},
    },
    "s2": {
        "power_cap": "0.5 MW",
        "pue": 1.1,
        "electricity_usd_per_kwh": 0.2,
        "systems": {"gb200-nvl72": {"max_units": 28, "owned": 3}},
        "cpu_servers": {"system": "cpu-server", "max_units": 44},
    },
    "s3": {
        "power_cap": "200 MW",
        "pue": 1.1,
        "electricity_usd_per_kwh": 0.05,
        "systems": {
            "gb200-nvl72": {"max_units": 869, "owned": 3},
            "hgx-h100": {"max_units": 54, "owned": 3},
        },
        "cpu_servers": {"system": "cpu-server", "max_units": 347},
    },
}
WORK = {
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
        "colocated": False,
        "max_staleness_updates": 4,
        "verifiers": [
            {"name": "sandbox", "core_seconds_per_sample": 30, "applies_to": 0.5, "isa": "x86_64"}
        ],
    },
    "tier2": {
        "kind": "inference",
        "model": "llama-3.1-8b",
        "precision": "fp8",
        "requests_per_day": "1B",
        "prompt_tokens": 8000,
        "output_tokens": 775,
        "tokens_per_s_per_user": 60,
    },
}
ECON = {"horizon": "365 days", "pricing": "rental", "period": "30 days"}


# The case was found at GB200's former training fractions; session s32 fitted the B200 die's BF16
# fraction (0.61 -> 0.40, FP8 0.507 -> 0.520, FP4 0.38 -> 0.42), after which this scenario's plan
# carries no tight-tolerance note and the repair alone (one round) keeps the trainer at its site. The scenario pins the former figures (a catalog overlay)
# to keep exercising the path it was found on.
PINNED = {
    "accelerators": {
        "gb200": {
            "training": {"gemm_efficiency": {"bf16": 0.61, "fp16": 0.61, "fp8": 0.507, "fp4": 0.38}}
        }
    }
}


def _pinned(tmp_path: Path) -> Path:
    """The scenario (test_properties._write) with the PINNED catalog overlay."""
    path = _write(tmp_path, SITES, WORK, ECON)
    (tmp_path / "pinned.yaml").write_text(yaml.safe_dump(PINNED, sort_keys=False))
    doc = yaml.safe_load(path.read_text())
    doc["catalog"] = ["pinned.yaml"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize("tight", [True, False])
def test_a_tiny_trainer_runs_at_its_trainer_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tight: bool
) -> None:
    """With HiGHS's MIP solved again at a tight feasibility tolerance when its plan misses the
    target on a model with tiny allocations (solve.py `_highs_tight_tolerance`, session 27),
    that run finds a plan that keeps the trainer at its site with no repair. With that run
    left at the default tolerance (`tight` False: it returns the same plan), the repair sets
    the choice where the work ran, in one round, as before."""
    import planner.lp.solve as solve

    if not tight:
        monkeypatch.setattr(solve, "TIGHT_MIP_FEASIBILITY", 1e-6)
    plan = planner.solve(planner.load_scenario(_pinned(tmp_path)))
    assert {"one_site", "cost_lines", "busy_units"} <= set(plan.checks)
    train = [a for a in plan.allocations if (a.workload, a.role) == ("rl", "train")]
    assert {a.datacenter for a in train} == {plan.rl[0].trainer_site}
    assert sum(a.share_of_role or 0.0 for a in train) == pytest.approx(1.0, rel=1e-6)
    repaired = [n for n in plan.solver_notes if "repaired" in n]
    tolerance = [n for n in plan.solver_notes if "MIP feasibility tolerance at 1e-9" in n]
    if tight:
        assert tolerance and not repaired
    else:
        (note,) = repaired
        assert "(1 round: " in note and "rl/train's trainer choice where its work ran" in note
        assert not tolerance
