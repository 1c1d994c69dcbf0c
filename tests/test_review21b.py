"""review21b: adversarial review of the fsdp and hostile merges. Bad `recompute` and FSDP/EP
groups in the calibration tables (training.yaml `recompute`, rl.yaml `trainer.recompute`, a MoE
row's hybrid fsdp) are errors on their file, line and field, not priced or a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcore.errors import ConfigError
from planner.calibration import rl as crl
from planner.calibration import training as ct

FSDP_ROW = "    layout: {tp: 1, pp: 1, dp: 64, micro_batch: 2, fsdp: 64}\n    recompute: 0.0\n"


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize("bad", ["abc", "1.5", "-0.5", "true"])
def test_training_table_recompute_checked(tmp_path: Path, bad: str) -> None:
    src = ct.TABLE.read_text(encoding="utf-8")
    assert FSDP_ROW in src
    text = src.replace(FSDP_ROW, FSDP_ROW.replace("recompute: 0.0", f"recompute: {bad}"), 1)
    path = tmp_path / "training.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        ct.runs(path)
    line = _line_of(text, f"recompute: {bad}")
    assert f"training.yaml:{line}:" in str(exc.value)
    assert "recompute" in str(exc.value) and "from 0 to 1" in str(exc.value)


def test_training_table_moe_hybrid_fsdp_refused(tmp_path: Path) -> None:
    """A MoE row's hybrid FSDP group (below DP·CP) is not modelled (fsdp_problem): the table
    names the row's layout line; before, step_time priced it unchecked."""
    src = ct.TABLE.read_text(encoding="utf-8")
    old = "layout: {tp: 1, pp: 4, dp: 64, ep: 64, vp: 4, micro_batch: 1, recompute_modules: [mla_up_proj]}"
    assert old in src
    new = old.replace("micro_batch: 1,", "micro_batch: 1, fsdp: 32,")
    text = src.replace(old, new, 1)
    path = tmp_path / "training.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        ct.runs(path)
    assert f"training.yaml:{_line_of(text, new)}:" in str(exc.value)
    assert "hybrid sharding" in str(exc.value)


@pytest.mark.parametrize("bad", ["abc", "1.5", "-0.5"])
def test_rl_table_trainer_recompute_checked(tmp_path: Path, bad: str) -> None:
    src = crl.TABLE.read_text(encoding="utf-8")
    old = "      recompute: 1.0 "
    assert old in src
    text = src.replace(old, f"      recompute: {bad} ", 1)
    path = tmp_path / "rl.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        crl.points(path)
    assert f"rl.yaml:{_line_of(text, f'recompute: {bad} ')}:" in str(exc.value)
    assert "trainer.recompute" in str(exc.value)


def test_shipped_tables_still_load() -> None:
    assert len(ct.runs()) > 100
    assert len(crl.points()) > 10


def test_calibrated_fsdp_group_is_the_tables() -> None:
    """CALIBRATED_FSDP_GROUP: the widest fsdp group among the training rows within band that
    check the model; a fit point (`fit:`) does not: its accelerator's fraction is fitted on it and
    absorbs whatever the FSDP collectives misprice (session s22: the two Trainium2 AXLearn rows,
    fully sharded over 1,024 chips, are the fit points of Trainium2's BF16 fraction)."""
    from planner.demand.training import CALIBRATED_FSDP_GROUP

    def sharded(r: dict) -> bool:  # type: ignore[type-arg]
        return isinstance(r.get("layout"), dict) and bool(r["layout"].get("fsdp"))

    groups = [
        r["layout"]["fsdp"]
        for r in ct.runs()
        if sharded(r) and not r.get("known_miss") and not r.get("fit")
    ]
    assert max(groups) == CALIBRATED_FSDP_GROUP == 128
    fitted = [r["layout"]["fsdp"] for r in ct.runs() if sharded(r) and r.get("fit")]
    assert fitted == [1024, 1024]


