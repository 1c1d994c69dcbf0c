"""Training calibration: one test per measured run of planner/calibration/training.yaml, each
within the tolerance stated next to it (absolute MFU points or relative)."""

from __future__ import annotations

import pytest

from hardware.catalog import load_catalog
from planner.calibration import training

CATALOG = load_catalog()
RUNS = {run["id"]: run for run in training.runs()}
# Known misses, reported with numbers in bench/accuracy.py and docs/models.md:
# - DeepSeek-V3's DualPipe hides the expert all-to-all the model half exposes, and its
#   fine-grained (1x128 tile) FP8 GEMMs with CUDA-core promotion run below the GEMM efficiency
#   fitted on Transformer Engine's per-tensor FP8: +24% GPU-hours.
KNOWN_MISSES = {"deepseek-v3-pretraining-gpu-hours"}


@pytest.mark.parametrize("point", sorted(RUNS))
def test_calibration_point(point: str) -> None:
    run = RUNS[point]
    value = training.predict(run, CATALOG)
    if point in KNOWN_MISSES:
        pytest.xfail(f"{point}: planner {value:.4g} vs published {run['published']}")
    assert training.within(run, value), (
        f"{point}: planner {value:.4g} vs published {run['published']} ({training.tolerance(run)})"
    )


def test_rows_cover_every_run() -> None:
    rows = training.rows()
    assert len(rows) == len(RUNS) and all(r.family == "training" for r in rows)
