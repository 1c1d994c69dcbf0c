"""Serving physics term by term, each against a hand computation."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from hardware.catalog import load_catalog
from hardware.schema import ModelArch
from planner.demand.common import (
    Hardware,
    attention_flops_per_token,
    decode_attention_flops_per_token,
    hardware,
)
from planner.demand.inference import (
    estimate_inference,
    inference_rates,
    layouts,
    prefill_rate,
    prefill_tokens_per_s_per_instance,
    usable_bytes,
)
from planner.demand.queueing import erlang_b, erlang_c, max_utilisation, mean_wait_mdc
from planner.demand.serving_physics import (
    Layout,
    ModelLoad,
    StepPhysics,
    allreduce_s,
    distinct_experts,
    ep_bytes_per_token,
    ep_imbalance,
    gemm_efficiency,
    kv_replication,
    max_batch_within,
    model_load,
    moe_token_bytes,
    precision_gap,
    prefill_time,
    replica_prefill_s,
    scale_up_one_way,
    step_terms,
)
from planner.kinds.inference import InferenceSpec

CATALOG = load_catalog()
DSV3 = CATALOG.models["deepseek-v3"]
L70 = CATALOG.models["llama-3.1-70b"]
DSR1 = CATALOG.models["deepseek-r1"]
L405 = CATALOG.models["llama-3.1-405b"]


def test_tp_allreduce_time_by_hand() -> None:
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    sv = hw.accelerator.serving
    # 64 tokens x hidden 8192 x 2 B = 1,048,576 B over TP8: ring volume 2·7/8 of it per GPU,
    # 2·log2(8) = 6 latency hops.
    nbytes = 64 * 8192 * 2
    expected = 6 * sv.scale_up_latency_s + 2 * 7 / 8 * nbytes / (
        900e9 * sv.link_bandwidth_utilisation
    )
    assert allreduce_s(hw, 8, nbytes) == pytest.approx(expected, rel=1e-12)
    assert allreduce_s(hw, 1, nbytes) == 0.0


def test_ep_alltoall_bytes_by_hand() -> None:
    # DeepSeek-V3: a token goes to 8 experts; hidden 7168; FP8 dispatch (1 B) + BF16 combine (2 B);
    # over EP8 7/8 of it leaves the GPU: 8 x 7168 x 3 x 7/8 = 150,528 B per MoE layer.
    assert ep_bytes_per_token(DSV3, 8) == pytest.approx(150_528)
    assert ep_bytes_per_token(DSV3, 1) == 0.0
    assert ep_bytes_per_token(L70, 8) == 0.0


def test_ep_imbalance_by_hand() -> None:
    # 64 tokens x 8 experts over EP8: mean 64 routed rows per rank; the hottest of 8 binomial
    # loads is ~ mean + sqrt(2 · mean · ln 8): factor 1 + sqrt(2 ln 8 / 64) = 1.2549.
    assert ep_imbalance(DSV3, 64, 8) == pytest.approx(1 + math.sqrt(2 * math.log(8) / 64))
    assert ep_imbalance(DSV3, 64, 8) == pytest.approx(1.2549, abs=1e-4)
    # One token over EP72: mean 8/72 rows per rank, factor 1 + sqrt(2 ln 72 / (8/72)) = 9.78,
    # below the cap of a rank receiving min(k, E/ep) = 3.56 rows of every token (72 · 3.56 / 8).
    assert ep_imbalance(DSV3, 1, 72) == pytest.approx(1 + math.sqrt(2 * math.log(72) * 9))
    # One token over EP256 (one expert per rank): mean 1/32 row per rank, but the busiest rank
    # gets a whole row: 32 (1 + sqrt(2 ln 256 · 32) = 19.8 would be too low); also the cap
    # (a rank holds one expert: 256 · 1 / 8).
    assert ep_imbalance(DSV3, 1, 256) == pytest.approx(32.0)
    # The imbalance fades with the batch; no EP or a dense model: balanced.
    assert ep_imbalance(DSV3, 4096, 8) < ep_imbalance(DSV3, 64, 8)
    assert ep_imbalance(DSV3, 64, 1) == 1.0
    assert ep_imbalance(L70, 64, 8) == 1.0


def test_one_way_link_and_moe_token_figure() -> None:
    hw = hardware(CATALOG, "hgx-b200")
    assert hw is not None
    sv = hw.accelerator.serving
    assert sv is not None and sv.moe_token_bandwidth_bytes_per_s is not None
    # NVLink 5: 1.8 TB/s bidirectional = 900 GB/s each way, x link utilisation.
    assert scale_up_one_way(hw) == pytest.approx(900e9 * sv.link_bandwidth_utilisation)
    # The per-token MoE figure is far below the link: it is not the all-to-all's rate.
    assert sv.moe_token_bandwidth_bytes_per_s < scale_up_one_way(hw) / 5
    # Routed activation bytes of a token per MoE layer: k x hidden x (1 B in + 2 B out).
    assert moe_token_bytes(DSV3) == 8 * 7168 * 3
    assert moe_token_bytes(L70) == 0.0
    assert ep_bytes_per_token(DSV3, 8) == pytest.approx(8 * 7168 * 3 * 7 / 8)
    assert ep_bytes_per_token(DSV3, 1) == 0.0


def test_moe_step_terms_by_hand() -> None:
    # DeepSeek-V3 FP8 on one 8xB200 as DP8 x TP1 attention, EP8; 64 sequences, 1k/1k, no
    # chunk: every MoE term of the step by hand.
    hw = hardware(CATALOG, "hgx-b200")
    assert hw is not None
    sv = hw.accelerator.serving
    assert sv is not None and sv.moe_token_bandwidth_bytes_per_s is not None
    load = model_load(DSV3, "fp8", "fp8", 1000, 1000, 1)
    usable = usable_bytes(hw, 8, None)
    lay = Layout(8, 1, 1, 1, 1.0, usable, load.dense_bytes * 8 + load.weights_bytes, True)
    t = step_terms(hw, load, lay, 64, False)
    hbm = 8e12 * sv.hbm_bandwidth_utilisation
    rate = 4500e12 * sv.compute_utilisation["fp8"]
    # Expert GEMMs: 256 (1 - (1 - 8/256)^64) = 222.6 distinct experts, 64 · 8 / 222.6 = 2.3 rows
    # each; the hottest rank gets x1.2549 the mean rows.
    distinct = 256 * (1 - (1 - 8 / 256) ** 64)
    x = 1 + math.sqrt(2 * math.log(8) / 64)
    expert_c = x * 64 * load.flops_experts / gemm_efficiency(hw, 64 * 8 / distinct) / (8 * rate)
    expert_m = distinct * load.expert_bytes * 58 / 8 / hbm
    dense_c = 64 * load.flops_dense / gemm_efficiency(hw, 64 / 8) / (8 * rate)
    # the dense weights but the input embedding (129,280 x 7,168 at 1 B: a step reads only its
    # tokens' rows of it)
    assert load.embedding_bytes == pytest.approx(129280 * 7168 * 1.0)
    dense_m = (load.dense_bytes - 129280 * 7168) / hbm
    attention_c = 64 * load.flops_attention / (8 * rate)
    kv_m = 64 * load.kv_read_per_sequence / 8 / hbm
    phases = dict((name, (c, m)) for name, c, m in t.phases)
    assert phases["expert GEMMs"] == pytest.approx((expert_c, expert_m), rel=1e-12)
    assert phases["dense GEMMs"] == pytest.approx((dense_c, dense_m), rel=1e-12)
    assert phases["attention"] == pytest.approx((attention_c, kv_m), rel=1e-12)
    roofline = max(attention_c, kv_m) + max(dense_c, dense_m) + max(expert_c, expert_m)
    assert t.roofline_s == pytest.approx(roofline, rel=1e-12)
    # All-to-all: 58 MoE layers x (2 NVLink latencies + the hottest rank's 8 tokens x 1.2549 x
    # 8 x 7168 x 3 B x 7/8 at the link's 900 GB/s one way x link utilisation).
    per_layer = 2 * sv.scale_up_latency_s + x * 8 * 8 * 7168 * 3 * 7 / 8 / (
        900e9 * sv.link_bandwidth_utilisation
    )
    assert t.ep_comm_s == pytest.approx(58 * per_layer, rel=1e-12)
    # The fitted per-token MoE cost: 58 layers x the hottest rank's 8 x 1.2549 tokens x
    # 8 x 7168 x 3 B (no (g-1)/g: it is not traffic) at moe_token_bandwidth.
    tokens_s = 58 * x * 8 * 8 * 7168 * 3 / sv.moe_token_bandwidth_bytes_per_s
    assert t.moe_token_s == pytest.approx(tokens_s, rel=1e-12)
    assert t.ep_imbalance == pytest.approx(x)
    # MoE layer latency: 58 x the catalog figure.
    assert t.moe_layer_s == pytest.approx(58 * sv.moe_layer_latency_s, rel=1e-12)
    assert t.tp_comm_s == 0.0 and t.pp_comm_s == 0.0
    step = roofline + 58 * per_layer + 58 * sv.moe_layer_latency_s + tokens_s + sv.step_overhead_s
    assert t.step_s == pytest.approx(step, rel=1e-12)
    assert "MoE layer latency" in t.describe() and "expert GEMMs" in t.describe()
    assert "MoE routed tokens" in t.describe()
    # Bound: the largest of the compute-bound phases, the memory-bound phases, communication and
    # the fixed latencies.
    parts = {
        "compute": sum(c for c, m in phases.values() if c >= m),
        "memory": sum(m for c, m in phases.values() if m > c),
        "communication": 58 * per_layer,
        "latency": sv.step_overhead_s + 58 * sv.moe_layer_latency_s,
        "MoE tokens": tokens_s,
    }
    assert t.bound == max(parts, key=lambda k: parts[k])


def test_pipelined_moe_layout_pays_the_per_token_cost() -> None:
    # DeepSeek-R1 FP4 on 8xB200 as PP8 (one GPU a stage, EP1: no all-to-all) pays the fitted
    # per-token MoE cost on every routed token like the EP8 layout: 58 layers x B tokens (each
    # chip runs every micro-batch through its stage) x k x hidden x 3 B / moe_token_bandwidth / 8.
    # Before session 9 it did not, and offline the chooser took PP8 at 1.7x the MLPerf rate.
    hw = hardware(CATALOG, "hgx-b200")
    assert hw is not None
    sv = hw.accelerator.serving
    assert sv is not None and sv.moe_token_bandwidth_bytes_per_s is not None
    load = model_load(DSV3, "fp4", "fp8", 804, 3736, 1)
    usable = usable_bytes(hw, 8, None)
    pp8 = Layout(8, 1, 8, 1, 1.0, usable, load.weights_bytes, True)
    t = step_terms(hw, load, pp8, 4096, False)
    assert t.ep_comm_s == 0.0 and t.ep_imbalance == 1.0
    assert t.moe_token_s == pytest.approx(
        58 * 4096 / 8 * 8 * 7168 * 3 / sv.moe_token_bandwidth_bytes_per_s, rel=1e-12
    )
    # The floor used to skip batches stays a lower bound of the TPOT with the term in it.
    physics = StepPhysics(hw, load, pp8)
    for batch in (8, 512, 4096):
        assert physics.tpot_floor_s(batch, False) <= physics.terms(batch, False).tpot_s
    # Offline, the chooser no longer prefers the pipelined layout for DeepSeek-R1 on one server.
    est = estimate_inference(
        InferenceSpec.model_validate(
            {
                "requests_per_day": "1M",
                "model": "deepseek-r1",
                "precision": "fp4",
                "kv_precision": "fp8",
                "prompt_tokens": 804,
                "output_tokens": 3736,
                "mode": "offline",
            }
        ),
        CATALOG,
        "hgx-b200",
        max_units_per_instance=1,
    )
    assert est.pipeline_parallel == 1 and est.expert_parallel == 8


def test_phases_in_sequence_cost_more_than_one_roofline() -> None:
    # Llama 3.1 70B FP8 on 8xB200 (TP8), 8k-token contexts, 256 sequences: attention is
    # memory-bound (KV) while the GEMMs are compute-bound; running one after the other, the step
    # pays both, more than max(total compute, total memory).
    hw = hardware(CATALOG, "hgx-b200")
    assert hw is not None
    load = model_load(L70, "fp8", "fp8", 8000, 1000, 1)
    lay = Layout(8, 8, 1, 1, 1.0, usable_bytes(hw, 8, None), load.weights_bytes, False)
    t = step_terms(hw, load, lay, 256, False)
    (_, att_c, att_m), (_, gemm_c, gemm_m), (_, exp_c, exp_m) = t.phases
    assert att_m > att_c and gemm_c > gemm_m and exp_c == exp_m == 0.0
    assert t.roofline_s == pytest.approx(att_m + gemm_c)
    assert t.roofline_s > max(t.compute_s, t.memory_s)


def test_mla_flops_from_the_real_dims() -> None:
    # Prefill/training (decompressed K, V): 2 · 128 heads · 61 layers · (192 + 128) · context.
    assert attention_flops_per_token(DSV3, 1000) == pytest.approx(2 * 128 * 61 * 320 * 1000)
    # Absorbed decode: 2 · 128 · 61 · (2·512 + 64) · context = 17.0 MFLOP per context token.
    assert decode_attention_flops_per_token(DSV3, 1000) == pytest.approx(2 * 128 * 61 * 1088 * 1000)
    # About 10x the old hidden/heads = 56 estimate (4 · 128 · 61 · 56 per context token).
    assert decode_attention_flops_per_token(DSV3, 1) / (4 * 128 * 61 * 56) == pytest.approx(
        9.71, rel=0.01
    )
    # GQA: unchanged, 4 · heads · layers · head_dim · context.
    assert attention_flops_per_token(L70, 1000) == pytest.approx(4 * 64 * 80 * 128 * 1000)
    assert decode_attention_flops_per_token(L70, 1000) == attention_flops_per_token(L70, 1000)
    # MoE split: dense part + active routed experts = 2 x (37B − the input embedding, 129,280 x
    # 7,168, a lookup) per token.
    load = model_load(DSV3, "fp8", "fp8", 1000, 1000, 1)
    assert load.flops_dense + load.flops_experts == pytest.approx(2 * (37e9 - 129280 * 7168))
    assert load.flops_experts == pytest.approx(2 * 58 * 8 * 3 * 7168 * 2048)


def _toy_arch(fp4: dict[str, object], **shape: object) -> ModelArch:
    """A made-up model of 4 layers, hidden 1,024, 8 heads (8 KV heads), 100M params, with a 70 MB
    FP4 checkpoint; `shape` adds or overrides fields (the MoE block, active params)."""
    return ModelArch.model_validate(
        dict(
            description="toy model",
            params=100_000_000,
            layers=4,
            hidden=1024,
            heads=8,
            kv_heads=8,
            checkpoints={"fp4": {"weights": "70 MB", "source": "made up", **fp4}},
            source="made up for a hand computation",
            **shape,
        )
    )


def _toy_moe(fp4: dict[str, object]) -> ModelArch:
    """A made-up MoE: 4 layers (1 dense), hidden 1,024, 8 heads (GQA, 8 KV heads), 16 routed
    experts of FFN 512 (2 active) + 1 shared; 100M params, 30M active; an FP4 checkpoint."""
    return _toy_arch(
        fp4,
        active_params=30_000_000,
        moe=dict(experts=16, active_experts=2, shared_experts=1, expert_ffn=512, dense_layers=1),
    )


def test_fp4_checkpoint_with_fp8_dense_part_by_hand() -> None:
    # Routed experts: 3 MoE layers x 16 x (3 x 1,024 x 512 = 1,572,864) = 75,497,472 params; the
    # rest (attention, dense layer, shared experts, embeddings): 24,502,528 params at 1 B (FP8) =
    # 24,502,528 B; the routed experts get the other 70,000,000 - 24,502,528 = 45,497,472 B,
    # 947,864 B per expert (48 of them).
    split = _toy_moe({"dense_precision": "fp8"})
    even = _toy_moe({})  # no dense_precision: the checkpoint's bytes spread evenly, all FP4
    load = model_load(split, "fp4", "fp8", 1000, 1000, 1)
    assert load.dense_precision == "fp8" and load.weights_bytes == pytest.approx(70e6)
    assert load.dense_bytes == pytest.approx(24_502_528, rel=1e-12)
    assert load.expert_bytes == pytest.approx(947_864, rel=1e-12)
    flat = model_load(even, "fp4", "fp8", 1000, 1000, 1)
    assert flat.dense_precision == "fp4"
    assert flat.dense_bytes == pytest.approx(24_502_528 / 1e8 * 70e6, rel=1e-12)
    # FLOPs per token: experts 2 x 3 layers x 2 active x 1,572,864 = 18,874,368; the rest of
    # 2 x 30M active = 41,125,632; a 1,000-token prompt's token at mean context 500 adds
    # attention 2 x 8 heads x 4 layers x (128 + 128) x 500 = 8,192,000: F = 68,192,000.
    f_exp, f_dense, f_prefill = 18_874_368, 41_125_632, 68_192_000
    assert (load.flops_experts, load.flops_dense) == pytest.approx((f_exp, f_dense), rel=1e-12)
    assert load.flops_prefill == pytest.approx(f_prefill, rel=1e-12)
    # One 8xB200 as DP8 x TP1 attention, EP8, 64 sequences: the dense GEMMs at the FP8 rate on
    # the FP8 bytes, the expert GEMMs at the FP4 rate, attention at the FP8 KV rate.
    hw = hardware(CATALOG, "hgx-b200")
    assert hw is not None
    sv = hw.accelerator.serving
    assert sv is not None
    fp8 = 4500e12 * sv.compute_utilisation["fp8"]
    fp4 = 9000e12 * sv.compute_utilisation["fp4"]
    hbm = 8e12 * sv.hbm_bandwidth_utilisation
    stored = 8 * load.dense_bytes + (70e6 - load.dense_bytes)
    lay = Layout(8, 1, 1, 1, 1.0, usable_bytes(hw, 8, None), stored, True)
    t = step_terms(hw, load, lay, 64, True)
    phases = {name: (c, m) for name, c, m in t.phases}
    dense_c = 64 * f_dense / gemm_efficiency(hw, 64 / 8) / (8 * fp8)
    assert phases["dense GEMMs"] == pytest.approx((dense_c, 24_502_528 / hbm), rel=1e-12)
    distinct = 16 * (1 - (1 - 2 / 16) ** 64)
    x = ep_imbalance(split, 64, 8)
    expert_c = x * 64 * f_exp / gemm_efficiency(hw, 64 * 2 / distinct) / (8 * fp4)
    expert_m = distinct * 947_864 * 3 / 8 / hbm
    assert phases["expert GEMMs"] == pytest.approx((expert_c, expert_m), rel=1e-12)
    assert phases["attention"][0] == pytest.approx(64 * load.flops_attention / (8 * fp8))
    # The prefill chunk (1,000 prompt tokens per 1,000 output tokens): a prompt token's expert
    # FLOPs at FP4 (x the hottest rank's share of a pass of 8 replicas x 1,000 tokens), the rest
    # (attention included) at FP8, + the MoE terms: 3 MoE layers x the EP8 all-to-all (2 x 1,024
    # x 3 B x 7/8 a token) at the one-way link rate, + 3 x (MoE layer latency + 2 hops) per pass
    # over its 8,000 tokens (TP1 attention: no all-reduce).
    xp = ep_imbalance(split, 8 * 1000, 8)
    link = 1.8e12 / 2 * sv.link_bandwidth_utilisation
    moe_s = (
        3 * xp * 2 * 1024 * 3 * 7 / 8 / (8 * link)
        + 3 * (sv.moe_layer_latency_s + 2 * sv.scale_up_latency_s) / 8000
    )
    per_token_s = xp * f_exp / (8 * fp4) + (f_prefill - f_exp) / (8 * fp8) + moe_s
    assert t.chunk_s == pytest.approx(64 * per_token_s, rel=1e-12)
    # Disaggregated prefill on the same 8 accelerators, tokens/s.
    rate = prefill_tokens_per_s_per_instance(split, hw, "fp4", lay, 1000)
    assert rate == pytest.approx(1 / per_token_s, rel=1e-12)
    assert prefill_tokens_per_s_per_instance(even, hw, "fp4", lay, 1000) == pytest.approx(
        1 / (xp * f_exp / (8 * fp4) + (f_prefill - f_exp) / (8 * fp4) + moe_s), rel=1e-12
    )
    # Without dense_precision every GEMM runs at FP4 on the evenly scaled bytes.
    flat_t = step_terms(hw, flat, lay, 64, False)
    flat_dense = next((c, m) for name, c, m in flat_t.phases if name == "dense GEMMs")
    assert flat_dense == pytest.approx(
        (64 * f_dense / gemm_efficiency(hw, 8) / (8 * fp4), flat.dense_bytes / hbm), rel=1e-12
    )


def test_dense_precision_is_checked() -> None:
    # The non-routed part at its precision must leave bytes for the routed experts (24.5M params
    # x 2 B = 49 MB of 70 MB fits; x 4 B = 98 MB does not), and a dense model has no routed
    # experts to split off.
    assert _toy_moe({"dense_precision": "bf16"}).checkpoints["fp4"].dense_precision == "bf16"
    with pytest.raises(ValueError, match="leave nothing"):
        _toy_moe({"dense_precision": "fp32"})
    with pytest.raises(ValueError, match="for MoE models"):
        _toy_arch({"dense_precision": "fp8"})
    # An accelerator without serving figures for the dense precision cannot serve the
    # checkpoint, and says why.
    hw = hardware(CATALOG, "hgx-b200")
    assert hw is not None
    toy = _toy_moe({"dense_precision": "fp8"})
    assert precision_gap(hw, toy, "fp4") is None
    sv = hw.accelerator.serving
    assert sv is not None
    util = {k: v for k, v in sv.compute_utilisation.items() if k != "fp8"}
    bare = dataclasses.replace(
        hw,
        accelerator=hw.accelerator.model_copy(
            update={"serving": sv.model_copy(update={"compute_utilisation": util})}
        ),
    )
    why = precision_gap(bare, toy, "fp4")
    assert why is not None and "keeps all but its routed experts in fp8" in why
    assert precision_gap(bare, _toy_moe({}), "fp4") is None


def test_kv_replication_when_tp_exceeds_kv_heads() -> None:
    assert kv_replication(L70, 8) == 1.0  # 8 KV heads over 8 GPUs: one each
    assert kv_replication(L70, 16) == 2.0  # 16 GPUs: each KV head on 2 GPUs
    assert kv_replication(L70, 72) == 9.0
    assert kv_replication(DSV3, 4) == 4.0  # MLA latent on every TP rank
    # TP16 on GB200 NVL72: the HBM batch halves against no replication.
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    load = model_load(L70, "fp8", "fp8", 1000, 1000, 1)
    usable = usable_bytes(hw, 16, None)
    lay = Layout(16, 16, 1, 1, 72 // 16, usable, load.weights_bytes, False)
    free = usable - 70e9
    est_batch = free / (2000 * 163_840 * 2)
    assert free / (load.kv_stored_per_sequence * kv_replication(L70, 16)) == pytest.approx(
        est_batch
    )
    assert lay.free_bytes == pytest.approx(free)


def test_distinct_experts_per_step() -> None:
    assert distinct_experts(DSV3, 1) == pytest.approx(8)
    assert distinct_experts(DSV3, 2) == pytest.approx(256 * (1 - (248 / 256) ** 2))
    assert distinct_experts(DSV3, 10_000) == pytest.approx(256, rel=1e-6)
    assert distinct_experts(L70, 100) == 0.0


def test_queueing_by_hand() -> None:
    # Erlang B(2, 1): B1 = 1/2, B2 = 1·(1/2) / (2 + 1/2) = 0.2;
    # Erlang C = 0.2 / (1 - 0.5·0.8) = 1/3.
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    # M/M/2 mean wait = C / (c - A) · S = S/3; M/D/2 (Allen-Cunneen) halves it: S/6.
    assert mean_wait_mdc(2, 1.0, 6.0) == pytest.approx(1.0)
    # The utilisation that meets a p99 wait grows with the number of slots.
    small = max_utilisation(10, 40.0, 2.0, 0.01)
    large = max_utilisation(1000, 40.0, 2.0, 0.01)
    assert 0 < small < large < 1


def _spec(**kw: object) -> InferenceSpec:
    data: dict[str, object] = dict(
        kind="inference",
        model="llama-2-70b",
        precision="fp8",
        kv_precision="fp8",
        requests_per_day="1M",
        prompt_tokens=300,
        output_tokens=292,
    )
    data.update(kw)
    return InferenceSpec.model_validate(data)


def test_pp_latency_is_the_sum_of_its_stages() -> None:
    # TP1 x PP8 of Llama 3.1 70B FP8 on 8 H100s: each stage reads 1/8 of the weights once per
    # micro-batch and a token passes all 8 stages, so one step can never take less than reading
    # all the weights on ONE GPU (70 GB / 2.68 TB/s = 26 ms), whatever the batch.
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    sv = hw.accelerator.serving
    load = model_load(L70, "fp8", "fp8", 1000, 775, 1)
    usable = usable_bytes(hw, 8, None)
    pp = Layout(8, 1, 8, 1, 1.0, usable, load.weights_bytes, False)
    tp = Layout(8, 8, 1, 1, 1.0, usable, load.weights_bytes, False)
    one_gpu_read_s = 70e9 / (3.35e12 * sv.hbm_bandwidth_utilisation)
    stage_s = (70e9 / 8) / (3.35e12 * sv.hbm_bandwidth_utilisation)
    for batch in (8, 64, 256):
        terms = step_terms(hw, load, pp, batch, False)
        assert terms.step_s >= 8 * stage_s == pytest.approx(one_gpu_read_s)
        assert step_terms(hw, load, tp, batch, False).step_s < terms.step_s
    # At 30 tok/s/user (33 ms) the chooser never reports a PP8 layout with a faster step.
    est = estimate_inference(
        InferenceSpec.model_validate(
            dict(
                kind="inference",
                model="llama-3.1-70b",
                precision="fp8",
                requests_per_day="1M",
                prompt_tokens=1000,
                output_tokens=775,
                tokens_per_s_per_user=30,
            )
        ),
        CATALOG,
        "hgx-h100",
    )
    assert est.feasible and est.tensor_parallel is not None
    # Each GPU streams W / TP per step, pipeline stages or not.
    assert est.step_time_s >= (70e9 / est.tensor_parallel) / (  # type: ignore[operator]
        3.35e12 * sv.hbm_bandwidth_utilisation
    )


def test_offline_beats_server_by_a_derived_margin() -> None:
    offline = estimate_inference(_spec(mode="offline"), CATALOG, "hgx-h100")
    server = estimate_inference(
        _spec(tokens_per_s_per_user=5, ttft_p99="2 s", prefill="aggregated"), CATALOG, "hgx-h100"
    )
    assert offline.feasible and server.feasible
    assert server.server_utilisation is not None and 0.5 < server.server_utilisation < 1
    assert (
        server.output_tokens_per_s_per_accelerator < offline.output_tokens_per_s_per_accelerator  # type: ignore[operator]
    )
    assert any("M/D/c" in line for line in server.derivation)
    # Offline needs no interactivity target; interactive mode does.
    with pytest.raises(ValueError, match="tokens_per_s_per_user"):
        _spec()
    assert math.isfinite(offline.max_batch_hbm or math.inf)


def test_speculative_decoding_tokens_per_step() -> None:
    from planner.demand.serving_physics import tokens_per_step

    # One MTP draft accepted 85% of the time: 1 + 0.85 = 1.85 tokens per step.
    assert tokens_per_step(1, 0.85) == pytest.approx(1.85)
    # Three drafts at 0.5: 1 + 0.5 + 0.25 + 0.125 = 1.875.
    assert tokens_per_step(3, 0.5) == pytest.approx(1.875)
    assert tokens_per_step(0, 0.9) == 1.0
    base = dict(
        kind="inference",
        model="deepseek-v3",
        precision="fp8",
        requests_per_day="1M",
        prompt_tokens=1000,
        output_tokens=1000,
        tokens_per_s_per_user=60,
    )
    plain = estimate_inference(InferenceSpec.model_validate(base), CATALOG, "hgx-b200")
    mtp = estimate_inference(
        InferenceSpec.model_validate({**base, "draft_tokens": 1, "draft_acceptance": 0.85}),
        CATALOG,
        "hgx-b200",
    )
    assert plain.feasible and mtp.feasible
    # A memory-bound MoE step yields 1.85 tokens per sequence: more throughput at the target.
    assert mtp.tokens_per_s_per_system > plain.tokens_per_s_per_system  # type: ignore[operator]
    assert mtp.tpot_s <= 1 / 60 and mtp.tpot_s == pytest.approx(mtp.step_time_s / 1.85)  # type: ignore[operator]


def _h100_prefill_token_s(tokens: float, a: int, tp: int) -> tuple[float, float]:
    """(compute, TP all-reduce) seconds of one prompt token of Llama 3.1 405B FP8 at mean
    context `tokens` on `a` H100s with TP `tp`, from the catalog figures."""
    sv = CATALOG.accelerators["h100-sxm"].serving
    assert sv is not None
    # 2 · (405B params − 2 V h) + 2 V h / (2 · context) (no GEMM for the input embedding, V h =
    # 128,256 x 16,384; the output head once per prompt of 2 · context tokens) + causal attention
    # 4 · heads 128 · layers 126 · head_dim 128 · context
    emb = 128256 * 16384
    flops = 2 * (405e9 - 2 * emb) + 2 * emb / (2 * tokens) + 4 * 128 * 126 * 128 * tokens
    compute = flops / (a * 1979e12 * sv.compute_utilisation["fp8"])
    # 2 all-reduces per layer (126 layers) of a token's 16,384 x 2 B activations: the ring
    # volume 2(tp-1)/tp over the (bidirectional) 900 GB/s x link utilisation; a/tp TP groups
    # (pipeline stages) reduce their own tokens side by side.
    bw = 900e9 * sv.link_bandwidth_utilisation
    allreduce = 2 * 126 * 2 * (tp - 1) / tp * 16384 * 2 / bw * tp / a
    return compute, allreduce


def test_prefill_rate_with_tp_allreduces_by_hand() -> None:
    # The LP's prefill rate of 405B FP8 (496 GB) on HGX H100: the smallest instance holding it
    # and a 2,000-token prompt's KV is one server, TP8; compute plus the TP8 all-reduces.
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    compute, allreduce = _h100_prefill_token_s(1000, 8, 8)
    assert allreduce > 0.1 * compute  # not negligible: ~22% of the compute time
    rate = prefill_rate(L405, hw, "fp8", "fp8", 2000, 1000)
    assert rate.per_unit_s == pytest.approx(1 / (compute + allreduce), rel=1e-12)
    # The reason shows both terms with their numbers.
    assert rate.reason.startswith("TP8 x1 instance/unit")
    assert f"= {compute * 1e6:.3g} us + TP8 all-reduce 252 x 2(8-1)/8 x 16384 x 2 B / 675 GB/s" in (
        rate.reason
    )
    assert f"= {allreduce * 1e6:.3g} us = {(compute + allreduce) * 1e6:.4g} us/token" in rate.reason
    # TP1 (70B FP8 fits one H100): no all-reduce, the rate is the compute alone.
    small = prefill_rate(L70, hw, "fp8", "fp8", 2000, 1000)
    assert small.reason.startswith("TP1") and "all-reduce" not in small.reason
    sv = hw.accelerator.serving
    assert sv is not None
    emb70 = 128256 * 8192  # a 2,000-token prompt: no embedding GEMM, the head once
    f70 = 2 * (70e9 - 2 * emb70) + 2 * emb70 / 2000 + 4 * 64 * 80 * 128 * 1000
    assert small.per_unit_s == pytest.approx(8 * 1979e12 * sv.compute_utilisation["fp8"] / f70)


def test_lp_rate_estimate_and_chunk_share_one_prefill_time() -> None:
    # 405B FP8, aggregated prefill, on HGX H100: the estimate serves it on TP8 x PP4 over four
    # servers, the LP rates prefill on one TP8 server. Each prices a prompt token with
    # prefill_time on its layout: the LP's prefill rate, the estimate's prefill rate and TTFT,
    # and the prefill chunk each decode step carries.
    spec = InferenceSpec.model_validate(
        dict(
            kind="inference",
            model="llama-3.1-405b",
            precision="fp8",
            kv_precision="fp8",
            requests_per_day="1M",
            prompt_tokens=2000,
            output_tokens=500,
            tokens_per_s_per_user=30,
            prefill="aggregated",
        )
    )
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    load = model_load(L405, "fp8", "fp8", 2000, 500, 1)
    est = estimate_inference(spec, CATALOG, "hgx-h100")
    assert est.feasible and est.max_batch is not None
    # TP8 x PP4 over four servers (TP8 x PP2 before the input embedding stopped counting as a
    # GEMM and being read each step)
    assert (est.instance_accelerators, est.tensor_parallel, est.pipeline_parallel) == (32, 8, 4)
    dec = next(x for x in layouts(L405, hw, load, 4) if (x.accelerators, x.tp, x.pp) == (32, 8, 4))
    t = prefill_time(hw, L405, "fp8", dec, 1000)
    assert (t.compute_s, t.allreduce_s) == pytest.approx(_h100_prefill_token_s(1000, 32, 8))
    assert est.prefill_tokens_per_s_per_instance == pytest.approx(t.tokens_per_s, rel=1e-12)
    assert est.ttft_s == pytest.approx(2000 * t.per_token_s, rel=1e-12)
    # chunk = batch x P/O prompt tokens per output token x the same per-token time
    chunk = est.max_batch * 2000 / 500 * t.per_token_s
    assert est.step_terms_s["prefill_chunk"] == pytest.approx(chunk, rel=1e-12)
    # The LP: its prefill rate on the one-server TP8 instance, the same function.
    _, lp = inference_rates(spec, CATALOG, "hgx-h100")
    one = next(x for x in layouts(L405, hw, load, 4) if (x.accelerators, x.pp) == (8, 1))
    t_lp = prefill_time(hw, L405, "fp8", one, 1000)
    assert lp.per_unit_s == pytest.approx(t_lp.tokens_per_s * one.instances_per_unit, rel=1e-12)
    # Where the estimate runs that same instance (one server), the two rates are one number.
    single = estimate_inference(spec, CATALOG, "hgx-h100", max_units_per_instance=1)
    assert (single.instance_accelerators, single.tensor_parallel) == (8, 8)
    assert single.prefill_tokens_per_s_per_system == pytest.approx(lp.per_unit_s, rel=1e-12)


def test_prefill_allreduce_is_the_decode_steps_per_token() -> None:
    # DeepSeek-R1 on one HGX B200 as DP2 x TP4 attention, EP8: the prefill's all-reduce time per
    # token is the bandwidth part of the decode step's TP all-reduce divided by the batch (both
    # reduce each attention replica's own tokens over its 4 chips; 61 layers + 3 dense layers).
    hw = hardware(CATALOG, "hgx-b200")
    assert hw is not None
    sv = hw.accelerator.serving
    assert sv is not None
    load = model_load(DSR1, "fp8", "fp8", 1000, 1000, 1)
    lay = next(x for x in layouts(DSR1, hw, load, 1) if (x.accelerators, x.tp, x.pp) == (8, 4, 1))
    t = prefill_time(hw, DSR1, "fp8", lay, 500)
    by_hand = 64 * 2 * 3 / 4 * 7168 * 2 / (1.8e12 * sv.link_bandwidth_utilisation) / 2
    assert t.allreduces == 64 and t.allreduce_s == pytest.approx(by_hand, rel=1e-12)
    batch = 40
    step = step_terms(hw, load, lay, batch, False)
    latency = 64 * 2 * 2 * sv.scale_up_latency_s  # 2·ceil(log2 4) hops per all-reduce
    assert (step.tp_comm_s - latency) / batch == pytest.approx(t.allreduce_s, rel=1e-9)
    # The chunk of the same layout: batch x P/O x (compute + that all-reduce).
    chunked = step_terms(hw, load, lay, batch, True)
    assert chunked.chunk_s == pytest.approx(batch * t.per_token_s, rel=1e-12)


def test_prompt_cache_hit_cuts_prefill_work() -> None:
    from planner.kinds import demand_for

    base = dict(
        kind="inference",
        model="llama-3.1-70b",
        precision="fp8",
        requests_per_day="1M",
        prompt_tokens=2000,
        output_tokens=500,
        tokens_per_s_per_user=30,
        prefill="aggregated",
    )
    cold = InferenceSpec.model_validate(base)
    warm = InferenceSpec.model_validate({**base, "prompt_cache_hit": 0.75})
    d_cold = demand_for("c", cold, CATALOG, ["hgx-h100"], 86400.0)
    d_warm = demand_for("w", warm, CATALOG, ["hgx-h100"], 86400.0)
    assert d_warm.roles[1].amount == pytest.approx(d_cold.roles[1].amount / 4)
    assert d_warm.roles[0].amount == d_cold.roles[0].amount
    a = estimate_inference(cold, CATALOG, "hgx-h100", max_units_per_instance=1)
    b = estimate_inference(warm, CATALOG, "hgx-h100", max_units_per_instance=1)
    # A quarter of the prompt is prefilled: shorter chunks in each step, cheaper tokens.
    assert b.step_terms_s["prefill_chunk"] < a.step_terms_s["prefill_chunk"]
    assert b.usd_per_million_tokens < a.usd_per_million_tokens  # type: ignore[operator]
    # TTFT: a quarter of the prompt's prefill on the instance each chose: prefilled tokens x
    # (F(P/2) / (a · peak · u) + 2 · 80 all-reduces' ring volume of a token over that TP group).
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None and hw.accelerator.serving is not None
    sv = hw.accelerator.serving
    # F(P/2) of a 2,000-token prompt: no embedding GEMM, the output head once per prompt (spread
    # over its 2,000 tokens, the cached ones included)
    emb70 = 128256 * 8192
    f = 2 * (70e9 - 2 * emb70) + 2 * emb70 / 2000 + 4 * 64 * 80 * 128 * 1000
    for est, tokens in ((a, 2000), (b, 500)):
        n, tp = est.instance_accelerators, est.tensor_parallel
        assert n is not None and tp is not None
        compute = f / (n * 1979e12 * sv.compute_utilisation["fp8"])
        ar = 160 * 2 * (tp - 1) / tp * 8192 * 2 / (900e9 * sv.link_bandwidth_utilisation) * tp / n
        assert est.ttft_s == pytest.approx(tokens * (compute + ar), rel=1e-9)


def test_accelerator_without_serving_figures_gets_a_reason(tmp_path: Path) -> None:
    # A new accelerator may be added for training alone: serving rates are then 0 with a reason.
    overlay = tmp_path / "new.yaml"
    overlay.write_text(
        """
