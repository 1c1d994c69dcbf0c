"""Why do the NVFP4 training rows of Megatron-Bridge read slow while their MXFP8 twins land?
(session fp4; analysis, no model change. Session s32 pergemm adopted candidate (a), per_gemm,
into the step model (training.dense_linears) and refitted every fraction: run today, `now` is
that model, the per_gemm candidate changes nothing more (its patch of training._shape is the
fallback the model no longer takes for catalog models), and the other candidates are measured
against it; the session fp4 figures are those docs/models.md records.)

The evidence (bench/accuracy.py, as `decompose` prints it since session s32 pergemm; session
fp4's figures in brackets): every Megatron-Bridge NVFP4 row reads low (405B GB300 TP4 PP8 -10.2%
[-22.7%], 405B GB200 TP4 PP16 -19.4% [-22.6%], 70B GB300 TP1 -17.3% [-15.1%], 70B GB200 TP2
-6.2% [-8.8%]) while its MXFP8 twin on the same layout lands within -2.2 ... +1.9% [-7.3 ...
+1.3%]; the fitted MLPerf v6.0 GB300 405B rows (TP2 CP2) sit at -7.0% / -0.3% [-0.4% / +6.8%].

1. `decompose`: per FP4 training row (fit and check) and its FP8 twin, the micro-batch's terms
   (GEMM and its shape factor, attention, memory-bound, TP, PP, output head), the micro-batch
   count and bubble.
2. `te_layer`: the step model's per-layer GEMM time at the TE worked example's shape against
   Transformer Engine's own training-shape measurement on B300 (TE_B300 below: Fprop + Dgrad +
   Wgrad of the four linears at M = 15,872 tokens, hidden 4,096, intermediate 16,384, in
   autocast, i.e. with each GEMM's input quantisation, and pre-quantised, the kernels alone).
3. Three candidates, each with the FP4 fractions (and, where FP8 rows move, the Blackwell FP8
   fractions) refitted by their documented procedures (catalog source texts; grids widened to
   0.25-0.99 so no fit sits on an edge):
   - `half_width_fp8`: the hypothesis that the FP4 `gemm_half_width` (B200 die 1,140, B300 die
     3,480) overcharges training shapes, FP8's (560, 670) taken instead;
   - `per_gemm`: each linear's forward, data-gradient and weight-gradient GEMMs at their own
     reduction width (forward K = the input features on this rank, data gradient K = the output
     features, weight gradient K = the tokens) instead of one `K = hidden/TP` for all (what the
     expert GEMMs already carry for their FFN width, training.expert_width_shape); the Llama
     3.1 FFN widths from the models' config.json (intermediate_size: 8B 14,336, 70B 28,672, 405B
     53,248), scratch, Llama rows only;
   - `nvfp4_cast`: NVFP4's quantisation passes priced at TE's measured NVFP4 / MXFP8 overhead
     ratio (2.270: autocast minus pre-quantised, 2.685 vs 1.183 ms a layer) times the model's
     LOW_PRECISION_CAST_BYTES_PER_HIDDEN (100 B): 227 B a hidden element (random Hadamard
     transforms on the weight-gradient inputs, stochastic rounding, 16-element block scales and
     the per-tensor amax pass: TE's list);
   - `both`: per_gemm and nvfp4_cast together.

    PYTHONPATH=$PWD python bench/fp4_training_terms.py [--candidates]   (~1 minute with them)
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import planner.calibration.training as ct
import planner.demand.training as dt
from hardware.catalog import Catalog, load_catalog
from planner.demand.common import hardware
from planner.demand.inference import clear_physics_caches

# NVIDIA/TransformerEngine at 332941783386d09570eddc4be994298eee7aac73,
# docs/features/low_precision_training/gemm_profiling/gemm_profiling.rst ("Worked Example: 5B
# Model on B300"; benchmarks/gemm/benchmark_gemm.py --verify-dgrad): per-layer GEMM ms,
# Fprop + Dgrad + Wgrad of QKV (4,096 x 12,288), attention out (4,096 x 4,096), MLP up (4,096 x
# 16,384) and down (16,384 x 4,096) at M = 31 x 512 = 15,872 tokens.
TE_TOKENS = 15_872
TE_HIDDEN = 4_096
TE_LINEARS = ((4_096, 12_288), (4_096, 4_096), (4_096, 16_384), (16_384, 4_096))
TE_B300_AUTOCAST_MS = {"bf16": 12.227, "fp8": 8.507, "fp4": 6.439}  # MXFP8, NVFP4
TE_B300_PREQUANT_MS = {"bf16": 12.835, "fp8": 7.324, "fp4": 3.754}
# The NVFP4 cast bytes of the nvfp4_cast candidate: the model's FP8/FP4 cast estimate scaled by
# TE's measured quantisation overhead ratio, (6.439 - 3.754) / (8.507 - 7.324)
NVFP4_CAST_RATIO = (TE_B300_AUTOCAST_MS["fp4"] - TE_B300_PREQUANT_MS["fp4"]) / (
    TE_B300_AUTOCAST_MS["fp8"] - TE_B300_PREQUANT_MS["fp8"]
)
NVFP4_CAST_BYTES_PER_HIDDEN = round(dt.LOW_PRECISION_CAST_BYTES_PER_HIDDEN * NVFP4_CAST_RATIO)
# meta-llama/Llama-3.1-{8B,70B,405B} config.json intermediate_size (the catalog has no FFN width
# for dense models)
LLAMA_FFN = {"llama-3.1-8b": 14_336, "llama-3.1-70b": 28_672, "llama-3.1-405b": 53_248}

TWINS = {  # each Megatron-Bridge NVFP4 row's MXFP8 (or FP8) twin on the same system and model
    "mbridge2606-llama31-405b-nvfp4-gb300-256gpu": "mbridge2606-llama31-405b-fp8-gb300-256gpu-tp4",
    "mbridge2606-llama31-405b-nvfp4-gb200-256gpu": "mbridge2606-llama31-405b-mxfp8-gb200-256gpu-vp8",
    "mbridge260401-llama3-70b-nvfp4-gb300-64gpu": "mbridge260401-llama3-70b-mxfp8-gb300-64gpu",
    "mbridge260401-llama3-70b-nvfp4-gb200-64gpu": "mbridge260401-llama3-70b-mxfp8-gb200-64gpu",
}
NVIDIA = ("gb300", "b300", "gb200", "b200")
# (accelerator, precision): fit rows and the accelerators that take the figure (catalog sources)
FITS: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("gb200", "fp8"): (("mlperf-llama31-405b-gb200-512gpu-step",), ("gb200", "b200")),
    ("gb300", "fp8"): (
        ("mbridge2511-llama3-8b-fp8-gb300-8gpu", "mbridge2511-llama31-405b-fp8-gb300-256gpu"),
        ("gb300", "b300"),
    ),
    ("b200", "fp4"): (
        ("mlperf60-llama31-8b-fp4-b200-8gpu", "mlperf60-llama31-8b-fp4-b200-64gpu"),
        ("b200", "gb200"),
    ),
    ("gb300", "fp4"): (
        (
            "mlperf60-llama31-405b-fp4-gb300-2048gpu-step",
            "mlperf60-llama31-405b-fp4-gb300-4096gpu-step",
            "mlperf60-llama31-8b-fp4-gb300-72gpu",
        ),
        ("gb300", "b300"),
    ),
}
RUNS = {run["id"]: run for run in ct.runs()}


def fp4_rows() -> list[dict[str, Any]]:
    """The NVIDIA FP4 training rows (fit and check), in table order."""
    return [
        r
        for r in RUNS.values()
        if r["precision"] == "fp4" and any(a in r["system"] for a in NVIDIA)
    ]


@dataclass(frozen=True)
class Terms:
    """One row's micro-batch split (ms) and its error."""

    run_id: str
    precision: str
    fit: bool
    error: float
    micro_batch_ms: float
    gemm_ms: float
    shape: float
    attention_ms: float
    memory_ms: float
    tp_ms: float
    pp_ms: float
    head_ms: float
    micro_batches: float
    bubble: float


