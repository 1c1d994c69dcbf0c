"""bench/dsv3_scale_table.py (session dsv3scale): the MLPerf v6.0 DeepSeek-V3 rows' scale
signature against the model, and the per-step candidates it checks, recomputed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from hardware.catalog import load_catalog

_PATH = Path(__file__).resolve().parents[1] / "bench" / "dsv3_scale_table.py"
_SPEC = importlib.util.spec_from_file_location("dsv3_scale_table", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
BENCH = importlib.util.module_from_spec(_SPEC)
sys.modules["dsv3_scale_table"] = BENCH
_SPEC.loader.exec_module(BENCH)

CATALOG = load_catalog()
ROWS = [BENCH.row(rid, c, CATALOG) for rid, c in BENCH.ROWS]


def _cluster(name: str) -> list:
    return [r for r in ROWS if r.cluster == name]


def test_only_dp_and_m_change_within_a_cluster() -> None:
    """Within a cluster the layout but DP is fixed: TP, PP, VP, EP (32 inside the NVL72 domain);
    the micro-batches per DP rank fall as the GPUs grow (GBS 15,360 or 16,384)."""
    for name in ("GB200 NVIDIA", "GB300 NVIDIA", "GB300 CoreWeave"):
        rows = _cluster(name)
        shapes = {(r.st.layout.tp, r.st.layout.pp, r.st.layout.vp, r.st.layout.ep) for r in rows}
        assert len(shapes) == 1
        ms = [r.m for r in rows]
        assert ms == sorted(ms, reverse=True)
        assert all(r.m * r.st.layout.dp == r.gbs for r in rows)
    assert [r.m for r in _cluster("GB200 NVIDIA")] == [240, 60, 32, 16]


def test_the_gb200_series_carries_a_per_step_cost_the_gb300_one_does_not() -> None:
    """measured - model = a·m + b: GB200 (NVIDIA, TP2) 6.2 ms a micro-batch + 1.36 s a step;
    CoreWeave GB300 (TP1, same layout otherwise) ~0 s a step (-0.06 s).
    Session s32 pergemm (each dense linear at its own GEMM shape, GB200's FP8 fraction refitted
    0.507 -> 0.478) lengthened the model's micro-batch on these rows by 4.0 ms (110.6 -> 114.6
    ms at 2,048-8,192 GPUs, 107.8 -> 111.9 at 512: the GEMMs 56.8 -> 60.3 ms, the BF16 output
    heads 16.5 -> 17.0 ms); the model's step is m micro-batches plus per-step terms that barely
    moved, so the slope of measured - model falls by that much, 13.2 -> 9.2 ms, and the
    intercept stays 1.35-1.36 s: the per-step cost the model does not carry is unchanged.
    Session s34 fit (the B200 die's BF16 fraction fitted 0.58 -> 0.48, its FP8 refitted 0.478
    -> 0.482): the layer GEMMs (FP8) 60.3 x 0.478/0.482 = 59.8 ms, the BF16 output heads 17.0 x
    0.58/0.48 = 20.5 ms, +3.0 ms a micro-batch (114.6 -> 117.7 ms at 2,048-8,192 GPUs, 111.9 ->
    114.9 at 512); the slope falls by as much, 9.2 -> 6.2 ms, the intercept stays 1.36 s."""
    rows = _cluster("GB200 NVIDIA")
    a, b = BENCH.line(rows)
    assert a == pytest.approx(0.0062, abs=0.001)
    # the slope is what the model does not charge a micro-batch: 6 ms of the 118 ms it charges
    assert all(0.113 < r.st.micro_batch_s < 0.120 for r in rows)
    # the fit's move by hand: GEMMs x 0.478/0.482, BF16 heads x 0.58/0.48 (s32: 60.3 and 17.0 ms)
    assert rows[-1].st.gemm_s == pytest.approx(0.0603 * 0.478 / 0.482, abs=2e-4)
    assert rows[-1].st.head_s == pytest.approx(0.0170 * 0.58 / 0.48, abs=2e-4)
    assert b == pytest.approx(1.36, abs=0.05)
    _, b_cw = BENCH.line(_cluster("GB300 CoreWeave"))
    assert abs(b_cw) < 0.1


def test_the_candidates_are_a_tenth_of_it_or_less() -> None:
    """The MTP shared-embedding gradient all-reduce, by hand: 129,280 x 7,168 / TP parameters
    at 2 B between 2 ranks over scale-out (2·(2-1)/2 of the bytes), 23 ms on both systems (TP2
    halves the bytes, GB200's NIC is half GB300's); the last chunk's reduce-scatter all exposed
    at most 52 ms; both under a tenth of the GB200 series' 1.36 s a step."""
    for r in ROWS:
        so = r.f.scale_out_bytes_per_s * r.f.collective_efficiency
        by_hand = 129280 * 7168 / r.st.layout.tp * 2.0 / so
        assert BENCH.embedding_allreduce_s(r) == pytest.approx(by_hand)
        assert by_hand == pytest.approx(0.023, abs=0.002)
        assert BENCH.last_chunk_reduce_s(r) < 0.06
        assert by_hand + BENCH.last_chunk_reduce_s(r) < 0.1 * 1.36
