"""Serving accuracy against measured public runs (planner/calibration/serving.yaml).

Each point is checked within the tolerance stated next to it in the table (what each run used and
what was assumed is recorded there too). Points the planner does not reproduce carry a
`known_miss` explanation and are expected failures (strict: fixing one must remove its mark).
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from hardware.catalog import load_catalog
from planner.calibration import mean_absolute_error
from planner.calibration.serving import (
    parametric_moe,
    planner_value,
    point_value,
    points,
    predict,
    rows,
)
from planner.demand.inference import clear_physics_caches

CATALOG = load_catalog()
POINTS = points()


@pytest.mark.parametrize(
    "point",
    [
        pytest.param(
            p,
            id=p.id,
            marks=[pytest.mark.xfail(reason=p.known_miss, strict=True)] if p.known_miss else [],
        )
        for p in POINTS
    ],
)
def test_point_within_its_tolerance(point) -> None:  # type: ignore[no-untyped-def]
    est = predict(point, CATALOG)
    assert est.feasible, est.reason
    value = point_value(point, CATALOG)
    error = value / point.published - 1
    assert abs(error) <= point.tolerance, f"{value:,.0f} vs {point.published:,.0f} ({error:+.0%})"


def test_dense_family_mae_within_20_percent() -> None:
    dense = [r for r in rows(CATALOG) if r.family == "serving-dense"]
    assert len(dense) == 5 and mean_absolute_error(dense) <= 0.20


def test_moe_family_mae_within_30_percent() -> None:
    moe = [r for r in rows(CATALOG) if r.family == "serving-moe"]
    assert mean_absolute_error(moe) <= 0.30


def test_trainium_family_mae_within_20_percent() -> None:
    # AWS Neuron SDK Trainium2 runs (fixed-batch decode and batch-1 prefill on one trn2.48xlarge):
    # the fitted step_overhead, the two TP-64 prefill points (their prompts padded to the
    # compile's context-encoding bucket; compute_utilisation.bf16 fitted to them) and the
    # unfitted 8B check, within 20% on average.
    trn = [p for p in POINTS if p.family == "trainium-serving"]
    assert len(trn) == 6 and not any(p.known_miss for p in trn)
    assert mean_absolute_error([r for r in rows(CATALOG) if r.family == "trainium-serving"]) <= 0.20


def test_trainium_bf16_compute_utilisation_is_the_mean_of_its_two_points() -> None:
    # The catalog's Trainium2 BF16 compute_utilisation is fitted to the two NxD Inference
    # prefill points (marked `fit:`): the mean of the u each implies, rounded to 0.01. Each
    # point's implied u is the compute share of its measured per-token time on the run's 16
    # chips: (1 / (published x 16)) / padding - TP16 all-reduce = F(6,144) / (16 x 667 TFLOP/s x u).
    from planner.calibration.serving import run_layout
    from planner.demand.serving_physics import padded_prompt_tokens, prefill_time

    fitted = [p for p in POINTS if p.fit and p.system == "trn2-server"]
    assert {p.id for p in fitted} == {
        "nxdi-trn2-llama33-70b-bf16-prefill-10k",
        "nxdi-trn2-llama31-405b-bf16-prefill-10k",
    }
    assert all(p.fit == "compute_utilisation.bf16" for p in fitted)
    implied = []
    for p in fitted:
        run = run_layout(p, CATALOG)
        assert run is not None and p.spec.model is not None
        hw, lay = run
        padded = padded_prompt_tokens(p.spec.prompt_tokens, p.spec.prefill_buckets)
        t = prefill_time(
            hw, CATALOG.models[p.spec.model], "bf16", lay, padded / 2, padded, padded / 10000
        )
        measured_s = 1 / (p.published * 16)
        implied.append(t.flops / (16 * 667e12 * (measured_s / t.padding - t.allreduce_s)))
    # 0.354 / 0.444 (mean 0.40) before a prompt's prefill stopped counting the input embedding
    # as a GEMM and ran the output head for its last position only
    assert implied[0] == pytest.approx(0.344, abs=0.001)  # 70B
    assert implied[1] == pytest.approx(0.440, abs=0.001)  # 405B
    sv = CATALOG.accelerators["trainium2"].serving
    assert sv is not None
    assert sv.compute_utilisation["bf16"] == round(sum(implied) / 2, 2) == 0.39
    # The fit points are named as such in the accuracy table.
    named = {r.point for r in rows(CATALOG) if r.family == "trainium-serving"}
    assert {p.id + " (fit)" for p in fitted} <= named


GB300_FP4_FIT_POINTS = {
    "mlperf51-gb300-llama31-405b-offline",
    "mlperf51-gb300-llama31-405b-server",
}


def test_gb300_fp4_compute_utilisation_minimises_its_fit_points_mae(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The catalog's GB300 FP4 compute_utilisation is fitted to the two MLPerf v5.1 GB300 Llama
    # 3.1 405B points (marked `fit:`; prefill-dominated, 9,429-token prompts): the value on a
    # 0.01 grid over 0.20-0.41 minimising their mean absolute error (catalog source of the
    # figure). The DeepSeek-R1 GB300 points are checks.
    fitted = [p for p in POINTS if p.fit == "compute_utilisation.fp4" and p.system == "gb300-nvl72"]
    assert {p.id for p in fitted} == GB300_FP4_FIT_POINTS

    def mae(u: float) -> float:
        overlay = tmp_path / f"u{u:.2f}.yaml"
        overlay.write_text(
            f"accelerators:\n  gb300:\n    serving:\n      compute_utilisation: {{fp4: {u:.2f}}}\n"
        )
        cat = load_catalog([overlay])
        return sum(abs(point_value(p, cat) / p.published - 1) for p in fitted) / len(fitted)

    grid = [i / 100 for i in range(20, 42)]
    best = min(grid, key=mae)
    sv = CATALOG.accelerators["gb300"].serving
    assert sv is not None
    # 0.32 (8.6%) before the input embedding stopped counting as a GEMM and a prompt's prefill
    # ran the output head for its last position only; 8.8% at 0.31 then, 7.0% with the engines'
    # token budgets capping the Offline point's batch; 0.31 (10.6%) before the Server point's
    # p99 tail took the dataset's output lengths (output_tokens_percentiles)
    assert sv.compute_utilisation["fp4"] == best == 0.28
    assert mae(best) == pytest.approx(0.0245, abs=0.001)


def test_trainium_prefill_points_run_in_their_bucket() -> None:
    # Both NxD Inference prefill points compile NxD Inference 2.21's default buckets for
    # --max-context-length 12288: their 10,000-token prompts run padded to 12,288.
    from planner.demand.serving_physics import padded_prompt_tokens

    pre = [p for p in POINTS if p.family == "trainium-serving" and p.counts == "prefill"]
    assert len(pre) == 2
    for p in pre:
        assert p.spec.prefill_buckets == (128, 256, 512, 1024, 2048, 4096, 8192, 12288)
        assert padded_prompt_tokens(p.spec.prompt_tokens, p.spec.prefill_buckets) == 12288


def test_trainium_per_user_points_run_the_measured_instance() -> None:
    # A fixed-batch point is rated on the layout it names (all 16 chips for the NxD Inference
    # runs, 2 for the vLLM Neuron TP8 run): a layout the catalog lacks would rate 0.
    for p in (p for p in POINTS if p.counts == "per-user"):
        assert p.batch is not None and p.accelerators is not None
        assert point_value(p, CATALOG) > 0, p.id


def test_70b_b200_curve_falls_with_interactivity() -> None:
    # InferenceX 70B FP8 B200: 4,431 -> 2,744 -> 912 tok/s/GPU at 76 -> 108 -> 139 tok/s/user
    # (a 4.9x fall); the planner must fall monotonically, by at least 3x, each point within 30%.
    curve = sorted(
        (p for p in POINTS if p.id.startswith("inferencex-b200-llama3-70b")),
        key=lambda p: p.spec.tokens_per_s_per_user or 0,
    )
    values = [planner_value(p, predict(p, CATALOG)) for p in curve]
    assert len(values) == 3 and values[0] > values[1] > values[2] > 0
    assert values[0] / values[2] >= 3
    for p, v in zip(curve, values, strict=True):
        assert abs(v / p.published - 1) <= 0.30


def test_offline_and_server_are_distinct() -> None:
    # The MLPerf Server point runs at a derived utilisation below 1 (Poisson arrivals, p99 TTFT);
    # the same system offline runs its batches full.
    server = next(p for p in POINTS if p.id == "mlperf5-b200-llama2-70b-server")
    est = predict(server, CATALOG)
    assert est.server_utilisation is not None and 0.5 < est.server_utilisation < 1.0
    offline = server.spec.model_copy(
        update={"mode": "offline", "tokens_per_s_per_user": None, "ttft_p99_s": None}
    )
    from planner.demand.inference import estimate_inference

    off = estimate_inference(offline, CATALOG, server.system)
    assert off.output_tokens_per_s_per_accelerator > est.output_tokens_per_s_per_accelerator  # type: ignore[operator]


def test_mlperf_checks_family_is_reported() -> None:
    # MLPerf Inference v5.1 check points (not fitted to): every one is in the accuracy table, and
    # each is either within its tolerance (the per-point test) or a stated known miss.
    checks = [p for p in POINTS if p.family == "mlperf-checks"]
    assert len(checks) == 9
    assert {r.point for r in rows(CATALOG) if r.family == "mlperf-checks"} == {p.id for p in checks}
    assert all(p.source.startswith("MLPerf Inference v5.1 closed") for p in checks)


def test_mlperf6_checks_family_is_reported_and_out_of_sample() -> None:
    # MLPerf Inference v6.0 gpt-oss-120b checks (not fitted to): GB300 / GB200 NVL72 (NVIDIA) and
    # B200 (Nebius), Offline / Server / Interactive. Each pins its run's layout and per-GPU batch
    # from the run's config, is in the accuracy table, and is within +-15% (Offline) or +-30%
    # (Server, Interactive: the MoE families' band) or a stated known miss. None is a fit.
    checks = [p for p in POINTS if p.family == "mlperf6-checks"]
    assert len(checks) == 15
    assert {r.point for r in rows(CATALOG) if r.family == "mlperf6-checks"} == {
        p.id for p in checks
    }
    assert not any(p.fit for p in checks)
    assert all(p.source.startswith("MLPerf Inference v6.0 closed") for p in checks)
    models = {p.spec.model for p in checks}
    assert models == {"gpt-oss-120b", "deepseek-r1"}
    assert len([p for p in checks if p.spec.model == "gpt-oss-120b"]) == 9
    for p in checks:
        assert p.spec.precision == "fp4", p.id
        assert p.spec.engine is not None and p.spec.engine.layout is not None, p.id
        assert p.spec.engine.cuda_graph_batch_sizes, p.id
        assert p.tolerance == (0.15 if p.spec.mode == "offline" else 0.30), p.id
    # DeepSeek-R1 Interactive (new in v6.0): MTP depth 3 from the decode workers' configs;
    # DeepSeek-R1 Offline and Server on the same racks (no MTP, v5.1's configs). With the
    # parametric MoE terms (the 2025 fit) five were known misses, too slow (the 2026 software
    # release: test_v6_dsr1_twins_refute_a_per_backend_moe_cost), GB200 Server in band at -29.2%;
    # with TensorRT-LLM 1.2's measured MoE module (engine.tensorrt_llm_version) both Offline runs
    # and GB200 Interactive are in band, and the two Server runs (their p99 TPOT spread) and
    # GB300 Interactive (its EP16 power-law table) are known misses, too fast. With the run's
    # figure (mlperf_run: the loadgen's tokens over the issue window and the last query's
    # latency) GB200 Server comes into band (+38.3% -> +20.4%); GB300 Server stays out
    # (+58.6% -> +32.6%).
    r1 = [p for p in checks if p.spec.model == "deepseek-r1"]
    assert len(r1) == 6
    assert all(p.spec.engine.tensorrt_llm_version == "1.2" for p in r1)  # type: ignore[union-attr]
    assert sorted(p.id for p in r1 if not p.known_miss) == [
        "mlperf6-gb200-dsr1-interactive",
        "mlperf6-gb200-dsr1-offline",
        "mlperf6-gb200-dsr1-server",
        "mlperf6-gb300-dsr1-offline",
    ]
    for p in r1:
        err = point_value(p, CATALOG) / p.published - 1
        assert err > 0 if p.known_miss else abs(err) <= p.tolerance, p.id
    assert all(p.spec.draft_tokens == (3 if "interactive" in p.id else 0) for p in r1)
    # The family's MAE, known misses included, within the MoE families' 30% (20.8% with the five
    # parametric DeepSeek-R1 misses, 11.1% without; 17.9% with the measured MoE module's three,
    # 12.0% without; 14.6% with the MLPerf runs' share, mlperf_run, and its three misses).
    assert mean_absolute_error([r for r in rows(CATALOG) if r.family == "mlperf6-checks"]) <= 0.30


def test_mlperf6_gpt_oss_depends_on_its_window() -> None:
    # The banded layers are what the GB300 Offline point rests on: with every layer attending to
    # and caching the whole context the planner falls 27% short of the run (outside +-15%).
    point = next(p for p in POINTS if p.id == "mlperf6-gb300-gptoss-offline")
    arch = CATALOG.models["gpt-oss-120b"]
    no_window = arch.model_copy(update={"sliding_window": None})
    data = CATALOG.data.model_copy(update={"models": {**CATALOG.models, "gpt-oss-120b": no_window}})
    catalog = dataclasses.replace(CATALOG, data=data)
    clear_physics_caches()
    try:
        assert point_value(point, catalog) / point.published - 1 < -0.15
    finally:
        clear_physics_caches()
    assert abs(point_value(point, CATALOG) / point.published - 1) <= 0.15


def test_dense_checks_family_is_reported_and_out_of_sample() -> None:
    # Dense checks: 13 MLPerf Inference v5.1 closed NVIDIA results on Llama 2 70B / Llama 3.1 8B /
    # 405B (B200, GB200 NVL72, GB300 NVL72) and two TensorRT-LLM perf-overview H100 FP8 runs, and
    # (session val30, held out) the same page's Llama 3.3 70B FP4 TP1 runs on B200 and GB200. Each
    # pins its run's layout (engine.layout) from the run's own config, each is in the accuracy
    # table and within 0.20 or a stated known miss. All are out of sample except the two GB300
    # Llama 3.1 405B points, GB300's FP4 compute_utilisation fit (its test below).
    checks = [p for p in POINTS if p.family == "dense-checks"]
    assert len(checks) == 17
    named = {r.point for r in rows(CATALOG) if r.family == "dense-checks"}
    assert named == {p.id + (" (fit)" if p.fit else "") for p in checks}
    assert {p.id for p in checks if p.fit} == GB300_FP4_FIT_POINTS
    assert all(p.tolerance == 0.20 for p in checks)
    # The family's MAE, known misses included, within the dense families' 20% (14.6% since
    # GB300's FP4 compute_utilisation was fitted; 17.2% since prompt attention runs at the KV
    # precision; 21.6% before).
    assert mean_absolute_error([r for r in rows(CATALOG) if r.family == "dense-checks"]) <= 0.20
    for p in checks:
        assert p.spec.engine is not None and p.spec.engine.layout is not None, p.id
        assert p.source.startswith(("MLPerf Inference v5.1 closed", "TensorRT-LLM docs")), p.id
        assert CATALOG.models[p.spec.model or ""].moe is None, p.id  # dense models only
    # No point of the table is measured twice: the ids, and (system, model, scenario, lengths).
    assert len({p.id for p in POINTS}) == len(POINTS)
    runs = [
        (p.system, p.spec.model, p.spec.mode, p.spec.tokens_per_s_per_user, p.published)
        for p in POINTS
    ]
    assert len(set(runs)) == len(runs)


TRTLLM_OVERVIEW_MISSES = {
    "trtllm-b200-qwen3-30b-a3b-fp4-tp1-1k1k": -1,  # too slow
    "trtllm-b200-dsr1-fp4-dep4-1k1k": -1,  # too slow
    "trtllm-h200-dsr1-fp8-dep8-1k1k": +1,  # too fast
}


def test_trtllm_overview_checks_family() -> None:
    # Session 31 (val): twelve held-out cells of TensorRT-LLM's perf-overview page (@03e27c7d):
    # Llama 3.3 70B on H200 (three lengths) and at 8192/1024 on H100 / B200 / GB200, Qwen3-235B-A22B
    # and Qwen3-30B-A3B, DeepSeek-R1-0528 on H200 and B200. None is a fit; each pins the column's
    # layout, counts output tokens, is in the accuracy table, and is within 0.20 (dense) / 0.30
    # (MoE) or one of three stated misses on the side its reason gives.
    checks = [p for p in POINTS if p.family == "trtllm-overview-checks"]
    assert len(checks) == 12
    assert {r.point for r in rows(CATALOG) if r.family == "trtllm-overview-checks"} == {
        p.id for p in checks
    }
    assert not any(p.fit for p in checks)
    assert {p.id for p in checks if p.known_miss} == set(TRTLLM_OVERVIEW_MISSES)
    for p in checks:
        assert p.source.startswith("TensorRT-LLM docs/source/developer-guide/perf-overview.md")
        assert p.spec.engine is not None and p.spec.engine.layout is not None, p.id
        assert p.spec.engine.tensorrt_llm_version is None, p.id  # the page names no release
        assert p.counts == "output", p.id
        moe = CATALOG.models[p.spec.model or ""].moe is not None
        assert p.tolerance == (0.30 if moe else 0.20), p.id
        err = point_value(p, CATALOG) / p.published - 1
        if p.id in TRTLLM_OVERVIEW_MISSES:
            assert err * TRTLLM_OVERVIEW_MISSES[p.id] > p.tolerance, p.id
        else:
            assert abs(err) <= p.tolerance, p.id
    # The B200 DeepSeek-R1 miss is the parametric MoE routed-token cost: with TensorRT-LLM 1.2's
    # measured MoE module for its shape (DEP4, FP4) in place of the expert GEMMs, the layer latency
    # and the routed tokens, the same cell is in band (-41.7% -> +9.4%).
    b200 = next(p for p in checks if p.id == "trtllm-b200-dsr1-fp4-dep4-1k1k")
    assert b200.spec.engine is not None
    engine = b200.spec.engine.model_copy(update={"tensorrt_llm_version": "1.2"})
    measured = dataclasses.replace(b200, spec=b200.spec.model_copy(update={"engine": engine}))
    assert "MoE module (measured" in predict(measured, CATALOG).reason
    assert abs(point_value(measured, CATALOG) / b200.published - 1) <= b200.tolerance
    assert point_value(b200, CATALOG) / b200.published - 1 < -b200.tolerance


def test_accuracy_table_marks_known_misses_and_reports_both_maes() -> None:
    # Two points of one family, one a known miss: the table marks it and gives the family's MAE
    # with it (30%) and without it (10%).
    from planner.calibration import AccuracyRow, format_table

    table = format_table(
        [
            AccuracyRow("fam", "a", "tok/s", 100.0, 110.0, "src"),
            AccuracyRow("fam", "b", "tok/s", 100.0, 150.0, "src", known_miss=True),
        ]
    )
    lines = table.splitlines()
    assert lines[1].endswith("+10.0%") and lines[2].endswith("+50.0% *")
    assert "MAE fam: 30.0% over 2 points; 10.0% without its 1 known miss" in lines
    # Every serving point marked in the table is one its test expects to fail, and no other (a
    # known miss may be a fit point too: rubin's ratio fit, rubin-checks).
    marked = {r.point.removesuffix(" (fit)") for r in rows(CATALOG) if r.known_miss}
    assert marked == {p.id for p in POINTS if p.known_miss}


MOE_FIT_ENTRIES = ("b200", "gb200", "h100-sxm")  # the fit's entries; gb300/trainium2 copy b200


def test_moe_token_bandwidth_recheck_minimum_and_why_it_is_not_adopted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # b200's moe_token_bandwidth (62 GB/s, moe_layer_latency 30 us) was fitted by grid search on
    # the six serving-moe points' mean absolute error. Re-checked 2026-11-27 (catalog source of
    # the figure): at 30 us over 50-90 GB/s in 1 GB/s steps the minimum is now interior at
    # 68 GB/s (15.2% vs 16.7% at 62), but at 68 GB/s three out-of-sample checks leave their
    # tolerances, so the figure is kept until they are explained. When this test fails, the
    # re-check no longer holds: refit or adopt (and update the source texts). Re-checked again
    # once the input embedding stopped counting as a GEMM (session embed): the minimum moved to
    # 67 GB/s (15.3% vs 16.5% at 62), the two MLPerf DeepSeek-R1 Server checks still leave their
    # tolerances there (inferencex-gb200-dsr1-fp8-8k1k-89-mtp is a known miss at 62 already).
    fitted = [p for p in POINTS if p.family == "serving-moe"]
    assert len(fitted) == 6 and not any(p.known_miss for p in fitted)

    def catalog(gbps: int):  # type: ignore[no-untyped-def]
        overlay = tmp_path / f"bw{gbps}.yaml"
        overlay.write_text(
            "accelerators:\n"
            + "".join(
                f"  {a}:\n    serving:\n      moe_layer_latency: 30 us\n"
                f"      moe_token_bandwidth: {gbps} GB/s\n"
                for a in MOE_FIT_ENTRIES
            )
        )
        return load_catalog([overlay])

    def mae(gbps: int) -> float:
        cat = catalog(gbps)
        return sum(abs(point_value(p, cat) / p.published - 1) for p in fitted) / len(fitted)

    for name in (*MOE_FIT_ENTRIES, "gb300", "trainium2"):
        sv = CATALOG.accelerators[name].serving
        assert sv is not None
        assert sv.moe_layer_latency_s == pytest.approx(30e-6)
        assert sv.moe_token_bandwidth_bytes_per_s == pytest.approx(62e9)
    maes = {g: mae(g) for g in range(50, 91)}
    best = min(maes, key=maes.__getitem__)
    assert best == 67 and 50 < best < 90  # interior
    # the catalog's value, as bench/accuracy; 0.1651 before the MTP drafts stored the MTP
    # module's weights and KV (qa28b: inferencex-b200-dsr1-fp8-8k1k-75 -1.0% -> -3.0%)
    assert maes[62] == pytest.approx(0.1689, abs=0.001)
    assert maes[67] == pytest.approx(0.1534, abs=0.001)
    # Why not adopted: at 67 GB/s these checks leave their tolerances.
    at67 = catalog(67)
    leaving = {"mlperf51-b200-dsr1-server", "mlperf51-gb200-dsr1-server"}
    for p in (p for p in POINTS if p.id in leaving):
        assert not p.known_miss
        assert abs(point_value(p, CATALOG) / p.published - 1) <= p.tolerance, p.id
        assert abs(point_value(p, at67) / p.published - 1) > p.tolerance, p.id


# MLPerf v6.0 DeepSeek-R1 runs whose config is their v5.1 twin's field for field (only loadgen
# counts differ): closed/NVIDIA/configs/<system>/<scenario>/deepseek-r1.py in both rounds.
V6_TWINS = {
    "mlperf6-gb200-dsr1-offline": "mlperf51-gb200-dsr1-offline",  # moe_backend WIDEEP
    "mlperf6-gb300-dsr1-offline": "mlperf51-gb300-dsr1-offline",  # moe_backend CUTLASS
    "mlperf6-gb200-dsr1-server": "mlperf51-gb200-dsr1-server",  # moe_backend WIDEEP
}


def test_v6_dsr1_twins_refute_a_per_backend_moe_cost(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The fitted per-routed-token MoE cost (moe_token_bandwidth, 62 GB/s, fitted on 2025 runs) is
    # too slow for 2026 TensorRT-LLM. A per-backend engine input could only separate runs whose
    # configs differ; these v6.0 runs repeat their v5.1 twins' configs (same engine block in the
    # table) and measure 1.54-2.0x them, so what changed is the software release, not a field.
    # Since the measured MoE table the release is a field (engine.tensorrt_llm_version: 1.2 on
    # the v6.0 twin, none on the v5.1 twin, TensorRT-LLM 1.0, which no table covers): the
    # analysis below is the parametric model's, on the points without it (parametric_moe).
    for new, old in V6_TWINS.items():
        engines = [next(p for p in POINTS if p.id == i).spec.engine for i in (new, old)]
        assert [e.tensorrt_llm_version for e in engines] == ["1.2", None], new  # type: ignore[union-attr]
    by_id = {p.id: parametric_moe(p) for p in POINTS}
    for new, old in V6_TWINS.items():
        a, b = by_id[new], by_id[old]
        assert a.spec.engine == b.spec.engine, new
        assert (a.spec.precision, a.spec.kv_precision, a.spec.prompt_tokens, a.spec.mode) == (
            b.spec.precision,
            b.spec.kv_precision,
            b.spec.prompt_tokens,
            b.spec.mode,
        ), new
        assert a.published / b.published > 1.5, new  # 1.68, 1.54, 2.01
        assert not b.known_miss, new
        # the v6.0 twin short by > 25% (GB200 Server -29.2%: inside its 30% band with the
        # dataset's output lengths; the Offline twins known misses)
        # (steady rates: the v5.1 twins carry no mlperf_run)
        assert point_value(a, CATALOG, run=False) / a.published - 1 < -0.25, new
        # The planner prices both alike (output lengths differ by < 1%).
        assert point_value(a, CATALOG, run=False) == pytest.approx(
            point_value(b, CATALOG, run=False), rel=0.02
        ), new

    # By hand, GB200 Offline: 4,096 sequences an instance (512 a GPU, the cap), EP8, so
    # m/g = 512 routed tokens a rank, mu = m k / g = 4,096 routed rows, x = 1 + sqrt(2 ln 8 / mu);
    # routed-token cost = 58 MoE layers x x x 512 x (8 x 7,168 x 3 B) / 62 GB/s.
    x = 1 + (2 * math.log(8) / 4096) ** 0.5
    tokens_s = 58 * x * 512 * (8 * 7168 * 3) / 62e9
    assert tokens_s == pytest.approx(0.0850, abs=2e-4)

    def implied_gbps(point_id: str) -> float:
        # The run's step at the planner's batch (the cap): the planner's step scaled by its rate
        # over the measured rate; what the routed tokens must cost for it, as a bandwidth.
        p = by_id[point_id]
        est = predict(p, CATALOG)
        assert est.max_batch == 4096 and est.step_time_s is not None
        tok = est.step_terms_s["moe_tokens"]
        assert tok == pytest.approx(tokens_s, rel=1e-6)
        run_step = est.step_time_s * point_value(p, CATALOG) / p.published
        return 62 * tok / (run_step - (est.step_time_s - tok))

    v51, v6 = (
        implied_gbps("mlperf51-gb200-dsr1-offline"),
        implied_gbps("mlperf6-gb200-dsr1-offline"),
    )
    assert 55 < v51 < 75  # ~64 GB/s: the 2025 fit
    assert v6 > 140 and v6 / v51 > 2  # ~160 GB/s: 2.5x, same config

    # No one moe_token_bandwidth (b200, gb200, gb300 together) puts the v6.0 GB200 Offline point
    # and its v5.1 twins (Offline and Server) in their bands at once.
    def errors(gbps: int) -> list[float]:
        overlay = tmp_path / f"tok{gbps}.yaml"
        overlay.write_text(
            "accelerators:\n"
            + "".join(
                f"  {n}:\n    serving:\n      moe_token_bandwidth: {gbps} GB/s\n"
                for n in ("b200", "gb200", "gb300")
            )
        )
        cat = load_catalog([overlay])
        clear_physics_caches()
        ids = (
            "mlperf6-gb200-dsr1-offline",
            "mlperf51-gb200-dsr1-offline",
            "mlperf51-gb200-dsr1-server",
        )
        return [abs(point_value(by_id[i], cat) / by_id[i].published - 1) for i in ids]

    try:
        # 62: the catalog's (v6.0 -41.6%); 120 and 150 GB/s bring v6.0 within its 15% (-14.6%,
        # -5.2%) and take the v5.1 Server twin to +116% / +152% (Offline +43.5% / +59.3%).
        for gbps in (62, 120, 150):
            v6_off, v51_off, v51_srv = errors(gbps)
            assert v6_off <= 0.15 or gbps == 62, gbps
            assert not (v6_off <= 0.15 and v51_off <= 0.45 and v51_srv <= 0.45), gbps
            if gbps == 62:
                assert (v51_off, v51_srv) == (
                    pytest.approx(0.020, abs=0.01),
                    pytest.approx(0.420, abs=0.01),  # +42.0% with the dataset's output lengths
                )
    finally:
        clear_physics_caches()
