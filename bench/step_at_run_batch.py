"""The planner's decode step at the MLPerf runs' own in-flight batch (analysis; no model change).

Each MLPerf Inference v5.1 `mlperf_log_summary.txt` of a Server or Interactive run gives its
completed samples/s, mean latency, mean TTFT and mean / p99 TPOT. Little's law gives the sequences
the run had in its decode phase: samples/s x (mean latency - mean TTFT), per instance divided by
the system's instances (GPUs / (TP x PP) of the run's config). This prints, per run, the planner's
mean TPOT (step + prefill chunk) and its p99 bound at that batch on the run's own layout, against
the measured, and the gap (measured - planner mean) per transformer layer: the figures of
docs/models.md "CUDA graphs and host time at the runs' batches" (session hostover).

    PYTHONPATH=$PWD python bench/step_at_run_batch.py
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.catalog import Catalog, load_catalog
from planner.calibration.serving import pinned_step

RESULTS = "mlcommons/inference_results_v5.1 @965182b0 closed/NVIDIA/results"
# The H200 runs (h200-checks) and the MI325X runs (mi325x-checks): other submitters'
# directories of the same repository and commit.
H200_RESULTS = "mlcommons/inference_results_v5.1 @965182b0 closed"
# The B300 runs (b300-checks): MLPerf Inference v6.0, the results mirror.
B300_RESULTS = "github.com/gbeezybez/inference_results_v6.0 @232fbf90 closed"


@dataclass(frozen=True)
class Run:
    """One measured Server/Interactive run: its mlperf_log_summary.txt figures and layout."""

    point: str  # the planner/calibration/serving.yaml id that describes the run's workload
    log: str  # under RESULTS (H200_RESULTS: H200_RUNS, MI325X_RUNS; B300_RESULTS: B300_RUNS)
    samples_per_s: float
    mean_latency_s: float
    mean_ttft_s: float
    tpot_mean_ms: float
    tpot_p99_ms: float
    gpus: int  # GPUs of the measured system
    tp: int
    pp: int = 1
    ep: int = 1  # expert-parallel ranks of an instance (attention data-parallel: TP1 x EP ranks)

    @property
    def instances(self) -> int:
        return self.gpus // (self.tp * self.pp * self.ep)

    @property
    def in_flight(self) -> float:
        """Little's law: sequences in their decode phase per instance."""
        return self.samples_per_s * (self.mean_latency_s - self.mean_ttft_s) / self.instances


RUNS = (
    Run(
        "mlperf51-b200-llama2-70b-interactive",
        "B200-SXM-180GBx8_TRT/llama2-70b-99/Interactive",
        218.82,
        9.340421103,
        0.069025796,
        34.209789,
        38.148975,
        8,
        1,
    ),
    Run(
        "mlperf51-gb200-llama2-70b-interactive",  # config not published: TP1 as its Server's
        "GB200-NVL72_GB200-186GB_aarch64x4_TRT/llama2-70b-99/Interactive",
        109.31,
        8.345171720,
        0.057914256,
        30.583382,
        33.563603,
        4,
        1,
    ),
    Run(
        "mlperf51-gb200-llama2-70b-server",
        "GB200-NVL72_GB200-186GB_aarch64x4_TRT/llama2-70b-99/Server",
        178.48,
        32.028092549,
        0.217699203,
        115.852553,
        129.867240,
        4,
        1,
    ),
    Run(
        "mlperf51-b200-llama31-405b-interactive",
        "B200-SXM-180GBx8_TRT/llama3.1-405b/Interactive",
        1.15,
        41.659912610,
        0.999821257,
        62.316285,
        77.696851,
        8,
        4,
    ),
    Run(
        "mlperf51-b200-llama31-405b-server",
        "B200-SXM-180GBx8_TRT/llama3.1-405b/Server",
        1.90,
        67.571967434,
        1.626050224,
        101.335090,
        138.244507,
        8,
        4,
    ),
    Run(
        "mlperf51-gb200-llama31-405b-interactive",
        "GB200-NVL72_GB200-186GB_aarch64x72_TRT/llama3.1-405b/Interactive",
        15.18,
        44.460077842,
        1.365099450,
        66.169012,
        72.155218,
        72,
        4,
    ),
    Run(
        "mlperf51-gb200-llama31-405b-server",
        "GB200-NVL72_GB200-186GB_aarch64x72_TRT/llama3.1-405b/Server",
        17.72,
        69.522662834,
        1.441175794,
        104.260539,
        128.007502,
        72,
        4,
    ),
    Run(
        "mlperf51-gb300-llama31-405b-server",
        "GB300-NVL72_GB300-288GB_aarch64x72_TRT/llama3.1-405b/Server",
        19.46,
        49.269830461,
        1.778861786,
        75.739203,
        100.139194,
        72,
        2,
    ),
    Run(
        "mlperf51-b200-llama31-8b-interactive",
        "B200-SXM-180GBx8_TRT/llama3.1-8b/Interactive",
        797.76,
        3.106793037,
        0.113398388,
        23.388168,
        27.909564,
        8,
        1,
    ),
    Run(
        "mlperf51-b200-llama31-8b-server",
        "B200-SXM-180GBx8_TRT/llama3.1-8b/Server",
        996.53,
        4.232198774,
        0.586773623,
        28.482625,
        42.112172,
        8,
        1,
    ),
)


