"""Prefill attention at the KV cache's precision (serving_physics.attention_precision).

A prompt token's attention matmuls (QK^T and AV) run where the decode step's already do: at the
KV precision when the accelerator has a rate for it (TensorRT-LLM's FP8 context FMHA,
`use_fp8_context_fmha` in NVIDIA's MLPerf configs), not at the FP4 weights' rate. Hand-computed
from catalog figures.
"""

from __future__ import annotations

import pytest

from hardware.catalog import load_catalog
from planner.demand.common import hardware
from planner.demand.serving_physics import (
    Layout,
    attention_precision,
    prefill_compute_rate,
    prefill_time,
    replica_prefill_s,
)

CATALOG = load_catalog()
B200 = hardware(CATALOG, "hgx-b200")
L405 = CATALOG.models["llama-3.1-405b"]


def _tp4() -> Layout:
    assert B200 is not None
    return Layout(4, 4, 1, 1, 2.0, 4 * 172e9, 202.5e9, False)


def test_fp4_prompt_attention_runs_at_the_fp8_rate_by_hand() -> None:
    # Llama 3.1 405B, FP4 weights, FP8 KV, on 4 B200s (TP4), a 9,429-token prompt (mean
    # context 4,714.5): F = 2 x (405e9 - 2 V h) + 2 V h / 9,429 + A (no GEMM for the input
    # embedding, V h = 128,256 x 16,384; the output head for the prompt's last token only),
    # A = 2 x 128 heads x 126 layers x (128 + 128) x 4,714.5 = 3.892e10 FLOP (4.6% of F). FP4 rate 9,000 TFLOP/s x 0.39 = 3.51 PFLOP/s, FP8 4,500 x
    # 0.28 = 1.26 PFLOP/s: compute per token = (F - A) / (4 x 3.51e15) + A / (4 x 1.26e15).
    assert B200 is not None
    ctx = 9429 / 2
    attention = 2 * 128 * 126 * (128 + 128) * ctx
    assert attention == pytest.approx(3.892e10, rel=1e-3)
    emb = 128256 * 16384
    flops = 2 * (405e9 - 2 * emb) + 2 * emb / 9429 + attention
    assert attention / flops == pytest.approx(0.046, abs=0.001)
    fp4, fp8 = 9000e12 * 0.39, 4500e12 * 0.28
    expected_s = (flops - attention) / (4 * fp4) + attention / (4 * fp8)
    t = prefill_time(B200, L405, "fp4", _tp4(), ctx, kv_precision="fp8")
    assert t.compute_s == pytest.approx(expected_s, rel=1e-12)
    # 11.9% of the compute time is attention, against 4.6% of the FLOPs (2.8x slower per FLOP).
    assert (attention / (4 * fp8)) / expected_s == pytest.approx(0.119, abs=0.001)
    # The blended rate the LP's prefill rate and the estimate's chunk use.
    assert prefill_compute_rate(B200, L405, "fp4", ctx, "fp8") == pytest.approx(
        flops / ((flops - attention) / fp4 + attention / fp8), rel=1e-12
    )
    # One attention replica prefilling alone (replica_prefill_s) is the same time here (d = 1),
    # plus the TP4 all-reduces both charge.
    assert replica_prefill_s(B200, L405, "fp4", _tp4(), ctx, "fp8") == pytest.approx(
        t.compute_s + t.allreduce_s, rel=1e-12
    )


def test_attention_precision_follows_the_kv_cache_where_the_chip_has_a_rate() -> None:
    assert B200 is not None
    ctx = 1000.0
    fp4 = 9000e12 * 0.39
    # No KV precision given (the old callers) or an FP4 KV cache: everything at FP4.
    assert prefill_compute_rate(B200, L405, "fp4", ctx) == pytest.approx(fp4, rel=1e-12)
    assert prefill_compute_rate(B200, L405, "fp4", ctx, "fp4") == pytest.approx(fp4, rel=1e-12)
    assert attention_precision(B200, None, "fp4") == "fp4"
    # FP8 weights with FP8 KV: one rate, unchanged.
    assert prefill_compute_rate(B200, L405, "fp8", ctx, "fp8") == pytest.approx(
        4500e12 * 0.28, rel=1e-12
    )
    # A BF16 KV cache puts an FP8 checkpoint's attention at the BF16 rate (2,250 x 0.50).
    attention = 2 * 128 * 126 * 256 * ctx
    emb = 128256 * 16384  # a prompt of 2 x 1,000 tokens: the head once, no embedding GEMM
    flops = 2 * (405e9 - 2 * emb) + 2 * emb / 2000 + attention
    assert prefill_compute_rate(B200, L405, "fp8", ctx, "bf16") == pytest.approx(
        flops / ((flops - attention) / (4500e12 * 0.28) + attention / (2250e12 * 0.50)),
        rel=1e-12,
    )
    # A precision the chip has no rate for (fp32 KV) falls back to the weights' (dense) one.
    assert attention_precision(B200, "fp32", "fp8") == "fp8"
