"""Measured per-stage times of NeMo-RL GRPO steps against the planner's stage split (analysis; no
model change).

The rl-checks points (planner/calibration/rl.yaml) are the NeMo-RL v0.6 performance table's step
times, which give no stage split, and most on-policy ones are short in the planner (as this prints
since session s32 pergemm: 12 of the 14, -1.0% to -45.7%; two over, +5.6% and +10.1%).
Two later NeMo-RL pull requests publish a stage split of a colocated GRPO step on the same
topology as a table row (same model, GPUs, rollouts, length cap and vLLM layout):

  * NVIDIA-NeMo/RL PR #3461 (seonjinn, 2026-08-02, "perf(recipes): use FlashInfer TRT-LLM MoE
    for BF16"): GB200 Qwen3-30B-A3B synchronous GRPO on 16 GPUs, rollout vLLM TP1/PP1, the Triton
    MoE arm (the v0.6 recipes' MoE backend: grpo-qwen3-30ba3b-4n4g.yaml pins vllm_kwargs
    moe_backend triton "to keep same behavior as vLLM 0.17"), means over steps 3-9, 11-19:
    E2E step 182.124 s, generation 69.173 s, refit 1.895 s. The recipe then (NVIDIA-NeMo/RL
    37cb7de1a, PR #3135) also sets loss_fn.force_on_policy_ratio (no previous-policy log-prob
    pass; PR #3135: log-prob time -42% to -50%) and train_global_batch_size 2,048 (one optimizer
    step, not four): its update is lighter than the v0.6 table run's (221 s step).
  * NVIDIA-NeMo/RL PR #2779 (youngeunkwon0405, 2026-06-11, "perf: Update the dsv3 perf
    recipe"): H100 DeepSeek-V3 32n8g (256 GPUs) colocated BF16, the baseline arm (before MTP
    speculative decoding): E2E step 121.2 s, "gen latency" 57.4 s (the table's footnote is not
    in the stored text; taken as the generation timer). Recipe then: grpo-deepseek-v3-32n8g.yaml
    at 2369c0aec^ (force_on_policy_ratio, moe_grouped_gemm, vLLM TP32 with the Triton MoE
    backend; MTP off: mtp_num_layers 0). The v0.6 table's own 256-GPU H100 DeepSeek-V3 row
    (134 s, mean response 701, 12.1 tok/s/GPU) gives the planner's run here (it is not an
    rl-checks point: it is the 512-GPU row's recipe on half the GPUs).

NeMo-RL v0.6.0's grpo.py times `generation` (the rollouts alone) apart from
`prepare_for_generation/total` (refit, wake), `policy_and_reference_logprobs` and
`policy_training`, so generation = the planner's generate (+ its prefill) role, and the rest
of the step = the planner's log-prob passes, training, refit, offload and fixed overhead.

Result: the gap does not sit in one stage. On the GB200 Qwen3-30B-A3B run the planner's
generation is 1.18x the measured one (81.8 s vs 69.2 s) and its update 0.59x (66.6 s vs 113 s
since session s32 pergemm, 66.2 s before; the 113 s itself from the lighter later recipe; 152 s
if the v0.6 run generated as fast): the shortfall is the update's. On the H100 DeepSeek-V3 run
the planner's generation was 0.47x the measured one (27.1 s vs 57.4 s; vLLM TP32 across four HGX
servers; 1.00x since session 24 fitted the hop to it, below) and its update is 1.15x (73.6 s vs
63.8 s since pergemm, 73.4 s before): the shortfall was generation's. No single mechanism or per-accelerator figure covers both
(docs/models.md, RL, "Measured stage splits").

Session 24 (rlbias) placed the DeepSeek-V3 run's generation shortfall: its vLLM TP32 spans
four HGX servers, so every TP all-reduce of every decode step (122 a token: two a layer, after
attention and after the FFN or TP-sharded MoE layer) crosses the NICs, where the planner priced a network hop of the
all-reduce at the 5 us wire latency (serving.scale_out_latency). `fit_allreduce_hop` solves the
hop, serving.scale_out_allreduce_latency, for the planner's generation to equal the measured
57.4 s (one figure, H100, fitted on this one stage measurement); `fit_allreduce_hop_on_points`
fits it instead on the only other model whose recipes span servers, Qwen3-235B-A22B (vLLM TP16
over two HGX servers, the two H100 on-policy rows' steps), as a leave-one-model-out check
(tests/test_rl_stage_split.py). The GB200 rows' TP groups stay inside an NVL72 rack: unmoved.

    PYTHONPATH=$PWD python bench/rl_stage_split.py
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hardware.catalog import Catalog, load_catalog
from planner.calibration.rl import (
    GENERATION_SIDE,
    WEIGHT_SYNC,
    RLPoint,
    points,
    stage_seconds,
    step_s,
)
from planner.demand.inference import clear_physics_caches
from planner.demand.rl import update_floor_s


@dataclass(frozen=True)
class MeasuredSplit:
    """One measured colocated GRPO step with its generation stage (seconds)."""

    id: str
    point: str  # the rl-checks point whose recipe and topology it matches
    gpus: int  # the measured run's GPUs (the point's, or the table row it reruns)
    step_s: float
    generation_s: float
    refit_s: float | None  # None: not published
    completion_tokens: int | None  # the table row's mean response when gpus differ from the point's
    tokens_per_s_gpu: float | None  # and its tokens/s/GPU (for the mean prompt)
    table_step_s: float | None  # the v0.6 table's step of that row
    source: str

    @property
    def update_s(self) -> float:
        """Everything but generation: log-prob passes, training, refit, offload, overhead."""
        return self.step_s - self.generation_s


MEASURED = (
    MeasuredSplit(
        id="pr3461-gb200-qwen3-30b-a3b-16gpu-triton",
        point="nemo-rl-0.6-gb200-qwen3-30b-a3b-16gpu",
        gpus=16,
        step_s=182.124,
        generation_s=69.173,
        refit_s=1.895,
        completion_tokens=None,
        tokens_per_s_gpu=None,
        table_step_s=221.0,
        source=(
            "NVIDIA-NeMo/RL PR #3461 (2026-08-02), OCI-HSG GB200, Qwen3-30B-A3B sync, 16 GPUs, "
            "rollout TP1/PP1, Triton MoE arm, steps 3-9,11-19: E2E 182.124 s, generation "
            "69.173 s, refit 1.895 s; recipe grpo-qwen3-30ba3b-4n4g.yaml@37cb7de1a"
        ),
    ),
    MeasuredSplit(
        id="pr2779-h100-deepseek-v3-256gpu-baseline",
        point="nemo-rl-0.6-h100-deepseek-v3-512gpu",
        gpus=256,
        step_s=121.2,
        generation_s=57.4,
        refit_s=None,
        completion_tokens=701,
        tokens_per_s_gpu=12.1,
        table_step_s=134.0,
        source=(
            "NVIDIA-NeMo/RL PR #2779 (2026-06-11), H100 DeepSeek-V3 32n8g colocated BF16, "
            "baseline arm: step 121.2 s, gen latency 57.4 s; the v0.6 table's 256-GPU row "
            "(NVIDIA-NeMo/RL@69c7ca117): mean response 701, 12.1 tok/s/GPU, step 134 s"
        ),
    ),
)


def run(split: MeasuredSplit, table: dict[str, RLPoint]) -> RLPoint:
    """The planner's run for a measured split: its rl-checks point, on the measured GPUs (the
    v0.6 table row's mean response and prompt when that differs from the point's)."""
    point = table[split.point]
    if split.gpus == point.gpus:
        return point
    assert split.completion_tokens is not None and split.tokens_per_s_gpu is not None
    assert split.table_step_s is not None
    # tokens/s/GPU counts prompt + response of every rollout (rl.yaml header)
    mean_sequence = split.tokens_per_s_gpu * split.table_step_s * split.gpus / point.rollouts
    return dataclasses.replace(
        point,
        id=split.id,
        gpus=split.gpus,
        prompt_tokens=round(mean_sequence - split.completion_tokens),
        completion_tokens=split.completion_tokens,
        published=split.table_step_s,
    )


def planner_split(point: RLPoint, catalog: Catalog) -> tuple[float, float]:
    """(generation, everything else) of the planner's colocated step, seconds."""
    stages = stage_seconds(point, catalog)
    generation = sum(v for k, v in stages.items() if k in GENERATION_SIDE)
    return generation, sum(stages.values()) - generation


