"""CUDA graph padding (EngineSpec.cuda_graph_batch_sizes): a decode step's batch per attention
replica is rounded up to the next captured graph size, and every token-proportional term of the
step runs at the padded batch while the KV read and attention run at the batch itself. Expected
values are recomputed here from the formula and the catalog figures (serving_physics docstring:
dense GEMMs = B · F_dense / e(n) / (a · peak · u), e(n) = n / (n + gemm_half_tokens)), not read
back from the step. The MLPerf v5.1 DeepSeek-R1 Server runs (NVIDIA's configs:
cuda_graph_batch_sizes [128, 256, 384, 512] with cuda_graph_padding_enabled) give the shape."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hardware.catalog import load_catalog
from planner.demand import estimate_inference
from planner.demand.common import hardware
from planner.demand.inference import _best_padded_batch, pinned_layout
from planner.demand.serving_physics import (
    StepPhysics,
    expected_max_poisson,
    model_load,
    padded_decode_batch,
)
from planner.kinds.inference import InferenceSpec

CATALOG = load_catalog()
B200 = hardware(CATALOG, "hgx-b200")
R1 = CATALOG.models["deepseek-r1"]
SIZES = (128, 256, 384, 512)  # closed/NVIDIA/configs/B200-SXM-180GBx8/Server/deepseek-r1.py


@pytest.mark.parametrize(
    ("batch", "pp", "replicas", "expected"),
    [
        (1231, 1, 8, 2048.0),  # ceil(1231 / 8) = 154 a rank -> 256 -> 8 x 256
        (1024, 1, 8, 1024.0),  # 128 a rank: a graph size, no padding
        (1025, 1, 8, 2048.0),  # 129 on the busiest rank -> 256
        (4096, 1, 8, 4096.0),  # 512 a rank, the largest size
        (5000, 1, 8, 5000.0),  # 625 a rank: above the largest size, eager at its own batch
        (300, 2, 1, 512.0),  # pp 2 micro-batches of 150 -> 256 each
        (1, 1, 1, 128.0),  # one sequence runs the smallest graph
    ],
)
def test_padded_batch_by_hand(batch: int, pp: int, replicas: int, expected: float) -> None:
    assert padded_decode_batch(batch, pp, replicas, SIZES) == expected
    assert padded_decode_batch(batch, pp, replicas, None) == float(batch)


def _physics(sizes: tuple[int, ...] | None) -> StepPhysics:
    assert B200 is not None
    load = model_load(R1, "fp4", "fp8", 804, 3748, 1, graph_batch_sizes=sizes)
    lay = pinned_layout(R1, B200, load, 1, 1, 8)
    assert not isinstance(lay, str)
    return StepPhysics(B200, load, lay)


def test_padded_step_runs_gemms_at_the_padded_batch_and_kv_at_the_batch() -> None:
    """Batch 1,231 on TP1 x 8 attention replicas, EP8: the dense GEMMs compute 2,048 sequences
    (by hand below), the KV read and attention 1,231, the routed-token cost 2,048's."""
    assert B200 is not None
    s = B200.accelerator.serving
    assert s is not None
    padded = _physics(SIZES).terms(1231, False)
    plain = _physics(None)
    assert padded.padded_batch == 2048.0 and padded.batch == 1231
    # dense GEMMs by hand: 2,048 x F_dense / e(256 tokens a replica) / (8 x peak x u)
    load = model_load(R1, "fp4", "fp8", 804, 3748, 1)
    rate = 8 * B200.peak(load.dense_precision) * s.compute_utilisation[load.dense_precision]
    e = 256 / (256 + s.gemm_half_tokens)
    dense = dict((n, c) for n, c, _ in padded.phases)["dense GEMMs"]
    assert dense == pytest.approx(2048 * load.flops_dense / e / rate, rel=1e-12)
    # KV read: 1,231 sequences x (804 + 3,748 / 2) x the latent's bytes / 8 chips
    kv = 1231 * (804 + 3748 / 2) * R1.kv_elements_per_token * 1.0 / 8
    assert padded.kv_read_bytes == pytest.approx(kv, rel=1e-12)
    attention = dict((n, c) for n, c, _ in padded.phases)["attention"]
    assert attention == pytest.approx(
        dict((n, c) for n, c, _ in plain.terms(1231, False).phases)["attention"], rel=1e-12
    )
    # every token-proportional term equals the unpadded step of 2,048
    full = plain.terms(2048, False)
    assert padded.moe_token_s == pytest.approx(full.moe_token_s, rel=1e-12)
    assert padded.ep_comm_s == pytest.approx(full.ep_comm_s, rel=1e-12)
    assert padded.weights_read_bytes == pytest.approx(full.weights_read_bytes, rel=1e-12)
    assert plain.terms(1231, False).step_s < padded.step_s < full.step_s
    # the unpadded step is a lower bound (the rate bound of the layout chooser uses it)
    assert _physics(SIZES).terms(1231, False, padded=False).step_s == pytest.approx(
        plain.terms(1231, False).step_s, rel=1e-12
    )


