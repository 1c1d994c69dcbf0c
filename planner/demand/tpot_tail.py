"""The tail of the time per output token over requests when prompts interrupt decode steps.

Aggregated serving prefills each admitted prompt on the decoding instance. Without chunked
context (TensorRT-LLM's `enable_chunked_context: False`, the MLPerf Inference v5.1 runs) the
whole prompt runs in one iteration and every sequence of the instance waits for it (attention-DP
ranks too: the MoE all-to-all synchronises them each layer). A request's TPOT is what MLPerf
measures: (latency − TTFT) / (output tokens − 1), so it is its decode steps plus the prefill
stalls that fell inside its own decode, spread over its own output tokens:

  TPOT(request) = step / t + K · s_p / (n − 1)

  step  the decode-only step (serving_physics.StepTerms.step_s), t tokens per step (speculative
        decoding: accepted + 1; 1 without)
  s_p   one prompt's prefill on the instance: prefilled prompt tokens x prefill_time per token
  n     the request's output tokens; it decodes for j = (n − 1)/t steps
  K     prompts admitted during those j steps ~ Poisson(r · j): arrivals are Poisson (MLPerf
        Server issues queries as a Poisson process) at the rate Little's law gives the batch: B
        sequences in flight that each last O/t steps admit r = B · t / (votes · O) prompts a step
        (votes sequences share one prompt)

E[K · s_p / (n − 1)] = r · s_p / t for every n: the mean TPOT is today's (step + prefill chunk)
/ t (chunk = r · s_p = B · t · P / (votes · O) · per-token prefill). Its spread falls as
1/sqrt(r · j): short requests carry the tail. The quantile q of TPOT over requests (p99: q =
0.99) is found on the mixture over n of those Poisson laws:

  n     without `output_tokens_percentiles`: geometric on 1, 2, ... with mean O, the
        maximum-entropy law of a positive integer given only its mean (Jaynes 1957;
        rl.length_shape's drain law without its cap); with them, the dataset's law (below); either
        conditioned on n >= 2 (a request of one output token has no TPOT)

Output lengths (`output_tokens_percentiles`: output tokens at percentiles of the requests, a
dataset's figures, e.g. p0 / p1 / p5 / ... / p100). The quantile is set by the short requests, so
the law's lower part matters, and datasets differ there far more than a mean or a spread tells:
MLPerf's Llama 3.1 405B set has 0.37% of reference outputs at <= 20 tokens where the geometric
of its mean puts 2.9%, and DeepSeek-R1's (stdev/mean 1.25, above the geometric's ~1) has none
below 209 tokens, 0.052 x its mean, where a gamma of that spread puts 12% below 0.05 x the mean.
So the law is the dataset's own CDF, linear between the given percentiles (from 1 token at p0
when p0 is not given; the requests above the highest given percentile all at its length when
p100 is not given), scaled by O over its own mean so that its mean is O (the rate r above and
every other term use O; a dataset's reference outputs are seldom the served model's own, so the
law gives the shape and O the scale). Length n takes the probability of [n − 1/2, n + 1/2).

With chunked context the same prefill work is spread over the steps instead of stalling one;
averaged over a request's own decode (what TPOT is) the work it waits for is the same K · s_p
up to the chunks at its two ends, so the same law holds to that edge. That includes a per-step
token budget (engine.max_num_tokens: a P-token prompt prefilled as ceil(P / (M − D)) chunks on
consecutive steps): a request of a few gaps sees a busy period's consecutive chunks, one of many
gaps the whole prompts, so splitting does not narrow the quantile. Checked by an engine simulation
(bench/token_budget_sim.py, tests/test_token_budget.py: Poisson prompts, gamma lengths, C = M − D
prompt tokens a step first come first served, geometric outputs) at the B200 405B Interactive
run's batch: p99 − mean 42.6 ms with the 1,536-token budget, 37.8 without it, this law 38.7
(B200 Server 73.9 / 64.3 / 64.4, GB200 Interactive 34.0 / 48.9 / 48.6: within a third, either
sign); a law that counts each chunk as an independent Poisson stall (rate r · N, s_p / N each)
gives 13.7 / 25.8 / 14.0 and is wrong: it drops that one prompt's chunks fall on consecutive
steps. With the 405B dataset's output lengths (output_tokens_percentiles) in both the simulation
and this law: 17.9 / 17.6 / 18.2, 29.7 / 29.2 / 29.4, 22.5 / 22.3 / 22.4 ms.

Prompt lengths vary (`prompt_tokens_stdev`): each stall is then s_p times the prompt's length
over the mean, and the K stalls a request waits for add up to a compound Poisson sum. A stall's
law is the gamma of the prompts' mean and coefficient of variation c = stdev / mean (shape
α = 1/c², scale s_p · c²: the two-moment fit; c = 1 is the exponential, the maximum-entropy law
of a positive length given only its mean), so K of them sum to Gamma(K · α, s_p · c²) and

  P(TPOT − step/t > y) = Σ_n P(n) Σ_{K>=1} Poisson(K; r · (n − 1)/t) · Q(K · α, y · (n − 1) / (s_p c²))

(Q the regularised upper incomplete gamma); the quantile is the y where that is 1 − q. The mean
is unchanged (E[s] = s_p); the variance of the stalls a request waits for grows by 1 + c².
Without the field (c = 0) every stall is the mean prompt's, as above.

Not modelled: the batch in flight varies (a Poisson count of mean B: ±sqrt(B)), and ranks of
an attention-DP instance prefilling on one rank (s_p is the whole instance's time).
"""

