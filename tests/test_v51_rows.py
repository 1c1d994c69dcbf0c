"""Every MLPerf Inference v5.1 partner point (partners51-checks) against the row of
bench/data/mlperf_inference_v5.1_llm.csv its source names (key = the row's index in
summary_results.json of mlcommons/inference_results_v5.1 @965182b0, a list without keys; total_accelerators = accelerators a node x nodes).

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
with (ROOT / "bench/data/mlperf_inference_v5.1_llm.csv").open() as f:
    ROWS = {r["key"]: r for r in csv.DictReader(f)}
CHECKS = [p for p in points() if p.family == "partners51-checks"]
MODEL = {
    "llama2-70b-99": "llama-2-70b",
    "deepseek-r1": "deepseek-r1",
    "llama3.1-8b": "llama-3.1-8b",
    "llama3.1-405b": "llama-3.1-405b",
}
# the accelerator named in the row -> the catalog system modelled on it
SYSTEM = {
    "NVIDIA B200-SXM-180GB": "hgx-b200",
    "NVIDIA GB200": "gb200-nvl72",
    "NVIDIA GB300": "gb300-nvl72",
    "NVIDIA H200-SXM-141GB": "hgx-h200",
}


def _row(source: str) -> dict[str, str]:
    keys = re.findall(r'summary_results\.json key "?(\d+)', source)
    assert len(set(keys)) == 1, source[:120]
    return ROWS[keys[0]]


def test_the_table_and_the_family() -> None:
    # every LLM row of the round (llama*, gpt-oss*, deepseek*), keys unique and ascending
    assert len(ROWS) == 394
    keys = [int(k) for k in ROWS]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(re.match(r"llama|gpt-oss|deepseek", r["Model"]) for r in ROWS.values())
    assert len(CHECKS) == 118
    cited = [_row(p.source)["key"] for p in CHECKS]
    assert len(cited) == len(set(cited))


@pytest.mark.parametrize("point", CHECKS, ids=lambda p: p.id)
def test_point_is_its_rows_arithmetic(point) -> None:  # type: ignore[no-untyped-def]
    row = _row(point.source)
    assert row["Division"] == "closed"
    by_hand = float(row["Result"]) / int(row["total_accelerators"])
    assert point.published == pytest.approx(by_hand, rel=6e-4), point.id
    assert point.counts == "output"
    if row["Units"] != "Tokens/s":  # four 8B Interactive rows: the label, not the figure
        assert row["Units"] == "Queries/s" and "the row's Units read Queries/s" in point.source
        assert point.spec.model == "llama-3.1-8b" and row["Scenario"] == "Interactive"
    tokens = re.search(r"TOKENS_PER_SAMPLE: ([\d.]+)", row["Accuracy"])
    if tokens:
        assert abs(point.spec.output_tokens - float(tokens.group(1))) <= 0.5, point.id
    assert MODEL[row["Model"]] == point.spec.model, point.id
    assert (point.spec.mode == "offline") == (row["Scenario"] == "Offline"), point.id
    assert f"-{row['Scenario'].lower()}-" in point.id, point.id
    assert SYSTEM[row["accelerator_model_name"].split(" (x")[0].strip()] == point.system, point.id
    assert row["Location"] in point.source, point.id
    # NVIDIA's v5.1 Blackwell runs are FP4, its Hopper runs FP8 (the row's weight_data_types)
    assert point.spec.precision == row["weight_data_types"].lower()[:3], point.id


@pytest.mark.parametrize("point", CHECKS, ids=lambda p: p.id)
def test_an_inferred_row_is_said_to_be(point) -> None:  # type: ignore[no-untyped-def]
    row = _row(point.source)
    said = "MLPerf lists this result as inferred" in point.assumed
    assert said == (row["inferred"] == "1"), point.id


def test_no_v51_row_is_flagged_inferred() -> None:
    # unlike v6.0 / v6.1 (bench/data/README.md), v5.1's table flags no LLM row inferred, its
    # Interactive rows included: the flag's case-sensitive scenario comparison came later
    assert all(r["inferred"] == "0" for r in ROWS.values())
    assert any(r["Scenario"] == "Interactive" for r in ROWS.values())
