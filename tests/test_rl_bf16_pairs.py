"""The B200 die's BF16 training fraction, fitted in session s32 (rlbf16) on NeMo-RL's paired dense
update passes (bench/rl_bf16_pairs.py): the fit re-run, its rows and its held-out checks."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

from hardware.catalog import load_catalog
from planner.calibration import training

BENCH = Path(__file__).resolve().parents[1] / "bench" / "rl_bf16_pairs.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rl_bf16_pairs", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rl_bf16_pairs"] = module
    spec.loader.exec_module(module)
    return module


B = _load()
CATALOG = load_catalog()


def test_the_fit_recomputes_the_catalog_figure(tmp_path: Path) -> None:
    # The documented procedure (catalog b200/gb200 gemm_efficiency.bf16 source) on the two fit
    # pairs gives the catalog figure; each pair alone gives 0.42 (Llama 3.1 8B) and 0.38
    # (Qwen3-32B), both quoted in the source.
    fit_pairs = tuple(p for p in B.PAIRS if p.fit)
    assert [p.gb200 for p in fit_pairs] == [
        "nemo-rl-0.5-gb200-llama3.1-8b-8gpu-1off",
        "nemo-rl-0.5-gb200-qwen3-32b-32gpu-1off",
    ]
    best = B.fit(tmp_path)
    for acc in ("b200", "gb200"):
        tr = CATALOG.accelerators[acc].training
        assert tr is not None
        assert tr.gemm_efficiency["bf16"] == tr.gemm_efficiency["fp16"] == best == 0.40
        source = CATALOG.accelerators[acc].source_of("training.gemm_efficiency.bf16")
        assert source.startswith("fitted") and "bench/rl_bf16_pairs.py" in source
        assert all(p.gb200 in source and p.h100 in source for p in fit_pairs)
        rng = CATALOG.accelerators[acc].ranges["training.gemm_efficiency.bf16"]
        assert rng.low <= 0.38 and rng.high == 0.61
    assert [B.fit(tmp_path, pairs=(p,)) for p in fit_pairs] == [0.42, 0.38]
    # Blackwell Ultra keeps H100's 0.61 (its own BF16 MoE rows read in band there)
    for acc in ("gb300", "b300"):
        tr = CATALOG.accelerators[acc].training
        assert tr is not None and tr.gemm_efficiency["bf16"] == 0.61


def test_fit_rows_are_dense_bf16_update_passes_on_a_stated_layout() -> None:
    # Each fit row (and its twin) is asynchronous, BF16, a dense model, with the recipe's Megatron
    # layout and packing given, and its planner step is its training side: the update passes.
    for pair in (p for p in B.PAIRS if p.fit):
        for pid in (pair.gb200, pair.h100):
            point = B.POINTS[pid]
            assert point.asynchronous and point.precision == "bf16", pid
            assert CATALOG.models[point.model].moe is None, pid
            trainer = point.trainer
            assert trainer is not None and {"tp", "pp"} <= set(trainer["layout"]), pid
            assert trainer["micro_batch_tokens"] == 4096, pid
            stages = B.stage_seconds(point, CATALOG)
            generation = sum(v for k, v in stages.items() if k in B.GENERATION_SIDE)
            update = B.training_side_s(point, CATALOG)
            assert update > 1.3 * generation, (pid, update, generation)
            assert stages[B.WEIGHT_SYNC] < 1.0, pid


def test_the_pairs_before_and_after(tmp_path: Path) -> None:
    # At the former 0.61 the GB200 update passes took 1.57x / 1.80x the planner's time, the H100
    # twins 1.11x / 1.18x (docs/models.md, held-out dense and async rows); at the fit the GB200
    # rows read -6.3% / -19.4% against their twins' -9.7% / -14.9% (H100 does not move).
    former = B.catalog_at(0.61, tmp_path)
    expected = {
        "nemo-rl-0.5-gb200-llama3.1-8b-8gpu-1off": (-0.361, -0.063),
        "nemo-rl-0.5-gb200-qwen3-32b-32gpu-1off": (-0.445, -0.194),
        "nemo-rl-0.5-h100-llama3.1-8b-16gpu-1off": (-0.097, -0.097),
        "nemo-rl-0.5-h100-qwen3-32b-64gpu-1off": (-0.149, -0.149),
    }
    for pid, (before, after) in expected.items():
        assert B.relative_error(pid, former) == pytest.approx(before, abs=0.003), pid
        assert B.relative_error(pid, CATALOG) == pytest.approx(after, abs=0.003), pid
    ratios = [1 / (1 + B.relative_error(p.gb200, former)) for p in B.PAIRS if p.fit]
    assert ratios == pytest.approx([1.57, 1.80], abs=0.01)
    # the paired residual shrinks on both fit pairs
    for pair in (p for p in B.PAIRS if p.fit):
        assert abs(B.paired_residual(pair, CATALOG, CATALOG)) < 0.06
        assert B.paired_residual(pair, former, former) < -0.25


def test_held_out_checks(tmp_path: Path) -> None:
    # Not fit points: the Megatron-Bridge 25.11 GB200 BF16 MoE rows (another framework) move from
    # model-fast (+14.5%, +18.1%, the latter a known miss) to model-slow within their 15%; the
    # on-policy GB200 dense rows (generation in the step) move toward their H100 twins.
    for rid, after in (
        ("mbridge2511-qwen3-235b-a22b-bf16-gb200-256gpu", -0.107),
        ("mbridge2511-deepseek-v3-bf16-gb200-256gpu", -0.108),
    ):
        run = B.RUNS[rid]
        assert "fit" not in run and "known_miss" not in run, rid
        value = training.predict(run, CATALOG)
        assert value / run["published"] - 1 == pytest.approx(after, abs=0.003), rid
        assert training.within(run, value), rid
    former = B.catalog_at(0.61, tmp_path)
    for pair, before, after in (
        (B.PAIRS[2], -0.104, 0.009),
        (B.PAIRS[3], -0.220, -0.082),
    ):
        assert not pair.fit
        assert B.relative_error(pair.gb200, former) == pytest.approx(before, abs=0.003)
        assert B.relative_error(pair.gb200, CATALOG) == pytest.approx(after, abs=0.003)


def test_a_per_microbatch_host_cost_does_not_explain_the_gb200_gap(tmp_path: Path) -> None:
    # If the whole excess of each measured step over the planner's (at the former 0.61) were a
    # fixed host cost a micro-batch, that cost would have to be 24 ms on the H100 Qwen3-32B row
    # (1,258 micro-batches a rank: TP4 PP4 leaves DP2) and 297 ms on the GB200 one (315: TP2
    # leaves DP8): 12x apart, where the Llama pair (both TP1) asks 40 and 83 ms. A per-micro-batch
    # cost common to both accelerators cannot hold both pairs; a rate (the fraction) can.
    former = B.catalog_at(0.61, tmp_path)
    q_h100 = "nemo-rl-0.5-h100-qwen3-32b-64gpu-1off"
    q_gb200 = "nemo-rl-0.5-gb200-qwen3-32b-32gpu-1off"
    assert B.microbatches_per_rank(B.POINTS[q_h100]) == pytest.approx(1258, abs=2)
    assert B.microbatches_per_rank(B.POINTS[q_gb200]) == pytest.approx(315, abs=2)
    h = B.host_cost_per_microbatch_s(q_h100, former)
    g = B.host_cost_per_microbatch_s(q_gb200, former)
    assert h == pytest.approx(0.024, abs=0.002) and g == pytest.approx(0.297, abs=0.003)
    lh = B.host_cost_per_microbatch_s("nemo-rl-0.5-h100-llama3.1-8b-16gpu-1off", former)
    lg = B.host_cost_per_microbatch_s("nemo-rl-0.5-gb200-llama3.1-8b-8gpu-1off", former)
    assert lh == pytest.approx(0.040, abs=0.002) and lg == pytest.approx(0.083, abs=0.002)
    assert g / h > 10 and lg / lh < 2.5
    assert math.isclose(B.FORMER, 0.61)
