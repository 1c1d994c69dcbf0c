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
# - 512-GPU step: planner 1.496e5 vs 1.712e5 tokens/s (-12.6%; 2,048-2,560 GPUs -8.1..-8.6%,
#   8,192 -3.4%, in band). step_time(...).breakdown(): 288 micro-batches of 218.4 ms = GEMM 166.6
#   (x1.033 for 10% of layers recomputed) + attention 13.8 + memory-bound 13.7 + exposed TP 20.9
#   + PP 3.4; bubble 0.19 s, exposed DP 0.006 s; 63.09 s vs 55.13 s measured. The micro-batch
#   term dominates: the five submissions step at 189.3 ms per micro-batch + 0.60 s (least
#   squares, all within 0.7%), the model at 212.5 ms + 0.26 s. What it may miss: the exposed TP8
#   collectives (comm_overlap 0.5 exposes 20.9 ms; the submission overlaps them with userbuffers
#   ring exchange and bulk overlaps, and without them the model is 191.6 ms); the recompute,
#   which the run does not do (no ACT_CKPT settings): the model's memory (75.3 GB without
#   recompute vs 72 GB usable at hbm_usable_fraction 0.9) keeps 2-byte weights where FP8_PARAMS
#   keeps 1-byte ones (-6.3 GB). Without the recompute it is still -10.3%.
# - 512 vs 8,192 time ratio: planner 13.45 vs 11.74 (+14.6%): the 512-GPU step above (+10.5%
#   on the step-time ratio, measured 12.17) and evaluations (4.3% of the 512-GPU runs, 6.3% of
#   the 8,192-GPU runs, not modelled: +3.7%).
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
