"""DeepSeek-R1 decode steps on GB200 and GB300 rebuilt from measured 2026 MoE kernel times (analysis; no
model change).

The planner's decode step charges an MoE layer its experts' weights, a balls-into-bins hot rank,
the all-to-all at the link rate, a fixed latency and a fitted per-routed-token cost
(moe_token_bandwidth, 62 GB/s of k x hidden x 3 B a token, fitted on 2025 runs). Here the MoE part
of the step is replaced by TensorRT-LLM's own kernels as measured on one GB200 / GB300 (aiconfigurator's
collector tables, below): the whole MoE module (routing, quantisation, permute, grouped GEMMs with
their weights, activation, finalize) on the hottest EP rank, for DeepSeek-V3/R1's shape (hidden
7,168, intermediate 2,048, 256 experts, top 8, NVFP4) with power-law routing (alpha 1.01: real
routing is skewed; `balanced` is the uniform case), plus the NVLink all-to-all's dispatch and
combine kernels. Attention, dense GEMMs, the prefill chunk and the step overhead stay the
planner's. Run against the MLPerf DeepSeek-R1 runs at their own batch (the same-config v5.1 and
v6.0 pairs of planner/calibration/serving.yaml), this separates the two rounds: the 2026 kernels
reproduce the v6.0 (2026 software) steps and leave the v5.1 (2025) steps ~40% longer than they
predict, so the fitted 62 GB/s is the 2025 software's MoE cost.

Adopted since for runs that name their TensorRT-LLM release (engine.tensorrt_llm_version:
planner/data/moe_kernels.csv, planner/demand/moe_kernels.py; docs/models.md, Measured MoE module
tables): the planner's column here is its parametric step (pinned_step(parametric=True)), what
this comparison is about; the shipped model reads the whole token axis of the same power-law
tables and keeps the planner's all-to-all.

    PYTHONPATH=$PWD python bench/moe_kernel_bottom_up.py
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.catalog import Catalog, load_catalog
from planner.calibration.serving import pinned_step
from planner.demand.serving_physics import StepTerms

KERNEL_SOURCE = (
    "github.com/ai-dynamo/aiconfigurator @095f58a5 aic-core/src/aiconfigurator_core/systems/data/"
    "{gb200,gb300}/moe/trtllm/1.3.0rc10/moe_perf.parquet (kernel_source moe_torch_flow_cutlass, "
    "moe_dtype nvfp4, moe_tp_size 1) and .../gb200/comm/trtllm/1.3.0rc10/trtllm_alltoall_perf."
    "parquet (TensorRT-LLM 1.2.0rc6 rows, nvfp4; no GB300 table: the same NVLink 5 domain)"
)

# MoE module latency (us) on the hottest rank of EP `ep` for `tokens` tokens routed over the whole
# EP group (the collector runs one rank's experts over all tokens' routing): (tokens, us) rows.
# The power-law rows are a few random draws each (GB300's EP8 4,096 row is 377 us against GB200's
# 667 where the balanced rows are 327 and 368): a noisy measure of the skew.
MOE_US: dict[tuple[str, int, str], tuple[tuple[int, float], ...]] = {
    ("gb200", 8, "balanced"): (
        (1024, 312.0),
        (2048, 323.0),
        (4096, 367.5),
        (8192, 605.5),
        (16384, 1092.1),
    ),
    ("gb200", 8, "power_law_1.01"): (
        (1024, 366.8),
        (2048, 436.1),
        (4096, 666.8),
        (8192, 938.7),
        (16384, 1699.1),
    ),
    ("gb200", 16, "balanced"): (
        (1024, 144.0),
        (2048, 178.2),
        (4096, 235.4),
        (8192, 361.8),
        (16384, 621.9),
    ),
    ("gb200", 16, "power_law_1.01"): (
        (1024, 227.1),
        (2048, 282.4),
        (4096, 435.4),
        (8192, 643.8),
        (16384, 1219.4),
    ),
    ("gb300", 8, "balanced"): (
        (1024, 211.5),
        (2048, 249.0),
        (4096, 326.6),
        (8192, 491.7),
        (16384, 831.3),
    ),
    ("gb300", 8, "power_law_1.01"): (
        (1024, 218.6),
        (2048, 280.0),
        (4096, 377.0),
        (8192, 630.6),
        (16384, 1070.4),
    ),
    ("gb300", 16, "balanced"): (
        (1024, 142.2),
        (2048, 174.8),
        (4096, 230.6),
        (8192, 346.1),
        (16384, 575.6),
    ),
    ("gb300", 16, "power_law_1.01"): (
        (1024, 148.2),
        (2048, 198.6),
        (4096, 284.7),
        (8192, 452.9),
        (16384, 796.2),
    ),
}
# All-to-all kernels (us) per MoE layer at `tokens` per rank: one-sided dispatch + combine;
# two-sided prepare + dispatch + combine (the 2025 kind, measured in the same release).
A2A_US: dict[tuple[int, str], tuple[tuple[int, float], ...]] = {
    (8, "one_sided"): (
        (128, 22.0 + 37.4),
        (256, 28.1 + 56.4),
        (512, 43.4 + 104.5),
        (1024, 64.2 + 189.3),
        (2048, 107.1 + 351.1),
    ),
    (8, "two_sided"): (
        (128, 13.7 + 19.9 + 37.4),
        (256, 15.2 + 28.4 + 63.9),
        (512, 16.7 + 44.3 + 114.5),
        (1024, 20.0 + 75.2 + 215.5),
        (2048, 28.0 + 134.3 + 416.0),
    ),
    (16, "one_sided"): (
        (128, 23.6 + 40.8),
        (256, 30.2 + 63.7),
        (512, 46.7 + 117.4),
        (1024, 69.1 + 206.4),
        (2048, 114.6 + 376.7),
    ),
    (16, "two_sided"): (
        (128, 15.6 + 20.6 + 39.9),
        (256, 15.7 + 30.4 + 66.0),
        (512, 16.9 + 45.6 + 121.7),
        (1024, 20.9 + 78.4 + 228.9),
        (2048, 28.1 + 144.9 + 442.0),
    ),
}
MOE_LAYERS = 58  # DeepSeek-R1's routed layers (the MTP head's are not in the planner's step either)


def interpolate(rows: tuple[tuple[int, float], ...], x: float) -> float:
    """Linear between the two rows around x (the tables are measured at powers of two)."""
    for (x0, y0), (x1, y1) in zip(rows, rows[1:], strict=False):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    raise ValueError(f"{x} outside the table's {rows[0][0]}-{rows[-1][0]}")


@dataclass(frozen=True)
class Run:
    """One measured MLPerf DeepSeek-R1 run on GB200 or GB300 at its own batch."""

    point: str  # planner/calibration/serving.yaml id (workload, layout, engine)
    system: str  # the kernel table's: gb200 or gb300
    ep: int
    batch: int  # sequences in flight an instance (Offline: the config's cap; else Little's law)
    measured_step_ms: float  # Offline: batch / instance tok/s; else mean TPOT x tokens a step
    software: str


# Offline: 512 a GPU x 8 = 4,096 an instance (the cap), step = 4,096 / (tok/s/GPU x 8).
# Server / Interactive: Little's law from mlperf_log_summary.txt (samples/s x (mean latency - mean
# TTFT) / instances) and the log's mean TPOT x tokens a step (3.19 with MTP depth 3 at 85%).
RUNS = (
    Run("mlperf51-gb200-dsr1-offline", "gb200", 8, 4096, 4096 / (4024 * 8) * 1e3, "v5.1 (2025)"),
    Run("mlperf51-gb200-dsr1-server", "gb200", 8, 1072, 69.6, "v5.1 (2025)"),
    Run("mlperf6-gb200-dsr1-offline", "gb200", 8, 4096, 4096 / (6752 * 8) * 1e3, "v6.0 (2026)"),
    Run("mlperf6-gb200-dsr1-server", "gb200", 8, 2135, 58.31, "v6.0 (2026)"),
    Run("mlperf6-gb200-dsr1-interactive", "gb200", 16, 697, 11.89 * 3.19, "v6.0 (2026)"),
    # GB300: 1,280 a GPU x 8 = 10,240 an instance Offline; Server v5.1 1,470 (56.95 samples/s x
    # (233.1 - 0.78 s) / 9), v6.0 2,452 (106.66 x (207.41 - 0.46 s) / 9); Interactive 698.
    Run("mlperf51-gb300-dsr1-offline", "gb300", 8, 10240, 10240 / (5843 * 8) * 1e3, "v5.1 (2025)"),
    Run("mlperf51-gb300-dsr1-server", "gb300", 8, 1470, 63.7, "v5.1 (2025)"),
    Run("mlperf6-gb300-dsr1-offline", "gb300", 8, 10240, 10240 / (8987 * 8) * 1e3, "v6.0 (2026)"),
    Run("mlperf6-gb300-dsr1-server", "gb300", 8, 2452, 56.15, "v6.0 (2026)"),
    Run("mlperf6-gb300-dsr1-interactive", "gb300", 16, 698, 11.54 * 3.19, "v6.0 (2026)"),
)


@dataclass(frozen=True)
class BottomUp:
    run: Run
    terms: StepTerms  # the planner's step at the run's batch
    tokens_per_rank: float  # routed into the MoE a step per rank (padded batch x tokens a seq)
    moe_us: float  # the measured MoE module, a layer
    a2a_us: float  # the measured all-to-all, a layer

    @property
    def planner_step_ms(self) -> float:
        """The planner's time a step with its prefill chunk (TPOT x tokens a step, unquantiled),
        what the measured figure counts."""
        return (self.terms.step_s + self.terms.chunk_s) * 1e3

    @property
    def rest_ms(self) -> float:
        """What stays the planner's: attention and dense phases, chunk, overhead, TP comm."""
        t = self.terms
        attention, dense = (max(c, m) for _, c, m in t.phases[:2])
        return (attention + dense + t.chunk_s + t.overhead_s + t.tp_comm_s) * 1e3

    @property
    def step_ms(self) -> float:
        return self.rest_ms + MOE_LAYERS * (self.moe_us + self.a2a_us) / 1e3


