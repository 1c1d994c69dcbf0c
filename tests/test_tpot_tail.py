"""The TPOT percentile over requests under Poisson prompt stalls (planner/demand/tpot_tail.py),
each against a computation by hand or by brute force."""

from __future__ import annotations

import math

import pytest

from hardware.catalog import load_catalog
from planner.demand.inference import estimate_inference
from planner.demand.tpot_tail import output_lengths, stall_quantile_s
from planner.kinds.inference import InferenceSpec, percentile_quantile

CATALOG = load_catalog()


def _brute_force_quantile(
    quantile: float, rate: float, stall: float, mean_n: float, t: float = 1.0
) -> float:
    """The same law enumerated term by term: n >= 2 geometric with mean O (P(n) = (1−ρ)ρ^(n−1),
    ρ = 1 − 1/O, renormalised over n >= 2), K ~ Poisson(rate · (n−1)/t), value K · s / (n−1);
    the largest value v with P(value >= v) >= 1 − quantile."""
    rho = 1 - 1 / mean_n
    pairs: list[tuple[float, float]] = []
    for n in range(2, 400):
        pn = (1 - rho) * rho ** (n - 1)
        mu = rate * (n - 1) / t
        for k in range(0, int(mu + 10 * math.sqrt(mu) + 20)):
            pk = math.exp(-mu + k * math.log(mu) - math.lgamma(k + 1))
            pairs.append((k * stall / (n - 1), pn * pk))
    total = sum(w for _, w in pairs)
    above = 0.0
    for value, w in sorted(pairs, reverse=True):
        above += w / total
        if above >= 1 - quantile:
            return value
    raise AssertionError


def test_geometric_lengths_by_hand() -> None:
    # O = 4: ρ = 3/4, P(n >= 2) = 3/4, so P(n = 2 | n >= 2) = (1/4 · 3/4) / (3/4) = 1/4.
    lengths, weights = output_lengths(4.0)
    assert lengths[0] == 2 and weights[0] == pytest.approx(0.25, rel=1e-9)
    assert lengths[1] == 3 and weights[1] == pytest.approx(0.25 * 0.75, rel=1e-9)
    assert weights.sum() == pytest.approx(1.0, rel=1e-12)


def test_stall_quantile_by_hand_one_stall() -> None:
    # Outputs of mean 4, 0.1 prompts a step, each a 10 ms stall. A request of n tokens sees
    # K ~ Poisson(0.1 (n − 1)) stalls over its n − 1 TPOT intervals. The share that sees any:
    # Σ_n P(n) (1 − e^(−0.1(n−1))) = 1 − Σ_n (1/4)(3/4)^(n−2) e^(−0.1(n−1))
    # = 1 − (1/4) e^-0.1 / (1 − (3/4) e^-0.1) = 29.6% < 30%: the p70 is no stall at all.
    share_stalled = 1 - 0.25 * math.exp(-0.1) / (1 - 0.75 * math.exp(-0.1))
    assert share_stalled == pytest.approx(0.2961, abs=1e-4)
    assert stall_quantile_s(0.70, 0.1, 0.010, 4.0) == 0.0
    # The largest value is one stall over the single interval of a 2-token request (10 ms), held
    # by 1/4 x (1 − e^-0.1) = 2.4% of requests (two stalls there: 0.1%, 20 ms): the p99 is 10 ms.
    assert 0.25 * (1 - math.exp(-0.1)) == pytest.approx(0.0238, abs=1e-4)
    assert stall_quantile_s(0.99, 0.1, 0.010, 4.0) == pytest.approx(0.010, rel=1e-12)
    assert stall_quantile_s(0.99, 0.1, 0.010, 4.0) == pytest.approx(
        _brute_force_quantile(0.99, 0.1, 0.010, 4.0), rel=1e-12
    )


