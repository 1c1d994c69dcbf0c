"""Data-parallel groups on their ranks as placed (session 32, perdomain): the DP·CP group of a
replica position lies TP apart in its stage's TP·CP·DP consecutive ranks (Megatron-Core's order
rank = tp + TP·cp + TP·CP·dp + TP·CP·DP·pp), so on a job of whole scale-up domains whose stage
does not tile whole domains its pieces are uneven and the hierarchical exchange waits for the
domain with the most (scale-up) and a rank of the fewest (scale-out). Before, every group was
charged `k` = the largest divisor of DP·CP <= D/TP ranks in each of DP·CP/k domains, which is
no placement of a job of whole domains: TP4 x PP2 x DP117 on 936 GB200 ranks (13 NVL72 racks)
was charged 13 ranks in each of 9 racks where its groups sit as 18 in each of 6 racks and 9
in a seventh. Every figure below is recomputed from the placement formula or by hand."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from hardware.catalog import load_catalog
from planner.demand.common import hardware
from planner.demand.training import (
    Layout,
    RunFigures,
    _candidate_arrays,
    _placed,
    candidate_layouts,
    dp_pieces,
    expert_dp_pieces,
    fsdp_caveat,
    model_figures,
    step_time,
    step_times_vector,
    strided_pieces,
    train_figures,
)

CATALOG = load_catalog()


def _pieces_of(groups: list[list[int]], domain: int) -> tuple[int, int, int]:
    """(fewest ranks of a group in one domain, most ranks in one domain of a group that spans
    domains (the group's size when none does), most domains a group touches), counted rank by
    rank over every group."""
    fewest, widest, most = min(len(g) for g in groups), 1, 1
    for g in groups:
        counts: dict[int, int] = {}
        for r in g:
            counts[r // domain] = counts.get(r // domain, 0) + 1
        fewest, most = min(fewest, min(counts.values())), max(most, len(counts))
        if len(counts) > 1:
            widest = max(widest, max(counts.values()))
    return fewest, widest if most > 1 else len(groups[0]), most


def _dp_groups(tp: int, cp: int, dp: int, pp: int, fsdp: int = 0) -> list[list[int]]:
    """Every DP·CP group (or with `fsdp` = F < DP·CP, every hybrid shard group: F consecutive
    members of the DP·CP group) from Megatron-Core's placement rank = tp + TP·cp + TP·CP·dp +
    TP·CP·DP·pp."""
    groups = []
    for t, p in itertools.product(range(tp), range(pp)):
        members = [
            t + tp * c + tp * cp * d + tp * cp * dp * p for d in range(dp) for c in range(cp)
        ]
        members.sort()
        size = fsdp or dp * cp
        groups += [members[i : i + size] for i in range(0, len(members), size)]
    return groups


def _expert_groups(tp: int, cp: int, dp: int, pp: int, ep: int, etp: int) -> list[list[int]]:
    """Every expert data-parallel group from Megatron-Core's expert order (expert RankGenerator,
    no CP axis: rank = etp_i + ETP·ep_i + ETP·EP·edp_i + TP·CP·DP·pp): the ranks sharing
    (etp_i, ep_i, pp)."""
    stage = tp * cp * dp
    edp = stage // (etp * ep)
    return [
        [e + etp * x + etp * ep * k + stage * p for k in range(edp)]
        for p, x, e in itertools.product(range(pp), range(ep), range(etp))
    ]


def test_the_936_gpu_golden_layout_sits_as_18_a_rack_and_9_in_a_seventh() -> None:
    # TP4 x PP2 x DP117 on 13 NVL72 racks: stage 0 is ranks 0-467, its DP groups 4 apart (18 in
    # each of racks 0-5, 9 in rack 6, ranks 432-467); stage 1 is ranks 468-935 (9 in rack 6,
    # 468-503, then 18 in each of racks 7-12)
    groups = _dp_groups(4, 1, 117, 2)
    assert _pieces_of(groups, 72) == (9, 18, 7)
    assert dp_pieces(4, 1, 117, 2, 72) == (9, 18, 7)
    assert strided_pieces(4, 117, 936, 72) == (9, 18, 7)


def test_the_936_gpu_dense_exchange_by_hand() -> None:
    # The DP exchange of that layout with DP beside TP (PP stages in different racks) on the
    # catalog's GB200 figures: a rack's 18 ranks reduce-scatter over NVLink, 17/18 of the bytes,
    # then a rank of the rack holding 9 sends its 1/9 shard to the other 6 of the 7 racks,
    # 6/7 x B/9 over its NIC. Before: 12/13 of the bytes over NVLink and (8/9) x B/13 over the
    # NIC (13 ranks a rack in 9 racks), 1/1.39 of the NIC time.
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    f = train_figures(hw, "bf16")
    assert f is not None and f.scale_up_domain == 72
    mf = model_figures(CATALOG.models["llama-3.1-405b"], 8192)
    run = RunFigures(8192, 16e6, 16.0, 4.0)  # FP32 gradients + BF16 gather: 6 B a parameter
    p_acc = 405e9 / 8
    b = p_acc * 6.0
    su = f.scale_up_bytes_per_s * f.collective_efficiency
    so = f.scale_out_bytes_per_s * f.collective_efficiency
    placed = _placed(
        False, Layout(4, 2, 117), mf, f, run, 1.0, p_acc, 0.0, ((0, 1.0, 1.0),), 1, 0.0
    )
    nic = 6 / 7 * b / 9 / so
    assert placed.dp_s == pytest.approx(17 / 18 * b / su + nic, rel=1e-12)
    assert nic / (8 / 9 * b / 13 / so) == pytest.approx(1.393, abs=1e-3)
    # PP inside a rack (a replica of 8 ranks, 9 a rack): the DP groups run across all 13 racks,
    # 9 ranks in each, as before
    inside = _placed(True, Layout(4, 2, 117), mf, f, run, 1.0, p_acc, 0.0, ((0, 1.0, 1.0),), 1, 0.0)
    assert dp_pieces(4, 1, 117, 2, 72, pp_inside=True) == (9, 9, 13)
    assert inside.dp_s == pytest.approx(8 / 9 * b / su + 12 / 13 * b / 9 / so, rel=1e-12)


@pytest.mark.parametrize(
    ("layout", "pieces"),
    [
        (Layout(8, 2, 9), (9, 9, 1)),  # TP8 x DP9: a stage fills one rack
        (Layout(4, 1, 1026), (18, 18, 57)),  # the 405B's FSDP group of review21b
        (Layout(4, 2, 9), (9, 9, 1)),  # a stage of 36 ranks, half a rack
    ],
)
def test_an_aligned_layout_keeps_its_pieces(layout: Layout, pieces: tuple[int, int, int]) -> None:
    tp, pp, dp, cp = layout.tp, layout.pp, layout.dp, layout.cp
    assert _pieces_of(_dp_groups(tp, cp, dp, pp), 72) == pieces
    assert dp_pieces(tp, cp, dp, pp, 72) == pieces


def test_with_context_parallel_the_group_is_tp_apart_over_cp_and_dp() -> None:
    # TP2 x CP2 x PP4 x DP27 on 6 NVL72 racks (432 ranks): a stage is 108 ranks, its DP·CP group
    # of 54 lies 2 apart, 36 in one rack and 18 in the next (stages 0 and 2), or 18 and 36
    # (stages 1 and 3). A replica TP·CP·PP = 16 does not divide 72, so PP cannot share a rack
    # on whole racks and step_time charges this placement. By hand on GB200: 35/36 of the
    # dense bytes over NVLink, then 1/2 x B/18 over the NIC. Before: 27 a rack (26/27 and
    # 1/2 x B/27).
    assert _pieces_of(_dp_groups(2, 2, 27, 4), 72) == (18, 36, 2)
    assert dp_pieces(2, 2, 27, 4, 72) == (18, 36, 2)
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    f = train_figures(hw, "bf16")
    assert f is not None
    arch = CATALOG.models["llama-3.1-70b"]
    mf = model_figures(arch, 16384)
    run = RunFigures(16384, 16384 * 1080.0, 16.0, 2.0)
    st = step_time(Layout(2, 4, 27, cp=2), mf, f, run, 1.0)
    assert not st.pp_in_scale_up
    b = arch.params / (2 * 4) * 4.0  # BF16 gradients + BF16 gather
    su = f.scale_up_bytes_per_s * f.collective_efficiency
    so = f.scale_out_bytes_per_s * f.collective_efficiency
    assert st.dp_s == pytest.approx(35 / 36 * b / su + 1 / 2 * b / 18 / so, rel=1e-9)


def test_a_fully_sharded_group_gathers_over_its_pieces_by_hand() -> None:
    # Llama 3.1 8B on 48 H100 (6 servers of 8), TP4 x PP4 x DP3, FSDP over the 3: a stage is 12
    # ranks, its DP groups 4 apart: ranks 0, 4 | 8 in servers 0 and 1 (stage 0), 12 | 16, 20
    # (stage 1), ...: (d, w, u) = (1, 2, 2). A unit's gather: the 2 ranks of a server over
    # NVLink, 1/2 of the bytes, then the rank alone in its server (d = 1, a shard of the whole
    # message) sends 1/2 of it over its NIC; NCCL's ring latency over 3 ranks in 2 servers, 8.4 + 1 x 3.4 + 1 x 14.0 us. Before:
    # 1 rank a server in 3 servers, 2/3 of the bytes over the NIC, latency 8.4 + 2 x 14.0 us.
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    f = train_figures(hw, "fp8")
    assert f is not None and f.scale_up_domain == 8
    arch = CATALOG.models["llama-3.1-8b"]
    seq = 8192
    mf = model_figures(arch, seq)
    run = RunFigures(seq, 48 * seq, 16.0, 2.0, 1.0)  # FP8 parameter gather: 1 B
    assert _pieces_of(_dp_groups(4, 1, 3, 4), 8) == (1, 2, 2)
    assert dp_pieces(4, 1, 3, 4, 8, group=3) == (1, 2, 2)
    st = step_time(Layout(4, 4, 3, fsdp=3), mf, f, run, 0.0)
    assert not st.pp_in_scale_up  # a replica of 16 ranks cannot share an 8-GPU server
    su = f.scale_up_bytes_per_s * f.collective_efficiency
    so = f.scale_out_bytes_per_s * f.collective_efficiency
    ring = 1 / 2 / su + 1 / 2 / 1 / so  # s a byte of a message
    alpha = (8.4 + 1 * 3.4 + 1 * 14.0) * 1e-6
    e = arch.vocab * arch.hidden / 4  # the embedding's and the head's parameters a rank
    # a unit, a decoder layer (8 a stage): the stage's share of the model less the two ends
    p_u = (arch.params - 2 * arch.vocab * arch.hidden) / (4 * 4) / 8
    g, r = alpha + ring * p_u * 1.0, alpha + ring * p_u * 2.0
    g_e, r_e = alpha + ring * e * 1.0, alpha + ring * e * 2.0
    # either stage kind: 8 units and one end unit (the embedding on the first, the head on the
    # last), each gathered once and reduce-scattered once a micro-batch
    assert st.dp_s == pytest.approx(st.micro_batches * (8 * (2 * g + r) + g_e + r_e), rel=1e-9)


def test_a_hybrid_shard_group_is_its_consecutive_members() -> None:
    # HSDP shard groups of F of a DP·CP group: F consecutive members, counted from the
    # placement. TP4 x PP2 x DP18, F = 6: a stage is one rack, each shard group inside it
    # (6, 6, 1); TP4 x PP2 x DP117, F = 39: spans of 156 ranks, the one from rank 0 as
    # 18 + 18 + 3 over racks 0-2, from 468 as 9 + 18 + 12 over racks 6-8: (3, 18, 3); TP2 x PP4 x DP6 on
    # 8-GPU servers, F = 3: (1, 2, 2)
    expected = [(6, 6, 1), (3, 18, 3), (1, 2, 2)]
    for tp, dp, pp, fsdp, domain in [(4, 18, 2, 6, 72), (4, 117, 2, 39, 72), (2, 6, 4, 3, 8)]:
        groups = _dp_groups(tp, 1, dp, pp, fsdp)
        assert _pieces_of(groups, domain) == expected.pop(0)
        assert dp_pieces(tp, 1, dp, pp, domain, group=fsdp) == _pieces_of(groups, domain)


@pytest.mark.parametrize("domain", [8, 16, 72])
def test_every_whole_domain_layout_matches_the_placement(domain: int) -> None:
    # Every TP (a divisor of D, or 2D), CP in (1, 2), PP <= 8 and DP <= 40 whose job is 2 to 30
    # whole domains: dp_pieces (DP beside TP·CP) equals the pieces counted rank by rank
    checked = 0
    for tp, cp, pp, dp in itertools.product(
        [t for t in range(1, domain + 1) if domain % t == 0] + [2 * domain],
        (1, 2),
        range(1, 9),
        range(1, 41),
    ):
        ranks = tp * cp * pp * dp
        if ranks % domain or not domain < ranks <= 30 * domain:
            continue
        assert dp_pieces(tp, cp, dp, pp, domain) == _pieces_of(
            _dp_groups(tp, cp, dp, pp), domain
        ), (
            tp,
            cp,
            pp,
            dp,
        )
        checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("tp", "cp", "dp", "pp", "ep", "etp"),
    [
        (4, 1, 117, 2, 8, 4),  # 936 ranks: the expert DP group 32 apart, 13 ranks a stage
        (4, 1, 117, 2, 4, 1),  # ETP1: 4 apart
        (2, 2, 27, 4, 4, 1),  # CP2, no CP axis in the expert order: 4 apart in 108
        (2, 1, 288, 1, 64, 1),  # EP64 on 8 racks: 64 apart, 1 or 2 a rack
        (1, 1, 144, 1, 144, 1),  # EP144 wider than a rack: 1 copy a rack
    ],
)
def test_the_expert_group_as_placed(tp: int, cp: int, dp: int, pp: int, ep: int, etp: int) -> None:
    groups = _expert_groups(tp, cp, dp, pp, ep, etp)
    assert expert_dp_pieces(tp, cp, dp, pp, ep, etp, 72) == _pieces_of(groups, 72)


def test_the_fsdp_caveat_states_uneven_pieces() -> None:
    # FSDP over 351 ranks of TP4 x PP2 x DP351 (2,808 ranks, 39 racks): a stage is 1,404 ranks,
    # 19.5 racks; its groups 4 apart sit as 18 a rack over 20 racks with 9 in the first or last
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    f = train_figures(hw, "bf16")
    assert f is not None
    assert _pieces_of(_dp_groups(4, 1, 351, 2), 72) == (9, 18, 20)
    text = fsdp_caveat(Layout(4, 2, 351, fsdp=351), f)
    lat = 8.4 + (350 - 19) * 3.4 + 19 * 14.0
    assert "351 ranks (20 scale-up domains of 9 to 18)" in text
    assert f"{lat / 1e3:.2f} ms latency a collective (19 network steps)" in text


@pytest.mark.parametrize(
    ("model", "system", "accelerators", "precision"),
    [
        ("llama-3.1-405b", "gb200-nvl72", 936, "bf16"),  # uneven DP pieces, FSDP twins
        ("qwen3-235b-a22b", "gb200-nvl72", 936, "fp8"),  # uneven expert DP pieces
        ("llama-3.1-8b", "hgx-h100", 48, "fp8"),
    ],
)
def test_scalar_and_array_steps_agree_where_pieces_are_uneven(
    model: str, system: str, accelerators: int, precision: str
) -> None:
    hw = hardware(CATALOG, system)
    assert hw is not None
    f = train_figures(hw, precision)
    assert f is not None
    seq = 8192
    mf = model_figures(CATALOG.models[model], seq)
    run = replace(RunFigures(seq, 2048.0 * seq, 16.0, 2.0), param_gather_bytes=1.0)
    lays = candidate_layouts(accelerators, mf, f, run)
    uneven = [
        lay
        for lay in lays
        if len(set(dp_pieces(lay.tp, lay.cp, lay.dp, lay.pp, f.scale_up_domain)[:2])) > 1
    ]
    assert uneven
    rate, _ = step_times_vector(_candidate_arrays(accelerators, mf, f, run), mf, f, run)
    scalar = [step_time(lay, mf, f, run).tokens_per_s for lay in lays]
    assert rate.tolist() == pytest.approx(scalar, rel=1e-9)