def bottom_up(
    run: Run,
    catalog: Catalog,
    routing: str = "power_law_1.01",
    alltoall: str = "one_sided",
) -> BottomUp:
    # the planner's parametric step (the point's measured MoE table left out: this script is
    # what led to it, planner/demand/moe_kernels.py)
    _, load, terms = pinned_step(run.point, catalog, 1, 1, run.ep, run.batch, parametric=True)
    work = terms.padded_batch or run.batch
    per_rank = work * (1 + load.draft_tokens) / run.ep
    moe = interpolate(MOE_US[(run.system, run.ep, routing)], per_rank * run.ep)
    a2a = interpolate(A2A_US[(run.ep, alltoall)], per_rank)
    return BottomUp(run, terms, per_rank, moe, a2a)


def main() -> None:
    catalog = load_catalog()
    print(
        f"{'run':32} {'software':12} {'B':>5} {'tok/rank':>8} {'measured':>9} {'planner':>8} "
        f"{'kernels':>8} {'uniform':>8} {'2-sided':>8}  (step, ms)"
    )
    for run in RUNS:
        b = bottom_up(run, catalog)
        uniform = bottom_up(run, catalog, routing="balanced")
        two = bottom_up(run, catalog, alltoall="two_sided")
        print(
            f"{run.point:32} {run.software:12} {run.batch:5d} {b.tokens_per_rank:8.0f} "
            f"{run.measured_step_ms:9.1f} {b.planner_step_ms:8.1f} {b.step_ms:8.1f} "
            f"{uniform.step_ms:8.1f} {two.step_ms:8.1f}"
        )
    print(f"(kernels: {KERNEL_SOURCE})")


if __name__ == "__main__":
    main()
