"""Scaling-law economics: which model size N and token count D reach a loss, and what each
choice costs to train and to serve.

Loss model (Hoffmann et al. 2022, eq. 2), constants from the catalog (hardware/data/scaling.yaml):
  L(N, D) = E + A / N^alpha + B / D^beta          N parameters, D tokens, L nats/token
Iso-loss curve: for a given N, the tokens that reach loss L:
  D(N, L) = (B / (L - E - A / N^alpha))^(1/beta)   (none when L <= E + A / N^alpha)
Compute-optimal point at a budget C = 6·N·D (Hoffmann et al. eq. 4, closed form):
  G = (alpha·A / (beta·B))^(1/(alpha+beta))
  N_opt = G · (C/6)^(beta/(alpha+beta)),  D_opt = (C/6) / N_opt
Compute-optimal point on an iso-loss curve (the least 6·N·D reaching L: the same first-order
condition alpha·A/N^alpha = beta·B/D^beta, so with x = A/N^alpha, y = B/D^beta, x + y = L - E):
  x = beta·(L - E)/(alpha + beta),  y = alpha·(L - E)/(alpha + beta)
  N = (A/x)^(1/alpha),  D = (B/y)^(1/beta)
Work per candidate: pretraining 6·N·D FLOPs; serving 2·N FLOPs per token (a forward pass).

Family shape rule (generated candidates, `shape_like`): scale a dense GQA base model at the same
aspect ratio: s = (N / N_base)^(1/3) (parameters ~ 12·layers·hidden^2 with hidden/layers fixed);
layers = round(layers_base · s); head_dim and kv_heads as the base; heads = the multiple of
kv_heads nearest hidden_base · s / head_dim; hidden = heads · head_dim; ffn (where the base
gives it) = round(ffn_base · hidden / hidden_base), its gating the base's. `params` is the
candidate's N exactly (the rounded shape serves the KV-cache and attention terms only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from hardware.catalog import Catalog
from hardware.schema import ModelArch, ScalingLaw

DEFAULT_LAW = "epoch-2024"
# Tokens per parameter of `planner estimate scaling`'s iso-loss table (10 to 10,000).
DEFAULT_RATIOS = (10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0)
# Pretraining FLOPs per parameter per token (forward + backward) and serving FLOPs per
# parameter per token (forward): Kaplan et al. 2020, section 2.1.
TRAIN_FLOPS_PER_PARAM_TOKEN = 6.0
SERVE_FLOPS_PER_PARAM_TOKEN = 2.0


def scaling_law(catalog: Catalog, name: str | None = None) -> ScalingLaw:
    """The catalog's scaling law `name` (default DEFAULT_LAW). KeyError names the known ones."""
    laws = catalog.data.scaling_laws
    key = name or DEFAULT_LAW
    if key not in laws:
        raise KeyError(f"unknown scaling law {key!r}; known: {', '.join(sorted(laws))}")
    return laws[key]


def loss(law: ScalingLaw, params: float, tokens: float) -> float:
    """L(N, D) = E + A / N^alpha + B / D^beta   (nats per token)."""
    return law.E + law.A / params**law.alpha + law.B / tokens**law.beta


def tokens_for_loss(law: ScalingLaw, params: float, target: float) -> float:
    """D(N, L) on the iso-loss curve; math.inf when N alone cannot reach L."""
    room = target - law.E - law.A / params**law.alpha
    if room <= 0:
        return math.inf
    return (law.B / room) ** (1.0 / law.beta)


def compute_optimal(law: ScalingLaw, flops: float) -> tuple[float, float]:
    """(N_opt, D_opt) minimising L at C = 6·N·D FLOPs (closed form, module docstring)."""
    a, b = law.alpha, law.beta
    g = (a * law.A / (b * law.B)) ** (1.0 / (a + b))
    n = g * (flops / TRAIN_FLOPS_PER_PARAM_TOKEN) ** (b / (a + b))
    return n, flops / TRAIN_FLOPS_PER_PARAM_TOKEN / n


def compute_optimal_for_loss(law: ScalingLaw, target: float) -> tuple[float, float]:
    """(N, D) reaching `target` with the fewest 6·N·D FLOPs (closed form, module docstring)."""
    if target <= law.E:
        raise ValueError(f"loss {target:g} is not above the law's irreducible loss E = {law.E:g}")
    a, b = law.alpha, law.beta
    x = b * (target - law.E) / (a + b)
    y = a * (target - law.E) / (a + b)
    return (law.A / x) ** (1.0 / a), (law.B / y) ** (1.0 / b)


def params_at_ratio(law: ScalingLaw, target: float, tokens_per_param: float) -> float:
    """N on the iso-loss curve with D = tokens_per_param · N: L(N, r·N) decreases in N, so
    bisection on log N (to 1e-12 relative)."""
    if target <= law.E:
        raise ValueError(f"loss {target:g} is not above the law's irreducible loss E = {law.E:g}")
    lo, hi = 0.0, 40.0 * math.log(10.0)  # 1 to 1e40 parameters
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if loss(law, math.exp(mid), tokens_per_param * math.exp(mid)) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return math.exp(0.5 * (lo + hi))


