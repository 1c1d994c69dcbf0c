"""Re-run every documented fit of the training catalog's GEMM fractions (hardware/data/
accelerators.yaml training.gemm_efficiency and training.expert_gemm_fraction, each figure's
source text) in one command, each fit under the ones before it (the dense fractions before the
expert fraction that multiplies them), optionally under a catalog overlay: prints each fitted
figure beside the catalog's and its fit points' errors. Re-run it after any change to the step
model's terms (session s32 pergemm: each dense linear at its own GEMM shape).

The fit points are the rows of planner/calibration/training.yaml marked `fit: <figure>` on the
accelerator's systems; the procedures (as the catalog sources state them):
- H100 BF16 (FP16, H200 and the Blackwell Ultra BF16/FP16 estimates take it): least squares on
  the MFU of the three Llama 3.1 405B Table 4 rows (0.001 grid);
- H100 FP8: the value (0.001 grid) that reproduces MLPerf v3.1 GPT-3 175B on 10,752 H100;
- H100 expert FP8 (h200 takes it): least squares on the log error of the two H100 FP8 MoE rows,
  0.01 grid over 0.25-0.50;
- GB200 FP8 (B200 takes it): the value (0.001 grid) that reproduces MLPerf v5.0 Llama 3.1 405B
  on 512 GB200;
- GB200 BF16 (B200 and their FP16 take it; session s33): 0.01 grid over 0.30-0.80, the sum of the
  squared log errors of the two Megatron-Bridge 25.11 GB200 BF16 MoE rows;
- GB300 FP8 (B300 takes it): the value on a 0.01 grid over 0.45-0.80 minimising the mean
  absolute error of the two Megatron-Bridge 25.11 GB300 rows;
- B200 FP4 (GB200 takes it, moved together): 0.01 grid over 0.30-0.50, the two B200 8B rows' MAE;
- GB300 FP4 (B300 takes it): 0.01 grid over 0.35-0.55, the three GB300 rows' MAE;
- MI355X FP4 (MI350X takes it): 0.01 grid over 0.29-0.40, the two MI355X rows' MAE;
- Trainium2 BF16 (FP16 and Trainium3 take it): 0.01 grid over 0.15-0.70, the two AXLearn rows'
  sum of squared log errors.
A fit whose minimum lands on its grid's edge is flagged (`EDGE`): widen the grid in its source.

    PYTHONPATH=$PWD python bench/refit_gemm_efficiency.py [overlay.yaml ...]   (~5-10 minutes)
"""

from __future__ import annotations

import math
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hardware.catalog import Catalog, load_catalog
from planner.calibration import training
from planner.demand.inference import clear_physics_caches

RUNS = {run["id"]: run for run in training.runs()}


@dataclass(frozen=True)
class Fit:
    accelerator: str  # whose fit rows (their systems' accelerator) and figure
    figure: str  # "gemm_efficiency" or "expert_gemm_fraction"
    precision: str
    how: str  # lsq (MFU, absolute), solve (one row), mae, sqlog
    grid: tuple[float, ...]  # the 0.01 grid (solve and lsq refine to 0.001 around its best)
    takers: tuple[str, ...] = ()  # accelerators (and precisions) moved with it: "acc" or "acc.prec"


def _grid(lo: int, hi: int) -> tuple[float, ...]:
    return tuple(i / 100 for i in range(lo, hi + 1))


FITS = (
    # the Blackwell Ultra BF16 fractions are estimates stated as H100's fitted fraction: moved
    # with it (the B200 die's is fitted since session s33, below)
    Fit(
        "h100-sxm",
        "gemm_efficiency",
        "bf16",
        "lsq",
        _grid(30, 90),
        ("h100-sxm.fp16", "gb300.bf16", "gb300.fp16"),
    ),
    Fit("h100-sxm", "gemm_efficiency", "fp8", "solve", _grid(30, 90)),
    Fit("h100-sxm", "expert_gemm_fraction", "fp8", "sqlog", _grid(25, 50)),
    # the B200 die's BF16 before its FP8 and FP4: their fit rows keep the output head in BF16
    Fit("gb200", "gemm_efficiency", "bf16", "sqlog", _grid(30, 80), ("gb200.fp16",)),
    Fit("gb200", "gemm_efficiency", "fp8", "solve", _grid(30, 90)),
    Fit("gb300", "gemm_efficiency", "fp8", "mae", _grid(45, 80)),
    Fit("b200", "gemm_efficiency", "fp4", "mae", _grid(30, 50), ("gb200",)),
    Fit("gb300", "gemm_efficiency", "fp4", "mae", _grid(35, 55)),
    Fit("mi355x", "gemm_efficiency", "fp4", "mae", _grid(29, 40)),
    Fit("trainium2", "gemm_efficiency", "bf16", "sqlog", _grid(15, 70), ("trainium2.fp16",)),
)
# Accelerators that take another's figure (catalog sources: "taken equal to"): moved with it
# while the fits run, so a later fit sees the earlier ones everywhere.
SHARED = {
    ("h100-sxm", "gemm_efficiency"): ("h200-sxm",),
    ("h100-sxm", "expert_gemm_fraction"): ("h200-sxm",),
    ("gb200", "gemm_efficiency"): ("b200",),
    ("gb300", "gemm_efficiency"): ("b300",),
    ("mi355x", "gemm_efficiency"): ("mi350x",),
    ("trainium2", "gemm_efficiency"): ("trainium3",),
}


