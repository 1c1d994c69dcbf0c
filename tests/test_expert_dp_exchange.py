"""The data-parallel exchange of a MoE model's routed experts over their own DP group (session
expdp): a rank's experts meet their copies on the DP·CP/EP ranks holding the same experts, not on
the scale-up domain's DP ranks; dense parameters keep the hierarchical placement. Hand
computations from the catalog's figures, the rank placement enumerated rank by rank, and the
scalar and array paths compared (docs/models.md, training communication formulas)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from round_figures import ROUND_TRAIN_FIGURES, toy_moe

from hardware.catalog import load_catalog
from planner.calibration import training as ct
from planner.demand.common import hardware
from planner.demand.training import (
    Layout,
    RunFigures,
    _candidate_arrays,
    _expert_copies_folded,
    candidate_layouts,
    model_figures,
    step_time,
    step_times_vector,
    train_figures,
)

CATALOG = load_catalog()


def _row(rid: str) -> dict:
    return next(r for r in ct.runs() if r["id"] == rid)


def _step(rid: str, **layout: object):
    r = _row(rid)
    lay = {**r["layout"], **layout}
    return ct._step(CATALOG, r, lay, int(r["sequence_length"]), r["global_batch_tokens"])


def test_deepseek_v3_gb200_8192_by_hand() -> None:
    """GB200 NVL72, 8,192 GPUs, TP2 PP4 DP1024 EP32 (the MLPerf v6.0 run's layout), BF16
    gradients (2 B) and the FP8 parameter gather (1 B). NVLink 900 GB/s and InfiniBand 50 GB/s a
    GPU, both at collective efficiency 0.8; the DP ranks fill the domain: 32 of the 1,024 a
    domain (72 // TP2 = 36, the largest divisor of 1,024 below it), 32 domains.
    Dense: 16.548e9 / (TP2 x PP4) = 2.069e9 parameters, 6.21 GB: 31/32 of it over NVLink, 31/32
    of a 32nd over InfiniBand: 8.35 + 4.70 = 13.05 ms.
    Experts (the planner's expert TP = TP): 654.45e9 / (2 x 4 x 32) = 2.556e9 parameters, 7.67 GB
    over 1,024 / 32 = 32 ranks holding the same experts, one a domain (the domain's 32 DP ranks
    are one EP group, each rank different experts): all of it over InfiniBand, 31/32 x 7.67 GB /
    40 GB/s = 0.186 s. The model had reduced them as the dense parameters: 13.5 ms more.
    (The row now carries the run's expert TP 1, session etp: test_deepseek_v3_gb200_8192_etp1;
    this test pins expert_tp 0, the expert TP = TP it was written for.)"""
    st = _step("mlperf60-deepseek-v3-gb200-8192gpu-step", expert_tp=0)
    lay = st.layout
    assert (lay.tp, lay.pp, lay.dp, lay.cp, lay.ep, lay.etp) == (2, 4, 1024, 1, 32, 2)
    assert not st.pp_in_scale_up
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    f = train_figures(hw, "fp8")
    assert f is not None
    assert (f.scale_up_bytes_per_s, f.scale_out_bytes_per_s) == (900e9, 50e9)
    assert (f.collective_efficiency, f.scale_up_domain) == (0.8, 72)
    su, so = 900e9 * 0.8, 50e9 * 0.8
    n, n_e = 671e9, _catalog_experts()
    dense_bytes = (n - n_e) / 8 * 3.0
    expert_bytes = n_e / 256 * 3.0
    assert expert_bytes == pytest.approx(7.67e9, rel=2e-3)
    dense = 31 / 32 * dense_bytes / su + 31 / 32 * dense_bytes / 32 / so
    expert = 31 / 32 * expert_bytes / so
    assert dense == pytest.approx(0.0131, abs=1e-4)
    assert expert == pytest.approx(0.186, abs=1e-3)
    assert st.dp_s == pytest.approx(dense + expert, rel=1e-9)
    window = st.micro_batch_s + st.bubble_s
    # 0.198 s before session s22 fsdp2, whose chunk sort and unsort of the routed copies run on
    # the expert TP group's gathered copies (2 x at ETP = TP2: MOE_SORT_BYTES_PER_HIDDEN more a
    # dispatched copy, ~7 ms a micro-batch); the exchange, 0.1 ms beyond the window before
    # (0.7 ms before session 21's selective recomputation), is now hidden. The window is the
    # micro-batch and the interleaved bubble, (PP-1)/v = 3/4 of one: 1.75 x 125.3 ms = 0.2193 s.
    # 0.2067 s (1.75 x 118.1 ms) before session s32 pergemm: the GEMMs 59.8 -> 63.5 ms (GB200
    # FP8's fraction 0.507 -> 0.478, x1.061; the per-linear shape x0.999 on this layout), the
    # BF16 output heads 16.5 -> 17.0 ms. 0.2140 s (1.75 x 122.3 ms) before session s34 fit: the
    # BF16 output heads 17.0 -> 20.5 ms (the B200 die's BF16 fraction fitted 0.58 -> 0.48,
    # x 0.58/0.48 = 1.208), the GEMMs 63.5 -> 63.0 ms (FP8 refitted 0.478 -> 0.482, x 0.992);
    # the exchange (0.199 s) is further inside it
    assert st.bubble_s == pytest.approx(3 / 4 * st.micro_batch_s, rel=1e-9)
    assert st.head_s == pytest.approx(0.0170 * 0.58 / 0.48, abs=1e-4)
    assert st.micro_batch_s == pytest.approx(0.1253, abs=2e-4)
    assert window == pytest.approx(0.2193, abs=4e-4)
    assert dense + expert < window and st.dp_exposed_s == 0.0
    # the former treatment: every parameter reduced over the 32 DP ranks of a domain first
    both = dense_bytes + expert_bytes
    old = 31 / 32 * both / su + 31 / 32 * both / 32 / so
    assert old == pytest.approx(0.0292, abs=1e-4)
    # session scale's figure with the runs' expert TP 1 (conf/model/671b.yaml): 5.11e9
    # parameters, 15.3 GB a GPU, two copies a domain: half of it over NVLink first, then the same
    # 7.67 GB a GPU over InfiniBand as the model's expert TP 2: 0.196 s against 0.186
    tp1 = n_e / 128 * 3.0
    assert tp1 == pytest.approx(15.34e9, rel=1e-3)
    tp1_s = 1 / 2 * tp1 / su + 31 / 32 * tp1 / 2 / so
    assert tp1_s == pytest.approx(0.196, abs=1e-3)
    assert 31 / 32 * tp1 / 2 / so == pytest.approx(expert, rel=1e-9)


def test_deepseek_v3_gb200_8192_etp1() -> None:
    """The same row at its runs' expert TP 1 (conf/model/671b.yaml, the row's layout since
    session etp): a GPU holds 654.45e9 / (ETP1 x PP4 x EP32) = 5.11e9 expert parameters,
    15.3 GB of gradient + FP8 gather; the expert DP group is TP2 x 1,024 / (ETP1 x EP32) = 64
    ranks; a domain holds 32 DP ranks x TP2 = 64 of a stage's ranks, in Megatron-Core's expert
    order (ETP, EP, expert DP) 64 // 32 = 2 copies of each shard: 1/2 of the bytes over NVLink,
    then 31/32 of a half over InfiniBand across the 32 domains (bench/step_at_scale.py's
    expert_exchange, 0.196 s); the dense exchange as before."""
    st = _step("mlperf60-deepseek-v3-gb200-8192gpu-step")
    assert st.layout.expert_tp == 1 and st.layout.etp == 1
    assert not st.pp_in_scale_up
    su, so = 900e9 * 0.8, 50e9 * 0.8
    n, n_e = 671e9, _catalog_experts()
    dense_bytes = (n - n_e) / 8 * 3.0
    dense = 31 / 32 * dense_bytes / su + 31 / 32 * dense_bytes / 32 / so
    tp1 = n_e / (1 * 4 * 32) * 3.0
    expert = 1 / 2 * tp1 / su + 31 / 32 * tp1 / 2 / so
    assert expert == pytest.approx(0.196, abs=1e-3)
    assert st.dp_s == pytest.approx(dense + expert, rel=1e-9)


def _catalog_experts() -> float:
    """DeepSeek-V3's routed-expert parameters from the catalog: N = N_d + N_e, N_a = N_d + k/E
    N_e, so N_e = (N - N_a) / (1 - k/E) = (671e9 - 37e9) / (1 - 8/256) = 654.45e9."""
    m = CATALOG.models["deepseek-v3"]
    assert m.moe is not None
    k, e = m.moe.active_experts, m.moe.experts
    return (m.params - m.active) / (1 - k / e)


def test_expert_parameters_from_the_catalog() -> None:
    assert _catalog_experts() == pytest.approx(654.45e9, rel=1e-4)
    assert model_figures(CATALOG.models["deepseek-v3"], 4096).expert_params == pytest.approx(
        _catalog_experts(), rel=1e-12
    )


def test_dense_gpt3_fit_point_unchanged_by_hand() -> None:
    """GPT-3 175B on 10,752 H100 (TP4 PP8 DP336; BF16 gradients and parameter gather: the row
    states no FP8 gather): 175e9 / 32 = 5.47e9 parameters x (2 + 2) B, 2 DP ranks a server of
    8 (TP4), 168 servers: 1/2 over NVLink, 167/168 of a half over InfiniBand."""
    st = _step("mlperf-gpt3-fp8-10752gpu")
    assert (st.layout.tp, st.layout.pp, st.layout.dp) == (4, 8, 336)
    assert not st.pp_in_scale_up
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    f = train_figures(hw, "fp8")
    assert f is not None
    su = f.scale_up_bytes_per_s * f.collective_efficiency
    so = f.scale_out_bytes_per_s * f.collective_efficiency
    assert f.scale_up_domain == 8
    b = 175e9 / 32 * 4.0
    assert st.dp_s == pytest.approx(1 / 2 * b / su + 167 / 168 * b / 2 / so, rel=1e-9)


def _brute_copies(stage_ranks: int, etp: int, ep: int) -> int:
    """Enumerate the first domain's `stage_ranks` consecutive ranks of a stage in Megatron-Core's
    expert order (expert RankGenerator: ETP innermost, then EP, then the expert DP, no CP axis:
    parallel_state.py @d98e8a64) and count those holding rank 0's expert shard (its ETP rank
    and EP rank)."""
    shard = [(r % etp, (r // etp) % ep) for r in range(stage_ranks)]
    return sum(1 for s in shard if s == shard[0])


@pytest.mark.parametrize(
    ("tp", "dp", "cp", "ep", "etp", "per_domain"),
    [
        (2, 1024, 1, 32, 2, 32),  # TP2 = ETP, 64 stage ranks a domain: one EP group, 1 copy
        (2, 2048, 1, 32, 2, 16),  # GB300 PP inside the domain: an EP group spans 2 domains
        (1, 64, 1, 8, 1, 64),  # 8 copies
        (1, 64, 2, 8, 1, 32),  # CP2: 32 DP·CP ranks, four EP groups: 4 copies
        (1, 64, 2, 32, 1, 32),  # CP2 EP32: the domain holds one EP group (1 copy; was 2)
        (1, 64, 4, 4, 1, 4),  # the domain holds one DP rank's CP group: one EP group
        (2, 16, 1, 1, 2, 8),  # EP1: the dense placement, per_domain
        (2, 64, 1, 8, 1, 32),  # TP2 ETP1 EP8: 64 stage ranks a domain, 8 copies
    ],
)
def test_expert_copies_match_the_enumerated_placement(
    tp: int, dp: int, cp: int, ep: int, etp: int, per_domain: int
) -> None:
    """review21: one count at any expert TP, from Megatron-Core's expert rank order (the model
    had a TP·CP-apart count of its own at ETP = TP)."""
    group = tp * dp * cp // (etp * ep)
    brute = _brute_copies(per_domain * tp, etp, ep)
    assert group % brute == 0
    assert _expert_copies_folded(group, per_domain * tp, etp * ep) == brute


def test_expert_parallel_one_is_the_dense_exchange() -> None:
    """EP1: the experts are replicated as the dense layers, the exchange as before (one sum)."""
    f = ROUND_TRAIN_FIGURES
    moe = toy_moe(active=1.5e9)
    run = RunFigures(1000, 32000.0, 16.0, 2.0)
    # DP16 on 8-rank domains, EP1: 8 a domain, 2 domains, all 4e9 parameters x (2 B gradient
    # + 2 B parameter gather)
    st = step_time(Layout(dp=16, ep=1), moe, f, run, 0.0)
    b = 4e9 * 4.0
    assert st.dp_s == pytest.approx(7 / 8 * b / 1e11 + 1 / 2 * b / 8 / 1e10, rel=1e-12)
    # EP8: the dense parameters as before; the experts' N_e / 8 over the 2 ranks holding them,
    # one a domain (the domain is one EP group): over scale-out whole. N_e = (N - N_a) / (1 -
    # k/E) = 2.5e9 / 0.75 = 3.33e9, the dense 0.67e9
    st8 = step_time(Layout(dp=16, ep=8), moe, f, run, 0.0)
    n_e = (4e9 - 1.5e9) / (1 - 2 / 8)
    assert moe.expert_params == pytest.approx(n_e, rel=1e-12)
    d = (4e9 - n_e) * 4.0
    e = n_e / 8 * 4.0
    assert st8.dp_s == pytest.approx(
        7 / 8 * d / 1e11 + 1 / 2 * d / 8 / 1e10 + 1 / 2 * e / 1e10, rel=1e-12
    )
    # EP16 = DP: every expert held once, no expert exchange at all
    st16 = step_time(Layout(dp=16, ep=16), moe, f, run, 0.0)
    assert st16.dp_s == pytest.approx(7 / 8 * d / 1e11 + 1 / 2 * d / 8 / 1e10, rel=1e-12)


@pytest.mark.parametrize(
    ("model", "system", "accelerators", "seq", "batch_tokens"),
    [
        ("deepseek-v3", "gb200-nvl72", 2048, 4096, 15360 * 4096),
        ("qwen3-235b-a22b", "hgx-h100", 512, 8192, 4096 * 8192),  # CP candidates
    ],
)
def test_scalar_and_array_steps_agree_on_moe_candidates(
    model: str, system: str, accelerators: int, seq: int, batch_tokens: int
) -> None:
    hw = hardware(CATALOG, system)
    assert hw is not None
    f = train_figures(hw, "fp8")
    assert f is not None
    mf = model_figures(CATALOG.models[model], seq)
    run = replace(RunFigures(seq, float(batch_tokens), 16.0, 2.0), param_gather_bytes=1.0)
    lays = candidate_layouts(accelerators, mf, f, run)
    assert any(lay.cp > 1 and lay.ep > 1 for lay in lays)
    rate, _ = step_times_vector(_candidate_arrays(accelerators, mf, f, run), mf, f, run)
    scalar = [step_time(lay, mf, f, run).tokens_per_s for lay in lays]
    assert rate.tolist() == pytest.approx(scalar, rel=1e-9)


def test_expert_exchange_at_etp_equal_tp_follows_megatron_order_with_cp() -> None:
    """review21: Qwen3-30B-A3B BF16, TP1 CP2 DP8 EP8 on 16 H100 (two 8-GPU servers). Megatron-Core's
    expert ranks (no CP axis) put an EP group on 8 consecutive ranks, one server, so a rank's
    expert-DP peer (the same EP index) is 8 ranks on, in the other server: the expert exchange
    crosses InfiniBand, (2-1)/2 of the expert bytes. The model had EP ranks TP·CP = 2 apart, the
    CP pair holding the same experts in one server: NVLink only. Dense: the 16 DP·CP ranks, 8 a
    server: 7/8 of the dense bytes over NVLink, then 1/2 of 1/8 of them over InfiniBand."""
    from planner.demand.training import ModelFigures

    m = CATALOG.models["qwen3-30b-a3b"]
    assert m.moe is not None
    n_e = (m.params - m.active) / (1 - m.moe.active_experts / m.moe.experts)
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    f = train_figures(hw, "bf16")
    assert f is not None and f.scale_up_domain == 8
    mf: ModelFigures = model_figures(m, 4096)
    assert mf.expert_params == pytest.approx(n_e, rel=1e-9)
    run = RunFigures(4096, 4096 * 512, 16.0, 2.0)
    st = step_time(Layout(tp=1, pp=1, dp=8, cp=2, ep=8), mf, f, run, recompute=1.0)
    su, so = 450e9 * 0.8, 50e9 * 0.8
    dense = (m.params - n_e) * 4.0  # BF16 gradients + BF16 parameter gather
    expert = n_e / 8 * 4.0
    by_hand = 7 / 8 * dense / su + 1 / 2 * dense / 8 / so + 1 / 2 * expert / so
    assert st.dp_s == pytest.approx(by_hand, rel=1e-9)
