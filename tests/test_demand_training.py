"""Training step time, layout search and goodput, checked against hand computations."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from round_figures import ROUND_TRAIN_FIGURES, busiest_rank

from hardware.catalog import load_catalog
from planner.demand import training
from planner.demand.common import hardware
from planner.demand.goodput import derive_goodput
from planner.demand.training import (
    Layout,
    ModelFigures,
    RunFigures,
    _candidate_arrays,
    best_layout,
    candidate_layouts,
    ep_load_imbalance,
    expert_gemm_shape,
    expert_width_shape,
    model_figures,
    search_all,
    search_sizes,
    step_time,
    step_times_vector,
    train_figures,
)

CATALOG = load_catalog()
F = ROUND_TRAIN_FIGURES
M = ModelFigures(
    params=1e9,
    active=1e9,
    layers=8,
    hidden=1024,
    heads=8,
    kv_dim=256,
    attention_fwd_per_token_causal=0.0,
)
RUN = RunFigures(
    sequence_tokens=1000, global_batch_tokens=8000.0, bytes_per_param=16.0, gradient_bytes=2.0
)


def test_pipeline_bubble_hand_computed() -> None:
    # 8 sequences, DP1, PP4: m = 8 micro-batches; bubble share (PP-1)/(m+PP-1) = 3/11.
    st = step_time(Layout(pp=4), M, F, RUN, recompute=0.0)
    assert st.micro_batches == 8
    assert st.bubble_share == pytest.approx(3 / 11)
    assert st.bubble_s == pytest.approx(3 * st.micro_batch_s)
    # interleaving v = 2: (PP-1)/(v·m + PP-1) = 3/19, bubble time (PP-1)/v micro-batches
    sv = step_time(Layout(pp=4, vp=2), M, F, RUN, recompute=0.0)
    assert sv.bubble_share == pytest.approx(3 / 19)
    assert sv.bubble_s == pytest.approx(1.5 * sv.micro_batch_s)
    # GEMM per micro-batch: 6 x 1e9 / 4 stages x 1000 tokens at 0.5 PFLOP/s = 3 ms
    assert st.gemm_s == pytest.approx(6 * 1e9 / 4 * 1000 / 0.5e15, rel=1e-6)
    # memory-bound: 140 B x 1024 x 2 layers x 1000 tokens at 1 TB/s
    assert st.memory_s == pytest.approx(140 * 1024 * 2 * 1000 / 1e12)


def test_a_batch_that_does_not_divide_is_rounded_up_to_whole_micro_batches() -> None:
    # 8 sequences on DP3: every rank runs ceil(8/3) = 3 micro-batches, 9 sequences a step
    # (Megatron-LM needs B to be a multiple of DP x mb); tokens/s counts the 9 sequences run.
    st = step_time(Layout(dp=3), M, F, RUN, recompute=0.0)
    assert st.micro_batches == 3
    assert st.batch_tokens == 9 * 1000 and st.asked_batch_tokens == 8000
    assert st.tokens_per_s == pytest.approx(9000 / st.step_s, rel=1e-12)
    assert st.step_s == pytest.approx(
        3 * st.micro_batch_s + st.bubble_s + st.dp_exposed_s + st.optimizer_s, rel=1e-12
    )
    assert "batch rounded up 12.5%" in st.summary()
    # 8 sequences on DP2 divide: 4 micro-batches, the asked batch, no note.
    whole = step_time(Layout(dp=2), M, F, RUN, recompute=0.0)
    assert whole.micro_batches == 4 and whole.batch_tokens == 8000
    assert "rounded" not in whole.summary()
    # The array ranking runs the same whole micro-batches.
    c = {
        k: np.array([v])
        for k, v in (("tp", 1), ("pp", 1), ("dp", 3), ("cp", 1), ("ep", 1), ("vp", 1), ("mb", 1))
    }
    rate, _ = step_times_vector(c, M, F, RUN)
    assert rate[0] == pytest.approx(st.tokens_per_s, rel=1e-9)


def test_tensor_parallel_bytes_hand_computed() -> None:
    # TP4, sequence parallel: 8 x (3/4) x t x h x 2 B per layer, 8 layers, over 100/2 GB/s...
    st = step_time(Layout(tp=4, dp=1), M, F, RUN, recompute=0.0)
    tp_bytes = 8 * 3 / 4 * 1000 * 1024 * 2 * 8
    assert st.tp_s == pytest.approx(tp_bytes / 1e11)  # F's scale-up is already per direction
    half = step_time(Layout(tp=4), M, replace(F, comm_overlap=0.5), RUN, recompute=0.0)
    assert half.tp_s == pytest.approx(tp_bytes / 1e11 / 2)


def test_tp_comm_overlap_hides_tp_behind_the_gemms_hand_computed() -> None:
    # TP4 on a slow 10 GB/s scale-up: TP collectives 8 x (3/4) x t x h x 2 B x 8 layers =
    # 98.3 MB = 9.83 ms a micro-batch; GEMMs 6 x 1e9 x 1000 tokens / TP4 at 0.5 PFLOP/s = 3 ms.
    slow = replace(F, scale_up_bytes_per_s=1e10, comm_overlap=0.5)
    t_tp = 8 * 3 / 4 * 1000 * 1024 * 2 * 8 / 1e10
    gemm = 6 * 1e9 * 1000 / 4 / 0.5e15
    off = step_time(Layout(tp=4), M, slow, RUN, recompute=0.0)
    assert off.tp_s == pytest.approx(t_tp / 2)  # the catalog's comm_overlap 0.5
    on = step_time(Layout(tp=4, tp_comm_overlap=True), M, slow, RUN, recompute=0.0)
    assert on.gemm_s == pytest.approx(gemm)
    # userbuffers overlap: hidden up to the GEMM time, max(0, 9.83 - 3) = 6.83 ms exposed
    assert on.tp_s == pytest.approx(t_tp - gemm)
    assert on.micro_batch_s - off.micro_batch_s == pytest.approx((t_tp - gemm) - t_tp / 2)
    assert "TP overlap" in str(on.layout) and "TP overlap" not in str(off.layout)
    # forward only: half the TP traffic against the forward's third of the GEMMs
    fwd = step_time(Layout(tp=4, tp_comm_overlap=True), M, slow, RUN, forward_only=True)
    assert fwd.tp_s == pytest.approx(t_tp / 2 - gemm / 3)
    # on 100 GB/s the 0.98 ms of collectives hide entirely behind the 3 ms of GEMMs
    fast = replace(F, comm_overlap=0.5)
    hidden = step_time(Layout(tp=4, tp_comm_overlap=True), M, fast, RUN, recompute=0.0)
    exposed = step_time(Layout(tp=4), M, fast, RUN, recompute=0.0)
    assert hidden.tp_s == 0.0 and exposed.tp_s == pytest.approx(t_tp / 10 / 2)
    assert hidden.step_s < exposed.step_s
    # a pinned layout keeps the flag when its DP is derived from the job size
    pinned = best_layout(8, M, slow, RUN, pinned=Layout(tp=4, tp_comm_overlap=True), recompute=0.0)
    assert pinned.best is not None and pinned.best.layout.dp == 2
    assert pinned.best.tp_s == pytest.approx(t_tp - gemm)


def test_context_and_pipeline_send_bytes() -> None:
    # CP2 (ranks 0-1, inside the domain): 3 x (2-1) x t x 2 x kv_dim / TP x 2 B per layer;
    # exposed beyond the attention time (0 here).
    run = replace(RUN, sequence_tokens=4000, global_batch_tokens=8000.0)
    st = step_time(Layout(cp=2), M, F, run, recompute=0.0)
    t = 4000 / 2
    assert st.cp_s == pytest.approx(3 * 1 * t * 2 * 256 * 2 * 8 / 1e11)
    # PP sends: 2 x v x t x h / TP x 2 B per micro-batch; over scale-out when the replica
    # TP8·PP2 spans two 8-accelerator domains, over scale-up when PP2 fits in one
    sp = step_time(Layout(tp=8, pp=2, vp=2), M, F, RUN, recompute=0.0)
    assert not sp.pp_in_scale_up
    assert sp.pp_s == pytest.approx(2 * 2 * 1000 * 1024 / 8 * 2 / 1e10)
    inside = step_time(Layout(pp=2, vp=2), M, F, RUN, recompute=0.0)
    assert inside.pp_in_scale_up and "PP inside the scale-up domain" in inside.summary()
    assert inside.pp_s == pytest.approx(2 * 2 * 1000 * 1024 * 2 / 1e11)


def test_rank_placement_keeps_the_faster_of_dp_and_pp_inside_the_domain() -> None:
    # PP2 x DP8 on 8-accelerator domains. DP inside: the 8 DP ranks share a domain (gradients
    # over scale-up), PP sends over scale-out. PP inside: a domain holds 8 // 2 = 4 replicas, so
    # DP reduces over 4 ranks inside and 2 domains outside; PP sends over scale-up.
    run = replace(RUN, global_batch_tokens=64000.0)  # 8 micro-batches per DP rank
    lay = Layout(pp=2, dp=8)
    st = step_time(lay, M, F, run, recompute=0.0)
    sync = M.params / 2 * (2 + 2)  # P_acc x (gradient + parameter gather bytes)
    dp_inside_s = 7 / 8 * sync / 1e11
    pp_inside_dp_s = 3 / 4 * sync / 1e11 + 1 / 2 * sync / 4 / 1e10
    send = 2 * 1000 * 1024 * 2
    t_mb_rest = st.micro_batch_s - st.pp_s
    dp_first = 8 * (t_mb_rest + send / 1e10) + (t_mb_rest + send / 1e10)  # m·t_mb + bubble
    pp_first = 8 * (t_mb_rest + send / 1e11) + (t_mb_rest + send / 1e11)
    dp_first += max(0.0, dp_inside_s - 2 * (t_mb_rest + send / 1e10)) + st.optimizer_s
    pp_first += max(0.0, pp_inside_dp_s - 2 * (t_mb_rest + send / 1e11)) + st.optimizer_s
    assert st.pp_in_scale_up == (pp_first < dp_first)
    assert st.step_s == pytest.approx(min(dp_first, pp_first))
    assert st.dp_s == pytest.approx(pp_inside_dp_s if st.pp_in_scale_up else dp_inside_s)


def test_data_parallel_bytes_flat_and_hierarchical() -> None:
    # DP4 with a 1-accelerator domain: ring reduce-scatter + all-gather of the gradients,
    # 2 x (4-1)/4 x P x 2 B over scale-out.
    f1 = replace(F, scale_up_domain=1)
    st = step_time(Layout(dp=4), M, f1, replace(RUN, global_batch_tokens=16000.0), 0.0)
    assert st.dp_s == pytest.approx(2 * 3 / 4 * 1e9 * 2 / 1e10)
    assert st.dp_exposed_s == pytest.approx(max(0.0, st.dp_s - st.micro_batch_s))
    # TP2 x DP8 on 8-GPU domains: 4 DP ranks per domain reduce over NVLink first, then 2
    # domains exchange a quarter of the bytes over scale-out.
    sh = step_time(Layout(tp=2, dp=8), M, F, replace(RUN, global_batch_tokens=16000.0), 0.0)
    p = 1e9 / 2
    inner = 2 * 3 / 4 * p * 2 / 1e11
    outer = 2 * 1 / 2 * p * 2 / 4 / 1e10
    assert sh.dp_s == pytest.approx(inner + outer)
    # FP8 weights (fp8_params): the all-gather moves 1 B per parameter, the reduce-scatter of
    # BF16 gradients still 2 B: (4-1)/4 x P x (2 + 1) B.
    fp8 = replace(RUN, global_batch_tokens=16000.0, param_gather_bytes=1.0)
    st8 = step_time(Layout(dp=4), M, f1, fp8, 0.0)
    assert st8.dp_s == pytest.approx(3 / 4 * 1e9 * (2 + 1) / 1e10)


def test_expert_all_to_all_bytes() -> None:
    moe = replace(M, params=4e9, active=1e9, experts=8, experts_per_token=2, moe_layers=8)
    st = step_time(Layout(dp=4, ep=4), moe, F, replace(RUN, global_batch_tokens=32000.0), 0.0)
    # 4 all-to-alls x (4-1)/4 x t x k x h x 2 B per MoE layer, EP group inside the domain, for
    # the busiest of the 4 ranks (random routing: 1 + sqrt(2 ln 4 / 2,000) = 1.037 the mean)
    x = busiest_rank(4, 1000, 2)
    assert x == pytest.approx(1.0372, abs=1e-4)
    assert st.ep_s == pytest.approx(4 * 3 / 4 * 1000 * 2 * 1024 * 2 * 8 / 1e11 * x)
    # routed experts: N_e = (N - N_a)/(1 - k/E) = 3e9 / 0.75 = 4e9 - ... held 1/EP per GPU
    assert moe.expert_params == pytest.approx(4e9)


def test_moe_routed_copies_memory_traffic_hand_computed() -> None:
    # k = 2 routed copies of every token in each of 8 MoE layers: 30 B per copy per hidden element
    # of permute / chunk sort / unsort / unpermute traffic (forward + backward), on top of the
    # dense layer's 140 B; FP8 adds the dense 100 B of casts and 10 B per extra copy.
    moe = replace(M, params=4e9, active=1e9, experts=8, experts_per_token=2, moe_layers=8)
    run = replace(RUN, global_batch_tokens=32000.0)
    t, h, layers = 1000, 1024, 8
    st = step_time(Layout(dp=4, ep=4), moe, F, run, 0.0)
    dense_b = 140 * h * layers * t
    copies_b = layers * 2 * h * 30 * t * busiest_rank(4, t, 2)  # the busiest EP rank's copies
    assert st.memory_s == pytest.approx((dense_b + copies_b) / 1e12)
    fp8 = step_time(Layout(dp=4, ep=4), moe, replace(F, cast_bytes_per_hidden=100.0), run, 0.0)
    fp8_b = 240 * h * layers * t + layers * 2 * h * (30 + 10 * 1 / 2) * t * busiest_rank(4, t, 2)
    assert fp8.memory_s == pytest.approx(fp8_b / 1e12)
    # a dense model has no routed copies; TP divides the copies' bytes as it does the rest
    assert step_time(Layout(dp=4), M, F, run, 0.0).memory_s == pytest.approx(dense_b / 1e12)
    # (at the default expert TP = TP2 the chunk sort and unsort, 16 B of the 30, run on the
    # expert TP group's gathered copies, twice a rank's dispatched ones: 30 + 16 B a copy,
    # session s22 fsdp2; at expert TP 1 the 30 B)
    tp2 = step_time(Layout(tp=2, dp=2, ep=2), moe, F, run, 0.0)
    copies_ep2 = copies_b / busiest_rank(4, t, 2) * busiest_rank(2, t, 2)
    assert tp2.memory_s == pytest.approx((dense_b + copies_ep2 * (30 + 16) / 30) / 2 / 1e12)
    tp2_etp1 = step_time(Layout(tp=2, dp=2, ep=2, expert_tp=1), moe, F, run, 0.0)
    copies_etp1 = copies_b / busiest_rank(4, t, 2) * busiest_rank(2, t / 2, 2)
    assert tp2_etp1.memory_s == pytest.approx((dense_b + copies_etp1) / 2 / 1e12)
    # the vectorised search charges the same bytes
    c = _candidate_arrays(4, moe, F, run)
    rate, _ = step_times_vector(c, moe, F, run)
    i = next(
        j
        for j in range(len(rate))
        if (c["dp"][j], c["ep"][j], c["tp"][j], c["pp"][j], c["mb"][j]) == (4, 4, 1, 1, 1)
    )
    assert rate[i] == pytest.approx(st.tokens_per_s, rel=1e-9)


def test_ep_comm_overlap_hand_computed() -> None:
    # EP4, k = 2, 8 MoE layers: 4 all-to-alls x 3/4 x t x k x h x 2 B = 98.3 MB a micro-batch.
    # Without the overlap the all-to-all is fully exposed, whatever the system's comm_overlap
    # (the expert GEMMs wait for the dispatch); with ep_comm_overlap it hides behind the
    # micro-batch's computation: GEMM 6 x 1e9 x 1000 / 0.5e15 = 12 ms, memory-bound
    # (140 x 1024 x 8 + 8 x 2 x 1024 x 30) x 1000 B / 1 TB/s = 1.638 ms, no attention.
    moe = replace(M, params=4e9, active=1e9, experts=8, experts_per_token=2, moe_layers=8)
    run = replace(RUN, global_batch_tokens=32000.0)
    # All 1e9 active parameters are routed experts here ((4e9 - 1e9) / (1 - 2/8) x 2/8), so the
    # busiest EP rank's share (random routing, x = 1.037) scales the GEMM, the routed copies and
    # the all-to-all.
    x = busiest_rank(4, 1000, 2)
    ep_b = 4 * 3 / 4 * 1000 * 2 * 1024 * 2 * 8 * x
    compute = 6 * 1e9 * 1000 / 0.5e15 * x + (140 * 1024 * 8 + 8 * 2 * 1024 * 30 * x) * 1000 / 1e12
    slow = replace(F, scale_up_bytes_per_s=5e9, comm_overlap=0.5)
    off = step_time(Layout(dp=4, ep=4), moe, slow, run, 0.0)
    assert off.ep_s == pytest.approx(ep_b / 5e9)  # all of it: 20.39 ms
    on = step_time(Layout(dp=4, ep=4, ep_comm_overlap=True), moe, slow, run, 0.0)
    assert on.gemm_s + on.attention_s + on.memory_s == pytest.approx(compute)
    assert on.ep_s == pytest.approx(ep_b / 5e9 - compute)  # 20.39 - 14.15 = 6.24 ms exposed
    assert on.micro_batch_s == pytest.approx(off.micro_batch_s - compute)
    assert "EP overlap" in str(on.layout) and "EP overlap" not in str(off.layout)
    # forward only: half the all-to-all traffic, none of it overlapped (Megatron-Core takes the
    # combined 1F1B path only `if config.overlap_moe_expert_parallel_comm and not forward_only`:
    # schedules.py @d98e8a64dd; session dsv3scale, was ep_b / 5e9 / 2 - compute / 3)
    fwd = step_time(Layout(dp=4, ep=4, ep_comm_overlap=True), moe, slow, run, forward_only=True)
    assert fwd.ep_s == pytest.approx(ep_b / 5e9 / 2)
    # training, PP1: the first micro-batch's forward and the last one's backward run alone
    # (combined_1f1b_schedule_for_no_pipelining): one micro-batch's hidden all-to-all a step
    assert on.ep_fill_s == pytest.approx(compute)  # the 14.15 ms the overlap hid
    m = on.micro_batches
    assert on.step_s == pytest.approx(
        m * on.micro_batch_s + compute + on.dp_exposed_s + on.optimizer_s
    )
    # at 10 GB/s the 10.2 ms all-to-all hides entirely behind the 14.15 ms of computation
    fast = replace(slow, scale_up_bytes_per_s=1e10)
    hidden = step_time(Layout(dp=4, ep=4, ep_comm_overlap=True), moe, fast, run, 0.0)
    assert hidden.ep_s == 0.0
    assert step_time(Layout(dp=4, ep=4), moe, fast, run, 0.0).ep_s == pytest.approx(ep_b / 1e10)


def test_node_limited_routing_crosses_scale_out_once_per_remote_node() -> None:
    # EP16 over two 8-accelerator domains, k=2 of 16 experts. The dispatch is hierarchical
    # (DeepEP normal / HybridEP): a token crosses scale-out (10 GB/s) once per remote node its
    # copies land on, then its k copies are forwarded over scale-up (100 GB/s); the slower of
    # the two sets the time. With M=4 a token reaches min(M, n=2, k=2) = 2 nodes, one of them
    # remote on average (2 · (2-1)/2 = 1 crossing).
    moe = replace(M, params=4e9, active=1e9, experts=16, experts_per_token=2, moe_layers=8)
    run = replace(RUN, global_batch_tokens=32000.0)
    t, h, layers = 1000, 1024, 8
    limited = step_time(Layout(dp=16, ep=16), replace(moe, max_nodes_per_token=4), F, run, 0.0)
    out_s, up_s = 4 * 1 * t * h * 2 / 1e10, 4 * 15 / 16 * t * 2 * h * 2 / 1e11
    assert out_s > up_s
    x16, x8 = busiest_rank(16, t, 2), busiest_rank(8, t, 2)  # the busiest EP rank's copies
    assert limited.ep_s == pytest.approx(out_s * layers * x16)
    # Without node-limited routing (balanced over the experts) a token's 2 copies land on
    # 2 · (1 - (1/2)^2) = 1.5 distinct nodes on average, half of them remote: 0.75 crossings.
    plain = step_time(Layout(dp=16, ep=16), moe, F, run, 0.0)
    assert plain.ep_s == pytest.approx(4 * 0.75 * t * h * 2 / 1e10 * layers * x16)
    # Inside one domain the limit changes nothing: every copy goes over scale-up.
    inside = step_time(Layout(dp=8, ep=8), replace(moe, max_nodes_per_token=4), F, run, 0.0)
    assert inside.ep_s == step_time(Layout(dp=8, ep=8), moe, F, run, 0.0).ep_s
    assert inside.ep_s == pytest.approx(4 * 7 / 8 * t * 2 * h * 2 / 1e11 * layers * x8)
    # The catalog's DeepSeek-V3 routes to at most 4 nodes (its report, section 4.2).
    assert model_figures(CATALOG.models["deepseek-v3"], 4096).max_nodes_per_token == 4


def test_balanced_routing_crosses_once_per_distinct_remote_node() -> None:
    # k=8 copies over n=4 nodes (EP32, 8 per domain): the expected distinct nodes of 8 uniform
    # draws is 4 · (1 - (3/4)^8) = 3.60; 3/4 of them remote: 2.70 crossings per token (not the
    # 8 · 31/32 = 7.75 copies of a flat all-to-all), forwarded over scale-up inside each node.
    moe = replace(M, params=40e9, active=4e9, experts=128, experts_per_token=8, moe_layers=8)
    run = replace(RUN, global_batch_tokens=64000.0)
    t, h, layers = 1000, 1024, 8  # one 1,000-token sequence per micro-batch
    st = step_time(Layout(dp=32, ep=32), moe, F, run, 0.0)
    crossings = 4 * (1 - 0.75**8) * 3 / 4
    assert crossings == pytest.approx(2.6996, abs=1e-4)
    out_s = 4 * crossings * t * h * 2 / 1e10
    up_s = 4 * 31 / 32 * t * 8 * h * 2 / 1e11
    assert st.ep_s == pytest.approx(max(out_s, up_s) * layers * busiest_rank(32, t, 8))


def test_weights_kept_in_fp8_hold_one_byte_per_parameter() -> None:
    # FP8 weights (parameter gather in FP8, Transformer Engine fp8_params) replace the BF16 copy
    # each rank holds: 1 byte per held parameter less; the sharded optimizer state is unchanged.
    bf16 = step_time(Layout(dp=2), M, F, RUN, 0.0)
    fp8 = step_time(Layout(dp=2), M, F, replace(RUN, param_gather_bytes=1.0), 0.0)
    assert bf16.memory_bytes - fp8.memory_bytes == pytest.approx(M.params * 1.0)


def test_fp8_layers_store_fp8_gemm_inputs() -> None:
    # Korthikanti et al.'s 34 bytes per hidden element per token per layer in BF16; in FP8
    # Transformer Engine keeps the 1-byte copies of the GEMM-only inputs (QKV 1, fc1 1, fc2 4
    # hidden elements) and adds a 1-byte copy of the attention output (flash attention keeps the
    # BF16 one): 34 - 6 x (2 - 1) + 1 x 1 = 29; NVFP4 4 bits + an E4M3 scale per 16 values.
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    by_precision = {}
    for p in ("bf16", "fp16", "fp8", "fp4"):
        f = train_figures(hw, p)
        assert f is not None
        by_precision[p] = f.activation_bytes_per_hidden
    q4 = 0.5 + 1 / 16
    assert by_precision == pytest.approx(
        {"bf16": 34.0, "fp16": 34.0, "fp8": 29.0, "fp4": 34 - 6 * (2 - q4) + q4}
    )
    # the stored activations of a layout scale with it; the recomputed layer's input stays 2 B
    f8 = replace(F, activation_bytes_per_hidden=29.0)
    st = step_time(Layout(), M, f8, RUN, 0.0)
    assert st.memory_bytes == pytest.approx(1e9 * 16 + 8 * 1000 * 1024 * 29)
    st1 = step_time(Layout(), M, f8, RUN, 1.0)
    assert st1.memory_bytes == pytest.approx(1e9 * 16 + 8 * 1000 * 1024 * 2)


def test_gb200_405b_fp8_recipe_recomputation_from_memory() -> None:
    # The Megatron-Bridge 25.11 GB200 Llama 3.1 405B FP8 row's layout (TP4 PP16 DP4 VP4, mb 1,
    # GBS 1,536 x 8,192; weights gathered in FP8, BF16 gradients, 16 B per parameter) without
    # the recipe's embedding and loss in the pipeline split (test_demand_pretrain), by hand from the
    # catalog: per GPU 186 GB x 0.9 usable; weights 1 B + gradients 2 B of N/64 held, the other
    # 12 B sharded over DP4; 8 layers a stage (ceil(126/64) x 4), 16 x (1 + 15/64) micro-batches
    # in flight (interleaved 1F1B), 8,192 tokens x 16,384 / TP4 each, 29 B (FP8) or 34 B (BF16)
    # per hidden element; a recomputed layer keeps 2 B. Recomputed share: the least multiple of
    # 1/20 that fits.
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    arch = CATALOG.models["llama-3.1-405b"]
    mf = model_figures(arch, 8192)
    run = RunFigures(8192, 1536 * 8192.0, 16.0, 2.0, 1.0)
    lay = Layout(tp=4, pp=16, dp=4, vp=4, micro_batch=1, tp_comm_overlap=True)
    usable = 186e9 * 0.9
    p_acc = arch.params / 64
    state = p_acc * (1 + 2) + p_acc * (16 - 2 - 2) / 4
    act_tokens = 8 * 16 * (1 + 15 / 64) * 8192 * 16384 / 4
    shares = {}
    for p, per_hidden in (("fp8", 29.0), ("bf16", 34.0)):
        f = train_figures(hw, p)
        assert f is not None
        full, ckpt = act_tokens * per_hidden, act_tokens * 2.0
        need = (full - (usable - state)) / (full - ckpt)
        r = math.ceil(need * 20 - 1e-9) / 20
        st = step_time(lay, mf, f, run)
        assert st.recompute == pytest.approx(r)
        assert st.memory_bytes == pytest.approx(state + full * (1 - r) + ckpt * r, rel=1e-9)
        shares[p] = r
    # 192 GB of FP8 activations and state against 167 GB: 20% recomputed (30% at 34 B)
    assert shares == {"fp8": 0.2, "bf16": 0.3}


def test_embedding_and_loss_in_the_pipeline_split_hand_computed() -> None:
    # 8 layers + the embedding + the loss = 10 slots over PP2 x v... : PP2 v1, 5 slots a stage:
    # the first stage holds 4 decoder layers (the embedding in the fifth slot), the last 4 (the
    # loss in the fifth); without the split 4 and 4. Interleaved PP2 v2 (10 slots / 4 = ceil 3,
    # 6 a stage): first stage 5 decoder layers, its first virtual stage 2 (the embedding the
    # third); the last 10 - 6 - 1 = 3 decoder layers beside the loss.
    run = replace(RUN, global_batch_tokens=16000.0)  # 16 sequences, m = 16 >= PP
    plain = step_time(Layout(pp=2), M, F, run, 0.0)
    split = step_time(Layout(pp=2, embedding_loss_in_pp_split=True), M, F, run, 0.0)
    per_layer_mb = 1000 * 1024 * 34  # t · hidden · 34 B
    state = plain.memory_bytes - 4 * 2 * per_layer_mb  # ls 4 x 2 micro-batches in flight
    # v1: each of the min(m, PP) = 2 micro-batches in flight holds ls - 1 = 4 layers (ls = 5)
    assert split.memory_bytes == pytest.approx(state + 4 * 2 * per_layer_mb)
    # the busiest of the first PP-1 stages is the first at PP2: 4 decoder layers, as the last
    assert split.gemm_s == pytest.approx(plain.gemm_s)
    iv = step_time(Layout(pp=2, vp=2, embedding_loss_in_pp_split=True), M, F, run, 0.0)
    # v = 2: f_pp = 2 x (1 + 1/4) = 2.5 micro-batches = 5 stage-chunk forwards of 3 layers,
    # 2·PP - 1 = 3 of them the first virtual stage's (2 layers): 5 x 3 - 3 = 12 layers
    assert iv.memory_bytes == pytest.approx(state + 12 * per_layer_mb)
    # the last stage: 3 decoder layers (no head: M has no vocabulary), slower than none; the
    # first stage's 5 set the pace: GEMM 6 x 1e9/8 x 5 layers x 1000 tokens at 0.5 PFLOP/s
    assert iv.gemm_s == pytest.approx(6 * 1e9 / 8 * 5 * 1000 / 0.5e15, rel=1e-6)
    assert not iv.last_stage
    # PP 1: nothing to split (the flag has no effect)
    one = step_time(Layout(embedding_loss_in_pp_split=True), M, F, RUN, 0.0)
    assert one.memory_bytes == step_time(Layout(), M, F, RUN, 0.0).memory_bytes


def test_memory_forces_recomputation() -> None:
    f = replace(F, usable_hbm_bytes=40e9)
    st = step_time(Layout(), M, f, RUN)
    state = 1e9 * 16
    full = 8 * 1 * 1000 * 1024 * 34
    assert st.recompute == 0.0 and st.memory_bytes == pytest.approx(state + full)
    tight = replace(F, usable_hbm_bytes=state + full / 2)
    st2 = step_time(Layout(), M, tight, RUN)
    assert 0.5 <= st2.recompute <= 0.55 and st2.fits
    # recomputation repeats the forward: GEMM time x (1 + r/3)
    assert st2.gemm_s == pytest.approx(st.gemm_s * (1 + st2.recompute / 3))


def test_layout_choice_small_model() -> None:
    # Llama 3.1 8B on one 8xH100 server, 4M tokens per step: the search returns the fastest
    # fitting layout (checked by brute force); with ZeRO-1 the full weights, gradients and
    # activations of DP8 would need recomputation, so it takes 2 pipeline stages instead.
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    f = train_figures(hw, "bf16")
    assert f is not None
    mf = model_figures(CATALOG.models["llama-3.1-8b"], 8192)
    run = RunFigures(8192, 4 * 2**20, 16.0, 2.0)
    choice = best_layout(8, mf, f, run)
    assert choice.best is not None
    every = [step_time(lay, mf, f, run) for lay in candidate_layouts(8, mf, f, run)]
    fastest = max((s for s in every if s.fits), key=lambda s: s.tokens_per_s)
    assert choice.best.tokens_per_s == fastest.tokens_per_s
    assert choice.best.recompute == 0 and choice.best.layout.accelerators == 8
    assert all(r.tokens_per_s <= choice.best.tokens_per_s for r in choice.runner_ups)
    # 70B: 16 B/param = 1.12 TB > 8 x 72 GB: nothing fits one server; on 32 GPUs the layout
    # must split the weights (TP x PP >= 4: 280 GB of weights + gradients over 72 GB each).
    mf70 = model_figures(CATALOG.models["llama-3.1-70b"], 8192)
    assert best_layout(8, mf70, f, run).best is None
    best70 = best_layout(32, mf70, f, run).best
    assert best70 is not None and best70.layout.tp * best70.layout.pp >= 4


def test_young_daly_goodput_hand_computed() -> None:
    rel = CATALOG.system("hgx-h100").reliability
    assert rel is not None
    rel = rel.model_copy(
        update=dict(
            failures_per_accelerator_hour=1e-4,
            planned_interruptions_per_accelerator_hour=0.0,
            restart_s=600.0,
            repair_s=3600.0 * 10,
            failure_domain=8,
            checkpoint_bandwidth_bytes_per_s=1e8,
        )
    )
    gp = derive_goodput(rel, 1000, 1e12)
    mtbf = 3600 / (1e-4 * 1000)  # 10 h
    write = 1e12 / (1000 * 1e8)  # 10 s
    tau = math.sqrt(2 * write * mtbf)  # Young/Daly
    waste = write / tau + tau / 2 / mtbf + 600 / mtbf
    repair = 8 * 1e-4 * 10
    assert gp.mtbf_s == pytest.approx(mtbf)
    assert gp.checkpoint_interval_s == pytest.approx(tau)
    assert gp.goodput == pytest.approx((1 - waste) * (1 - repair))


def test_nvl72_failure_domain_costs_more_than_hgx() -> None:
    # Same per-GPU failure rate; a failure takes out 72 GPUs instead of 8.
    h = CATALOG.system("hgx-h100").reliability
    g = CATALOG.system("gb200-nvl72").reliability
    assert h is not None and g is not None
    a = derive_goodput(h, 16384, 6.48e12)
    b = derive_goodput(g, 16384, 6.48e12)
    assert b.repair_share == pytest.approx(9 * a.repair_share)
    assert b.goodput < a.goodput
    # Llama 3 (16,384 H100, 419 failures in 54 days): MTBF ~3 h, goodput > 90%
    assert a.mtbf_s / 3600 == pytest.approx(3.09, abs=0.02)
    assert 0.90 < a.goodput < 0.93


def test_fp8_is_not_twice_bf16() -> None:
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    mf = model_figures(CATALOG.models["llama-3.1-70b"], 8192)
    run = RunFigures(8192, 2**23, 16.0, 2.0)
    lay = Layout(tp=8, pp=4, dp=4, vp=5)
    fb, f8 = train_figures(hw, "bf16"), train_figures(hw, "fp8")
    assert fb is not None and f8 is not None
    speedup = step_time(lay, mf, f8, run).tokens_per_s / step_time(lay, mf, fb, run).tokens_per_s
    assert 1.1 < speedup < 1.7


def test_estimate_pretrain_cli_layout_mfu_goodput(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from cli import main

    args = ["estimate", "pretrain", "--model", "llama-3.1-405b", "--system", "hgx-h100"]
    args += ["--tokens", "15T", "--global-batch-tokens", "16M", "--units", "2048"]
    code = main([*args, "--layout", "tp=8,pp=16,dp=128,vp=8,mb=1", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["layout"] == "TP8 x PP16 x DP128 (v8), mb 1"
    assert data["job_accelerators"] == 16384 and 0.37 < data["mfu"] < 0.44
    assert data["goodput_derived"] and 0.9 < data["goodput"] < 0.93
    code = main(args)
    table = capsys.readouterr().out
    assert code == 0 and "MFU" in table and "derived" in table and "runner-up" in table
    assert main([*args, "--layout", "tp=8,zz=2"]) == 1


def test_rl_trainer_rate_is_derived() -> None:
    from planner.demand.rl import rl_rates
    from planner.kinds.rl import RLSpec

    spec = RLSpec.model_validate(
        dict(
            kind="rl",
            policy="llama-3.1-70b",
            problems="100K",
            samples_per_problem=8,
            prompt_tokens=1000,
            completion_tokens=4000,
            kept_fraction=0.5,
            samples_per_update="4096",
            deadline="30 days",
        )
    )
    assert spec.goodput is None
    rate = rl_rates(spec, CATALOG, "hgx-h100")["train"]
    assert rate.feasible and "MFU" in rate.reason and "derived goodput" in rate.reason
    given = rl_rates(spec.model_copy(update={"goodput": 0.5}), CATALOG, "hgx-h100")["train"]
    assert "goodput 0.5 (given)" in given.reason


def test_training_figures_name_their_sources() -> None:
    h100 = CATALOG.accelerators["h100-sxm"]
    assert "Llama 3" in h100.source_of("training.gemm_efficiency.bf16")
    assert "MLPerf" in h100.source_of("training.gemm_efficiency.fp8")
    nvl = CATALOG.system("gb200-nvl72")
    assert "72-GPU" in nvl.source_of("reliability.failure_domain")
    assert "Llama 3" in CATALOG.system("hgx-h100").source_of(
        "reliability.failures_per_accelerator_hour"
    )


def test_layout_choice_hand_computed_two_accelerators() -> None:
    # The round 1e9-parameter model of the tests above on 2 accelerators, 8 sequences of 1,000
    # tokens per step. Per micro-batch of 1 sequence on one accelerator: GEMM 6e9 x 1000 /
    # 0.5e15 = 12 ms, memory-bound 140 x 1024 x 8 layers x 1000 / 1e12 = 1.147 ms.
    gemm, mem = 12e-3, 140 * 1024 * 8 * 1000 / 1e12
    opt_full = 2 * 16 * 1e9 / 1e12  # optimizer: read + write 16 B/param of the held params
    # DP2 (mb 1): m = 4; gradients 2 x 1/2 x 1e9 x 2 B over scale-up (1e11 B/s) = 20 ms, of
    # which t_mb is hidden; optimizer over half the params.
    dp = step_time(Layout(dp=2), M, F, RUN, 0.0)
    t_mb = gemm + mem
    assert dp.step_s == pytest.approx(4 * t_mb + (0.02 - t_mb) + opt_full / 2)
    # PP2: m = 8, half the layers each, sends 2 x 1000 x 1024 x 2 B per micro-batch over
    # scale-up (both stages in one domain), bubble one micro-batch.
    pp = step_time(Layout(pp=2), M, F, RUN, 0.0)
    t_pp = (gemm + mem) / 2 + 2 * 1000 * 1024 * 2 / 1e11
    assert pp.step_s == pytest.approx(9 * t_pp + opt_full / 2)
    # TP2: m = 8, half of each layer, 8 x 1/2 x 1000 x 1024 x 2 B x 8 layers over scale-up.
    tp = step_time(Layout(tp=2), M, F, RUN, 0.0)
    t_tp = (gemm + mem) / 2 + 8 * 0.5 * 1000 * 1024 * 2 * 8 / 1e11
    assert tp.step_s == pytest.approx(8 * t_tp + opt_full / 2)
    # TP2 (~73.8 ms) beats DP2 (~75.44 ms) and PP2 (~75.53 ms) at mb 1; the search also tries
    # larger micro-batches, which hide DP2's gradient exchange: DP2 with mb 2 (68.6 ms) wins.
    assert tp.step_s < dp.step_s < pp.step_s
    dp2 = step_time(Layout(dp=2, micro_batch=2), M, F, RUN, 0.0)
    assert dp2.step_s == pytest.approx(2 * 2 * t_mb + opt_full / 2)
    best = best_layout(2, M, F, RUN).best
    assert best is not None and best.step_s == pytest.approx(dp2.step_s)
    assert best.layout.dp == 2 and best.layout.micro_batch in (2, 4)


@pytest.mark.parametrize(
    ("model", "system", "precision", "accelerators", "seq", "batch_tokens"),
    [
        ("llama-3.1-405b", "hgx-h100", "bf16", 16384, 8192, 16 * 2**20),
        ("llama-3.1-405b", "gb200-nvl72", "bf16", 4608, 8192, 16 * 2**20),
        ("llama-3.1-405b", "trn2-ultraserver", "bf16", 19072, 8192, 16 * 2**20),
        ("gpt-3-175b", "hgx-h100", "fp8", 10752, 2048, 2688 * 2048),
        ("llama-3.1-70b", "hgx-b200", "fp8", 1000, 8192, 4 * 2**20),
        ("llama-3.1-8b", "hgx-h100", "bf16", 64, 8192, 2**20),
        ("deepseek-v3", "hgx-h100", "fp8", 2048, 4096, 15360 * 4096),
        ("deepseek-v3", "hgx-b200", "fp8", 256, 4096, 4096 * 4096),
        # whole NVL72 racks: EP and PP groups of 32/64 straddle racks (in_one_domain), and a
        # size that is not whole racks places them inside
        ("deepseek-v3", "gb200-nvl72", "fp8", 576, 4096, 4608 * 4096),
        ("deepseek-v3", "gb200-nvl72", "fp8", 512, 4096, 4096 * 4096),
        # balanced routing (no node limit) across servers: hierarchical dispatch's crossings
        ("qwen3-235b-a22b", "hgx-h100", "fp8", 256, 4096, 8192 * 4096),
    ],
)
def test_vectorised_search_matches_brute_force(
    model: str, system: str, precision: str, accelerators: int, seq: int, batch_tokens: int
) -> None:
    # The array ranking (step_times_vector) only shortlists; the chosen layout, its figures, the
    # runner-ups and the count of fitting candidates equal step_time over every candidate.
    hw = hardware(CATALOG, system)
    assert hw is not None
    f = train_figures(hw, precision)
    assert f is not None
    mf = model_figures(CATALOG.models[model], seq)
    run = RunFigures(seq, float(batch_tokens), 16.0, 2.0)
    every = search_all(accelerators, mf, f, run)
    choice = best_layout(accelerators, mf, f, run)
    assert every and choice.best is not None
    assert choice.best == every[0]
    assert choice.runner_ups == every[1:4]
    assert choice.candidates == len(every)
    rate, memory = step_times_vector(_candidate_arrays(accelerators, mf, f, run), mf, f, run)
    scalar = [step_time(lay, mf, f, run) for lay in candidate_layouts(accelerators, mf, f, run)]
    assert rate.tolist() == pytest.approx([st.tokens_per_s for st in scalar], rel=1e-9)
    assert memory.tolist() == pytest.approx([st.memory_bytes for st in scalar], rel=1e-9)


def test_sizes_searched_together_rank_as_each_alone() -> None:
    # A job and its rounded-down sizes are ranked in one array pass (search_sizes); each size's
    # answer (layouts, figures, how many fit) is bit for bit its search alone, and a size with
    # no candidate (none divides it) stays empty beside the others.
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    f = train_figures(hw, "bf16")
    assert f is not None
    mf = model_figures(CATALOG.models["llama-3.1-70b"], 8192)
    run = RunFigures(8192, 4096.0 * 8192, 16.0, 2.0)
    sizes = (1016, 1008, 992, 960, 896, 768, 512)
    training._SEARCHES.cache_clear()
    alone = []
    for size in sizes:
        training._SEARCHES.cache_clear()
        alone.append(search_sizes((size,), mf, f, run)[0])
    training._SEARCHES.cache_clear()
    together = search_sizes(sizes, mf, f, run)
    assert together == alone
    assert all(found and count > 0 for found, count in together)
    assert [st.layout.accelerators for st in (found[0] for found, _ in together)] == list(sizes)
    training._SEARCHES.cache_clear()
    empty_beside = search_sizes((1016, 0), mf, f, run)
    assert empty_beside == [alone[0], ((), 0)]


def test_last_stage_carries_the_head_and_sets_the_pace_by_hand() -> None:
    # The round figures above (F), a dense 8-layer model with a 1,000-word untied vocabulary of
    # 1,024-wide vectors: 2 x 1.024M of its 1e9 active parameters are the embedding (a lookup)
    # and the head, the layers hold the rest. PP2, 4 layers a stage, 1,000 tokens a micro-batch.
    # Busiest first stage: 6 x (1e9 - 2.048e6)/8 x 4 x 1000 FLOP at 0.5e15, 140 B per hidden
    # element per layer per token at 1e12 B/s. Last stage: the same 4 layers + the head's
    # 6 x 1,000 x 1,024 x 1,000 FLOP at the BF16 rate (head_gemm_efficiency 0.25 here: half the
    # layers' fraction) + the loss's 6 B per logit; PP sends 2 x 1000 x 1024 x 2 B at 100 GB/s
    # (the replica TP x PP = 2 fits the scale-up domain: PP inside it).
    f = replace(F, head_gemm_efficiency=0.25)
    mf = replace(M, vocab=1000)
    run = RunFigures(1000, 8000.0, 16.0, 2.0)
    st = step_time(Layout(pp=2), mf, f, run, 0.0)
    layers = 6 * (1e9 - 2 * 1000 * 1024) / 8 * 4 * 1000 / 0.5e15
    head = 6 * 1000 * 1024 * 1000 / 0.25e15
    memory = 140 * 1024 * 4 * 1000 / 1e12
    loss = 6 * 1000 * 1000 / 1e12
    send = 2 * 1000 * 1024 * 2 / 1e11
    assert st.last_stage and st.stage_layers == 4 and st.pp_in_scale_up
    assert st.gemm_s == pytest.approx(layers) and st.head_s == pytest.approx(head)
    assert st.memory_s == pytest.approx(memory + loss)
    assert st.micro_batch_s == pytest.approx(layers + head + memory + loss + send)
    # Without the vocabulary the head's FLOPs spread over the layers as active parameters and
    # the stages are equal: 6 x 1e9/8 x 4 x 1000 FLOP a stage.
    spread = step_time(Layout(pp=2), M, f, run, 0.0)
    assert not spread.last_stage and spread.head_s == 0.0
    assert spread.gemm_s == pytest.approx(6 * 1e9 / 8 * 4 * 1000 / 0.5e15)
    # 5 layers on PP2: ls = 3, the last stage holds the remainder 2 + the head; with MTP (one
    # layer and a 2 x 1024 x 1024 projection, one more head) it holds 3 layer-equivalents.
    mf5 = replace(mf, layers=5, mtp_layers=1)
    st5 = step_time(Layout(pp=2), mf5, f, run, 0.0)
    per_layer = 6 * (1e9 - 2 * 1000 * 1024) / 5 * 1000 / 0.5e15
    proj = 6 * 2 * 1024 * 1024 * 1000 / 0.5e15
    assert st5.last_stage and st5.stage_layers == 3
    assert st5.gemm_s == pytest.approx(3 * per_layer + proj)
    assert st5.head_s == pytest.approx(2 * head)
    assert st5.memory_s == pytest.approx(140 * 1024 * 3 * 1000 / 1e12 + 2 * loss)
    # A forward-only pass runs a third of the head and of the loss's bytes.
    fwd = step_time(Layout(pp=2), mf, f, run, forward_only=True)
    assert fwd.last_stage and fwd.head_s == pytest.approx(head / 3)
    assert fwd.memory_s == pytest.approx((memory + loss) / 3)


def test_deepseek_v3_b200_last_stage_by_hand() -> None:
    # The Megatron-Bridge 26.02 B200 row's layout (TP1 PP16 DP16 EP8, 4,096-token micro-batches,
    # MXFP8 as FP8): the last stage holds 61 - 15 x 4 = 1 decoder layer, the MTP module and the
    # output head twice, from catalog figures (hgx-b200: 4.5 PFLOP/s FP8 at 0.482 (refitted 0.478 -> 0.482, session s34 fit) and half-width 560,
    # 2.25 PFLOP/s BF16 at 0.48 (fitted, session s33) and half-width 140 for the heads, 8 TB/s at 0.7, NVLink 900 GB/s one way x 0.8, InfiniBand 50 GB/s x 0.8;
    # DeepSeek-V3: 671B / 37B active, 256 experts, 8 a token, 58 MoE layers, vocab 129,280).
    hw = hardware(CATALOG, "hgx-b200")
    assert hw is not None
    f = train_figures(hw, "fp8")
    assert f is not None
    assert (f.peak_flops, f.gemm_efficiency, f.peak_bf16_flops, f.head_gemm_efficiency) == (
        4.5e15,
        0.482,
        2.25e15,
        0.48,
    )
    assert (f.gemm_half_width, f.head_gemm_half_width) == (560, 140)
    arch = CATALOG.models["deepseek-v3"]
    mf = model_figures(arch, 4096)
    assert (arch.vocab, arch.mtp_layers) == (129280, 1)
    run = RunFigures(4096, 4096 * 4096.0, 16.0, 2.0, 1.0)
    st = step_time(Layout(tp=1, pp=16, dp=16, ep=8), mf, f, run, 0.0)
    h, v, t = 7168, 129280, 4096
    experts = (671e9 - 37e9) / (1 - 8 / 256)  # N_e from N = N_d + N_e, N_a = N_d + k/E N_e
    expert_active = experts * 8 / 256
    dense_layers = 37e9 - expert_active - 2 * v * h
    # every dense linear at its own reduction widths (dense_linears): forward K, data-gradient
    # K = the output features, weight-gradient K = the tokens; FLOP-weighted, times add. At TP1
    # nothing is split. DeepSeek-V3's MLA (q down 7,168 -> 1,536, q up 1,536 -> 128 x 192, kv
    # down 7,168 -> 576, kv up 512 -> 128 x 256, out 16,384 -> 7,168) on every layer, the dense
    # FFN (gated, 18,432) on 3/61, the shared expert (gated, 2,048) and the router (7,168 ->
    # 256) on 58/61
    moe_share = 58 / 61
    linears = [
        (h, 1536, 1.0),
        (1536, 128 * 192, 1.0),
        (h, 576, 1.0),
        (512, 128 * 256, 1.0),
        (128 * 128, h, 1.0),
        (h, 2 * 18432, 3 / 61),
        (18432, h, 3 / 61),
        (h, 2 * 2048, moe_share),
        (2048, h, moe_share),
        (h, 256, moe_share),
    ]

    def per_gemm(lins: list[tuple[float, float, float]], w: float) -> float:
        flops = sum(3 * c * k * n for k, n, c in lins)
        time = sum(c * k * n * ((k + w) / k + (n + w) / n + (t + w) / t) for k, n, c in lins)
        return t / (t + 256) * flops / time

    shape_d = per_gemm(linears, 560)
    assert shape_d == pytest.approx(0.824, abs=1e-3)  # 0.873 at one K = hidden
    shape_head = per_gemm([(h, v, 1.0)], 140)  # the BF16 output head, 7,168 -> 129,280
    # the expert GEMMs: 4,096 x 8 x 8 / 256 = 1,024 tokens an expert, hidden 7,168, and the
    # expert FFN's width w = 2,048: fc1 (gate + up, 2w = 4,096 wide) at 4,096/4,656, fc2 at
    # 2,048/2,608, weighted 2 : 1 by FLOPs (times add); 0.9600 at the former half-width 128
    width = 3 / (2 * (4096 + 560) / 4096 + (2048 + 560) / 2048)
    assert width == pytest.approx(0.8458, abs=1e-4)
    shape_e = 1024 / (1024 + 256) * h / (h + 560) * width
    # the busiest of the 8 EP ranks under random routing: 32,768 copies on average a rank
    x = 1 + math.sqrt(2 * math.log(8) / (t * 8))
    assert x == pytest.approx(1.0113, abs=1e-4)
    moe = 58 / 61 + 1  # the decoder layer's share of MoE layers + the MTP module
    gemm = 6 * (dense_layers / 61 * 2 + 2 * h * h) * t / (4.5e15 * 0.482 * shape_d) + 6 * (
        expert_active / 58 * moe
    ) * t * x / (4.5e15 * 0.482 * shape_e)
    heads = 2 * 6 * v * h * t / (2.25e15 * 0.48 * shape_head)
    memory = ((140 + 100) * h * 2 + 8 * h * (30 + 10 * 7 / 8) * moe * x + 2 * 6 * v) * t / 5.6e12
    ep = 4 * 7 / 8 * t * 8 * h * 2 / (900e9 * 0.8) * moe * x  # EP8 inside NVLink, exposed
    pp = 0.5 * 2 * t * h * 2 / (50e9 * 0.8)  # comm_overlap 0.5, PP over InfiniBand
    assert st.last_stage and st.stage_layers == 2
    assert st.gemm_s == pytest.approx(gemm, rel=1e-9)
    assert st.head_s == pytest.approx(heads, rel=1e-9)
    assert st.memory_s == pytest.approx(memory, rel=1e-9)
    assert st.ep_s == pytest.approx(ep, rel=1e-9) and st.pp_s == pytest.approx(pp, rel=1e-9)
    attention = st.micro_batch_s - gemm - heads - memory - ep - pp
    assert attention == pytest.approx(st.attention_s, rel=1e-9)
    # 69.8 ms before the expert FFN width and the busiest EP rank, 70.5 ms before the measured
    # per-precision half-width, 71.6 before each dense linear at its own shape and the FP8 and
    # BF16 fractions refitted under it (0.507 -> 0.478, 0.61 -> 0.58): 75.0; 82.9 with the B200
    # die's BF16 fitted 0.58 -> 0.48 (session s33: the two BF16 heads x 0.58 / 0.48); 82.7 with
    # its FP8 refitted under it 0.478 -> 0.482 (session s34 fit: the layer GEMMs' 20.77 ms x
    # 0.478 / 0.482 = 20.60) (measured 89.9)
    assert st.micro_batch_s == pytest.approx(0.0827, abs=0.0001)


def test_mtp_modules_train_in_pretraining_only() -> None:
    # DeepSeek-V3's MTP module (catalog mtp_layers 1) is trained by default; a run without it
    # (RL, the calibration rows marked `mtp: false`) passes mtp=False; the vocabulary stays.
    arch = CATALOG.models["deepseek-v3"]
    assert model_figures(arch, 4096).mtp_layers == 1
    off = model_figures(arch, 4096, mtp=False)
    assert off.mtp_layers == 0 and off.vocab == 129280
    assert model_figures(CATALOG.models["gpt-3-175b"], 2048).vocab == 0  # tied: not given


def test_expert_ffn_width_in_the_expert_gemm_shape() -> None:
    # Qwen3-30B-A3B's experts (catalog moe.expert_ffn 768, hidden 2,048) at GB200's FP8
    # gemm_half_width 560: fc1 (gate + up) 1,536 wide at 1,536/2,096 = 0.733, fc2 768 at
    # 768/1,328 = 0.578; fc1 has twice fc2's FLOPs and times add: 3 / (2/0.733 + 1/0.578) =
    # 0.673 (0.900 at the former one-number half-width 128).
    arch = CATALOG.models["qwen3-30b-a3b"]
    mf = model_figures(arch, 4096)
    assert mf.expert_ffn == 768
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    f = train_figures(hw, "fp8")
    assert f is not None and f.gemm_half_width == 560
    by_hand = 3 / (2 * 2096 / 1536 + 1328 / 768)
    assert by_hand == pytest.approx(0.673, abs=1e-3)
    assert expert_width_shape(mf, 1, f) == pytest.approx(by_hand, rel=1e-12)
    # TP shards the expert FFN (fc1's columns, fc2's rows): w = 384 at TP2
    assert expert_width_shape(mf, 2, f) == pytest.approx(3 / (2 * 1328 / 768 + 944 / 384))
    # DeepSeek-V3's wider experts (2,048) lose less: 0.846; a dense model nothing
    ds = model_figures(CATALOG.models["deepseek-v3"], 4096)
    assert expert_width_shape(ds, 1, f) == pytest.approx(3 / (2 * 4656 / 4096 + 2608 / 2048))
    assert expert_width_shape(M, 1, f) == 1.0
    # the step charges it: the same MoE layout without the width runs its expert GEMMs faster
    run = RunFigures(4096, 512 * 4096.0, 16.0, 2.0, 1.0)
    st = step_time(Layout(dp=8, ep=8, micro_batch=4), mf, f, run, 0.0)
    wide = step_time(Layout(dp=8, ep=8, micro_batch=4), replace(mf, expert_ffn=0), f, run, 0.0)
    assert st.gemm_s > wide.gemm_s


def test_busiest_ep_rank_under_random_routing() -> None:
    # Megatron's force-balanced benchmarks draw random router logits: each rank's routed copies
    # are ~Binomial with mean t·k; the busiest of EP ranks ≈ μ + sqrt(2 μ ln EP).
    moe = replace(M, params=40e9, active=4e9, experts=128, experts_per_token=8, moe_layers=8)
    # DeepSeek-V3-like: 4,096 tokens x 8 copies over EP64: 1 + sqrt(2 ln 64 / 32,768) = 1.0159
    assert ep_load_imbalance(moe, 4096, 64) == pytest.approx(
        1 + math.sqrt(2 * math.log(64) / 32768)
    )
    assert ep_load_imbalance(moe, 4096, 64) == pytest.approx(1.0159, abs=1e-4)
    # one rank, or a dense model: no imbalance
    assert ep_load_imbalance(moe, 4096, 1) == 1.0
    assert ep_load_imbalance(M, 4096, 8) == 1.0
    # a token's 8 copies over 64 ranks of 2 experts each: 1 + sqrt(2 ln 64 / 8) = 2.02; a tenth
    # of a token over 2 ranks would give 2.32: capped at every copy landing on one rank's
    # experts, EP·min(k, E/EP)/k = 2
    assert ep_load_imbalance(moe, 1, 64) == pytest.approx(1 + math.sqrt(2 * math.log(64) / 8))
    assert ep_load_imbalance(moe, 0.1, 2) == pytest.approx(2.0)
    # arrays (the layout search) give the scalar values
    arr = ep_load_imbalance(moe, np.array([4096.0, 4096.0, 0.1]), np.array([64.0, 1.0, 2.0]))
    assert arr.tolist() == pytest.approx([ep_load_imbalance(moe, 4096, 64), 1.0, 2.0])


def test_expert_gemm_fraction_slows_the_expert_gemms_alone() -> None:
    # Session s31 moe: H100's FP8 expert_gemm_fraction g (0.35, 0.37 since session s32 pergemm; fitted to the Megatron-Bridge
    # H100 FP8 MoE rows) divides the routed experts' GEMM rate: expert shape = g · M/(M + 256) ·
    # K/(K + 450) · expert_width_shape; BF16 (not given) and a fused grouped GEMM keep 1.
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    f = train_figures(hw, "fp8")
    fb = train_figures(hw, "bf16")
    assert f is not None and fb is not None
    assert f.expert_gemm_fraction == 0.37 and fb.expert_gemm_fraction == 1.0
    mf = model_figures(CATALOG.models["qwen3-30b-a3b"], 4096)
    by_hand = 0.37 * 4096 / (4096 + 256) * 2048 / (2048 + 450) * expert_width_shape(mf, 1, f)
    assert expert_gemm_shape(4096, 2048, mf, 1, f, False) == pytest.approx(by_hand, rel=1e-12)
    assert expert_gemm_shape(4096, 2048, mf, 1, f, True) == pytest.approx(by_hand / 0.37)
    # the step: GEMM time = dense + experts / g, so the g = 0.25 and 0.5 steps lie on one line
    run = RunFigures(4096, 1024 * 4096.0, 16.0, 2.0, 1.0)
    lay = Layout(dp=16, ep=16)

    def gemm_s(g: float, fused: bool = False) -> float:
        return step_time(
            replace(lay, fused_grouped_gemm=fused),
            mf,
            replace(f, expert_gemm_fraction=g),
            run,
            0.0,
        ).gemm_s

    one, half, quarter = gemm_s(1.0), gemm_s(0.5), gemm_s(0.25)
    assert half > one
    assert quarter - one == pytest.approx(3.0 * (half - one), rel=1e-9)
    # a fused grouped GEMM (DeepGEMM) runs at the dense rate whatever the fraction
    assert gemm_s(0.35, fused=True) == pytest.approx(one, rel=1e-12)
    # a dense model has no expert GEMMs: unaffected
    dense = step_time(Layout(dp=16), M, replace(f, expert_gemm_fraction=0.25), RUN, 0.0)
    assert dense.gemm_s == pytest.approx(step_time(Layout(dp=16), M, f, RUN, 0.0).gemm_s)


def test_catalog_ffn_fields_are_checked() -> None:
    """ffn and ffn_gated (session s32 pergemm) go together, are refused on a MoE model without
    dense layers, and a width whose dense FFNs exceed the parameters is refused."""
    from pydantic import ValidationError

    from hardware.schema import ModelArch

    base = CATALOG.models["llama-3.1-8b"].model_dump(by_alias=True)
    assert ModelArch.model_validate(base).ffn == 14_336
    for change, says in (
        ({"ffn_gated": None}, "ffn and ffn_gated go together"),
        ({"ffn": 143_360}, "exceed params"),
    ):
        with pytest.raises(ValidationError, match=says):
            ModelArch.model_validate({**base, **change})
    moe = CATALOG.models["qwen3-30b-a3b"].model_dump(by_alias=True)
    with pytest.raises(ValidationError, match="has no dense layers"):
        ModelArch.model_validate({**moe, "ffn": 6_144, "ffn_gated": True})
