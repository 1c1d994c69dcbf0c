"""Rubin against GB300 on the first measured Vera Rubin runs (MLPerf Inference v6.1 DeepSeek-R1):
the hardware ratio, and the fit of rubin's per-routed-token MoE cost on it.

The absolute DeepSeek-R1 rates of NVIDIA's 2026 racks are known misses of the planner (it is
31-54% short on the v6.0 GB300/GB200/B300 runs: the per-routed-token MoE cost,
moe_token_bandwidth, is the 2025 fit; docs/models.md). What the Vera Rubin runs test cleanly is the
hardware estimate: the measured Vera Rubin NVL72 / GB300 NVL72 ratio on the same benchmark in the
same round against the planner's ratio on the same spec (each rubin-checks point of
planner/calibration/serving.yaml priced on vera-rubin-nvl144 and, unchanged, on gb300-nvl72).

Measured (github.com/mlcommons/inference_results_v6.1, summary.json @10ecdffd, NVIDIA closed rows,
72 GPUs each): Vera Rubin NVL72 (TRTLLM-rubin, preview) Offline 1,183,326.85 / Server 1,175,890.22 /
Interactive 652,750.14 tok/s; GB300 NVL72 (TensorRT-LLM feat/1.2-mlpinf) 679,740 / 596,944 /
253,506 tok/s: ratios 1.741 / 1.970 / 2.575.

Fit (rubin serving.moe_token_bandwidth, the one rubin figure that does not scale with the
hardware: Blackwell's 62 GB/s was taken as an estimate): grid GRID in 1 GB/s steps on rubin alone,
minimising the mean absolute error of the planner's ratio against the measured ratio over FIT
(the Offline and Server runs; GB300's figures unchanged, so the rack pair stays on one software
basis); CHECK (Interactive) is not fitted.

    PYTHONPATH=$PWD python bench/rubin_ratio_fit.py
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterable
from pathlib import Path

from hardware.catalog import Catalog, load_catalog
from planner.calibration.serving import ServingPoint, point_value, points
from planner.demand.inference import clear_physics_caches

GRID = tuple(range(62, 201))  # GB/s: Blackwell's 2025 fit up to 3.2x it
FIT = ("mlperf61-vr-dsr1-offline", "mlperf61-vr-dsr1-server")
CHECK = ("mlperf61-vr-dsr1-interactive",)
GPUS = 72
# The same round's GB300 NVL72 rows (summary.json @10ecdffd: NVIDIA, GB300-NVL72_GB300-288GB_
# aarch64x72_TRT, deepseek-r1), tokens/s of 72 GPUs.
GB300_V61_TOKENS_PER_S = {
    "mlperf61-vr-dsr1-offline": 679_740.0,
    "mlperf61-vr-dsr1-server": 596_944.0,
    "mlperf61-vr-dsr1-interactive": 253_506.0,
}


def vr_points() -> dict[str, ServingPoint]:
    return {p.id: p for p in points() if p.family == "rubin-checks"}


def measured_ratio(point: ServingPoint) -> float:
    """Vera Rubin NVL72 / GB300 NVL72, tok/s a GPU, the same round and benchmark."""
    return point.published / (GB300_V61_TOKENS_PER_S[point.id] / GPUS)


def with_rubin_moe_token_bandwidth(gbps: float, workdir: Path) -> Catalog:
    overlay = workdir / f"rubin_moe_{gbps:g}.yaml"
    overlay.write_text(
        f"accelerators:\n  rubin:\n    serving:\n      moe_token_bandwidth: {gbps:g} GB/s\n"
    )
    return load_catalog([overlay])


def planner_ratio(point: ServingPoint, catalog: Catalog, gb300_catalog: Catalog) -> float:
    """The planner's Rubin / GB300 ratio on the point's spec: the point on vera-rubin-nvl144
    (`catalog`) over the same spec on gb300-nvl72 (`gb300_catalog`)."""
    clear_physics_caches()
    rubin = point_value(point, catalog)
    clear_physics_caches()
    gb300 = point_value(dataclasses.replace(point, system="gb300-nvl72"), gb300_catalog)
    clear_physics_caches()
    return rubin / gb300


def ratio_errors(
    grid: Iterable[int], ids: Iterable[str], gb300_catalog: Catalog | None = None
) -> dict[int, dict[str, float]]:
    """{GB/s: {point: planner ratio / measured ratio - 1}} with rubin's moe_token_bandwidth at
    each grid figure (GB300 at the catalog's own figures)."""
    base = gb300_catalog or load_catalog()
    pts = vr_points()
    out: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for g in grid:
            cat = with_rubin_moe_token_bandwidth(g, Path(tmp))
            out[g] = {i: planner_ratio(pts[i], cat, base) / measured_ratio(pts[i]) - 1 for i in ids}
    return out


def fitted(errors: dict[int, dict[str, float]]) -> int:
    """The grid figure minimising the mean absolute ratio error of FIT (the lower on a tie)."""

    def mae(g: int) -> float:
        return sum(abs(errors[g][i]) for i in FIT) / len(FIT)

    return min(errors, key=lambda g: (mae(g), g))


def main() -> None:
    pts = vr_points()
    base = load_catalog()
    for i, p in pts.items():
        print(f"{i}: measured VR/GB300 {measured_ratio(p):.3f}")
    errors = ratio_errors(GRID, (*FIT, *CHECK), base)
    best = fitted(errors)
    for g in (62, best):
        row = ", ".join(f"{i.split('-')[-1]} {e:+.1%}" for i, e in errors[g].items())
        mae = sum(abs(errors[g][i]) for i in FIT) / len(FIT)
        print(f"{g} GB/s: ratio errors {row}; fit MAE {mae:.1%}")
    print(f"fitted rubin moe_token_bandwidth: {best} GB/s")
    zero = {
        i: min(GRID, key=lambda g, i=i: abs(errors[g][i])) for i in (*FIT, *CHECK)
    }  # where each run alone would put it
    print("each run's own zero:", zero)
    with tempfile.TemporaryDirectory() as tmp:
        cat = with_rubin_moe_token_bandwidth(best, Path(tmp))
        for i, p in pts.items():
            clear_physics_caches()
            v = point_value(p, cat)
            print(f"{i}: planner {v:,.0f} vs {p.published:,.0f} ({v / p.published - 1:+.1%})")


if __name__ == "__main__":
    main()
