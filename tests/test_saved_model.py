"""`planner plan --save-lp` (api.solve(save_model=...)) writes the model PuLP writes from its
copy of the planner's problem (planner/lp/linear.py `to_pulp`): read back by HiGHS, the MPS and
LP files hold every column and row of the model (integer columns marked), and their LP
relaxation's optimum plus the objective's
constant (which model files, like HiGHS, do not carry) is the plan's LP relaxation."""

from __future__ import annotations

from pathlib import Path

import highspy
import pytest

import planner
from planner.api import demands
from planner.lp.build import build
from planner.lp.linear import INTEGER
from planner.scenario import SCENARIO_DIR


@pytest.mark.parametrize("suffix", [".mps", ".lp"])
def test_saved_model_is_the_model_and_solves_to_the_relaxation(tmp_path: Path, suffix: str) -> None:
    scenario = planner.load_scenario(SCENARIO_DIR / "frontier-lab.yaml")
    path = tmp_path / f"model{suffix}"
    plan = planner.solve(scenario, relax=True, save_model=path)
    model = build(scenario, demands(scenario))
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    assert highs.readModel(str(path)) == highspy.HighsStatus.kOk
    lp = highs.getLp()
    assert (lp.num_col_, lp.num_row_) == (len(model.prob.variables()), len(model.constraints))
    integer = sum(t == highspy.HighsVarType.kInteger for t in lp.integrality_)
    assert integer == sum(v.cat == INTEGER for v in model.prob.variables()) > 0
    highs.setOptionValue("solve_relaxation", True)  # the file marks the integer columns
    highs.run()
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    objective = highs.getInfo().objective_function_value + model.prob.objective.constant
    assert objective == pytest.approx(plan.lp_relaxation_usd, rel=1e-6)