def test_fsdp_caveat_405b_gb200_by_hand() -> None:
    """The 405B on 57 GB200 NVL72 racks at TP4 x DP1026 fully sharded: 72/4 = 18 DP ranks a
    domain, 57 domains; NCCL ring latency (tuning.cc Ring/Simple: base 8.4 us, NVLink step 3.4,
    network step 14.0) = 8.4 + (1025 - 56) x 3.4 + 56 x 14.0 = 4,087 us. The estimate states
    it; at the calibrated 64 it does not."""
    from hardware.catalog import load_catalog
    from planner.demand.common import hardware
    from planner.demand.training import Layout, fsdp_caveat, train_figures

    hw = hardware(load_catalog(), "gb200-nvl72")
    assert hw is not None
    f = train_figures(hw, "bf16")
    assert f is not None
    lat_us = 8.4 + (1025 - 56) * 3.4 + 56 * 14.0
    text = fsdp_caveat(Layout(4, 1, 1026, fsdp=1026), f)
    assert "1,026 ranks (57 scale-up domains of 18)" in text
    assert round(lat_us, 1) == 4087.0
    assert f"{lat_us / 1e3:.2f} ms latency" in text
    assert "8.0x the largest" in text
    assert fsdp_caveat(Layout(1, 1, 64, fsdp=64), f) == ""
    assert fsdp_caveat(Layout(4, 1, 1026), f) == ""


def test_plan_states_the_fsdp_caveat(tmp_path: Path) -> None:
    """A pretraining run the search puts on a 1,062-way FSDP group: the plan's Left out names
    the group and the workload (Rate.caveat through the workload's caveats). 15T tokens in 90
    days at goodput 0.9 on TP4 x FSDP GB200 NVL72 racks (18 DP ranks a rack) at 510.4 tokens/s
    an accelerator: 58 racks (4,176) train 4,176 x 510.4 x 0.9 x 7,776,000 s = 14.92T, short;
    59 racks (4,248, DP1062) 15.17T. (57 racks, DP1026, at 523.8 tokens/s, 15.04T, before each
    training linear was rated at its own GEMM shape and H100/B200 BF16 refitted 0.61 -> 0.58.)
    Session 34 (the B200-die BF16 fraction fitted 0.58 -> 0.48): 430.6 tokens/s an accelerator
    on 69 racks (4,968, DP1242) train 14.97T, short; 70 racks (5,040, DP1260) at 430.5 train
    5,040 x 430.5 x 0.9 x 7,776,000 s = 15.18T: a 1,260-way group (70 domains of 18)."""
    from hardware.catalog import load_catalog
    from planner.demand.pretrain import pretrain_rate
    from planner.kinds.pretrain import PretrainSpec

    spec = PretrainSpec.model_validate(
        {
            "kind": "pretrain",
            "model": "llama-3.1-405b",
            "tokens": "15T",
            "precision": "bf16",
            "deadline": "90 days",
            "goodput": 0.9,
            "global_batch_tokens": "16M",
        }
    )
    rate = pretrain_rate(spec, load_catalog(), "gb200-nvl72")
    assert "FSDP over 1260 on 5,040 accelerators" in rate.reason
    assert rate.caveat.startswith("caveat: FSDP over 1,260 ranks (70 scale-up domains of 18)")


def _spec(**kw: object) -> object:
    from planner.kinds.pretrain import PretrainSpec

    base = {
        "kind": "pretrain",
        "model": "llama-3.1-405b",
        "tokens": "15T",
        "precision": "bf16",
        "goodput": 0.9,
        "global_batch_tokens": "16M",
    }
    return PretrainSpec.model_validate({**base, **kw})


