"""ZeRO-3 / FSDP weight sharding as a layout input (Layout.fsdp, session s21), checked against
hand computations with the catalog's numbers: the memory of the shard and two gathered layers,
each layer's all-gathers and reduce-scatter on the DP ring with NCCL's ring latency, their
overlap one layer ahead, hybrid sharding's once-a-step all-reduce, and bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import bench_module
import pytest
from test_bad_input import MARK, Case, assert_reported, expected_line, sc, write_case

import cli
from fleetcore.schema import BYTES_PER_VALUE
from hardware.catalog import load_catalog
from planner.calibration import training as ct
from planner.commands.estimate import _layout as cli_layout
from planner.demand.common import hardware
from planner.demand.training import (
    Layout,
    RunFigures,
    _candidate_arrays,
    best_layout,
    candidate_layouts,
    fsdp_exposed,
    fsdp_problem,
    model_figures,
    search_all,
    step_time,
    step_times_vector,
    train_figures,
)

CATALOG = load_catalog()
SEQ = 8192


def _h100_8b() -> tuple:
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    f = train_figures(hw, "fp8")
    assert f is not None
    arch = CATALOG.models["llama-3.1-8b"]
    run = RunFigures(SEQ, 128 * SEQ, 16.0, 2.0, 1.0)  # FP8 parameter gather: 1 B
    return f, model_figures(arch, SEQ), run, arch


def test_fsdp_memory_hand_computed_with_catalog_numbers() -> None:
    # Llama 3.1 8B on 8 H100, FSDP over the 8: the shard N/8 x (1 B gathered weights + 2 B
    # gradients + 16 - 2 - 2 = 12 B optimizer state) + two gathered layers (N - 2E)/32 x (1 + 2) B
    # + the embedding and the head, E = vocab x hidden each, gathered with their gradients,
    # 2E x (1 + 2) B (units of their own, session s22 fsdp2), + 32 layers x 8,192 tokens x
    # hidden x 29 B (FP8 stored activations), nothing recomputed; ZeRO-1 held the whole
    # N x (1 + 2) B instead of the shard's.
    f, mf, run, arch = _h100_8b()
    n = arch.params
    e = 128256 * 4096
    assert arch.vocab == 128256 and arch.hidden == 4096
    act = arch.layers * SEQ * arch.hidden * 29.0
    fsdp = step_time(Layout(dp=8, fsdp=8), mf, f, run, 0.0)
    zero1 = step_time(Layout(dp=8), mf, f, run, 0.0)
    held = n / 8 * (1 + 2 + 12) + 2 * (n - 2 * e) / 32 * 3 + 2 * e * 3
    assert fsdp.memory_bytes == pytest.approx(held + act)
    assert zero1.memory_bytes == pytest.approx(n * 3 + n / 8 * 12 + act)
    # the optimizer step is on the same shard under both
    assert fsdp.optimizer_s == pytest.approx(zero1.optimizer_s)


def test_fsdp_collectives_and_overlap_hand_computed_with_catalog_numbers() -> None:
    # Each layer's weights ((N - 2E)/32 parameters, E = vocab x hidden the embedding's and the
    # head's, units of their own) all-gathered at 1 B twice and its gradients reduce-scattered
    # at 2 B, per micro-batch, over the 8 GPUs of one NVLink domain: B(bytes) = 7/8 x bytes /
    # (NVLink one way x collective efficiency), each + NCCL's Ring/Simple latency 8.4 + 7 x
    # 3.4 us; the embedding and the head each gathered once (1 B) and reduce-scattered once
    # (2 B); 16 micro-batches a step.
    f, mf, run, arch = _h100_8b()
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    su = hw.accelerator.scale_up_bandwidth_bytes_per_s / 2 * f.collective_efficiency
    e = 128256 * 4096
    p_u = (arch.params - 2 * e) / arch.layers
    alpha = (8.4 + 7 * 3.4) * 1e-6
    g = alpha + 7 / 8 * p_u * 1.0 / su
    r = alpha + 7 / 8 * p_u * 2.0 / su
    g_e = alpha + 7 / 8 * e * 1.0 / su
    r_e = alpha + 7 / 8 * e * 2.0 / su
    st = step_time(Layout(dp=8, fsdp=8), mf, f, run, 0.0)
    assert st.micro_batches == 16
    assert st.dp_s == pytest.approx(16 * (arch.layers * (2 * g + r) + 2 * (g_e + r_e)))
    assert st.dp_exposed_s == 0.0  # no exchange at the step's end
    # a layer's compute hides the next layer's collectives, the last layer's forward the head's
    # gather and the first backward window the head's reduce-scatter too: exposed, the first
    # gathers (embedding, then the first layer) and the last reduce-scatters (the first layer,
    # then the embedding) of each micro-batch
    compute = st.gemm_s + st.head_s + st.attention_s + st.memory_s
    c_f, c_b = compute / arch.layers / 3, compute / arch.layers * 2 / 3
    assert c_f > g and c_f > g_e and c_b > g + r + r_e
    exposed = g_e + g + r + r_e
    assert st.fsdp_s == pytest.approx(exposed)
    assert st.micro_batch_s == pytest.approx(compute + exposed)
    assert st.step_s == pytest.approx(16 * (compute + exposed) + st.optimizer_s)
    assert "exposed FSDP" in st.breakdown() and "FSDP over 8" in str(st.layout)


def test_the_overlap_rule() -> None:
    # n = 4 units, compute 12 s (forward 1/3): a unit's forward 1 s, backward 2 s.
    # Collectives shorter: the first gather and the last reduce-scatter exposed.
    assert fsdp_exposed(0.5, 0.5, 12.0, 1 / 3, 4) == pytest.approx(1.0)
    # Longer: g + 3 x (g - 1) forward, 3 x (g + r - 2) + r backward.
    g, r = 1.5, 1.0
    assert fsdp_exposed(g, r, 12.0, 1 / 3, 4) == pytest.approx(g + 3 * 0.5 + 3 * 0.5 + r)
    # A forward-only pass gathers once a unit, no reduce-scatter.
    assert fsdp_exposed(1.5, 1.0, 4.0, 1.0, 4) == pytest.approx(1.5 + 3 * 0.5)
    # One unit: nothing to overlap with.
    assert fsdp_exposed(2.0, 3.0, 100.0, 1 / 3, 1) == pytest.approx(5.0)


def test_hybrid_sharding_all_reduces_the_shards_once_a_step() -> None:
    # HSDP 4 of DP 8 on one NVLink domain: gathers over 4 ranks (3/4 of a layer's bytes,
    # latency 8.4 + 3 x 3.4 us), and the 2 replicas all-reduce their gradient shards,
    # 2 x (2-1)/2 x N/4 x 2 B over NVLink, hidden behind the last micro-batch; memory holds N/4.
    # The embedding and the head (E = vocab x hidden each) are units of their own, gathered once
    # and reduce-scattered once a micro-batch, held gathered with their gradients.
    f, mf, run, arch = _h100_8b()
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    su = hw.accelerator.scale_up_bandwidth_bytes_per_s / 2 * f.collective_efficiency
    n = arch.params
    e = 128256 * 4096
    p_u = (n - 2 * e) / arch.layers
    alpha = (8.4 + 3 * 3.4) * 1e-6
    g = alpha + 3 / 4 * p_u * 1.0 / su
    r = alpha + 3 / 4 * p_u * 2.0 / su
    ends = 2 * (2 * alpha + 3 / 4 * e * (1.0 + 2.0) / su)
    reduce_s = 2 * (2 - 1) / 2 * n / 4 * 2.0 / su
    st = step_time(Layout(dp=8, fsdp=4), mf, f, run, 0.0)
    assert st.dp_s == pytest.approx(16 * (arch.layers * (2 * g + r) + ends) + reduce_s)
    assert st.dp_exposed_s == 0.0 and reduce_s < st.micro_batch_s
    act = arch.layers * SEQ * arch.hidden * 29.0
    assert st.memory_bytes == pytest.approx(n / 4 * 15 + 2 * p_u * 3 + 2 * e * 3 + act)


def test_fsdp_lets_a_model_fit_without_recomputation() -> None:
    # Llama 3.1 70B on 64 GB200 at 2 sequences a GPU: ZeRO-1 holds 70e9 x 3 B of weights and
    # gradients a GPU, FSDP 64 a 64th of them; the least recomputation that fits falls.
    r = next(x for x in ct.runs() if x["id"] == "mbridge2511-llama3-70b-fp8-gb200-64gpu-fsdp")
    free = {k: v for k, v in r.items() if k != "recompute"}
    zero1 = {**free, "layout": {k: v for k, v in r["layout"].items() if k != "fsdp"}}
    a = ct._step(CATALOG, free, free["layout"], SEQ, r["global_batch_tokens"])
    b = ct._step(CATALOG, zero1, zero1["layout"], SEQ, r["global_batch_tokens"])
    assert a.recompute < b.recompute
    # at the recipe's pinned recompute (none) the two differ by the weights and gradients
    # not held: 70e9 x (1 + 2) B x (1 - 1/64) less two gathered layers, 2 x (70e9 - 2E)/80 x 3 B,
    # and the gathered embedding and head, 2E x 3 B (E = 128,256 x 8,192)
    c = ct._step(CATALOG, r, r["layout"], SEQ, r["global_batch_tokens"])
    d = ct._step(CATALOG, {**r, "layout": zero1["layout"]}, zero1["layout"], SEQ, 2097152)
    n = CATALOG.models["llama-3.1-70b"].params
    e = 128256 * 8192
    held = 2 * (n - 2 * e) / 80 * 3 + 2 * e * 3
    assert d.memory_bytes - c.memory_bytes == pytest.approx(n * 3 * 63 / 64 - held)


def test_calibration_rows_carry_their_sources_fsdp_groups() -> None:
    rows = {r["id"]: r for r in ct.runs()}
    assert ct._layout(rows["axlearn-llama2-70b-bf16-h100-512gpu"]["layout"]).fsdp == 128
    assert ct._layout(rows["axlearn-llama2-7b-bf16-trn2-1024chip"]["layout"]).fsdp == 1024
    assert ct._layout(rows["torchtitan-llama3-8b-fp8-over-bf16"]["layout"]).fsdp == 8
    fsdp_rows = [r for r in rows.values() if r.get("layout", {}).get("fsdp")]
    assert len(fsdp_rows) >= 9
    # a pinned recompute reaches the step model
    row = rows["mbridge2511-llama3-8b-fp8-h100-8gpu-fsdp"]
    st = ct._step(CATALOG, row, row["layout"], SEQ, row["global_batch_tokens"])
    assert st.recompute == pytest.approx(5 / 32)


def test_fsdp_problems_of_a_pinned_layout() -> None:
    assert fsdp_problem(Layout(dp=8, fsdp=8), 0) == ""
    assert "divide DP x CP = 8" in fsdp_problem(Layout(dp=8, fsdp=3), 0)
    assert "whole CP groups" in fsdp_problem(Layout(dp=4, cp=4, fsdp=2), 0)
    assert "MoE model is not modelled" in fsdp_problem(Layout(dp=8, ep=8, fsdp=4), 128)
    f, mf, run, _ = _h100_8b()
    choice = best_layout(8, mf, f, run, pinned=Layout(dp=8, fsdp=3))
    assert choice.best is None and "fsdp 3 must" in choice.reason


def test_the_layout_search_ranks_fully_sharded_twins() -> None:
    # every candidate with DP·CP > 1 has a fully sharded twin right after it, in the array
    # ranking and in the brute force alike
    f, mf, run, _ = _h100_8b()
    lays = candidate_layouts(64, mf, f, run)
    c = _candidate_arrays(64, mf, f, run)
    assert [lay.fsdp for lay in lays] == c["fsdp"].tolist()
    assert all(
        b.fsdp == a.dp * a.cp and replace(b, fsdp=0) == a
        for a, b in zip(lays, lays[1:], strict=False)
        if b.fsdp
    )
    assert sum(lay.fsdp > 0 for lay in lays) == sum(lay.dp * lay.cp > 1 for lay in lays) // 2


@pytest.mark.parametrize(
    ("model", "system", "accelerators"),
    [("llama-3.1-405b", "gb200-nvl72", 1152), ("deepseek-v3", "gb200-nvl72", 576)],
)
def test_vector_and_scalar_agree_on_fully_sharded_candidates(
    model: str, system: str, accelerators: int
) -> None:
    hw = hardware(CATALOG, system)
    assert hw is not None
    f = train_figures(hw, "fp8")
    assert f is not None
    mf = model_figures(CATALOG.models[model], 4096)
    run = RunFigures(4096, 2048 * 4096.0, 16.0, 2.0)
    c = _candidate_arrays(accelerators, mf, f, run)
    rate, memory = step_times_vector(c, mf, f, run)
    lays = candidate_layouts(accelerators, mf, f, run)
    idx = [i for i, lay in enumerate(lays) if lay.fsdp]
    assert idx
    scalar = [step_time(lays[i], mf, f, run) for i in idx]
    assert rate[idx].tolist() == pytest.approx([st.tokens_per_s for st in scalar], rel=1e-9)
    assert memory[idx].tolist() == pytest.approx([st.memory_bytes for st in scalar], rel=1e-9)


def test_the_search_picks_fsdp_where_it_is_faster() -> None:
    # Llama 3.1 405B on 4,608 GB200 (frontier-lab's size): TP4 x DP1152 fully sharded beats
    # the best ZeRO-1 layout (TP4 x PP8 x DP72 x CP2, interleaved) by ~9% (bench/fsdp_search_scan.py)
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    f = train_figures(hw, "fp8")
    assert f is not None
    mf = model_figures(CATALOG.models["llama-3.1-405b"], 8192)
    run = RunFigures(8192, 16 * 2**20, 16.0, 2.0)
    choice = best_layout(4608, mf, f, run)
    assert (
        choice.best is not None
        and choice.best.layout.fsdp == choice.best.layout.dp * choice.best.layout.cp
    )
    zero1 = [st for st in search_all(4608, mf, f, run) if not st.layout.fsdp]
    assert choice.best.tokens_per_s > zero1[0].tokens_per_s


def test_cli_layout_key() -> None:
    assert cli_layout("tp=1,dp=8,fsdp=8") == {"tp": "1", "dp": "8", "fsdp": "8"}


FSDP_CASES = [
    Case(
        "pretrain-fsdp-of-one",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: llama-3.1-8b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout: {{tp: 1, dp: 8, fsdp: 1}}  {MARK}\n",
        ),
        path="workloads.pre.layout",
        message="fsdp must be 0 (off) or the sharding group's size, at least 2",
    ),
    Case(
        "pretrain-fsdp-not-dividing-the-data-parallel-ranks",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: llama-3.1-8b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout: {{tp: 1, dp: 8, fsdp: 3}}  {MARK}\n",
        ),
        path="workloads.pre.layout",
        message="fsdp 3 must divide dp x cp = 8",
    ),
    Case(
        "pretrain-fsdp-not-a-number",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: llama-3.1-8b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout:\n      dp: 8\n      fsdp: everything  {MARK}\n",
        ),
        path="workloads.pre.layout.fsdp",
        message="expected a whole number",
    ),
]


@pytest.mark.parametrize("case", FSDP_CASES, ids=[c.id for c in FSDP_CASES])
def test_bad_fsdp_input_is_reported_with_file_line_and_field(
    tmp_path: Path, capsys, case: Case
) -> None:
    path = write_case(tmp_path, case)
    code = cli.main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "Traceback" not in out + err
    assert_reported(err, case.file, expected_line(tmp_path, case), case.path, case.message)


def test_gather_precision_is_the_runs() -> None:
    # a BF16 parameter gather moves twice the FP8 one's bytes: the layers' units gather twice
    # and reduce-scatter once, the embedding and head once each (E = vocab x hidden each)
    f, mf, run, arch = _h100_8b()
    bf16 = RunFigures(SEQ, 128 * SEQ, 16.0, 2.0, BYTES_PER_VALUE["bf16"])
    a = step_time(Layout(dp=8, fsdp=8), mf, f, run, 0.0)
    b = step_time(Layout(dp=8, fsdp=8), mf, f, bf16, 0.0)
    alpha = (8.4 + 7 * 3.4) * 1e-6 * (3 * arch.layers + 4) * 16
    e = 128256 * 4096
    layers, ends = arch.params - 2 * e, 2 * e
    want = (layers * (2 * 2 + 2) + ends * (2 + 2)) / (layers * (2 * 1 + 2) + ends * (1 + 2))
    assert (b.dp_s - alpha) / (a.dp_s - alpha) == pytest.approx(want)


def test_closed_form_agrees_with_the_two_stream_simulation() -> None:
    # bench/fsdp_unit_pipeline.py (session s20) simulates the same schedule event by event (a
    # compute and a communication stream, collectives in issue order, the embedding and head a
    # unit of their own) on the Llama 3.1 8B 1,024-GB200 row had it been fully sharded: a layer
    # a unit at NCCL's Ring/Simple latency, 124.5 ms a step. The step model's closed form
    # (fsdp_exposed, units spread evenly) on the same layout: within 5% of it.
    bench = bench_module.load("fsdp_unit_pipeline")
    rn = bench.run(CATALOG)
    sim = bench.schedule(rn, 1, bench.nccl_ring_s(rn.ranks, rn.outer, "simple"))["step_s"]
    r = next(x for x in ct.runs() if x["id"] == bench.LLAMA_8B)
    lay = {**r["layout"], "fsdp": r["layout"]["dp"] * r["layout"]["cp"]}
    st = ct._step(CATALOG, r, lay, int(r["sequence_length"]), r["global_batch_tokens"])
    assert sim == pytest.approx(0.1245, abs=0.0005)
    assert st.step_s == pytest.approx(sim, rel=0.05)


def test_fsdp_with_expert_tp_one_by_hand() -> None:
    """FSDP x expert TP (merge of the fsdp and etp sessions): Qwen3-235B BF16 on 128 H100, TP2
    PP4 DP16 EP16 (a layout the search ranks), fully sharded over DP·CP = 16, at ETP 1 and at
    ETP = TP. The routed experts are sharded over their own data-parallel group, the
    TP·DP·CP/(ETP·EP) ranks holding the same expert shard, so a rank's shard of them is
    N_e/(TP·PP·DP·CP) whatever the ETP; only the two gathered layers hold ETP 1's wider expert
    slice N_e/(ETP·PP·EP). Memory at recompute 1: shard x (2 + 2 + 12) B + 2 x p_acc/24 x 4 B +
    the layer inputs. The collectives: per micro-batch each of the stage's 24 layers gathers
    twice and reduce-scatters once; their bandwidth time is the ZeRO-1 exchange's (the same
    layout's dp_s at (2 + 2) B a parameter, the experts over their folded expert group at
    ETP 1) at (2·2 + 2)/(2 + 2), and each collective pays NCCL's ring latency over the 16 ranks
    in 4 domains (8 GPUs a domain / TP2 = 4 DP ranks), twice (dense and expert collective):
    2 x (8.4 + (15 - 3) x 3.4 + 3 x 14.0) us."""
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    f = train_figures(hw, "bf16")
    assert f is not None
    arch = CATALOG.models["qwen3-235b-a22b"]
    mf = model_figures(arch, SEQ)
    run = RunFigures(SEQ, 512 * SEQ, 16.0, 2.0)
    assert arch.moe is not None  # N = N_d + N_e, N_active = N_d + k/E N_e
    n_e = (arch.params - arch.active) / (1 - arch.moe.active_experts / arch.moe.experts)
    n_d = arch.params - n_e
    tp, pp, dp, ep, n = 2, 4, 16, 16, 24  # n = ceil(94 / 4) layers a stage
    act = n * min(512 / dp, pp) * SEQ * arch.hidden / tp * 2.0
    # The embedding and the head (E = vocab x hidden / TP a rank each) are units of their own
    # (session s22 fsdp2): p_acc spreads 2E over the 4 stages, so a layer unit holds
    # (p_acc - 2E/4)/24; the first stage holds the embedding gathered with its gradient (E x 4 B)
    # and, per micro-batch, gathers and reduce-scatters it once over the dense ring (3/4 of the
    # bytes over NVLink, 3/4 of 1/4 of them over InfiniBand) at one ring latency.
    e = 151936 * 4096 / tp
    assert arch.vocab == 151936 and arch.hidden == 4096
    su = hw.accelerator.scale_up_bandwidth_bytes_per_s / 2 * f.collective_efficiency
    so = hw.accelerator.scale_out_bandwidth_bytes_per_s * f.collective_efficiency  # one way
    ring = 3 / 4 / su + 3 / 4 / 4 / so
    mems = {}
    for etp in (tp, 1):
        lay = Layout(tp=tp, pp=pp, dp=dp, ep=ep, expert_tp=etp, fsdp=dp)
        st = step_time(lay, mf, f, run, recompute=1.0)
        p_acc = n_d / (tp * pp) + n_e / (etp * pp * ep)
        shard = n_d / (tp * pp * dp) + n_e / (tp * pp * dp)
        p_u = (p_acc - 2 * e / pp) / n
        assert st.memory_bytes == pytest.approx(shard * 16.0 + 2 * p_u * 4.0 + e * 4.0 + act)
        mems[etp] = st.memory_bytes
        zero1 = step_time(replace(lay, fsdp=0), mf, f, run, recompute=1.0)
        assert zero1.pp_in_scale_up == st.pp_in_scale_up is False
        alpha = 2 * (8.4 + 12 * 3.4 + 3 * 14.0) * 1e-6
        m = 512 / dp
        layers = 3 * n * alpha + (zero1.dp_s / 4.0 - ring * 2 * e / pp) * 6.0
        ends = alpha + ring * e * (2.0 + 2.0)  # one gather + one reduce-scatter, one latency each
        assert st.dp_s == pytest.approx(m * (layers + ends), rel=1e-9)
    # ETP 1 costs FSDP only its two gathered layers' wider expert slice, 2/24 of what it costs
    # ZeRO-1 (which holds the whole slice's weights and gradients)
    wider = n_e / (pp * ep) * (1 - 1 / tp)
    assert mems[1] - mems[tp] == pytest.approx(2 * wider / n * 4.0, rel=1e-9)


def test_cli_layout_takes_etp_and_fsdp_together(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_layout("tp=2,pp=4,dp=16,ep=16,etp=1,fsdp=16") == {
        "tp": "2",
        "pp": "4",
        "dp": "16",
        "ep": "16",
        "expert_tp": "1",
        "fsdp": "16",
    }
    args = ["estimate", "pretrain", "--model", "qwen3-235b-a22b", "--system", "hgx-h100"]
    args += ["--tokens", "1T", "--global-batch-tokens", "4M", "--units", "16"]  # 128 GPUs
    assert cli.main([*args, "--layout", "tp=2,pp=4,dp=16,ep=16,etp=1,fsdp=16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["feasible"] and data["job_accelerators"] == 128
    assert data["layout"] == "TP2 x PP4 x DP16 x EP16, mb 1, expert TP 1, FSDP over 16"
    # hybrid FSDP of a MoE model stays refused, whatever the expert TP (infeasible: exit 2)
    assert cli.main([*args, "--layout", "tp=2,pp=4,dp=16,ep=16,etp=1,fsdp=8", "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert not data["feasible"] and "of a MoE model is not modelled" in data["reason"]
