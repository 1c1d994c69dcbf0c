"""RL checks: one test per measured NeMo-RL step of planner/calibration/rl.yaml, within its
tolerance or a strict expected failure carrying its `known_miss:`; and the module's arithmetic
recomputed by hand for one point, its training and log-prob passes from catalog figures."""

from __future__ import annotations

import dataclasses
import math

import pytest

from hardware.catalog import load_catalog
from planner.calibration import rl
from planner.demand.common import attention_flops_per_token, hardware
from planner.demand.rl import (
    generation_point,
    generator_args,
    rl_rates,
    update_floor_s,
    update_passes,
)
from planner.demand.serving_physics import Layout, StepPhysics, model_load

CATALOG = load_catalog()
POINTS = {p.id: p for p in rl.points()}


@pytest.mark.parametrize("point", sorted(POINTS))
def test_rl_point(point: str) -> None:
    p = POINTS[point]
    value = rl.predict(p, CATALOG)
    if p.known_miss:
        assert not rl.within(p, value), (
            f"{point} is within its tolerance now ({value:.4g} s vs {p.published:g} s): remove "
            "its known_miss"
        )
        pytest.xfail(
            f"{point}: planner {value:.4g} s vs published {p.published:g} s: {p.known_miss}"
        )
    assert rl.within(p, value), (
        f"{point}: planner {value:.4g} s vs published {p.published:g} s (+/-{p.tolerance:.0%})"
    )


def _llama_h100_passes_by_hand() -> tuple[float, float]:
    """(train, log-prob pass) seconds per update of the Llama 3.1 8B H100 point, by hand from
    catalog figures: the recipe's Megatron TP1 x PP2 x DP8 on its 16 GPUs, micro-batches of one
    packed 4,096-token sequence, full activation recomputation, 4 optimizer steps of 512 of the
    2,048 rollouts; the log-prob pass forward-only on that layout in 8,192-token micro-batches.
    H100 (accelerators.yaml training:): 989 TFLOPS x gemm_efficiency 0.58, the GEMM shape each
    dense linear's own (session s32 pergemm: QKV 4,096 -> 6,144, out 4,096 -> 4,096, up+gate
    4,096 -> 28,672, down 14,336 -> 4,096 at TP1, each GEMM at X/(X + 140) for its K, N and the
    tokens, x M/(M + 256); the head 4,096 -> 128,256), attention at 0.5 of peak, memory-bound 140 B per hidden element per
    token per layer at 3.35 TB/s x 0.7, NVLink 450 GB/s one way x 0.8; HGX comm_overlap 0.5.
    The untied embedding (a lookup) and output head (vocab 128,256 x hidden each) are not layer
    GEMMs: the head's GEMM (BF16, not recomputed) and the loss (6 B per logit) run on the last
    of the two stages, which sets the pace."""
    arch = CATALOG.models["llama-3.1-8b"]
    peak, gemm_eff, hbm = 989e12, 0.58, 3.35e12 * 0.7
    nvlink = 450e9 * 0.8
    vocab, hidden = 128256, 4096
    n_a, layers = 8e9 - 2 * vocab * hidden, 32
    share = 16 / layers  # PP2: 16 of 32 layers a stage
    sample = 127 + 1019
    attention = attention_flops_per_token(arch, sample / 2)  # forward, all layers

    def per_gemm(tokens: float, lins: tuple[tuple[int, int], ...]) -> float:
        work = sum(3 * k * n for k, n in lins)
        time = sum(
            k * n * ((k + 140) / k + (n + 140) / n + (tokens + 140) / tokens) for k, n in lins
        )
        return tokens / (tokens + 256) * work / time

    def shape(tokens: float) -> float:
        return per_gemm(tokens, ((4096, 6144), (4096, 4096), (4096, 28672), (14336, 4096)))

    def head_shape(tokens: float) -> float:
        return per_gemm(tokens, ((hidden, vocab),))

    # training micro-batch: t = 4,096 tokens, recomputation r = 1 repeats the forward (x 4/3)
    t = 4096
    gemm = 6 * n_a * share * t * (4 / 3) / (peak * gemm_eff * shape(t))
    attn = 3 * (4 / 3) * attention * share * t / (peak * 0.5)
    memory = 140 * hidden * 16 * t / hbm
    pp_send = 0.5 * 2 * t * hidden * 2 / nvlink  # PP2 inside the 8-GPU NVLink domain
    head = 6 * vocab * hidden * t / (peak * gemm_eff * head_shape(t)) + 6 * vocab * t / hbm
    t_mb = gemm + head + attn + memory + pp_send
    m = math.ceil(512 * sample / (t * 8))  # 18 micro-batches a DP rank an optimizer step
    # DP sync (hierarchical, 0.083 s) hides behind the last micro-batch and the drain
    optimizer = 2 * 16 * (8e9 / 2) / 8 / hbm  # 16 B/param of the 4e9 a stage, over DP8
    train = 4 * ((m + 1) * t_mb + optimizer)  # bubble (PP-1) x t_mb
    # forward-only: t = 8,192, 2N_a and A once, a third of the memory-bound bytes, half the sends
    t = 8192
    f_mb = (
        2 * n_a * share * t / (peak * gemm_eff * shape(t))
        + attention * share * t / (peak * 0.5)
        + 140 / 3 * hidden * 16 * t / hbm
        + 2 * vocab * hidden * t / (peak * gemm_eff * head_shape(t))  # the head's forward
        + 2 * vocab * t / hbm  # the loss's forward read of the logits
        + 0.5 * pp_send * 2  # twice the tokens, half the traffic
    )
    forward = (math.ceil(2048 * sample / (t * 8)) + 1) * f_mb  # 36 micro-batches + bubble
    return train, forward