# The same figures for the H200 runs (Hopper, FP8, TensorRT-LLM C++ executor without CUDA graphs,
# as the Blackwell runs above): the H100 serving model's out-of-sample check at the runs' batches.
H200_RUNS = (
    Run(
        "mlperf51-h200-llama2-70b-interactive",
        "Nebius/results/H200-SXM-141GBx8_TRT/llama2-70b-99/Interactive",
        79.16,
        10.902797408,
        0.137931393,
        37.052760,
        39.642461,
        8,
        1,
    ),
    Run(
        "mlperf51-h200-llama2-70b-server",
        "Nebius/results/H200-SXM-141GBx8_TRT/llama2-70b-99/Server",
        115.59,
        54.547145666,
        0.589944180,
        184.197903,
        195.578381,
        8,
        1,
    ),
    Run(
        "mlperf51-h200-llama31-405b-interactive",
        "Nebius/results/H200-SXM-141GBx8_TRT/llama3.1-405b/Interactive",
        0.31,
        30.113034709,
        1.518542387,
        44.273454,
        74.379707,
        8,
        8,
    ),
    Run(
        "mlperf51-h200-llama31-405b-server",
        "Nebius/results/H200-SXM-141GBx8_TRT/llama3.1-405b/Server",
        0.45,
        38.038254686,
        1.826286556,
        56.181492,
        103.435731,
        8,
        8,
    ),
    Run(
        "mlperf51-h200-llama31-8b-interactive",
        "HPE/results/HPE_Cray_XD670_H200_SXM_141GBx8_TRT/llama3.1-8b/Interactive",
        414.53,
        3.109417514,
        0.042735879,
        23.958449,
        29.049884,
        8,
        1,
    ),
    Run(
        "mlperf51-h200-llama31-8b-server",
        "HPE/results/HPE_Cray_XD670_H200_SXM_141GBx8_TRT/llama3.1-8b/Server",
        503.21,
        9.731982487,
        0.177715285,
        74.642712,
        90.350667,
        8,
        1,
    ),
)


# The HGX/DGX B300 Server runs (b300-checks, MLPerf v6.0: NVIDIA's DGX B300 and GigaComputing's
# G894 for Llama 3.1 8B), logs under B300_RESULTS/<submitter>/results/<system>/<benchmark>/Server.
B300_RUNS = (
    Run(
        "mlperf6-b300-llama2-70b-server",
        "NVIDIA/results/B300-SXM-270GBx8_TRT/llama2-70b-99/Server",
        393.11,
        34.069935081,
        0.327482428,
        123.937588,
        154.875532,
        8,
        1,
    ),
    Run(
        "mlperf6-b300-llama31-405b-server",
        "NVIDIA/results/B300-SXM-270GBx8_TRT/llama3.1-405b/Server",
        2.29,
        77.461144955,
        1.839542050,
        118.816719,
        128.003104,
        8,
        2,
    ),
    Run(
        "mlperf6-b300-llama31-8b-server",
        "GigaComputing/results/G894-SD3-AAX7_B300-SXM-270GBx8_TRT/llama3.1-8b/Server",
        1096.77,
        3.701711955,
        0.064162281,
        28.418356,
        32.039213,
        8,
        1,
    ),
    Run(
        "mlperf6-b300-gptoss-server",
        "NVIDIA/results/B300-SXM-270GBx8_TRT/gpt-oss-120b/Server",
        76.66,
        59.917614843,
        0.165236054,
        45.722314,
        52.707923,
        8,
        1,
    ),
    Run(
        "mlperf6-b300-dsr1-server",
        "NVIDIA/results/B300-SXM-270GBx8_TRT/deepseek-r1/Server",
        11.39,
        222.444312406,
        0.516344243,
        59.389965,
        61.657362,
        8,
        1,
        ep=8,
    ),
)


