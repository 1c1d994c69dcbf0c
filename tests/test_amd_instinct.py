"""AMD Instinct MI355X and MI300X in the catalog (hardware/data/accelerators.yaml, systems.yaml)
and their serving fits on MLPerf Inference runs (planner/calibration/serving.yaml, families
amd-serving and amd-checks)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_lp import inference, rl_workload, site, write_scenario

import planner
from hardware.catalog import estimates, load_catalog
from planner.calibration import mean_absolute_error
from planner.calibration.serving import point_value, points, rows
from planner.demand.common import estimated_systems
from planner.demand.inference import clear_physics_caches

CATALOG = load_catalog()
POINTS = points()


def test_amd_figures_load_in_si_units() -> None:
    # Datasheet figures, dense (no sparsity), in SI units; the Infinity Fabric rate a GPU is its
    # seven links to the other seven GPUs of the fully connected platform.
    mi355x = CATALOG.accelerators["mi355x"]
    assert mi355x.vendor == "AMD"
    assert mi355x.peak_flops == {
        "bf16": 2516.6e12,
        "fp16": 2516.6e12,
        "fp8": 5033.2e12,
        "fp4": 10066.3e12,  # MXFP4 (the planner's fp4): 4x BF16, 2x FP8
    }
    assert mi355x.hbm_bytes == 288e9
    assert mi355x.hbm_bandwidth_bytes_per_s == 8e12
    assert mi355x.scale_up_bandwidth_bytes_per_s == pytest.approx(7 * 153.6e9)
    assert mi355x.power_w == 1400
    mi300x = CATALOG.accelerators["mi300x"]
    assert mi300x.peak_flops == {"bf16": 1307.4e12, "fp16": 1307.4e12, "fp8": 2614.9e12}
    assert "fp4" not in mi300x.peak_flops  # CDNA 3 has no 4-bit matrix rate
    assert mi300x.hbm_bytes == 192e9
    assert mi300x.hbm_bandwidth_bytes_per_s == 5.3e12
    assert mi300x.scale_up_bandwidth_bytes_per_s == pytest.approx(7 * 128e9)
    assert mi300x.power_w == 750
    for name, acc in (("mi355x-platform", "mi355x"), ("mi300x-platform", "mi300x")):
        system = CATALOG.systems[name]
        assert system.accelerator == acc
        assert system.accelerators == system.scale_up_domain == 8  # one Infinity Fabric domain
        assert system.cpu == "epyc-9575f" and system.cpus == 2
        assert system.reliability is not None and system.reliability.failure_domain == 8
        assert len(system.contracts) == 2 and system.spot_usd_per_hour is not None
    assert CATALOG.cpus["epyc-9575f"].cores == 64


def test_every_amd_estimate_has_a_range() -> None:
    amd = [e for e in estimates(CATALOG) if e.entry.startswith(("mi3", "epyc-9575f"))]
    assert len(amd) > 40
    missing = [e.path for e in amd if e.low is None or e.high is None or not e.range_source]
    assert not missing, missing
    for e in amd:
        assert e.low is not None and e.high is not None
        assert e.low <= e.default <= e.high, e.path


# (accelerator, system, precision, the fitted value, its fit points' MAE there)
FITS = [
    ("mi355x", "mi355x-platform", "fp4", 0.36, 0.0088),
    ("mi300x", "mi300x-platform", "fp8", 0.33, 0.0229),
]


@pytest.mark.parametrize("acc,system,precision,value,mae", FITS, ids=[f[0] for f in FITS])
def test_amd_compute_utilisation_minimises_its_fit_points_mae(
    tmp_path: Path, acc: str, system: str, precision: str, value: float, mae: float
) -> None:
    # The catalog's MI355X FP4 and MI300X FP8 serving compute_utilisation are each fitted to
    # AMD's own MLPerf Offline and Server Llama 2 70B runs (marked `fit:`): the value on a 0.01
    # grid over 0.25-0.50 minimising their mean absolute error (catalog source of the figure).
    fitted = [
        p for p in POINTS if p.fit == f"compute_utilisation.{precision}" and p.system == system
    ]
    assert len(fitted) == 2
    assert {p.id.rsplit("-", 1)[1] for p in fitted} == {"offline", "server"}

    def fit_mae(u: float) -> float:
        overlay = tmp_path / f"{acc}-{u:.2f}.yaml"
        overlay.write_text(
            f"accelerators:\n  {acc}:\n    serving:\n"
            f"      compute_utilisation: {{{precision}: {u:.2f}}}\n"
        )
        clear_physics_caches()
        cat = load_catalog([overlay])
        return sum(abs(point_value(p, cat) / p.published - 1) for p in fitted) / len(fitted)

    grid = [i / 100 for i in range(25, 51)]
    maes = {u: fit_mae(u) for u in grid}
    clear_physics_caches()
    best = min(grid, key=maes.__getitem__)
    sv = CATALOG.accelerators[acc].serving
    assert sv is not None
    assert sv.compute_utilisation[precision] == best == value
    assert maes[best] == pytest.approx(mae, abs=0.001)
    # The source says it is fitted (not an estimate), and names its two points.
    source = CATALOG.accelerators[acc].source_of(f"serving.compute_utilisation.{precision}")
    assert "estimate" not in source.lower()
    assert all(p.id in source for p in fitted)


def test_amd_families_are_reported() -> None:
    # Fit points: AMD's own Offline and Server runs (2 per accelerator); every other AMD run is a
    # check (AMD's Interactive runs, Dell and HPE MI355X v6.0, Dell MI300X v5.1 and v6.0, AMD's MI355X
    # gpt-oss-120b Offline and Server: the MoE figures MI355X takes from the B200 fit).
    fit = [p for p in POINTS if p.family == "amd-serving"]
    checks = [p for p in POINTS if p.family == "amd-checks"]
    assert len(fit) == 4 and all(p.fit for p in fit)
    assert len(checks) == 15 and not any(p.fit for p in checks)
    table = rows(CATALOG)
    assert {r.point for r in table if r.family == "amd-serving"} == {p.id + " (fit)" for p in fit}
    assert mean_absolute_error([r for r in table if r.family == "amd-serving"]) <= 0.05
    passing = [r for r in table if r.family == "amd-checks" and not r.known_miss]
    assert len(passing) == 11 and mean_absolute_error(passing) <= 0.10
    assert all(
        p.source.startswith(("MLPerf Inference v6.0 closed", "MLPerf Inference v5.1 closed"))
        for p in fit + checks
    )


def test_estimated_amd_figures_are_named_by_the_plan_caveats() -> None:
    # estimated_systems reads the catalog's source texts: MI355X FP4 and MI300X FP8 serving are
    # fitted; MI355X FP8 and both BF16 are estimates, as is every AMD training gemm_efficiency.
    both = ["mi355x-platform", "mi300x-platform"]
    serving = {
        p: estimated_systems(CATALOG, both, "serving", "compute_utilisation", p)
        for p in ("fp4", "fp8", "bf16")
    }
    assert serving == {
        "fp4": (),
        "fp8": ("mi355x-platform",),
        "bf16": ("mi355x-platform", "mi300x-platform"),
    }
    for precision in ("bf16", "fp8"):
        assert estimated_systems(CATALOG, both, "training", "gemm_efficiency", precision) == tuple(
            both
        )


def test_a_plan_serving_on_an_estimated_amd_figure_says_so(tmp_path: Path) -> None:
    """An FP8 tier on the MI355X platform (compute_utilisation.fp8 an estimate) gets a Left out
    line naming the tier and the system; an FP4 tier there (fitted) does not. (The platform is
    dated, available_from 2025-10-01, so the scenario gives its start date.)"""

    def plan_at(precision: str) -> list[str]:
        path = write_scenario(
            tmp_path,
            {"a": site({"mi355x-platform": {"max_units": 8}})},
            {"chat": inference("1M", precision=precision)},
            name=f"mi355x-{precision}",
        )
        doc = yaml.safe_load(path.read_text())
        doc["economics"]["start_date"] = "2026-01-01"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return planner.solve(planner.load_scenario(path)).left_out

    fp8, fp4 = plan_at("fp8"), plan_at("fp4")
    lines = [x for x in fp8 if x.startswith("serving rates of")]
    assert len(lines) == 1 and "chat on mi355x-platform" in lines[0]
    assert not any(x.startswith("serving rates of") for x in fp4)
    # The catalog's serving calibration_limit of MI355X (fitted to AMD's MLPerf harness; public
    # recipes measured far lower) is stated whatever the precision, once, naming the tier.
    limit = CATALOG.accelerators["mi355x"].serving.calibration_limit
    assert limit and "InferenceX" in limit
    for left_out in (fp8, fp4):
        stated = [x for x in left_out if x.startswith("serving and generation rates of")]
        assert stated == [f"serving and generation rates of chat on mi355x-platform: {limit}"]


def test_rl_generation_on_amd_carries_the_calibration_limit(tmp_path: Path) -> None:
    """An RL run offered the MI300X platform and HGX H100 carries MI300X's serving
    calibration_limit as a caveat of its generate role on mi300x-platform only."""
    path = write_scenario(
        tmp_path,
        {"a": site({"mi300x-platform": {"max_units": 64}, "hgx-h100": {"max_units": 64}})},
        {"rl": rl_workload("llama-3.1-8b", "20K")},
        name="mi300x-rl",
    )
    (rl,) = planner.demands(planner.load_scenario(path))
    limit = CATALOG.accelerators["mi300x"].serving.calibration_limit
    stated = [c for c in rl.caveats if c.text.endswith(str(limit))]
    assert [(c.label, c.systems, c.role) for c in stated] == [
        ("rl", ("mi300x-platform",), "generate")
    ]


def test_the_mi355x_training_run_is_a_check_of_an_estimate() -> None:
    # MLPerf Training v5.1 AMD MI355X Llama 3.1 8B FP8 (8 GPUs): a check within its 15%, not a
    # fit; the MI355X training gemm_efficiency stays an estimate (the plans' caveat says so).
    from planner.calibration.training import rows as training_rows

    runs = yaml.safe_load(
        (Path(__file__).resolve().parent.parent / "planner/calibration/training.yaml").read_text()
    )["runs"]
    run = next(r for r in runs if r["id"] == "mlperf51-llama31-8b-fp8-mi355x-8gpu")
    assert run["system"] == "mi355x-platform" and "fit" not in run
    assert run["published"] == pytest.approx(12288 * 8192 / 401.421, rel=0.001)
    row = next(r for r in training_rows() if r.point == run["id"])
    assert not row.known_miss and abs(row.planner / row.published - 1) <= 0.15
    source = CATALOG.accelerators["mi355x"].source_of("training.gemm_efficiency.fp8")
    assert "estimate" in source.lower() and run["id"] in source
