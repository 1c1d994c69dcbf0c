"""KV-cache sizes (bytes) and what fits in a system's HBM next to the weights."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetcore.schema import BYTES_PER_VALUE
from hardware.catalog import Catalog
from hardware.schema import ModelArch
from planner.demand.common import checkpoint_weight_bytes, gb, hardware, weight_bytes


def kv_bytes_per_token(model: ModelArch, kv_precision: str) -> float:
    """KV bytes stored per token over all layers.

    GQA: 2 (K and V) · layers · head_dim · kv_heads · bytes per value;
    MLA: layers · kv_latent_dim · bytes per value (compressed latent + rope key).
    """
    return model.kv_elements_per_token * BYTES_PER_VALUE[kv_precision]


def kv_sequence_bytes(model: ModelArch, kv_precision: str, tokens: float) -> float:
    """KV bytes one sequence of `tokens` tokens holds: kv_bytes_per_token / layers per layer
    and token, over model.attended_layer_tokens(tokens) = full layers · tokens + banded layers ·
    min(tokens, window) (a banded layer keeps only its window's tokens, as the serving engines'
    sliding-window caches do); tokens · kv_bytes_per_token without banded layers."""
    if model.sliding_window is None:
        return tokens * kv_bytes_per_token(model, kv_precision)
    per_layer_token = kv_bytes_per_token(model, kv_precision) / model.layers
    return per_layer_token * model.attended_layer_tokens(tokens)


def kv_cache_bytes(model: ModelArch, batch: float, seq_tokens: float, kv_precision: str) -> float:
    """KV cache of `batch` sequences of `seq_tokens` tokens each: batch · kv_sequence_bytes
    (batch · seq · kv bytes/token without banded layers)."""
    return batch * kv_sequence_bytes(model, kv_precision, seq_tokens)


def max_tokens_fitting(model: ModelArch, kv_precision: str, bytes_per_sequence: float) -> float:
    """The longest sequence whose KV fits `bytes_per_sequence`: the inverse of
    kv_sequence_bytes. Without banded layers bytes / kv_bytes_per_token; with them, per layer
    and token b = kv_bytes_per_token / layers: (bytes / b − banded layers · W) / full layers
    when that is >= W (the windows full), else bytes / (b · layers)."""
    per_token = kv_bytes_per_token(model, kv_precision)
    window = model.sliding_window
    if window is None:
        return bytes_per_sequence / per_token
    layer_tokens = bytes_per_sequence / (per_token / model.layers)
    if layer_tokens <= model.layers * window.tokens:
        return layer_tokens / model.layers
    return (layer_tokens - window.layers * window.tokens) / model.full_layers


@dataclass(frozen=True)
class KVEstimate:
    """KV cache of a batch, and (with a system) how it compares with the HBM left by the weights."""

    model: str
    kv_precision: str
    batch: int
    tokens: float  # per sequence
    kv_bytes_per_token: float
    kv_cache_bytes: float
    weight_precision: str
    weight_bytes: float
    system: str | None = None
    hbm_bytes: float | None = None  # whole unit
    hbm_usable_fraction: float | None = None
    hbm_usable_bytes: float | None = None
    free_bytes: float | None = None  # usable HBM minus weights
    fits: bool | None = None  # weights + KV <= usable HBM of one unit
    max_tokens_per_sequence: float | None = None  # at this batch, in the free HBM
    derivation: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def estimate_kv(
    catalog: Catalog,
    model: str,
    batch: int,
    tokens: float,
    kv_precision: str = "bf16",
    weight_precision: str = "bf16",
    system: str | None = None,
    hbm_usable_fraction: float | None = None,
) -> KVEstimate:
    """KV bytes = batch · kv_sequence_bytes(tokens) (batch · tokens · kv_bytes_per_token without
    banded layers); with a system: free = usable HBM − weights, max tokens per sequence = the
    longest sequence whose batch fits the free HBM (free / (batch · kv_bytes_per_token) without
    banded layers; with them the full layers' share of the bytes grows with the tokens, the
    banded layers' stops at their window)."""
    arch = catalog.models[model]
    per_token = kv_bytes_per_token(arch, kv_precision)
    total = kv_cache_bytes(arch, batch, tokens, kv_precision)
    weights = weight_bytes(arch, weight_precision)
    lines = [
        f"kv bytes/token = {arch.kv_elements_per_token:,} elements x "
        f"{BYTES_PER_VALUE[kv_precision]:g} B ({kv_precision}) = {per_token:,.0f} B",
    ]
    window = arch.sliding_window
    if window is None:
        lines.append(
            f"kv cache = batch {batch} x {tokens:,.10g} tokens x {per_token:,.0f} B = {gb(total)}"
        )
    else:
        lines.append(
            f"kv cache = batch {batch} x {per_token / arch.layers:,.0f} B a layer-token x "
            f"({arch.full_layers} full layers x {tokens:,.0f} + {window.layers} banded layers x "
            f"min({tokens:,.0f}, {window.tokens}) tokens) = {gb(total)}"
        )
    lines += [
        f"weights = {arch.params:.4g} params x {BYTES_PER_VALUE[weight_precision]:g} B "
        f"({weight_precision}) = {gb(weights)}",
    ]
    extra: dict[str, object] = {}
    notes: list[str] = []
    if arch.context_tokens is not None and tokens > arch.context_tokens:
        notes.append(
            f"{tokens:,.10g} tokens/sequence is beyond the model's context of "
            f"{arch.context_tokens:,} tokens (catalog context_tokens)"
        )
    if system is not None:
        hw = hardware(catalog, system, hbm_usable_fraction)
        if hw is None:
            extra = dict(system=system, hbm_bytes=0.0, fits=False)
            lines.append(f"{system} is CPU-only: no HBM")
        else:
            hbm = hw.accelerators * hw.accelerator.hbm_bytes
            usable = hbm * hw.hbm_usable_fraction
            free = usable - weights
            max_tokens = max_tokens_fitting(arch, kv_precision, max(0.0, free) / batch)
            extra = dict(
                system=system,
                hbm_bytes=hbm,
                hbm_usable_fraction=hw.hbm_usable_fraction,
                hbm_usable_bytes=usable,
                free_bytes=free,
                fits=weights + total <= usable,
                max_tokens_per_sequence=max_tokens,
            )
            lines += [
                f"usable HBM = {hw.accelerators} x {gb(hw.accelerator.hbm_bytes)} x "
                f"{hw.hbm_usable_fraction:g} = {gb(usable)}",
                f"free for KV = {gb(usable)} - {gb(weights)} weights = {gb(free)}",
                f"max tokens/sequence at batch {batch} = free / (batch x kv bytes/token) "
                f"= {max_tokens:,.0f}"
                if window is None
                # the inverse of the banded kv cache line above (max_tokens_fitting): dividing
                # by the all-layer kv bytes/token would halve gpt-oss's figure
                else f"max tokens/sequence at batch {batch} = (free / (batch x "
                f"{per_token / arch.layers:,.0f} B a layer-token) - {window.layers} banded "
                f"layers x {window.tokens}) / {arch.full_layers} full layers = {max_tokens:,.0f}"
                if max_tokens > window.tokens
                else f"max tokens/sequence at batch {batch} = free / (batch x kv bytes/token) "
                f"= {max_tokens:,.0f} (within the {window.tokens}-token window every layer "
                "holds each token)",
            ]
            if arch.context_tokens is not None and max_tokens > arch.context_tokens:
                notes.append(
                    f"{max_tokens:,.0f} tokens/sequence fit the HBM, beyond the model's context "
                    f"of {arch.context_tokens:,} tokens (catalog context_tokens): a sequence "
                    "stops there"
                )
            serving = hw.accelerator.serving
            stored = checkpoint_weight_bytes(arch, weight_precision)
            if serving is not None:
                # the serving model's own HBM sums (planner/demand/inference.py usable_bytes):
                # without them this calculator's free HBM differed unexplained from `estimate
                # inference`'s (405B FP8 on hgx-h100: 171 GB here, 80 GB there)
                reserve = serving.runtime_reserve_bytes
                usable_serving = hw.accelerators * max(0.0, hw.accelerator.hbm_bytes - reserve)
                free_serving = usable_serving - stored
                if abs(free_serving - free) > 1e-6 * max(abs(free), 1.0):
                    tokens_serving = max_tokens_fitting(
                        arch, kv_precision, max(0.0, free_serving) / batch
                    )
                    notes.append(
                        f"serving (`estimate inference`, plans) stores the {weight_precision} "
                        + (
                            f"weights as the catalog's checkpoint, {gb(stored)},"
                            if stored != weights
                            else f"weights, {gb(stored)},"
                        )
                        + f" in each accelerator's HBM less a runtime reserve of {gb(reserve)} "
                        f"(not x hbm_usable_fraction): one unit holding the weights once has "
                        f"{gb(free_serving)} free, {tokens_serving:,.0f} tokens/sequence at batch "
                        f"{batch}"
                    )
    return KVEstimate(
        model=model,
        kv_precision=kv_precision,
        batch=batch,
        tokens=tokens,
        kv_bytes_per_token=per_token,
        kv_cache_bytes=total,
        weight_precision=weight_precision,
        weight_bytes=weights,
        derivation=lines,
        notes=notes,
        **extra,  # type: ignore[arg-type]
    )