def test_tpot_never_falls_as_the_batch_grows_with_padding() -> None:
    """The TPOT budget's bisection needs TPOT non-decreasing in the batch: padding rounds up."""
    physics = _physics(SIZES)
    previous = 0.0
    for batch in range(900, 2200, 7):
        tpot = physics.terms(batch, True).tpot_bound_s
        assert tpot >= previous - 1e-15
        previous = tpot


def test_the_best_batch_is_the_top_of_a_smaller_graph_when_that_rates_higher() -> None:
    """1,100 sequences pad to 2,048 (138 a rank -> 256): 1,024 (128 a rank, its own graph)
    decodes more tokens per second, so the batch drops to it; 2,000 pads to 2,048 too and beats
    1,024, so it stays."""
    physics = _physics(SIZES)
    load, lay = physics.load, physics.lay
    rate = {b: b / physics.terms(b, False).step_s for b in (1024, 1100, 2000)}
    assert rate[1024] > rate[1100]
    assert _best_padded_batch(physics, load, lay, 1100, False) == 1024
    assert rate[2000] > rate[1024]
    assert _best_padded_batch(physics, load, lay, 2000, False) == 2000
    plain = _physics(None)
    assert _best_padded_batch(plain, plain.load, plain.lay, 1100, False) == 1100


def test_engine_block_pads_the_server_point_and_not_offline_at_a_graph_size() -> None:
    """The MLPerf DeepSeek-R1 B200 Server shape: with the run's graph sizes the p99 TPOT budget
    holds fewer sequences and the rate falls; Offline at 512 a GPU (a graph size) is unchanged."""
    base = dict(
        kind="inference",
        model="deepseek-r1",
        precision="fp4",
        kv_precision="fp8",
        requests_per_day="1M",
        prompt_tokens=804,
        prefill="aggregated",
    )
    server = dict(
        base,
        output_tokens=3748,
        mode="interactive",
        tokens_per_s_per_user=12.5,
        tpot_percentile="p99",
        ttft_p99="2 s",
        chunked_context=False,
    )
    engine = {"layout": {"tp": 1, "ep": 8}, "max_sequences_per_accelerator": 512}
    graphs = {**engine, "cuda_graph_batch_sizes": list(SIZES)}
    rated = {}
    for name, eng in (("plain", engine), ("graphs", graphs)):
        spec = InferenceSpec.model_validate({**server, "engine": eng})
        rated[name] = estimate_inference(spec, CATALOG, "hgx-b200", max_units_per_instance=1)
    assert rated["graphs"].max_batch < rated["plain"].max_batch  # type: ignore[operator]
    assert (
        rated["graphs"].output_tokens_per_s_per_accelerator  # type: ignore[operator]
        < 0.9 * rated["plain"].output_tokens_per_s_per_accelerator  # type: ignore[operator]
    )
    assert any("padded to its CUDA graph" in line for line in rated["graphs"].derivation)
    offline = dict(base, output_tokens=3736, mode="offline")
    values = [
        estimate_inference(
            InferenceSpec.model_validate({**offline, "engine": eng}),
            CATALOG,
            "hgx-b200",
            max_units_per_instance=1,
        ).output_tokens_per_s_per_accelerator
        for eng in (engine, graphs)
    ]
    assert values[0] == pytest.approx(values[1], rel=1e-12)


