"""Session review22: the all-to-all outside the 1F1B overlap (session dsv3scale) against an
event-level replay of Megatron-Core's interleaved schedule, written here from the source
(NVIDIA/Megatron-LM @d98e8a64dd megatron/core/pipeline_parallel/schedules.py:
get_pp_rank_microbatches' warm-up count, get_model_chunk_id / get_microbatch_id_in_model_chunk's
order with microbatch_group_size_per_vp_stage = PP; combined_1f1b.py: a steady-phase step runs
one chunk's forward beside another's backward, the all-to-all of each under the other's
compute). The replay is not the planner's code: each rank runs its ops in Megatron's order, an
op starts when its rank is free and its input has arrived (the previous virtual stage's forward,
the next one's backward), warm-up forwards and cool-down backwards pay their all-to-all in
full, a combined step costs its forward + backward compute (the all-to-all hidden)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from hardware.catalog import load_catalog
from planner.calibration import training as ct
from planner.demand import training as tr
from planner.demand.common import hardware
from planner.demand.training import Layout, model_figures, train_figures


def _replay(pp: int, v: int, m: int, kinds: list[tuple[float, float]]) -> float:
    """The step of an interleaved 1F1B schedule with the EP overlap: `kinds` = (t, h) of the
    first PP-1 ranks and of the last, a micro-batch's compute and the all-to-all the steady
    phase hides; a chunk is 1/v of it, its forward 1/3 of the compute, backward 2/3, each half
    of the all-to-all."""
    total = m * v

    def f_chunk(k: int) -> int:
        return (k // pp) % v

    def b_chunk(k: int) -> int:
        return v - 1 - (k // pp) % v

    def mb(k: int) -> int:
        return (k // (pp * v)) * pp + k % pp

    costs = [kinds[0]] * (pp - 1) + [kinds[1]]
    order: list[list[tuple[Any, ...]]] = []
    for r in range(pp):
        w = min(total, 2 * (pp - 1 - r) + (v - 1) * pp + 1)
        ops: list[tuple[Any, ...]] = [("F", k) for k in range(w)]
        ops += [("FB", w + i, i) for i in range(total - w)]
        ops += [("B", i) for i in range(total - w, total)]
        order.append(ops)
    done: dict[tuple[str, int, int, int], float] = {}
    clock = [0.0] * pp
    nxt = [0] * pp

    def f_dep(r: int, k: int) -> tuple[str, int, int, int] | None:
        c, j = f_chunk(k), mb(k)
        if r > 0:
            return ("F", r - 1, c, j)
        return ("F", pp - 1, c - 1, j) if c > 0 else None

    def b_dep(r: int, k: int) -> tuple[str, int, int, int]:
        c, j = b_chunk(k), mb(k)
        if r < pp - 1:
            return ("B", r + 1, c, j)
        return ("B", 0, c + 1, j) if c < v - 1 else ("F", pp - 1, v - 1, j)

    moved = True
    while moved:
        moved = False
        for r in range(pp):
            t, h = costs[r]
            f, b, a = t / v / 3.0, 2.0 * t / v / 3.0, h / v
            while nxt[r] < len(order[r]):
                op = order[r][nxt[r]]
                deps = []
                if op[0] in ("F", "FB"):
                    deps.append(f_dep(r, op[1]))
                if op[0] == "B":
                    deps.append(b_dep(r, op[1]))
                if op[0] == "FB":
                    deps.append(b_dep(r, op[2]))
                need = [d for d in deps if d is not None]
                if any(d not in done for d in need):
                    break
                start = max([clock[r]] + [done[d] for d in need])
                if op[0] == "F":
                    end = start + f + a / 2
                    done[("F", r, f_chunk(op[1]), mb(op[1]))] = end
                elif op[0] == "B":
                    end = start + b + a / 2
                    done[("B", r, b_chunk(op[1]), mb(op[1]))] = end
                else:
                    end = start + max(f + b, a)
                    done[("F", r, f_chunk(op[1]), mb(op[1]))] = end
                    done[("B", r, b_chunk(op[2]), mb(op[2]))] = end
                clock[r] = end
                nxt[r] += 1
                moved = True
    assert nxt == [len(o) for o in order], "the replay deadlocked"
    return max(clock)


def _model_step(pp: int, v: int, m: int, kinds: list[tuple[float, float]]) -> float:
    lay = Layout(tp=1, pp=pp, dp=8, ep=8, vp=v, ep_comm_overlap=True)
    t_mb = max(t for t, _ in kinds)
    fill = tr._ep_fill(lay, [(t, h, 0.0) for t, h in kinds], m, t_mb, True)
    return m * t_mb + (pp - 1) / v * t_mb + fill


@pytest.mark.parametrize(("pp", "v", "m"), [(4, 4, 8), (4, 4, 32), (8, 4, 64), (2, 8, 16)])
def test_equal_stages_pay_pp_micro_batches_of_all_to_all(pp: int, v: int, m: int) -> None:
    """Equal stages (t = 3, h = 1 a micro-batch): the replay's step is m·t + (PP-1)/v·t +
    PP·h, the last rank's (v-1)·PP + 1 warm-up chunks and the PP-1 fill/drain chunks before it,
    v·PP chunks of h/v. Session dsv3scale's form (the busiest rank's own chunks, rank 0's
    2·(PP-1) + (v-1)·PP + 1, the fill at the bubble's overlapped time) gave (PP-1)/v·h more."""
    t, h = 3.0, 1.0
    replay = _replay(pp, v, m, [(t, h), (t, h)])
    assert replay == pytest.approx(m * t + (pp - 1) / v * t + pp * h, rel=1e-12)
    assert _model_step(pp, v, m, [(t, h), (t, h)]) == pytest.approx(replay, rel=1e-12)


