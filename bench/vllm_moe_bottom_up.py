"""NeMo-RL's vLLM MoE decode rebuilt from vLLM's own measured MoE kernels (analysis; no model change).

NeMo-RL v0.6 (NVIDIA-NeMo/RL tag v0.6.0, pyproject.toml / uv.lock: vllm 0.17.1) generates with
vLLM in BF16, experts TP-sharded (expert_parallel_size 1) on vLLM's Triton fused_moe kernel. The
planner prices every RL MoE generation step with its serving decode step (serving_physics.py: the
distinct experts' weights at HBM rate, a fixed moe_layer_latency and the fitted per-routed-token
moe_token_bandwidth, both fitted on TensorRT-LLM / SGLang runs). Here the MoE part of that step
(expert GEMM phase + moe_layer_s + moe_token_s; no all-to-all with TP-sharded experts) is swapped
for vLLM's fused_moe module as measured on one GPU by aiconfigurator's collector at the same shard
shape (hidden, intermediate / TP, experts, top-k; BF16; the whole module: routing, align, both
grouped GEMMs, activation, reduce) at the recipe's batch, for the two vLLM releases measured
around 0.17.1 (0.14 and 0.19). Attention, dense GEMMs, TP all-reduces and the step overhead stay
the planner's. For the GB200 Qwen3-30B-A3B TP1 generator (no all-reduce) the whole step is also
summed from vLLM's measured kernels (attention, dense GEMMs, fused_moe, LM head), overhead aside.

The result is negative: vLLM's measured MoE kernels cost about what the planner already charges
(0.6-1.5x its MoE part; less for Qwen3-30B-A3B, more for DeepSeek-V3 at TP32's 64-wide expert
shards) and move the RL steps by -8% to +6%; the ~3x the GB200 Qwen3-30B-A3B 1-step-off row
implies is not in the kernels (they sum to ~15 ms a step at batch 256, where the planner says
30 ms and the measured row implies ~95 ms). See docs/models.md (RL, "vLLM's MoE kernels").

    PYTHONPATH=$PWD python bench/vllm_moe_bottom_up.py
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from hardware.catalog import Catalog, load_catalog
from planner.calibration.rl import (
    GENERATION_SIDE,
    RLPoint,
    points,
    run_concurrency_generation,
    stage_seconds,
    step_s,
)
from planner.demand.common import Hardware, hardware
from planner.demand.inference import pinned_layout
from planner.demand.rl import generator_args
from planner.demand.serving_physics import (
    Layout,
    ModelLoad,
    StepTerms,
    kv_replication,
    model_load,
    step_terms,
)

# the measured tables' interpolation, as the TensorRT-LLM rebuild's
sys.path.insert(0, str(Path(__file__).resolve().parent))
from moe_kernel_bottom_up import interpolate  # noqa: E402

AIC = "github.com/ai-dynamo/aiconfigurator @095f58a5 aic-core/src/aiconfigurator_core/systems/data/"
KERNEL_SOURCE = (
    AIC + "{h100_sxm,gb200}/moe/vllm/{0.14.0,0.19.0}/moe_perf.parquet (kernel_source "
    "vllm_fused_moe, moe_dtype bfloat16, moe_ep_size 1, moe_tp_size = the generator's TP; "
    "latency ms; one draw a row; GB200 0.14.0 is 0.14.1.dev1+gd68209402)"
)

# vLLM fused_moe module latency (us) of one MoE layer on one GPU holding 1/tp of every expert,
# at each of TOKENS tokens (every TP rank runs the whole batch), read from the
# tables above with the model's shape: Qwen3-30B-A3B hidden 2,048, intermediate 768, 128 experts,
# top 8; Qwen3-235B-A22B 4,096 / 1,536 / 128 / 8; DeepSeek-V3 7,168 / 2,048 / 256 / 8.
# Key: (system, vLLM release, model, moe_tp_size, routing distribution). Procedure (pyarrow, for
# the analysis only): in each table the rows with kernel_source vllm_fused_moe, moe_dtype
# bfloat16, moe_ep_size 1, the model's hidden_size / inter_size / num_experts / topk, moe_tp_size
# = the generator's TP, distribution balanced or power_law_1.01 ("power_law"), num_tokens in
# TOKENS: latency (ms) x 1,000, one row each (no repeats in the tables), rounded to 0.1 us.
Key = tuple[str, str, str, int, str]
TOKENS = (1, 16, 32, 64, 128, 256, 512)  # the tables' num_tokens rows used here
# fmt: off
MOE_US: dict[Key, tuple[float, ...]] = {
    ("h100", "0.14", "qwen3-30b-a3b", 2, "balanced"): (28.1, 221.8, 224.2, 226.2, 233.0, 279.1, 324.3),
    ("h100", "0.14", "qwen3-30b-a3b", 2, "power_law"): (29.8, 126.8, 191.7, 206.5, 229.5, 278.0, 308.1),
    ("h100", "0.14", "qwen3-235b-a22b", 8, "balanced"): (29.9, 227.4, 230.8, 231.0, 237.0, 256.5, 274.1),
    ("h100", "0.14", "qwen3-235b-a22b", 8, "power_law"): (29.0, 127.9, 196.5, 214.7, 238.9, 250.6, 287.5),
    ("h100", "0.14", "qwen3-235b-a22b", 16, "balanced"): (26.0, 131.0, 131.7, 134.1, 140.8, 156.7, 174.7),
    ("h100", "0.14", "qwen3-235b-a22b", 16, "power_law"): (25.2, 87.3, 117.7, 124.2, 140.7, 156.4, 176.9),
    ("h100", "0.14", "deepseek-v3", 32, "balanced"): (45.6, 163.8, 292.8, 297.9, 308.7, 343.9, 345.9),
    ("h100", "0.14", "deepseek-v3", 32, "power_law"): (42.4, 134.6, 181.7, 240.3, 270.5, 325.4, 326.6),
    ("h100", "0.19", "qwen3-30b-a3b", 2, "balanced"): (24.6, 227.4, 226.5, 226.3, 230.0, 239.4, 256.4),
    ("h100", "0.19", "qwen3-30b-a3b", 2, "power_law"): (22.3, 129.0, 192.0, 207.5, 220.5, 239.8, 261.6),
    ("h100", "0.19", "qwen3-235b-a22b", 8, "balanced"): (30.3, 230.2, 232.4, 234.1, 240.7, 261.7, 272.8),
    ("h100", "0.19", "qwen3-235b-a22b", 8, "power_law"): (29.5, 131.1, 199.4, 213.7, 240.6, 268.3, 290.3),
    ("h100", "0.19", "qwen3-235b-a22b", 16, "balanced"): (28.4, 159.5, 159.4, 152.7, 149.2, 153.1, 168.3),
    ("h100", "0.19", "qwen3-235b-a22b", 16, "power_law"): (27.6, 96.4, 136.7, 144.3, 142.7, 152.6, 179.0),
    ("h100", "0.19", "deepseek-v3", 32, "balanced"): (39.5, 223.6, 428.8, 384.6, 331.7, 333.8, 356.8),
    ("h100", "0.19", "deepseek-v3", 32, "power_law"): (38.3, 176.7, 234.6, 306.3, 277.0, 298.2, 340.4),
    ("gb200", "0.14", "qwen3-30b-a3b", 1, "balanced"): (33.7, 217.9, 220.6, 223.8, 226.6, 250.3, 267.0),
    ("gb200", "0.14", "qwen3-30b-a3b", 1, "power_law"): (26.8, 127.6, 182.6, 203.7, 232.1, 245.1, 289.4),
    ("gb200", "0.14", "qwen3-235b-a22b", 8, "balanced"): (29.3, 131.2, 133.4, 136.6, 138.8, 173.5, 194.8),
    ("gb200", "0.14", "qwen3-235b-a22b", 8, "power_law"): (26.1, 83.7, 114.2, 123.0, 143.5, 170.9, 196.6),
    ("gb200", "0.14", "deepseek-v3", 16, "balanced"): (35.8, 161.9, 325.6, 326.1, 333.4, 353.9, 422.6),
    ("gb200", "0.14", "deepseek-v3", 16, "power_law"): (35.1, 136.1, 176.9, 243.3, 262.4, 333.7, 410.1),
    ("gb200", "0.14", "deepseek-v3", 32, "balanced"): (35.8, 127.9, 200.1, 204.1, 210.4, 225.1, 360.5),
    ("gb200", "0.14", "deepseek-v3", 32, "power_law"): (32.8, 113.9, 139.9, 172.2, 189.3, 231.6, 353.5),
    ("gb200", "0.19", "qwen3-30b-a3b", 1, "balanced"): (29.3, 205.1, 208.0, 216.4, 229.2, 229.7, 241.2),
    ("gb200", "0.19", "qwen3-30b-a3b", 1, "power_law"): (25.8, 119.7, 170.0, 199.9, 218.7, 224.9, 251.7),
    ("gb200", "0.19", "qwen3-235b-a22b", 8, "balanced"): (31.5, 151.1, 153.3, 168.1, 148.1, 153.0, 167.0),
    ("gb200", "0.19", "qwen3-235b-a22b", 8, "power_law"): (28.7, 88.9, 133.8, 151.9, 136.7, 146.8, 191.3),
    ("gb200", "0.19", "deepseek-v3", 16, "balanced"): (35.8, 205.9, 370.4, 340.0, 359.4, 366.0, 389.9),
    ("gb200", "0.19", "deepseek-v3", 16, "power_law"): (34.4, 149.0, 214.8, 291.0, 279.7, 295.5, 376.0),
    ("gb200", "0.19", "deepseek-v3", 32, "balanced"): (37.6, 155.3, 306.3, 266.8, 247.6, 254.4, 275.6),
    ("gb200", "0.19", "deepseek-v3", 32, "power_law"): (34.3, 130.1, 166.4, 212.9, 226.4, 236.5, 266.8),
}
# fmt: on
RELEASES = ("0.14", "0.19")  # measured on either side of NeMo-RL v0.6's vLLM 0.17.1
SYSTEMS = {"hgx-h100": "h100", "gb200-nvl72": "gb200"}

# The whole GB200 Qwen3-30B-A3B TP1 step from vLLM 0.19's measured kernels, per layer (us) at the
# batch: generation attention (vllm_flashinfer, 32 query / 4 KV heads, head_dim 128, BF16 KV: the
# table's largest context row at this batch, 128 x 2,047 = 80.6 us, 256 x 511 = 48.2 us, scaled
# linearly in KV tokens to the run's mean context, prompt + half the response: memory-bound),
# the dense GEMMs (gemm/vllm/0.19.0/gemm_perf.parquet, bfloat16: qkv m x 5,120 x 2,048; o
# m x 2,048 x 4,096; router m x 128 x 2,048), fused_moe (power-law row above) and the LM head
# once a step (m x 65,536 x 2,048 scaled to the 151,936-token vocabulary).
KERNEL_SUM_SOURCE = (
    AIC + "gb200/{attention,gemm,moe}/vllm/0.19.0/{generation_attention_perf,gemm_perf,"
    "moe_perf}.parquet"
)
ATTENTION_US_PER_KV_TOKEN = {128: 80.6 / (128 * 2047), 256: 48.2 / (256 * 511)}
DENSE_GEMM_US = {128: 6.6 + 7.6 + 4.9, 256: 7.3 + 7.9 + 4.9}  # qkv + o + router, a layer
LM_HEAD_MS = {128: 0.125, 256: 0.127}


@dataclass(frozen=True)
class Generator:
    """One RL point's recipe vLLM instance at the run's constant batch (rl.py's diagnostic)."""

    point: RLPoint
    layout: Layout
    batch: int  # rollouts an instance, at most what the recipe's HBM holds at the mean length
    terms: StepTerms  # the planner's step at that batch
    moe_layers: int
    held_at_cap: int  # sequences the recipe's HBM holds when every one is at the length cap
    hw: Hardware
    load: ModelLoad

    @property
    def planner_step_ms(self) -> float:
        return self.terms.step_s * 1e3

    @property
    def planner_moe_ms(self) -> float:
        """The planner's MoE part of the step: expert GEMM phase (weights vs FLOPs), the fixed
        per-layer latency, the per-routed-token cost, the all-to-all (0: TP-sharded experts)."""
        t = self.terms
        _, compute, memory = t.phases[2]
        return (max(compute, memory) + t.moe_layer_s + t.moe_token_s + t.ep_comm_s) * 1e3

    def vllm_moe_ms(self, release: str, routing: str = "power_law") -> float:
        system = SYSTEMS[self.point.system]
        us = MOE_US[(system, release, self.point.model, self.layout.tp, routing)]
        return self.moe_layers * interpolate(tuple(zip(TOKENS, us, strict=True)), self.batch) / 1e3

    @property
    def at_cap_slowdown(self) -> float:
        """Generation time at the batch the HBM holds with every sequence at the length cap over
        that at the run's batch (1 when the cap batch holds the run's): vLLM preempts when its
        KV blocks run out, so the batch it keeps is between the two."""
        if self.held_at_cap >= self.batch:
            return 1.0
        t = step_terms(self.hw, self.load, self.layout, self.held_at_cap, False)
        return (self.batch / self.terms.step_s) / (self.held_at_cap / t.step_s)

    def step_ms(self, release: str, routing: str = "power_law") -> float:
        """The planner's step with its MoE part swapped for vLLM's measured fused_moe."""
        return self.planner_step_ms - self.planner_moe_ms + self.vllm_moe_ms(release, routing)


def generator(point: RLPoint, catalog: Catalog) -> Generator:
    arch = catalog.models[point.model]
    assert arch.moe is not None, point.id
    hw = hardware(catalog, point.system)
    assert hw is not None
    p, c = point.prompt_tokens, point.completion_tokens
    load = model_load(arch, point.precision, point.precision, p, c, point.generations_per_prompt)
    pinned, fraction, _, _ = generator_args(point.spec())
    assert pinned is not None, point.id
    lay = pinned_layout(arch, hw, load, *pinned, fraction)
    assert not isinstance(lay, str), lay
    batch = int(run_concurrency_generation(point, catalog)["batch"])
    cap = point.max_total_sequence_length - p
    at_cap = load.kv_bytes(p / point.generations_per_prompt + cap) * kv_replication(arch, lay.tp)
    return Generator(
        point=point,
        layout=lay,
        batch=batch,
        terms=step_terms(hw, load, lay, batch, False),
        moe_layers=arch.moe_layers,
        held_at_cap=math.floor(lay.free_bytes / at_cap),
        hw=hw,
        load=load,
    )


def rl_step_with(point: RLPoint, catalog: Catalog, ratio: float) -> float:
    """The planner's RL step with its generation stages scaled by `ratio` (the kernel-built step
    over the planner's, at the run's batch: the drain's smaller batches are taken at the same
    ratio, an approximation stated with the numbers)."""
    stages = dict(stage_seconds(point, catalog))
    for name in GENERATION_SIDE:
        stages[name] = stages[name] * ratio
    return step_s(point, stages)


def implied_generation_ratio(point: RLPoint, catalog: Catalog) -> float:
    """What the measured step asks of generation, every other stage the planner's: on-policy
    (measured - the planner's other stages) / the planner's generation; asynchronous
    (generation-bound) measured / the planner's generation side."""
    stages = stage_seconds(point, catalog)
    generation = sum(v for k, v in stages.items() if k in GENERATION_SIDE)
    if point.asynchronous:
        return point.published / generation
    return (point.published - (sum(stages.values()) - generation)) / generation


def kernel_sum_step_ms(batch: int, context: float) -> float:
    """GB200 Qwen3-30B-A3B TP1: the whole step from vLLM 0.19's measured kernels (48 layers of
    attention + dense GEMMs + fused_moe, and the LM head), no step overhead."""
    us = MOE_US[("gb200", "0.19", "qwen3-30b-a3b", 1, "power_law")]
    moe = interpolate(tuple(zip(TOKENS, us, strict=True)), batch)
    attention = ATTENTION_US_PER_KV_TOKEN[batch] * batch * context
    return 48 * (attention + DENSE_GEMM_US[batch] + moe) / 1e3 + LM_HEAD_MS[batch]


def moe_points() -> list[RLPoint]:
    """The BF16 MoE RL points with a recipe generator: the tables are vLLM's bfloat16 fused_moe,
    so an FP8 run (DeepGEMM) is not theirs to price."""
    catalog = load_catalog()
    return [
        p
        for p in points()
        if catalog.models[p.model].moe is not None and p.generator and p.precision == "bf16"
    ]


def main() -> None:
    catalog = load_catalog()
    print(
        f"{'RL point':44} {'layout':6} {'B':>4} {'cap':>4} {'step':>6} {'MoE':>6} "
        f"{'.14':>6} {'.19':>6} {'uni':>6}  {'RL':>6} {'meas':>6} {'w/ .19':>7} {'needs':>6} {'at cap':>6}"
    )
    for point in moe_points():
        g = generator(point, catalog)
        ratio = g.step_ms("0.19") / g.planner_step_ms
        planner = step_s(point, stage_seconds(point, catalog))
        print(
            f"{point.id:44} TP{g.layout.tp:<4} {g.batch:4d} {g.held_at_cap:4d} "
            f"{g.planner_step_ms:6.2f} {g.planner_moe_ms:6.2f} {g.vllm_moe_ms('0.14'):6.2f} "
            f"{g.vllm_moe_ms('0.19'):6.2f} {g.vllm_moe_ms('0.19', 'balanced'):6.2f}  "
            f"{planner:6.1f} {point.published:6.1f} {rl_step_with(point, catalog, ratio):7.1f} "
            f"{implied_generation_ratio(point, catalog):5.2f}x {g.at_cap_slowdown:5.2f}x"
        )
    print(
        "(B: the run's batch an instance; cap: sequences its HBM holds all at the length cap; "
        "step, MoE: the planner's decode step and its MoE part at B, ms; .14/.19/uni: vLLM "
        "0.14 / 0.19 fused_moe x MoE layers at B, power-law / 0.19 uniform routing, ms; RL: the "
        "planner's RL step, meas: measured, w/ .19: the RL step with generation scaled by the "
        "0.19-kernel step / the planner's, s; needs: the generation factor the measured step "
        "implies, every other stage the planner's; at cap: generation time at the cap batch / at B)"
    )
    for batch in (128, 256):
        step = kernel_sum_step_ms(batch, 99 + 3199 / 2)
        print(
            f"GB200 Qwen3-30B-A3B TP1, B={batch}: vLLM 0.19 kernels sum to {step:.1f} ms a step "
            f"({batch / step * 1e3:,.0f} tok/s/GPU)"
        )
    print(f"(kernels: {KERNEL_SOURCE}; {KERNEL_SUM_SOURCE})")


if __name__ == "__main__":
    main()
