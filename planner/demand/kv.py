"""KV-cache sizes (bytes) and what fits in a system's HBM next to the weights."""

from __future__ import annotations

from dataclasses import dataclass, field

from hardware.catalog import Catalog
from hardware.schema import ModelArch
from planner.demand.common import gb, hardware, weight_bytes
from fleetcore.schema import BYTES_PER_VALUE


def kv_bytes_per_token(model: ModelArch, kv_precision: str) -> float:
    """KV bytes stored per token over all layers.

    GQA: 2 (K and V) · layers · head_dim · kv_heads · bytes per value;
    MLA: layers · kv_latent_dim · bytes per value (compressed latent + rope key).
    """
    return model.kv_elements_per_token * BYTES_PER_VALUE[kv_precision]


def kv_cache_bytes(model: ModelArch, batch: float, seq_tokens: float, kv_precision: str) -> float:
    """KV cache of `batch` sequences of `seq_tokens` tokens each: batch · seq · kv bytes/token."""
    return batch * seq_tokens * kv_bytes_per_token(model, kv_precision)


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
    """KV bytes = batch · tokens · kv_bytes_per_token; with a system: free = usable HBM − weights,
    max tokens per sequence = free / (batch · kv_bytes_per_token)."""
    arch = catalog.models[model]
    per_token = kv_bytes_per_token(arch, kv_precision)
    total = batch * tokens * per_token
    weights = weight_bytes(arch, weight_precision)
    lines = [
        f"kv bytes/token = {arch.kv_elements_per_token:,} elements x "
        f"{BYTES_PER_VALUE[kv_precision]:g} B ({kv_precision}) = {per_token:,.0f} B",
        f"kv cache = batch {batch} x {tokens:,.0f} tokens x {per_token:,.0f} B = {gb(total)}",
        f"weights = {arch.params:.4g} params x {BYTES_PER_VALUE[weight_precision]:g} B "
        f"({weight_precision}) = {gb(weights)}",
    ]
    extra: dict[str, object] = {}
    if system is not None:
        hw = hardware(catalog, system, hbm_usable_fraction)
        if hw is None:
            extra = dict(system=system, hbm_bytes=0.0, fits=False)
            lines.append(f"{system} is CPU-only: no HBM")
        else:
            hbm = hw.accelerators * hw.accelerator.hbm_bytes
            usable = hbm * hw.hbm_usable_fraction
            free = usable - weights
            max_tokens = max(0.0, free) / (batch * per_token)
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
                f"= {max_tokens:,.0f}",
            ]
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
        **extra,  # type: ignore[arg-type]
    )