def decompose(catalog: Catalog, run_ids: list[str]) -> list[Terms]:
    out = []
    for rid in run_ids:
        r = RUNS[rid]
        st = ct._step(
            catalog, r, r["layout"], int(r.get("sequence_length", 8192)), r["global_batch_tokens"]
        )
        out.append(
            Terms(
                rid,
                r["precision"],
                bool(r.get("fit")),
                st.tokens_per_s / r["published"] - 1,
                st.micro_batch_s * 1e3,
                st.gemm_s * 1e3,
                st.gemm_shape,
                st.attention_s * 1e3,
                st.memory_s * 1e3,
                st.tp_s * 1e3,
                st.pp_s * 1e3,
                st.head_s * 1e3,
                st.micro_batches,
                st.bubble_share,
            )
        )
    return out


def te_layer(catalog: Catalog) -> dict[str, float]:
    """The step model's per-layer GEMM ms on B300 at TE's worked example (its `6 · params · t`
    at `peak · sustained clock · gemm_efficiency · shape`, the shape each of TE's four linears'
    own since session s32 pergemm: training.linears_shape at TP1), per precision."""
    hw = hardware(catalog, "hgx-b300")
    assert hw is not None
    flops = 6.0 * TE_TOKENS * sum(k * n for k, n in TE_LINEARS)
    linears = tuple(
        dt.DenseLinear(f"te{i}", float(k), float(n), "column")
        for i, (k, n) in enumerate(TE_LINEARS)
    )
    out = {}
    for p in ("bf16", "fp8", "fp4"):
        f = dt.train_figures(hw, p)
        assert f is not None
        rate = f.peak_flops * f.sustained_clock_fraction * f.gemm_efficiency
        out[p] = flops / (rate * dt.linears_shape(TE_TOKENS, 1, linears, f)) * 1e3
    return out


