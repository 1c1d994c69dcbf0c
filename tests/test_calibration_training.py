"""Training calibration: one test per measured run of planner/calibration/training.yaml, each
within the tolerance stated next to it (absolute MFU points or relative)."""

from __future__ import annotations

import pytest

from hardware.catalog import load_catalog
from planner.calibration import training

CATALOG = load_catalog()
RUNS = {run["id"]: run for run in training.runs()}
# Known misses, reported with numbers in bench/accuracy.py and docs/models.md (the DeepSeek-V3
# run, +24% GPU-hours while every routed copy crossed InfiniBand, is -10% since its node-limited
# routing is modelled, no longer a miss).
# MLPerf v5.0 Llama 3.1 405B on H100 (TP8 PP8 CP2, v8, NGC 25.01), checks, not fitted:
# - 512-GPU step: planner 1.536e5 vs 1.712e5 tokens/s (-10.3%; 2,048-2,560 GPUs -8.1..-8.6%,
#   8,192 -3.4%, in band). The five submissions step at 189.3 ms per micro-batch + 0.60 s
#   (least squares, all within 0.7%), the model at ~212 ms + 0.26 s: it exposes 20.9 ms of TP8
#   collectives per micro-batch (comm_overlap 0.5), which the submission overlaps (userbuffers);
#   without them it is 191.6 ms. (-12.6% while FP8 weights were counted at 2 B/param, which made
#   the model recompute 10% of the layers.)
# - 512 vs 8,192 time ratio: planner 13.1 vs 11.74 (+11.6%): the step-time ratio (measured
#   12.17) and evaluations (4.3% of the 512-GPU runs, 6.3% of the 8,192-GPU runs, not modelled).
KNOWN_MISSES: set[str] = {
    "mlperf-llama31-405b-h100-512gpu-step",
    "mlperf-llama31-405b-h100-512-vs-8192",
}


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