def shape_like(base: ModelArch, params: float, description: str) -> ModelArch:
    """A dense GQA model of `params` parameters shaped like `base` (module docstring's rule)."""
    if base.attention != "gqa" or base.moe is not None or base.kv_heads is None:
        raise ValueError("the family shape rule scales dense GQA models only")
    s = (params / base.params) ** (1.0 / 3.0)
    head_dim = base.hidden // base.heads
    kv = base.kv_heads
    heads = max(kv, kv * round(base.hidden * s / head_dim / kv))
    hidden = heads * head_dim
    # the dense FFN keeps the base's width over its hidden (catalog ffn; session s32 pergemm:
    # copied unscaled it was the template's, which the schema refuses on a smaller model)
    ffn = None if base.ffn is None else max(1, round(base.ffn * hidden / base.hidden))
    return replace_arch(
        base,
        description=description,
        params=params,
        layers=max(1, round(base.layers * s)),
        hidden=hidden,
        heads=heads,
        ffn=ffn,
    )


def replace_arch(base: ModelArch, **changes: object) -> ModelArch:
    """A copy of a catalog model with some fields changed, validated again."""
    data = base.model_dump(by_alias=True)
    data.update(changes)
    data["source"] = f"generated from {base.description}: planner/demand/scaling.py shape rule"
    data["checkpoints"] = {}
    data["sources"] = {}
    data["ranges"] = {}
    return ModelArch.model_validate(data)


@dataclass(frozen=True)
class Candidate:
    """One point of an iso-loss curve: a model of `params` trained on `tokens`."""

    label: str  # e.g. "100tpp" (tokens per parameter) or a catalog model's name
    model: str  # catalog name of its architecture (generated ones are added by with_models)
    params: float
    tokens: float
    loss: float
    # Self-consistency votes per request its serving needs to reach the target quality (1: it
    # is on the target's own curve; > 1: a user-supplied test-time substitute, target.votes).
    votes: int = 1

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.params

    @property
    def pretrain_flops(self) -> float:
        """6·N·D."""
        return TRAIN_FLOPS_PER_PARAM_TOKEN * self.params * self.tokens

    def serve_flops(self, tokens_served: float) -> float:
        """2·N per token served."""
        return SERVE_FLOPS_PER_PARAM_TOKEN * self.params * tokens_served


def ratio_label(tokens_per_param: float) -> str:
    return f"{tokens_per_param:g}tpp"


def candidates(
    law: ScalingLaw,
    target: float,
    grid: list[float | str],
    catalog: Catalog,
    base: str,
    prefix: str,
    votes: int = 1,
) -> tuple[list[Candidate], dict[str, ModelArch]]:
    """Candidates on the iso-loss curve of `target`: a number r in `grid` is N with D = r·N
    (architecture generated from `base` by shape_like, named prefix-<r>tpp); a catalog model
    name is that model with D = D(N, target). votes > 1: labels end in -<votes>v and the
    candidates carry it. Returns them and the generated architectures."""
    suffix = f"-{votes}v" if votes > 1 else ""
    out: list[Candidate] = []
    generated: dict[str, ModelArch] = {}
    for entry in grid:
        if isinstance(entry, str):
            n = float(catalog.models[entry].params)
            d = tokens_for_loss(law, n, target)
            if not math.isfinite(d):
                raise ValueError(
                    f"{entry} ({n:.3g} params) cannot reach loss {target:.4g} with any number of "
                    "tokens under this scaling law"
                )
            out.append(Candidate(entry + suffix, entry, n, d, target, votes))
            continue
        n = params_at_ratio(law, target, float(entry))
        label = ratio_label(float(entry)) + suffix
        name = f"{prefix}-{label}"
        generated[name] = shape_like(
            catalog.models[base], n, f"{label} candidate: {n:.4g} params shaped like {base}"
        )
        out.append(Candidate(label, name, n, float(entry) * n, target, votes))
    return out, generated


def with_models(catalog: Catalog, models: dict[str, ModelArch]) -> Catalog:
    """The catalog with generated architectures added (the loaded one is left as it is)."""
    if not models:
        return catalog
    data = catalog.data.model_copy(update={"models": {**catalog.data.models, **models}})
    return replace(catalog, data=data)


@dataclass(frozen=True)
class SplitRow:
    """One candidate's work: pretraining vs lifetime serving, in FLOPs and (when priced) US$."""

    label: str
    params: float
    tokens: float
    tokens_per_param: float
    loss: float
    pretrain_flops: float
    serve_flops: float
    pretrain_cost_usd: float | None = None
    serve_cost_usd: float | None = None

    @property
    def total_flops(self) -> float:
        return self.pretrain_flops + self.serve_flops

    @property
    def total_cost_usd(self) -> float | None:
        if self.pretrain_cost_usd is None or self.serve_cost_usd is None:
            return None
        return self.pretrain_cost_usd + self.serve_cost_usd


