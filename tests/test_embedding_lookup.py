"""The untied input embedding is a row lookup, not a GEMM, and not read whole every decode step;
a prefill runs the output head for its prompt's last position only (planner/demand/common.py
embedding_params / forward_flops_per_token / prefill_flops_per_token; serving_physics
ModelLoad.embedding_bytes, StepPhysics.dense_read). Every expected value by hand from the
catalog's numbers."""

from __future__ import annotations

import pytest

from hardware.catalog import load_catalog
from planner.demand.common import (
    embedding_params,
    forward_flops_per_token,
    hardware,
    prefill_flops_per_token,
)
from planner.demand.inference import pinned_layout
from planner.demand.serving_physics import StepPhysics, model_load, prefill_time

CATALOG = load_catalog()
L8 = CATALOG.models["llama-3.1-8b"]  # 8B, 32 layers, hidden 4,096, 32 heads, vocab 128,256
GPT_OSS = CATALOG.models["gpt-oss-120b"]  # vocab 201,088, hidden 2,880, dense part in BF16

V8, H8 = 128256, 4096
EMB8 = V8 * H8  # 525,336,576 parameters: 6.6% of 8B


def _attention_8b(context: float) -> float:
    # GQA: 4 · heads · layers · head_dim · L, head_dim = 4,096 / 32 = 128
    return 4 * 32 * 32 * 128 * context


def test_embedding_params_by_hand() -> None:
    assert embedding_params(L8) == EMB8 == 525_336_576
    assert embedding_params(GPT_OSS) == 201088 * 2880
    no_vocab = L8.model_copy(update={"vocab": None})
    assert embedding_params(no_vocab) == 0.0


def test_forward_flops_skip_the_embedding_and_keep_the_head() -> None:
    # decode / log-prob token: 2 · (N_a − V·h) + attention; 2 · 8e9 would count the lookup
    expected = 2 * (8e9 - EMB8) + _attention_8b(1000)
    assert forward_flops_per_token(L8, 1000) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(16e9 - 1_050_673_152 + 524_288_000)
    # without a vocabulary nothing is taken out (the convention of models that give none)
    no_vocab = L8.model_copy(update={"vocab": None})
    assert forward_flops_per_token(no_vocab, 1000) == pytest.approx(
        2 * 8e9 + _attention_8b(1000), rel=1e-12
    )


def test_prefill_flops_run_the_head_for_the_last_token_only() -> None:
    # a 1,000-token prompt at its mean context 500: 2 · (N_a − 2·V·h) + 2·V·h / 1,000 + attention
    expected = 2 * (8e9 - 2 * EMB8) + 2 * EMB8 / 1000 + _attention_8b(500)
    assert prefill_flops_per_token(L8, 500, 1000) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(16e9 - 2 * 1_050_673_152 + 1_050_673.152 + 262_144_000)
    # 6.9% fewer than a decode token's forward FLOPs at the same context (the head's 2·V·h)
    saved = 1 - expected / forward_flops_per_token(L8, 500)
    assert saved == pytest.approx(1_049_622_478.848 / (16e9 - 1_050_673_152 + 262_144_000))
    assert saved == pytest.approx(0.0690, abs=0.0001)
    # a one-token prompt runs the head for its one token: the forward FLOPs
    assert prefill_flops_per_token(L8, 0.5, 1) == pytest.approx(
        forward_flops_per_token(L8, 0.5), rel=1e-12
    )


def test_model_load_holds_the_embedding_but_the_step_does_not_read_it() -> None:
    # BF16 8B: 16 GB of weights, the embedding's 525,336,576 x 2 B = 1.0507 GB held in HBM; a
    # TP2 decode step reads (16e9 − 1.0507e9) / 2 = 7.4747 GB per chip of dense weights.
    load = model_load(L8, "bf16", "bf16", 1000, 1000, 1)
    assert load.dense_bytes == pytest.approx(16e9)
    assert load.embedding_bytes == pytest.approx(EMB8 * 2, rel=1e-12)
    assert load.flops_dense == pytest.approx(2 * (8e9 - EMB8), rel=1e-12)
    assert load.flops_prefill == pytest.approx(
        2 * (8e9 - 2 * EMB8) + 2 * EMB8 / 1000 + _attention_8b(500), rel=1e-12
    )
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    lay = pinned_layout(L8, hw, load, 2, 1, 1)
    assert not isinstance(lay, str) and lay.tp == 2
    assert lay.weights_bytes == pytest.approx(16e9)  # held: the whole table is stored
    assert StepPhysics(hw, load, lay).dense_read == pytest.approx(
        (16e9 - 1_050_673_152) / 2, rel=1e-12
    )
    # FP8: 1 B a parameter
    assert model_load(L8, "fp8", "fp8", 1000, 1000, 1).embedding_bytes == pytest.approx(EMB8)


def test_embedding_bytes_at_the_dense_parts_precision() -> None:
    # gpt-oss-120b's MXFP4 checkpoint keeps its non-expert part (embedding included) in BF16:
    # 201,088 x 2,880 x 2 B = 1.1583 GB of its dense bytes.
    load = model_load(GPT_OSS, "fp4", "fp8", 1000, 1000, 1)
    assert load.dense_precision == "bf16"
    assert load.embedding_bytes == pytest.approx(201088 * 2880 * 2, rel=1e-9)


def test_prefill_time_takes_the_stated_prompt() -> None:
    # prefill_time's compute uses prefill_flops_per_token at the stated prompt (default 2 ·
    # context): a bucket-padded 1,024-token pass at context 400 runs the head once per 1,024.
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    load = model_load(L8, "bf16", "bf16", 1000, 1000, 1)
    lay = pinned_layout(L8, hw, load, 1, 1, 1)
    assert not isinstance(lay, str)
    stated = prefill_time(hw, L8, "bf16", lay, 400, 1024)
    default = prefill_time(hw, L8, "bf16", lay, 400)
    assert stated.flops == pytest.approx(
        2 * (8e9 - 2 * EMB8) + 2 * EMB8 / 1024 + _attention_8b(400), rel=1e-12
    )
    assert default.flops == pytest.approx(
        2 * (8e9 - 2 * EMB8) + 2 * EMB8 / 800 + _attention_8b(400), rel=1e-12
    )
