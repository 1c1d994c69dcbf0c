"""A 2026 per-routed-token MoE cost (bench/moe_release_fit.py): fitted on the MLPerf v6.0
DeepSeek-R1 twins it pushes the other 2026-software MoE runs out of their bands, so no release
input was added and the catalog keeps the 2025 fit (a negative result; docs/models.md, "A
per-release MoE cost", and the catalog source of moe_token_bandwidth quote these figures: if a
model change moves them, move those texts with it)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import bench_module
import pytest

from hardware.catalog import load_catalog
from planner.calibration.serving import points, predict
from planner.demand.inference import clear_physics_caches

CATALOG = load_catalog()


def _bench():  # type: ignore[no-untyped-def]
    return bench_module.load("moe_release_fit")


def test_catalog_keeps_the_2025_fit() -> None:
    for entry in ("b200", "gb200", "gb300"):
        sv = CATALOG.accelerators[entry].serving
        assert sv is not None and sv.moe_token_bandwidth_bytes_per_s == pytest.approx(62e9)


def test_2026_fit_recomputed_on_the_twins() -> None:
    # Procedure: per entry, moe_token_bandwidth on a 2 GB/s grid, minimising the mean absolute
    # error of its two v6.0 DeepSeek-R1 twins (Offline, Server). Recomputed around the minimum
    # (the full grid, 62-260 GB/s, is the script's: ~2 min).
    bench = _bench()
    gb200 = bench.family("gb200", range(108, 122, 2), bench.TWINS["gb200"])
    assert gb200.fitted() == 114
    assert gb200.twins_mae(62) == pytest.approx(0.354, abs=0.002)  # -41.6%, -29.2%
    assert gb200.twins_mae(114) == pytest.approx(0.085, abs=0.002)  # -16.7%, +0.2%
    # Even at its fit the Offline twin is outside its 15%: the twins themselves want different
    # figures (Offline >= 120 GB/s, Server <= ~162).
    assert gb200.out_of_band(114) == ["mlperf6-gb200-dsr1-offline"]
    assert gb200.out_of_band(118) == ["mlperf6-gb200-dsr1-offline"]
    assert gb200.out_of_band(120) == []
    gb300 = bench.family("gb300", range(126, 140, 2), bench.TWINS["gb300"])
    assert gb300.fitted() == 132
    assert gb300.twins_mae(62) == pytest.approx(0.463, abs=0.002)  # -53.5%, -39.0%
    assert gb300.twins_mae(132) == pytest.approx(0.135, abs=0.002)  # -26.9%, +0.1%
    assert gb300.out_of_band(132) == ["mlperf6-gb300-dsr1-offline"]


def test_the_2026_figure_pushes_passing_2026_runs_out() -> None:
    # Where the twins come into their bands (GB200 120 GB/s, GB300 184: the lower ends of their
    # windows) and at the MAE fits (114, 132), checks of 2026 software that pass at 62 GB/s
    # leave their bands; the checks stay in band only up to 78 (GB200) and 116 GB/s (GB300).
    # Every point's value rises with the figure (a cheaper routed token; monotone on the whole
    # 62-260 GB/s grid, checked with the script), so the window edges decide: the twins' window
    # and the checks' window do not meet.
    bench = _bench()
    gb200 = bench.family("gb200", (78, 80, 114, 120))
    assert set(gb200.passing_checks()) == set(bench.CHECKS["gb200"]) - {
        "mlperf6-gb200-dsr1-interactive"  # a known miss at 62 (-31.8%), in band at 114 (+6.9%)
    }
    assert gb200.out_of_band(78) == ["mlperf6-gb200-dsr1-offline"]  # -29.6%: the twin is out
    # the first check to leave: the 2026 InferenceX FP8 8k/1k run, +38.0% at 62, +45.7% at 80
    assert "inferencex-gb200-dsr1-fp8-8k1k-75" in gb200.out_of_band(80)
    for g in (114, 120):
        assert {
            "mlperf6-gb200-gptoss-interactive",  # +13.4% -> +37.4% (114), band 30%
            "inferencex-gb200-dsr1-fp4-1k1k-125",  # run 2026-05-22: -6.2% -> +50.3%, band 45%
            "inferencex-gb200-dsr1-fp8-8k1k-75",  # 2026 recipes: +38.0% -> +54.2%
        } <= set(gb200.out_of_band(g)), g
    assert gb200.errors[114]["mlperf6-gb200-gptoss-interactive"] == pytest.approx(0.374, abs=0.01)
    gb300 = bench.family("gb300", (116, 118, 132, 184))
    assert gb300.out_of_band(116) == ["mlperf6-gb300-dsr1-offline"]  # -31.7%
    assert gb300.out_of_band(118) == [  # gpt-oss Interactive +29.7% -> +30.9%
        "mlperf6-gb300-dsr1-offline",
        "mlperf6-gb300-gptoss-interactive",
    ]
    for g in (132, 184):
        assert {"mlperf6-gb300-gptoss-offline", "mlperf6-gb300-gptoss-interactive"} <= set(
            gb300.out_of_band(g)
        ), g  # +16.1% / +33.3% at 132, +21.6% / +44.2% at 184
    # at 184 the v6.0 Interactive DeepSeek-R1 run (a known miss at 62, -34.5%) is out the other
    # way (+34.0%)
    assert "mlperf6-gb300-dsr1-interactive" in gb300.out_of_band(184)
    assert not set(bench.TWINS["gb300"]) & set(gb300.out_of_band(184))
    # B200 (no v6.0 DeepSeek-R1 run) at GB200's figure: two of its three v6.0 gpt-oss runs leave.
    b200 = bench.family("b200", (114,))
    assert set(b200.out_of_band(114)) == {
        "mlperf6-b200-gptoss-offline",  # +10.6% -> +24.1%, band 15%
        "mlperf6-b200-gptoss-server",  # +20.9% -> +38.8%, band 30%
    }


def test_gptoss_routed_token_term_by_hand() -> None:
    # The gpt-oss checks feel the figure through the same term: GB200 Offline runs 512 sequences
    # a TP1 engine (the cap), every one of its 36 layers MoE with 4 of 128 experts on a 2,880
    # stream: 36 x 512 x 4 x 2,880 x 3 B a step at moe_token_bandwidth (TP1: one rank, no hot-rank
    # excess): 10.27 ms at 62 GB/s of a 34.0 ms step, 5.59 ms at 114.
    bench = _bench()
    point = next(p for p in points() if p.id == "mlperf6-gb200-gptoss-offline")
    by_hand = {g: 36 * 512 * 4 * 2880 * 3 / (g * 1e9) for g in (62, 114)}
    assert by_hand[62] == pytest.approx(0.010274, abs=1e-6)
    steps = {}
    with tempfile.TemporaryDirectory() as tmp:
        for g in (62, 114):
            clear_physics_caches()
            est = predict(point, bench.catalog_at("gb200", g, Path(tmp)))
            assert est.max_batch == 512 and est.step_time_s is not None
            assert est.step_terms_s["moe_tokens"] == pytest.approx(by_hand[g], rel=1e-9)
            steps[g] = est.step_time_s
    clear_physics_caches()
    assert steps[62] - steps[114] == pytest.approx(by_hand[62] - by_hand[114], rel=1e-9)
    assert steps[62] == pytest.approx(0.0340, abs=2e-4)