def comparison(catalog: Catalog | None = None) -> list[dict[str, float | str]]:
    """Per measured split: measured and planner generation and update seconds."""
    catalog = catalog or load_catalog()
    table = {p.id: p for p in points()}
    out: list[dict[str, float | str]] = []
    for split in MEASURED:
        point = run(split, table)
        generation, update = planner_split(point, catalog)
        out.append(
            {
                "id": split.id,
                "measured_step": split.step_s,
                "measured_generation": split.generation_s,
                "measured_update": split.update_s,
                "planner_step": generation + update,
                "planner_generation": generation,
                "planner_update": update,
            }
        )
    return out


@dataclass(frozen=True)
class StageRow:
    """One rl-checks point's planner stages (seconds a step) against its published step."""

    id: str
    published_s: float
    step_s: float
    generation_s: float  # generate + its prefill, at least the pace floor
    floor_s: float  # the pace floor / max(1, staleness) (0: none)
    logprob_s: float  # reference + policy log-prob passes
    train_s: float
    transfer_s: float  # colocated refit + offload + fixed overhead, or the async weight sync
    asynchronous: bool

    @property
    def error(self) -> float:
        return self.step_s / self.published_s - 1


def stage_table(catalog: Catalog | None = None) -> list[StageRow]:
    """Every rl-checks point's stage split as the calibration composes it (stage_seconds,
    step_s): the tabulation the rlbias session placed the bias with."""
    catalog = catalog or load_catalog()
    out = []
    for p in points():
        st = stage_seconds(p, catalog)
        floor = update_floor_s(p.spec(), catalog, p.system)
        out.append(
            StageRow(
                id=p.id,
                published_s=p.published,
                step_s=step_s(p, st),
                generation_s=sum(v for k, v in st.items() if k in GENERATION_SIDE),
                floor_s=(floor or 0.0) / max(1, p.max_trajectory_age_steps),
                logprob_s=st.get("reference", 0.0) + st.get("policy_logprobs", 0.0),
                train_s=st["train"],
                transfer_s=sum(
                    st.get(k, 0.0) for k in ("refit", "offload", "update_overhead", WEIGHT_SYNC)
                ),
                asynchronous=p.asynchronous,
            )
        )
    return out