def _llama_h100_generation_by_hand() -> float:
    """Seconds the Llama H100 point's 2,048 rollouts take to generate at the run's own
    concurrency, summed token by token, on the recipe's vLLM layout (its `generator:` block):
    TP1 (grpo_math_1B.yaml tensor_parallel_size 1), so 16 instances on 16 H100s, 8 a server, of
    128 rollouts each; each holds gpu_memory_utilization 0.6 x 80 GB for its 16 GB of BF16
    weights and KV, (48 - 16.06) GB / ((127/32 + 1,019) x 128 KiB) = 238 sequences, so no queue
    (the planner's fastest layout would be TP8: 2 instances of 1,024). All start together and
    each decode step's batch is the rollouts still running, 128 x S(k), S the share of
    responses longer than k under the maximum-entropy length distribution on [0, 3,969] (the
    cap, 4,096 - 127) with mean 1,019: density exp(-lam k), lam solved here on the token grid;
    the step runs until the longest of all 2,048 (2,048 x S(K) = 1), at least one sequence a
    step. The responses start together, so at token k every sequence still decoding reads the
    KV of 127/32 + k tokens (128 KiB each) and attends over 127 + k (session 20: the drain's
    own context, not the mean 127/32 + 1,019/2; +7% on this point's generation)."""
    arch = CATALOG.models["llama-3.1-8b"]
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    cap, mean, rollouts, batch = 3969, 1019.0, 2048, 128
    load = model_load(arch, "bf16", "bf16", 127, 1019, 32)
    # the recipe's TP1 instance, built here from catalog figures (not by the planner's search)
    usable = 0.6 * hw.accelerator.hbm_bytes
    lay = Layout(1, 1, 1, 1, 8.0, usable, load.weights_bytes, False)
    kv_per_seq = (127 / 32 + 1019) * 2 * arch.layers * arch.kv_heads * arch.head_dim * 2
    assert (usable - load.weights_bytes) / kv_per_seq == pytest.approx(238, abs=1)
    point = generation_point(
        arch, hw, "bf16", 127, 1019, 32, cap, 2048.0, 16.0, True, 4, (1, 1, 1), 0.6, None
    )
    assert point.layout == lay
    assert point.instances == 16 and point.batch == batch and math.floor(point.hbm_batch) == 238

    def mean_of(lam: float) -> float:
        w = [math.exp(-lam * (k + 0.5)) for k in range(cap)]
        return sum((k + 0.5) * x for k, x in enumerate(w)) / sum(w)

    lo, hi = 0.0, 1e-2  # mean(lam) falls from cap/2 at 0
    for _ in range(60):
        lo, hi = ((lo + hi) / 2, hi) if mean_of((lo + hi) / 2) > mean else (lo, (lo + hi) / 2)
    lam = (lo + hi) / 2
    tail = [math.exp(-lam * k) - math.exp(-lam * cap) for k in range(cap + 1)]
    survival = [t / tail[0] for t in tail]  # S(k) at every token
    end = next(k for k in range(cap + 1) if rollouts * survival[k] <= 1)  # the longest
    kvb = 2 * arch.layers * arch.kv_heads * arch.head_dim * 2  # K and V, BF16, every layer
    total = 0.0
    for k in range(end):
        at = dataclasses.replace(
            load,
            kv_read_per_sequence=(127 / 32 + k + 0.5) * kvb,
            flops_attention=attention_flops_per_token(arch, 127 + k + 0.5),
        )
        b = max(1, math.ceil(batch * (survival[k] + survival[k + 1]) / 2 - 1e-9))
        total += StepPhysics(hw, at, lay).terms(b, False).step_s
    return total