def test_a_slower_last_stage_waits_for_the_fill_at_full_all_to_all() -> None:
    """PP4 VP4, m = 8, the last stage 20% slower (t 3.6 against 3, h 1 on both): the last
    rank's busy time is 8 x 3.6 + 13/4 x 1 and its idle the first micro-batch's forward and
    the last backward's drain through the 3 ranks before it, 3/4 x (3 + 1): 28.8 + 3.25 + 3 =
    35.05, the replay's figure; session dsv3scale charged the bubble at 3/4 x 3.6 and no
    all-to-all in it (34.75)."""
    kinds = [(3.0, 1.0), (3.6, 1.0)]
    replay = _replay(4, 4, 8, kinds)
    assert replay == pytest.approx(8 * 3.6 + 13 / 4 * 1.0 + 3 / 4 * (3.0 + 1.0), rel=1e-12)
    assert _model_step(4, 4, 8, kinds) == pytest.approx(replay, rel=1e-12)


def test_unequal_stages_within_one_percent_of_the_replay() -> None:
    """Rank 0 pacing through its longer warm-up (more all-to-all hidden on the first stages) and
    the last stage pacing: the model within 1% of the replayed step."""
    for pp, v, m, kinds in [
        (4, 4, 8, [(3.0, 1.0), (3.0, 0.3)]),
        (4, 4, 32, [(3.0, 2.0), (3.0, 0.5)]),
        (8, 4, 64, [(3.0, 1.0), (3.3, 0.6)]),
        (4, 2, 16, [(3.0, 1.2), (2.7, 0.9)]),
    ]:
        replay = _replay(pp, v, m, kinds)
        assert _model_step(pp, v, m, kinds) == pytest.approx(replay, rel=0.01), (pp, v, m)


