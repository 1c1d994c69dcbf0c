"""Banded (sliding-window) attention layers and gpt-oss's MXFP4 checkpoint: each formula recomputed
by hand from the catalog's numbers (not by calling the function under test)."""

from __future__ import annotations

import pytest

from hardware.catalog import load_catalog
from planner.calibration.training import runs
from planner.demand.common import (
    attention_flops_per_token,
    causal_attention_flops_per_token,
    checkpoint_weight_bytes,
    decode_attention_flops_per_token,
)
from planner.demand.kv import (
    estimate_kv,
    kv_bytes_per_token,
    kv_cache_bytes,
    kv_sequence_bytes,
    max_tokens_fitting,
)
from planner.demand.serving_physics import model_load
from planner.demand.training import model_figures

CATALOG = load_catalog()
OSS = CATALOG.models["gpt-oss-120b"]


def test_catalog_gives_gpt_oss_its_window_and_checkpoint() -> None:
    # config.json: sliding_window 128 on alternating layers of 36; model card: 60.8 GiB.
    assert OSS.sliding_window is not None
    assert (OSS.sliding_window.tokens, OSS.sliding_window.layers) == (128, 18)
    assert OSS.full_layers == 18
    ckpt = OSS.checkpoints["fp4"]
    assert ckpt.dense_precision == "bf16"
    assert ckpt.weights_bytes == pytest.approx(60.8 * 2**30, rel=0.001)


def test_mxfp4_checkpoint_implies_4_25_bits_per_expert_weight() -> None:
    # Routed experts: 36 layers x 128 experts x 3 x 2,880 x 2,880 = 114.66B params; the rest
    # (116.8B - that) at BF16; what the checkpoint leaves for the experts is MXFP4's 4.25 bits.
    routed = 36 * 128 * 3 * 2880 * 2880
    rest = 116.8e9 - routed
    bits = (65.3e9 - rest * 2) / routed * 8
    assert bits == pytest.approx(4.25, abs=0.02)
    assert checkpoint_weight_bytes(OSS, "fp4") == 65.3e9
    load = model_load(OSS, "fp4", "fp8", 5011, 1308, 1)
    assert load.dense_precision == "bf16"
    assert load.dense_bytes == pytest.approx(rest * 2)
    assert load.expert_bytes == pytest.approx((65.3e9 - rest * 2) / (36 * 128))


def test_kv_bytes_of_a_sequence_keep_only_the_window_on_banded_layers() -> None:
    # Per layer and token: K and V, 8 KV heads of 64 at FP8 = 2 x 8 x 64 x 1 B = 1,024 B.
    per_layer = 2 * 8 * 64
    assert kv_bytes_per_token(OSS, "fp8") == 36 * per_layer
    # 5,011 tokens: 18 full layers hold them all, 18 banded layers their last 128.
    assert kv_sequence_bytes(OSS, "fp8", 5011) == per_layer * (18 * 5011 + 18 * 128)
    # Shorter than the window: every layer holds every token.
    assert kv_sequence_bytes(OSS, "fp8", 100) == per_layer * 36 * 100
    assert kv_cache_bytes(OSS, 4, 5011, "bf16") == 4 * 2 * per_layer * (18 * 5011 + 18 * 128)
    # A model without a window: tokens x bytes per token, as before.
    llama = CATALOG.models["llama-3.1-70b"]
    assert kv_sequence_bytes(llama, "bf16", 1000) == 1000 * 2 * 80 * 128 * 8 * 2


def test_max_tokens_fitting_inverts_the_sequence_bytes() -> None:
    per_layer = 2 * 8 * 64
    # 1 GB for one sequence: (1e9 / 1,024 - 18 x 128) / 18 tokens on the full layers.
    assert max_tokens_fitting(OSS, "fp8", 1e9) == pytest.approx((1e9 / per_layer - 18 * 128) / 18)
    # Inside the window: bytes / (1,024 x 36).
    assert max_tokens_fitting(OSS, "fp8", 36 * per_layer * 50) == pytest.approx(50)
    est = estimate_kv(CATALOG, "gpt-oss-120b", 8, 5011, "fp8", "bf16", "gb300-nvl72")
    assert est.kv_cache_bytes == 8 * per_layer * (18 * 5011 + 18 * 128)


