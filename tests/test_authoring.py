"""Scenario authoring help: `planner schema` validates every shipped file, `planner init`
writes a scenario that validates and plans, "did you mean" for unknown keys and names."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import cli

ROOT = Path(__file__).resolve().parent.parent
FILES = {
    "scenario": sorted((ROOT / "planner/scenarios").glob("*.yaml")),
    "topology": sorted((ROOT / "topologies/presets").glob("*.yaml")),
    "catalog": sorted((ROOT / "hardware/data").glob("*.yaml")),
}


def schema(kind: str, capsys) -> dict:
    assert cli.main(["schema", kind]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("kind", list(FILES))
def test_schema_validates_every_shipped_file(kind: str, capsys) -> None:
    validator = jsonschema.Draft202012Validator(schema(kind, capsys))
    assert FILES[kind]
    for path in FILES[kind]:
        # As a YAML language server sees it: dates are text (YYYY-MM-DD).
        data = json.loads(json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")), default=str))
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == [], path


@pytest.mark.parametrize("kind", list(FILES))
def test_every_default_in_the_schema_is_valid_as_written(kind: str, capsys) -> None:
    """An editor offers a field's default: it must be what the file may hold ('60 s', not the
    model's SI float 60.0, which the loader refuses as a bare number)."""
    full = schema(kind, capsys)
    models = {"(root)": full, **full["$defs"]}
    errors = []
    for model_name, model in models.items():
        for key, prop in model.get("properties", {}).items():
            if "default" not in prop or prop["default"] is None:
                continue
            own = {k: v for k, v in prop.items() if k != "default"}
            checker = jsonschema.Draft202012Validator({**own, "$defs": full["$defs"]})
            errors += [
                f"{model_name}.{key}: {e.message}" for e in checker.iter_errors(prop["default"])
            ]
    assert errors == []


def test_a_quantity_default_as_the_schema_writes_it_loads_to_the_models_default(
    capsys, tmp_path: Path
) -> None:
    from planner.scenario import SolverOptions

    props = schema("scenario", capsys)["$defs"]["SolverOptions"]["properties"]
    assert props["time_limit"]["default"] == "60 s"
    written = SolverOptions.model_validate({"time_limit": props["time_limit"]["default"]})
    assert written.time_limit_s == SolverOptions().time_limit_s == 60.0


def test_schema_rejects_what_the_loader_rejects(capsys) -> None:
    validator = jsonschema.Draft202012Validator(schema("scenario", capsys))
    data = yaml.safe_load((ROOT / "planner/scenarios/frontier-lab.yaml").read_text())
    data["economics"]["horizon"] = 365  # a bare number where a unit belongs
    data["economics"]["horizn"] = "365 days"  # an unknown key
    messages = {e.message for e in validator.iter_errors(data)}
    assert messages == {
        "365 is not of type 'string'",
        "Additional properties are not allowed ('horizn' was unexpected)",
    }
    props = schema("scenario", capsys)["$defs"]["Economics"]["properties"]
    assert "90 days" in props["horizon"]["description"]


def test_init_writes_a_scenario_that_validates_and_plans(tmp_path: Path, capsys) -> None:
    path = tmp_path / "mine.yaml"
    assert cli.main(["init", str(path)]) == 0
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# A fleet-planner scenario")
    validator = jsonschema.Draft202012Validator(schema("scenario", capsys))
    assert list(validator.iter_errors(yaml.safe_load(text))) == []
    assert cli.main(["validate", str(path)]) == 0
    assert cli.main(["plan", str(path), "--quiet"]) == 0
    assert cli.main(["plan", str(path), "--scenario", "rental", "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["init", str(path)]) == 1  # never overwrites without --force
    assert "pass --force" in capsys.readouterr().err
    assert cli.main(["init", str(path), "--force"]) == 0


def test_a_field_of_another_kind_is_named_not_suggested_as_itself(tmp_path: Path, capsys) -> None:
    """`requests_per_day` under a pretrain workload is spelled right but belongs to inference:
    the message says so instead of "did you mean 'requests_per_day'"."""
    path = tmp_path / "s.yaml"
    path.write_text(
        "topology: multi-dc\n"
        "economics: {horizon: 90 days, pricing: amortised}\n"
        "workloads:\n"
        "  pre: {kind: pretrain, model: llama-3.1-8b, tokens: 1T, deadline: 60 days,\n"
        "        global_batch_tokens: 4M, requests_per_day: 1M}\n"
    )
    assert cli.main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:5: workloads.pre.requests_per_day: unknown field" in err
    assert "'requests_per_day' is a field of kind: inference, not of this one" in err
    assert "did you mean 'requests_per_day'" not in err


def test_did_you_mean_for_unknown_keys_and_names(tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "topology: multi-dc\n"
        "economics: {horizon: 90 days, pricing: amortised, cost_of_captal: 0.1}\n"
        "workloads:\n"
        "  chat: {kind: inference, model: llama-3.1-70b, precision: fp8, requests_per_day: 1M,\n"
        "         prompt_tokens: 100, output_tokns: 100, tokens_per_s_per_user: 30}\n"
    )
    assert cli.main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "economics.cost_of_captal: unknown field" in err
    assert "did you mean 'cost_of_capital'?" in err
    assert "did you mean 'output_tokens'" in err
    assert "Traceback" not in err
    path.write_text(path.read_text().replace("captal", "capital").replace("tokns", "tokens"))
    path.write_text(path.read_text().replace("llama-3.1-70b", "llama-3.1-70"))
    assert cli.main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:4: workloads.chat.model:" in err
    assert "did you mean 'llama-3.1-70b'" in err
    assert cli.main(["plan", "frontier-lab", "--scenario", "rentl"]) == 1
    assert "did you mean 'rental'?" in capsys.readouterr().err
    assert cli.main(["plan", "frontier-lab", "--topology", "multi-d"]) == 1
    assert "did you mean 'multi-dc'?" in capsys.readouterr().err


def test_an_inline_topology_is_told_what_to_write(tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "topology: {datacenters: {a: {power_cap: 10 MW}}}\n"
        "economics: {horizon: 90 days, pricing: amortised}\n"
        "workloads:\n"
        "  pt: {kind: pretrain, model: llama-3.1-8b, tokens: 1T, deadline: 30 days,\n"
        "       global_batch_tokens: 4M}\n"
    )
    assert cli.main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:1: topology: expected a topology preset name" in err
    assert "topology_changes" in err
