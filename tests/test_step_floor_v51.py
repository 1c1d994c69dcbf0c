"""Session 23 stepfloor (a negative result, no model change): the per-step cost the multi-node
one-sequence Llama 3.1 8B rows show, against the candidate terms sized from the model's own
rates and the recipe's DDP settings (bench/step_floor_v51.py). The bucket-level DP exposure and
the CP passes are a few ms; exposing the whole DP exchange brings five misses in and takes 32
passing rows out; rows with the same modelled DP exchange differ by 37 ms; one submitter's
three B200 runs split the gap into a per-step and a per-micro-batch part the model lacks.

Session s33 pgA re-derived it on pergemm's per-linear GEMM shape and refitted fractions: the
bucket-level exposure (3.0 ms) is still a tenth of the NVL72 gap (now 32.1 ms, was 35.0), but it
now tips two known misses that sat just outside their bands in (H200 HPE 64 GPUs +18.3% ->
+14.0%, Supermicro's B300 8 GPUs +15.3% -> +14.7%) and takes none out; exposing the whole DP
exchange brings six misses in and takes 14 passing rows out (5 and 32 before); the same-exchange
pair differs by 32.1 ms (38.7 before); the model's per-micro-batch part is 7.0 ms (1.7 before:
the better GEMM shape of two sequences a micro-batch), still a sixth of the measured 39.8.

Session s34 fit (the B200 die's BF16 fraction 0.58 -> 0.48, FP8 0.478 -> 0.482, FP4 0.35 ->
0.37) moves the B200/GB200 rows' model steps: the GB200 72-GPU FP8 step 138.9 -> 140.2 ms (its
BF16 output head), so its gap 32.1 -> 30.8 ms and the bucket-level exposure (3.0 ms) 9.7% of it
(9.3%); Nebius's B200 FP4 triple's GEMMs x 0.35/0.37, its heads x 0.58/0.48: the model's
per-micro-batch part 7.0 -> 6.6 ms, per sequence 239.9 -> 237.5 ms. The conclusions hold."""

from __future__ import annotations

import math

import bench_module
import pytest
from llama8b_shape import shape_by_hand

from hardware.catalog import load_catalog
from planner.calibration import training

CATALOG = load_catalog()
RUNS = {run["id"]: run for run in training.runs()}
sf = bench_module.load("step_floor_v51")
TABLE = {r.rid: r for r in sf.rows(CATALOG)}


def test_bucket_exposure_by_hand() -> None:
    # NVIDIA's GB200 72-GPU run: TP1 CP2 DP36, FP8 parameter gather (1 B) and BF16 gradients
    # (2 B); 8.03e9 parameters in 768e6-parameter buckets
    run = RUNS["mlperf51-llama31-8b-fp8-gb200-72gpu"]
    st = training._step(CATALOG, run, run["layout"], 8192, run["global_batch_tokens"])
    params = CATALOG.models["llama-3.1-8b"]
    n = math.ceil(sf.model_figures(params, 8192).params / 768e6)
    assert n == 11
    rs, ag = st.dp_s * 2 / 3, st.dp_s / 3
    # the forward (t_mb/3) and the backward (2·t_mb/3) hide the other ten buckets
    assert 10 / 11 * ag < st.micro_batch_s / 3 and 10 / 11 * rs < 2 * st.micro_batch_s / 3
    row = TABLE[run["id"]]
    assert row.buckets == n
    assert row.bucket_exposed_s == pytest.approx((ag + rs) / n)
    # a tenth of the gap: 3.0 ms of the 30.8 ms the run measures over the model (171.0 - 140.2
    # ms; 32.1 before session s34 fit's B200-die BF16 fraction 0.48 slowed the BF16 output head,
    # the step 138.9 -> 140.2 ms; 35.0 before pergemm's per-linear GEMM shape made it 136.0 ->
    # 138.9 ms)
    assert row.bucket_exposed_s == pytest.approx(0.0030, abs=0.0002)
    assert row.residual_s == pytest.approx(0.0308, abs=0.0005)
    assert row.bucket_exposed_s < 0.1 * row.residual_s


def test_cp_passes_all_exposed_by_hand() -> None:
    # 3·(CP-1)·t·2·kv_dim/TP·2 B a layer, 32 layers, over NVLink; the model charges none of it
    run = RUNS["mlperf51-llama31-8b-fp8-gb200-72gpu"]
    st = training._step(CATALOG, run, run["layout"], 8192, run["global_batch_tokens"])
    f = sf.train_figures(sf.hardware(CATALOG, run["system"]), "fp8")
    cp_bytes = 3.0 * 1 * 4096 * 2 * 1024 * 2.0 * 32
    assert st.cp_s == 0.0
    assert TABLE[run["id"]].cp_all_s == pytest.approx(
        cp_bytes / sf._group_bandwidth(2, st.layout.accelerators, f)
    )
    assert TABLE[run["id"]].cp_all_s < 0.005