def fit_rows(fit: Fit, catalog: Catalog) -> list[dict]:  # type: ignore[type-arg]
    """The calibration rows marked `fit: <figure>.<precision>` on the accelerator's systems."""
    mark = f"{fit.figure}.{fit.precision}"
    out = []
    for run in RUNS.values():
        if run.get("fit") != mark:
            continue
        system = catalog.systems[run["system"]]
        if system.accelerator == fit.accelerator:
            out.append(run)
    return out


Values = dict[tuple[str, str, str], float]  # (accelerator, figure, precision) -> value


def _entries(fit: Fit, e: float) -> Values:
    out: Values = {}
    for acc in (fit.accelerator, *SHARED.get((fit.accelerator, fit.figure), ())):
        out[(acc, fit.figure, fit.precision)] = e
    for taker in fit.takers:
        acc, _, prec = taker.partition(".")
        for a in (acc, *SHARED.get((acc, fit.figure), ())):
            out[(a, fit.figure, prec or fit.precision)] = e
    return out


def overlay_catalog(overlays: list[Path], values: Values, tmp: Path) -> Catalog:
    per: dict[str, dict[str, dict[str, float]]] = {}
    for (acc, figure, prec), e in values.items():
        per.setdefault(acc, {}).setdefault(figure, {})[prec] = e
    text = "accelerators:\n"
    for acc, figures in sorted(per.items()):
        text += f"  {acc}:\n    training:\n"
        for figure, precs in figures.items():
            text += f"      {figure}: {{" + ", ".join(f"{p}: {e:.4f}" for p, e in precs.items())
            text += "}\n"
    path = tmp / "refit.yaml"
    path.write_text(text)
    clear_physics_caches()
    return load_catalog([*overlays, path])


def fit_one(
    fit: Fit, overlays: list[Path], before: Values, tmp: Path
) -> tuple[float, list[float], list[str]]:
    """The fitted value, its fit rows' errors (planner / published - 1) and their ids."""
    runs = fit_rows(fit, load_catalog(overlays))
    assert runs, f"no fit rows for {fit}"

    def errors(e: float) -> list[float]:
        cat = overlay_catalog(overlays, {**before, **_entries(fit, e)}, tmp)
        return [training.predict(r, cat) / r["published"] - 1 for r in runs]

    score: Callable[[float], float]
    if fit.how == "lsq":

        def score(e: float) -> float:
            cat = overlay_catalog(overlays, {**before, **_entries(fit, e)}, tmp)
            return sum((training.predict(r, cat) - r["published"]) ** 2 for r in runs)
    elif fit.how == "solve":

        def score(e: float) -> float:
            return abs(errors(e)[0])
    elif fit.how == "sqlog":

        def score(e: float) -> float:
            return sum(math.log(1 + x) ** 2 for x in errors(e))
    else:

        def score(e: float) -> float:
            return sum(abs(x) for x in errors(e)) / len(runs)

    best = min(fit.grid, key=score)
    if fit.how in ("lsq", "solve"):
        # fine 0.001 around the coarse minimum (every score is unimodal in e)
        best = min((round(best + i / 1000, 3) for i in range(-10, 11)), key=score)
    return best, errors(best), [r["id"] for r in runs]


def refit(overlays: list[Path]) -> Values:
    """Every fit in turn, each under the ones before it; prints one line a fit."""
    catalog = load_catalog(overlays)
    fitted: Values = {}
    with tempfile.TemporaryDirectory() as d:
        for fit in FITS:
            best, errs, ids = fit_one(fit, overlays, fitted, Path(d))
            fitted.update(_entries(fit, best))
            tr = catalog.accelerators[fit.accelerator].training
            assert tr is not None
            now = getattr(tr, fit.figure).get(fit.precision)
            edge = "  EDGE" if best in (fit.grid[0], fit.grid[-1]) else ""
            print(
                f"{fit.accelerator:9s} {fit.figure:20s} {fit.precision:4s} {now} -> {best:.3f}"
                f"{edge}  fit points: "
                + ", ".join(f"{i} {x:+.1%}" for i, x in zip(ids, errs, strict=True)),
                flush=True,
            )
    return fitted


def main(argv: list[str]) -> None:
    refit([Path(a) for a in argv])


if __name__ == "__main__":
    main(sys.argv[1:])
