"""Every MLPerf Inference v6.0 partner point (partners60-checks) against the row of
bench/data/mlperf_inference_v6.0_llm.csv its source names (key = the row's index in
summary_results.json of gbeezybez/inference_results_v6.0 @232fbf90, a list without keys).

By hand from the transcribed table, not from the planner: published = Result /
total_accelerators; the output length is the row's TOKENS_PER_SAMPLE where the Accuracy field
gives one; the model, scenario, system, weight precision and Location are the row's; and a point
whose row MLPerf lists as inferred says so in its `assumed` (what the flag means:
bench/data/README.md)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from planner.calibration.serving import points

ROOT = Path(__file__).resolve().parent.parent
with (ROOT / "bench/data/mlperf_inference_v6.0_llm.csv").open() as f:
    ROWS = {r["key"]: r for r in csv.DictReader(f)}
CHECKS = [p for p in points() if p.family == "partners60-checks"]
MODEL = {
    "gpt-oss-120b": "gpt-oss-120b",
    "llama2-70b-99": "llama-2-70b",
    "deepseek-r1": "deepseek-r1",
    "llama3.1-8b": "llama-3.1-8b",
    "llama3.1-405b": "llama-3.1-405b",
}
# the accelerator named in the row -> the catalog system modelled on it
SYSTEM = {
    "AMD Instinct MI355X 288GB HBM3e": "mi355x-platform",
    "AMD Instinct MI350X 288GB HBM3e": "mi350x-platform",
    "NVIDIA B200-SXM-180GB": "hgx-b200",
    "NVIDIA B300-SXM-270GB": "hgx-b300",
    "NVIDIA GB200": "gb200-nvl72",
    "NVIDIA GB300": "gb300-nvl72",
}


def _row(source: str) -> dict[str, str]:
    keys = re.findall(r'summary_results\.json key "?(\d+)', source)
    assert len(set(keys)) == 1, source[:120]
    return ROWS[keys[0]]


def test_the_table_and_the_family() -> None:
    # every LLM row of the round (llama*, gpt-oss*, deepseek*), keys unique and ascending
    assert len(ROWS) == 375
    keys = [int(k) for k in ROWS]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(re.match(r"llama|gpt-oss|deepseek", r["Model"]) for r in ROWS.values())
    assert len(CHECKS) == 107
    cited = [_row(p.source)["key"] for p in CHECKS]
    assert len(cited) == len(set(cited))


@pytest.mark.parametrize("point", CHECKS, ids=lambda p: p.id)
def test_point_is_its_rows_arithmetic(point) -> None:  # type: ignore[no-untyped-def]
    row = _row(point.source)
    assert row["Division"] == "closed"
    by_hand = float(row["Result"]) / int(row["total_accelerators"])
    assert point.published == pytest.approx(by_hand, rel=6e-4), point.id
    assert row["Units"] == "Tokens/s" and point.counts == "output"
    tokens = re.search(r"TOKENS_PER_SAMPLE: ([\d.]+)", row["Accuracy"])
    if tokens:
        assert abs(point.spec.output_tokens - float(tokens.group(1))) <= 0.5, point.id
    assert MODEL[row["Model"]] == point.spec.model, point.id
    assert (point.spec.mode == "offline") == (row["Scenario"] == "Offline"), point.id
    assert f"-{row['Scenario'].lower()}-" in point.id, point.id
    assert SYSTEM[row["accelerator_model_name"]] == point.system, point.id
    assert row["Location"] in point.source, point.id
    assert point.spec.precision == "fp4" and row["weight_data_types"] == "fp4", point.id


@pytest.mark.parametrize("point", CHECKS, ids=lambda p: p.id)
def test_an_inferred_row_is_said_to_be(point) -> None:  # type: ignore[no-untyped-def]
    row = _row(point.source)
    said = "MLPerf lists this result as inferred" in point.assumed
    assert said == (row["inferred"] == "1"), point.id


def test_inferred_rows_are_interactive_or_a_lower_case_directory() -> None:
    # the v6.0 closed LLM rows flagged inferred: the 52 Interactive rows (LoadGen's Server
    # scenario under Interactive's bounds) and Nebius's B300 gpt-oss Offline / Server, whose
    # results directories are named in lower case (bench/data/README.md)
    flagged = [r for r in ROWS.values() if r["inferred"] == "1" and r["Division"] == "closed"]
    other = [r for r in flagged if r["Scenario"] != "Interactive"]
    assert len(flagged) - len(other) == 52
    assert {r["key"] for r in other} == {"443", "444"}
    assert all(f"/gpt-oss-120b/{r['Scenario'].lower()}/" in r["Location"] for r in other)