def split(
    cand: Candidate,
    tokens_served: float,
    usd_per_train_flop: float | None = None,
    usd_per_token_served: float | None = None,
) -> SplitRow:
    """Pretraining 6·N·D and serving 2·N·T FLOPs; priced when the $/FLOP and $/token are given."""
    row = SplitRow(
        cand.label,
        cand.params,
        cand.tokens,
        cand.tokens_per_param,
        cand.loss,
        cand.pretrain_flops,
        cand.serve_flops(tokens_served),
    )
    if usd_per_train_flop is None or usd_per_token_served is None:
        return row
    return replace(
        row,
        pretrain_cost_usd=usd_per_train_flop * cand.pretrain_flops,
        serve_cost_usd=usd_per_token_served * tokens_served,
    )


def crossover_tokens(
    small: Candidate, large: Candidate, usd_per_train_flop: float, usd_per_serve_flop: float
) -> float:
    """Tokens served above which the smaller model (trained longer) costs less in total:
    c_t·6·N_s·D_s + c_s·2·N_s·T = c_t·6·N_l·D_l + c_s·2·N_l·T
    T* = c_t·(6·N_s·D_s - 6·N_l·D_l) / (c_s·2·(N_l - N_s))."""
    extra_training = usd_per_train_flop * (small.pretrain_flops - large.pretrain_flops)
    saving_per_token = (
        usd_per_serve_flop * SERVE_FLOPS_PER_PARAM_TOKEN * (large.params - small.params)
    )
    return extra_training / saving_per_token


def cheapest(rows: list[SplitRow]) -> SplitRow:
    """The row of least total cost (or least total FLOPs when unpriced)."""
    return min(
        rows, key=lambda r: r.total_cost_usd if r.total_cost_usd is not None else r.total_flops
    )


def near(value: float, options: list[float]) -> int:
    """Index of the option nearest `value` in log space."""
    return min(range(len(options)), key=lambda i: abs(math.log(options[i] / value)))


@dataclass(frozen=True)
class Prices:
    """$ per pretraining FLOP (6·N·D counted) and $ per output token served, of one candidate
    on one system (None where it cannot run there), and why."""

    usd_per_train_flop: float | None
    usd_per_output_token: float | None
    reason: str


def price_on_system(
    cand: Candidate,
    catalog: Catalog,
    system: str,
    *,
    pricing: str,
    precision: str,
    prompt_tokens: int,
    output_tokens: int,
    tokens_per_s_per_user: float,
) -> Prices:
    """Pretraining: unit $/s / rate, rate = the planner's FLOP/s per unit for this model (layout
    search, MFU, goodput: planner/demand/pretrain.py; 6·N·D counted, attention in the step time).
    Serving: `estimate inference`'s $ per output token (decode plus the prompt's prefill share)."""
    from planner.demand.common import unit_usd_per_hour
    from planner.demand.inference import estimate_inference
    from planner.demand.pretrain import pretrain_throughput
    from planner.demand.types import Rate
    from planner.kinds.inference import InferenceSpec
    from planner.kinds.pretrain import PretrainSpec

    train = PretrainSpec.model_validate(
        {
            "model": cand.model,
            "tokens": cand.tokens,
            "deadline": "90 days",
            "global_batch_tokens": "16M",
            "include_attention": False,
        }
    )
    # the price of a FLOP at the job the 90 days size, whether or not a job meets them (the
    # deadline only sizes the job here: pretrain_rate would give no price past it)
    tt = pretrain_throughput(train, catalog, system)
    rate = Rate(tt.rate_per_unit_s, tt.reason)
    per_s = unit_usd_per_hour(catalog.system(system), pricing) / 3600.0  # type: ignore[arg-type]
    usd_flop = per_s / rate.per_unit_s if rate.feasible else None
    serve = InferenceSpec.model_validate(
        {
            "model": cand.model,
            "precision": precision,
            "requests_per_day": "1M",
            "prompt_tokens": prompt_tokens,
            "output_tokens": output_tokens,
            "tokens_per_s_per_user": tokens_per_s_per_user,
        }
    )
    est = estimate_inference(serve, catalog, system, pricing=pricing)  # type: ignore[arg-type]
    usd_token = None if est.usd_per_million_tokens is None else est.usd_per_million_tokens / 1e6
    why = f"train: {rate.reason}" if not rate.feasible else ""
    why += "" if usd_token is not None else f" serve: {est.reason}"
    return Prices(usd_flop, usd_token, why.strip())


__all__ = [
    "DEFAULT_LAW",
    "DEFAULT_RATIOS",
    "Candidate",
    "SplitRow",
    "candidates",
    "cheapest",
    "compute_optimal",
    "compute_optimal_for_loss",
    "crossover_tokens",
    "loss",
    "params_at_ratio",
    "scaling_law",
    "shape_like",
    "split",
    "tokens_for_loss",
    "with_models",
]