def _busiest_rank_excess(balanced: bool, seed: int = 7) -> float:
    """Monte Carlo of one 8-rank attention-DP instance at ~1,231 sequences (the B200 Server
    run's in-flight batch by Little's law): Poisson arrivals of 1231/3748 a step, each sequence
    leaving with probability 1/3748 a step (geometric lengths of mean 3,748). balanced: a new
    request goes to the least-loaded rank (TensorRT-LLM's attention-DP scheduling keeps every
    rank below ceil(total / ranks)); else to a rank at random (independent Poisson counts).
    Returns the mean over steps of (busiest rank's count − the mean count)."""
    rng = np.random.default_rng(seed)
    ranks, mean_out = 8, 3748.0
    counts = rng.poisson(1231 / ranks, ranks) if not balanced else np.full(ranks, 154)
    excess = []
    for step in range(60_000):
        counts = counts - rng.binomial(counts, 1.0 / mean_out)
        for _ in range(rng.poisson(1231 / mean_out)):
            r = int(np.argmin(counts)) if balanced else int(rng.integers(ranks))
            counts[r] += 1
        if step >= 20_000:
            excess.append(counts.max() - counts.mean())
    return float(np.mean(excess))


def test_balanced_ranks_stay_within_a_sequence_or_two_of_the_mean() -> None:
    """Why padded_decode_batch takes the busiest rank at ceil(B / ranks): with the engine's
    balancing the busiest of 8 ranks holds under 2 sequences more than the mean, where random
    assignment gives independent Poisson(154) counts whose expected maximum exceeds the mean by
    ~18 (expected_max_poisson, by the sum of 1 − F(k)^8; a normal approximation gives
    sqrt(154) x 1.42 = 17.6, 1.42 the expected maximum of 8 standard normals)."""
    assert _busiest_rank_excess(balanced=True) < 2.0
    random_split = _busiest_rank_excess(balanced=False)
    by_formula = expected_max_poisson(1231 / 8, 8) - 1231 / 8
    assert by_formula == pytest.approx(math.sqrt(1231 / 8) * 1.4236, rel=0.05)
    # the simulated counts drift from Poisson(154) only by the slow turnover (1 / 3,748 a step)
    assert random_split == pytest.approx(by_formula, rel=0.35)


@pytest.mark.parametrize("target", [None, 12.5])
def test_skipping_bounded_layouts_gives_the_same_padded_point(
    monkeypatch: pytest.MonkeyPatch, target: float | None
) -> None:
    """The layout chooser's rate bound (unpadded) still covers every padded layout's rate, so
    skipping bounded layouts picks the point that evaluating every layout picks."""
    import planner.demand.inference as inference
    from planner.demand.inference import layouts

    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    load = model_load(R1, "fp4", "fp8", 804, 3748, 1, graph_batch_sizes=SIZES)
    for lay in layouts(R1, hw, load, 1):
        physics = StepPhysics(hw, load, lay)
        point = inference._evaluate(hw, load, lay, target, True, physics)[0]
        if point is not None:
            bound = inference._per_unit_bound(physics, load, lay, target, True)
            assert point.tokens_per_s_per_unit <= bound  # type: ignore[operator]
    args = (R1, hw, "fp4", "fp8", 804, 3748, 1, target, 1)
    kw = dict(chunked_prefill=True, graph_batch_sizes=SIZES)
    monkeypatch.setattr(inference, "VECTORISED", False)  # the scalar search's skips
    with_skips = inference.decode_point.uncached(*args, **kw)
    monkeypatch.setattr(inference, "SKIP_BOUNDED", False)
    every = inference.decode_point.uncached(*args, **kw)
    assert with_skips == every and with_skips.feasible