def test_the_coreweave_8192_row_against_the_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """CoreWeave's 8,192 GB300 DeepSeek-V3 row (TP1 PP4 VP4 EP32, m = 8, the all-to-all
    overlapped): the stage kinds the model computes, replayed in Megatron's order; the model's
    step term within 1% of the replay's. The last stage's all-to-all a micro-batch by hand:
    x_EP · 4 · (31/32) · 4,096 · 8 · 7,168 · 2 B a MoE layer over 13.36 MoE layers (58·13/61 +
    the MTP module's) at GB300's NVLink x collective efficiency, 34.3 ms."""
    catalog = load_catalog()
    r = next(x for x in ct.runs() if x["id"] == "mlperf60-deepseek-v3-gb300-8192gpu-step")
    seen: list[list[tuple[float, float, float]]] = []
    real = tr._ep_fill

    def spy(lay: Layout, kinds: list[tuple[float, float, float]], *a: Any) -> float:
        seen.append(list(kinds))
        return real(lay, kinds, *a)

    monkeypatch.setattr(tr, "_ep_fill", spy)
    st = ct._step(catalog, r, r["layout"], int(r["sequence_length"]), r["global_batch_tokens"])
    hw = hardware(catalog, r["system"])
    assert hw is not None
    f = train_figures(hw, r["precision"])
    mf = model_figures(catalog.models[r["model"]], int(r["sequence_length"]))
    ep, t, k, hid = 32, 4096.0, 8, 7168
    x_ep = 1 + math.sqrt(2 * math.log(ep) / (t * k))
    a2a = x_ep * 4 * (ep - 1) / ep * t * k * hid * 2.0 * (58 * 13 / 61 + 1)
    a2a /= f.scale_up_bytes_per_s * f.collective_efficiency
    assert 0.0340 < a2a < 0.0346
    kinds = seen[-1]
    assert kinds[1][1] == pytest.approx(a2a, rel=1e-9) and kinds[1][2] == 0.0
    assert st.last_stage and st.micro_batches == 8 and mf.layers == 61
    pairs = [(ti - ei, full - ei) for ti, full, ei in kinds]
    replay = _replay(4, 4, 8, pairs)
    t_mb = st.micro_batch_s
    model = 8 * t_mb + 3 / 4 * t_mb + st.ep_fill_s
    assert model == pytest.approx(replay, rel=0.01)
    # the row stays in its band
    assert abs(ct.predict(r, catalog) / r["published"] - 1) <= r["tolerance_rel"]


def test_an_interleaved_ep_overlap_under_megatron_fsdp_is_refused() -> None:
    """Megatron-Core asserts "EP overlap 1F1B with FSDP is not supported for interleaved
    pipeline parallelism" (combined_1f1b.py @d98e8a64dd): a pinned layout with fsdp,
    ep_comm_overlap and vp > 1 is refused."""
    from planner.kinds.pretrain import LayoutSpec

    with pytest.raises(ValueError, match="interleaved"):
        LayoutSpec(pp=2, vp=2, dp=8, ep=8, fsdp=8, ep_comm_overlap=True)
    LayoutSpec(pp=1, dp=8, ep=8, fsdp=8, ep_comm_overlap=True)
    LayoutSpec(pp=2, vp=2, dp=8, ep=8, ep_comm_overlap=True)


def test_a_trainium3_training_plan_says_what_its_rate_rests_on() -> None:
    """Trainium3 takes Trainium2's fitted BF16 training fraction (session trn2); a plan training
    on Trainium3 states that the figure is Trainium2's, fitted on AXLearn's two FSDP runs, not
    only the generic estimated-figure line (review22: it had no calibration_limit)."""
    from planner.kinds.pretrain import _estimated_training

    catalog = load_catalog()
    texts = [c.text for c in _estimated_training("pre", "bf16", catalog, ["trn3-ultraserver"])]
    limit = [t for t in texts if "AXLearn" in t]
    assert len(limit) == 1
    assert "Trainium2's" in limit[0] and "0.29" in limit[0] and "fully sharded" in limit[0]
    t2 = catalog.accelerators["trainium2"].training
    assert t2 is not None and t2.gemm_efficiency["bf16"] == 0.29


