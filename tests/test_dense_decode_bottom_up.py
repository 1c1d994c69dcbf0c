"""The dense Llama decode step rebuilt per layer from TensorRT-LLM's measured kernels
(bench/dense_decode_bottom_up.py, a negative result: no model change). docs/models.md ("The dense
decode gap against measured kernels") quotes these figures: if a model change moves them, move
that text with it."""

from __future__ import annotations

import math

import bench_module
import pytest

from hardware.catalog import load_catalog

CATALOG = load_catalog()


def _bench():  # type: ignore[no-untyped-def]
    return bench_module.load("dense_decode_bottom_up")


BENCH = _bench()
TABLES = BENCH.load_tables()


def test_interpolation_by_hand() -> None:
    gemm, attn, ar = TABLES
    # Llama 3.1 405B's O projection at TP4 (N 16,384, K 128 x 128 / 4 = 4,096: on the grid) at the
    # B200 Interactive run's batch 23: between the M 16 and 32 rows (15.28 and 16.04 us).
    assert gemm[("b200", 16, 16384, 4096)] == 15.28
    assert gemm[("b200", 32, 16384, 4096)] == 16.04
    o = BENCH.gemm_us(gemm, "b200", 23, 16384, 4096)
    assert o == pytest.approx(15.28 + (16.04 - 15.28) * 7 / 16, rel=1e-12)
    # Two TP4 all-reduces of 23 x 16,384 = 376,832 BF16 elements: between the 262,144 (7.10 us)
    # and 524,288 (9.71 us) rows.
    one = 7.10 + (9.71 - 7.10) * (376832 - 262144) / (524288 - 262144)
    assert BENCH.allreduce_us(ar, "b200", 4, 376832) == pytest.approx(one, rel=1e-12)
    # Llama 2 70B generation attention (64 heads, 8 KV heads, FP8 KV) of 256 sequences at KV 358:
    # between the 255 (376.08 us) and 511 (651.91 us) rows.
    a = BENCH.attention_us(attn, "b200", 64, 8, 256, 358)
    assert a == pytest.approx(376.08 + (651.91 - 376.08) * (358 - 255) / 256, rel=1e-12)
    with pytest.raises(ValueError, match="outside the table"):
        BENCH.gemm_us(gemm, "b200", 23, 16384, 10**6)


def test_small_m_gemm_law_by_hand() -> None:
    rows = BENCH.law_rows()
    # B200 BF16 at M 16 and 64 over the five shapes: least squares of t on N K x 2 B by hand.
    pts = [(n * k * 2.0, us) for s, d, _, n, k, us in rows if (s, d) == ("b200", "bfloat16")]
    assert len(pts) == 10
    n = len(pts)
    sx = sum(x for x, _ in pts)
    sy = sum(y for _, y in pts)
    sxx = sum(x * x for x, _ in pts)
    sxy = sum(x * y for x, y in pts)
    slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    t0 = (sy - slope * sx) / n
    got_t0, got_rate = BENCH.fit_law(rows, "b200", "bfloat16")
    assert got_t0 == pytest.approx(t0, rel=1e-9)
    assert got_rate == pytest.approx(1 / slope / 1e6, rel=1e-9)
    assert (got_t0, got_rate) == (pytest.approx(3.2, abs=0.05), pytest.approx(6.15, abs=0.01))


def test_law_across_systems() -> None:
    """The finding: the weights stream at ~5-6.5 TB/s on every Blackwell part (the planner's 0.8 x
    8 TB/s = 6.4 for BF16/FP8, above NVFP4's ~5.0) and ~2.8 TB/s on H100 (0.8 x 3.35 = 2.68);
    the quantised GEMMs carry a fixed ~12-14 us (the activation's quantisation kernel the
    collector's Linear runs; BF16 ~3-5 us) that serving engines fuse away."""
    rows = BENCH.law_rows()
    for system in ("b200", "gb200", "gb300"):
        bf16 = BENCH.fit_law(rows, system, "bfloat16")
        fp8 = BENCH.fit_law(rows, system, "fp8")
        fp4 = BENCH.fit_law(rows, system, "nvfp4")
        assert 6.0 < bf16[1] < 6.7 and 5.8 < fp8[1] < 6.1 and 4.9 < fp4[1] < 5.3
        assert bf16[0] < 5.0 and 12.0 < fp8[0] < 14.5 and 12.0 < fp4[0] < 14.0
    h100 = BENCH.fit_law(rows, "h100", "fp8")
    assert 2.7 < h100[1] < 2.9 and 13 < h100[0] < 15


def test_per_layer_terms() -> None:
    layers = {r.point: BENCH.layer(r, CATALOG, TABLES) for r in BENCH.RUNS}
    x = layers["mlperf51-b200-llama31-405b-interactive"]
    assert x.batch == 23 and x.tp == 4
    # Every 405B run: the measured GEMMs take 2.3-2.5x the planner's weight read (62.5 us a layer
    # at TP4), ~80-90 us a layer more; the all-reduces agree within ~10 us.
    for point, lay in layers.items():
        if "405b" not in point:
            continue
        assert lay.gemm_us > 1.6 * lay.planner_us(1), point
        assert abs(lay.allreduce_us - lay.planner_tp_us) < 10.5, point
    assert x.gemm_us == pytest.approx(152.1, abs=0.1)
    assert x.planner_us(1) == pytest.approx(62.5, abs=0.1)
    assert x.gemm_stream_tbps == pytest.approx(2.95, abs=0.01)
    assert x.measured_gap_us == pytest.approx(176, abs=1)
    # GB300 405B Server: the kernels' excess (~101 us) is more than twice its gap (43 us)
    g = layers["mlperf51-gb300-llama31-405b-server"]
    excess = g.gemm_us - g.planner_us(1) + g.allreduce_us - g.planner_tp_us
    assert excess > 2 * g.measured_gap_us
    # GB200 Llama 2 70B Server (B 1,419, compute-bound): the kernels are faster than the planner
    s = layers["mlperf51-gb200-llama2-70b-server"]
    assert s.gemm_us < s.planner_us(1) and s.measured_gap_us > 100
    # The collector's generation attention is slower than the whole measured layer where it
    # reaches the run's batch x KV length: not the kernels the runs ran.
    b = layers["mlperf51-b200-llama2-70b-interactive"]
    log = next(r for r in BENCH.LOG_RUNS if r.point == b.run.point)
    assert b.attention_us > log.tpot_mean_ms * 1e3 / b.layers
    assert math.isnan(layers["mlperf51-b200-llama31-8b-server"].attention_us)