@dataclass(frozen=True)
class MeasuredLogprob:
    """A measured log-prob stage of a colocated GRPO step: both passes (the previous policy's and
    the reference's) and, with the previous policy's dropped, the reference pass alone."""

    id: str
    gpus: int
    rollouts: int
    both_passes_s: float
    one_pass_s: float
    both_tokens_per_s_gpu: float  # as published: tokens of both passes / time / GPUs
    source: str

    @property
    def tokens(self) -> float:
        """Tokens of one pass: published tokens/s/GPU x time x GPUs (both passes read the same
        rollouts, and NeMo-RL's figure counts them once)."""
        return self.both_tokens_per_s_gpu * self.both_passes_s * self.gpus

    @property
    def pass_tokens_per_s_gpu(self) -> float:
        """One forward log-prob pass's rate a GPU: tokens / (both passes' time / 2) / GPUs."""
        return self.tokens / (self.both_passes_s / 2) / self.gpus


# The remaining MoE shortfall's likeliest stage (session 24, not in the model): NeMo-RL PR #3295
# (seonjinn, 2026-07-20, closed unmerged; "reuse generation logprobs as IS prev-logprobs")
# times the log-prob stage of Qwen3-30B-A3B GRPO on 16 B200 (2 nodes x 8), MXFP8 rollout,
# Megatron BF16 passes, 2,048 rollouts (the perf recipes' 64 x 32): 87.5 s for both passes at
# 4,740 tok/s/GPU, 42.8 s for the reference pass alone; steps 3-20. Its training layout is not
# stated.
PR3295 = MeasuredLogprob(
    id="pr3295-b200-qwen3-30b-a3b-16gpu-logprobs",
    gpus=16,
    rollouts=2048,
    both_passes_s=87.5,
    one_pass_s=42.8,
    both_tokens_per_s_gpu=4740.0,
    source=(
        "NVIDIA-NeMo/RL PR #3295 (2026-07-20, closed): Qwen3-30B-A3B, MXFP8 rollout, B200, "
        "2 nodes x 8 GPU, mean of steps 3-20: logprob time 87.5 -> 42.8 s, logprob tok/s/GPU "
        "4,740 -> 9,692 (the previous-policy pass replaced by the engine's own log-probs)"
    ),
)
# The GB200 Qwen3-30B-A3B rows the measured log-prob rate is projected onto (same model, the
# same 2,048 rollouts of ~3.3k tokens, 16 GPUs on the same B200 die).
LOGPROB_PROJECTED = (
    "nemo-rl-0.6-gb200-qwen3-30b-a3b-16gpu",
    "nemo-rl-0.6-gb200-qwen3-30b-a3b-16gpu-1off",
)