def test_trainium2_against_gb200_cost_per_flop_by_hand() -> None:
    """Why training left Trainium2 where GB200 is offered (frontier-lab--rental, session trn2):
    the 405B pretraining's rate a unit on rental prices (systems.yaml: trn2.48xlarge $35.76/h,
    16 chips; GB200 NVL72 $756/h, 72 GPUs). FLOP per token and goodput are the same run's on
    both, so the $ a FLOP compare as $/h / (accelerators x tokens/s each): Trainium2 at the
    fitted 0.29, TP16 x PP4 x DP261 x CP2, 64.29 tokens/s a chip: $35.76 / (16 x 64.29) =
    $0.03477 per 1,000 tokens/s; GB200 TP4 x DP1260 (FSDP, the batch rounded up 29.0% to whole
    micro-batches), 430.5 tokens/s a GPU: $756 / (72 x 430.5) = $0.02439; Trainium2 costs 1.43x
    GB200 a FLOP (4.24e-18 against 2.97e-18 $), so training still leaves Trainium2. Session s34
    fit (the B200 die's BF16 fraction fitted 0.58 -> 0.48): 1.69x before (GB200 TP4 x DP1062,
    the batch rounded up 8.7%, 510.4 tokens/s a GPU, 2.51e-18 $): a GPU's rate falls x 0.843
    (the GEMMs x 0.48 / 0.58 = 0.828, the rest of the step unchanged; not the rounding: at a
    200-day deadline DP576 gives 431.7 tokens/s a GPU), so the 90-day run needs more of them,
    DP1062 -> DP1260.
    Session 33 (pergemm): ~1.9x before (4.57e-18 against
    2.44e-18: Trainium2 TP8 x CP4 at 59.63 tokens/s, GB200 523.8 at B200-die BF16 0.61); each
    linear at its own GEMM shape favours Trainium2's TP16 (+7.8%) and GB200's fraction fell to
    0.58 (-2.6%). At the former 0.55 Trainium2 would be 8% below GB200 (2.31e-18; ~2% before)."""
    import yaml

    from planner.demand.pretrain import pretrain_rate
    from planner.kinds.pretrain import PretrainSpec

    catalog = load_catalog()
    sc = yaml.safe_load(Path("planner/scenarios/frontier-lab.yaml").read_text())
    w = next(v for v in sc["workloads"].values() if v.get("kind") == "pretrain")
    spec = PretrainSpec(**w)
    rates = {s: pretrain_rate(spec, catalog, s) for s in ("trn2-server", "gb200-nvl72")}
    usd = {
        s: catalog.systems[s].rental_usd_per_hour / (r.per_unit_s * 3600) for s, r in rates.items()
    }
    assert catalog.systems["trn2-server"].rental_usd_per_hour == 35.76
    assert catalog.systems["gb200-nvl72"].rental_usd_per_hour == 756.0
    assert "TP16 x PP4 x DP261 x CP2" in rates["trn2-server"].reason
    assert "(64.29 tokens/s each)" in rates["trn2-server"].reason
    assert "TP4 x PP1 x DP1260" in rates["gb200-nvl72"].reason
    assert "(430.5 tokens/s each)" in rates["gb200-nvl72"].reason
    by_hand = (35.76 / (16 * 64.29)) / (756.0 / (72 * 430.5))
    assert by_hand == pytest.approx(1.425, abs=5e-4)
    # the printed tokens/s carry 4 figures
    assert usd["trn2-server"] / usd["gb200-nvl72"] == pytest.approx(by_hand, rel=2e-4)
    assert usd["trn2-server"] == pytest.approx(4.24e-18, rel=2e-3)
    assert usd["gb200-nvl72"] == pytest.approx(2.97e-18, rel=2e-3)


def test_fsdp_embedding_unit_not_on_a_middle_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    """With embedding_loss_in_pp_split at PP > 2 the busiest of the first PP-1 stages is a
    middle one (the first holds one layer fewer beside the embedding): that stage kind carries
    no embedding FSDP unit; at PP 2 the first kind is the first stage itself and does. Session
    fsdp2 charged the embedding's gather and reduce-scatter to the middle stage."""
    from planner.calibration.training import RunFigures

    catalog = load_catalog()
    hw = hardware(catalog, "hgx-h100")
    assert hw is not None
    f = train_figures(hw, "bf16")
    mf = model_figures(catalog.models["llama-3.1-8b"], 8192)
    run = RunFigures(8192, 8 * 2**20, 16.0, 2.0, 1.0)
    calls: list[tuple[float, float]] = []
    real = tr.fsdp_exposed

    def spy(*a: Any, **k: Any) -> float:
        calls.append(a[5] if len(a) > 5 else k.get("embedding", (0.0, 0.0)))
        return real(*a, **k)

    monkeypatch.setattr(tr, "fsdp_exposed", spy)
    for pp, first_has in ((4, False), (2, True)):
        calls.clear()
        lay = Layout(tp=1, pp=pp, dp=16, fsdp=16, embedding_loss_in_pp_split=True)
        tr.step_time(lay, mf, f, run, recompute=1.0)
        # each rank placement (PP across or inside the scale-up domain) calls it per stage kind
        assert len(calls) in (2, 4)
        assert all((c[0] > 0) is first_has for c in calls[0::2]), pp
        assert all(c[0] == 0.0 for c in calls[1::2])  # the last stage: the head, not the embedding
