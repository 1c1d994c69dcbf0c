"""Re-run the documented fits of the training catalog's gemm_efficiency (hardware/data/
accelerators.yaml, each figure's source text) under a catalog overlay, e.g. one setting
gemm_half_width: prints each fitted figure and its fit points' errors.

The procedures (as the catalog sources state them):
- H100 BF16: least squares on the MFU of the three Llama 3.1 405B Table 4 rows (0.001 grid);
- H100 FP8: the value (0.001 grid) that reproduces MLPerf v3.1 GPT-3 175B on 10,752 H100;
- GB200 FP8 (B200 takes it): the value (0.001 grid) that reproduces MLPerf v5.0 Llama 3.1 405B on
  512 GB200;
- GB300 FP8: the value on a 0.01 grid over 0.45-0.80 minimising the mean absolute error of the
  two Megatron-Bridge 25.11 GB300 rows.

    PYTHONPATH=$PWD python bench/refit_gemm_efficiency.py [overlay.yaml ...]
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from hardware.catalog import Catalog, load_catalog
from planner.calibration import training
from planner.demand.inference import clear_physics_caches

RUNS = {run["id"]: run for run in training.runs()}
FITS: dict[tuple[str, str], tuple[list[str], str]] = {
    ("h100-sxm", "bf16"): (
        [
            "llama3-405b-bf16-8192gpu",
            "llama3-405b-bf16-16384gpu",
            "llama3-405b-bf16-16384gpu-cp16",
        ],
        "lsq",
    ),
    ("h100-sxm", "fp8"): (["mlperf-gpt3-fp8-10752gpu"], "solve"),
    ("gb200", "fp8"): (["mlperf-llama31-405b-gb200-512gpu-step"], "solve"),
    ("gb300", "fp8"): (
        ["mbridge2511-llama3-8b-fp8-gb300-8gpu", "mbridge2511-llama31-405b-fp8-gb300-256gpu"],
        "mae",
    ),
}


def _catalog(overlays: list[Path], acc: str, prec: str, e: float, tmp: Path) -> Catalog:
    extra = tmp / f"{acc}-{prec}-{e:.4f}.yaml"
    extra.write_text(
        f"accelerators:\n  {acc}:\n    training:\n      gemm_efficiency: {{{prec}: {e:.4f}}}\n"
    )
    clear_physics_caches()
    return load_catalog([*overlays, extra])


def fit(overlays: list[Path], acc: str, prec: str, tmp: Path) -> tuple[float, list[float]]:
    points, how = FITS[(acc, prec)]
    runs = [RUNS[p] for p in points]

    def errors(e: float) -> list[float]:
        cat = _catalog(overlays, acc, prec, e, tmp)
        return [training.predict(r, cat) / r["published"] - 1 for r in runs]

    def abs_err(e: float) -> list[float]:
        cat = _catalog(overlays, acc, prec, e, tmp)
        return [training.predict(r, cat) - r["published"] for r in runs]

    score: Callable[[float], float]
    if how == "lsq":
        score = lambda e: sum(x * x for x in abs_err(e))  # noqa: E731
    elif how == "solve":
        score = lambda e: abs(errors(e)[0])  # noqa: E731
    else:
        score = lambda e: sum(abs(x) for x in errors(e)) / len(runs)  # noqa: E731
    if how == "mae":
        grid = [i / 100 for i in range(45, 81)]
        best = min(grid, key=score)
    else:
        # coarse 0.01 then fine 0.001 around the coarse minimum (every score is unimodal in e)
        coarse = min((i / 100 for i in range(30, 91)), key=score)
        best = min(
            (round(coarse + i / 1000, 3) for i in range(-10, 11)),
            key=score,
        )
    return best, errors(best)


def main(argv: list[str]) -> None:
    overlays = [Path(a) for a in argv]
    with tempfile.TemporaryDirectory() as d:
        for acc, prec in FITS:
            best, errs = fit(overlays, acc, prec, Path(d))
            print(
                f"{acc:9s} {prec:5s} gemm_efficiency {best:.3f}  fit points: "
                + ", ".join(f"{x:+.1%}" for x in errs)
            )


if __name__ == "__main__":
    main(sys.argv[1:])
