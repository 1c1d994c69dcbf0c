"""The expert GEMMs over a static, padded receive buffer (Layout.expert_capacity_factor, session
trainstep), checked against hand computations: Megatron-LM's moe_expert_rank_capacity_factor C
sizes HybridEP's receive buffer at C x the mean routed copies a rank receives (tokens x topk x C),
and the expert GEMMs run over every row of it (the MLPerf v6.0 gpt_oss_20b recipes, without
paged stashing: docs/models.md)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from round_figures import ROUND_TRAIN_FIGURES, busiest_rank, toy_moe

from planner.calibration import training
from planner.demand.training import Layout, RunFigures, expert_gemm_load, step_time

F = ROUND_TRAIN_FIGURES
# 8 MoE layers, 8 experts, 2 a token; all 1e9 active parameters routed experts
MOE = toy_moe(active=1e9)
RUN = RunFigures(
    sequence_tokens=1000, global_batch_tokens=4000.0, bytes_per_param=16.0, gradient_bytes=2.0
)


def test_padded_buffer_sets_the_expert_gemm_rows_hand_computed() -> None:
    # t = 1,000 tokens a micro-batch, EP4: the busiest rank's routed copies x = 1 + sqrt(2 ln 4
    # / 2,000) = 1.0372; expert GEMM 6 x 1e9 x 1,000 / (1e15 x 0.5) = 12 ms x x = 12.45 ms.
    # With C = 3 every rank computes 3 x the mean: 36 ms; the routed copies' memory-bound
    # passes and the all-to-all stay on the routed copies (x).
    x = busiest_rank(4, 1000, 2)
    base = step_time(Layout(dp=4, ep=4), MOE, F, RUN, 0.0)
    padded = step_time(Layout(dp=4, ep=4, expert_capacity_factor=3.0), MOE, F, RUN, 0.0)
    assert base.gemm_s == pytest.approx(6e9 * 1000 / 0.5e15 * x)
    assert padded.gemm_s == pytest.approx(6e9 * 1000 / 0.5e15 * 3.0)
    assert padded.memory_s == pytest.approx(base.memory_s)
    assert padded.ep_s == pytest.approx(base.ep_s)
    assert padded.step_s - base.step_s == pytest.approx(6e9 * 1000 / 0.5e15 * (3.0 - x))
    assert "expert GEMMs padded to 3x" in str(padded.layout)


def test_padded_rows_run_at_the_padded_shape() -> None:
    # gemm_half_tokens 256: the expert GEMMs' M is t·k·EP/E = 1,000 x 2 x 4 / 8 = 1,000 rows a
    # local expert (shape 1,000 / 1,256), padded 3,000 (shape 3,000 / 3,256):
    # 12 ms x 3 / (3,000 / 3,256) = 39.07 ms against 12 ms x x / (1,000 / 1,256) = 15.64 ms.
    f = replace(F, gemm_half_tokens=256.0)
    x = busiest_rank(4, 1000, 2)
    base = step_time(Layout(dp=4, ep=4), MOE, f, RUN, 0.0)
    padded = step_time(Layout(dp=4, ep=4, expert_capacity_factor=3.0), MOE, f, RUN, 0.0)
    assert base.gemm_s == pytest.approx(0.012 * x / (1000 / 1256))
    assert padded.gemm_s == pytest.approx(0.012 * 3.0 / (3000 / 3256))


def test_a_buffer_below_the_busiest_rank_changes_nothing() -> None:
    # tokens past the budget are dropped, so the buffer never holds less than the busiest
    # rank's copies: max(C, x); and C = 0 (no static buffer) is the routed copies
    x = busiest_rank(4, 1000, 2)
    assert expert_gemm_load(0.0, x) == x
    assert expert_gemm_load(1.0, x) == x
    assert expert_gemm_load(1.5, x) == 1.5
    base = step_time(Layout(dp=4, ep=4), MOE, F, RUN, 0.0)
    low = step_time(Layout(dp=4, ep=4, expert_capacity_factor=1.0), MOE, F, RUN, 0.0)
    assert low.step_s == pytest.approx(base.step_s)
    # a dense model has no experts to pad
    dense = replace(MOE, params=1e9, experts=0, experts_per_token=0, moe_layers=0)
    d0 = step_time(Layout(dp=4), dense, F, RUN, 0.0)
    d1 = step_time(Layout(dp=4, expert_capacity_factor=3.0), dense, F, RUN, 0.0)
    assert d1.step_s == pytest.approx(d0.step_s)


def test_ep1_pads_too() -> None:
    # EP1 (every expert on the GPU, no all-to-all): HybridEP's buffer is still C x t·k rows, so
    # the 8-GPU MLPerf gpt-oss-20b runs (C = 1.5) compute 1.5 x their expert GEMMs:
    # 6 x 1e9 x 1,000 / 0.5e15 x 1.5 = 18 ms
    base = step_time(Layout(dp=4), MOE, F, RUN, 0.0)
    padded = step_time(Layout(dp=4, expert_capacity_factor=1.5), MOE, F, RUN, 0.0)
    assert base.gemm_s == pytest.approx(0.012)
    assert padded.gemm_s == pytest.approx(0.018)


def test_calibration_layout_reads_the_factor() -> None:
    rows = {r["id"]: r for r in training.runs()}
    row = rows["mlperf60-gpt-oss-20b-mxfp8-gb300-512gpu"]
    assert training._layout(row["layout"]).expert_capacity_factor == 7.0
    # rows whose recipes pair the factor with paged stashing (the v6.0 DeepSeek-V3 configs:
    # MOE_PAGED_STASH=True, factor 4) carry none
    dsv3 = rows["mlperf60-deepseek-v3-gb300-2048gpu-step"]
    assert training._layout(dsv3["layout"]).expert_capacity_factor == 0.0
