"""NVIDIA Rubin (rubin, vera-rubin-nvl144) against the first measured Vera Rubin runs (MLPerf
Inference v6.1 closed, NVIDIA Vera Rubin NVL72 DeepSeek-R1; family rubin-checks in
planner/calibration/serving.yaml): the sourced figures the runs' system description moved or
confirmed, the runs' arithmetic, the fit of rubin's per-routed-token MoE cost to the measured
Vera Rubin / GB300 ratio (bench/rubin_ratio_fit.py, recomputed), and that ratio by hand."""

from __future__ import annotations

import dataclasses
import math

import bench_module
import pytest
from mlperf_logs import check_points_from_logs

from hardware.catalog import load_catalog
from planner.calibration import mean_absolute_error
from planner.calibration.serving import point_value, points, predict, rows
from planner.demand.common import serving_limits
from planner.demand.inference import clear_physics_caches

CATALOG = load_catalog()
POINTS = points()
CHECKS = [p for p in POINTS if p.family == "rubin-checks"]
BY_ID = {p.id: p for p in CHECKS}
# The round's NVIDIA rows (github.com/mlcommons/inference_results_v6.1 summary.json @10ecdffd),
# tokens/s of 72 GPUs: Vera Rubin NVL72 (report.txt TPS) and GB300 NVL72.
VR_TPS = {"offline": 1_183_326.85, "server": 1_175_890.22, "interactive": 652_750.14}
GB300_TPS = {"offline": 679_740.0, "server": 596_944.0, "interactive": 253_506.0}


def _bench():  # type: ignore[no-untyped-def]
    return bench_module.load("rubin_ratio_fit")


def test_rubin_figures_the_v61_system_description_states() -> None:
    # closed/NVIDIA/systems/VR-NVL72_VR-288GB_aarch64x72_TRT.json: 288 GB HBM4, "2300W TGP Per
    # GPU" (the catalog's estimate was 1,800 W); GB300's rows of the round state 1400W, gb300's.
    rubin = CATALOG.accelerators["rubin"]
    assert rubin.power_w == 2300 and CATALOG.accelerators["gb300"].power_w == 1400
    assert "2300W TGP Per GPU" in rubin.source_of("power")
    assert not rubin.source_of("power").startswith("estimate")
    assert "power" not in rubin.ranges  # sourced: no estimate range
    assert rubin.hbm_bytes == 288e9 and "288 GB" in rubin.source_of("hbm")
    # The rack's rating still covers its GPUs: 72 x 2.3 kW = 165.6 kW < 230 kW (low end 172.5).
    rack = CATALOG.systems["vera-rubin-nvl144"]
    assert rack.accelerators == 72 and rack.power_w == 230e3
    assert 72 * 2300 == 165_600 < rack.power_w
    # The announced peaks and bandwidths stand (the runs cannot tell them apart: rubin serving
    # source): 35 PF NVFP4 (training; 50 PF inference not used), 22 TB/s, NVLink 6 3.6 TB/s.
    assert rubin.peak_flops["fp4"] == 35e15
    assert rubin.hbm_bandwidth_bytes_per_s == 22e12
    assert rubin.scale_up_bandwidth_bytes_per_s == 3.6e12


def test_rubin_serving_source_and_calibration_limit_name_the_runs() -> None:
    rubin = CATALOG.accelerators["rubin"]
    sv = rubin.serving
    assert sv is not None and sv.calibration_limit
    assert "no Rubin serving measurements" not in rubin.source_of(
        "serving.hbm_bandwidth_utilisation"
    )
    assert "MLPerf Inference v6.1" in rubin.source_of("serving.compute_utilisation.fp4")
    assert "rubin-checks" in sv.calibration_limit and "Interactive" in sv.calibration_limit
    # every plan serving on the rack states it
    limits = serving_limits(CATALOG, ["vera-rubin-nvl144", "gb300-nvl72"])
    assert [names for _, names in limits] == [("vera-rubin-nvl144",)]
    # the other serving figures are still Blackwell's (b200's fit), as the source says
    b200 = CATALOG.accelerators["b200"].serving
    assert b200 is not None
    assert sv.compute_utilisation == b200.compute_utilisation
    assert sv.step_overhead_s == b200.step_overhead_s
    assert sv.moe_layer_latency_s == b200.moe_layer_latency_s