from __future__ import annotations

import functools
import math

import numpy as np

# Output lengths up to this many are one point each of the mixture; above it, bins growing by
# LENGTH_BIN_GROWTH, each counted at its shortest length (the most variable TPOT of the bin: the
# quantile is, if anything, raised).
EXACT_LENGTHS = 200
LENGTH_BIN_GROWTH = 1.05
# The geometric tail beyond the length where less than this share of requests remain is lumped
# into the last bin (counted at its shortest length, as above).
LENGTH_TAIL_SHARE = 1e-9
# Poisson counts beyond the mean + this many standard deviations (+ a few counts) are dropped:
# P(K > μ + 8 σ + 10) < 1e-12 for any μ.
POISSON_SIGMAS = 8.0
# Compound tail (prompt lengths spread): (length, count) cells of the mixture whose probability
# is below this are left out (all of them together hold < 1e-7 of the mass at these sizes, far
# below the 1e-3 a p99.9 reads), and the quantile is solved to this relative tolerance.
COMPOUND_CELL_PROBABILITY = 1e-12
COMPOUND_RELATIVE_TOLERANCE = 1e-5
# Lengths whose mean stall count exceeds this take the compound sum as one gamma of its mean and
# variance (its skewness 2 sqrt(1 + c²) / sqrt(μ), above the exact (1 + 2c²) / (sqrt(μ)
# sqrt(1 + c²)): a tail no lighter); their spread is then sqrt((1 + c²)/μ) <= 14% of the mean
# at c = 1, so they seldom reach a quantile set by the short requests.
COMPOUND_EXACT_MEAN_COUNT = 100.0
# The quantile's search sorts only the values from the histogram bin below the one it ends in
# up (_upper_quantile).
QUANTILE_BINS = 256