def test_after_rates_the_window_from_the_predecessors_deadline() -> None:
    """`after: a` (a's deadline day 450, b's day 630, no start): b is rated as `start: 450
    days` is, at the job a 180-day window needs, not the 630-day one; its LP window stays
    [0, 630]. Before: 648 accelerators rated where the plan ran it on ~4,000. 15T tokens in
    180 days at goodput 0.9 at ~512 tokens/s an accelerator (TP4 x FSDP, 18 DP ranks a GB200
    NVL72 rack): 29 racks (2,088) train 2,088 x 512.0 x 0.9 x 15,552,000 s = 14.96T, short;
    30 racks (2,160) 15.48T. (29 racks at 525.4 tokens/s, 15.35T, before each training linear
    was rated at its own GEMM shape and B200 BF16 refitted 0.61 -> 0.58.) In 630 days 9 racks
    (648) suffice. Session 34 (the B200-die BF16 fraction fitted 0.58 -> 0.48): ~431.6 tokens/s;
    34 racks (2,448) train 14.79T, short, 35 racks (2,520) 2,520 x 431.6 x 0.9 x 15,552,000 s =
    15.22T; in 630 days 9 racks train 13.73T, so 10 racks (720) are needed."""
    from hardware.catalog import load_catalog
    from planner.demand.pretrain import pretrain_rate
    from planner.kinds import demands_for

    catalog = load_catalog()
    sys_ = "gb200-nvl72"
    a = _spec(deadline="450 days")
    b = _spec(deadline="630 days", after="a")
    demands = demands_for({"a": a, "b": b}, catalog, [sys_], 720 * 86400.0)
    rate_b = demands[1].roles[0].rates[sys_]
    as_start = pretrain_rate(_spec(deadline="630 days", start="450 days"), catalog, sys_)
    unconstrained = pretrain_rate(_spec(deadline="630 days"), catalog, sys_)
    assert rate_b.reason == as_start.reason and rate_b.per_unit_s == as_start.per_unit_s
    assert "on 2,520 accelerators" in rate_b.reason
    assert "on 720 accelerators" in unconstrained.reason
    assert demands[1].start_s == 0.0 and demands[1].window_s == 630 * 86400.0
    assert any("from a's deadline (day 450)" in n for n in demands[1].notes)
    # a predecessor due after b's deadline: b's own window (nothing to narrow it to)
    late = demands_for({"a": _spec(deadline="650 days"), "b": b}, catalog, [sys_], 720 * 86400.0)
    assert late[1].roles[0].rates[sys_].reason == unconstrained.reason


def test_hierarchical_all_gather_vs_nccl_issue_1218() -> None:
    """The FSDP gathers' bandwidth term (the DP exchange's hierarchical ring: scale-up leg +
    scale-out leg, added) against a measured flat-ring all-gather at scale: NVIDIA/nccl issue
    #1218, all_gather_perf 2 GiB on 256 H100 (32 x 8, 8 x 400 Gb/s), ~200 GB/s bus bandwidth.
    By hand with the catalog's H100 figures (NVLink 450 GB/s, NIC 50 GB/s a GPU, collective
    efficiency 0.8): t = 7/8 · B/360e9 + 31/32 · B/8/40e9 (+ ring latency 8.4 + 224 x 3.4 +
    31 x 14.0 us); bus bandwidth B·255/256 / t = 183 GB/s (166 with the latency): within 20%
    below the measurement, where the two legs overlapped (max) would be 329 GB/s, 65% above."""
    from hardware.catalog import load_catalog
    from planner.demand.common import hardware
    from planner.demand.training import ring_latency_s, train_figures

    hw = hardware(load_catalog(), "hgx-h100")
    assert hw is not None
    f = train_figures(hw, "bf16")
    assert f is not None
    assert (f.scale_up_bytes_per_s, f.scale_out_bytes_per_s) == (450e9, 50e9)
    assert (f.collective_efficiency, f.scale_up_domain) == (0.8, 8)
    b = 2.0 * 2**30
    up, out = 7 / 8 * b / 360e9, 31 / 32 * b / 8 / 40e9
    lat = (8.4 + 224 * 3.4 + 31 * 14.0) * 1e-6
    assert ring_latency_s(256, 32) == pytest.approx(lat)
    bus = b * 255 / 256
    summed, with_lat, overlapped = bus / (up + out), bus / (up + out + lat), bus / max(up, out)
    assert summed / 1e9 == pytest.approx(182.5, abs=0.5)
    assert with_lat / 1e9 == pytest.approx(165.5, abs=0.5)
    measured = 200e9
    assert 0.8 < with_lat / measured < summed / measured < 1.0
    assert overlapped / 1e9 == pytest.approx(329.0, abs=0.5)