def test_compound_tail_by_hand_exponential_stalls() -> None:
    # Prompt lengths with c = 1 (stdev = mean): each stall exponential of mean 10 ms, K of them
    # Erlang(K). Outputs of mean 1 (every request n = 2: one TPOT interval), 0.02 prompts a step:
    # K ~ Poisson(0.02). P(Y > y) = Σ_K P(K) e^-x Σ_{i<K} x^i / i!, x = y / 10 ms:
    # 0.0196 e^-x + 1.96e-4 (1 + x) e^-x + 1.3e-6 (...) = 0.01 at x = 0.690, y = 6.90 ms (the
    # mean prompt's stall, 10 ms, with c = 0: 2% of requests wait for one).
    y = stall_quantile_s(0.99, 0.02, 0.010, 1.0, 1.0, 1.0)
    x = y / 0.010
    mu = 0.02

    def poisson(k: int) -> float:
        return math.exp(-mu) * mu**k / math.factorial(k)

    survival = math.exp(-x) * (poisson(1) + poisson(2) * (1 + x) + poisson(3) * (1 + x + x * x / 2))
    assert survival == pytest.approx(0.01, rel=1e-5)
    assert y == pytest.approx(0.00690, abs=1e-5)
    assert stall_quantile_s(0.99, 0.02, 0.010, 1.0, 1.0, 0.0) == pytest.approx(0.010)


def test_compound_tail_widens_with_the_spread() -> None:
    # 0.5 prompts a step of 8 ms stalls, outputs of mean 6: the p99 without spread is 16 ms; a
    # narrow spread (c = 0.01) keeps it, wider ones raise it.
    fixed = stall_quantile_s(0.99, 0.5, 0.008, 6.0)
    assert fixed == pytest.approx(0.016)
    spreads = [stall_quantile_s(0.99, 0.5, 0.008, 6.0, 1.0, c) for c in (0.01, 0.5, 1.0)]
    assert spreads[0] == pytest.approx(fixed, rel=0.01)
    assert fixed < spreads[1] < spreads[2]


def test_prompt_spread_on_an_estimate() -> None:
    # The MLPerf Llama 2 70B Interactive workload on one HGX B200 at TP1: the OpenOrca prompts'
    # stdev (171.5 tokens on a mean of 222) widens the p99 tail at a given batch, so the batch
    # meeting 40 ms is no larger; without the field the estimate is the one-length tail's.
    catalog = load_catalog()
    base = dict(
        requests_per_day="1M",
        model="llama-2-70b",
        precision="fp4",
        kv_precision="fp8",
        prompt_tokens=222,
        output_tokens=272,
        tokens_per_s_per_user=25,
        tpot_percentile="p99",
        prefill="aggregated",
        engine={"layout": {"tp": 1}},
    )
    plain = estimate_inference(InferenceSpec.model_validate(base), catalog, "hgx-b200")
    spread = estimate_inference(
        InferenceSpec.model_validate({**base, "prompt_tokens_stdev": 171.5}), catalog, "hgx-b200"
    )
    assert plain.feasible and spread.feasible
    assert spread.max_batch is not None and plain.max_batch is not None
    assert spread.max_batch <= plain.max_batch
    assert spread.step_terms_s["tpot_tail"] > 0
    with pytest.raises(ValueError, match="prompt_tokens_stdev sets the spread"):
        InferenceSpec.model_validate({**base, "tpot_percentile": "mean", "prompt_tokens_stdev": 9})


@pytest.mark.parametrize(
    ("quantile", "rate", "stall", "mean_n", "t"),
    [
        (0.99, 0.5, 0.008, 6.0, 1.0),
        (0.99, 2.0, 0.002, 7.0, 1.0),
        (0.95, 1.0, 0.004, 5.0, 1.0),
        (0.99, 1.0, 0.004, 5.0, 1.8),  # speculative decoding: 1.8 tokens a step
    ],
)
def test_stall_quantile_matches_brute_force(
    quantile: float, rate: float, stall: float, mean_n: float, t: float
) -> None:
    assert stall_quantile_s(quantile, rate, stall, mean_n, t) == pytest.approx(
        _brute_force_quantile(quantile, rate, stall, mean_n, t), rel=1e-12
    )


