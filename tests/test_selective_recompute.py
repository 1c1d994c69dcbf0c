"""Selective recomputation (session recompute): a layout's `recompute_modules` (Megatron-Core
recompute_granularity selective with recompute_modules). Hand computations from the catalog's
figures: the forward work each module adds to the backward (GEMM at its shape and precision,
attention, memory-bound bytes, TP collectives, the all-to-all) and the activation bytes it frees,
on a dense layout (Llama 3.1 8B, FP8, TP2) and a MoE layout (Qwen3-30B-A3B, BF16, EP8); `mlp`
leaves a MoE layer alone (Megatron-Core sets recompute_mlp only `if not self.is_moe_layer`); a
fully recomputed layer recomputes no module; the array ranking agrees with step_time; bad input."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from hardware.catalog import load_catalog
from planner.commands.estimate import _layout as cli_layout
from planner.demand.common import hardware
from planner.demand.training import (
    Layout,
    RunFigures,
    _candidate_arrays,
    best_layout,
    candidate_layout,
    dense_gemm_shape,
    ep_load_imbalance,
    model_figures,
    recompute_modules_problem,
    step_time,
    step_times_vector,
    train_figures,
)

CATALOG = load_catalog()


def _figures(system: str, precision: str):  # type: ignore[no-untyped-def]
    hw = hardware(CATALOG, system)
    assert hw is not None
    f = train_figures(hw, precision)
    assert f is not None
    return f


def _shape(m: float, k: float, f) -> float:  # type: ignore[no-untyped-def]
    return m / (m + f.gemm_half_tokens) * k / (k + f.gemm_half_width)


def test_dense_core_attn_and_mlp_by_hand() -> None:
    """Llama 3.1 8B, FP8, H100, TP2 DP4, one 8,192-token sequence a micro-batch, 32 layers (PP1:
    the last stage, with the head, sets the pace; its 32 layers are the stage's).
    core_attn: the attention's forward once more, A(S/2)/L a layer per token = 2 x 32 heads x
    (128 + 128) x 4,096 (the causal mean) FLOP at the BF16 attention rate.
    mlp: the MLP's forward once more: 2 x P_mlp x t/TP FLOP at the dense shape in FP8, P_mlp =
    (8e9 - 2 x 128,256 x 4,096) / 32 - 4,096 x 128 x (2 x 32 + 2 x 8) = 175.2M (the config's
    3 x 4,096 x 14,336 = 176.2M); memory-bound 25 B (norm 4 + SwiGLU 21) + 22.5 B of casts (fc1
    1 + fc2 3.5 elements x 5 B) per hidden element per token; the fc1 all-gather and fc2
    reduce-scatter, 2 x (TP-1)/TP x t x hidden x 2 B, (1 - comm_overlap) exposed.
    Memory: FP8 frees flash attention's BF16 output (2 B) and the MLP block, 19 - 5 x (2 - 1) =
    14 B, per hidden element per token per layer."""
    arch = CATALOG.models["llama-3.1-8b"]
    mf = model_figures(arch, 8192)
    f = _figures("hgx-h100", "fp8")
    run = RunFigures(8192, 32 * 8192, 16.0, 2.0)
    lay = Layout(tp=2, dp=4)
    base = step_time(lay, mf, f, run)
    sel = step_time(replace(lay, recompute_modules=("core_attn", "mlp")), mf, f, run)
    assert base.recompute == 0.0 and sel.recompute == 0.0
    t, tp, h, layers = 8192, 2, 4096, 32
    p_mlp = (8e9 - 2 * 128256 * 4096) / 32 - 4096 * 128 * (2 * 32 + 2 * 8)
    assert p_mlp == pytest.approx(3 * 4096 * 14336, rel=1e-2)
    assert mf.dense_mlp_params == pytest.approx(p_mlp, rel=1e-9)
    peak = f.peak_flops * f.sustained_clock_fraction
    gemm = 2 * p_mlp * layers * t / tp / (peak * f.gemm_efficiency * dense_gemm_shape(t, tp, mf, f))
    assert sel.gemm_s - base.gemm_s == pytest.approx(gemm, rel=1e-9)
    attn_flops = 2 * 32 * (128 + 128) * 4096 * layers * t / tp
    attn = attn_flops / (f.peak_bf16_flops * f.sustained_clock_fraction * f.attention_efficiency)
    assert sel.attention_s - base.attention_s == pytest.approx(attn, rel=1e-9)
    mem = (25.0 + 22.5) * h / tp * t * layers / (f.hbm_bytes_per_s * f.memory_bandwidth_utilisation)
    assert sel.memory_s - base.memory_s == pytest.approx(mem, rel=1e-9)
    su = f.scale_up_bytes_per_s * f.collective_efficiency
    tp_extra = (1 - f.comm_overlap) * 2 * (tp - 1) / tp * t * h * 2 * layers / su
    assert sel.tp_s - base.tp_s == pytest.approx(tp_extra, rel=1e-9)
    assert base.memory_bytes - sel.memory_bytes == pytest.approx(
        (2 + 14) * layers * t * h / tp, rel=1e-9
    )
    # BF16: flash attention's output is the projection's saved input, nothing freed for it;
    # the MLP block's 19 B are
    fb = _figures("hgx-h100", "bf16")
    b0 = step_time(lay, mf, fb, run)
    b1 = step_time(replace(lay, recompute_modules=("core_attn", "mlp")), mf, fb, run)
    assert b0.memory_bytes - b1.memory_bytes == pytest.approx(19 * layers * t * h / tp, rel=1e-9)
    # slower, never faster: the forward work runs again
    assert sel.step_s > base.step_s


def test_moe_layer_recompute_by_hand_and_mlp_skips_moe_layers() -> None:
    """Qwen3-30B-A3B, BF16, H100, TP1 DP8 EP8, one 4,096-token sequence a micro-batch; all 48
    layers MoE (no dense-FFN layer, no shared expert). `moe` recomputes the whole MoE layer:
    the expert GEMMs' forward, 2 x (k/E x N_e)/48 x t x x_EP FLOP a layer at the expert shape
    (M = t x k x EP/E = 2,048 rows an expert, the FFN factor at w = 768) and the router's
    2 x hidden x E x t at the dense shape; 25 B per hidden element per token of the MLP's forward
    and each routed copy's forward passes, k x 14 B x x_EP; the dispatch and combine again: the
    all-to-all x 1.5 (2 of its 4 passes). It frees the MLP block, 19 B per hidden element per
    token per layer (BF16). `mlp` alone changes nothing: Megatron-Core recomputes only dense
    MLPs (transformer_layer.py, `if not self.is_moe_layer`)."""
    arch = CATALOG.models["qwen3-30b-a3b"]
    assert arch.moe is not None
    mf = model_figures(arch, 4096)
    f = _figures("hgx-h100", "bf16")
    run = RunFigures(4096, 64 * 4096, 16.0, 2.0)
    lay = Layout(tp=1, dp=8, ep=8)
    base = step_time(lay, mf, f, run, recompute=0.0)
    sel = step_time(replace(lay, recompute_modules=("moe",)), mf, f, run, recompute=0.0)
    t, h, k, e, w, layers = 4096, 2048, 8, 128, 768, 48
    n_e = (arch.params - arch.active) / (1 - k / e)
    x = min(1 + math.sqrt(2 * math.log(8) / (t * k)), 8 * min(k, e / 8) / k)
    assert ep_load_imbalance(mf, t, 8) == pytest.approx(x, rel=1e-12)
    half = f.gemm_half_width
    width = 3 / (2 * (2 * w + half) / (2 * w) + (w + half) / w)
    shape_exp = _shape(t * k * 8 / e, h, f) * width
    peak = f.peak_flops * f.sustained_clock_fraction
    exp_flops = 2 * (k / e * n_e) / layers * layers * t * x
    router_flops = 2 * h * e * layers * t
    gemm = exp_flops / (peak * f.gemm_efficiency * shape_exp) + router_flops / (
        peak * f.gemm_efficiency * dense_gemm_shape(t, 1, mf, f)
    )
    assert sel.gemm_s - base.gemm_s == pytest.approx(gemm, rel=1e-9)
    mem_b = (25 * h + k * h * 14 * x) * t * layers
    assert sel.memory_s - base.memory_s == pytest.approx(
        mem_b / (f.hbm_bytes_per_s * f.memory_bandwidth_utilisation), rel=1e-9
    )
    assert sel.ep_s == pytest.approx(1.5 * base.ep_s, rel=1e-9) and base.ep_s > 0
    assert sel.attention_s == pytest.approx(base.attention_s, rel=1e-12)
    assert base.memory_bytes - sel.memory_bytes == pytest.approx(19 * layers * t * h, rel=1e-9)
    mlp = step_time(replace(lay, recompute_modules=("mlp",)), mf, f, run, recompute=0.0)
    assert mlp.step_s == pytest.approx(base.step_s, rel=1e-12)
    assert mlp.memory_bytes == pytest.approx(base.memory_bytes, rel=1e-12)


def test_mla_up_projections_by_hand() -> None:
    """DeepSeek-V3's MLA up-projections: q_lora 1,536 x 128 heads x 192 + kv_lora 512 x 128 x
    (128 + 128) = 54.5M parameters a layer, their forward once more at the dense shape; RoPE on q
    and k, 8 B per hidden element per token; Q, K and V (6 B) freed."""
    mf = model_figures(CATALOG.models["deepseek-v3"], 4096)
    assert mf.mla_up_params == 1536 * 128 * 192 + 512 * 128 * 256 == 54_525_952
    f = _figures("hgx-h100", "fp8")
    run = RunFigures(4096, 8192 * 4096, 16.0, 2.0)
    lay = Layout(tp=2, pp=8, dp=64, ep=64, vp=4, expert_tp=1)
    base = step_time(lay, mf, f, run, recompute=0.0)
    sel = step_time(replace(lay, recompute_modules=("mla_up_proj",)), mf, f, run, recompute=0.0)
    n, t, tp, h = base.stage_layers, 4096, 2, 7168
    assert not base.last_stage and n == 8
    peak = f.peak_flops * f.sustained_clock_fraction
    gemm = 2 * 54_525_952 * n * t / tp / (peak * f.gemm_efficiency * dense_gemm_shape(t, tp, mf, f))
    assert sel.gemm_s - base.gemm_s == pytest.approx(gemm, rel=1e-9)
    assert sel.memory_s - base.memory_s == pytest.approx(
        8 * h / tp * t * n / (f.hbm_bytes_per_s * f.memory_bandwidth_utilisation), rel=1e-9
    )
    in_flight = 8 * (1 + 7 / 32)  # min(m, PP) x (1 + (PP-1)/(PP v))
    assert base.memory_bytes - sel.memory_bytes == pytest.approx(
        6 * 8 * in_flight * t * h / tp, rel=1e-9
    )
    # a model without MLA cannot recompute them (Megatron-Core raises)
    dense = model_figures(CATALOG.models["llama-3.1-8b"], 4096)
    assert "multi-head latent attention" in recompute_modules_problem(("mla_up_proj",), dense)
    choice = best_layout(
        8, dense, f, run, pinned=Layout(tp=1, dp=8, recompute_modules=("mla_up_proj",))
    )
    assert choice.best is None and "mla_up_proj" in choice.reason
    # moe with the all-to-all overlapped: Megatron-Bridge refuses it
    qwen = model_figures(CATALOG.models["qwen3-30b-a3b"], 4096)
    assert "ep_comm_overlap" in recompute_modules_problem(("moe",), qwen, ep_comm_overlap=True)
    assert recompute_modules_problem(("moe_act",), qwen, ep_comm_overlap=True) == ""


def test_a_fully_recomputed_layer_recomputes_no_module() -> None:
    mf = model_figures(CATALOG.models["qwen3-30b-a3b"], 4096)
    f = _figures("hgx-h100", "bf16")
    run = RunFigures(4096, 64 * 4096, 16.0, 2.0)
    lay = Layout(tp=1, dp=8, ep=8)
    full = step_time(lay, mf, f, run, recompute=1.0)
    both = step_time(replace(lay, recompute_modules=("moe", "core_attn")), mf, f, run, 1.0)
    assert both.step_s == pytest.approx(full.step_s, rel=1e-12)
    assert both.memory_bytes == pytest.approx(full.memory_bytes, rel=1e-12)
    # half the layers recomputed: half the modules' extra work
    none = step_time(lay, mf, f, run, recompute=0.5)
    half = step_time(replace(lay, recompute_modules=("moe",)), mf, f, run, 0.5)
    zero = step_time(lay, mf, f, run, recompute=0.0)
    whole = step_time(replace(lay, recompute_modules=("moe",)), mf, f, run, 0.0)
    assert half.gemm_s - none.gemm_s == pytest.approx((whole.gemm_s - zero.gemm_s) / 2, rel=1e-9)


@pytest.mark.parametrize(
    ("model", "system", "precision", "accelerators", "modules"),
    [
        ("llama-3.1-8b", "hgx-h100", "fp8", 16, ("core_attn", "mlp", "layernorm")),
        ("qwen3-30b-a3b", "hgx-h100", "bf16", 16, ("moe", "core_attn")),
        ("qwen3-30b-a3b", "hgx-h100", "fp8", 16, ("moe_act", "layernorm")),
        ("deepseek-v3", "gb200-nvl72", "fp8", 256, ("mla_up_proj", "mlp")),
    ],
)
def test_the_array_ranking_agrees_with_step_time(
    model: str, system: str, precision: str, accelerators: int, modules: tuple[str, ...]
) -> None:
    mf = model_figures(CATALOG.models[model], 4096)
    f = _figures(system, precision)
    run = RunFigures(4096, 1024 * 4096, 16.0, 2.0)
    c = _candidate_arrays(accelerators, mf, f, run)
    rate, memory = step_times_vector(c, mf, f, run, modules)
    plain, _ = step_times_vector(c, mf, f, run)
    idx = np.arange(len(rate))[:: max(1, len(rate) // 60)]
    moved = 0
    for i in idx:
        # the fully sharded twins too (fsdp merge)
        lay = candidate_layout(c, int(i), recompute_modules=modules)
        st = step_time(lay, mf, f, run)
        assert rate[i] == pytest.approx(st.tokens_per_s, rel=1e-9), lay
        assert memory[i] == pytest.approx(st.memory_bytes, rel=1e-9), lay
        moved += rate[i] != plain[i]
    assert moved > 0


def test_cli_layout_key() -> None:
    spec = cli_layout("tp=2,dp=4,rm=core_attn+mlp")
    assert spec is not None and spec["recompute_modules"] == ["core_attn", "mlp"]


def test_a_calibration_row_with_an_unknown_module_is_refused() -> None:
    from planner.calibration.training import _layout as row_layout

    assert row_layout({"tp": 2, "recompute_modules": ["mla_up_proj"]}).recompute_modules == (
        "mla_up_proj",
    )
    with pytest.raises(ValueError, match="not modelled"):
        row_layout({"tp": 2, "recompute_modules": ["mlp", "experts"]})


def test_layernorm_recomputes_the_unfused_norms_only() -> None:
    """Megatron-Core recomputes a norm only where it is a module of its own (`if not
    isinstance(self.input_layernorm, IdentityOp)`): Transformer Engine fuses a GQA layer's input
    norm into linear_qkv and a dense MLP's pre-norm into fc1 (the MLPerf Llama 3.1 8B log prints
    both as IdentityOp), so a dense GQA model recomputes nothing; a MoE layer's pre-MLP norm is
    its own (the router reads it): 4 B per hidden element per token again (read 2 + write 2),
    its output freed, 2 B in BF16."""
    f = _figures("hgx-h100", "bf16")
    llama = model_figures(CATALOG.models["llama-3.1-8b"], 8192)
    run = RunFigures(8192, 32 * 8192, 16.0, 2.0)
    lay = Layout(tp=2, dp=4)
    a = step_time(lay, llama, f, run, 0.0)
    b = step_time(replace(lay, recompute_modules=("layernorm",)), llama, f, run, 0.0)
    assert (b.step_s, b.memory_bytes) == (a.step_s, a.memory_bytes)
    qwen = model_figures(CATALOG.models["qwen3-30b-a3b"], 4096)
    run = RunFigures(4096, 64 * 4096, 16.0, 2.0)
    lay = Layout(tp=1, dp=8, ep=8)
    a = step_time(lay, qwen, f, run, 0.0)
    b = step_time(replace(lay, recompute_modules=("layernorm",)), qwen, f, run, 0.0)
    t, h, layers = 4096, 2048, 48
    assert b.memory_s - a.memory_s == pytest.approx(
        4 * h * t * layers / (f.hbm_bytes_per_s * f.memory_bandwidth_utilisation), rel=1e-9
    )
    assert a.memory_bytes - b.memory_bytes == pytest.approx(2 * layers * t * h, rel=1e-9)
