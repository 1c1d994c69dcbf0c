"""A per-release MoE serving cost (2025 vs 2026 TensorRT-LLM): can one 2026 figure serve? (analysis;
no model change: a negative result).

The decode step charges every routed token a fitted cost, moe_token_bandwidth (62 GB/s of
k x hidden x 3 B a token, hardware/data/accelerators.yaml, fitted on 2025 DeepSeek-R1 runs).
NVIDIA's MLPerf Inference v6.0 DeepSeek-R1 Offline and Server runs on GB200/GB300 NVL72 keep their
v5.1 configs field for field and measure 1.54-2.0x v5.1 (planner/calibration/serving.yaml,
mlperf6-checks), so an explicit input naming the serving release (`moe_kernels_release: 2025 |
2026`, the catalog giving a figure per release) was the candidate. This script fits the 2026
figure by the procedure a catalog figure needs and checks it on the other runs of 2026 software
before any such input is built:

- Fit, per accelerator family where the twins exist (gb200, gb300): grid over
  moe_token_bandwidth GRID (2 GB/s steps) on that catalog entry alone, minimising the mean
  absolute error of the family's two v6.0 DeepSeek-R1 twins (Offline, Server). Under a release
  input only 2026 points would take the figure, so the v5.1 twins (2025) are not in the fit.
- Checks at the fitted figure (each within its own tolerance, as bench/accuracy.py): the family's
  v6.0 DeepSeek-R1 Interactive run, its three v6.0 gpt-oss-120b runs (also MoE, the same
  TensorRT-LLM feat/1.2-mlpinf release), and on GB200 the two InferenceX DeepSeek-R1 runs whose
  sources date them to 2026 software (inferencex-gb200-dsr1-fp4-1k1k-125: run 2026-05-22, Dynamo
  + TensorRT-LLM; inferencex-gb200-dsr1-fp8-8k1k-75: MTP-3 recipes since 2026-02-03, NVIDIA
  srt-slurm branch sa-submission-q2-2026). B200 has no v6.0 DeepSeek-R1 run: its three v6.0
  gpt-oss runs (Nebius, feat/1.2-mlpinf) are checked at GB200's figure (same GPU and NVLink 5,
  as the 2025 figure is shared).
- Windows: the figures (on the grid) at which both twins are in their bands, and at which every
  check that passes at 62 GB/s stays in its band. The release input stands only if the two
  intersect; they do not (GB200: twins need >= 120 GB/s, the gpt-oss Interactive run leaves its
  band above 90; GB300: twins need >= 180, gpt-oss Offline leaves above 120), so the catalog keeps
  the 2025 fit and no input was added (docs/models.md, "A per-release MoE cost").

    PYTHONPATH=$PWD python bench/moe_release_fit.py
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hardware.catalog import Catalog, load_catalog
from planner.calibration.serving import ServingPoint, parametric_moe, point_value, points
from planner.demand.inference import clear_physics_caches

GRID = tuple(range(62, 262, 2))  # GB/s: the 2025 fit up to 4.2x it
FIT_2025_GBPS = 62

# The v6.0 DeepSeek-R1 twins (config fields as v5.1's, 2026 TensorRT-LLM) each family is fitted
# on, and its checks (2026 software, not fitted).
TWINS: dict[str, tuple[str, ...]] = {
    "gb200": ("mlperf6-gb200-dsr1-offline", "mlperf6-gb200-dsr1-server"),
    "gb300": ("mlperf6-gb300-dsr1-offline", "mlperf6-gb300-dsr1-server"),
}
CHECKS: dict[str, tuple[str, ...]] = {
    "gb200": (
        "mlperf6-gb200-dsr1-interactive",
        "mlperf6-gb200-gptoss-offline",
        "mlperf6-gb200-gptoss-server",
        "mlperf6-gb200-gptoss-interactive",
        "inferencex-gb200-dsr1-fp4-1k1k-125",
        "inferencex-gb200-dsr1-fp8-8k1k-75",
    ),
    "gb300": (
        "mlperf6-gb300-dsr1-interactive",
        "mlperf6-gb300-gptoss-offline",
        "mlperf6-gb300-gptoss-server",
        "mlperf6-gb300-gptoss-interactive",
    ),
    # no v6.0 DeepSeek-R1 run: checked at GB200's fitted figure
    "b200": (
        "mlperf6-b200-gptoss-offline",
        "mlperf6-b200-gptoss-server",
        "mlperf6-b200-gptoss-interactive",
    ),
}


@dataclass(frozen=True)
class Family:
    """One catalog entry's fit and checks over the grid: errors[gbps][point] = planner /
    published - 1 with moe_token_bandwidth at gbps on that entry."""

    entry: str
    errors: dict[int, dict[str, float]]
    tolerance: dict[str, float]

    def twins_mae(self, gbps: int) -> float:
        e = self.errors[gbps]
        return sum(abs(e[p]) for p in TWINS[self.entry]) / len(TWINS[self.entry])

    def fitted(self) -> int:
        """The grid figure minimising the twins' mean absolute error (the lower on a tie)."""
        return min(self.errors, key=lambda g: (self.twins_mae(g), g))

    def in_band(self, gbps: int, ids: Iterable[str]) -> bool:
        return all(abs(self.errors[gbps][p]) <= self.tolerance[p] for p in ids)

    def twins_window(self) -> list[int]:
        """Grid figures at which every twin is within its tolerance."""
        return [g for g in sorted(self.errors) if self.in_band(g, TWINS.get(self.entry, ()))]

    def passing_checks(self) -> list[str]:
        """The checks within their tolerance at the 2025 fit (those no change may push out)."""
        return [
            p
            for p in CHECKS[self.entry]
            if p in self.tolerance and self.in_band(FIT_2025_GBPS, (p,))
        ]

    def checks_window(self) -> list[int]:
        """Grid figures at which every check passing at 62 GB/s stays within its tolerance."""
        keep = self.passing_checks()
        return [g for g in sorted(self.errors) if self.in_band(g, keep)]

    def implied(self, point: str) -> str:
        """The grid figure at which the point's error first reaches 0 (what that run alone
        would call the 2026 figure): "<= 62" if the planner is already fast there, "> max"
        if it never gets there."""
        grid = sorted(self.errors)
        if self.errors[grid[0]][point] >= 0:
            return f"<= {grid[0]}"
        hit = next((g for g in grid if self.errors[g][point] >= 0), None)
        return f"> {grid[-1]}" if hit is None else f"~{hit}"

    def out_of_band(self, gbps: int) -> list[str]:
        """The points (of those computed) outside their tolerance at gbps."""
        return [p for p, e in self.errors[gbps].items() if abs(e) > self.tolerance[p]]