def test_step_by_hand() -> None:
    """Llama 3.1 8B on 16 H100s (2 HGX units), 64 prompts x 32 generations, P 127, C 1,019:
    generate C decode tokens, prefill P/32 prompt tokens, per rollout, at the LP's serving
    rates; generation at the run's own concurrency (_llama_h100_generation_by_hand), above the
    update's floor, the 3,969-token cap x the fastest decode step at one sequence (the LP's
    pace row); train and the reference and policy log-prob passes the update's own passes on
    the recipe's layout (_llama_h100_passes_by_hand)."""
    p = POINTS["nemo-rl-0.5-h100-llama3.1-8b-16gpu"]
    rates = rl_rates(p.spec(), CATALOG, "hgx-h100", accelerators=16)
    n, prompt, completion, u = 2048, 127, 1019, 2.0
    work = {"generate": completion, "generate_prefill": prompt / 32}
    seconds = {k: w * n / (rates[k].per_unit_s * u) for k, w in work.items()}
    floor = update_floor_s(p.spec(), CATALOG, "hgx-h100")
    assert p.spec().max_completion_tokens == 4096 - 127 and floor is not None
    generation = _llama_h100_generation_by_hand()
    assert seconds["generate"] == pytest.approx(generation, rel=1e-4)  # 40.8 s (38.2 s at the mean)
    # the floor on the recipe's TP1: 3,969 x step(1) = 36.7 s; the drain waits longer
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    at_cap = model_load(CATALOG.models["llama-3.1-8b"], "bf16", "bf16", 127, 3969, 32)
    tp1 = Layout(1, 1, 1, 1, 8.0, 0.6 * hw.accelerator.hbm_bytes, at_cap.weights_bytes, False)
    assert floor == pytest.approx(3969 * StepPhysics(hw, at_cap, tp1).terms(1, False).tpot_s)
    assert seconds["generate"] > floor
    train, forward = _llama_h100_passes_by_hand()
    # 19.15 / 4.78 s before the measured BF16 half-width (140, was 128; gemm_efficiency 0.613);
    # 19.28 / 4.81 s before session s32 pergemm (each dense linear at its own shape, H100 BF16
    # refitted 0.61 -> 0.58)
    assert train == pytest.approx(20.04, abs=0.01) and forward == pytest.approx(4.97, abs=0.01)
    seconds["train"] = train
    seconds["reference"] = seconds["policy_logprobs"] = forward
    # colocated: 16 GB of BF16 weights over NVLink one way (450 GB/s x 0.75); per GPU, half of
    # the weights + gradients (4 B/param: 128 GB of state needs 2 H100s) and 1/16 of the Adam
    # state (12 B/param) out to host memory and back at 4 GB/s; 10 s fixed
    seconds["refit"] = 8e9 * 2 / (450e9 * 0.75)
    seconds["offload"] = 2 * (8e9 * 4 / 2 + 8e9 * 12 / 16) / 4e9
    seconds["update_overhead"] = 10.0
    by_hand = sum(seconds.values())
    assert set(rates) | {"refit", "offload", "update_overhead"} == set(seconds)
    assert rl.stage_seconds(p, CATALOG) == pytest.approx(seconds, rel=1e-9)
    assert rl.predict(p, CATALOG) == pytest.approx(by_hand, rel=1e-9)


