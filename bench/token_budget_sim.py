"""Does a per-step token budget narrow the p99 TPOT tail? An engine simulation (analysis).

With chunked context under a budget M (TensorRT-LLM max_num_tokens) a P-token prompt is prefilled
as ceil(P / (M − D)) chunks over consecutive steps. A law that counts the chunks as independent
Poisson stalls (rate r · N, s_p / N each) narrows the tail several-fold; this simulates the engine
instead: prompts arrive as a Poisson process (r a step), gamma lengths (mean P, cv c); every step
prefills up to C = M − D prompt tokens first come first served (TensorRT-LLM
context_chunking_policy first_come_first_served; a prompt that finishes leaves the rest of the
budget to the next); a prompt's request then decodes n tokens (geometric, mean O, n >= 2), one a
step, and its TPOT excess is the prefill time of the steps between its first and last token over
n − 1. Prints the p99 of that excess minus its mean (the tail) with the budget and without it
(whole prompts), against the whole-prompt law (tpot_tail.py, the model) and the chunk-Poisson
law. Result: the budget does not narrow the tail (a request of a few gaps sees a busy period's
consecutive chunks); the chunk-Poisson law is wrong. Run twice: output lengths geometric, and
the 405B dataset's (output_tokens_percentiles of the calibration point): with the dataset's the
tails are 17.9 / 17.6 / 18.2 ms (budget / none / law; B200 Interactive), 29.7 / 29.2 / 29.4 (B200
Server), 22.5 / 22.3 / 22.4 (GB200 Interactive): the law holds with either length law.

    PYTHONPATH=$PWD python bench/token_budget_sim.py
"""

from __future__ import annotations

from collections import deque

import numpy as np

from planner.calibration.serving import points
from planner.demand.tpot_tail import percentile_law, stall_quantile_s

# (run, decode batch D per budget, budget M, per-token prefill s, O): bench/step_at_run_batch.py's
# batches; prefill s a token from the planner's prefill_time on the run's layout (B200 TP4 74.6
# us; the others scaled from their chunk_s / (B · P/O) at the run's batch)
P, CV = 9429.0, 4066.9 / 9429.0


def output_draws(
    rng: np.random.Generator,
    out: float,
    count: int,
    law: tuple[tuple[float, float], ...] | None,
) -> np.ndarray:
    """`count` output lengths n >= 2: geometric of mean `out`, or with `law` (the dataset's
    percentiles) drawn from its piecewise-linear CDF scaled to mean `out` (percentile_law),
    rounded to whole tokens."""
    if law is None:
        n = rng.geometric(1 / out, count * 2)
    else:
        tokens, quantiles = percentile_law(out, law)
        u = rng.random(count * 2)
        n = np.where(u >= quantiles[-1], tokens[-1], np.interp(u, quantiles, tokens))
        n = np.rint(n).astype(int)
    return n[n >= 2][:count]


def simulate(
    batch: float,
    budget: int,
    per_token_s: float,
    out: float,
    steps: int,
    seed: int,
    law: tuple[tuple[float, float], ...] | None = None,
) -> np.ndarray:
    """TPOT excesses (s) of the requests whose decode ends inside the simulated steps (output
    lengths geometric, or the dataset's `law`: output_draws)."""
    rng = np.random.default_rng(seed)
    rate = batch / out  # prompts a step (Little: B sequences each lasting O steps)
    capacity = budget - batch
    k = 1 / CV**2
    arrivals = rng.poisson(rate, steps)
    queue: deque[list[float]] = deque()  # [remaining tokens, request index]
    prefill_tokens = np.zeros(steps)
    finish_step: list[int] = []
    for s in range(steps):
        for _ in range(arrivals[s]):
            queue.append([rng.gamma(k, P / k), 0.0])
        room = capacity
        while queue and room > 0:
            head = queue[0]
            take = min(room, head[0])
            head[0] -= take
            room -= take
            prefill_tokens[s] += take
            if head[0] <= 1e-9:
                queue.popleft()
                finish_step.append(s)
    stall = prefill_tokens * per_token_s
    cum = np.concatenate(([0.0], np.cumsum(stall)))
    ends = np.array(finish_step)
    n = output_draws(rng, out, len(ends), law)
    ends = ends[: len(n)]
    last = ends + n - 1  # the gaps are steps end+1 .. end+n−1
    keep = last < steps
    ends, n, last = ends[keep], n[keep], last[keep]
    return (cum[last + 1] - cum[ends + 1]) / (n - 1)


def main() -> None:
    runs = (
        ("B200 405B Interactive", 23, 1536, 74.6e-6, 653.0),
        ("B200 405B Server", 63, 2048, 74.6e-6, 653.0),
        ("GB200 405B Interactive", 36, 1024, 74.6e-6, 653.0),
    )
    print(
        f"{'run':24} {'E[N]':>5} {'sim budget':>10} {'sim none':>8} {'whole law':>9} "
        f"{'chunk-Poisson':>13}  (p99 - mean, ms)"
    )
    k = 1 / CV**2
    prompts = np.random.default_rng(3).gamma(k, P / k, 200_000)
    # The dataset's output lengths (the 405B points' output_tokens_percentiles) against the
    # geometric: the same engine with each law, and the whole-prompt law with each.
    law = next(p for p in points() if p.id == "mlperf51-b200-llama31-405b-interactive").spec
    for label, lengths in (("geometric", None), ("dataset", law.output_law)):
        print(f"output lengths: {label}")
        for name, batch, budget, tau, out in runs:
            rate, s_p = batch / out, P * tau
            tails = []
            for m in (budget, 10**9):
                y = simulate(batch, m, tau, out, 3_000_000, 11, lengths)
                tails.append(float(np.quantile(y, 0.99) - y.mean()))
            n_c = float(np.maximum(1, np.ceil(prompts / (budget - batch))).mean())
            whole = stall_quantile_s(0.99, rate, s_p, out, 1.0, CV, lengths) - rate * s_p
            chunk = stall_quantile_s(0.99, rate * n_c, s_p / n_c, out, 1.0, 0.0, lengths)
            chunk -= rate * s_p
            print(
                f"{name:24} {n_c:5.2f} {tails[0] * 1e3:10.1f} {tails[1] * 1e3:8.1f} "
                f"{whole * 1e3:9.1f} {chunk * 1e3:13.1f}"
            )


if __name__ == "__main__":
    main()
