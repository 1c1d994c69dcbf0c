"""Queueing for Server-style serving: Poisson arrivals to an instance whose decode slots (its
batch) are the servers.

A request holds one of c slots for its service time S (prefill + output · TPOT). With Poisson
arrivals at rate λ, offered load A = λ·S (in slots). M/M/c (Erlang C):
  P(wait) = C(c, A) = B(c, A) / (1 − (A/c)(1 − B(c, A))),  B = Erlang B (recurrence below)
  P(W > w) = C(c, A) · exp(−(c − A) · w / S)
Decode service times are nearly deterministic (fixed output length): M/D/c, approximated with
Allen–Cunneen, scales waits by (1 + cs²)/2 with service CV cs = 0, i.e. halves them:
  P(W > w) ≈ C(c, A) · exp(−2 (c − A) · w / S).
"""

from __future__ import annotations

import math


def erlang_b(servers: int, load: float) -> float:
    """Erlang B blocking probability by the stable recurrence B(0) = 1,
    B(n) = A·B(n−1) / (n + A·B(n−1))."""
    b = 1.0
    for n in range(1, servers + 1):
        b = load * b / (n + load * b)
    return b


def erlang_c(servers: int, load: float) -> float:
    """Probability an arrival waits in M/M/c, load A = λ/μ < c: B / (1 − ρ(1 − B)), ρ = A/c."""
    if load >= servers:
        return 1.0
    b = erlang_b(servers, load)
    rho = load / servers
    return b / (1.0 - rho * (1.0 - b))


def wait_tail_mdc(servers: int, load: float, wait_s: float, service_s: float) -> float:
    """P(W > wait_s) in M/D/c (Allen–Cunneen): C(c, A) · exp(−2 (c − A) · wait / S)."""
    if load >= servers:
        return 1.0
    return erlang_c(servers, load) * math.exp(-2.0 * (servers - load) * wait_s / service_s)


def mean_wait_mdc(servers: int, load: float, service_s: float) -> float:
    """Mean wait in M/D/c (Allen–Cunneen): C(c, A) · S / (c − A) / 2."""
    if load >= servers:
        return math.inf
    return erlang_c(servers, load) * service_s / (servers - load) / 2.0


def max_utilisation(
    servers: int, service_s: float, wait_s: float, tail_probability: float
) -> float:
    """The highest utilisation ρ = A/c at which P(W > wait_s) <= tail_probability (bisection;
    P(W > w) grows with the load). 0 if even a light load misses (wait_s <= 0)."""
    if wait_s <= 0 or servers < 1:
        return 0.0
    lo, hi = 0.0, float(servers)
    for _ in range(60):
        mid = (lo + hi) / 2
        if wait_tail_mdc(servers, mid, wait_s, service_s) <= tail_probability:
            lo = mid
        else:
            hi = mid
    return lo / servers