def _per_gemm_shape(
    tokens: float, width: float, f: dt.TrainFigures, dims: tuple[int, ...]
) -> float:
    """FLOP-weighted harmonic shape over the four linears' forward, data- and weight-gradient
    GEMMs, each at its own K (dims: hidden, QKV width, FFN width, TP)."""
    h, nq, ffn, tp = dims
    if abs(width - h / tp) > 1e-9:  # another GEMM (none in a dense Llama row): unchanged
        return dt._shape(tokens, width, f)
    w = f.gemm_half_width
    flops = time = 0.0
    for k_in, n_out, column in ((h, nq, True), (h, h, False), (h, 2 * ffn, True), (ffn, h, False)):
        k_l, n_l = (k_in, n_out / tp) if column else (k_in / tp, n_out)
        for k in (k_l, n_l, tokens):
            flops += k_l * n_l
            time += k_l * n_l * (k + w) / k
    return tokens / (tokens + f.gemm_half_tokens) * flops / time


@contextlib.contextmanager
def candidate(per_gemm: bool, fp4_cast_bytes: float | None) -> Iterator[None]:
    """Patch the step model for one candidate while the block runs (scratch, not the model)."""
    shape, figures, predict = dt._shape, ct.train_figures, ct.predict
    dims: dict[str, tuple[int, ...]] = {}

    def tf(hw: Any, precision: str) -> dt.TrainFigures | None:
        f = figures(hw, precision)
        if f is not None and precision == "fp4" and fp4_cast_bytes is not None:
            f = replace(f, cast_bytes_per_hidden=fp4_cast_bytes)
        return f

    def pred(run: dict[str, Any], catalog: Catalog | None = None) -> float:
        cat = catalog or load_catalog()
        dims.pop("d", None)
        if per_gemm and run["model"] in LLAMA_FFN:
            a = cat.models[run["model"]]
            tp = (run.get("layout") or run.get("base", {}).get("layout") or {}).get("tp", 1)
            kv = 2 * a.kv_heads * (a.hidden // a.heads)
            dims["d"] = (a.hidden, a.hidden + kv, LLAMA_FFN[run["model"]], tp)
        return predict(run, cat)

    def sh(tokens: Any, width: Any, f: dt.TrainFigures) -> Any:
        d = dims.get("d")
        return shape(tokens, width, f) if d is None else _per_gemm_shape(tokens, width, f, d)

    ct.train_figures = tf
    ct.predict = pred
    if per_gemm:
        dt._shape = sh
    try:
        yield
    finally:
        dt._shape, ct.train_figures, ct.predict = shape, figures, predict


def _overlay(
    fractions: dict[tuple[str, str], float], half_widths: dict[str, int], tmp: Path
) -> Catalog:
    per_acc: dict[str, dict[str, float]] = {}
    for (acc, prec), e in fractions.items():
        for a in FITS[(acc, prec)][1]:
            per_acc.setdefault(a, {})[prec] = e
    text = "accelerators:\n"
    for a in sorted(set(per_acc) | set(half_widths)):
        text += f"  {a}:\n    training:\n"
        if a in per_acc:
            text += (
                "      gemm_efficiency: {"
                + ", ".join(f"{p}: {e}" for p, e in per_acc[a].items())
                + "}\n"
            )
        if a in half_widths:
            text += f"      gemm_half_width: {{fp4: {half_widths[a]}}}\n"
    path = tmp / "overlay.yaml"
    path.write_text(text)
    clear_physics_caches()
    return load_catalog([path])


def refit(
    keys: list[tuple[str, str]], half_widths: dict[str, int], tmp: Path
) -> tuple[dict[tuple[str, str], float], Catalog]:
    """Each figure of `keys` in turn on a 0.01 grid over 0.25-0.99 minimising its fit rows'
    mean absolute error (the documented procedures; GB200 FP8's single row: its |error|)."""
    fractions: dict[tuple[str, str], float] = {}
    for key in keys:
        ids = FITS[key][0]

        def mae(e: float, key: tuple[str, str] = key, ids: tuple[str, ...] = ids) -> float:
            cat = _overlay({**fractions, key: e}, half_widths, tmp)
            return sum(abs(ct.predict(RUNS[i], cat) / RUNS[i]["published"] - 1) for i in ids) / len(
                ids
            )

        fractions[key] = min((i / 100 for i in range(25, 100)), key=mae)
    return fractions, _overlay(fractions, half_widths, tmp)


def errors(catalog: Catalog, run_ids: list[str]) -> dict[str, float]:
    return {i: ct.predict(RUNS[i], catalog) / RUNS[i]["published"] - 1 for i in run_ids}


CANDIDATES: dict[str, tuple[bool, float | None, dict[str, int]]] = {
    "half_width_fp8": (False, None, {"gb300": 670, "b300": 670, "gb200": 560, "b200": 560}),
    "per_gemm": (True, None, {}),
    "nvfp4_cast": (False, float(NVFP4_CAST_BYTES_PER_HIDDEN), {}),
    "both": (True, float(NVFP4_CAST_BYTES_PER_HIDDEN), {}),
}


def run_candidate(name: str, tmp: Path) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    per_gemm, cast, half_widths = CANDIDATES[name]
    ids = [r["id"] for r in fp4_rows()] + list(TWINS.values())
    keys = [k for k in FITS if k[1] == "fp4" or per_gemm]
    with candidate(per_gemm, cast):
        fractions, cat = refit(keys, half_widths, tmp)
        return fractions, errors(cat, ids)


def main(argv: list[str]) -> None:
    cat = load_catalog()
    ids = []
    for r in fp4_rows():
        ids.append(r["id"])
        if r["id"] in TWINS:
            ids.append(TWINS[r["id"]])
    print(
        "row                                                  prec fit   err    mb ms  gemm  shape  attn   mem    tp    pp  head  n_mb bubble"
    )
    for t in decompose(cat, ids):
        print(
            f"{t.run_id[:52]:52s} {t.precision} {'fit' if t.fit else '   '} {t.error:+6.1%} {t.micro_batch_ms:7.1f} "
            f"{t.gemm_ms:6.1f} {t.shape:5.3f} {t.attention_ms:5.1f} {t.memory_ms:5.1f} {t.tp_ms:5.1f} "
            f"{t.pp_ms:5.1f} {t.head_ms:5.1f} {t.micro_batches:5.0f} {t.bubble:.3f}"
        )
    te = te_layer(cat)
    print("\nTE B300 worked example, per-layer GEMM ms: model / TE autocast / TE pre-quantised")
    for p in ("bf16", "fp8", "fp4"):
        print(
            f"  {p}: {te[p]:6.2f} / {TE_B300_AUTOCAST_MS[p]:6.3f} / {TE_B300_PREQUANT_MS[p]:6.3f}"
        )
    print(
        f"  MXFP8/NVFP4 time ratio: model {te['fp8'] / te['fp4']:.3f}, TE autocast "
        f"{TE_B300_AUTOCAST_MS['fp8'] / TE_B300_AUTOCAST_MS['fp4']:.3f}, pre-quantised "
        f"{TE_B300_PREQUANT_MS['fp8'] / TE_B300_PREQUANT_MS['fp4']:.3f}; NVFP4/MXFP8 quantisation "
        f"overhead {NVFP4_CAST_RATIO:.3f} -> {NVFP4_CAST_BYTES_PER_HIDDEN} B a hidden element"
    )
    if "--candidates" not in argv:
        return
    base = errors(cat, [r["id"] for r in fp4_rows()] + list(TWINS.values()))
    with tempfile.TemporaryDirectory() as d:
        results = {name: run_candidate(name, Path(d)) for name in CANDIDATES}
    print(
        "\nrefitted: "
        + "; ".join(
            f"{n}: " + ", ".join(f"{a} {p} {e:.2f}" for (a, p), e in fr.items())
            for n, (fr, _) in results.items()
        )
    )
    print(f"{'row':60s} {'now':>7s} " + " ".join(f"{n:>15s}" for n in CANDIDATES))
    for rid, e in base.items():
        fit = " (fit)" if RUNS[rid].get("fit") else ""
        print(
            f"{(rid + fit)[:60]:60s} {e:+7.1%} "
            + " ".join(f"{results[n][1][rid]:+15.1%}" for n in CANDIDATES)
        )
    columns = {"now": base, **{n: r[1] for n, r in results.items()}}
    for label, keep in (
        ("FP4 rows' MAE", [r["id"] for r in fp4_rows()]),
        ("Megatron-Bridge NVFP4 MAE", list(TWINS)),
    ):
        print(f"{label:60s} " + " ".join(f"{mae(columns[n], keep):15.1%}" for n in columns))
    inside = [r["id"] for r in fp4_rows()]
    print(
        f"{'FP4 rows within tolerance':60s} "
        + " ".join(f"{in_band(columns[n], inside):15d}" for n in columns)
    )


def mae(errs: dict[str, float], keep: list[str]) -> float:
    return sum(abs(errs[i]) for i in keep) / len(keep)


def in_band(errs: dict[str, float], keep: list[str]) -> int:
    """Rows whose value (published x (1 + error)) is within the row's tolerance."""
    return sum(ct.within(RUNS[i], RUNS[i]["published"] * (1 + errs[i])) for i in keep)


if __name__ == "__main__":
    main(sys.argv[1:])