def test_rubin_checks_family_is_reported() -> None:
    # Three runs (Offline, Server, Interactive), each pinning the engine of its GB300 v6.0 twin
    # (the VR engine configs are not published), all known misses of their absolute rate (the
    # 2025-fitted MoE cost, as GB300's), Offline and Server the ratio fit's points.
    assert [p.id for p in CHECKS] == [
        "mlperf61-vr-dsr1-offline",
        "mlperf61-vr-dsr1-server",
        "mlperf61-vr-dsr1-interactive",
    ]
    fam = [r for r in rows(CATALOG) if r.family == "rubin-checks"]
    assert {r.point.removesuffix(" (fit)") for r in fam} == set(BY_ID)
    assert {p.id for p in CHECKS if p.fit} == {
        "mlperf61-vr-dsr1-offline",
        "mlperf61-vr-dsr1-server",
    }
    assert all(p.fit == "serving.moe_token_bandwidth" for p in CHECKS if p.fit)
    assert all(p.known_miss for p in CHECKS)
    for p in CHECKS:
        twin = next(q for q in POINTS if q.id == f"mlperf6-gb300-dsr1-{p.id.split('-')[-1]}")
        assert p.system == "vera-rubin-nvl144", p.id
        assert p.source.startswith("MLPerf Inference v6.1 closed, NVIDIA VR-NVL72"), p.id
        assert "github.com/mlcommons/inference_results_v6.1" in p.source, p.id
        assert (p.spec.model, p.spec.precision, p.spec.kv_precision) == (
            "deepseek-r1",
            "fp4",
            "fp8",
        )
        assert p.spec.prefill == "disaggregated", p.id
        # the twin's engine but its TensorRT-LLM release: the VR rows' framework is
        # "TRTLLM-rubin" (no release named) and no measured MoE table covers VR200, so the
        # Rubin points keep the parametric MoE terms their ratio fit is made on
        assert p.spec.engine is not None and twin.spec.engine is not None
        assert p.spec.engine.tensorrt_llm_version is None, p.id
        assert p.spec.engine == twin.spec.engine.model_copy(
            update={"tensorrt_llm_version": None}
        ), p.id
        assert p.spec.draft_tokens == twin.spec.draft_tokens, p.id
        assert p.tolerance == twin.tolerance == (0.15 if p.spec.mode == "offline" else 0.30)
        # 52-60% under the run: out of band, as the GB300 twin (-34.5 to -53.5%)
        err = point_value(p, CATALOG) / p.published - 1
        assert -0.62 < err < -0.50, (p.id, err)
    assert mean_absolute_error(fam) == pytest.approx(0.558, abs=0.01)


def test_rubin_published_is_the_reports_tps_over_72_gpus() -> None:
    # report.txt: TPS and QPS of each run (Server / Interactive: legacy loadgen QPS metrics)
    logs = {
        "mlperf61-vr-dsr1-offline": (VR_TPS["offline"], 312.23),
        "mlperf61-vr-dsr1-server": (VR_TPS["server"], 310.08),
        "mlperf61-vr-dsr1-interactive": (VR_TPS["interactive"], 168.45),
    }
    check_points_from_logs(CHECKS, logs, abs_tok_s=0.5, gpus=72)


def test_rubin_moe_token_bandwidth_fit_recomputed() -> None:
    # Procedure (rubin source): rubin's moe_token_bandwidth alone, 1 GB/s grid, minimising the
    # mean absolute error of the planner's Rubin/GB300 ratio against the measured ratio on the
    # Offline and Server runs. Recomputed around the minimum (the script runs 62-200 GB/s) and at
    # Blackwell's 62 GB/s, the estimate it replaces.
    bench = _bench()
    assert bench.FIT == ("mlperf61-vr-dsr1-offline", "mlperf61-vr-dsr1-server")
    for p in CHECKS:
        side = p.id.split("-")[-1]
        assert bench.measured_ratio(p) == pytest.approx(VR_TPS[side] / GB300_TPS[side], rel=1e-4)
    errors = bench.ratio_errors(range(90, 99), (*bench.FIT, *bench.CHECK), CATALOG)
    assert bench.fitted(errors) == 94
    assert CATALOG.accelerators["rubin"].serving.moe_token_bandwidth_bytes_per_s == 94e9  # type: ignore[union-attr]
    off, srv, inter = (errors[94][i] for i in (*bench.FIT, *bench.CHECK))
    assert off == pytest.approx(0.001, abs=0.005) and srv == pytest.approx(-0.017, abs=0.005)
    # the check, not fitted: Interactive's ratio 26% under the measured (inside the MoE families'
    # 30%, the edge of it)
    assert inter == pytest.approx(-0.258, abs=0.01) and abs(inter) <= 0.30
    # the estimate it replaces: Blackwell's 62 GB/s put every ratio 29-49% under
    before = bench.ratio_errors([62], (*bench.FIT, *bench.CHECK), CATALOG)[62]
    assert [round(e, 3) for e in before.values()] == pytest.approx(
        [-0.289, -0.315, -0.489], abs=0.003
    )
    clear_physics_caches()


