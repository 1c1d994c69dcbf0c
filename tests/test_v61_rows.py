"""Every MLPerf Inference v6.1 serving point (rubin-checks, mlperf61-checks, amd61-checks,
partners61-checks, rtxpro-checks) against the row of bench/data/mlperf_inference_v6.1_llm.csv
its source names (session review; 91 points since the NVIDIA-system Interactive rows joined
mlperf61-checks, 274 with the 152 partner rows of partners61-checks and the 31 RTX PRO 6000 rows
of rtxpro-checks).

By hand from the transcribed table, not from the planner: published = Result /
total_accelerators; the output length is the row's TOKENS_PER_SAMPLE where the Accuracy field
gives one; the model, scenario, system and weight precision are the row's; and a point whose
row MLPerf lists as inferred says so in its `assumed` (what the flag means: bench/data/README.md).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from planner.calibration.serving import points

ROOT = Path(__file__).resolve().parent.parent
with (ROOT / "bench/data/mlperf_inference_v6.1_llm.csv").open() as f:
    ROWS = {r["key"]: r for r in csv.DictReader(f)}
FAMILIES = (
    "rubin-checks",
    "mlperf61-checks",
    "amd61-checks",
    "partners61-checks",
    "rtxpro-checks",
)
CHECKS = [p for p in points() if p.family in FAMILIES]
MODEL = {
    "gpt-oss-120b": "gpt-oss-120b",
    "llama2-70b-99.9": "llama-2-70b",
    "deepseek-r1": "deepseek-r1",
    "llama3.1-8b": "llama-3.1-8b",
}
# the accelerator named in the row -> the catalog system modelled on it
SYSTEM = {
    "AMD Instinct MI355X 288GB HBM3e": "mi355x-platform",
    "AMD Instinct MI350X 288GB HBM3e": "mi350x-platform",
    "NVIDIA B200-SXM-180GB": "hgx-b200",
    "NVIDIA B300-SXM-270GB": "hgx-b300",
    "Nvidia B300-SXM-270GB": "hgx-b300",  # Dell's XE9780 rows spell it so
    "NVIDIA GB200": "gb200-nvl72",
    "NVIDIA GB300": "gb300-nvl72",
    "NVIDIA H200-SXM-141GB": "hgx-h200",
    "NVIDIA RTX PRO 6000 Blackwell Server Edition": "rtx-pro-server",
    "NVIDIA RTX PRO 6000 Blackwell": "rtx-pro-server",  # Fujitsu's row (a PCIE_96GB server card)
    "NVIDIA Vera Rubin": "vera-rubin-nvl144",
    "NVIDIA VR200": "vera-rubin-nvl144",  # Nebius's VR200 NVL72 half rack
}


def _row(source: str) -> dict[str, str]:
    keys = re.findall(r'summary\.json key "?(\d+)', source)
    assert len(set(keys)) == 1, source[:120]
    return ROWS[keys[0]]


def test_the_v61_families_hold_274_points() -> None:
    # mlperf61-checks: 29 Offline / Server points and the five NVIDIA-system Interactive rows
    families = [p.family for p in CHECKS]
    assert (families.count("rubin-checks"), families.count("mlperf61-checks")) == (3, 34)
    assert families.count("amd61-checks") == 54
    assert families.count("partners61-checks") == 152
    assert families.count("rtxpro-checks") == 31


def test_no_row_is_cited_twice() -> None:
    # a partner point is a row no other family uses
    keys = [_row(p.source)["key"] for p in CHECKS]
    assert len(keys) == len(set(keys))


def test_every_closed_rtx_pro_6000_row_of_a_catalog_model_is_a_point() -> None:
    # rtxpro-checks holds every closed v6.1 row on the 96 GB RTX PRO 6000 whose model the
    # catalog has (the RTX PRO 4500 rows and the qwen3.6 rows are not this part or no model)
    rtx = {
        k
        for k, r in ROWS.items()
        if r["Division"] == "closed"
        and r["accelerator_model_name"].startswith("NVIDIA RTX PRO 6000")
        and r["Model"] in MODEL
    }
    pointed = {_row(p.source)["key"] for p in CHECKS if p.family == "rtxpro-checks"}
    assert len(rtx) == 31 and pointed == rtx
    assert {ROWS[k]["Organization"] for k in rtx} == {
        "Cisco", "Dell", "Fujitsu", "HPE", "MiTAC", "Nebius", "TTA"
    }  # fmt: skip


@pytest.mark.parametrize("point", CHECKS, ids=lambda p: p.id)
def test_point_is_its_rows_arithmetic(point) -> None:  # type: ignore[no-untyped-def]
    row = _row(point.source)
    by_hand = float(row["Result"]) / int(row["total_accelerators"])
    assert point.published == pytest.approx(by_hand, rel=6e-4), point.id
    assert row["Units"] == "Tokens/s" and point.counts == "output"
    tokens = re.search(r"TOKENS_PER_SAMPLE: ([\d.]+)", row["Accuracy"])
    if tokens:
        assert abs(point.spec.output_tokens - float(tokens.group(1))) <= 0.5, point.id
    assert MODEL[row["Model"]] == point.spec.model, point.id
    offline = row["Scenario"] == "Offline"
    assert (point.spec.mode == "offline") == offline, point.id
    assert row["Scenario"].lower() in point.id, point.id
    assert SYSTEM[row["accelerator_model_name"]] == point.system, point.id


@pytest.mark.parametrize("point", CHECKS, ids=lambda p: p.id)
def test_weight_precision_is_the_rows_or_explained(point) -> None:  # type: ignore[no-untyped-def]
    weights = _row(point.source)["weight_data_types"].lower()
    if weights.startswith(("fp4", "mxfp4")):
        assert point.spec.precision == "fp4", point.id
    elif weights.startswith("fp8"):
        # the AMD Llama 3.1 8B rows read fp8 while the runs quantise to MXFP4 W4A4 (MiTAC's v6.1
        # 8B README): those points say so; the others are FP8
        assert point.spec.precision == "fp8" or "weight_data_types reads fp8" in point.assumed, (
            point.id
        )
    else:
        pytest.fail(f"{point.id}: unexpected weight_data_types {weights}")


@pytest.mark.parametrize("point", CHECKS, ids=lambda p: p.id)
def test_an_inferred_row_is_said_to_be(point) -> None:  # type: ignore[no-untyped-def]
    row = _row(point.source)
    said = (
        "MLPerf lists this result as inferred" in point.assumed
        or "flags the row inferred" in point.assumed
    )
    assert said == (row["inferred"] == "1"), point.id


def test_every_interactive_row_is_flagged_inferred() -> None:
    # the flag's meaning in bench/data/README.md rests on this: all 43 v6.1 Interactive rows
    # carry it (LoadGen runs Interactive as its Server scenario)
    interactive = [r for r in ROWS.values() if r["Scenario"] == "Interactive"]
    assert len(interactive) == 43 and all(r["inferred"] == "1" for r in interactive)
    assert "case-sensitive" in (ROOT / "bench/data/README.md").read_text(encoding="utf-8")
