"""HiGHS's numerical trouble on a tier of one request a day (stress23's open failure b: two
tiers of 1 request a day with CPU servers under amortised pricing, also on older main). One
GB200 rack does 8.3e9 times the tier's work in a 30-day period, so its `colocate` rows (work
at a site's decode = work at its prefill, = 0) held coefficients of 4.9e8 to 8.3e9 against
CPU servers' 1.3e-3 MW in the power rows: HiGHS's MIP presolve left violations of 1.25e-6 its
postsolve could not undo (status "solve error": exit 3), with the CPU servers and without them
alike on other draws. Dividing each of those rows by its largest coefficient (the same row)
plans it; the CPU servers' columns were only what tipped this draw."""

from pathlib import Path

import pytest
from test_properties import _write

import planner
from planner.api import demands
from planner.kinds.inference import COLOCATE_SCALE_ABOVE
from planner.lp.build import build

SITES = {
    "s0": {
        "power_cap": "5 MW",
        "pue": 1.3,
        "electricity_usd_per_kwh": 0.0,
        "systems": {
            "trn2-server": {"max_units": 0, "owned": 0},
            "hgx-b200": {"max_units": 5, "owned": 3},
        },
        "cpu_servers": {"system": "cpu-server", "max_units": 10},
    },
    "s1": {
        "power_cap": "200 MW",
        "pue": 1.3,
        "electricity_usd_per_kwh": 0.0,
        "systems": {"gb200-nvl72": {"max_units": 2000, "owned": 1}},
        "cpu_servers": {"system": "cpu-server", "max_units": 0},
    },
}
TIER = {
    "kind": "inference",
    "model": "llama-3.1-8b",
    "precision": "fp8",
    "requests_per_day": 1,
    "prompt_tokens": 100,
    "output_tokens": 50,
    "tokens_per_s_per_user": 60,
}
ECON = {"horizon": "365 days", "pricing": "amortised", "period": "30 days"}


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_a_tier_of_one_request_a_day_plans(tmp_path: Path, solver: str) -> None:
    path = _write(tmp_path, SITES, {"tier0": TIER}, ECON)
    plan = planner.solve(planner.load_scenario(path), solver=solver)  # verified, else raises
    # the owned units serve it: nothing is bought (their capital is sunk), so the cost is
    # the owned units' maintenance, whatever the solver
    assert {(f.datacenter, f.system): f.units for f in plan.fleet if f.units} == {
        ("s0", "hgx-b200"): 3.0,
        ("s1", "gb200-nvl72"): 1.0,
    }
    assert "steady_load" in plan.checks  # every period's requests served


def test_its_colocate_rows_are_divided_by_their_largest_coefficient(tmp_path: Path) -> None:
    busy = {**TIER, "requests_per_day": "1B"}
    path = _write(tmp_path, SITES, {"tiny": TIER, "busy": busy}, ECON)
    scenario = planner.load_scenario(path)
    model = build(scenario, demands(scenario))
    rows = [(label, row) for label, row in model.constraints.items() if label.family == "colocate"]
    by_tier: dict[str, float] = {}
    for label, row in rows:
        tier = label.entity[0]
        by_tier[tier] = max(by_tier.get(tier, 0.0), max(abs(c) for c in row.values()))
    assert by_tier["tiny"] == pytest.approx(1.0)  # scaled: 8.3e9 before
    assert 1.0 < by_tier["busy"] < COLOCATE_SCALE_ABOVE  # as before: rate · len / work
