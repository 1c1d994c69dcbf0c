"""The prefill GEMM K-width term (serving_physics.PREFILL_GEMM_WIDTH): tested, not adopted.

bench/prefill_width_term.py flips it, refits the prefill-fitted serving compute_utilisation
figures and compares the accuracy table (docs/models.md, Prefill: "No GEMM shape term"). Here:
the switch is off in the shipped model, and the term recomputed by hand for one point's prompt
(MLPerf v5.1 B200 Llama 3.1 8B FP4, TP1) from the catalog's figures.
"""

from __future__ import annotations

import pytest

from hardware.catalog import load_catalog
from planner.demand import serving_physics as sp
from planner.demand.common import hardware
from planner.demand.inference import clear_physics_caches

CATALOG = load_catalog()
B200 = hardware(CATALOG, "hgx-b200")
L8 = CATALOG.models["llama-3.1-8b"]


@pytest.fixture
def term_on():  # type: ignore[no-untyped-def]
    sp.PREFILL_GEMM_WIDTH = True
    clear_physics_caches()
    yield
    sp.PREFILL_GEMM_WIDTH = False
    clear_physics_caches()


def _tp1() -> sp.Layout:
    return sp.Layout(1, 1, 1, 1, 8.0, 172e9, 5e9, False)


def test_the_term_is_off_in_the_shipped_model() -> None:
    assert sp.PREFILL_GEMM_WIDTH is False
    assert B200 is not None
    assert sp.prefill_width_factors(B200, L8, "fp4", 1, False, 1e10) == (1.0, 1.0)


def test_dense_ffn_width_from_the_parameter_count() -> None:
    # (8e9 - 2 x 128,256 x 4,096) / 32 layers = 217.17M a layer, less the attention projections
    # 4,096 x (2 x 4,096 + 2 x 1,024) = 41.94M, over 3 x 4,096: 14,259.7 (config.json 14,336;
    # the catalog's "8B" is rounded)
    assert sp.dense_ffn_width(L8) == pytest.approx(14259.72, abs=0.01)
    assert sp.dense_ffn_width(L8) == pytest.approx(14336, rel=0.01)


def test_b200_llama31_8b_fp4_prompt_term_by_hand(term_on) -> None:  # type: ignore[no-untyped-def]
    # The B200 FP4 GEMM half-width W = 1,140 (catalog training.gemm_half_width.fp4, measured on
    # aiconfigurator's TensorRT-LLM tables). Llama 3.1 8B at TP1, an 871-token prompt (mean
    # context 435.5): per prompt token the GEMM FLOPs R = F - attention, of which
    #   o-proj   2 x 32 x 4,096 x 4,096              at K = 4,096      x (4,096 + 1,140)/4,096
    #   down     2 x 32 x 14,259.7 x 4,096           at K = 14,259.7   x (14,259.7 + 1,140)/14,259.7
    #   the rest (QKV, gate/up, 1/871 of the head)   at K = 4,096      x (4,096 + 1,140)/4,096
    # so QKV/gate-up/o at 1.2783 and down at 1.0799: the GEMM time x 1.2250.
    assert B200 is not None
    assert CATALOG.accelerators["b200"].training is not None
    w = CATALOG.accelerators["b200"].training.half_width("fp4")  # type: ignore[union-attr]
    assert w == 1140
    ctx, prompt = 435.5, 871.0
    v, h = 128256, 4096
    attention = 2 * 32 * 32 * 128 * 2 * ctx  # heads x head_dim x (QK^T + AV) x 2 FLOP
    flops = 2 * (8e9 - 2 * v * h) + 2 * v * h / prompt + attention
    rest = flops - attention
    o = 2 * 32 * h * h
    ffn = ((8e9 - 2 * v * h) / 32 - h * (2 * h + 2 * 1024)) / (3 * h)
    down = 2 * 32 * ffn * h
    by_hand = (o * (h + w) / h + down * (ffn + w) / ffn + (rest - o - down) * (h + w) / h) / rest
    assert by_hand == pytest.approx(1.2250, abs=1e-4)
    fd, fe = sp.prefill_width_factors(B200, L8, "fp4", 1, False, rest)
    assert fd == pytest.approx(by_hand, rel=1e-12)
    assert fe == 1.0  # a dense model: no routed experts
    # The prompt token's compute: the GEMMs at FP4 9 PFLOP/s x 0.39 x the factor, attention at
    # the FP8 KV's rate 4.5 PFLOP/s x 0.28 (untouched by the term)
    t = sp.prefill_time(B200, L8, "fp4", _tp1(), ctx, prompt, 1.0, "fp8")
    expected = rest * by_hand / (9e15 * 0.39) + attention / (4.5e15 * 0.28)
    assert t.flops == pytest.approx(flops, rel=1e-9)
    assert t.compute_s == pytest.approx(expected, rel=1e-9)
    # 1.225x on the GEMMs, 1.215x on the compute (attention 1.6% of F, 4.4% of its time)
    sp.PREFILL_GEMM_WIDTH = False
    off = sp.prefill_time(B200, L8, "fp4", _tp1(), ctx, prompt, 1.0, "fp8")
    assert t.compute_s / off.compute_s == pytest.approx(1.215, abs=0.002)


def test_the_vector_path_carries_the_term(term_on) -> None:  # type: ignore[no-untyped-def]
    # StepArrays.prefill_s (the LP's vector twin) reads each layout's scalar prefill: with the
    # term on it is the scalar prefill_time's per-token time to the last bit.
    assert B200 is not None
    load = sp.model_load(L8, "fp4", "fp8", 871, 129, 1)
    steps = [sp.StepPhysics(B200, load, _tp1())]
    arrays = sp.StepArrays(steps)
    scalar = sp.prefill_time(
        B200, L8, "fp4", _tp1(), load.prefill_context, 2 * load.prefill_context,
        load.prefill_padding, "fp8",
    )  # fmt: skip
    assert arrays.prefill_s[0] == scalar.per_token_s
    sp.PREFILL_GEMM_WIDTH = False
    off = sp.prefill_time(
        B200, L8, "fp4", _tp1(), load.prefill_context, 2 * load.prefill_context,
        load.prefill_padding, "fp8",
    )  # fmt: skip
    assert scalar.per_token_s > 1.15 * off.per_token_s