def logprob_projection(catalog: Catalog | None = None) -> dict[str, tuple[float, float, float]]:
    """Per LOGPROB_PROJECTED point: (the planner's log-prob pass rate, tokens/s per training
    GPU; its step; its step with each log-prob pass at PR3295's measured rate a GPU). A
    what-if, not the model: no mechanism for the measured rate is identified."""
    catalog = catalog or load_catalog()
    table = {p.id: p for p in points()}
    rate = PR3295.pass_tokens_per_s_gpu
    out = {}
    for pid in LOGPROB_PROJECTED:
        p = table[pid]
        st = stage_seconds(p, catalog)
        tokens = p.rollouts * (p.prompt_tokens + p.completion_tokens)
        planner_rate = tokens / st["reference"] / p.training_gpus
        what_if = dict(st)
        for name in ("reference", "policy_logprobs"):
            what_if[name] = tokens / (rate * p.training_gpus)
        out[pid] = (planner_rate, step_s(p, st), step_s(p, what_if))
    return out


# The accelerator whose TP all-reduce hop across servers the DeepSeek-V3 split fits (the only
# rl-checks generators that span scale-up domains are H100's: vLLM TP32 and TP16 on 8-GPU HGX).
HOP_ACCELERATOR = "h100-sxm"
# The two H100 on-policy rows of the other model whose generators span servers (vLLM TP16).
QWEN_TP16_POINTS = ("nemo-rl-0.6-h100-qwen3-235b-128gpu", "nemo-rl-0.6-h100-qwen3-235b-256gpu")


def catalog_with_hop(hop_s: float, tmp: Path) -> Catalog:
    """The shipped catalog with HOP_ACCELERATOR's serving.scale_out_allreduce_latency at
    `hop_s` (an overlay file in `tmp`), the physics caches cleared."""
    extra = tmp / f"hop-{hop_s * 1e6:.4f}us.yaml"
    extra.write_text(
        f"accelerators:\n  {HOP_ACCELERATOR}:\n    serving:\n"
        f"      scale_out_allreduce_latency: {hop_s * 1e6:.4f} us\n"
    )
    clear_physics_caches()
    return load_catalog([extra])