def catalog_at(entry: str, gbps: float, folder: Path) -> Catalog:
    """The shipped catalog with one accelerator entry's moe_token_bandwidth at gbps GB/s."""
    overlay = folder / f"{entry}-{gbps:g}.yaml"
    overlay.write_text(
        f"accelerators:\n  {entry}:\n    serving:\n      moe_token_bandwidth: {gbps:g} GB/s\n",
        encoding="utf-8",
    )
    return load_catalog([overlay])


def errors_at(
    entry: str, gbps: float, ids: Sequence[str], by_id: dict[str, ServingPoint], folder: Path
) -> dict[str, float]:
    """Each point's error with entry's moe_token_bandwidth at gbps (caches cleared before and
    after: the memoised physics would otherwise answer for another catalog)."""
    catalog = catalog_at(entry, gbps, folder)
    clear_physics_caches()
    try:
        # the fitted figure's analysis: the parametric MoE terms even where a point names a
        # TensorRT-LLM release with a measured MoE table (parametric_moe)
        return {
            # steady rates (run=False): the analysis predates the MLPerf run share (mlperf_run)
            p: point_value(parametric_moe(by_id[p]), catalog, run=False) / by_id[p].published - 1
            for p in ids
        }
    finally:
        clear_physics_caches()


def family(entry: str, grid: Iterable[int] = GRID, ids: Sequence[str] | None = None) -> Family:
    """The errors of an entry's twins and checks (or of `ids` alone) over the grid (62 GB/s
    always included)."""
    by_id = {p.id: p for p in points()}
    ids = (*TWINS.get(entry, ()), *CHECKS[entry]) if ids is None else tuple(ids)
    values = sorted({FIT_2025_GBPS, *grid})
    with tempfile.TemporaryDirectory() as tmp:
        errors = {g: errors_at(entry, g, ids, by_id, Path(tmp)) for g in values}
    return Family(entry, errors, {p: by_id[p].tolerance for p in ids})


def _span(values: list[int]) -> str:
    return f"{values[0]}-{values[-1]} GB/s" if values else "none"


def report(families: dict[str, Family]) -> str:
    lines = []
    gb200_fit = families["gb200"].fitted()
    for entry, fam in families.items():
        fit = fam.fitted() if entry in TWINS else gb200_fit
        ids = (*TWINS.get(entry, ()), *CHECKS[entry])
        lines.append(
            f"{entry}: 2026 figure {fit} GB/s"
            + (
                f" (grid minimum of the twins' MAE: {fam.twins_mae(FIT_2025_GBPS):.1%} at "
                f"{FIT_2025_GBPS} -> {fam.twins_mae(fit):.1%})"
                if entry in TWINS
                else " (GB200's: no v6.0 DeepSeek-R1 run)"
            )
        )
        if fit not in fam.errors:
            lines.append(f"  ({fit} GB/s not on this entry's grid)")
            continue
        for p in ids:
            e0, e1 = fam.errors[FIT_2025_GBPS][p], fam.errors[fit][p]
            role = "twin " if p in TWINS.get(entry, ()) else "check"
            mark = "" if abs(e1) <= fam.tolerance[p] else "  OUT of its band"
            lines.append(
                f"  {role} {p:38s} +-{fam.tolerance[p]:.0%}  {FIT_2025_GBPS}: {e0:+7.1%}  "
                f"{fit}: {e1:+7.1%}  error 0 at {fam.implied(p)} GB/s{mark}"
            )
        if entry in TWINS:
            lines.append(f"  twins in band at: {_span(fam.twins_window())}")
        lines.append(f"  passing checks stay in band at: {_span(fam.checks_window())}")
    return "\n".join(lines)


def main() -> None:
    families = {e: family(e) for e in ("gb200", "gb300")}
    families["b200"] = family("b200", (families["gb200"].fitted(),))
    print(report(families))


if __name__ == "__main__":
    main()
