"""Expert tensor parallelism (session etp): a layout's `expert_tp` (Megatron-Core
expert_tensor_parallel_size; 0 = TP) splits each routed expert over ETP ranks and the experts over
EP groups of them. Hand computations from the catalog's figures: memory per GPU at ETP 1 vs TP
(Qwen3-235B, DeepSeek-V3), the expert GEMMs' shape, the all-to-all and TP bytes, the expert DP
group, a pinned layout refused when its experts do not fit at the true ETP, and the CLI key."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from hardware.catalog import load_catalog
from planner.calibration import training as ct
from planner.demand.common import hardware
from planner.demand.training import (
    Layout,
    RunFigures,
    best_layout,
    expert_parallel_problem,
    model_figures,
    step_time,
    train_figures,
)

CATALOG = load_catalog()


def _experts(name: str) -> tuple[float, float]:
    """(N_e, N_dense) from the catalog: N = N_d + N_e, N_a = N_d + k/E N_e."""
    m = CATALOG.models[name]
    assert m.moe is not None
    k, e = m.moe.active_experts, m.moe.experts
    n_e = (m.params - m.active) / (1 - k / e)
    return n_e, m.params - n_e


def _h100(precision: str = "bf16"):
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    f = train_figures(hw, precision)
    assert f is not None
    return f


def test_qwen3_235b_memory_per_gpu_etp1_vs_tp4_by_hand() -> None:
    """NeMo-RL v0.6's 1-step off-policy trainer layout, TP4 PP8 EP16 on 128 H100 (DP4), BF16
    weights and gradients, 16 B a parameter (FP32 master + Adam moments on the shard), full
    recomputation. N_e = (235e9 - 22e9) / (1 - 8/128) = 227.2e9, N_d = 7.8e9.
    Expert TP 4 (the planner's former expert TP = TP): N_e / (4 x 8 x 16) = 0.444e9 expert
    parameters a GPU; expert TP 1 (the recipe's): 1.775e9, 4x. Weights + gradients 4 B each:
    1.78 GB vs 7.10 GB; the optimizer shard is N_e / (TP4 x PP8 x DP4) = 1.775e9 / 16 either
    way: the expert DP group is TP·DP·CP/(ETP·EP) ranks, 16 / (4 x 16) = 1/4 of a rank's worth
    at ETP 4 (the model's N_e/(ETP·PP·EP) x ETP·EP/(TP·DP·CP) in either case)."""
    n_e, n_d = _experts("qwen3-235b-a22b")
    assert n_e == pytest.approx(227.2e9, rel=1e-3)
    mf = model_figures(CATALOG.models["qwen3-235b-a22b"], 8192)
    f = _h100()
    run = RunFigures(8192, 512 * 8192, 16.0, 2.0)
    lay = Layout(tp=4, pp=8, dp=4, ep=16)
    st4 = step_time(lay, mf, f, run, recompute=1.0)
    st1 = step_time(replace(lay, expert_tp=1), mf, f, run, recompute=1.0)
    assert st4.layout.etp == 4 and st1.layout.etp == 1
    p_dense = n_d / (4 * 8)
    for etp, st in ((4, st4), (1, st1)):
        p_exp = n_e / (etp * 8 * 16)
        # the optimizer shard: dense over DP·CP = 4, experts over TP·DP·CP/(ETP·EP) ranks
        p_shard = p_dense / 4 + p_exp / (4 * 4 / (etp * 16))
        state = (p_dense + p_exp) * (2 + 2) + p_shard * (16 - 2 - 2)
        ls = math.ceil(94 / 8)
        act = ls * min(512 * 8192 / (8192 * 4), 8) * 8192 * 4096 / 4 * 2.0  # layer inputs
        assert st.memory_bytes == pytest.approx(state + act, rel=1e-9)
    assert n_e / (1 * 8 * 16) == pytest.approx(1.775e9, rel=1e-3)
    # the experts' weights and gradients at 4x, their optimizer state the same
    assert st1.memory_bytes - st4.memory_bytes == pytest.approx(
        n_e * (1 / 128 - 1 / 512) * 4.0, rel=1e-9
    )
    assert st1.memory_bytes - st4.memory_bytes == pytest.approx(5.33e9, rel=2e-3)


def test_deepseek_v3_memory_per_gpu_etp1_vs_tp2_by_hand() -> None:
    """The Megatron-Bridge 25.09 H100 row (TP2 PP8 DP64 EP64, FP8 weights gathered, BF16
    gradients, 16 B a parameter): N_e = (671e9 - 37e9) / (1 - 8/256) = 654.45e9; a GPU holds
    654.45e9 / (ETP x 8 x 64) experts: 0.639e9 at ETP 2, 1.278e9 at the recipe's ETP 1;
    weights (1 B, the FP8 gather) + gradients (2 B): 1.92 vs 3.83 GB; the optimizer shard
    N_e / (TP2 x PP8 x DP64) = 0.639e9 / 64 either way."""
    n_e, n_d = _experts("deepseek-v3")
    assert n_e == pytest.approx(654.45e9, rel=1e-4)
    row = next(r for r in ct.runs() if r["id"] == "mbridge2509-deepseek-v3-fp8-h100-1024gpu")
    assert row["layout"]["expert_tp"] == 1
    sts = {}
    for etp in (0, 1):
        lay = {**row["layout"], "expert_tp": etp}
        sts[etp] = ct._step(CATALOG, row, lay, 4096, row["global_batch_tokens"])
    assert sts[0].layout.etp == 2
    # the same recomputed share (the activations the same), the state's expert share doubled
    assert sts[0].recompute == sts[1].recompute
    diff = n_e * (1 / (1 * 8 * 64) - 1 / (2 * 8 * 64)) * (1.0 + 2.0)
    assert diff == pytest.approx(1.917e9, rel=1e-3)
    assert sts[1].memory_bytes - sts[0].memory_bytes == pytest.approx(diff, rel=1e-9)
    # the optimizer reads and writes the same shard: N_e/(TP·PP·DP·CP) + N_d/(TP·PP·DP·CP)
    assert sts[1].optimizer_s == pytest.approx(sts[0].optimizer_s, rel=1e-12)
    shard = (n_d / (2 * 8) + n_e / (1 * 8 * 64) * 64 * 1 / 2) / 64
    assert shard == pytest.approx((n_d + n_e) / (2 * 8 * 64), rel=1e-12)


def test_expert_gemm_shape_and_communication_by_hand() -> None:
    """Qwen3-235B (no shared experts), TP2 PP1 DP4 EP4 on 8 H100, BF16, 4,096-token sequences,
    no recomputation. t = 4,096 tokens a micro-batch, k = 8 of E = 128 experts, hidden 4,096,
    expert FFN 1,536; H100: gemm_half_tokens 256, gemm_half_width 140.
    GEMMs: expert FLOPs a GPU unchanged, 6 x k/E N_e x t/TP x (busiest EP rank x); the shape at
    M = t k ETP EP / (TP E) rows a local expert and FFN width 1,536/ETP: ETP 2: M 1,024, w 768;
    ETP 1: M 512, w 1,536.
    All-to-all: 4 (EP-1)/EP x t ETP/TP x k x hidden x 2 B over NVLink (the EP group, TP·CP·EP = 8
    at ETP 2, ETP·EP = 4 at ETP 1, inside the 8-GPU domain), times x; TP collectives: the
    attention's 4 (TP-1)/TP t hidden 2 B a layer at either ETP (the FFN half is the expert TP
    gather, in the all-to-all's bytes)."""
    mf = model_figures(CATALOG.models["qwen3-235b-a22b"], 4096)
    f = _h100()
    run = RunFigures(4096, 4 * 4096 * 4, 16.0, 2.0)
    lay = Layout(tp=2, pp=1, dp=4, ep=4)
    st2 = step_time(lay, mf, f, run, recompute=0.0)
    st1 = step_time(replace(lay, expert_tp=1), mf, f, run, recompute=0.0)
    n_e, _ = _experts("qwen3-235b-a22b")
    t, k, e, h, ep, tp = 4096, 8, 128, 4096, 4, 2
    m_half, k_half = 256.0, 140.0

    def busiest(t_e: float) -> float:
        return min(1 + math.sqrt(2 * math.log(ep) / (t_e * k)), ep * min(k, e / ep) / k)

    def shape(etp: int) -> float:
        rows = t * k * ep * etp / (tp * e)
        w = 1536 / etp
        width = 3 / (2 * (2 * w + k_half) / (2 * w) + (w + k_half) / w)
        return rows / (rows + m_half) * (h / tp) / (h / tp + k_half) * width

    assert t * k * ep * 1 / (tp * e) == 512
    rate = f.peak_flops * f.gemm_efficiency
    exp_flops = 6 * k / e * n_e * t / tp
    # the layer GEMMs differ by the expert GEMMs' time alone (their FLOPs x busiest / shape)
    by_hand = exp_flops / rate * (busiest(t / 2) / shape(1) - busiest(t) / shape(2))
    assert st1.gemm_s - st2.gemm_s == pytest.approx(by_hand, rel=1e-9)
    # half the rows (512 against a 256-row half point) cost more than the whole FFN width gains
    assert shape(1) == pytest.approx(0.588, abs=1e-3) and shape(2) == pytest.approx(0.668, abs=1e-3)
    # all-to-all over NVLink at 450 GB/s x 0.8 each way, fully exposed (no EP overlap)
    su = 450e9 * 0.8
    for etp, st in ((2, st2), (1, st1)):
        t_e = t * etp / tp
        per_layer = 4 * (ep - 1) / ep * t_e * k * h * 2.0 / su * busiest(t_e)
        assert st.ep_s == pytest.approx(94 * per_layer, rel=1e-9)
    # TP: half the exposed share (comm_overlap 0.5) of the attention's bytes over NVLink, at
    # either expert TP (review21): without shared experts a MoE layer has no FFN TP collective
    # beyond the expert TP group's gather of the routed tokens, which the all-to-all's t·ETP/TP
    # tokens above carry (the t/TP a rank dispatches + the (ETP-1)·t/TP it gathers); the etp
    # session had charged 4·(ETP-1)/TP of it again at ETP 2
    act = t * h * 2.0
    attention_only = 0.5 * 94 * 4 * (tp - 1) / tp * act / su
    assert st2.tp_s == pytest.approx(attention_only, rel=1e-9)
    assert st1.tp_s == pytest.approx(attention_only, rel=1e-9)


def test_shared_experts_keep_their_tp_collectives() -> None:
    """DeepSeek-V3's shared expert is a TP-split FFN with its own all-gather and reduce-scatter:
    an expert TP below TP leaves the layers' TP bytes as they were (PP1: one stage's layers)."""
    mf = model_figures(CATALOG.models["deepseek-v3"], 4096)
    f = _h100("fp8")
    run = RunFigures(4096, 8 * 4096 * 4, 16.0, 2.0)
    lay = Layout(tp=2, pp=1, dp=32, ep=8)
    st2 = step_time(lay, mf, f, run, recompute=1.0)
    st1 = step_time(replace(lay, expert_tp=1), mf, f, run, recompute=1.0)
    assert st1.tp_s == pytest.approx(st2.tp_s, rel=1e-12)


def test_expert_dp_group_spans_tp_ranks_at_etp1() -> None:
    """TP2 DP1 PP1 EP1 at expert TP 1 on 2 H100: no dense DP exchange (DP·CP = 1), but each
    expert shard (N_e / (1 x 1 x 1)) has two copies, one a TP rank: the expert DP group is
    TP·DP·CP/(ETP·EP) = 2 ranks, both in the domain: (2-1)/2 of the expert bytes over NVLink."""
    mf = model_figures(CATALOG.models["qwen3-235b-a22b"], 4096)
    f = _h100()
    run = RunFigures(4096, 4096 * 8, 16.0, 2.0)
    st = step_time(Layout(tp=2, pp=1, dp=1, ep=1, expert_tp=1), mf, f, run, recompute=1.0)
    n_e, _ = _experts("qwen3-235b-a22b")
    assert st.dp_s == pytest.approx(1 / 2 * n_e * (2 + 2) / (450e9 * 0.8), rel=1e-9)
    assert step_time(Layout(tp=2, pp=1, dp=1, ep=1), mf, f, run, recompute=1.0).dp_s == 0.0


def test_pinned_layout_refused_when_the_experts_do_not_fit_at_etp1() -> None:
    """Qwen3-235B on 128 H100 (72 GB usable), TP8 PP2 DP8 EP8, 16 B a parameter: at expert TP 8
    a GPU holds 227.2e9 / (8 x 2 x 8) = 1.78e9 expert parameters and the layout fits; at expert
    TP 1, 227.2e9 / (1 x 2 x 8) = 14.2e9, whose BF16 weights and gradients alone are 56.8 GB,
    and with the dense share and the optimizer shard more than 72 GB: refused."""
    n_e, n_d = _experts("qwen3-235b-a22b")
    mf = model_figures(CATALOG.models["qwen3-235b-a22b"], 4096)
    f = _h100()
    run = RunFigures(4096, 256 * 4096, 16.0, 2.0)
    lay = Layout(tp=8, pp=2, dp=8, ep=8)
    ok = best_layout(128, mf, f, run, pinned=lay)
    assert ok.best is not None
    p_exp = n_e / (1 * 2 * 8)
    p_dense = n_d / (8 * 2)
    p_shard = p_dense / 8 + p_exp / (8 * 8 / (1 * 8))
    state = (p_dense + p_exp) * 4.0 + p_shard * 12.0
    assert p_exp * 4.0 == pytest.approx(56.8e9, rel=1e-3)
    assert state > f.usable_hbm_bytes
    refused = best_layout(128, mf, f, run, pinned=replace(lay, expert_tp=1))
    assert refused.best is None
    assert "expert TP 1" in refused.reason and "GB per accelerator" in refused.reason


def test_expert_parallel_problem_names_the_expert_tp() -> None:
    assert expert_parallel_problem(Layout(tp=4, dp=8, ep=8, expert_tp=3), 128).startswith(
        "expert TP 3 must divide TP 4"
    )
    assert "expert TP 2 x EP 8 must divide TP x DP x CP = 8" in expert_parallel_problem(
        Layout(tp=4, dp=2, ep=8, expert_tp=2), 128
    )
    # expert TP 1 lets EP span the TP ranks: EP 8 on TP4 x DP2
    assert expert_parallel_problem(Layout(tp=4, dp=2, ep=8, expert_tp=1), 128) == ""
    assert expert_parallel_problem(Layout(tp=4, dp=2, ep=8, expert_tp=3), 0) == ""


def test_expert_tp_not_given_is_tp_and_checked_as_given() -> None:
    # Megatron-Core's default expert TP is TP: TP2 x EP32 on a 32-rank stage (TP2 x DP16) leaves
    # the expert data-parallel group 32 / (2 x 32) = 0 ranks; before session 32 only an explicit
    # expert_tp was checked, and such a layout was priced with no expert gradient exchange
    problem = expert_parallel_problem(Layout(tp=2, pp=8, dp=16, ep=32), 128)
    assert problem.startswith("expert TP 2 (expert_tp not given: Megatron-Core's default, TP)")
    assert "x EP 32 must divide TP x DP x CP = 32" in problem
    assert expert_parallel_problem(Layout(tp=2, pp=8, dp=16, ep=32, expert_tp=1), 128) == ""
    # TP x EP dividing the stage's ranks stays accepted without expert_tp: TP2 x EP16 on 32
    assert expert_parallel_problem(Layout(tp=2, pp=8, dp=16, ep=16), 128) == ""


def test_cli_layout_etp(capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main

    args = ["estimate", "pretrain", "--model", "qwen3-235b-a22b", "--system", "hgx-h100"]
    args += ["--tokens", "1T", "--global-batch-tokens", "4M", "--units", "128"]
    code = main([*args, "--layout", "tp=4,pp=8,dp=4,ep=16,etp=1", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["layout"].endswith("expert TP 1")
    assert main([*args, "--layout", "tp=4,pp=8,dp=4,ep=16,etp=3"]) == 1
    assert "expert_tp 3 must divide tp 4" in capsys.readouterr().err


def test_search_tries_expert_tp_one_at_tp_above_one() -> None:
    """The layout search tries ETP in {TP, 1} for a MoE model at TP > 1: Qwen3-235B BF16 on
    128 H100 at 8,192 tokens: among the ZeRO-1 layouts at TP2 it picks ETP 1 (the recipes'
    choice), faster than every TP > 1 candidate at ETP = TP; a dense model's candidates carry
    no expert TP."""
    from planner.demand.training import candidate_layouts, search_all

    f = _h100()
    mf = model_figures(CATALOG.models["qwen3-235b-a22b"], 8192)
    run = RunFigures(8192, 512 * 8192.0, 16.0, 2.0)
    lays = candidate_layouts(128, mf, f, run)
    assert {lay.expert_tp for lay in lays if lay.tp > 1} == {0, 1}
    assert {lay.expert_tp for lay in lays if lay.tp == 1} == {0}
    # each (TP, ETP) candidate with DP·CP > 1 has its fully sharded twin (session fsdp merge)
    assert any(lay.expert_tp == 1 and lay.fsdp == lay.dp * lay.cp for lay in lays)
    choice = best_layout(128, mf, f, run)
    assert choice.best is not None
    # review21 (the EP group ETP·EP consecutive ranks at ETP = TP, CP folded in as Megatron-Core
    # does): TP1 CP2 EP16 and TP2 ETP1 tie within 0.1%; among the distributed-optimizer
    # (ZeRO-1) layouts at TP > 1 the best is TP2 ETP1, faster than every one at ETP = TP; a
    # fully sharded layout (fsdp, a searched twin) may beat it overall
    ranked = search_all(128, mf, f, run)
    at_tp2 = [st for st in ranked if st.layout.tp > 1 and not st.layout.fsdp]
    assert at_tp2[0].layout.tp == 2 and at_tp2[0].layout.expert_tp == 1
    at_tp = [st for st in at_tp2 if st.layout.expert_tp == 0]
    assert at_tp2[0].tokens_per_s > at_tp[0].tokens_per_s
    assert choice.best.tokens_per_s >= at_tp2[0].tokens_per_s
    dense = model_figures(CATALOG.models["llama-3.1-70b"], 8192)
    assert {lay.expert_tp for lay in candidate_layouts(64, dense, f, run)} == {0}


def test_hierarchical_dispatch_sends_each_rank_s_own_tokens_over_scale_out() -> None:
    """review21: the scale-out leg of the hierarchical all-to-all carries a rank's own t/TP
    tokens once per remote target node, whatever the expert TP. Qwen3-235B BF16, TP2 PP1 DP16
    EP16 at expert TP = TP on 32 H100 (4 nodes of 8), 4,096-token micro-batches: the EP group
    spans TP·CP·EP = 32 ranks, n = 4 domains. Sequence parallel leaves t/TP = 2,048 tokens a
    rank; Megatron-Core's flex dispatcher (DeepEP/HybridEP over the TP×EP group, routing each
    token to its k experts' ETP ranks, token_dispatcher.py MoEFlexTokenDispatcher @d98e8a64)
    sends a token once per target node and forwards it to the expert TP ranks of that node over
    NVLink; the all-to-all dispatcher (MoEAlltoAllTokenDispatcher) sends the t/TP tokens over the
    EP group and all-gathers them over the expert TP group (inside the node) afterwards. Either
    way the InfiniBand bytes are those of t/TP tokens, not t (the model had t·ETP/TP there,
    charging the expert TP all-gather at the scale-out rate: 2x at TP2).
    Target nodes of k = 8 uniform draws over 4: 4 (1 - 0.75^8) = 3.5996, remote (n-1)/n:
    scale-out 4 x 3.5996 x 0.75 x 2,048 x 4,096 x 2 B / (50 GB/s x 0.8) = 4.53 ms a layer; the
    NVLink leg 4 x 15/16 x 4,096 x 8 x 4,096 x 2 B / (450 GB/s x 0.8) = 2.80 ms (t·ETP/TP = t
    tokens: the forward to the ETP ranks); the slower sets the time, x the busiest EP rank."""
    mf = model_figures(CATALOG.models["qwen3-235b-a22b"], 4096)
    f = _h100()
    run = RunFigures(4096, 16 * 4096 * 4, 16.0, 2.0)
    st = step_time(Layout(tp=2, pp=1, dp=16, ep=16), mf, f, run, recompute=1.0)
    assert st.layout.etp == 2 and not st.pp_in_scale_up
    t, k, h, ep, tp = 4096, 8, 4096, 16, 2
    n = 32 / 8
    distinct = n * (1 - (1 - 1 / n) ** k)
    assert distinct == pytest.approx(3.5996, abs=1e-4)
    out = 4 * distinct * (n - 1) / n * (t / tp) * h * 2.0 / (50e9 * 0.8)
    up = 4 * (ep - 1) / ep * t * k * h * 2.0 / (450e9 * 0.8)
    assert out == pytest.approx(4.53e-3, rel=1e-3) and up == pytest.approx(2.80e-3, rel=2e-3)
    busiest = 1 + math.sqrt(2 * math.log(ep) / (t * k))
    assert st.ep_s == pytest.approx(94 * max(out, up) * busiest, rel=1e-9)
    # the vectorised search prices the same layout the same (tokens/s at the least recompute
    # that fits, as step_time's default)
    import numpy as np

    from planner.demand.training import step_times_vector

    row = {"tp": 2, "pp": 1, "dp": 16, "cp": 1, "ep": 16, "vp": 1, "mb": 1, "etp": 0}
    c = {key: np.array([value], dtype=np.int64) for key, value in row.items()}
    tokens, _ = step_times_vector(c, mf, f, run)
    one = step_time(Layout(tp=2, pp=1, dp=16, ep=16), mf, f, run)
    assert one.ep_s == pytest.approx(st.ep_s, rel=1e-12)
    assert tokens[0] == pytest.approx(one.tokens_per_s, rel=1e-9)


@pytest.mark.parametrize(
    ("value", "message"),
    [("x", "valid integer"), ("-1", "greater than or equal to 0"), ("1.5", "valid integer")],
)
def test_cli_layout_bad_etp_names_the_key(
    capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    """review21: a malformed `etp=` in --layout names the key it came from (the message named
    only --layout), exits 1, no traceback."""
    from cli import main

    args = ["estimate", "pretrain", "--model", "qwen3-235b-a22b", "--system", "hgx-h100"]
    args += ["--tokens", "1T", "--layout", f"tp=4,pp=8,dp=4,ep=16,etp={value}"]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "<command line>: --layout etp: Input should be" in err and message in err


def _broken_table(tmp_path, name: str, old: str, new: str):  # noqa: ANN001, ANN202
    """A copy of planner/calibration/<name> with one line's `old` made `new`; (path, line)."""
    from pathlib import Path

    import planner.calibration as pc

    text = (Path(pc.__file__).with_name(name)).read_text(encoding="utf-8")
    assert text.count(old) == 1
    path = tmp_path / name
    path.write_text(text.replace(old, new), encoding="utf-8")
    line = next(i + 1 for i, ln in enumerate(path.read_text().splitlines()) if new in ln)
    return path, line


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ("3", "layout", "expert_tp 3 must divide tp 2"),
        ("half", "layout.expert_tp", "whole number"),
        ("-1", "layout.expert_tp", "greater than or equal to 0"),
    ],
)
def test_calibration_training_layout_bad_expert_tp_names_file_line_field(
    tmp_path, value: str, field: str, message: str
) -> None:
    """review21: a calibration row's layout is checked as a scenario's: a bad expert_tp names the
    file, line and field (it was read with int(), unchecked)."""
    from fleetcore.errors import ConfigError

    old = "tp_comm_overlap: true, ep_comm_overlap: true, expert_tp: 1, recompute_modules"
    new = old.replace("expert_tp: 1,", f"expert_tp: {value},")
    path, line = _broken_table(tmp_path, "training.yaml", old, new)
    with pytest.raises(ConfigError) as exc:
        ct.runs(path)
    (problem,) = exc.value.problems
    assert problem.file.endswith("training.yaml") and problem.line == line
    assert problem.path.endswith(field) and message in problem.message


def test_calibration_rl_trainer_bad_expert_tp_names_file_line_field(tmp_path) -> None:
    from fleetcore.errors import ConfigError
    from planner.calibration import rl as crl

    old = "layout: {tp: 4, pp: 4, ep: 16, micro_batch: 1, expert_tp: 1}"
    path, line = _broken_table(
        tmp_path, "rl.yaml", old, old.replace("expert_tp: 1", "expert_tp: 3")
    )
    with pytest.raises(ConfigError) as exc:
        crl.points(path)
    (problem,) = exc.value.problems
    assert problem.file.endswith("rl.yaml") and problem.line == line
    assert "trainer.layout" in problem.path and "expert_tp 3 must divide tp 4" in problem.message


def test_accuracy_bench_exits_1_on_a_bad_calibration_layout(tmp_path, monkeypatch, capsys) -> None:
    import importlib.util
    from pathlib import Path

    old = "tp_comm_overlap: true, ep_comm_overlap: true, expert_tp: 1, recompute_modules"
    path, line = _broken_table(
        tmp_path, "training.yaml", old, old.replace("expert_tp: 1,", "expert_tp: 3,")
    )
    monkeypatch.setattr(ct, "TABLE", path)
    monkeypatch.setattr(ct.runs, "__defaults__", (path,))
    spec = importlib.util.spec_from_file_location(
        "accuracy_bench", Path(__file__).parents[1] / "bench" / "accuracy.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "FAMILIES", ["training"])
    assert bench.main() == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert f"training.yaml:{line}:" in err and "expert_tp 3 must divide tp 2" in err


def test_ep_group_at_expert_tp_equal_tp_ignores_cp() -> None:
    """review21: Megatron-Core's expert ranks have no CP axis (expert RankGenerator cp=1, order
    tp-ep-dp-pp with tp = ETP, parallel_state.py @d98e8a64), so at ETP = TP too an EP group is
    TP·EP consecutive ranks, not TP·CP·EP. Qwen3-235B BF16, TP2 CP2 DP8 EP4 PP1 on 32 H100,
    4,096-token sequences (t = 2,048 tokens a TP group): the EP group spans 2 x 4 = 8 ranks, one
    HGX server, so the all-to-all is NVLink's: 94 x 4 x 3/4 x 2,048 x 8 x 4,096 x 2 B /
    (450 GB/s x 0.8) x the busiest EP rank (it was priced over 16 ranks, two servers,
    hierarchically over InfiniBand)."""
    import numpy as np

    from planner.demand.training import expert_group_span, step_times_vector

    assert expert_group_span(2, 2, 4, 2, 1, False) == 8
    assert expert_group_span(2, 2, 4, 1, 1, False) == 4
    mf = model_figures(CATALOG.models["qwen3-235b-a22b"], 4096)
    f = _h100()
    run = RunFigures(4096, 8 * 4096 * 4, 16.0, 2.0)
    lay = Layout(tp=2, pp=1, dp=8, cp=2, ep=4)
    st = step_time(lay, mf, f, run, recompute=1.0)
    t, k, h, ep = 2048, 8, 4096, 4
    busiest = 1 + math.sqrt(2 * math.log(ep) / (t * k))
    per_layer = 4 * (ep - 1) / ep * t * k * h * 2.0 / (450e9 * 0.8)
    assert st.ep_s == pytest.approx(94 * per_layer * busiest, rel=1e-9)
    row = {"tp": 2, "pp": 1, "dp": 8, "cp": 2, "ep": 4, "vp": 1, "mb": 1, "etp": 0}
    c = {key: np.array([value], dtype=np.int64) for key, value in row.items()}
    tokens, _ = step_times_vector(c, mf, f, run)
    assert tokens[0] == pytest.approx(step_time(lay, mf, f, run).tokens_per_s, rel=1e-9)
