"""Measured MoE module times (planner/data/moe_kernels.csv): TensorRT-LLM's fused MoE module
(routing, quantisation, permute, the grouped GEMMs with their expert weights, activation,
finalize) on the hottest rank of an EP group, as aiconfigurator's collector measured it per
system and TensorRT-LLM release (bench/moe_kernel_table_extract.py names the rows; the file's
header names each table's repo, commit and path).

The serving step reads it in place of the parametric MoE terms (the expert GEMMs' roofline, the
fitted moe_layer_latency and moe_token_bandwidth) when the workload's engine names the
TensorRT-LLM release it runs (`engine.tensorrt_llm_version`) and a table covers the release,
the accelerator, the checkpoint's precision, the model's MoE shape (hidden, expert width,
experts, top-k) and the layout's EP size with whole experts a rank; everything else keeps the
parametric model. Release mapping: a table of the same major.minor release (the earliest of
them at or after a named release candidate), else the earliest of the next minor release
(TensorRT-LLM 1.2 on a part measured only on 1.3.0rc10: 1.3.0rc10) for a release no older than
the earliest minor any table covers (1.2); none for an older release (1.0 and 1.1, 2025's: the
parametric terms and their 2025 fit stand).
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

from hardware.schema import ModelArch

TABLE = Path(__file__).resolve().parent.parent / "data" / "moe_kernels.csv"

# major.minor[.patch][rcN]: what a TensorRT-LLM release is called (1.2, 1.3.0rc10, 1.0.0)
RELEASE_PATTERN = r"^\d+\.\d+(\.\d+)?(rc\d+)?$"

Key = tuple[str, str, str, int, int, int, int, int]
Rows = tuple[tuple[float, float], ...]


def release_order(release: str) -> tuple[int, int, int, float]:
    """(major, minor, patch, rc) of a release name; a final release sorts after its rcs."""
    m = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:rc(\d+))?$", release)
    if m is None:
        raise ValueError(f"not a TensorRT-LLM release: {release!r}")
    major, minor, patch, rc = m.groups()
    return int(major), int(minor), int(patch or 0), float(rc) if rc is not None else float("inf")


@functools.cache
def _tables() -> dict[Key, Rows]:
    """(accelerator, release, precision, hidden, expert_ffn, experts, top-k, ep) -> the rows
    (tokens routed over the EP group, seconds a layer), tokens ascending."""
    out: dict[Key, list[tuple[float, float]]] = {}
    with TABLE.open() as f:
        lines = [line for line in f if not line.startswith("#")]
    for r in csv.DictReader(lines):
        key = (
            r["accelerator"],
            r["release"],
            r["precision"],
            int(r["hidden"]),
            int(r["expert_ffn"]),
            int(r["experts"]),
            int(r["active_experts"]),
            int(r["ep"]),
        )
        out.setdefault(key, []).append((float(r["tokens"]), float(r["us"]) * 1e-6))
    return {k: tuple(sorted(v)) for k, v in out.items()}


def table_release(accelerator: str, release: str) -> str | None:
    """The measured release standing for `release` on `accelerator` (module docstring), or
    None."""
    want = release_order(release)
    measured = sorted({k[1] for k in _tables() if k[0] == accelerator}, key=release_order)
    same = [r for r in measured if release_order(r)[:2] == want[:2]]
    later = [r for r in same if release_order(r) >= want]
    if later:
        return later[0]
    if same:
        return same[-1]
    # the next minor's earliest, for a release no older than the earliest minor any table covers
    # (1.2: the 2026 generation; 1.0 and 1.1, 2025's, keep the parametric terms)
    oldest = min((release_order(k[1])[:2] for k in _tables()), default=None)
    if oldest is None or want[:2] < oldest:
        return None
    following = [r for r in measured if release_order(r)[:2] == (want[0], want[1] + 1)]
    return following[0] if following else None


def _measured_shape(
    accelerator: str, release: str | None, precision: str, arch: ModelArch
) -> tuple[str, tuple[str, int, int, int, int]] | None:
    """(the measured release standing for `release`, the key's (precision, hidden, expert
    width, experts, top-k)); None for a dense model, no release, or a release no table stands
    for."""
    if release is None or arch.moe is None:
        return None
    measured = table_release(accelerator, release)
    if measured is None:
        return None
    moe = arch.moe
    return measured, (precision, arch.hidden, moe.expert_ffn, moe.experts, moe.active_experts)


def module_rows(
    accelerator: str, release: str | None, precision: str, arch: ModelArch, ep: int
) -> tuple[str, Rows] | None:
    """(the measured release, its rows) of the MoE module for this part, release, precision,
    model shape and EP size; None where no table covers them."""
    found = _measured_shape(accelerator, release, precision, arch)
    if found is None:
        return None
    measured, shape = found
    rows = _tables().get((accelerator, measured, *shape, ep))
    return (measured, rows) if rows else None


def covers(accelerator: str, release: str | None, precision: str, arch: ModelArch) -> bool:
    """Whether a measured table covers this part, release, precision and MoE shape at some EP
    size (module_rows at one of them): what a plan naming `release` is told per system."""
    found = _measured_shape(accelerator, release, precision, arch)
    if found is None:
        return False
    measured, shape = found
    return any(k[0] == accelerator and k[1] == measured and k[2:7] == shape for k in _tables())


def module_s(rows: Rows, tokens: float) -> float:
    """The module's seconds a layer at `tokens` routed over the EP group: linear between the two
    measured rows around it; the first row's below the table; above it the last two rows'
    line (its slope at least 0)."""
    if tokens <= rows[0][0]:
        return rows[0][1]
    for (x0, y0), (x1, y1) in zip(rows, rows[1:], strict=False):
        if tokens <= x1:
            return y0 + (y1 - y0) * (tokens - x0) / (x1 - x0)
    (x0, y0), (x1, y1) = rows[-2], rows[-1]
    return y1 + max(0.0, y1 - y0) * (tokens - x1) / (x1 - x0)


def module_floor_s(rows: Rows) -> float:
    """A lower bound of module_s at any token count: the smallest measured row."""
    return min(y for _, y in rows)