MOE_PRETRAIN = """\
  moe:
    kind: pretrain
    model: deepseek-v3
    tokens: 1T
    precision: bf16
    deadline: 300 days
    goodput: 0.9
    global_batch_tokens: 16M
    layout: {LAYOUT}  # <-
"""


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        (
            "{tp: 1, pp: 4, dp: 64, ep: 64, fsdp: 32}",
            "hybrid sharding (fsdp 32 below DP x CP = 64)",
        ),
        ("{tp: 1, pp: 4, ep: 48}", "EP 48 must divide the model's (deepseek-v3) 256 routed"),
    ],
)
def test_scenario_moe_layout_problems_are_input_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str, message: str
) -> None:
    """A pinned layout the workload's MoE model cannot build (a hybrid FSDP group, an EP not
    dividing the experts) is an input error on the layout's line (exit 1), as the model-free
    layout checks are; before: a plan that could run it on no system (exit 2)."""
    from test_bad_input import SCENARIO, Case, assert_reported, marked_line, write_case

    import cli

    text = SCENARIO.replace(
        "overrides:", MOE_PRETRAIN.replace("{LAYOUT}", layout) + "overrides:", 1
    )
    path = write_case(tmp_path, Case("moe-layout", {"scenario.yaml": text}))
    code = cli.main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert_reported(err, "scenario.yaml", marked_line(text), "workloads.moe.layout", message)


def test_rl_trainer_moe_hybrid_fsdp_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_bad_input import SCENARIO, Case, assert_reported, marked_line, write_case

    import cli

    old = "    policy: llama-3.1-8b\n"
    assert old in SCENARIO
    text = SCENARIO.replace(old, "    policy: deepseek-v3\n", 1).replace(
        "    goodput: 0.9\noverrides:",
        "    goodput: 0.9\n    trainer:\n      layout: {tp: 1, pp: 4, dp: 64, ep: 64, fsdp: 32}  # <-\n"
        "overrides:",
        1,
    )
    assert "# <-" in text
    path = write_case(tmp_path, Case("rl-moe-layout", {"scenario.yaml": text}))
    code = cli.main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert_reported(
        err, "scenario.yaml", marked_line(text), "workloads.rl.trainer.layout", "hybrid sharding"
    )


def test_after_with_no_job_in_the_narrowed_window_keeps_its_whole_window() -> None:
    """b due 1 day after a's deadline: no job trains b's 30T tokens in 1 day (rate 0 on that
    window), but the LP may end a early: b keeps the rate of its whole 0-451-day window, said
    so in its reason, rather than being made infeasible. b trained 15T until each training
    linear was rated at its own GEMM shape: at TP64 the column-parallel forward GEMMs then
    contract the whole hidden width (K = 16,384, not 16,384/64 = 256; the FFN down 832), and
    the fastest 15T job went from 1.0 days (6.2M accelerators, MFU 3.4%) to within the day
    (2.68M at TP64 x PP6 x DP1748 x CP4, MFU 7.8%; 6.5% on the former shape), so b's window
    had a job; at 30T the fastest takes 2.0 days (the 16M global batch caps DP), so the
    narrowed window still has none."""
    from hardware.catalog import load_catalog
    from planner.demand.pretrain import pretrain_rate
    from planner.kinds import demands_for

    catalog = load_catalog()
    sys_ = "gb200-nvl72"
    narrow = pretrain_rate(
        _spec(deadline="451 days", start="450 days", tokens="30T"), catalog, sys_
    )
    assert not narrow.feasible
    assert "takes 2.0 days" in narrow.reason
    demands = demands_for(
        {
            "a": _spec(deadline="450 days"),
            "b": _spec(deadline="451 days", after="a", tokens="30T"),
        },
        catalog,
        [sys_],
        720 * 86400.0,
    )
    rate = demands[1].roles[0].rates[sys_]
    whole = pretrain_rate(_spec(deadline="451 days", tokens="30T"), catalog, sys_)
    assert rate.feasible and rate.per_unit_s == whole.per_unit_s
    assert "no job finishes in the 1-day window after a's deadline" in rate.reason
