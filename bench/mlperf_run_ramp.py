"""The p99 − mean TPOT gap of the MLPerf Inference v6.0 DeepSeek-R1 Server runs (analysis; the
figures of docs/models.md "MLPerf runs are finite").

Each run's `mlperf_log_summary.txt` (github.com/gbeezybez/inference_results_v6.0 @232fbf90,
closed/<submitter>/results/<system>/deepseek-r1/<Server|Interactive>/performance/run_1) gives the loadgen's
query count (min_query_count), its scheduled and completed samples/s, the mean latency and the
per-request TPOT's mean, p50, p90, p99, min and max. Printed per run: the issue window T = Q /
scheduled rate, the last query's latency (Q − 1) / completed − T, the measured gap p99 − mean,
the planner's steady tail (tpot_tail.py, at its own batch) and, for the runs named in SIMULATE,
a simulation of the run itself on the planner's step: Poisson arrivals at the run's scheduled rate
per instance for Q / instances queries, output lengths drawn from the point's
output_tokens_percentiles law (scaled to its mean), each step the planner's decode step at the
sequences then in flight (StepPhysics.terms: step_s, linear between computed batches) plus one
whole-prompt prefill (the point's chunk_s per admitted prompt, s_p = chunk_s · O / (B · t)) per
prompt admitted that step (the configs' enable_chunked_context False), every sequence one token a
step; a request's TPOT = (finish − first token) / (n − 1), as the loadgen's. The load ramps from
empty over the issue window and drains after it, so requests see every batch from 0 to the peak:
the spread of TPOT over requests is the run's ramp, not a per-step stall.

    PYTHONPATH=$PWD python bench/mlperf_run_ramp.py           # table + simulations (~1 min)
    PYTHONPATH=$PWD python bench/mlperf_run_ramp.py --no-sim  # the table only
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from hardware.catalog import Catalog, load_catalog
from planner.calibration.serving import pinned_step, points, predict
from planner.demand.inference import clear_physics_caches
from planner.demand.tpot_tail import percentile_law


@dataclass(frozen=True)
class Log:
    """One run's mlperf_log_summary.txt figures (TPOT in ms)."""

    point: str  # the planner/calibration/serving.yaml point of the run
    log: str  # closed/<submitter>/results/<system>
    queries: int  # min_query_count
    scheduled: float  # Scheduled samples per second
    completed: float  # Completed samples per second
    mean_latency_s: float
    tpot_mean: float
    tpot_p50: float
    tpot_p90: float
    tpot_p99: float
    tpot_min: float
    tpot_max: float
    gpus: int

    @property
    def issue_s(self) -> float:
        return self.queries / self.scheduled

    @property
    def last_s(self) -> float:
        """The last query's latency: (Q − 1) / completed samples/s − the issue window."""
        return (self.queries - 1) / self.completed - self.issue_s


