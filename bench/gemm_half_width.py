"""Derive the training catalog's per-precision gemm_half_width (hardware/data/accelerators.yaml)
from measured GEMM throughput against the reduction width K (bench/data/gemm_half_width_tables.yaml,
copied from aiconfigurator's TensorRT-LLM GEMM tables; sources in that file).

Procedure (the catalog's source text says the same):
1. Per table (system, dtype, M): fit T(K) = T_inf · K / (K + W) to the throughput at K = 256 ...
   8,192 (N = 8,192) by least squares on 1/T = 1/T_inf + (W / T_inf) · (1/K), a straight line in
   1/K: W = slope / intercept. M = 8,192 and 16,384 (training GEMMs' tokens; there the catalog's
   M factor M/(M + 256) is >= 0.97, so the K sweep measures the K factor nearly alone).
2. Per system and dtype: the mean of its two M fits.
3. Per catalog accelerator: the mean over the systems with its die: h100-sxm from h100_sxm;
   b200 and gb200 (one B200 die) from b200_sxm and gb200; gb300 (the B300 die) from b300_sxm and
   gb300. Rounded to 10. bfloat16 -> bf16 (fp16 takes it: same tensor-core rate), fp8 -> fp8,
   nvfp4 -> fp4.

    PYTHONPATH=$PWD python bench/gemm_half_width.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TABLES = Path(__file__).parent / "data" / "gemm_half_width_tables.yaml"
DIES = {
    "h100-sxm": ("h100_sxm",),
    "b200": ("b200_sxm", "gb200"),
    "gb200": ("b200_sxm", "gb200"),
    "gb300": ("b300_sxm", "gb300"),
}
PRECISIONS = {"bfloat16": "bf16", "fp8": "fp8", "nvfp4": "fp4"}


def half_width_fit(k: list[float], tflops: list[float]) -> float:
    """W of T = T_inf · K/(K + W) by least squares on 1/T against 1/K."""
    x = [1 / v for v in k]
    y = [1 / v for v in tflops]
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sum(
        (a - mx) ** 2 for a in x
    )
    intercept = my - slope * mx
    return slope / intercept


def load() -> dict[str, Any]:
    return dict(yaml.safe_load(TABLES.read_text(encoding="utf-8")))


def per_system(data: dict[str, Any]) -> dict[tuple[str, str], list[float]]:
    """(system, dtype) -> the W of each M's table."""
    k = data["k"]
    return {
        (system, dtype): [half_width_fit(k, t) for t in by_m.values()]
        for system, dtypes in data["aiconfigurator"].items()
        for dtype, by_m in dtypes.items()
    }


def derived(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """accelerator -> precision -> gemm_half_width (rounded to 10)."""
    fits = per_system(data)
    out: dict[str, dict[str, float]] = {}
    for acc, systems in DIES.items():
        for dtype, prec in PRECISIONS.items():
            if any((s, dtype) not in fits for s in systems):
                continue  # no such table (H100 has no FP4)
            means = [sum(fits[(s, dtype)]) / len(fits[(s, dtype)]) for s in systems]
            out.setdefault(acc, {})[prec] = round(sum(means) / len(means), -1)
    return out


def main() -> None:
    data = load()
    for (system, dtype), ws in per_system(data).items():
        print(
            f"{system:9s} {dtype:9s} W at M = 8,192 / 16,384: " + " / ".join(f"{w:.0f}" for w in ws)
        )
    for sm, by_dtype in data["xla"].items():
        for dtype, t in by_dtype.items():
            print(
                f"xla {sm:6s} {dtype:9s} W at M = N = 4,096 (K <= 4,096): "
                f"{half_width_fit(data['k'][: len(t)], t):.0f}"
            )
    for acc, ws in derived(data).items():
        print(acc, ws)


if __name__ == "__main__":
    main()