def output_lengths(
    mean: float, percentiles: tuple[tuple[float, float], ...] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Output lengths n >= 2 and their probabilities (one point per length up to EXACT_LENGTHS,
    then bins counted at their shortest length). Without `percentiles`: geometric on 1, 2, ...
    with mean `mean`, P(n) = (1 − ρ) ρ^(n−1), ρ = 1 − 1/mean; with them ((quantile, tokens)
    pairs, ascending): the piecewise-linear law through them scaled to mean `mean`
    (percentile_law). Either conditioned on n >= 2."""
    if percentiles is not None:
        return _percentile_lengths(mean, percentiles)
    mean = max(mean, 1.0 + 1e-9)
    rho = 1.0 - 1.0 / mean
    log_rho = math.log(rho)
    # the length beyond which less than LENGTH_TAIL_SHARE remains: ρ^(n−1) = share
    last = max(3, int(1 + math.log(LENGTH_TAIL_SHARE) / log_rho))
    lower = np.array(_length_edges(last), dtype=float)
    # P(N >= a) = ρ^(a−1); a bin [a, b) holds ρ^(a−1) − ρ^(b−1), the last bin all of N >= a
    survival = np.exp((lower - 1.0) * log_rho)
    weight = survival - np.append(survival[1:], 0.0)
    return lower, weight / weight.sum()


def _length_edges(last: int) -> list[int]:
    """Lower edges of the length bins from 2 to `last`: every length up to EXACT_LENGTHS, then
    growing by LENGTH_BIN_GROWTH."""
    edges = list(range(2, min(EXACT_LENGTHS, last) + 1))
    while edges[-1] < last:
        edges.append(max(edges[-1] + 1, int(edges[-1] * LENGTH_BIN_GROWTH)))
    return edges


def percentile_law(
    mean: float, percentiles: tuple[tuple[float, float], ...]
) -> tuple[np.ndarray, np.ndarray]:
    """The CDF points (tokens, quantile) of the output-length law given by `percentiles`
    ((quantile, tokens) pairs, quantiles ascending in [0, 1], tokens non-decreasing), scaled to
    mean `mean` (module docstring): (1 token, 0) added first without a p0; without a p1 (p100)
    the law's remaining 1 − q_last at the last length (a jump of the CDF there). Its mean before
    scaling: Σ (q_{i+1} − q_i)(x_i + x_{i+1})/2 + (1 − q_last) x_last."""
    q = [float(a) for a, _ in percentiles]
    x = [float(b) for _, b in percentiles]
    if q[0] > 0:
        q, x = [0.0, *q], [1.0, *x]
    qa, xa = np.array(q), np.array(x)
    law_mean = float(np.sum(np.diff(qa) * (xa[1:] + xa[:-1]) / 2.0) + (1.0 - qa[-1]) * xa[-1])
    return xa * (mean / law_mean), qa


def _percentile_lengths(
    mean: float, percentiles: tuple[tuple[float, float], ...]
) -> tuple[np.ndarray, np.ndarray]:
    """output_lengths for a percentile law: length n holds F(n + 1/2) − F(n − 1/2) (a bin [a, b)
    F(b − 1/2) − F(a − 1/2)), F the scaled piecewise-linear CDF, 1 from the last point on;
    conditioned on n >= 2."""
    tokens, quantiles = percentile_law(mean, percentiles)
    last = max(3, int(math.ceil(tokens[-1])) + 1)
    lower = np.array(_length_edges(last), dtype=float)
    at = lower - 0.5
    cdf = np.where(at >= tokens[-1], 1.0, np.interp(at, tokens, quantiles, left=0.0))
    weight = np.append(cdf[1:], 1.0) - cdf
    keep = weight > 0
    if not keep.any():  # every request at one output token: no TPOT; take the shortest, 2
        return np.array([2.0]), np.array([1.0])
    return lower[keep], weight[keep] / weight[keep].sum()


@functools.lru_cache(maxsize=4096)
def stall_quantile_s(
    quantile: float,
    prompts_per_step: float,
    stall_s: float,
    mean_output_tokens: float,
    tokens_per_step: float = 1.0,
    prompt_cv: float = 0.0,
    output_percentiles: tuple[tuple[float, float], ...] | None = None,
) -> float:
    """The `quantile` over requests of K · s_p / (n − 1), the prefill stalls a request waits for
    per output token (module docstring): K ~ Poisson(r · (n − 1) / t), n geometric with mean O
    (output_percentiles: the dataset's law scaled to mean O, output_lengths).
    TPOT(quantile) = step / t + this. 0 without prompts (r = 0) or stalls (s_p = 0).
    prompt_cv > 0: the prompts' lengths vary with that coefficient of variation (stdev / mean),
    each stall gamma with mean s_p (compound_stall_quantile_s)."""
    if prompts_per_step <= 0 or stall_s <= 0:
        return 0.0
    lengths, weights = output_lengths(mean_output_tokens, output_percentiles)
    mean_y = prompts_per_step * stall_s / tokens_per_step
    for upper_only in (True, False):
        y, w = _stall_mixture(
            lengths, weights, prompts_per_step, stall_s, tokens_per_step, upper_only
        )
        value = _upper_quantile(y, w, 1.0 - quantile)
        # With the counts below the mean left out the quantile is exact if it is >= the mean
        # stall (every count left out is below it); else count them all.
        if value >= mean_y or not upper_only:
            break
    if prompt_cv > 0:
        return compound_stall_quantile_s(
            quantile, lengths, weights, prompts_per_step, stall_s, tokens_per_step, prompt_cv, value
        )
    return value


def _upper_quantile(y: np.ndarray, w: np.ndarray, target: float) -> float:
    """y at the first place, walking the values from the largest down, where the weights
    walked add up to `target` (the last value if they never do).

    Without sorting them all: a weighted histogram of the values over QUANTILE_BINS equal bins
    finds the bin the walk ends in (a value's bin rises with it, so every bin above holds only
    larger values, walked before it); the weight above that bin is summed and its values are
    histogrammed again, until at most 4 bins' worth remain; those are sorted and walked on from
    the weight above them. The sums above are added in another order than a walk's, so the
    place can differ only where the walk reaches the target within a rounding error of it.
    Before session 25 every value (~10^5 a call) was sorted: 44% of a p99 `estimate inference`
    of DeepSeek-R1."""
    kept = np.arange(len(y))
    walked = 0.0  # weight of the values above the kept ones
    while len(kept) > 4 * QUANTILE_BINS:
        yk = y[kept]
        low, high = float(yk.min()), float(yk.max())
        if high <= low:
            break
        bin_of = np.minimum(
            ((yk - low) * (QUANTILE_BINS / (high - low))).astype(int), QUANTILE_BINS - 1
        )
        mass = np.bincount(bin_of, weights=w[kept], minlength=QUANTILE_BINS)
        from_top = walked + np.cumsum(mass[::-1])
        j = int(np.searchsorted(from_top, target))
        if j >= QUANTILE_BINS:
            break  # the walk does not end among the kept values: walk them all
        walked = float(from_top[j - 1]) if j > 0 else walked
        kept = kept[bin_of == QUANTILE_BINS - 1 - j]
    order = kept[np.argsort(y[kept])[::-1]]
    above = walked + np.cumsum(w[order])
    i = min(int(np.searchsorted(above, target)), len(order) - 1)
    return float(y[order[i]])


def compound_stall_quantile_s(
    quantile: float,
    lengths: np.ndarray,
    weights: np.ndarray,
    rate: float,
    stall_s: float,
    tokens_per_step: float,
    prompt_cv: float,
    fixed_quantile: float = 0.0,
) -> float:
    """The `quantile` of Y = Σ_{i<=K} s_i / (n − 1) over output lengths n (`lengths` with
    probabilities `weights`) and counts K ~ Poisson(rate · (n − 1) / t), the stalls s_i gamma with
    mean stall_s and coefficient of variation prompt_cv (module docstring): the y at which
    P(Y > y) = Σ P(n) P(K) Q(K/c², y · (n − 1) / (stall_s · c²)) equals 1 − quantile.
    fixed_quantile: the quantile with every stall stall_s (c = 0), where the search starts."""
    # scipy only here: importing it costs every process ~0.2 s (bench/bench_startup.py).
    from scipy.optimize import brentq
    from scipy.special import gammaincc

    shape = 1.0 / prompt_cv**2
    scale = stall_s * prompt_cv**2
    n_k, cell, interval = [], [], []
    mus = rate * (lengths - 1.0) / tokens_per_step
    sds = np.sqrt(mus)
    his = np.ceil(mus + POISSON_SIGMAS * sds + 10.0).astype(int)
    log_fact = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, int(his.max()) + 1)))))
    for m, mu, hi, wn in zip(lengths - 1.0, mus, his, weights, strict=True):
        if mu > COMPOUND_EXACT_MEAN_COUNT:
            # One gamma matched to the compound sum's mean μ s_p and variance μ s_p² (1 + c²):
            # shape μ / (1 + c²), scale s_p (1 + c²), i.e. counts μ c² / (1 + c²) in units of α.
            n_k.append(np.array([mu * prompt_cv**2 / (1.0 + prompt_cv**2)]))
            cell.append(np.array([wn]))
            interval.append(np.array([m * prompt_cv**2 / (1.0 + prompt_cv**2)]))
            continue
        k = np.arange(1, hi + 1)  # K = 0: no stall, Y = 0 is never above y > 0
        p = wn * np.exp(k * math.log(mu) - mu - log_fact[1 : hi + 1])
        keep = p >= COMPOUND_CELL_PROBABILITY
        n_k.append(k[keep])
        cell.append(p[keep])
        interval.append(np.full(int(keep.sum()), m))
    shapes = np.concatenate(n_k).astype(float) * shape  # K · α, the sums' gamma shapes
    probability = np.concatenate(cell)
    x_per_y = np.concatenate(interval) / scale
    target = 1.0 - quantile

    def excess(y: float) -> float:
        return float(np.dot(probability, gammaincc(shapes, y * x_per_y))) - target

    if excess(0.0) <= 0:  # fewer than 1 − q of requests wait for any stall
        return 0.0
    # Bracket around the quantile without the spread (stalls of s_p each), which it is near.
    low = 0.9 * fixed_quantile
    if low > 0 and excess(low) <= 0:
        low = 0.0
    high = max(1.5 * fixed_quantile, rate * stall_s / tokens_per_step, stall_s)
    while excess(high) > 0:
        high *= 2.0
    return float(brentq(excess, low, high, rtol=COMPOUND_RELATIVE_TOLERANCE))


def _stall_mixture(
    lengths: np.ndarray,
    weights: np.ndarray,
    rate: float,
    stall_s: float,
    tokens_per_step: float,
    upper_only: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Values K · s_p / (n − 1) and their probabilities over lengths n and counts K (the counts
    below floor(μ) − 1 left out when upper_only)."""
    intervals = lengths - 1.0
    mus = rate * intervals / tokens_per_step
    sds = np.sqrt(mus)
    los = (
        np.maximum(0, np.floor(mus - 1.0)) if upper_only else np.maximum(0, mus - 12.0 * sds - 12)
    ).astype(int)
    his = np.ceil(mus + POISSON_SIGMAS * sds + 10.0).astype(int)
    # ln k! for k = 0 .. max count
    log_fact = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, int(his.max()) + 1)))))
    # Every length's counts lo..hi laid end to end: `of` names each entry's length.
    sizes = his - los + 1
    of = np.repeat(np.arange(len(sizes)), sizes)
    k = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes - los, sizes)
    log_mu = np.array([math.log(mu) for mu in mus])  # math.log, as each length's own term
    pmf = np.exp(k * log_mu[of] - mus[of] - log_fact[k])
    return k * (stall_s / intervals)[of], weights[of] * pmf