accelerators:
  newchip:
    vendor: X
    peak_flops: {bf16: 1000 TFLOPS, fp8: 2000 TFLOPS}
    hbm: 100 GB
    hbm_bandwidth: 4 TB/s
    scale_up_bandwidth: 1 TB/s
    scale_out_bandwidth: 400 Gbps
    power: 800 W
    source: test
systems:
  newbox:
    description: test box
    accelerator: newchip
    accelerators: 8
    cpu: xeon-8480c
    cpus: 2
    scale_up_domain: 8
    power: 10 kW
    capex_usd: 1
    lifetime: 5 years
    rental_usd_per_hour: 1
    host_cores_reserved_per_accelerator: 1
    hbm_usable_fraction: 0.9
    source: test
"""
    )
    cat = load_catalog([overlay])
    spec = _spec(tokens_per_s_per_user=30)
    decode, prefill = inference_rates(spec, cat, "newbox")
    assert decode.per_unit_s == 0 and "accelerators.newchip.serving" in decode.reason
    assert prefill.per_unit_s == 0 and "accelerators.newchip.serving" in prefill.reason


def _bisection_of_every_mid(
    hw: Hardware, load: ModelLoad, lay: Layout, budget_s: float, upper: int, chunked: bool
) -> int:
    """max_batch_within as it was before the TPOT floor: step_terms at every mid."""
    lo = lay.pp
    if upper < lo or step_terms(hw, load, lay, lo, chunked).tpot_s > budget_s:
        return 0
    hi = upper
    if step_terms(hw, load, lay, hi, chunked).tpot_s <= budget_s:
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if step_terms(hw, load, lay, mid, chunked).tpot_s <= budget_s:
            lo = mid
        else:
            hi = mid
    return lo


@pytest.mark.parametrize(
    ("model", "system", "precision", "draft_tokens"),
    [
        ("llama-3.1-70b", "hgx-h100", "fp8", 0),
        ("llama-3.1-405b", "gb200-nvl72", "fp8", 0),
        ("deepseek-v3", "hgx-b200", "fp8", 3),
        ("deepseek-v3", "gb200-nvl72", "fp4", 0),
        ("deepseek-v3 fp8 dense", "hgx-b200", "fp4", 3),
    ],
)
def test_max_batch_within_finds_the_batch_of_a_full_bisection(
    model: str, system: str, precision: str, draft_tokens: int
) -> None:
    """The TPOT floor only skips batches that miss the budget: max_batch_within returns what
    evaluating step_terms at every mid returns, on every layout (dense and MoE, PP and
    multi-unit ones), with and without the prefill chunk, from unreachable to loose budgets;
    and the floor is below the TPOT at every batch."""
    name, _, dense = model.partition(" ")
    arch, hw = CATALOG.models[name], hardware(CATALOG, system)
    if dense:  # the FP4 checkpoint with all but its routed experts at the dense precision
        ckpt = arch.checkpoints["fp4"].model_copy(update={"dense_precision": dense.split()[0]})
        arch = arch.model_copy(update={"checkpoints": {"fp4": ckpt}})
    assert hw is not None
    load = model_load(arch, precision, "fp8", 4000, 800, 1, draft_tokens, 0.7)
    for lay in layouts(arch, hw, load, 4):
        physics = StepPhysics(hw, load, lay)
        for batch in (lay.pp, 7 * lay.pp, 1000, 1 << 22):
            for chunked in (False, True):
                terms = physics.terms(batch, chunked)
                assert physics.tpot_floor_s(batch, chunked) <= terms.tpot_s
                assert terms == step_terms(hw, load, lay, batch, chunked)
        for tokens_per_s in (2.0, 15.0, 60.0, 400.0):
            for chunked in (False, True):
                args = (hw, load, lay, 1.0 / tokens_per_s, 1 << 22, chunked)
                assert max_batch_within(*args) == _bisection_of_every_mid(*args)


def test_a_pipeline_stage_holds_whole_layers() -> None:
    # DeepSeek-V3's 61 layers on a 72-GPU NVL72 instance: PP72 would leave stages without a
    # layer; the layouts stop at PP36 (the largest divisor of 72 that is at most 61).
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    load = model_load(DSV3, "fp8", "fp8", 1000, 1000, 1)
    pps = {lay.pp for lay in layouts(DSV3, hw, load, 1) if lay.accelerators == 72}
    assert max(pps) == 36 and all(pp <= DSV3.layers for pp in pps)


def test_moe_derivation_states_its_fitted_terms() -> None:
    # An MoE estimate's derivation spells out the routed-token term with the numbers that make
    # it (58 layers, k = 8, hidden 7,168, the catalog's bandwidth) and its value in the step; a
    # dense model's has no MoE line.
    hw = hardware(CATALOG, "hgx-b200")
    assert hw is not None and hw.accelerator.serving is not None
    bw = hw.accelerator.serving.moe_token_bandwidth_bytes_per_s
    assert bw is not None
    spec = _spec(model="deepseek-r1", precision="fp4", kv_precision="fp8", mode="offline")
    est = estimate_inference(spec, CATALOG, "hgx-b200", max_units_per_instance=1)
    line = next(x for x in est.derivation if x.startswith("MoE routed tokens"))
    moe_ms = est.step_terms_s["moe_tokens"] * 1e3
    assert f"/ {bw / 1e9:g} GB/s = {moe_ms:.2f} ms" in line and "172,032 B a token" in line
    assert "58 MoE layers" in line and moe_ms > 0
    dense = estimate_inference(_spec(mode="offline"), CATALOG, "hgx-b200")
    assert not any(x.startswith("MoE") for x in dense.derivation)
    assert dense.step_terms_s["moe_tokens"] == 0.0


@pytest.mark.parametrize(
    ("model", "system", "precision"),
    [
        ("llama-3.1-8b", "hgx-h100", "fp8"),
        ("llama-3.1-70b", "gb200-nvl72", "fp8"),
        ("llama-3.1-405b", "trn2-server", "bf16"),
        ("deepseek-v3", "hgx-b200", "fp8"),
        ("deepseek-r1", "gb200-nvl72", "fp4"),
        ("qwen3-32b", "vera-rubin-nvl144", "fp8"),
    ],
)
def test_decode_point_skips_only_layouts_that_change_nothing(
    model: str, system: str, precision: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-unit bound is at least the evaluated tokens/s/unit on every layout (with a
    target and without, chunked or not), and decode_point with its bounded layouts skipped
    returns the same point, alternatives included, as evaluating every layout."""
    import planner.demand.inference as inference

    # the scalar layout-by-layout search (the array search evaluates none by _evaluate)
    monkeypatch.setattr(inference, "VECTORISED", False)

    arch, hw = CATALOG.models[model], hardware(CATALOG, system)
    assert hw is not None
    cases = [
        (prompt, output, target, chunked, draft)
        for prompt, output in ((1000, 1000), (8000, 1000))
        for target in (None, 8.0, 30.0, 90.0, 300.0)
        for chunked in (False, True)
        for draft in (0, 3)
        if not (chunked and target is None)
    ]
    skipped = total = 0
    evaluate = inference._evaluate
    for prompt, output, target, chunked, draft in cases:
        load = model_load(arch, precision, "fp8", prompt, output, 1, draft, 0.7)
        for lay in layouts(arch, hw, load, 4):
            physics = StepPhysics(hw, load, lay)
            point = inference._evaluate(hw, load, lay, target, chunked, physics)[0]
            bound = inference._per_unit_bound(physics, load, lay, target, chunked)
            if point is not None:
                assert point.tokens_per_s_per_unit is not None
                assert point.tokens_per_s_per_unit <= bound
        args = (arch, hw, precision, "fp8", prompt, output, 1, target, 4, None, chunked, draft, 0.7)
        calls = 0

        def counted(*a: object, **k: object) -> object:
            nonlocal calls
            calls += 1
            return evaluate(*a, **k)  # type: ignore[arg-type]

        monkeypatch.setattr(inference, "_evaluate", counted)
        with_skips = inference.decode_point.uncached(*args)
        evaluated = calls
        monkeypatch.setattr(inference, "SKIP_BOUNDED", False)
        every = inference.decode_point.uncached(*args)
        skipped += calls - 2 * evaluated
        total += calls - evaluated
        monkeypatch.setattr(inference, "SKIP_BOUNDED", True)
        monkeypatch.setattr(inference, "_evaluate", evaluate)
        assert with_skips == every
    assert skipped > 0