def test_update_passes_pay_their_bubble_recompute_and_steps() -> None:
    """The recipe's figures are what slow the Llama H100 point's passes: without its trainer
    block (the planner's fastest layout, one optimizer step) the update trains faster; each of
    the pipeline bubble, the recomputation and the 4 optimizer steps is in the train pass."""
    p = POINTS["nemo-rl-0.5-h100-llama3.1-8b-16gpu"]
    spec = p.spec()
    passes = update_passes(spec, CATALOG, "hgx-h100", accelerators=16)
    train, forward = passes["train"], passes["forward:llama-3.1-8b"]
    assert train.steps == 4 and train.step is not None and forward.step is not None
    st = train.step
    assert st.recompute == 1.0 and st.layout.pp == 2 and st.layout.dp == 8
    assert st.bubble_s == pytest.approx(st.micro_batch_s)  # (PP - 1) x t_mb
    assert train.seconds == pytest.approx(4 * st.step_s)
    assert forward.step.dp_s == 0 and forward.step.optimizer_s == 0
    bare = update_passes(
        spec.model_copy(update={"trainer": None}), CATALOG, "hgx-h100", accelerators=16
    )
    assert bare["train"].steps == 1 and bare["train"].step is not None
    assert bare["train"].step.recompute == 0.0 and bare["train"].step.bubble_s == 0.0
    assert bare["train"].seconds is not None and train.seconds is not None
    assert train.seconds > 1.3 * bare["train"].seconds  # 19.6 s vs 14.1 s


def _generation(p: rl.RLPoint, in_flight: float, gpus: int, drains: bool):
    """generation_point of the point's policy on its recipe's engine, `in_flight` samples over
    `gpus` (at most 4 units an instance, as the LP's default)."""
    spec = p.spec()
    hw = hardware(CATALOG, p.system)
    assert hw is not None and spec.max_completion_tokens is not None
    return generation_point(
        CATALOG.models[p.model],
        hw,
        p.precision,
        p.prompt_tokens,
        p.completion_tokens,
        p.generations_per_prompt,
        spec.max_completion_tokens,
        in_flight,
        float(gpus),
        drains,
        4,
        *generator_args(spec),
    )


def test_run_concurrency_generation_is_slower() -> None:
    """At the run's own concurrency (fewer rollouts than fill HBM, the batch draining to the
    longest response) the LP's generation is slower than at the saturated batch, under half its
    rate when every instance's rollouts fit one HBM batch (the whole phase is a drain; where more
    queue than HBM holds, only the last batch drains: the H100 Qwen3-32B row's TP4 instances
    queue 256 over a batch of 148, 0.69 of the saturated rate); the stage is the
    slower of it and the update's floor; the recipe-sized diagnostic stays positive."""
    for p in POINTS.values():
        if p.asynchronous:
            continue  # no drain: test_asynchronous_step_is_the_slower_side
        diag = rl.run_concurrency_generation(p, CATALOG)
        spec = p.spec()
        point = _generation(p, float(p.rollouts), p.gpus, drains=True)
        rate = rl_rates(spec, CATALOG, p.system, accelerators=p.gpus)["generate"].per_unit_s
        fits_one_batch = point.in_flight <= point.hbm_batch
        bound = 0.5 if fits_one_batch else 1.0
        assert rate == point.rate.per_unit_s < bound * point.saturated_per_unit_s
        work = p.completion_tokens * p.rollouts / rl.units(p, CATALOG)
        floor = update_floor_s(spec, CATALOG, p.system)
        assert floor is not None
        assert rl.stage_seconds(p, CATALOG)["generate"] == pytest.approx(max(work / rate, floor))
        assert work / rate > work / point.saturated_per_unit_s
        assert diag["step_1_s"] <= diag["step_s"] and diag["longest_floor_s"] > 0


