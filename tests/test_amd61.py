"""MLPerf Inference v6.1 AMD runs (planner/calibration/serving.yaml, family amd61-checks) and the
AMD Instinct MI350X catalog entry (mi350x, mi350x-platform): the rows' arithmetic from
summary.json, the MI350X figures (MI355X's peaks at the lower clock, every efficiency figure
mi355x's and saying so), the out-of-sample outcome with its strict known misses, what a refit of
the MI355X FP4 rate on the v6.1 runs would give (not adopted), the FP8 KV cache of the v6.1
gpt-oss-120b runs, and the MI350X's measured vs modelled rate against MI355X."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest
from sibling_parts import assert_takes_siblings_figures

from hardware.catalog import load_catalog
from planner.calibration import mean_absolute_error
from planner.calibration.serving import point_value, points, predict, rows
from planner.demand.common import serving_limits
from planner.demand.inference import clear_physics_caches

CATALOG = load_catalog()
POINTS = points()
CHECKS = [p for p in POINTS if p.family == "amd61-checks"]
BY_ID = {p.id: p for p in POINTS}


def test_mi350x_figures_are_mi355xs_peaks_at_its_clock() -> None:
    # Same CDNA 4 package (256 CUs, 288 GB HBM3E at 8 TB/s, seven 153.6 GB/s Infinity Fabric
    # links); peak engine clock 2.2 GHz against MI355X's 2.4 and 1,000 W against 1,400 W: every
    # dense peak is MI355X's x 2.2/2.4, by hand to the 0.1 TFLOPS the yaml carries.
    mi350x = CATALOG.accelerators["mi350x"]
    mi355x = CATALOG.accelerators["mi355x"]
    assert mi350x.vendor == "AMD"
    by_hand = {"bf16": 2516.6, "fp16": 2516.6, "fp8": 5033.2, "fp4": 10066.3}
    for precision, peak in by_hand.items():
        assert mi355x.peak_flops[precision] == pytest.approx(peak * 1e12)
        assert mi350x.peak_flops[precision] == pytest.approx(peak * 2.2 / 2.4 * 1e12, abs=0.06e12)
    assert mi350x.peak_flops["fp4"] == pytest.approx(9227.4e12)  # 18.45 PF sparse / 2, rounded
    assert mi350x.hbm_bytes == mi355x.hbm_bytes == 288e9
    assert mi350x.hbm_bandwidth_bytes_per_s == mi355x.hbm_bandwidth_bytes_per_s == 8e12
    assert mi350x.scale_up_bandwidth_bytes_per_s == pytest.approx(7 * 153.6e9)
    assert mi350x.power_w == 1000 and mi355x.power_w == 1400
    platform = CATALOG.systems["mi350x-platform"]
    assert platform.accelerator == "mi350x"
    assert platform.accelerators == platform.scale_up_domain == 8
    assert platform.cpu == "epyc-9575f" and platform.cpus == 2  # AMD's v6.1 MI350X system
    # 8 x 1,000 W + 4.5 kW of host and fans (as mi325x-platform, the other 1,000 W OAM platform)
    assert platform.power_w == 8 * 1000 + 4500
    assert platform.power_w - 8 * 1000 == CATALOG.systems["mi325x-platform"].power_w - 8 * 1000
    # priced below the liquid-cooled MI355X platform
    mi355x_platform = CATALOG.systems["mi355x-platform"]
    assert platform.capex_usd == 300_000 < mi355x_platform.capex_usd
    # on demand: mi355x-platform's rate x the MI350X's measured share of the MI355X's throughput
    # on MiTAC's servers (v6.1 Offline/Server, summary.json keys 267-274 against 275-282), by
    # hand from the transcribed table; contracts at H100's 34% / 25% ratios, spot at half
    table = Path(__file__).resolve().parent.parent / "bench/data/mlperf_inference_v6.1_llm.csv"
    with table.open() as f:
        v61 = {r["key"]: r for r in csv.DictReader(f)}
    shares = []
    for key in range(267, 275):
        mi350x_row, mi355x_row = v61[str(key)], v61[str(key + 8)]
        assert "MI350X" in mi350x_row["accelerator_model_name"]
        assert "MI355X" in mi355x_row["accelerator_model_name"]
        assert mi350x_row["Model"] == mi355x_row["Model"]
        if mi350x_row["Scenario"] in ("Offline", "Server"):
            shares.append(float(mi350x_row["Result"]) / float(mi355x_row["Result"]))
    assert len(shares) == 6 and min(shares) > 0.80 and max(shares) < 0.83
    by_hand = mi355x_platform.rental_usd_per_hour * sum(shares) / len(shares)  # 57 x 0.810
    assert platform.rental_usd_per_hour == pytest.approx(by_hand, abs=0.5) == 46.0
    assert [c.usd_per_hour for c in platform.contracts] == pytest.approx(
        [46 * 0.34, 46 * 0.25], abs=0.05
    )
    assert platform.spot_usd_per_hour == pytest.approx(46 / 2)
    assert platform.available_from == mi355x_platform.available_from
    for figure in ("capex_usd", "rental_usd_per_hour", "power", "lead_time", "host_memory"):
        assert platform.source_of(figure).startswith("estimate"), figure


def test_mi350x_efficiency_figures_are_mi355xs_and_say_so() -> None:
    mi350x = CATALOG.accelerators["mi350x"]
    mi355x = CATALOG.accelerators["mi355x"]
    tag = "taken equal to mi355x's (same CDNA 4 die"
    assert_takes_siblings_figures(mi350x, mi355x, tag, ("bf16", "fp16", "fp8", "fp4"))
    # The fitted FP4 rate names where it was fitted (AMD's v6.0 MI355X runs) and is no estimate.
    fp4 = mi350x.source_of("serving.compute_utilisation.fp4")
    assert "mlperf6-mi355x-llama2-70b-offline" in fp4 and "estimate" not in fp4.lower()
    # every range, not only the efficiency ones, is mi355x's, but the MI350X's own sustained
    # clock (mi355x has none: 1, its figures fitted on its own runs)
    assert mi350x.ranges is not None and mi355x.ranges is not None
    for key, rng in mi350x.ranges.items():
        if key == "sustained_clock_fraction":
            continue
        other = mi355x.ranges[key]
        assert (rng.low, rng.high) == (other.low, other.high), key


def test_mi350x_calibration_limit_is_its_own_and_plans_state_it() -> None:
    limit = CATALOG.accelerators["mi350x"].serving.calibration_limit
    assert limit and limit != CATALOG.accelerators["mi355x"].serving.calibration_limit
    assert "amd61-checks" in limit and "0.76-0.82" in limit
    stated = serving_limits(CATALOG, ["mi350x-platform", "hgx-h100"])
    texts = {names: text for text, names in stated}
    assert texts[("mi350x-platform",)].endswith(limit)


# Each point's summary.json row (mlcommons/inference_results_v6.1 @10ecdffd): key, Result
# (tokens/s of the whole system), accelerators, and Llama 2 70B's TOKENS_PER_SAMPLE.
ROWS: dict[str, tuple[int, float, int, float | None]] = {
    "mlperf61-mi355x-gptoss-offline": (6, 121818.0, 8, None),
    "mlperf61-mi355x-gptoss-server": (7, 113241.0, 8, None),
    "mlperf61-mi355x-llama2-70b-interactive": (8, 73191.5, 8, 284.1),
    "mlperf61-mi355x-llama2-70b-offline": (9, 106517.0, 8, 283.2),
    "mlperf61-mi355x-llama2-70b-server": (10, 103275.0, 8, 284.2),
    "mlperf61-mi355x-9x8-gptoss-offline": (13, 1039900.0, 72, None),
    "mlperf61-mi355x-9x8-gptoss-server": (14, 964468.0, 72, None),
    "mlperf61-mi355x-dell-gptoss-offline": (141, 117804.0, 8, None),
    "mlperf61-mi355x-dell-gptoss-server": (142, 110188.0, 8, None),
    "mlperf61-mi355x-dell-llama2-70b-interactive": (143, 73238.1, 8, 284.4),
    "mlperf61-mi355x-dell-llama2-70b-offline": (144, 103792.0, 8, 284.4),
    "mlperf61-mi355x-dell-llama2-70b-server": (145, 103932.0, 8, 284.0),
    "mlperf61-mi355x-dell-llama31-8b-interactive": (146, 130540.0, 8, None),
    "mlperf61-mi355x-dell-llama31-8b-offline": (147, 158458.0, 8, None),
    "mlperf61-mi355x-dell-llama31-8b-server": (148, 148563.0, 8, None),
    "mlperf61-mi355x-hpe-gptoss-offline": (218, 117355.0, 8, None),
    "mlperf61-mi355x-hpe-gptoss-server": (219, 108836.0, 8, None),
    "mlperf61-mi355x-hpe-llama2-70b-interactive": (220, 72977.2, 8, 284.1),
    "mlperf61-mi355x-hpe-llama2-70b-offline": (221, 102991.0, 8, 284.2),
    "mlperf61-mi355x-hpe-llama2-70b-server": (222, 101979.0, 8, 284.1),
    "mlperf61-mi355x-hpe-llama31-8b-interactive": (223, 130613.0, 8, None),
    "mlperf61-mi355x-hpe-llama31-8b-offline": (224, 157694.0, 8, None),
    "mlperf61-mi355x-hpe-llama31-8b-server": (225, 148118.0, 8, None),
    "mlperf61-mi350x-mitac-gptoss-offline": (267, 97019.7, 8, None),
    "mlperf61-mi350x-mitac-gptoss-server": (268, 87549.5, 8, None),
    "mlperf61-mi350x-mitac-llama2-70b-interactive": (269, 56673.0, 8, 284.9),
    "mlperf61-mi350x-mitac-llama2-70b-offline": (270, 84016.4, 8, 283.0),
    "mlperf61-mi350x-mitac-llama2-70b-server": (271, 85004.8, 8, 284.5),
    "mlperf61-mi350x-mitac-llama31-8b-interactive": (272, 104368.0, 8, None),
    "mlperf61-mi350x-mitac-llama31-8b-offline": (273, 129943.0, 8, None),
    "mlperf61-mi350x-mitac-llama31-8b-server": (274, 121706.0, 8, None),
    "mlperf61-mi355x-mitac-gptoss-offline": (275, 118042.0, 8, None),
    "mlperf61-mi355x-mitac-gptoss-server": (276, 108861.0, 8, None),
    "mlperf61-mi355x-mitac-llama2-70b-interactive": (277, 74385.6, 8, 284.1),
    "mlperf61-mi355x-mitac-llama2-70b-offline": (278, 104904.0, 8, 284.3),
    "mlperf61-mi355x-mitac-llama2-70b-server": (279, 104541.0, 8, 284.0),
    "mlperf61-mi355x-mitac-llama31-8b-interactive": (280, 136999.0, 8, None),
    "mlperf61-mi355x-mitac-llama31-8b-offline": (281, 159278.0, 8, None),
    "mlperf61-mi355x-mitac-llama31-8b-server": (282, 151116.0, 8, None),
    "mlperf61-mi355x-oracle-gptoss-offline": (357, 115567.0, 8, None),
    "mlperf61-mi355x-oracle-gptoss-server": (358, 109083.0, 8, None),
    "mlperf61-mi355x-oracle-llama2-70b-interactive": (359, 70421.7, 8, 284.1),
    "mlperf61-mi355x-oracle-llama2-70b-offline": (360, 101553.0, 8, 284.5),
    "mlperf61-mi355x-oracle-llama2-70b-server": (361, 100392.0, 8, 284.1),
    "mlperf61-mi355x-oracle-llama31-8b-interactive": (362, 130625.0, 8, None),
    "mlperf61-mi355x-oracle-llama31-8b-offline": (363, 144321.0, 8, None),
    "mlperf61-mi355x-oracle-llama31-8b-server": (364, 148594.0, 8, None),
    "mlperf61-mi355x-supermicro-gptoss-offline": (437, 117005.0, 8, None),
    "mlperf61-mi355x-supermicro-gptoss-server": (438, 109184.0, 8, None),
    "mlperf61-mi355x-supermicro-llama2-70b-interactive": (439, 73181.5, 8, 284.1),
    "mlperf61-mi355x-supermicro-llama2-70b-offline": (440, 102243.0, 8, 284.3),
    "mlperf61-mi355x-supermicro-llama2-70b-server": (441, 103032.0, 8, 284.0),
    "mlperf61-mi355x-supermicro-llama31-8b-offline": (442, 159060.0, 8, None),
    "mlperf61-mi355x-supermicro-llama31-8b-server": (443, 148710.0, 8, None),
}


def test_amd61_published_is_the_rows_result_over_its_gpus() -> None:
    # published = Result / accelerators (to the yaml's 0.1); Llama 2 70B's output tokens =
    # TOKENS_PER_SAMPLE rounded; each source names its summary.json key.
    assert set(ROWS) == {p.id for p in CHECKS}
    for pid, (key, result, gpus, tokens_per_sample) in ROWS.items():
        p = BY_ID[pid]
        assert p.published == pytest.approx(result / gpus, abs=0.051), pid
        assert f"summary.json key {key}," in p.source, pid
        assert p.source.startswith("MLPerf Inference v6.1 closed"), pid
        if tokens_per_sample is not None:
            assert p.spec.output_tokens == round(tokens_per_sample), pid
            assert p.spec.prompt_tokens == 222, pid
        elif "gptoss" in pid:
            assert p.spec.output_tokens == (1373 if pid.endswith("offline") else 1372), pid
            assert p.spec.prompt_tokens == 5011, pid
        else:
            assert p.spec.output_tokens == (128 if pid.endswith("offline") else 129), pid
            assert p.spec.prompt_tokens == 871, pid


def _err(pid: str) -> float:
    return point_value(BY_ID[pid], CATALOG) / BY_ID[pid].published - 1


def test_amd61_checks_are_out_of_sample_with_strict_misses() -> None:
    assert len(CHECKS) == 54 and not any(p.fit for p in CHECKS)
    assert {p.system for p in CHECKS} == {"mi355x-platform", "mi350x-platform"}
    for p in CHECKS:
        expected = 0.15 if "gptoss-offline" in p.id else 0.30 if "gptoss" in p.id else 0.20
        assert p.tolerance == expected, p.id
        assert p.spec.precision == "fp4" and p.spec.kv_precision == "fp8", p.id
        engine = p.spec.engine
        assert engine is not None and engine.layout is not None and engine.layout.tp == 1, p.id
    table = {r.point: r for r in rows(CATALOG) if r.family == "amd61-checks"}
    assert set(table) == {p.id for p in CHECKS}
    misses = {p.id for p in CHECKS if p.known_miss}
    eight_b = {p.id for p in CHECKS if "llama31-8b" in p.id}
    assert len(eight_b) == 17
    assert misses == eight_b | {
        "mlperf61-mi350x-mitac-gptoss-offline",
        "mlperf61-mi350x-mitac-llama2-70b-interactive",
        "mlperf61-mi355x-oracle-llama2-70b-interactive",
    }
    # Every Llama 3.1 8B run is over-predicted (+20 to +50%), as on Blackwell.
    for pid in eight_b:
        err = table[pid].planner / table[pid].published - 1
        assert 0.20 < err < 0.50, pid
        assert "Llama 3.1 8B over-prediction" in (BY_ID[pid].known_miss or ""), pid
    # MI355X Llama 2 70B Offline / Server: within 5% for every submitter, the same sign as the
    # v6.0 fit points; MI355X gpt-oss-120b within 11%.
    for pid, r in table.items():
        err = r.planner / r.published - 1
        if "mi355x" in pid and "llama2-70b" in pid and not pid.endswith("interactive"):
            assert -0.05 < err < 0.01, pid
        if "mi355x" in pid and "gptoss" in pid:
            assert -0.01 < err < 0.11, pid
    passing = [r for pid, r in table.items() if pid not in misses]
    assert len(passing) == 34 and mean_absolute_error(passing) <= 0.08


def test_mi355x_v61_twins_moved_three_percent_and_the_fit_holds() -> None:
    # v6.0 -> v6.1 on AMD's own system (the same harness and settings): Llama 2 70B +2.9% /
    # +3.0% / -0.6% (Offline / Server / Interactive) and the planner, unchanged, moves from
    # -1.3 / -0.4 / +17.2% to -4.1 / -3.2 / +18.0%.
    pairs = {
        "offline": (106517.0 / 103480, -0.041),
        "server": (103275.0 / 100282.36, -0.032),
        "interactive": (73191.5 / 73608.25, 0.180),
    }
    for scenario, (moved, err61) in pairs.items():
        assert abs(moved - 1) < 0.031, scenario
        assert _err(f"mlperf61-mi355x-llama2-70b-{scenario}") == pytest.approx(err61, abs=0.002)


def test_a_v61_refit_of_the_mi355x_fp4_rate_is_not_adopted(tmp_path: Path) -> None:
    # The grid the amd-serving fit uses (0.01 steps), on AMD's v6.1 Offline and Server runs:
    # the minimum is 0.38 (+0.4 / +1.6%), which would take the v6.0 fit points from -1.3 /
    # -0.4% to +3.4 / +4.5% and AMD's v6.0 and v6.1 Interactive checks to +23.4 / +24.3%
    # (out of band): v6.1 sits within band at 0.36 (-4.1 / -3.2%), so the fit stays.
    v61 = ("mlperf61-mi355x-llama2-70b-offline", "mlperf61-mi355x-llama2-70b-server")
    v60 = ("mlperf6-mi355x-llama2-70b-offline", "mlperf6-mi355x-llama2-70b-server")
    inter = ("mlperf6-mi355x-llama2-70b-interactive", "mlperf61-mi355x-llama2-70b-interactive")

    def errs(u: float, ids: tuple[str, ...]) -> list[float]:
        overlay = tmp_path / f"u{u:.2f}.yaml"
        overlay.write_text(
            f"accelerators:\n  mi355x:\n    serving:\n      compute_utilisation: {{fp4: {u:.2f}}}\n"
        )
        clear_physics_caches()
        cat = load_catalog([overlay])
        return [point_value(BY_ID[i], cat) / BY_ID[i].published - 1 for i in ids]

    try:
        grid = [0.35, 0.36, 0.37, 0.38, 0.39, 0.40]
        mae = {u: sum(abs(e) for e in errs(u, v61)) / 2 for u in grid}
        best = min(grid, key=mae.__getitem__)
        assert best == 0.38 and mae[0.38] == pytest.approx(0.010, abs=0.001)
        assert errs(0.38, v60) == pytest.approx([0.034, 0.045], abs=0.002)
        assert errs(0.38, inter) == pytest.approx([0.234, 0.243], abs=0.003)
        assert CATALOG.accelerators["mi355x"].serving.compute_utilisation["fp4"] == 0.36
    finally:
        clear_physics_caches()


def test_v61_gptoss_fp8_kv_doubles_the_hbm_batch() -> None:
    # AMD's v6.1 gpt-oss-120b checkpoint carries an FP8 KV cache (closed/AMD/src/gpt-oss-120b/
    # README.md); v6.0 ran BF16 KV. Half the KV bytes a token, twice the sequences the HBM holds
    # (the weights are the same): the batch is the HBM's in both, and the planner's rate follows
    # the measured +28% / +38% of the release.
    point = BY_ID["mlperf61-mi355x-gptoss-offline"]
    fp8 = predict(point, CATALOG)
    bf16_spec = point.spec.model_copy(update={"kv_precision": "bf16"})
    bf16 = predict(dataclasses.replace(point, spec=bf16_spec), CATALOG)
    assert fp8.kv_bytes_per_token * 2 == pytest.approx(bf16.kv_bytes_per_token)
    assert fp8.max_batch_hbm == pytest.approx(2 * bf16.max_batch_hbm, rel=1e-9)
    assert (fp8.max_batch, bf16.max_batch) == (1788, 894)
    release = BY_ID["mlperf61-mi355x-gptoss-offline"].published * 8 / 95004  # v6.1 / v6.0 AMD
    assert release == pytest.approx(1.282, abs=0.001)
    assert _err("mlperf61-mi355x-gptoss-offline") == pytest.approx(0.048, abs=0.002)
    assert _err("mlperf6-mi355x-gptoss-offline") == pytest.approx(-0.037, abs=0.002)


# AMD's measured power-limited GEMM clocks of the CDNA 3 die at two board powers (ROCm blog
# "Measuring Max-Achievable FLOPs - Part 2", Table 1: lowest-XCD median MHz under a large
# hipBLASLt GEMM), MI300X at 750 W and MI325X at 1,000 W, both 2,100 MHz peak.
MAF_CLOCKS_MHZ = {"fp16": (1115, 1354), "bf16": (1207, 1447), "fp8": (1230, 1464)}


def test_mi350x_sustained_clock_is_derived_from_amds_gemm_clocks() -> None:
    # clock = c x board power^k, k from the CDNA 3 pair; the MI350X / MI355X sustained-clock
    # ratio (1,000/1,400)^k over the spec peaks' 2.2/2.4: nothing taken from an MI350X run.
    import math

    assert CATALOG.accelerators["mi300x"].power_w == 750
    assert CATALOG.accelerators["mi325x"].power_w == 1000
    mi350x = CATALOG.accelerators["mi350x"]
    mi355x = CATALOG.accelerators["mi355x"]
    power = mi350x.power_w / mi355x.power_w  # 1,000 / 1,400
    peak = mi350x.peak_flops["fp4"] / mi355x.peak_flops["fp4"]
    assert peak == pytest.approx(2.2 / 2.4, rel=1e-4)
    per_precision = {}
    for p, (low_w, high_w) in MAF_CLOCKS_MHZ.items():
        k = math.log(low_w / high_w) / math.log(750 / 1000)
        per_precision[p] = power**k / (2.2 / 2.4)
    assert per_precision == pytest.approx({"fp16": 0.869, "bf16": 0.882, "fp8": 0.890}, abs=5e-4)
    mean_ratio = math.prod(a / b for a, b in MAF_CLOCKS_MHZ.values()) ** (1 / 3)
    k = math.log(mean_ratio) / math.log(0.75)
    assert k == pytest.approx(0.637, abs=5e-4)
    assert power**k == pytest.approx(0.807, abs=5e-4)  # the MI350X's share of MI355X's clock
    assert mi350x.sustained_clock_fraction == pytest.approx(power**k / peak, abs=5e-4)
    assert mi350x.sustained_clock_fraction == 0.880
    low, _, high = mi350x.range_of("sustained_clock_fraction")
    assert (low, high) == (
        round(min(per_precision.values()), 3),
        round(max(per_precision.values()), 3),
    )
    source = mi350x.source_of("sustained_clock_fraction")
    assert source.startswith("derived, not fitted") and "measuring-max-achievable-flops" in source
    # every other part keeps 1: their figures are fitted on their own runs, or (mi325x) taken
    # from a sibling whose MLPerf runs pin the clock per scenario
    others = {n: a.sustained_clock_fraction for n, a in CATALOG.accelerators.items()}
    assert others.pop("mi350x") == 0.880 and set(others.values()) == {None}
    assert {a.clock_fraction for n, a in CATALOG.accelerators.items() if n != "mi350x"} == {1.0}


def test_mi350x_sustained_clock_scales_compute_only() -> None:
    # serving: the large-GEMM rate is peak x 0.880 x compute_utilisation, by hand
    from planner.demand.common import hardware
    from planner.demand.serving_physics import compute_rate

    hw = hardware(CATALOG, "mi350x-platform")
    assert hw is not None
    assert compute_rate(hw, "fp4") == pytest.approx(9227.4e12 * 0.880 * 0.36)
    # a step on MiTAC's MI355X Llama 2 70B Offline point moved to the MI350X: the compute term
    # (2.4/2.2) / 0.880 = 1.2397x MI355X's, the memory term and the batch unchanged
    point = BY_ID["mlperf61-mi355x-mitac-llama2-70b-offline"]
    on_355 = predict(point, CATALOG)
    on_350 = predict(dataclasses.replace(point, system="mi350x-platform"), CATALOG)
    assert on_350.max_batch == on_355.max_batch
    ratio = on_350.step_terms_s["compute"] / on_355.step_terms_s["compute"]
    assert ratio == pytest.approx(10066.3 / 9227.4 / 0.880, rel=1e-3)
    assert ratio == pytest.approx(2.4 / 2.2 / 0.880, rel=1e-3)
    assert on_350.step_terms_s["memory"] == pytest.approx(on_355.step_terms_s["memory"])
    assert on_350.step_terms_s["overhead"] == on_355.step_terms_s["overhead"]


def test_mi350x_runs_slower_than_its_peaks_say() -> None:
    # MiTAC ran both parts in v6.1: the MI350X measures 0.76-0.82 of the MI355X in every
    # benchmark and scenario. With the sustained clock the planner's ratio is 0.81-0.85 on the
    # compute-heavy Llama steps (0.92-0.98 on the peak clock alone); gpt-oss-120b's step is
    # memory- and MoE-bound (weights and KV 40 ms, routed tokens 36, GEMMs 14 of an 85 ms
    # Offline step) and stays at 0.94: the MI350X is slower there than a compute clock explains.
    for bench in ("llama2-70b", "gptoss", "llama31-8b"):
        for scenario in ("offline", "server", "interactive"):
            a = f"mlperf61-mi350x-mitac-{bench}-{scenario}"
            b = f"mlperf61-mi355x-mitac-{bench}-{scenario}"
            if a not in BY_ID:
                continue
            measured = BY_ID[a].published / BY_ID[b].published
            planner = point_value(BY_ID[a], CATALOG) / point_value(BY_ID[b], CATALOG)
            assert 0.76 <= measured <= 0.83, a
            if bench == "gptoss":
                assert 0.93 <= planner <= 0.95, a
            else:
                assert 0.81 <= planner <= 0.85, a


def test_a_user_overlay_sets_the_sustained_clock(tmp_path: Path) -> None:
    # A user's catalog file may set the figure on any part: it scales the serving GEMM rate and
    # the training compute terms, not the memory term (h100-sxm, by hand from its figures).
    from planner.demand.common import hardware
    from planner.demand.serving_physics import compute_rate
    from planner.demand.training import train_figures

    overlay = tmp_path / "clock.yaml"
    overlay.write_text("accelerators:\n  h100-sxm:\n    sustained_clock_fraction: 0.9\n")
    clear_physics_caches()
    shipped = hardware(CATALOG, "hgx-h100")
    slowed = hardware(load_catalog([overlay]), "hgx-h100")
    assert shipped is not None and slowed is not None
    h100 = CATALOG.accelerators["h100-sxm"]
    assert h100.sustained_clock_fraction is None and h100.clock_fraction == 1.0
    util = h100.serving.compute_utilisation["fp8"]
    assert compute_rate(shipped, "fp8") == pytest.approx(h100.peak_flops["fp8"] * util)
    assert compute_rate(slowed, "fp8") == pytest.approx(h100.peak_flops["fp8"] * 0.9 * util)
    a, b = train_figures(shipped, "bf16"), train_figures(slowed, "bf16")
    assert a is not None and b is not None
    assert (a.sustained_clock_fraction, b.sustained_clock_fraction) == (1.0, 0.9)
    assert a.peak_flops == b.peak_flops == h100.peak_flops["bf16"]  # MFU stays on the spec peak
    assert a.hbm_bytes_per_s == b.hbm_bytes_per_s
    clear_physics_caches()


def test_the_docs_put_mfu_on_the_spec_peak_and_the_compute_terms_on_the_sustained_one() -> None:
    # planner/demand/training.py: mfu = model FLOPs x tokens/s / (G x peak_flops), the spec peak;
    # the compute terms run at peak_flops x sustained_clock_fraction, which the docs call peak(p).
    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "models.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| MFU (output) |"))
    assert "(G · peak_flops[p])" in row and "peak(p)" not in row
    notation = text[text.index("Notation:") : text.index("`hbm` = HBM bytes")]
    assert "peak_flops[p] · sustained_clock_fraction" in notation
    doc = (root / "planner" / "demand" / "training.py").read_text(encoding="utf-8")
    assert "(G · peak_flops[p])" in doc and "(G · peak(p))" not in doc


def test_the_prefill_rate_says_its_sustained_clock() -> None:
    # A separate prefill pool's rate (and an RL reward / judge pass: planner/demand/rl.py) runs
    # at peak x sustained_clock_fraction x compute_utilisation: its derivation says so, as the
    # decode estimate's 'compute =' line does; a part at 1 says nothing of it.
    from planner.demand.common import hardware
    from planner.demand.inference import prefill_rate

    arch = CATALOG.models["llama-3.1-8b"]
    clear_physics_caches()
    on_350 = prefill_rate(arch, hardware(CATALOG, "mi350x-platform"), "fp8", "fp8", 2000, 1000)
    on_355 = prefill_rate(arch, hardware(CATALOG, "mi355x-platform"), "fp8", "fp8", 2000, 1000)
    assert "0.28 x peak x sustained clock 0.88" in on_350.reason, on_350.reason
    assert "sustained clock" not in on_355.reason
    # the rates themselves: the compute-bound prefill at 2.2/2.4 x 0.880 of the MI355X's, or a
    # little more (the per-token link time does not scale)
    ratio = on_350.per_unit_s / on_355.per_unit_s
    assert 2.2 / 2.4 * 0.880 <= ratio < 2.2 / 2.4 * 0.880 * 1.02
    clear_physics_caches()


def test_the_training_derivation_says_its_sustained_clock(capsys) -> None:
    # `planner estimate pretrain` on the MI350X: the step's GEMM, output head and attention
    # times run at peak x 0.880 while its MFU is over the spec peak; the derivation says both
    # (as the serving estimate's 'compute =' line does); a part at 1 says nothing of it.
    import cli

    args = ["estimate", "pretrain", "--model", "llama-3.1-8b", "--tokens", "1T"]
    assert cli.main([*args, "--system", "mi350x-platform", "--precision", "fp8"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "compute terms (GEMM, output heads, attention) at peak x sustained clock 0.88" in out
    assert (
        "MFU 28.2% of 4,614 TFLOPS" in out
    )  # the spec peak: 9,227.4 / 2 (27.9% before s32 pergemm)
    assert cli.main([*args, "--system", "hgx-h100", "--precision", "fp8"]) == 0
    assert "sustained clock" not in capsys.readouterr().out
