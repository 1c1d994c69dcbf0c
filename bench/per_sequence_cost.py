"""Does a per-sequence cost per decode step explain the Blackwell Llama 3.1 8B misses? (analysis;
a negative result, no model change)

Hypothesis (session perseq): each decode step pays c_seq seconds per sequence in the batch of
an attention replica (sampling over the 128,256-word vocabulary, the scheduler's per-request
bookkeeping, KV block-table updates, streaming the token back), so the 8B runs, which hold
hundreds to thousands of sequences a GPU on a small per-sequence model, pay a larger share of
their step in it than the 70B / 405B runs. Per attention replica (one TP group's executor and
sampler: the scheduler, the sampler and the response path run once per replica for its own
sequences), so step += c_seq x B / d on a layout of d attention replicas (d = 1: dense models).

1. *Physics.* The MLPerf harness decodes greedily (top_k 1, temperature 0, beam 1:
   closed/NVIDIA/code/llama3_1-8b/tensorrt/generation_config.json, mlcommons/
   inference_results_v5.1 @965182b0) and returns token ids to LoadGen (no detokenisation). What
   scales with the sequences on the GPU is the output head's logits: written by the LM-head GEMM
   and read by the top-1 kernel, FP32 (the upper bound; 4 B a word) = 2 x vocab x 4 B a sequence
   at the HBM rate (hbm_bandwidth x hbm_bandwidth_utilisation). `logits_s_per_sequence`.
2. *What the runs imply.* At each Server / Interactive run's own batch (Little's law,
   bench/step_at_run_batch.py) the per-sequence cost that would close its mean-TPOT gap is
   gap / B; for the Offline runs (TP1, a memory-bound batch that the term does not move) it is the
   gap per output token, 1 / published - 1 / planner (a step of B sequences yields B tokens).
   `implied_per_run`. A per-sequence cost gives the same c_seq on every run of one engine and
   system, and the Server / Interactive pair of one system gives its slope: (gap_S - gap_I) /
   (B_S - B_I) (`pair_slope`).
3. *The term in the model, scratch* (`per_sequence_term`): c_seq x B / d added to every decode
   step (StepPhysics.terms and StepArrays.step_s, the tpot floor's per-sequence slope too) on the
   accelerators named. The fitted figure: one c_seq per accelerator (b200), fitted on the two B200
   8B points whose batch does not depend on the latency bound's tail (mlperf51-b200-llama31-8b-
   offline and -server: grid 0.5 us over 0-40 us, least mean |error|); then every serving row.

    PYTHONPATH=$PWD python bench/per_sequence_cost.py
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hardware.catalog import Catalog, load_catalog

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_at_run_batch import H200_RUNS, RUNS, at_batch  # noqa: E402

import planner.demand.serving_physics as sp  # noqa: E402
from planner.calibration.serving import point_value, points  # noqa: E402
from planner.demand.inference import clear_physics_caches  # noqa: E402

LOGIT_BYTES = 4  # FP32 logits (upper bound: the LM head may write BF16)
LOGIT_PASSES = 2  # written by the LM-head GEMM, read by the greedy top-1 kernel
# The Offline 8B runs (TP1: one GPU an instance), the per-token reading of the gap
OFFLINE_8B = ("mlperf51-b200-llama31-8b-offline", "mlperf51-h200-llama31-8b-offline")
FIT_POINTS = ("mlperf51-b200-llama31-8b-offline", "mlperf51-b200-llama31-8b-server")
GRID_US = [x / 2 for x in range(0, 81)]  # 0 ... 40 us, 0.5 us


def logits_s_per_sequence(vocab: int, hbm_bytes_per_s: float, utilisation: float) -> float:
    """Seconds a decode step spends per sequence writing and reading its FP32 logits."""
    return LOGIT_PASSES * vocab * LOGIT_BYTES / (hbm_bytes_per_s * utilisation)


def physics_per_sequence(catalog: Catalog) -> dict[str, float]:
    """us a sequence, per accelerator the runs use, of the logits' traffic (Llama 3.1's vocab)."""
    vocab = catalog.models["llama-3.1-8b"].vocab
    out = {}
    for name in ("b200", "gb200", "gb300", "h200-sxm", "h100-sxm"):
        acc = catalog.accelerators[name]
        out[name] = 1e6 * logits_s_per_sequence(
            vocab, acc.hbm_bandwidth_bytes_per_s, acc.serving.hbm_bandwidth_utilisation
        )
    return out


def implied_per_run(catalog: Catalog) -> list[tuple[str, float, float, float]]:
    """(run, sequences an instance, gap ms a step, implied c_seq us a sequence) of the
    Server / Interactive runs at their own batch and the Offline 8B runs per output token."""
    rows = []
    for run in (*RUNS, *H200_RUNS):
        r = at_batch(run, catalog)
        rows.append((run.point, run.in_flight, r.gap_ms, 1e3 * r.gap_ms / run.in_flight))
    by_id = {p.id: p for p in points()}
    for pid in OFFLINE_8B:
        p = by_id[pid]
        c = 1.0 / p.published - 1.0 / point_value(p, catalog)
        rows.append((pid, float("nan"), float("nan"), 1e6 * c))
    return rows


def pair_slope(rows: list[tuple[str, float, float, float]], a: str, b: str) -> float:
    """us a sequence: the slope of the gap between two runs of one system and engine."""
    ra = next(r for r in rows if r[0] == a)
    rb = next(r for r in rows if r[0] == b)
    return 1e3 * (rb[2] - ra[2]) / (rb[1] - ra[1])


def _accelerator_name(hw: sp.Hardware, base: Catalog) -> str | None:
    mine = hw.accelerator.model_dump(exclude={"serving"})
    return next(
        (k for k, a in base.accelerators.items() if a.model_dump(exclude={"serving"}) == mine),
        None,
    )


@contextlib.contextmanager
def per_sequence_term(per_seq_us: dict[str, float]) -> Iterator[None]:
    """Within the block every decode step on an accelerator of `per_seq_us` (catalog name -> us a
    sequence) pays c x B / d on top of its terms. Scratch: restores the model and clears the
    physics caches on exit."""
    base = load_catalog()
    init0, terms0, arrays0 = sp.StepPhysics.__init__, sp.StepPhysics.terms, sp.StepArrays.step_s

    def init(self: sp.StepPhysics, hw: sp.Hardware, load: sp.ModelLoad, lay: sp.Layout) -> None:
        init0(self, hw, load, lay)
        c = per_seq_us.get(_accelerator_name(hw, base) or "", 0.0) * 1e-6
        self._perseq_s = c / self.attention_replicas  # type: ignore[attr-defined]
        seq, dense, read, fixed = self._floor_slopes
        self._floor_slopes = (seq + self._perseq_s, dense, read, fixed)  # type: ignore[attr-defined]

    def terms(
        self: sp.StepPhysics, batch: int, with_chunk: bool, padded: bool = True
    ) -> sp.StepTerms:
        t = terms0(self, batch, with_chunk, padded)
        extra = batch * self._perseq_s  # type: ignore[attr-defined]
        if not extra:
            return t
        return dataclasses.replace(t, overhead_s=t.overhead_s + extra)

    def step_s(
        self: sp.StepArrays, i: np.ndarray, batch: np.ndarray, padded: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        step, imbalance = arrays0(self, i, batch, padded)
        c = np.array([self.steps[r]._perseq_s for r in i.tolist()], dtype=np.float64)  # type: ignore[attr-defined]
        return step + batch * c, imbalance

    sp.StepPhysics.__init__ = init  # type: ignore[method-assign]
    sp.StepPhysics.terms = terms  # type: ignore[method-assign]
    sp.StepArrays.step_s = step_s  # type: ignore[method-assign]
    clear_physics_caches()
    try:
        yield
    finally:
        sp.StepPhysics.__init__ = init0  # type: ignore[method-assign]
        sp.StepPhysics.terms = terms0  # type: ignore[method-assign]
        sp.StepArrays.step_s = arrays0  # type: ignore[method-assign]
        clear_physics_caches()


def serving_errors(catalog: Catalog) -> dict[str, float]:
    """planner / published - 1 of every serving row (bench/accuracy.py's serving families)."""
    return {p.id: point_value(p, catalog) / p.published - 1 for p in points()}


def fit(catalog: Catalog) -> tuple[float, dict[float, dict[str, float]]]:
    """The b200 c_seq (us) of least mean |error| on FIT_POINTS over GRID_US, and the errors."""
    by_id = {p.id: p for p in points()}
    table = {}
    for c in GRID_US:
        with per_sequence_term({"b200": c}):
            table[c] = {
                pid: point_value(by_id[pid], catalog) / by_id[pid].published - 1
                for pid in FIT_POINTS
            }
    best = min(GRID_US, key=lambda c: sum(abs(e) for e in table[c].values()))
    return best, table


STEP_FIT = (
    "inferencex-b200-llama3-70b-fp8-1k1k-76",
    "inferencex-b200-llama3-70b-fp8-1k1k-108",
    "inferencex-b200-llama3-70b-fp8-1k1k-139",
)
FP4_FIT = ("mlperf5-b200-llama2-70b-server", "inferencex-b200-dsr1-fp4-1k1k-125")
# step_overhead: fitted on b200, taken by gb200, h100-sxm and h200-sxm (catalog source texts)
STEP_TAKERS = ("b200", "gb200", "h100-sxm", "h200-sxm")


def overlay(step_ms: float, u_fp4: float) -> Catalog:
    """The catalog with step_overhead on STEP_TAKERS and b200 / gb200 fp4 compute_utilisation."""
    body = "accelerators:\n"
    for a in STEP_TAKERS:
        body += f"  {a}:\n    serving:\n      step_overhead: {step_ms} ms\n"
        if a in ("b200", "gb200"):
            body += f"      compute_utilisation: {{fp4: {u_fp4:.2f}}}\n"
    clear_physics_caches()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "perseq_refit.yaml"
        path.write_text(body)
        return load_catalog([path])


def refit(c_us: float) -> tuple[float, float]:
    """With c_us on b200: step_overhead (grid 0.05 ms over 0-4 ms, least mean |error| on
    STEP_FIT, the catalog's procedure), then b200 fp4 compute_utilisation (0.01 over 0.30-0.60
    on FP4_FIT), twice in turn; (step_overhead ms, u)."""
    by_id = {p.id: p for p in points()}

    def mae(ids: tuple[str, ...], cat: Catalog) -> float:
        return sum(abs(point_value(by_id[i], cat) / by_id[i].published - 1) for i in ids) / len(ids)

    step, u = 3.25, 0.39
    with per_sequence_term({"b200": c_us}):
        for _ in range(2):
            step = min((x / 20 for x in range(0, 81)), key=lambda s: mae(STEP_FIT, overlay(s, u)))
            u = min((x / 100 for x in range(30, 61)), key=lambda x: mae(FP4_FIT, overlay(step, x)))
    return step, u


def main() -> None:
    catalog = load_catalog()
    print("logits traffic a sequence (2 x 128,256 x 4 B at the HBM rate), us:")
    for name, us in physics_per_sequence(catalog).items():
        print(f"  {name:9} {us:6.3f}")
    rows = implied_per_run(catalog)
    print(f"\n{'run':40} {'B':>7} {'gap ms':>7} {'c_seq us':>9}")
    for pid, b, gap, c in rows:
        print(f"{pid:40} {b:7.1f} {gap:7.2f} {c:9.2f}")
    for a, b in (
        ("mlperf51-b200-llama31-8b-interactive", "mlperf51-b200-llama31-8b-server"),
        ("mlperf51-h200-llama31-8b-interactive", "mlperf51-h200-llama31-8b-server"),
        ("mlperf51-gb200-llama2-70b-interactive", "mlperf51-gb200-llama2-70b-server"),
    ):
        print(f"slope {a} -> {b}: {pair_slope(rows, a, b):+.2f} us a sequence")
    best, table = fit(catalog)
    print(f"\nb200 c_seq fit on {FIT_POINTS}: {best} us")
    for c in (1.0, 5.0, 10.0, best):
        print(f"  c {c:5.1f} us: " + ", ".join(f"{e:+.1%}" for e in table[c].values()))
    base = serving_errors(catalog)
    phys = physics_per_sequence(catalog)
    for label, figures in (
        ("physics (logits, every accelerator)", phys),
        (f"fitted {best} us on b200", {"b200": best}),
        (f"fitted {best} us on every NVIDIA accelerator", {a: best for a in phys}),
    ):
        with per_sequence_term(figures):
            now = serving_errors(catalog)
        moved = [(k, base[k], now[k]) for k in base if abs(now[k] - base[k]) >= 0.005]
        print(f"\n{label}: {len(moved)} rows move by >= 0.5 point")
        for k, b, n in sorted(moved, key=lambda r: r[2] - r[1]):
            print(f"  {k:48} {b:+7.1%} -> {n:+7.1%}")
    if "--refit" in sys.argv:
        step, u = refit(best)
        print(f"\nrefit with {best} us on b200: step_overhead {step} ms, b200 fp4 u {u:.2f}")
        cat = overlay(step, u)
        with per_sequence_term({"b200": best}):
            now = serving_errors(cat)
        moved = [(k, base[k], now[k]) for k in base if abs(now[k] - base[k]) >= 0.005]
        for k, b, n in sorted(moved, key=lambda r: r[2] - r[1]):
            print(f"  {k:48} {b:+7.1%} -> {n:+7.1%}")


if __name__ == "__main__":
    main()
