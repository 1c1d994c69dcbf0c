"""planner/lp/solve.py `_highs_tight_tolerance`: of HiGHS's plan and the plan of its second run at
a tight MIP feasibility tolerance, the cheaper is kept, and of two plans of the same cost the one
that needs no repair (`_repairs_needed`); two alike keep the first. Until session 34 a second
plan of the same cost was dropped even where the first needed repair and it did not.

The model: tests/test_cbc_bound.py's two sites (a 10K-request tier beside a 100B-token
pretraining run, one owned B200 server), 29 variables, whose optimum HiGHS proves: the owned
server does everything, US$28,750 (its maintenance). A second plan of the same cost moves the
tier's decode in LP period 0 onto s0's H100s, where the plan has no unit in service (the same
work: units x the B200's rate / the H100's; allocations carry no cost): work on no unit, which
`_repair` would commit a unit for. The second run is staged (`_run_mip` replaced by one that
sets the other plan's values; HiGHS's status stays the optimal one of the real solve)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulp
import pytest
from test_cbc_bound import PIN_CBC, SITES, WORK, _pinned

import planner
from planner.lp import solve
from planner.lp.build import build
from planner.lp.model import Model

Values = list[float | None]


def _model(tmp_path: Path) -> tuple[Model, Values, Values]:
    """The solved model, its optimal plan's values and the same-cost plan on no unit's."""
    econ = {"horizon": "365 days", "pricing": "rental"}
    sc = planner.load_scenario(_pinned(tmp_path, SITES, WORK, econ, PIN_CBC))
    model = build(sc, planner.demands(sc))
    stats = solve.solve_model(model, "highs", 0.01, 60.0, "choose", relax_only=False)
    assert stats.objective_usd == pytest.approx(28_750.0) and stats.sol_status == 1
    clean = [v.varValue for v in model.prob.variables()]
    assert solve._repairs_needed(model, solve._allocations(model)) == []
    assert (model.u[("tier0", "decode", "s1", "hgx-b200", 0)].varValue or 0.0) > 0
    assert model.u[("tier0", "decode", "s0", "hgx-h100", 0)].varValue == 0
    on_no_unit = _to_h100(model, "decode")
    assert pulp.value(model.prob.objective) == pytest.approx(28_750.0, rel=1e-12)
    assert solve._repairs_needed(model, solve._allocations(model)) == [
        "work on no unit in 1 pool-periods"
    ]
    return model, clean, on_no_unit


def _to_h100(model: Model, role: str) -> Values:
    """The tier's `role` work in period 0 moved from s1's B200s to s0's H100s at the same work
    (units x the B200/H100 rate ratio), where s0 has no unit: the model's values after."""
    b200 = model.u[("tier0", role, "s1", "hgx-b200", 0)]
    h100 = model.u[("tier0", role, "s0", "hgx-h100", 0)]
    (tier,) = [d for d in model.demands if d.name == "tier0"]
    (r,) = [x for x in tier.roles if x.name == role]
    ratio = r.rates["hgx-b200"].per_unit_s / r.rates["hgx-h100"].per_unit_s
    h100.varValue, b200.varValue = (b200.varValue or 0.0) * ratio, 0.0
    return [v.varValue for v in model.prob.variables()]


def _set(model: Model, values: Values) -> None:
    for var, value in zip(model.prob.variables(), values, strict=True):
        var.varValue = value


def _rerun(
    model: Model, first: Values, second: Values, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """`_highs_tight_tolerance` on `model` at `first`, its second run staged to give `second`
    (over the gap target: the relaxation's optimum given as US$1); the notes it added."""
    _set(model, first)

    def second_run(model: Model, mip: Any, offer: Any) -> None:
        _set(model, second)

    monkeypatch.setattr(solve, "_run_mip", second_run)
    notes = list(model.solver_notes)
    how, _ = solve._highs_tight_tolerance(model, None, solve.OPTIMAL, 0.0, 1.0, 0.01)  # type: ignore[arg-type]
    assert how == solve.OPTIMAL
    return model.solver_notes[len(notes) :]


def test_an_equal_plan_that_needs_no_repair_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, clean, on_no_unit = _model(tmp_path)
    (note,) = _rerun(model, on_no_unit, clean, monkeypatch)
    assert [v.varValue for v in model.prob.variables()] == clean
    assert "the same cost, needing none" in note and "work on no unit in 1 pool-periods" in note


def test_an_equal_plan_that_needs_repair_does_not_replace_a_clean_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, clean, on_no_unit = _model(tmp_path)
    assert _rerun(model, clean, on_no_unit, monkeypatch) == []
    assert [v.varValue for v in model.prob.variables()] == clean


def test_two_plans_alike_keep_the_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both need repair, at the same cost: the first stays (whichever the second run returns,
    the answer is the first run's). The second is the first with the tier's prefill in period 0
    on s0's H100s too (no unit there either)."""
    model, _, on_no_unit = _model(tmp_path)
    _set(model, on_no_unit)
    other = _to_h100(model, "prefill")
    assert pulp.value(model.prob.objective) == pytest.approx(28_750.0, rel=1e-12)
    assert solve._repairs_needed(model, solve._allocations(model))
    assert _rerun(model, on_no_unit, other, monkeypatch) == []
    assert [v.varValue for v in model.prob.variables()] == on_no_unit


def test_a_cheaper_plan_is_kept_before_a_cleaner_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cheapest first: a second plan cheaper by more than GAP_SLACK is kept even where it needs
    repair and the first does not (`_repair` then commits and solves it again). The first here
    is the clean optimum with a B200 server more rented at s1 (its cost on top)."""
    model, clean, on_no_unit = _model(tmp_path)
    _set(model, clean)
    dearer_vars = [v for v in model.prob.variables() if (v.varValue or 0.0) == 0.0]
    # a unit variable whose cost is positive: raise it by one
    costs = dict(model.prob.objective.items())
    (extra, *_) = [v for v in dearer_vars if costs.get(v, 0.0) > 0 and v.cat == pulp.LpInteger]
    extra.varValue = 1.0
    dearer = [v.varValue for v in model.prob.variables()]
    assert pulp.value(model.prob.objective) > 28_750.0 * 1.01
    (note,) = _rerun(model, dearer, on_no_unit, monkeypatch)
    assert [v.varValue for v in model.prob.variables()] == on_no_unit
    assert "it found 28,750.00 US$, the plan kept" in note