LOGS = (
    Log("mlperf6-gb200-dsr1-server", "NVIDIA/results/GB200-NVL72_GB200-186GB_aarch64x72_TRT",
        210624, 110.06, 89.59, 215.08, 58.31, 59.96, 70.43, 79.34, 28.31, 81.47, 72),
    Log("partners60-gb200-dsr1-server-coreweave-x64", "CoreWeave/results/GB200-NVL72_GB200-186GB_aarch64x64_TRT",
        210624, 96.05, 83.08, 209.36, 56.62, 59.32, 64.54, 67.51, 26.29, 68.85, 64),
    Log("partners60-gb200-dsr1-server-google", "Google/results/GB200-NVL72_GB200-186GB_aarch64x72_TRT",
        210624, 45.02, 42.45, 187.24, 51.11, 53.59, 58.78, 60.06, 21.8, 63.56, 72),
    Log("mlperf6-gb300-dsr1-server", "NVIDIA/results/GB300-NVL72_GB300-288GB_aarch64x72_TRT",
        219400, 110.02, 106.66, 207.41, 56.15, 57.68, 68.78, 76.06, 26.93, 160.3, 72),
    Log("partners60-gb300-dsr1-server-nebius-x72", "Nebius/results/GB300-NVL72_GB300-288GB_aarch64x72_TRT",
        219400, 165.04, 153.33, 228.62, 62.55, 63.0, 74.68, 77.88, 31.44, 261.84, 72),
    Log("partners60-gb300-dsr1-server-nvidia-x288", "NVIDIA/results/GB300-NVL72_GB300-288GB_aarch64x288_TRT",
        1053120, 429.73, 414.63, 195.16, 61.51, 55.53, 57.19, 60.64, 25.57, 1147751.57, 288),
    Log("partners60-gb300-dsr1-server-coreweave-x8", "CoreWeave/results/GB300-NVL72_GB300-288GB_aarch64x8_TRT",
        105312, 12.03, 11.88, 213.6, 57.01, 58.1, 59.18, 59.67, 26.84, 60.43, 8),
    Log("partners60-gb300-dsr1-server-nebius-x8", "Nebius/results/GB300-NVL72_GB300-288GB_aarch64x8_TRT",
        105312, 17.41, 17.18, 270.92, 72.42, 76.02, 77.09, 77.71, 32.72, 79.43, 8),
    Log("mlperf6-b300-dsr1-server", "NVIDIA/results/B300-SXM-270GBx8_TRT",
        105312, 11.53, 11.39, 222.44, 59.39, 60.68, 61.17, 61.66, 26.56, 63.73, 8),
    Log("partners60-b300-dsr1-server-cisco", "Cisco/results/C880A_M8_B300_288GBx8_TRT",
        105312, 16.04, 15.60, 276.61, 73.87, 78.15, 79.02, 79.74, 33.37, 83.16, 8),
    Log("partners60-b300-dsr1-server-dell-xe9780l", "Dell/results/XE9780L-B300-SXM-270GBx8_TRT",
        105312, 12.53, 12.37, 216.24, 57.58, 58.86, 59.45, 60.2, 28.17, 65.92, 8),
    Log("partners60-b300-dsr1-server-dell-xe9780", "Dell/results/XE9780_x86_B300-SXM-270GBx8_TRT",
        105312, 12.53, 12.37, 210.57, 56.05, 57.35, 57.87, 58.4, 28.31, 64.69, 8),
    Log("partners60-b300-dsr1-server-giga", "GigaComputing/results/G894-SD3-AAX7_B300-SXM-270GBx8_TRT",
        105312, 9.52, 9.46, 197.56, 52.6, 53.06, 53.89, 54.44, 24.67, 57.35, 8),
    Log("partners60-b300-dsr1-server-qct", "Quanta_Cloud_Technology/results/D75H-10U_B300-270GBx8_TRT",
        105312, 9.52, 9.46, 163.22, 43.53, 43.94, 44.29, 44.72, 23.99, 46.99, 8),
    Log("partners60-b300-dsr1-server-nebius", "Nebius/results/nebius_b300_n1",
        55312, 16.29, 16.05, 259.46, 69.31, 74.49, 78.56, 79.65, 34.44, 84.77, 8),
    Log("partners60-b200-dsr1-server-dell", "Dell/results/XE9780_x86_B200-SXM-180GBx8_TRT",
        26382, 11.10, 10.95, 222.47, 60.14, 63.59, 66.27, 66.82, 29.06, 68.7, 8),
    Log("partners60-b200-dsr1-server-google", "Google/results/B200-SXM-180GBx8_TRT",
        26382, 11.10, 10.96, 199.25, 53.62, 57.13, 58.46, 59.18, 27.64, 64.23, 8),
    Log("partners60-b200-dsr1-server-nebius", "Nebius/results/nebius_b200_n1",
        105312, 14.03, 13.81, 268.38, 71.86, 73.83, 74.99, 76.62, 33.88, 82.24, 8),
    Log("mlperf6-gb200-dsr1-interactive", "NVIDIA/results/GB200-NVL72_GB200-186GB_aarch64x72_TRT",
        144000, 64.16, 63.90, 43.93, 11.89, 11.85, 13.36, 14.53, 5.27, 17.68, 72),
    Log("mlperf6-gb300-dsr1-interactive", "NVIDIA/results/GB300-NVL72_GB300-288GB_aarch64x72_TRT",
        244800, 68.05, 66.90, 42.16, 11.54, 11.33, 12.74, 13.87, 0.0, 8071.53, 72),
)  # fmt: skip

SIMULATE = (
    "mlperf6-gb200-dsr1-server",
    "partners60-gb200-dsr1-server-coreweave-x64",
    "mlperf6-gb300-dsr1-server",
    "partners60-gb300-dsr1-server-nebius-x72",
    "mlperf6-b300-dsr1-server",
)
# Batches at which the planner's step is computed (linear between them).
STEP_BATCHES = (1, 16, 64, 128, 256, 512, 768, 1024, 1536, 2048, 2560, 3072, 3584, 4096, 5120, 6144)
# Layout of every run above: TP1 attention with attention DP over EP8 (the configs'
# tensor_parallelism 8 with enable_attention_dp, moe_expert_parallelism 8).
TP, PP, EP = 1, 1, 8