def test_quantile_rises_above_the_mean_and_grows_with_the_stall() -> None:
    # The mean stall per token is rate x stall for every length; the p99 is above it, and a
    # longer stall at the same mean (fewer, longer prompts) widens the tail.
    mean = 0.5 * 0.008
    p99 = stall_quantile_s(0.99, 0.5, 0.008, 100.0)
    wider = stall_quantile_s(0.99, 0.25, 0.016, 100.0)
    assert p99 > mean and wider > p99
    assert stall_quantile_s(0.99, 0.0, 0.008, 100.0) == 0.0


def _spec(**extra: object) -> InferenceSpec:
    base: dict[str, object] = dict(
        kind="inference",
        model="llama-2-70b",
        precision="fp8",
        kv_precision="fp8",
        requests_per_day="1M",
        prompt_tokens=1000,
        output_tokens=100,
        tokens_per_s_per_user=25,
        prefill="aggregated",
    )
    return InferenceSpec.model_validate({**base, **extra})


def test_p99_target_carries_the_tail_term_and_shrinks_the_batch() -> None:
    # Llama 2 70B FP8 on one HGX H100, 1,000-token prompts for 100-token answers at 40 ms: the
    # mean target's batch, then the p99 target's: TPOT + the tail recomputed from the estimate's
    # own terms (prompts a step = chunk / one prompt's prefill) meets the 40 ms budget.
    mean = estimate_inference(_spec(), CATALOG, "hgx-h100", max_units_per_instance=1)
    p99 = estimate_inference(
        _spec(tpot_percentile="p99"), CATALOG, "hgx-h100", max_units_per_instance=1
    )
    assert mean.feasible and p99.feasible
    assert "tpot_tail" not in mean.step_terms_s  # the default keeps its terms as they were
    terms = p99.step_terms_s
    chunk, tail = terms["prefill_chunk"], terms["tpot_tail"]
    assert tail > 0
    assert p99.prefill_tokens_per_s_per_instance is not None
    stall = 1000 / p99.prefill_tokens_per_s_per_instance  # one prompt's prefill, s
    by_hand = stall_quantile_s(0.99, chunk / stall, stall, 100.0) - chunk
    assert tail == pytest.approx(by_hand, rel=1e-9)
    assert p99.tpot_s is not None and p99.tpot_s + tail <= 1 / 25 * (1 + 1e-12)
    assert p99.step_time_s is not None and p99.step_time_s + chunk == pytest.approx(p99.tpot_s)
    assert p99.max_batch is not None and mean.max_batch is not None
    assert p99.max_batch < mean.max_batch
    # The derivation names the tail and the quantile the budget holds for.
    text = "\n".join(p99.derivation)
    assert "p99 over requests" in text and "p99 TPOT budget" in text


def test_p99_without_prompt_stalls_is_the_mean() -> None:
    # Disaggregated prefill: no prompt interrupts a decode step, every TPOT is the step's.
    base = _spec().model_copy(update={"prefill": "disaggregated"})
    tail = base.model_copy(update={"tpot_percentile": "p99"})
    a = estimate_inference(base, CATALOG, "hgx-h100", max_units_per_instance=1)
    b = estimate_inference(tail, CATALOG, "hgx-h100", max_units_per_instance=1)
    assert a.max_batch == b.max_batch and a.tpot_s == b.tpot_s


def test_percentile_field() -> None:
    assert _spec().tpot_quantile is None
    assert _spec(tpot_percentile="p99").tpot_quantile == 0.99
    assert _spec(tpot_percentile="p99.9").tpot_quantile == 0.999
    for bad in ("p100", "p49", "99", "p99.", "p99.99", "P99", "median"):
        assert percentile_quantile(bad) is None
        with pytest.raises(ValueError, match="is not a TPOT percentile"):
            _spec(tpot_percentile=bad)
    with pytest.raises(ValueError, match="not with mode: offline"):
        InferenceSpec.model_validate(
            dict(
                kind="inference",
                model="llama-2-70b",
                requests_per_day="1M",
                prompt_tokens=100,
                output_tokens=100,
                mode="offline",
                tpot_percentile="p99",
            )
        )