def test_candidates_move_the_bands() -> None:
    came, left = sf.band_moves(list(TABLE.values()), "dp_all")
    # 6 in and 14 out on pergemm's terms (5 and 32 before: most v6.0 FP4 rows' model steps fell,
    # GB300 72 GPUs 198.6 -> 191.3 ms, B300 8 GPUs 437.1 -> 411.8, so more of them stay inside
    # 15% with the exchange exposed)
    assert len(came) == 6 and len(left) == 14
    assert "mlperf51-llama31-8b-fp8-gb300-72gpu" in came
    # the v6.0 GB300 72-GPU FP4 run, the same modelled DP exchange as the v5.1 FP8 miss: before
    # pergemm it left its band; now it stays, just (+0.8% -> -14.0%), 31 ms short of its
    # measured step where the FP8 run comes to +0.8 ms (test_same_dp_exchange_different_gap)
    hpe = TABLE["mlperf60-llama31-8b-fp4-gb300-hpe-72gpu"]
    assert "mlperf60-llama31-8b-fp4-gb300-hpe-72gpu" not in left
    assert hpe.measured_s / (hpe.model_s + hpe.dp_s) - 1 == pytest.approx(-0.140, abs=0.002)
    assert sf.band_moves(list(TABLE.values()), "cp_all") == ([], [])
    # Restated in session s33 pgA: the bucket-level exposure (a few ms) took no row across its
    # band before pergemm; now it tips in two known misses sitting at the band's edge, and takes
    # none out: H200 HPE's 64 GPUs (11.3 ms of buckets: +18.3% -> +14.0%) and Supermicro's B300
    # 8 GPUs (2.7 ms: +15.3% -> +14.7%), a few ms of a 42-73 ms gap, not its cause
    came, left = sf.band_moves(list(TABLE.values()), "buckets")
    assert left == []
    assert set(came) == {
        "mlperf51-llama31-8b-fp8-h200-hpe-64gpu",
        "mlperf51-llama31-8b-fp8-b300-supermicro-8gpu",
    }
    for rid, before, after in (
        ("mlperf51-llama31-8b-fp8-h200-hpe-64gpu", 0.183, 0.140),
        ("mlperf51-llama31-8b-fp8-b300-supermicro-8gpu", 0.153, 0.147),
    ):
        r = TABLE[rid]
        assert r.measured_s / r.model_s - 1 == pytest.approx(before, abs=0.002)
        assert r.measured_s / (r.model_s + r.bucket_exposed_s) - 1 == pytest.approx(
            after, abs=0.002
        )
        assert r.bucket_exposed_s < 0.25 * r.residual_s


def test_same_dp_exchange_different_gap() -> None:
    a = TABLE["mlperf60-llama31-8b-fp4-gb300-hpe-72gpu"]
    b = TABLE["mlperf51-llama31-8b-fp8-gb300-72gpu"]
    assert a.dp_s == pytest.approx(b.dp_s, rel=1e-3)
    # 32.1 ms apart (+1.5 and +33.6 ms from the model; 38.7 before pergemm's per-linear shape):
    # as much as the whole modelled exchange (32.9 ms), which cannot be exposed on one and not
    # the other
    assert b.residual_s - a.residual_s == pytest.approx(0.0321, abs=0.0005)
    assert b.residual_s - a.residual_s > 0.9 * a.dp_s


def test_step_parts() -> None:
    # F + m·c + m·n·s at (1, 1), (2, 1), (1, 2) with F 1, c 2, s 4: 7, 13, 11
    assert sf.step_parts(7.0, 13.0, 11.0) == pytest.approx((1.0, 2.0, 4.0))
    meas = [sf.measured_s(RUNS[r]) for r in sf.NEBIUS_TRIPLE]
    model = [sf.model_step(RUNS[r], CATALOG).step_s for r in sf.NEBIUS_TRIPLE]
    assert sf.step_parts(*meas) == pytest.approx((0.0401, 0.0398, 0.1879), abs=0.0005)
    st = [sf.model_step(RUNS[r], CATALOG) for r in sf.NEBIUS_TRIPLE]
    f_m, c_m, s_m = sf.step_parts(*model)
    # the model: no per-step part, 6.6 ms a micro-batch (7.0 before session s34 fit, 1.7 before
    # pergemm), 237.5 ms a sequence (239.9, 245.5). The per-micro-batch part is mostly the GEMMs'
    # shape: two sequences a micro-batch contract M = 16,384 tokens in the weight gradients where
    # two micro-batches of one contract 8,192 each; with the 8B's linears at B200 FP4's
    # half-width 1,140 (by hand: S 0.8304 / 0.8603), the GEMMs' c = 2 G1 (1 - S1/S2) = 8.6 ms
    # (G1 130.6 x 0.35/0.37 = 123.5 ms since session s34 fit's FP4 0.37; 9.1 ms before), less the
    # optimizer's (its shard at DP8 against DP16 and DP32: -2.9 ms) plus the head's shape (+0.9
    # ms: its BF16 GEMMs x 0.58/0.48, +0.7 ms before)
    tr = CATALOG.accelerators["b200"].training
    assert tr is not None and tr.gemm_half_width["fp4"] == 1140.0 and tr.gemm_half_tokens == 256.0
    s1, s2 = shape_by_hand(8192.0, 1140.0, 256.0), shape_by_hand(16384.0, 1140.0, 256.0)
    assert (s1, s2) == pytest.approx((0.8304, 0.8603), abs=0.0005)
    assert st[2].gemm_s / st[0].gemm_s == pytest.approx(2.0 * s1 / s2, rel=1e-9)
    c_gemm = 2.0 * st[0].gemm_s * (1.0 - s1 / s2)
    assert st[0].gemm_s == pytest.approx(0.13058 * 0.35 / 0.37, abs=2e-4)
    assert c_gemm == pytest.approx(0.0086, abs=0.0002)
    assert abs(f_m) < 0.001 and c_m == pytest.approx(0.0066, abs=0.0003)
    assert c_m == pytest.approx(
        c_gemm + (2 * st[0].head_s - st[2].head_s) + (st[1].optimizer_s - st[2].optimizer_s),
        rel=1e-6,
    )
    assert s_m == pytest.approx(0.2375, abs=0.0005)
    # still a sixth of the measured per-micro-batch part, and none of the per-step one
    assert c_m < 0.2 * sf.step_parts(*meas)[1]