def test_moe_prefill_terms_by_hand() -> None:
    # DeepSeek-R1 FP8 on a GB200 NVL72 as DP4 x TP1 attention, EP4 (SGLang's FP8 prefill
    # instance, LMSYS 2025-09-25), 2,000-token prompts: each pass holds one prompt per attention
    # replica, 4 x 2,000 tokens over 4 EP ranks, k = 8: mean 16,000 routed rows a rank, the hottest
    # 1 + sqrt(2 ln 4 / 16,000) = 1.0132 x that. Per prompt token: 58 MoE layers x x x 8 x 7,168
    # x (1 B FP8 dispatch + 2 B BF16 combine) x 3/4 leaving the GPU, over the 4 GPUs at NVLink 5's
    # 900 GB/s one way x link utilisation; the routed experts' FLOPs x x; 58 x (MoE layer
    # latency + 2 NVLink hops) once per pass of 8,000 tokens.
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    sv = hw.accelerator.serving
    assert sv is not None
    load = model_load(DSR1, "fp8", "fp8", 2000, 100, 1)
    lay = next(x for x in layouts(DSR1, hw, load, 1) if (x.accelerators, x.tp, x.pp) == (4, 1, 1))
    t = prefill_time(hw, DSR1, "fp8", lay, 1000)
    x = 1 + math.sqrt(2 * math.log(4) / 16_000)
    assert t.ep_imbalance == pytest.approx(x, rel=1e-12) and t.pass_tokens == 8000
    link = 1.8e12 / 2 * sv.link_bandwidth_utilisation
    ep_by_hand = 58 * x * 8 * 7168 * 3 * 3 / 4 / (4 * link)
    assert t.ep_comm_s == pytest.approx(ep_by_hand, rel=1e-12)
    fixed = 58 * (sv.moe_layer_latency_s + 2 * sv.scale_up_latency_s) / 8000
    assert t.moe_fixed_s == pytest.approx(fixed, rel=1e-12)
    rate = 5000e12 * sv.compute_utilisation["fp8"]
    f_exp = 2 * 58 * 8 * DSR1.expert_params
    # F(P/2) of a 2,000-token prompt: 2 (37B − 2 V h) + 2 V h / 2,000 (the input embedding a
    # lookup, the output head once; V h = 129,280 x 7,168) + MLA prefill attention at 1,000
    assert DSR1.active == 37e9
    emb = 129280 * 7168
    f = 2 * (37e9 - 2 * emb) + 2 * emb / 2000 + 2 * 128 * 61 * 320 * 1000
    assert t.compute_s == pytest.approx((f + (x - 1) * f_exp) / (4 * rate), rel=1e-12)
    # The terms are in the per-token time the LP, the estimate and the chunk use: ~20% here.
    assert t.per_token_s == pytest.approx(t.compute_s + ep_by_hand + fixed, rel=1e-12)
    assert 0.15 < ep_by_hand / t.compute_s < 0.25
    # EP16 over two HGX H100 (scale-up domain 8): half of a token's peers are in the other
    # server, so half its all-to-all bytes go over the NIC (400 Gb/s x utilisation), and the
    # pass's MoE hops are scale-out hops.
    h100 = hardware(CATALOG, "hgx-h100")
    assert h100 is not None
    hs = h100.accelerator.serving
    assert hs is not None
    load2 = model_load(DSR1, "fp8", "fp8", 922, 922, 1)
    span = next(
        x for x in layouts(DSR1, h100, load2, 2) if (x.accelerators, x.tp, x.pp) == (16, 8, 1)
    )
    t2 = prefill_time(h100, DSR1, "fp8", span, 461)
    x2 = ep_imbalance(DSR1, 2 * 922, 16)
    per_chip = 58 * x2 * 8 * 7168 * 3 * 15 / 16 / 16
    up = 900e9 / 2 * hs.link_bandwidth_utilisation
    out = 400e9 / 8 * hs.link_bandwidth_utilisation
    assert t2.ep_comm_s == pytest.approx(per_chip / 2 / up + per_chip / 2 / out, rel=1e-12)
    assert t2.moe_fixed_s == pytest.approx(
        58 * (hs.moe_layer_latency_s + 2 * hs.scale_out_latency_s) / (2 * 922), rel=1e-12
    )
    # With one attention replica (TP4 attention, EP4) a whole prompt on its replica costs the
    # instance's per-token time, MoE terms included.
    one = next(x for x in layouts(DSR1, hw, load, 1) if (x.accelerators, x.tp, x.pp) == (4, 4, 1))
    assert replica_prefill_s(hw, DSR1, "fp8", one, 1000) == pytest.approx(
        prefill_time(hw, DSR1, "fp8", one, 1000).per_token_s, rel=1e-12
    )
    # A dense model pays none of it.
    dense = prefill_time(hw, L70, "fp8", lay, 1000)
    assert dense.ep_comm_s == dense.moe_fixed_s == 0.0 and dense.ep_imbalance == 1.0