def test_estimate_cli_shows_the_percentile(capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main

    args = ["estimate", "inference", "--model", "llama-2-70b", "--system", "hgx-h100"]
    args += ["--precision", "fp8", "--prompt-tokens", "1000", "--output-tokens", "100"]
    args += ["--tokens-per-s-per-user", "25", "--prefill", "aggregated"]
    args += ["--max-units-per-instance", "1", "--tpot-percentile", "p99"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "p99 over requests" in out and "tpot_tail" in out and "p99 TPOT budget" in out


def test_expected_max_poisson_by_hand() -> None:
    from planner.demand.serving_physics import expected_max_poisson

    # Two Poisson(0.1) counts: P(max >= 1) = 1 − e^-0.2, P(max >= 2) = 1 − (e^-0.1 · 1.1)^2, ...
    f0, f1 = math.exp(-0.1), math.exp(-0.1) * 1.1
    f2 = f1 + math.exp(-0.1) * 0.01 / 2
    f3 = f2 + math.exp(-0.1) * 0.001 / 6
    by_hand = (1 - f0**2) + (1 - f1**2) + (1 - f2**2) + (1 - f3**2)
    assert expected_max_poisson(0.1, 2) == pytest.approx(by_hand, rel=1e-6)
    assert expected_max_poisson(3.0, 1) == 3.0
    # the max of d counts is at least one count's mean and at most their sum's
    assert 0.5 < expected_max_poisson(0.5, 8) < 8 * 0.5


def test_whole_prompts_stall_their_own_attention_replica() -> None:
    # DeepSeek-R1 FP4 on one HGX B200 as DP8 x TP1 attention, EP8: a prompt prefilled whole runs
    # its attention and dense layers on one GPU and its routed experts on all 8, while the other
    # seven replicas wait: (F − F_e − A)/(1 x rate(dense p)) + A/(1 x rate(kv p)) + F_e/(8 x rate(p))
    # a token, by hand.
    from planner.demand.common import (
        FORWARD_FLOPS_PER_PARAM,
        attention_flops_per_token,
        hardware,
    )
    from planner.demand.inference import layouts
    from planner.demand.serving_physics import (
        StepPhysics,
        compute_rate,
        ep_imbalance,
        expected_max_poisson,
        model_load,
        prefill_time,
        replica_prefill_s,
    )

    arch = CATALOG.models["deepseek-r1"]
    hw = hardware(CATALOG, "hgx-b200")
    assert hw is not None and arch.moe is not None
    load = model_load(arch, "fp4", "fp8", 804, 3748, 1, whole_prompts=True)
    lay = next(x for x in layouts(arch, hw, load, 1) if (x.accelerators, x.tp, x.pp) == (8, 1, 1))
    # a prompt token of the 804-token prompt: 2 (37B − 2 V h) + 2 V h / 804 + A (the input
    # embedding a lookup, the output head once for the prompt; V h = 129,280 x 7,168)
    emb = 129280 * 7168
    f = 2 * (37e9 - 2 * emb) + 2 * emb / 804 + attention_flops_per_token(arch, 402)
    fe = FORWARD_FLOPS_PER_PARAM * arch.moe_layers * arch.moe.active_experts * arch.expert_params
    dense_p = arch.checkpoints["fp4"].dense_precision or "fp4"
    # MoE terms: the prompt's 804 tokens over 8 EP ranks (x = ep_imbalance(804, 8)); its own GPU
    # sends and takes back all its routed rows (max(1/tp, x/g) = 1): 58 x 8 x 7,168 x 3 B x 7/8
    # a token at NVLink 5's 900 GB/s one way x link utilisation; 58 x (MoE layer latency + 2
    # hops) once for the prompt.
    sv = hw.accelerator.serving
    assert sv is not None
    x = ep_imbalance(arch, 804, 8)
    moe = (
        58 * 8 * 7168 * 3 * 7 / 8 / (900e9 * sv.link_bandwidth_utilisation)
        + 58 * (sv.moe_layer_latency_s + 2 * sv.scale_up_latency_s) / 804
    )
    # The prompt's attention (MLA as prefilled, A = attention_flops_per_token(402)) at the FP8 KV
    # precision's rate, as the decode step's (serving_physics.attention_precision).
    att = attention_flops_per_token(arch, 402)
    by_hand = (
        (f - fe - att) / compute_rate(hw, dense_p)
        + att / compute_rate(hw, "fp8")
        + x * fe / (8 * compute_rate(hw, "fp4"))
        + moe
    )
    assert replica_prefill_s(hw, arch, "fp4", lay, 402, "fp8") == pytest.approx(by_hand, rel=1e-12)
    # ~4x the whole instance's per-token time (the dense part and the all-to-all's sending on 1
    # GPU, not 8)
    inst = prefill_time(hw, arch, "fp4", lay, 402, kv_precision="fp8").per_token_s
    assert 3 < by_hand / inst < 6
    # The chunk: E[max of 8 Poisson(r/8)] x 804 x that, r = B / O prompts a step.
    step = StepPhysics(hw, load, lay)
    batch = 2000
    r = batch / 3748
    chunk = step.terms(batch, True).chunk_s
    assert chunk == pytest.approx(expected_max_poisson(r / 8, 8) * 804 * by_hand, rel=1e-12)
    # Chunked (the default) spreads the same prompts over the whole instance.
    chunked = StepPhysics(hw, model_load(arch, "fp4", "fp8", 804, 3748, 1), lay)
    assert chunked.terms(batch, True).chunk_s == pytest.approx(r * 804 * inst, rel=1e-12)
    assert chunk > 2 * chunked.terms(batch, True).chunk_s
    # The TPOT floor stays below the TPOT.
    for b in (8, 100, 2000, 5000):
        assert step.tpot_floor_s(b, True) <= step.terms(b, True).tpot_bound_s


def test_whole_prompts_on_one_replica_are_the_instance_prefill() -> None:
    # A dense model (one attention replica): a whole prompt costs prefill_time's time, so
    # chunked_context changes nothing.
    from planner.demand.common import hardware
    from planner.demand.inference import layouts
    from planner.demand.serving_physics import model_load, prefill_time, replica_prefill_s

    arch = CATALOG.models["llama-2-70b"]
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    load = model_load(arch, "fp8", "fp8", 1000, 100, 1)
    for lay in layouts(arch, hw, load, 2):
        assert replica_prefill_s(hw, arch, "fp8", lay, 500) == pytest.approx(
            prefill_time(hw, arch, "fp8", lay, 500).per_token_s, rel=1e-12
        )
    a = estimate_inference(_spec(), CATALOG, "hgx-h100", max_units_per_instance=1)
    b = estimate_inference(
        _spec(chunked_context=False), CATALOG, "hgx-h100", max_units_per_instance=1
    )
    assert a.max_batch == b.max_batch and a.tpot_s == b.tpot_s
    with pytest.raises(ValueError, match="chunked_context: false is for prefill: aggregated"):
        _spec(chunked_context=False, prefill="disaggregated")


@pytest.mark.parametrize("seed", range(6))
def test_upper_quantile_is_the_sorted_walk(seed: int) -> None:
    """_upper_quantile (histogram refinement, session 25) returns the value a walk over every
    value sorted from the largest down ends on, as the full sort did: on Poisson-like mixtures
    of 10^3-10^5 values with ties (integer counts over a few lengths), weights that never reach
    the target, and targets from 1e-4 to 0.5."""
    import numpy as np

    from planner.demand.tpot_tail import _upper_quantile

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1_000, 100_000))
    k = rng.integers(0, 400, n).astype(float)
    y = k * (1.0 / rng.choice([3.0, 7.0, 50.0, 999.0], n))  # ties across and within lengths
    w = rng.exponential(1.0, n) * np.exp(-k / 40.0)
    w /= w.sum() * (1.0 if seed % 3 else 2.0)  # seed 0 and 3: the weights sum to 1/2
    for target in (1e-4, 1e-2, 0.3, 0.5, 0.7):
        order = np.argsort(y, kind="stable")[::-1]
        i = min(int(np.searchsorted(np.cumsum(w[order]), target)), n - 1)
        assert _upper_quantile(y, w, target) == y[order[i]], target
