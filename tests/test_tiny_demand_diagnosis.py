"""A tiny demand on pools held at max_units 0 (found by the property generator: stress23 saw a
scenario whose only earlier "plan" was a 1.5e-7 trn2 purchase diagnosed "structural"). No
whole unit can serve it, so the scenario is infeasible at whole units, and the diagnosis must
say why: the pools' max_units. One request a day needs 2.5e-9 to 1e-6 of a unit, within the
solvers' tolerance of none, so phase 1 served it on no unit and found nothing short ("the
infeasibility is numerical"), or HiGHS called the elastic MIP, feasible by construction,
infeasible ("a structural problem"). The diagnosis now asks a whole unit wherever its answer
runs work on less than one (solve.py `_whole_units_for_work`), and falls back to the LP
relaxation's elastic model when the whole-unit one ends infeasible. Applying what it says gives
a plan."""

from pathlib import Path
from typing import Any

import pytest
from test_properties import _write

import planner
from fleetcore.errors import InfeasibleError

TIER = {
    "kind": "inference",
    "model": "llama-3.1-8b",
    "precision": "bf16",
    "requests_per_day": 100,
    "prompt_tokens": 100,
    "output_tokens": 50,
    "tokens_per_s_per_user": 10,
}
SEVENTY = {**TIER, "model": "llama-3.1-70b", "precision": "fp8", "requests_per_day": 1}
SEVENTY["output_tokens"] = 4000


def _site(systems: list[str]) -> dict[str, Any]:
    return {
        "s0": {
            "power_cap": "5 MW",
            "pue": 1.1,
            "electricity_usd_per_kwh": 0.2,
            "systems": {s: {"max_units": 0, "owned": 0} for s in systems},
        }
    }


CASES = {
    # before: "every slack is within the solver's tolerances: the infeasibility is numerical"
    "numerical": (["hgx-h100"], TIER, "rental"),
    # before: "infeasible even with every demand and capacity relaxed: a structural problem"
    "structural": (["hgx-h100", "hgx-b200"], SEVENTY, "amortised"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_tiny_demand_on_no_capacity_is_diagnosed_by_max_units(tmp_path: Path, case: str) -> None:
    systems, tier, pricing = CASES[case]
    econ = {"horizon": "365 days", "pricing": pricing}
    path = _write(tmp_path, _site(systems), {"tier0": tier}, econ)
    with pytest.raises(InfeasibleError) as caught:
        planner.solve(planner.load_scenario(path))
    text = "\n".join([str(caught.value), *caught.value.diagnosis])
    assert "structural problem" not in text, text
    assert "the infeasibility is numerical" not in text, text
    (line,) = [d for d in caught.value.diagnosis if "max_units" in d]
    assert line.startswith("s0: needs 1 more ") and "units than max_units allows" in line
    fix = line.split("--set ")[1].rstrip(")")
    assert fix.endswith(".max_units=1")
    plan = planner.solve(planner.load_scenario(path, sets=[fix]))  # what it says is enough
    assert sum(f.units for f in plan.fleet) == 1.0
