"""AMD Instinct MI325X (mi325x, mi325x-platform): the catalog figures with their units, the
efficiency figures taken from mi300x (same CDNA 3 die) and saying so, the MLPerf Inference v5.1
MI325X runs as the out-of-sample check of the MI300X serving fit (planner/calibration/serving.yaml,
family mi325x-checks) with their logs' arithmetic, the clock setting that separates the two parts'
runs, and the KV capacity difference MI300X vs MI325X recomputed by hand."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from mlperf_logs import check_points_from_logs
from sibling_parts import assert_takes_siblings_figures

from hardware.catalog import load_catalog
from planner.calibration import mean_absolute_error
from planner.calibration.serving import point_value, points, rows
from planner.demand.common import serving_limits
from planner.demand.inference import clear_physics_caches, estimate_inference

CATALOG = load_catalog()
POINTS = points()
CHECKS = [p for p in POINTS if p.family == "mi325x-checks"]
BY_ID = {p.id: p for p in POINTS}


def test_mi325x_datasheet_figures_with_units() -> None:
    mi325x = CATALOG.accelerators["mi325x"]
    mi300x = CATALOG.accelerators["mi300x"]
    # AMD MI325X datasheet: MI300X's dense matrix rates (same die, same clocks), 256 GB HBM3E at
    # 6 TB/s (MI300X 192 GB HBM3 at 5.3 TB/s), seven 128 GB/s Infinity Fabric links, 1,000 W.
    assert mi325x.vendor == "AMD"
    assert mi325x.peak_flops == {"bf16": 1307.4e12, "fp16": 1307.4e12, "fp8": 2614.9e12}
    assert mi325x.peak_flops == mi300x.peak_flops
    assert "fp4" not in mi325x.peak_flops  # CDNA 3: no 4-bit matrix rate
    assert mi325x.hbm_bytes == 256e9
    assert mi325x.hbm_bandwidth_bytes_per_s == 6e12
    assert mi325x.scale_up_bandwidth_bytes_per_s == pytest.approx(7 * 128e9)
    assert mi325x.power_w == 1000
    assert mi325x.hbm_bytes / mi300x.hbm_bytes == pytest.approx(4 / 3)
    assert mi325x.hbm_bandwidth_bytes_per_s / mi300x.hbm_bandwidth_bytes_per_s == pytest.approx(
        6 / 5.3
    )
    platform = CATALOG.systems["mi325x-platform"]
    assert platform.accelerator == "mi325x"
    assert platform.accelerators == platform.scale_up_domain == 8  # one Infinity Fabric domain
    assert platform.cpu == "epyc-9575f" and platform.cpus == 2  # AMD's MLPerf v5.1 system JSON
    assert platform.host_memory_bytes == pytest.approx(2.25 * 2**40)  # 24x 96 GiB
    assert platform.power_w == 12.5e3  # 8 x 1,000 W + ~4.5 kW of host, as mi300x-platform's
    assert platform.power_w - 8 * 1000 == CATALOG.systems["mi300x-platform"].power_w - 8 * 750
    assert platform.capex_usd == 300_000
    assert platform.rental_usd_per_hour == 56.0  # ~$7/GPU-h x 8
    assert [c.usd_per_hour for c in platform.contracts] == [19.0, 14.0]
    assert platform.spot_usd_per_hour == 28.0
    assert platform.available_from == datetime.date(2025, 1, 1)
    assert platform.reliability is not None and platform.reliability.failure_domain == 8
    for figure in ("capex_usd", "rental_usd_per_hour", "power", "lead_time"):
        assert platform.source_of(figure).startswith("estimate"), figure


def test_mi325x_efficiency_figures_are_mi300xs_and_say_so() -> None:
    # Same die at the same clocks: every serving, training and RL efficiency figure is mi300x's,
    # not fitted to the MI325X runs (they check the MI300X model out of sample).
    mi325x = CATALOG.accelerators["mi325x"]
    mi300x = CATALOG.accelerators["mi300x"]
    tag = "taken equal to mi300x's (same CDNA 3 die)"
    assert_takes_siblings_figures(mi325x, mi300x, tag, ("bf16", "fp16", "fp8"))
    # The fitted FP8 rate says where it was fitted (the MI300X runs), not on the MI325X's.
    assert "mlperf51-mi300x-llama2-70b-offline" in mi325x.source_of(
        "serving.compute_utilisation.fp8"
    )


def test_mi325x_calibration_limit_is_its_own_and_plans_state_it() -> None:
    # The limit is adapted, not copied: it names the MI325X checks and their clock difference.
    limit = CATALOG.accelerators["mi325x"].serving.calibration_limit
    assert limit and limit != CATALOG.accelerators["mi300x"].serving.calibration_limit
    assert "mi325x-checks" in limit and "1,600-1,700 MHz" in limit
    stated = serving_limits(CATALOG, ["mi325x-platform", "mi300x-platform", "hgx-h100"])
    texts = {names: text for text, names in stated}
    assert texts[("mi325x-platform",)].endswith(limit)
    assert ("hgx-h100",) not in texts


# (tokens/s, samples/s) of each run's mlperf_log_summary.txt (mlcommons/inference_results_v5.1
# @965182b0, closed/<submitter>/results/<system>/llama2-70b-99/<scenario>/performance/run_1)
LOGS = {
    "mlperf51-mi325x-llama2-70b-offline": (34520.4, 114.7),
    "mlperf51-mi325x-llama2-70b-server": (32027.57, 106.28),
    "mlperf51-mi325x-2-llama2-70b-offline": (34555.0, 114.852),
    "mlperf51-mi325x-llama2-70b-interactive": (18407.20, 61.24),
    "mlperf51-mi325x-gigabyte-llama2-70b-offline": (34483.2, 114.578),
    "mlperf51-mi325x-gigabyte-llama2-70b-server": (32139.41, 106.98),
    "mlperf51-mi325x-gigabyte-llama2-70b-interactive": (18825.92, 62.68),
    "mlperf51-mi325x-mitac-llama2-70b-offline": (33703.0, 111.994),
    "mlperf51-mi325x-mitac-llama2-70b-server": (31755.66, 105.47),
    "mlperf51-mi325x-mitac-llama2-70b-interactive": (18846.10, 62.80),
    "mlperf51-mi325x-qct-llama2-70b-offline": (32760.5, 108.888),
    "mlperf51-mi325x-qct-llama2-70b-server": (31401.37, 104.43),
    "mlperf51-mi325x-qct-llama2-70b-interactive": (17632.98, 58.73),
    "mlperf51-mi325x-vultr-llama2-70b-offline": (33762.5, 112.148),
    "mlperf51-mi325x-vultr-llama2-70b-server": (30339.40, 101.00),
    "mlperf51-mi325x-vultr-llama2-70b-interactive": (17709.62, 58.87),
}


def test_mi325x_published_is_the_logs_tokens_over_eight_gpus() -> None:
    # published = the log's tokens/s / 8 GPUs; output_tokens = tokens/s / samples/s
    check_points_from_logs(CHECKS, LOGS, abs_tok_s=0.051)  # published to 0.1
    assert all(p.spec.prompt_tokens == 222 for p in CHECKS)  # the dataset's mean input


def test_mi325x_checks_are_out_of_sample_with_strict_misses() -> None:
    # 16 runs (AMD's two machines, GigaComputing, MiTAC, QCT, Vultr), none a fit; each pins its
    # config's TP1 engine (max_num_seqs, max_num_batched_tokens, chunked prefill).
    assert len(CHECKS) == 16
    assert not any(p.fit for p in CHECKS)
    assert {p.system for p in CHECKS} == {"mi325x-platform"}
    for p in CHECKS:
        assert p.source.startswith("MLPerf Inference v5.1 closed"), p.id
        assert p.tolerance == 0.20, p.id  # as the MI300X points
        assert p.spec.precision == "fp8" and p.spec.kv_precision == "fp8", p.id
        engine = p.spec.engine
        assert engine is not None and engine.layout is not None and engine.layout.tp == 1, p.id
        interactive = p.id.endswith("-interactive")
        expected = (3840, 43008) if interactive else None
        if expected:
            assert (engine.max_sequences_per_accelerator, engine.max_num_tokens) == expected
            assert p.spec.chunked_context is not False, p.id  # vLLM V1, chunked prefill on
        else:
            assert p.spec.chunked_context is False, p.id
    table = {r.point: r for r in rows(CATALOG) if r.family == "mi325x-checks"}
    assert set(table) == {p.id for p in CHECKS}
    misses = {p.id for p in CHECKS if p.known_miss}
    # The six known misses are Offline/Server runs 20.4-21.5% under the measured; every
    # Interactive run is within 4%.
    assert misses == {
        "mlperf51-mi325x-llama2-70b-offline",
        "mlperf51-mi325x-llama2-70b-server",
        "mlperf51-mi325x-2-llama2-70b-offline",
        "mlperf51-mi325x-gigabyte-llama2-70b-offline",
        "mlperf51-mi325x-gigabyte-llama2-70b-server",
        "mlperf51-mi325x-mitac-llama2-70b-server",
    }
    for pid in misses:
        r = table[pid]
        assert -0.22 < r.planner / r.published - 1 < -0.20, pid
        text = BY_ID[pid].known_miss or ""
        assert "setperfdeterminism" in text and "1,700/1,400" in text, pid
    for pid, r in table.items():
        if pid.endswith("-interactive"):
            assert abs(r.planner / r.published - 1) < 0.04, pid
    passing = [r for pid, r in table.items() if pid not in misses]
    assert len(passing) == 10 and mean_absolute_error(passing) <= 0.12


def test_mi325x_over_mi300x_the_planner_gains_1pct_the_runs_their_clock_ratio() -> None:
    # Both parts' Offline and Server steps are compute-bound on the same peak and the same fitted
    # 0.33, so the planner's MI325X/MI300X ratio is ~1.0 (more KV room and bandwidth barely
    # matter there). The measured ratio follows the clocks the runs pin (power_settings.sh,
    # rocm-smi --setperfdeterminism): Offline 1,700 vs 1,400 MHz, Server 1,600 vs 1,300.
    pairs = {
        "offline": ("mlperf51-mi325x-llama2-70b-offline", "mlperf51-mi300x-llama2-70b-offline"),
        "server": ("mlperf51-mi325x-llama2-70b-server", "mlperf51-mi300x-llama2-70b-server"),
    }
    clocks = {"offline": 1700 / 1400, "server": 1600 / 1300}
    for scenario, (new, old) in pairs.items():
        measured = BY_ID[new].published / BY_ID[old].published
        planner = point_value(BY_ID[new], CATALOG) / point_value(BY_ID[old], CATALOG)
        assert 1.0 < planner < 1.02, scenario
        assert measured == pytest.approx({"offline": 1.2416, "server": 1.3022}[scenario], abs=1e-3)
        # within 6% of the clock ratio; 22-29% from the planner's
        assert abs(measured / clocks[scenario] - 1) < 0.06, scenario
        assert measured / planner > 1.2, scenario


def test_mi325x_at_the_run_clocks_lands_within_5pct_but_not_adopted(tmp_path: Path) -> None:
    # The known_miss texts' what-if: compute_utilisation.fp8 scaled by the runs' clock ratio,
    # 0.33 x 1,700/1,400 = 0.4007 (Offline) and 0.33 x 1,600/1,300 = 0.4062 (Server), puts AMD's
    # runs at -4.7% / -2.8%, but AMD's Interactive run (within band at 0.33) at +26.1%: one
    # figure would not hold all three, and the brief takes mi300x's figures unchanged.
    def at(u: float, pid: str) -> float:
        overlay = tmp_path / f"u{u}.yaml"
        overlay.write_text(
            "accelerators:\n  mi325x:\n    serving:\n"
            f"      compute_utilisation: {{bf16: 0.5, fp16: 0.5, fp8: {u}}}\n"
        )
        clear_physics_caches()
        return point_value(BY_ID[pid], load_catalog([overlay])) / BY_ID[pid].published - 1

    try:
        off, srv, inter = (
            "mlperf51-mi325x-llama2-70b-offline",
            "mlperf51-mi325x-llama2-70b-server",
            "mlperf51-mi325x-llama2-70b-interactive",
        )
        assert round(0.33 * 1700 / 1400, 4) == 0.4007 and round(0.33 * 1600 / 1300, 4) == 0.4062
        assert at(0.4007, off) == pytest.approx(-0.047, abs=0.003)
        assert at(0.4062, srv) == pytest.approx(-0.028, abs=0.003)
        assert at(0.4007, inter) == pytest.approx(0.261, abs=0.005)
    finally:
        clear_physics_caches()


def test_mi325x_interactive_run_operating_point_by_littles_law() -> None:
    # AMD's Interactive log: 61.24 samples/s, mean latency 10.670 s, mean TTFT 0.118 s:
    # 61.24 / 8 x (10.670 - 0.118) = 80.8 sequences in decode a GPU at a mean TPOT of 35.3 ms;
    # 80.8 / 35.27 ms = 2,291 tok/s a GPU, the log's 18,407 / 8 = 2,301 within 0.5%.
    in_flight = 61.24 / 8 * (10.670346921 - 0.117895427)
    assert in_flight == pytest.approx(80.78, abs=0.01)
    assert in_flight / 35.266243e-3 == pytest.approx(18407.20 / 8, rel=0.005)


def test_kv_capacity_mi300x_vs_mi325x_by_hand() -> None:
    # Llama 2 70B, FP8 weights and KV, one GPU an engine (TP1, both parts' AMD configs), the
    # MLPerf lengths 222 in + 301 out. Per GPU: usable = HBM - runtime_reserve (8 GB); free =
    # usable - 69e9 B of FP8 weights; KV a token = 2 (K, V) x 80 layers x 8 KV heads x 128 head
    # dim x 1 B = 163,840 B; a sequence holds 523 tokens = 85.69 MB.
    #   MI300X: (192 - 8 - 69) GB / 85.69 MB = 1,342.1 sequences
    #   MI325X: (256 - 8 - 69) GB / 85.69 MB = 2,089.0 sequences (1.56x: 64 GB more on 115 free)
    arch = CATALOG.models["llama-2-70b"]
    kv_token = 2 * arch.layers * arch.kv_heads * (arch.hidden // arch.heads) * 1
    assert kv_token == 163_840
    per_seq = (222 + 301) * kv_token
    by_hand = {
        "mi300x-platform": (192e9 - 8e9 - 69e9) / per_seq,
        "mi325x-platform": (256e9 - 8e9 - 69e9) / per_seq,
    }
    assert by_hand["mi300x-platform"] == pytest.approx(1342.07, abs=0.01)
    assert by_hand["mi325x-platform"] == pytest.approx(2088.97, abs=0.01)
    point = BY_ID["mlperf51-mi325x-llama2-70b-offline"]
    got = {}
    for system, batch in by_hand.items():
        est = estimate_inference(point.spec, CATALOG, system, max_units_per_instance=1)
        assert est.max_batch_hbm == pytest.approx(batch, rel=1e-9), system
        got[system] = est
    # On the MI325X config's engine cap (2,700) the MI325X is KV-bound at 2,088 and the MI300X
    # at 1,342; both steps are compute-bound, so 1.56x the batch is 1.01x the tokens a GPU.
    assert got["mi325x-platform"].max_batch == 2088
    assert got["mi300x-platform"].max_batch == 1342
    ratio = (
        got["mi325x-platform"].output_tokens_per_s_per_accelerator
        / got["mi300x-platform"].output_tokens_per_s_per_accelerator
    )
    assert 1.0 < ratio < 1.02
