"""HiGHS's numerical trouble on a tier of one request a day (stress23's open failure b: two
tiers of 1 request a day with CPU servers under amortised pricing, also on older main),
reproduced: one GB200 rack does 8.3e9 times the tier's work in a 30-day period, so the tier's
serve and colocate rows hold coefficients of 4.9e8 to 8.3e9 on allocations of ~1e-10 units,
against CPU servers' 1.3e-3 MW in the power rows. HiGHS's MIP presolve leaves violations of
1.25e-6 its postsolve cannot undo ("solve error": exit 3); CBC plans it. Dividing the colocate
rows by their largest coefficient plans it too, but is wrong: the rows' values are shares of
the work, so a whole share becomes 1e-10, within the tolerance, and a later long run found a
tier decoded at one site and prefilled at another (rule colocated). The cause is the column
scale (a unit is 1e10 of the work's need). Since session 26, when HiGHS's MIP ends in numerical
trouble it is solved again with each tiny allocation in units of its need, as CBC solves it
(planner/lp/solve.py `_run_scaled`: the matrix spans 1.5e-9..73 instead of 1.3e-3..8.3e9), the
values read back times the need; both solvers plan it (it was a strict xfail for HiGHS)."""

from pathlib import Path

import pytest
from test_properties import _write

import planner

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