@dataclass(frozen=True)
class Simulated:
    mean: float
    p50: float
    p90: float
    p99: float
    low: float
    high: float
    peak: int  # the most sequences in flight on an instance


def simulate(run: Log, catalog: Catalog, seed: int = 1) -> Simulated:
    """The run on the planner's step (module docstring); TPOT figures in ms."""
    point = next(p for p in points() if p.id == run.point)
    spec = point.spec
    out_mean = spec.output_tokens
    decode, per_prompt = [], []
    for b in STEP_BATCHES:
        _, _, t = pinned_step(run.point, catalog, TP, PP, EP, b)
        decode.append(t.step_s)
        per_prompt.append(t.chunk_s * out_mean / (b * t.tokens_per_step))
    clear_physics_caches()
    s_p = float(np.median(per_prompt))
    instances = run.gpus // (TP * PP * EP)
    rate = run.scheduled / instances
    n_q = run.queries // instances
    rng = np.random.default_rng(seed)
    assert spec.output_law is not None
    tokens, quantiles = percentile_law(out_mean, spec.output_law)
    lengths = np.maximum(2, np.round(np.interp(rng.random(n_q), quantiles, tokens))).astype(int)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, n_q))
    batches = np.array(STEP_BATCHES, dtype=float)
    steps = np.array(decode)
    now, issued, peak = 0.0, 0, 0
    left = np.empty(0, dtype=int)
    first = np.empty(0)
    who = np.empty(0, dtype=int)
    tpot = np.zeros(n_q)
    engine = spec.engine
    cap = n_q
    if engine is not None and engine.max_sequences_per_accelerator is not None:
        cap = engine.max_sequences_per_accelerator * TP * PP * EP  # the engine's batch cap
    while issued < n_q or left.size:
        # admitted: the arrivals so far, FIFO, up to the engine's cap (the rest wait: TTFT)
        k = min(int(np.searchsorted(arrivals, now, side="right")), issued + cap - left.size)
        if left.size == 0 and k == issued:
            now = float(arrivals[issued])
            continue
        new = k - issued
        if new:
            left = np.concatenate([left, lengths[issued:k] - 1])
            first = np.concatenate([first, np.full(new, np.nan)])
            who = np.concatenate([who, np.arange(issued, k)])
            issued = k
        peak = max(peak, left.size)
        now += float(np.interp(left.size, batches, steps)) + new * s_p
        fresh = np.isnan(first)
        first[fresh] = now  # the prompt's first token ends the step that prefilled it
        left = left - (~fresh)
        done = left <= 0
        if done.any():
            tpot[who[done]] = (now - first[done]) / (lengths[who[done]] - 1)
            left, first, who = left[~done], first[~done], who[~done]
    ms = tpot * 1e3
    return Simulated(
        float(ms.mean()),
        *(float(np.percentile(ms, q)) for q in (50, 90, 99)),
        float(ms.min()),
        float(ms.max()),
        peak,
    )


def main() -> None:
    catalog = load_catalog()
    sim = "--no-sim" not in sys.argv
    by_id = {p.id: p for p in points()}
    print(
        f"{'point':44s} {'T s':>6s} {'L s':>5s} {'mean':>5s} {'p50':>5s} {'p90':>5s} "
        f"{'p99':>5s} {'min':>5s} {'gap':>5s} {'tail':>5s}  simulated on the planner's step"
    )
    for run in LOGS:
        est = predict(by_id[run.point], catalog)
        tail = est.step_terms_s.get("tpot_tail", 0.0) * 1e3
        line = (
            f"{run.point:44s} {run.issue_s:6.0f} {run.last_s:5.0f} {run.tpot_mean:5.1f} "
            f"{run.tpot_p50:5.1f} {run.tpot_p90:5.1f} {run.tpot_p99:5.1f} {run.tpot_min:5.1f} "
            f"{run.tpot_p99 - run.tpot_mean:5.1f} {tail:5.1f}"
        )
        if sim and run.point in SIMULATE:
            s = simulate(run, catalog)
            line += (
                f"  mean {s.mean:5.1f} p50 {s.p50:5.1f} p90 {s.p90:5.1f} p99 {s.p99:5.1f} "
                f"min {s.low:5.1f} gap {s.p99 - s.mean:5.1f} peak {s.peak}"
            )
        print(line)


if __name__ == "__main__":
    main()
