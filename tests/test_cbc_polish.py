"""CBC's plans go through the same post-processing as HiGHS's (solve.py `_polish_plan`): every
integer column fixed at its rounded MIP value, an idle `generates` binary at 0, the rest solved
again as an LP (`_polish_cbc`, CBC's counterpart of `_polish`, which works on HiGHS's model in
place). Before, only HiGHS plans were polished: a binary CBC left at its integrality tolerance
or an idle flag at 1 (a weight flow charged to a site generating nothing) stood in CBC plans."""

import time
from pathlib import Path

import pulp
from test_properties import LONG_RUN_SITES, LONG_RUN_WORK, _write

import planner
from planner.api import demands
from planner.lp import solve as solve_module
from planner.lp.build import build


def _scenario(tmp_path: Path) -> planner.Scenario:
    econ = {"horizon": "365 days", "pricing": "rental"}
    return planner.load_scenario(
        _write(tmp_path, LONG_RUN_SITES, {"rl": LONG_RUN_WORK["rl"]}, econ)
    )


def test_cbc_plans_are_polished(tmp_path: Path, monkeypatch) -> None:
    calls: list[str] = []
    polish = solve_module._polish_cbc

    def counting(model, method, deadline):
        calls.append(method)
        return polish(model, method, deadline)

    monkeypatch.setattr(solve_module, "_polish_cbc", counting)
    plan = planner.solve(_scenario(tmp_path), solver="cbc")
    assert calls and "cost_lines" in plan.checks


def test_cbc_polish_sets_an_idle_generates_flag_at_0(tmp_path: Path) -> None:
    """After CBC's plan, the flag z of the site that generates nothing (s0) is put at 1 and a
    rental column at 1e-7 off its whole value, as a MIP within its tolerances and gap may leave
    them; the polish puts z back at 0, every integer column on a whole number, and the cost no
    higher (the weight flow z enabled is no longer paid)."""
    scenario = _scenario(tmp_path)
    model = build(scenario, demands(scenario))
    solve_module.solve_model(model, "cbc", 0.01, 60.0, "choose", False)
    (rl,) = [d.name for d in model.demands]
    z0 = model.generates[(rl, "s0")]
    assert model.samples[(rl, "s0")].value() == 0.0 and z0.value() == 0.0
    cost = pulp.value(model.prob.objective)
    z0.varValue = 1.0
    rented = next(v for v in model.rent.values() if (v.value() or 0.0) >= 1.0)
    rented.varValue = (rented.varValue or 0.0) + 1e-7
    solve_module._polish_cbc(model, "choose", time.perf_counter() + 60.0)
    assert z0.value() == 0.0
    integer = [v for v in model.prob.variables() if v.cat == pulp.LpInteger]
    assert all(v.value() == round(v.value() or 0.0) for v in integer)
    assert pulp.value(model.prob.objective) <= cost * (1 + 1e-9)
    assert [v.lowBound for v in integer] == [0] * len(integer)  # bounds put back
    assert all(v.upBound in (None, 1) for v in integer)