def test_rubin_gb300_offline_ratio_by_hand() -> None:
    # The Offline spec on both racks, each at the assumed cap (1,280 a GPU, EP8: 10,240 sequences
    # an instance, m/g = 1,280 routed tokens a rank, mu = m k / g = 10,240 routed rows).
    # Per-routed-token cost = 58 MoE layers x x x 1,280 x (8 x 7,168 x 3 B) / moe_token_bandwidth,
    # hot rank x = 1 + sqrt(2 ln 8 / mu):   GB300 at 62 GB/s 210.1 ms, Rubin at 94 GB/s 138.6 ms.
    # Weights and KV read: HBM 22 vs 8 TB/s at the same 0.80 -> 2.75x. Compute: FP4 GEMMs at
    # 35 PF x 0.39 vs 15 PF x 0.28 (3.25x), attention at the FP8 KV rate 16.7 vs 5 PF x 0.28
    # (3.34x). The planner's decode-rate ratio at equal batch = GB300 step / Rubin step.
    p = BY_ID["mlperf61-vr-dsr1-offline"]
    arch = CATALOG.models["deepseek-r1"]
    assert arch.moe is not None
    moe_layers = arch.layers - arch.moe.dense_layers
    assert moe_layers == 58
    x = 1 + math.sqrt(2 * math.log(8) / 10240)
    per_token = arch.moe.active_experts * arch.hidden * 3
    assert per_token == 172_032
    routed = moe_layers * x * 1280 * per_token
    by_hand = {"gb300-nvl72": routed / 62e9, "vera-rubin-nvl144": routed / 94e9}
    assert by_hand["gb300-nvl72"] == pytest.approx(0.2102, abs=2e-4)
    assert by_hand["vera-rubin-nvl144"] == pytest.approx(0.1386, abs=2e-4)
    est = {}
    for system in by_hand:
        clear_physics_caches()
        est[system] = predict(dataclasses.replace(p, system=system), CATALOG)
    clear_physics_caches()
    g, r = est["gb300-nvl72"], est["vera-rubin-nvl144"]
    assert g.max_batch == r.max_batch == 10240
    assert g.step_terms_s is not None and r.step_terms_s is not None
    for system, e in est.items():
        assert e.step_terms_s is not None
        assert e.step_terms_s["moe_tokens"] == pytest.approx(by_hand[system], rel=1e-6)
    assert g.step_terms_s["memory"] / r.step_terms_s["memory"] == pytest.approx(22 / 8, rel=1e-6)
    assert round((35 * 0.39) / (15 * 0.28), 6) == 3.25
    assert 3.25 - 1e-3 <= g.step_terms_s["compute"] / r.step_terms_s["compute"] <= 16.7 / 5 + 1e-3
    # the steps: every other term as the estimate's; the routed-token cost by hand
    step = {
        s: e.step_time_s - e.step_terms_s["moe_tokens"] + by_hand[s]  # type: ignore[operator]
        for s, e in est.items()
    }
    assert step["gb300-nvl72"] == pytest.approx(0.2972, abs=5e-4)
    assert step["vera-rubin-nvl144"] == pytest.approx(0.1719, abs=5e-4)
    decode_ratio = step["gb300-nvl72"] / step["vera-rubin-nvl144"]  # 1.729
    planner = point_value(p, CATALOG) / point_value(
        dataclasses.replace(p, system="gb300-nvl72"), CATALOG
    )
    clear_physics_caches()
    # prefill (disaggregated, the same prompt share on both) moves it by < 1%
    assert planner == pytest.approx(decode_ratio, rel=0.01)
    measured = VR_TPS["offline"] / GB300_TPS["offline"]  # 1.741
    assert planner == pytest.approx(measured, rel=0.005)
    # with Blackwell's 62 GB/s on Rubin the routed-token cost would be GB300's and the ratio
    # (step terms alone) 1.24
    at62 = step["gb300-nvl72"] / (
        step["vera-rubin-nvl144"] - by_hand["vera-rubin-nvl144"] + routed / 62e9
    )
    assert at62 == pytest.approx(1.22, abs=0.02)