def test_asynchronous_step_is_the_slower_side() -> None:
    """An asynchronous run (NeMo-RL async GRPO, the planner's colocated: false): generation on
    its own GPUs at their concurrency without a drain (k updates' samples in flight, at least
    the pace floor / k), the training and log-prob passes on the others, no colocated refit,
    offload or overhead; the step is the slower side plus the weight sync both sides wait for
    (W / min(D x NIC, NVLink one way) / u + rl.update_overhead). Recomputed from the rates by
    hand."""
    asynchronous = [p for p in POINTS.values() if p.asynchronous]
    assert len(asynchronous) >= 7
    for p in asynchronous:
        spec = p.spec()
        assert not spec.colocated and spec.max_staleness_updates == p.max_trajectory_age_steps
        arch, hw = CATALOG.models[p.model], hardware(CATALOG, p.system)
        assert hw is not None
        k = p.max_trajectory_age_steps
        gen_gpus, train_gpus = p.generating_gpus, p.training_gpus
        assert gen_gpus + train_gpus == p.gpus and 0 < gen_gpus < p.gpus
        # k updates' samples in flight, no drain
        point = _generation(p, float(k * p.rollouts), gen_gpus, drains=False)
        assert point.drain_s == 0.0
        floor = update_floor_s(spec, CATALOG, p.system)
        assert floor is not None
        gen_units = gen_gpus / hw.accelerators
        generate = max(
            p.completion_tokens * p.rollouts / (point.rate.per_unit_s * gen_units), floor / k
        )
        rates = rl_rates(spec, CATALOG, p.system, accelerators=train_gpus)
        tokens = p.rollouts * (p.prompt_tokens + p.completion_tokens)
        train_units = train_gpus / hw.accelerators
        # 6 N_active FLOPs a token of every rollout (kept_fraction 1), over the training GPUs
        flops = 6 * arch.active * (p.prompt_tokens + p.completion_tokens)
        train_side = flops * p.rollouts / (rates["train"].per_unit_s * train_units) + sum(
            tokens / (rates[name].per_unit_s * train_units)
            for name in ("reference", "policy_logprobs")
        )
        stages = rl.stage_seconds(p, CATALOG)
        assert "offload" not in stages and "refit" not in stages
        assert stages["generate"] == pytest.approx(generate)
        acc = hw.accelerator
        assert acc.rl is not None and acc.serving is not None
        domain = hw.system.scale_up_domain
        up = acc.scale_up_bandwidth_bytes_per_s / 2
        bcast = up if p.gpus <= domain else min(domain * acc.scale_out_bandwidth_bytes_per_s, up)
        # the bytes at the slower of the link and the refit pipeline (rl.refit_bandwidth), then
        # the fixed rl.sync_overhead
        bytes_rate = min(
            bcast * acc.serving.link_bandwidth_utilisation, acc.rl.refit_bandwidth_bytes_per_s
        )
        sync = arch.params * 2 / bytes_rate + acc.rl.sync_overhead_s
        assert stages["weight_sync"] == pytest.approx(sync)
        expected = max(generate + stages["generate_prefill"], train_side) + sync
        assert rl.predict(p, CATALOG) == pytest.approx(expected)


def test_rows_cover_every_point() -> None:
    rows = rl.rows(CATALOG)
    assert [r.point for r in rows] == list(POINTS)
    assert all(r.family == "rl-checks" and r.metric == "RL step s" for r in rows)