def test_serving_load_stores_and_reads_the_window_only() -> None:
    per_layer = 2 * 8 * 64
    load = model_load(OSS, "fp4", "fp8", 5011, 1308, 1)
    # Stored at the end: full layers P + O, banded layers their window (all own tokens).
    assert load.kv_stored_per_sequence == pytest.approx(per_layer * (18 * (5011 + 1308) + 18 * 128))
    # Read per step at the mean context P + O/2.
    assert load.kv_read_per_sequence == pytest.approx(per_layer * (18 * (5011 + 654) + 18 * 128))
    # A prompt shared by 4 sequences and 50 own tokens: a banded layer holds its 50 and the
    # last 78 prompt tokens, those counted a quarter.
    shared = model_load(OSS, "fp4", "fp8", 5011, 100, 4)
    banded = 50 + 78 / 4  # mean context: O/2 = 50 own tokens
    assert shared.kv_read_per_sequence == pytest.approx(
        per_layer * (18 * (5011 / 4 + 50) + 18 * banded)
    )


def test_attention_flops_bound_banded_layers_by_the_window() -> None:
    # 2 x heads x (d_qk + d_v) per attended token and layer: 2 x 64 x 128 = 16,384 FLOP.
    per = 2 * 64 * (64 + 64)
    assert attention_flops_per_token(OSS, 5011) == per * (18 * 5011 + 18 * 128)
    assert attention_flops_per_token(OSS, 100) == per * 36 * 100
    assert decode_attention_flops_per_token(OSS, 5665) == per * (18 * 5665 + 18 * 128)
    # Causal training sequence of 4,096: full layers S/2, banded W - W^2/(2S) = 126.
    assert causal_attention_flops_per_token(OSS, 4096) == pytest.approx(
        per * (18 * 2048 + 18 * (128 - 128 * 128 / (2 * 4096)))
    )
    # Shorter than the window: every layer S/2.
    assert causal_attention_flops_per_token(OSS, 100) == pytest.approx(per * 36 * 50)
    # A model without a window: the causal form is attention at S/2.
    llama = CATALOG.models["llama-3.1-70b"]
    assert causal_attention_flops_per_token(llama, 8192) == attention_flops_per_token(llama, 4096)


def test_training_counts_windowed_attention_as_megatron_bridge_does() -> None:
    # Megatron-Bridge 26.08 performance summary (4ab94df): GB300 33,024 tokens/s/GPU at 1,077
    # model TFLOPS/GPU, GB200 28,672 at 934 -> 32.61 and 32.58 GFLOP a token. 6 x 5.13B (the
    # card's active parameters: the output head, not the input-embedding lookup) + 3 x the
    # windowed causal attention at 4,096 tokens = 32.70 (full context on every layer: 34.40).
    per = 2 * 64 * 128
    attention = per * (18 * 2048 + 18 * (128 - 128 * 128 / 8192))
    model = 6 * 5.13e9 + 3 * attention
    mf = model_figures(OSS, 4096)
    assert mf.attention_fwd_per_token_causal == pytest.approx(attention)
    # the 26.06 DGX-B300 row (session val30's held-out check): 604 TFLOPS at 18,534 tokens/s
    for tflops, tokens in ((1077e12, 33024), (934e12, 28672), (604e12, 18534)):
        assert model == pytest.approx(tflops / tokens, rel=0.005)
    full = 6 * 5.13e9 + 3 * per * 36 * 2048
    assert abs(full / (1077e12 / 33024) - 1) > 0.04
    assert {r["id"] for r in runs() if r["model"] == "gpt-oss-120b"} == {
        "mbridge2608-gpt-oss-120b-mxfp8-gb300-64gpu",
        "mbridge2608-gpt-oss-120b-mxfp8-gb200-64gpu",
        "mbridge2606-gpt-oss-120b-mxfp8-b300-64gpu",
        "mbridge260401-gpt-oss-120b-bf16-h100-64gpu",
    }
