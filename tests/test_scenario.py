"""Scenario loading: defaults, named overrides, --set, and scenario-level rules."""

from __future__ import annotations

from pathlib import Path

import pytest

import cli
import planner
from fleetcore.errors import ConfigError
from planner.scenario import DEFAULT_SCENARIO, SCENARIO_DIR

SHIPPED = sorted(SCENARIO_DIR.glob("*.yaml"))


def test_default_scenario_is_shipped_and_loads() -> None:
    scenario = planner.load_scenario()
    assert Path(scenario.file) == DEFAULT_SCENARIO
    assert scenario.topology.name == "multi-dc"
    assert len(scenario.topology.datacenters()) >= 3
    kinds = {spec.kind for spec in scenario.data.workloads.values()}
    assert kinds == {"pretrain", "rl", "inference"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_scenario_and_override_validates(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = planner.load_scenario(path)
    for name in scenario.data.overrides:
        assert cli.main(["validate", str(path), "--scenario", name]) == 0, capsys.readouterr().err


def test_named_overrides_and_set_combine() -> None:
    base = planner.load_scenario("frontier-lab")
    changed = planner.load_scenario(
        "frontier-lab",
        scenarios=["rental", "2x_rollouts"],
        sets=["workloads.chat.requests_per_day=200M"],
    )
    assert changed.data.economics.pricing == "rental"
    rl_base = base.data.workloads["rl-reasoning"]
    rl_new = changed.data.workloads["rl-reasoning"]
    assert rl_new.samples_per_problem == 2 * rl_base.samples_per_problem
    assert changed.data.workloads["chat"].requests_per_day == 200e6
    # Untouched fields stay as they were.
    assert rl_new.completion_tokens == rl_base.completion_tokens


def test_override_api_matches_set_strings() -> None:
    base = planner.load_scenario("frontier-lab")
    a = base.override({"workloads.chat.requests_per_day": "200M", "economics.pricing": "rental"})
    b = planner.load_scenario(
        "frontier-lab", sets=["workloads.chat.requests_per_day=200M", "economics.pricing=rental"]
    )
    assert a.data == b.data


def test_topology_override_replaces_the_topology() -> None:
    scenario = planner.load_scenario("frontier-lab", scenarios=["rainier_only"])
    assert scenario.topology.name == "rainier-campus"
    scenario = planner.load_scenario("frontier-lab", topology="h100-cluster")
    assert scenario.topology.name == "h100-cluster"


def test_topology_changes_merge_over_the_preset() -> None:
    scenario = planner.load_scenario(
        "frontier-lab", sets=["topology_changes.datacenters.dc-east.power_cap=150 MW"]
    )
    assert scenario.topology.site("dc-east").power_cap_w == 150e6
    # The other sites keep the preset's figures.
    assert scenario.topology.site("dc-west").power_cap_w == 80e6


def test_deadline_past_horizon_is_an_input_error() -> None:
    with pytest.raises(ConfigError) as err:
        planner.load_scenario("frontier-lab", sets=["workloads.pretrain-405b.deadline=400 days"])
    (problem,) = err.value.problems
    assert problem.path == "workloads.pretrain-405b.deadline"
    assert "horizon" in problem.message


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--gap", "2"],
        ["plan", "--time-limit", "-1"],
        ["plan", "--solver", "glpk"],
        ["compare"],
        ["nope"],
    ],
)
def test_command_line_mistakes_exit_1_not_the_infeasible_code(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 1
    assert "Traceback" not in capsys.readouterr().err
