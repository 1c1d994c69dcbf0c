"""Communication groups that fit a scale-up domain's size but straddle two of its domains
(session 29, qa28's finding): a job of whole NVL72 racks runs its groups over consecutive ranks,
so a group whose span does not divide the rack's 72 GPUs crosses a rack boundary, and the
slowest group sets a synchronous collective's time (`training.in_one_domain`)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hardware.catalog import load_catalog
from planner.demand.common import hardware
from planner.demand.training import (
    ACTIVATION_VALUE_BYTES,
    Layout,
    RunFigures,
    domains_spanned,
    ep_load_imbalance,
    fsdp_caveat,
    in_one_domain,
    model_figures,
    step_time,
    target_nodes,
    train_figures,
)

CATALOG = load_catalog()


@pytest.mark.parametrize(
    ("span", "ranks", "inside"),
    [
        (64, 576, False),  # EP64 on 8 NVL72 racks: 7 of its 9 groups cross a rack boundary
        (64, 1152, False),
        (72, 576, True),  # divides the rack
        (36, 576, True),
        (8, 576, True),
        (128, 576, False),  # wider than a rack: hierarchical, as before
        (64, 72, True),  # the job fits one rack
        (64, 64, True),
        (64, 256, True),  # not whole racks: placed as NVIDIA's 256-GPU runs, 4 racks of 64
        (64, 2496, True),  # MLPerf's 2,496 GB200 GPUs: 39 racks of 64
        (32, 144, False),  # two whole racks: the third group of 32 spans ranks 64-95
    ],
)
def test_a_group_is_inside_a_domain_only_where_its_span_fits_the_jobs_racks(
    span: int, ranks: int, inside: bool
) -> None:
    assert in_one_domain(span, ranks, 72) is inside
    if ranks % 72 == 0 and ranks > 72:
        # a job of whole racks: by counting the groups that cross a rack boundary
        crossing = sum(g * span // 72 != ((g + 1) * span - 1) // 72 for g in range(ranks // span))
        assert (crossing == 0) is inside or span > 72


def test_the_array_rule_is_the_scalar_rule() -> None:
    spans = [1, 2, 4, 8, 9, 16, 18, 32, 36, 48, 64, 72, 128, 144]
    ranks = [8, 64, 72, 144, 256, 512, 576, 1024, 1152, 2496, 4608]
    pairs = list(itertools.product(spans, ranks))
    vector = in_one_domain(
        np.array([s for s, _ in pairs], dtype=float),
        np.array([r for _, r in pairs], dtype=float),
        72,
    )
    assert vector.tolist() == [in_one_domain(s, r, 72) for s, r in pairs]


def _gb200_fp8():
    """GB200 NVL72 and its FP8 training figures."""
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    f = train_figures(hw, "fp8")
    assert f is not None
    return hw, f


def _deepseek_step(dp: int, ep: int = 64):
    _, f = _gb200_fp8()
    mf = model_figures(CATALOG.models["deepseek-v3"], 4096)
    run = RunFigures(4096, dp * 16 * 4096.0, 10.0, 2.0)
    lay = Layout(tp=1, pp=1, dp=dp, ep=ep)  # one stage kind: the same MoE layers on both
    return step_time(lay, mf, f, run, recompute=1.0), mf, f


def test_ep64_on_whole_racks_pays_the_rack_boundary_and_on_64_a_rack_does_not() -> None:
    """DeepSeek-V3 TP1 EP64: on 576 ranks (8 whole racks) its EP groups straddle racks and
    the all-to-all is the hierarchical one over 2 domains, max(scale-out leg, NVLink leg); on
    512 ranks (8 racks of 64) each group is inside a rack at the NVLink rate. Same per-rank
    micro-batch, so the ratio of the two exposed all-to-alls is recomputed here."""
    straddling, mf, f = _deepseek_step(576)
    inside, _, _ = _deepseek_step(512)
    assert straddling.micro_batches == inside.micro_batches
    t = 4096.0  # tokens a rank per micro-batch (micro_batch 1, TP1)
    h, k = mf.hidden, mf.experts_per_token
    su = f.scale_up_bytes_per_s * f.collective_efficiency
    so = f.scale_out_bytes_per_s * f.collective_efficiency
    nvlink = 4.0 * 63 / 64 * t * k * h * ACTIVATION_VALUE_BYTES / su
    copies = target_nodes(mf, 2.0) * (2 - 1) / 2  # DeepSeek's node-limited routing: 2 of 2
    scale_out = 4.0 * copies * t * h * ACTIVATION_VALUE_BYTES / so
    assert scale_out > nvlink  # the rack boundary is the slower leg
    assert straddling.ep_s / inside.ep_s == pytest.approx(max(scale_out, nvlink) / nvlink)
    assert inside.ep_s > 0
    assert ep_load_imbalance(mf, t, 64) >= 1.0


def test_pp_stages_share_a_rack_only_where_the_replica_divides_it() -> None:
    """A TP4 x CP2 x PP8 replica (64 ranks) on whole NVL72 racks straddles a rack boundary:
    the PP-inside placement is not offered; 4 racks of 64 (256 ranks, not whole racks) offer
    it, as the published 256-GPU runs place it."""
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    f = train_figures(hw, "bf16")
    assert f is not None
    mf = model_figures(CATALOG.models["llama-3.1-8b"], 8192)
    for dp, offered in ((9, False), (4, True)):
        lay = Layout(tp=4, cp=2, pp=8, dp=dp, vp=1)
        run = RunFigures(8192, dp * 8 * 8192.0, 16.0, 2.0)
        assert in_one_domain(64, lay.accelerators, 72) is offered
        if offered:
            continue
        assert not step_time(lay, mf, f, run, recompute=0.0).pp_in_scale_up


def test_a_job_of_whole_racks_may_run_on_64_of_each_racks_72() -> None:
    """The search also rates a job of whole NVL72 racks on 64 of each rack's 72 GPUs (its
    power-of-two groups inside a rack, 8 GPUs a rack idle): its layouts carry domain_ranks 64,
    step_time re-rates them alike on the racks' own figures, and the job's rate is the faster of
    the two over all 576 GPUs held. For DeepSeek-V3 on 8 racks the whole racks still win
    (EP8 fully sharded, 2.46M tokens/s; EP32 PP3 with PP inside a rack, its 96-rank EP groups
    over 2 racks each, 2.51M while charged 1.33 racks, session 29; against EP64 inside 64-GPU
    racks, 2.32M: the idle ninth costs more than the boundary)."""
    from planner.demand.pretrain import _on_part_of_each_domain, training_throughput
    from planner.demand.training import best_layout

    hw, f = _gb200_fp8()
    arch = CATALOG.models["deepseek-v3"]
    mf = model_figures(arch, 4096)
    run = RunFigures(4096, 15360 * 4096.0, 10.0, 2.0)
    part = _on_part_of_each_domain(576, mf, f, run)
    assert part is not None and part.best is not None
    assert part.best.layout.domain_ranks == 64 and part.best.layout.accelerators == 512
    assert "64 ranks a scale-up domain" in str(part.best.layout)
    again = step_time(part.best.layout, mf, f, run)
    assert again.tokens_per_s == pytest.approx(part.best.tokens_per_s, rel=1e-12)
    whole = best_layout(576, mf, f, run)
    assert whole.best is not None
    tt = training_throughput(
        hw,
        arch,
        "fp8",
        sequence_tokens=4096,
        global_batch_tokens=15360 * 4096.0,
        bytes_per_param=10.0,
        gradient_precision="bf16",
        work_flops_per_token=1.0,
        accelerators=576,
        goodput=1.0,
    )
    fastest = max(whole.best.tokens_per_s, part.best.tokens_per_s)
    assert tt.rate_per_unit_s == pytest.approx(72 * fastest / 576, rel=1e-12)
    assert whole.best.tokens_per_s > part.best.tokens_per_s
    # no such option where the domain is a power of two or the job one domain
    assert _on_part_of_each_domain(72, mf, f, run) is None
    h100 = train_figures(hardware(CATALOG, "hgx-h100"), "fp8")  # type: ignore[arg-type]
    assert h100 is not None and _on_part_of_each_domain(512, mf, h100, run) is None


@pytest.mark.parametrize(
    ("layout", "note"),
    [
        # 8 whole racks: EP64 and EP32 groups straddle (72 mod 64, 72 mod 32 != 0), EP8 does not
        (Layout(tp=1, pp=1, dp=576, ep=64), "EP groups of 64 ranks"),
        (Layout(tp=1, pp=1, dp=576, ep=32), "EP groups of 32 ranks"),
        (Layout(tp=1, pp=1, dp=576, ep=8), ""),
        # TP16 straddles too; its EP groups (ETP 1 x EP 8 = 8 ranks) do not
        (Layout(tp=16, pp=1, dp=36, ep=8), "TP groups of 16 ranks"),
        # 8 racks of 64 (not whole racks): placed as the published runs, nothing straddles
        (Layout(tp=1, pp=1, dp=512, ep=64), ""),
    ],
)
def test_a_layout_says_which_of_its_groups_cross_a_rack(layout: Layout, note: str) -> None:
    """A user reading an exposed EP term of 700 ms could not tell it came from groups crossing
    a rack boundary: the layout's placement note (StepTime.placement_note, in every rate
    derivation) names the TP, CP and EP groups that in_one_domain puts across two scale-up
    domains, and nothing where every group is inside one."""
    _, f = _gb200_fp8()
    mf = model_figures(CATALOG.models["deepseek-v3"], 4096)
    run = RunFigures(4096, layout.dp * 16 * 4096.0, 10.0, 2.0)
    st = step_time(layout, mf, f, run, recompute=1.0)
    text = st.placement_note()
    if not note:
        assert "cross" not in text, text
        return
    assert f"{note} cross 72-rank scale-up domains (over scale-out)" in text, text
    span = int(note.split(" of ")[1].split()[0])
    assert not in_one_domain(span, layout.accelerators, 72)  # the rule the charge uses


def test_the_fsdp_caveat_of_a_layout_on_64_of_each_rack_counts_racks_of_64() -> None:
    # FSDP over 576 ranks on 64 of each of 9 GB200 racks' 72 GPUs (domain_ranks 64): step_time
    # places it on 9 domains of 64, and the caveat states that placement, its ring latency over
    # 8 network steps (NCCL Ring/Simple: 8.4 us + 567 NVLink steps x 3.4 + 8 x 14.0). Without
    # domain_ranks the same 576 ranks fill 8 whole racks of 72.
    hw = hardware(load_catalog(), "gb200-nvl72")
    assert hw is not None
    f = train_figures(hw, "bf16")
    assert f is not None
    text = fsdp_caveat(Layout(1, 1, 576, fsdp=576, domain_ranks=64), f)
    assert "576 ranks (9 scale-up domains of 64)" in text
    assert (
        f"{(8.4 + 567 * 3.4 + 8 * 14.0) / 1e3:.2f} ms latency a collective (8 network steps)"
        in text
    )
    whole = fsdp_caveat(Layout(1, 1, 576, fsdp=576), f)
    assert "576 ranks (8 scale-up domains of 72)" in whole


@pytest.mark.parametrize("domain", [8, 64, 72])
def test_the_widest_group_is_counted_by_the_domains_its_ranks_touch(domain: int) -> None:
    # Every span that tiles a job of 2 to 32 whole domains: the most domains any group of span
    # consecutive ranks (starting at multiples of span) touches, counted rank by rank, is
    # domains_spanned's, scalar and array alike, for groups wider than a domain too.
    for domains in range(2, 33):
        ranks = domains * domain
        spans = [s for s in range(2, ranks + 1) if ranks % s == 0]
        for span in spans:
            touched = max(
                len({r // domain for r in range(start, start + span)})
                for start in range(0, ranks, span)
            )
            assert domains_spanned(span, ranks, domain) == touched, (span, ranks)
        got = domains_spanned(np.array(spans, dtype=float), np.full(len(spans), ranks), domain)
        assert got.tolist() == [float(domains_spanned(s, ranks, domain)) for s in spans]


def test_ep128_on_16_whole_racks_pays_for_the_groups_over_three_racks() -> None:
    """DeepSeek-V3 TP1 EP128 on 1,152 ranks (16 whole GB200 racks): the group of ranks 128-255
    touches racks 1, 2 and 3, so the hierarchical dispatch is over n = 3 domains, not the mean
    128/72 = 1.78 it was charged (which made EP128 cheaper than a straddling EP64's n = 2); on
    1,024 ranks (not whole racks, placed as the published runs) it stays 128/72. Same per-rank
    micro-batches and load imbalance: the ratio of the two all-to-alls is recomputed here."""
    whole, mf, f = _deepseek_step(1152, ep=128)
    placed, _, _ = _deepseek_step(1024, ep=128)
    assert whole.micro_batches == placed.micro_batches
    t, h, k = 4096.0, mf.hidden, mf.experts_per_token
    su = f.scale_up_bytes_per_s * f.collective_efficiency
    so = f.scale_out_bytes_per_s * f.collective_efficiency
    nvlink = 4.0 * 127 / 128 * t * k * h * ACTIVATION_VALUE_BYTES / su

    def hierarchical(n: float) -> float:
        out = 4.0 * target_nodes(mf, n) * (n - 1) / n * t * h * ACTIVATION_VALUE_BYTES / so
        return max(out, nvlink)

    assert whole.ep_s / placed.ep_s == pytest.approx(hierarchical(3.0) / hierarchical(128 / 72))
    assert whole.ep_s > placed.ep_s
