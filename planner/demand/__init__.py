"""Analytic demand models: workloads -> work (tokens, FLOPs, core-seconds) and per-system rates.

Public API:
  estimate_kv / estimate_inference / estimate_pretrain / estimate_rl       (planner estimate)
  kv_bytes_per_token, kv_cache_bytes, weight_bytes, forward_flops_per_token
Formulas and assumptions: docs/models.md.
"""

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
