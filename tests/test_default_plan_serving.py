"""The shipped default plan's serving instances meet their own interactivity targets."""

from __future__ import annotations

import pytest

import planner
from planner.demand.inference import estimate_inference
from planner.kinds.inference import InferenceSpec


def test_default_plan_decode_instances_meet_their_targets() -> None:
    scenario = planner.load_scenario("frontier-lab")
    plan = planner.solve(scenario, relax=True)
    catalog = scenario.catalog
    checked = 0
    for alloc in plan.allocations:
        spec = scenario.data.workloads.get(alloc.workload)
        if not isinstance(spec, InferenceSpec) or alloc.role != "decode":
            continue
        est = estimate_inference(spec, catalog, alloc.system)
        assert est.feasible, est.reason
        # The plan's rate is the one recomputed here, from the same derivation.
        assert alloc.rate_per_unit_s == pytest.approx(est.tokens_per_s_per_system, rel=1e-6)
        assert alloc.rate_derivation.startswith(est.reason)
        # Every step term, recomputed: the time per output token fits the user's budget ...
        assert spec.tokens_per_s_per_user is not None
        assert est.tpot_s is not None and est.tpot_s <= 1 / spec.tokens_per_s_per_user
        terms = est.step_terms_s
        # Kernel phases run in sequence: their roofline is at least max(compute, memory).
        assert terms["roofline"] >= max(terms["compute"], terms["memory"]) * (1 - 1e-12)
        step = (
            terms["roofline"]
            + terms["tp_allreduce"]
            + terms["ep_alltoall"]
            + terms["pp_hops"]
            + terms["moe_layer"]
            + terms["overhead"]
        )
        assert est.step_time_s == pytest.approx(step, rel=1e-12)
        # ... and no pipeline layout beats reading its TP group's share of ALL the weights
        # (each stage reads its weights once per micro-batch; a token passes every stage).
        acc = catalog.accelerator_of(alloc.system)
        assert acc is not None and est.tensor_parallel is not None
        if catalog.models[spec.model].moe is not None:
            checked += 1
            continue  # an MoE step reads only the experts its batch touches
        floor_s = (est.weight_bytes / est.tensor_parallel) / (
            acc.hbm_bandwidth_bytes_per_s * acc.serving.hbm_bandwidth_utilisation
        )
        assert est.step_time_s >= floor_s  # type: ignore[operator]
        checked += 1
    assert checked >= 3