def fit_allreduce_hop(tmp: Path, split_id: str = MEASURED[1].id) -> float:
    """The hop (s) at which the planner's generation of `split_id`'s run equals the measured
    generation: bisection to 0.01 us on [0, 1 ms] (generation grows with the hop)."""
    split = next(s for s in MEASURED if s.id == split_id)
    point = run(split, {p.id: p for p in points()})
    lo, hi = 0.0, 1e-3
    while hi - lo > 1e-8:
        mid = (lo + hi) / 2
        generation, _ = planner_split(point, catalog_with_hop(mid, tmp))
        lo, hi = (mid, hi) if generation < split.generation_s else (lo, mid)
    return (lo + hi) / 2


def fit_allreduce_hop_on_points(tmp: Path, ids: tuple[str, ...] = QWEN_TP16_POINTS) -> float:
    """The hop (s) minimising the squared relative step errors of the rl-checks points `ids`:
    golden-section search on [0, 200 us] to 0.01 us (the sum is unimodal in the hop)."""
    table = {p.id: p for p in points()}

    def score(hop: float) -> float:
        cat = catalog_with_hop(hop, tmp)
        return sum(
            (step_s(table[i], stage_seconds(table[i], cat)) / table[i].published - 1) ** 2
            for i in ids
        )

    lo, hi = 0.0, 200e-6
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = score(a), score(b)
    while hi - lo > 1e-8:
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = score(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = score(b)
    return (lo + hi) / 2


def main() -> None:
    print(
        f"{'run':44s} {'step meas/plan s':>18s} {'generation meas/plan s':>24s} "
        f"{'ratio':>6s} {'rest meas/plan s':>18s} {'ratio':>6s}"
    )
    for row in comparison():
        g_ratio = float(row["planner_generation"]) / float(row["measured_generation"])
        u_ratio = float(row["planner_update"]) / float(row["measured_update"])
        print(
            f"{row['id']!s:44s} {row['measured_step']:8.1f} / {row['planner_step']:7.1f} "
            f"{row['measured_generation']:12.1f} / {row['planner_generation']:9.1f} "
            f"{g_ratio:6.2f} {row['measured_update']:8.1f} / {row['planner_update']:7.1f} "
            f"{u_ratio:6.2f}"
        )
    for split in MEASURED:
        print(f"  {split.id}: {split.source}")
    print(
        f"\n{'rl-checks point':44s} {'pub':>6s} {'plan':>6s} {'err':>7s} {'gen':>6s} "
        f"{'floor':>6s} {'logp':>5s} {'train':>5s} {'xfer':>5s}  (s; xfer: refit+offload+"
        "overhead, or the async weight sync)"
    )
    for r in stage_table():
        print(
            f"{r.id:44s} {r.published_s:6.1f} {r.step_s:6.1f} {r.error:+7.1%} "
            f"{r.generation_s:6.1f} {r.floor_s:6.1f} {r.logprob_s:5.1f} {r.train_s:5.1f} "
            f"{r.transfer_s:5.1f}" + ("  async" if r.asynchronous else "")
        )
    print(
        f"\n{PR3295.id}: {PR3295.tokens:,.0f} tokens a pass, "
        f"{PR3295.pass_tokens_per_s_gpu:,.0f} tok/s/GPU a pass measured ({PR3295.source})"
    )
    table = {p.id: p for p in points()}
    for pid, (planner_rate, step, what_if) in logprob_projection().items():
        pub = table[pid].published
        print(
            f"  {pid}: planner {planner_rate:,.0f} tok/s/GPU a pass; step {step:.1f} s "
            f"({step / pub - 1:+.1%}); at the measured rate {what_if:.1f} s ({what_if / pub - 1:+.1%})"
        )
    with tempfile.TemporaryDirectory() as d:
        on_split = fit_allreduce_hop(Path(d))
        on_qwen = fit_allreduce_hop_on_points(Path(d))
    print(
        f"{HOP_ACCELERATOR} serving.scale_out_allreduce_latency: {on_split * 1e6:.2f} us fitted on "
        f"{MEASURED[1].id}'s generation; {on_qwen * 1e6:.2f} us fitted on {', '.join(QWEN_TP16_POINTS)}"
    )


if __name__ == "__main__":
    main()
