"""Is there an NVFP4-specific fixed cost per GEMM call in the Blackwell decode steps? (analysis;
a negative result, no model change)

Hypothesis (session fp4quant): NVFP4 GEMMs pay a fixed time per call that FP8 GEMMs do not
(quantising the BF16 activations to FP4 with one FP8 scale per 16 elements in the swizzled scale
layout, a kernel the engines would not fuse), and that time is the planner's short dense decode
step on the MLPerf v5.1 Blackwell Llama runs (NVFP4 weights), absent on Hopper FP8 (h200-checks).

1. The measured tables. `fit_law` (bench/dense_decode_bottom_up.py) fits t = t0 + N K bytes /
   rate to TensorRT-LLM 1.3.0rc10's small-M GEMMs (the collector's `Linear`, CUDA graphs on; rows
   committed in bench/data/dense_decode_kernels.yaml). `candidates` gives per Blackwell system the
   two readings of an FP4-only per-call time: t0(nvfp4) - t0(fp8), what NVFP4 pays beyond FP8 in
   the same collector (the hypothesis as stated), and t0(nvfp4) - t0(bf16), the whole quantised
   path's excess (what NVFP4 would pay if FP8's quantisation were fused and FP4's not).
2. The per-layer arithmetic. `gaps` sets 4 x the per-call time (QKV, O, gate+up, down) against
   each Blackwell run's measured gap a layer at its own batch (bench/step_at_run_batch.py) and
   against its Hopper FP8 twin's (same model and scenario, H200_RUNS).
3. The term in the model, scratch. `fp4_call_term` adds calls x t0 to each decode step whose
   GEMMs run NVFP4: a dense checkpoint at fp4 (4 calls a layer), an NVFP4 MoE checkpoint's routed
   experts (`moe_calls` a MoE layer: FC1's and FC2's inputs; NVIDIA's DeepSeek-R1 FP4 checkpoints
   keep every linear outside the MoE blocks in FP8/BF16, huggingface.co/nvidia/DeepSeek-R1-0528-
   FP4-v2: "compared to nvidia/DeepSeek-R1-0528-FP4, this checkpoint additionally quantizes the wo
   module in attention layers"); gpt-oss's MXFP4 experts are not NVFP4 and are left out. It is
   added to `step_overhead` for the layouts of that load only (a fixed time a step, the same on
   every layout: each chip runs every layer's GEMMs once per micro-batch). Prefill is not charged:
   a chunk rides the decode step's GEMM calls, and a prefill pass amortises a few us a call over
   thousands of tokens. `--refit` re-runs the fits the term touches by their documented
   procedures (catalog source texts): b200 compute_utilisation.fp4 (grid 0.01 over 0.30-0.60 on
   mlperf5-b200-llama2-70b-server and inferencex-b200-dsr1-fp4-1k1k-125), moe_layer_latency x
   moe_token_bandwidth (grid 2 us x 2 GB/s over 10-40 us x 50-90 GB/s on the six serving-moe
   points, b200 / gb200 / h100-sxm / gb300 moved together), twice in turn, then gb300
   compute_utilisation.fp4 (0.20-0.49 on the two GB300 405B points); ~3 minutes.

    PYTHONPATH=$PWD python bench/fp4_gemm_call.py [--refit]
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hardware.catalog import Catalog, load_catalog

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dense_decode_bottom_up import fit_law, law_rows  # noqa: E402
from step_at_run_batch import H200_RUNS, RUNS, at_batch  # noqa: E402

import planner.demand.serving_physics as sp  # noqa: E402
from planner.calibration.serving import point_value, points  # noqa: E402
from planner.demand.inference import clear_physics_caches  # noqa: E402

BLACKWELL = ("b200", "gb200", "gb300")  # the kernel tables' systems = the catalog's accelerators
DENSE_CALLS = 4  # QKV, O, gate+up, down: one activation quantisation each if none is fused
MOE_CALLS = 2  # routed experts: FC1's input (before dispatch) and FC2's (after the activation)
NVFP4_MOE = ("deepseek-r1",)  # MoE checkpoints whose routed experts are NVFP4 (gpt-oss: MXFP4)
# The Hopper FP8 twin of each Blackwell NVFP4 run: same model and scenario, same harness
TWIN = {
    "mlperf51-b200-llama2-70b-interactive": "mlperf51-h200-llama2-70b-interactive",
    "mlperf51-gb200-llama2-70b-interactive": "mlperf51-h200-llama2-70b-interactive",
    "mlperf51-gb200-llama2-70b-server": "mlperf51-h200-llama2-70b-server",
    "mlperf51-b200-llama31-405b-interactive": "mlperf51-h200-llama31-405b-interactive",
    "mlperf51-b200-llama31-405b-server": "mlperf51-h200-llama31-405b-server",
    "mlperf51-gb200-llama31-405b-interactive": "mlperf51-h200-llama31-405b-interactive",
    "mlperf51-gb200-llama31-405b-server": "mlperf51-h200-llama31-405b-server",
    "mlperf51-gb300-llama31-405b-server": "mlperf51-h200-llama31-405b-server",
    "mlperf51-b200-llama31-8b-interactive": "mlperf51-h200-llama31-8b-interactive",
    "mlperf51-b200-llama31-8b-server": "mlperf51-h200-llama31-8b-server",
}
SYSTEM = {r: r.split("-")[1] for r in TWIN}  # the run's accelerator: mlperf51-<system>-...


def candidates() -> dict[str, tuple[float, float]]:
    """Per Blackwell system, us a call: (t0 nvfp4 - t0 fp8, t0 nvfp4 - t0 bf16)."""
    rows = law_rows()
    out = {}
    for system in BLACKWELL:
        t0 = {d: fit_law(rows, system, d)[0] for d in ("bfloat16", "fp8", "nvfp4")}
        out[system] = (t0["nvfp4"] - t0["fp8"], t0["nvfp4"] - t0["bfloat16"])
    return out


def nvfp4_calls(load: sp.ModelLoad, base: Catalog, dense_calls: float, moe_calls: float) -> float:
    """GEMM calls a decode step whose activations are quantised to NVFP4 (per chip, per step)."""
    arch = load.arch
    if arch.moe is None:
        return dense_calls * arch.layers if load.dense_precision == "fp4" else 0.0
    nvfp4_moe = any(arch == base.models[m] for m in NVFP4_MOE)
    return moe_calls * arch.moe_layers if load.precision == "fp4" and nvfp4_moe else 0.0


@contextlib.contextmanager
def fp4_call_term(
    per_call_us: dict[str, float], dense_calls: float = DENSE_CALLS, moe_calls: float = MOE_CALLS
) -> Iterator[None]:
    """Within the block, every decode step on an accelerator of `per_call_us` (catalog name ->
    us a call) pays nvfp4_calls x that time on top of step_overhead. Scratch: restores the model
    and clears the physics caches on exit."""
    base = load_catalog()
    original = sp.StepPhysics.__init__

    def accelerator_name(hw: sp.Hardware) -> str | None:
        # serving figures may carry an overlay (the refits): match on everything else
        mine = hw.accelerator.model_dump(exclude={"serving"})
        return next(
            (k for k, a in base.accelerators.items() if a.model_dump(exclude={"serving"}) == mine),
            None,
        )

    def init(self: sp.StepPhysics, hw: sp.Hardware, load: sp.ModelLoad, lay: sp.Layout) -> None:
        original(self, hw, load, lay)
        t0 = per_call_us.get(accelerator_name(hw) or "")
        extra = nvfp4_calls(load, base, dense_calls, moe_calls) * (t0 or 0.0) * 1e-6
        if extra:
            overhead = self.figures.step_overhead_s + extra
            self.figures = self.figures.model_copy(update={"step_overhead_s": overhead})
            self._floor_slopes = self._tpot_floor_slopes()

    sp.StepPhysics.__init__ = init  # type: ignore[method-assign]
    clear_physics_caches()
    try:
        yield
    finally:
        sp.StepPhysics.__init__ = original  # type: ignore[method-assign]
        clear_physics_caches()


def errors(ids: list[str], catalog: Catalog) -> dict[str, float]:
    """planner / published - 1 of the serving points `ids`."""
    by_id = {p.id: p for p in points()}
    return {i: point_value(by_id[i], catalog) / by_id[i].published - 1 for i in ids}


def overlay_catalog(u_b200: float, lat_us: float, bw_gbps: float, u_gb300: float) -> Catalog:
    """The catalog with the refitted figures: b200/gb200 fp4 compute_utilisation, the MoE pair on
    every entry that takes b200's, gb300's fp4 compute_utilisation."""
    body = "accelerators:\n"
    for a in ("b200", "gb200", "h100-sxm", "gb300"):
        body += (
            f"  {a}:\n    serving:\n      moe_layer_latency: {lat_us} us\n"
            f"      moe_token_bandwidth: {bw_gbps} GB/s\n"
        )
        if a in ("b200", "gb200"):
            body += f"      compute_utilisation: {{fp4: {u_b200:.2f}}}\n"
        if a == "gb300":
            body += f"      compute_utilisation: {{fp4: {u_gb300:.2f}}}\n"
    clear_physics_caches()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fp4_refit.yaml"
        path.write_text(body)
        return load_catalog([path])


FP4_FIT = ["mlperf5-b200-llama2-70b-server", "inferencex-b200-dsr1-fp4-1k1k-125"]
GB300_FIT = ["mlperf51-gb300-llama31-405b-offline", "mlperf51-gb300-llama31-405b-server"]


def refit() -> tuple[float, float, float, float]:
    """The term's refits by the catalog's procedures (module docstring); (u_b200, latency us,
    bandwidth GB/s, u_gb300). Call inside fp4_call_term."""
    moe_fit = [p.id for p in points() if p.family == "serving-moe"]

    def mae(ids: list[str], cat: Catalog) -> float:
        return sum(abs(e) for e in errors(ids, cat).values()) / len(ids)

    u, lat, bw, u3 = 0.39, 30.0, 62.0, 0.28
    for _ in range(2):
        u = min(
            (x / 100 for x in range(30, 61)),
            key=lambda x: mae(FP4_FIT, overlay_catalog(x, lat, bw, u3)),
        )
        lat, bw = min(
            ((float(a), float(b)) for a in range(10, 42, 2) for b in range(50, 92, 2)),
            key=lambda ab: mae(moe_fit, overlay_catalog(u, ab[0], ab[1], u3)),
        )
    u3 = min(
        (x / 100 for x in range(20, 50)),
        key=lambda x: mae(GB300_FIT, overlay_catalog(u, lat, bw, x)),
    )
    return u, lat, bw, u3


def gaps(catalog: Catalog) -> list[tuple[str, float, float]]:
    """(run, measured gap a layer, its Hopper FP8 twin's gap a layer), us."""
    twins = {r.point: at_batch(r, catalog).gap_per_layer_us for r in H200_RUNS}
    return [(r.point, at_batch(r, catalog).gap_per_layer_us, twins[TWIN[r.point]]) for r in RUNS]


def main() -> None:
    catalog = load_catalog()
    cands = candidates()
    print("per-call time of the quantised path (us; TensorRT-LLM 1.3.0rc10 small-M GEMM law):")
    for system, (vs_fp8, vs_bf16) in cands.items():
        print(f"  {system:6} t0 nvfp4 - fp8 {vs_fp8:+5.1f}   nvfp4 - bf16 {vs_bf16:+5.1f}")
    print(
        f"\n{'run (us a layer)':40} {'gap':>5} {'H200 twin':>9} {'excess':>6} {'4 x (fp4-bf16)':>14}"
    )
    for run, gap, twin in gaps(catalog):
        four = DENSE_CALLS * cands[SYSTEM[run]][1]
        print(f"{run:40} {gap:5.0f} {twin:9.0f} {gap - twin:6.0f} {four:14.1f}")
    upper = {s: c[1] for s, c in cands.items()}
    ids = [p.id for p in points()]
    before = errors(ids, catalog)
    variants = {"dense only": (DENSE_CALLS, 0.0), "dense + MoE": (DENSE_CALLS, MOE_CALLS)}
    after = {}
    for name, (dc, mc) in variants.items():
        with fp4_call_term(upper, dc, mc):
            after[name] = errors(ids, catalog)
    by_id = {p.id: p for p in points()}
    print(f"\n{'point (planner error)':46} {'now':>7} " + " ".join(f"{v:>12}" for v in variants))
    for i in ids:
        moved = [after[v][i] for v in variants]
        if all(abs(m - before[i]) < 5e-4 for m in moved):
            continue
        p = by_id[i]
        flag = "miss" if p.known_miss else ""
        cells = " ".join(
            f"{m:+11.1%}{'!' if abs(m) > p.tolerance and not p.known_miss else ' '}" for m in moved
        )
        print(f"{i:46} {before[i]:+7.1%} {cells} (tol {p.tolerance:.2f}) {flag}")
    print("(!: a passing point out of its band; the term at t0 nvfp4 - bf16 a call)")
    if "--refit" in sys.argv:
        with fp4_call_term(upper):
            fit = refit()
            print(
                f"\nrefit: b200 fp4 u {fit[0]:.2f}, moe {fit[1]:.0f} us / {fit[2]:.0f} GB/s, "
                f"gb300 fp4 u {fit[3]:.2f}"
            )
            refitted = errors(ids, overlay_catalog(*fit))
        for i in ids:
            p = by_id[i]
            if abs(refitted[i] - before[i]) >= 5e-4:
                out = "!" if abs(refitted[i]) > p.tolerance and not p.known_miss else ""
                print(f"  {i:46} {before[i]:+7.1%} -> {refitted[i]:+7.1%}{out}")


if __name__ == "__main__":
    main()