# AMD's MI325X runs (mi325x-checks: vLLM on ROCm, one TP1 engine a GPU, FP8), under H200_RESULTS:
# the MI300X-fitted model at the MI325X runs' own batches. Server: the step is slow (the runs pin a
# higher clock than the MI300X fit runs); Interactive (vLLM V1, eager): the step is short.
MI325X_RUNS = (
    Run(
        "mlperf51-mi325x-llama2-70b-server",
        "AMD/results/8xMI325X_2xEPYC_9575F_1/llama2-70b-99/Server",
        106.28,
        44.905421880,
        0.883894465,
        148.690311,
        198.309854,
        8,
        1,
    ),
    Run(
        "mlperf51-mi325x-llama2-70b-interactive",
        "AMD/results/8xMI325X_2xEPYC_9575F_2/llama2-70b-99/Interactive",
        61.24,
        10.670346921,
        0.117895427,
        35.266243,
        39.838610,
        8,
        1,
    ),
)


@dataclass(frozen=True)
class AtBatch:
    run: Run
    layers: int
    batch: int
    planner_mean_ms: float
    planner_p99_ms: float

    @property
    def gap_ms(self) -> float:
        return self.run.tpot_mean_ms - self.planner_mean_ms

    @property
    def gap_per_layer_us(self) -> float:
        return self.gap_ms / self.layers * 1e3


def at_batch(run: Run, catalog: Catalog) -> AtBatch:
    """The planner's mean and bounded (p99) TPOT at the run's in-flight batch, its layout."""
    batch = round(run.in_flight)
    arch, _, terms = pinned_step(run.point, catalog, run.tp, run.pp, run.ep, batch)
    return AtBatch(run, arch.layers, batch, terms.tpot_s * 1e3, terms.tpot_bound_s * 1e3)


def main() -> None:
    catalog = load_catalog()
    print(
        f"{'run':40} {'B':>6} {'measured mean/p99':>18} {'planner mean/p99':>17} "
        f"{'ratio':>6} {'gap ms':>7} {'us/layer':>8} {'p99-mean meas/plan':>19}"
    )
    for run in (*RUNS, *H200_RUNS, *B300_RUNS, *MI325X_RUNS):
        r = at_batch(run, catalog)
        print(
            f"{run.point:40} {run.in_flight:6.1f} {run.tpot_mean_ms:8.1f} /{run.tpot_p99_ms:6.1f}"
            f"   {r.planner_mean_ms:7.1f} /{r.planner_p99_ms:6.1f} "
            f"{run.tpot_mean_ms / r.planner_mean_ms:6.2f} {r.gap_ms:7.1f} {r.gap_per_layer_us:8.0f}"
            f" {run.tpot_p99_ms - run.tpot_mean_ms:9.1f} /{r.planner_p99_ms - r.planner_mean_ms:6.1f}"
        )
    print(f"(logs: {RESULTS}/<run>/performance/run_1/mlperf_log_summary.txt; the h200 runs:")
    print(f" {H200_RESULTS}/<run>/performance/run_1/mlperf_log_summary.txt, as the mi325x runs;")
    print(" the b300 runs:")
    print(f" {B300_RESULTS}/<run>/performance/run_1/mlperf_log_summary.txt)")


if __name__ == "__main__":
    main()
