"""Analytic demand models: workloads -> work (tokens, FLOPs, core-seconds) and per-system rates.

Public API:
  estimate_kv / estimate_inference / estimate_pretrain / estimate_rl       (planner estimate)
  kv_bytes_per_token, kv_cache_bytes, weight_bytes, forward_flops_per_token
Formulas and assumptions: docs/models.md.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner.demand.common import (
        attention_flops_per_token,
        forward_flops_per_token,
        unit_usd_per_hour,
        weight_bytes,
    )
    from planner.demand.inference import InferenceEstimate, estimate_inference
    from planner.demand.kv import KVEstimate, estimate_kv, kv_bytes_per_token, kv_cache_bytes
    from planner.demand.pretrain import PretrainEstimate, estimate_pretrain
    from planner.demand.rl import RLEstimate, RLRoleEstimate, estimate_rl

# Imported on first use (PEP 562): `planner.demand.types`, which the LP and the kinds import,
# must not load every demand model (and, through them, the kinds and the LP) first.
_LAZY = {
    **dict.fromkeys(
        [
            "attention_flops_per_token",
            "forward_flops_per_token",
            "unit_usd_per_hour",
            "weight_bytes",
        ],
        "common",
    ),
    **dict.fromkeys(["InferenceEstimate", "estimate_inference"], "inference"),
    **dict.fromkeys(["KVEstimate", "estimate_kv", "kv_bytes_per_token", "kv_cache_bytes"], "kv"),
    **dict.fromkeys(["PretrainEstimate", "estimate_pretrain"], "pretrain"),
    **dict.fromkeys(["RLEstimate", "RLRoleEstimate", "estimate_rl"], "rl"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'planner.demand' has no attribute {name!r}")
    value = getattr(import_module(f"planner.demand.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "InferenceEstimate",
    "KVEstimate",
    "PretrainEstimate",
    "RLEstimate",
    "RLRoleEstimate",
    "attention_flops_per_token",
    "estimate_inference",
    "estimate_kv",
    "estimate_pretrain",
    "estimate_rl",
    "forward_flops_per_token",
    "kv_bytes_per_token",
    "kv_cache_bytes",
    "unit_usd_per_hour",
    "weight_bytes",
]
