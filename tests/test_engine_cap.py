"""The serving engine's configured limits (EngineSpec: `engine:` on inference workloads, the RL
`generator:`): the decode batch is at most min(max_sequences, max_sequences_per_accelerator x
the instance's chips), the engine's layout is the only one rated, and what follows from the batch
(KV held, step, tokens/s, the M/D/c decode slots) follows the capped batch. Expected values are
recomputed here from the physics functions and catalog figures, not read back from the estimate.
"""

from __future__ import annotations

import math

import pytest

from hardware.catalog import load_catalog
from planner.demand import estimate_inference
from planner.demand.common import hardware
from planner.demand.inference import pinned_layout, server_load
from planner.demand.rl import generation_point
from planner.demand.serving_physics import kv_replication, model_load, step_terms
from planner.kinds.base import EngineSpec
from planner.kinds.inference import InferenceSpec

CATALOG = load_catalog()
B200 = hardware(CATALOG, "hgx-b200")
H100 = hardware(CATALOG, "hgx-h100")
R1 = CATALOG.models["deepseek-r1"]
LLAMA70 = CATALOG.models["llama-3.1-70b"]
# MLPerf v5.1 DeepSeek-R1 Offline on 8xB200 (the mlperf51-b200-dsr1-offline point's shape):
# TP8 with attention DP and EP8 = eight TP1 attention replicas, EP8; gpu_batch_size 512 a GPU.
R1_RUN = dict(
    kind="inference",
    model="deepseek-r1",
    precision="fp4",
    kv_precision="fp8",
    requests_per_day="1M",
    prompt_tokens=804,
    output_tokens=3736,
    mode="offline",
    prefill="aggregated",
)
EP8 = {"tp": 1, "ep": 8}


def r1(engine: dict[str, object] | None) -> InferenceSpec:
    return InferenceSpec.model_validate({**R1_RUN, **({"engine": engine} if engine else {})})


def r1_hbm_batch() -> tuple[float, object]:
    """HBM's batch on the pinned TP1 x 8, EP8 layout: free bytes / (KV stored per sequence x
    KV replication), KV per sequence = (804 + 3,736) tokens x the MLA latent's elements x 1 B
    (FP8)."""
    assert B200 is not None
    load = model_load(R1, "fp4", "fp8", 804, 3736, 1)
    lay = pinned_layout(R1, B200, load, 1, 1, 8)
    assert not isinstance(lay, str)
    kv_per_sequence = (804 + 3736) * R1.kv_elements_per_token * 1.0
    assert load.kv_stored_per_sequence == pytest.approx(kv_per_sequence, rel=1e-12)
    assert kv_replication(R1, 1) == 1.0  # MLA at TP1: one copy of the latent
    return lay.free_bytes / kv_per_sequence, lay


def test_sequence_cap_is_the_smaller_of_the_two_limits() -> None:
    assert EngineSpec().sequence_cap(8) == math.inf
    assert EngineSpec(max_sequences_per_accelerator=512).sequence_cap(8) == 4096
    assert EngineSpec(max_sequences=1000).sequence_cap(8) == 1000
    both = EngineSpec(max_sequences=1000, max_sequences_per_accelerator=512)
    assert both.sequence_cap(8) == 1000 and both.sequence_cap(1) == 512


def test_the_cap_binds_when_hbm_holds_more() -> None:
    """512 a GPU on 8 GPUs = 4,096 sequences where HBM holds ~5,500: the batch is 4,096, the
    step is the one of 4,096 sequences, and the KV held is 4,096 x its per-sequence bytes."""
    assert B200 is not None
    hbm, lay = r1_hbm_batch()
    assert hbm > 4096
    one = dict(max_units_per_instance=1)
    uncapped = estimate_inference(r1({"layout": EP8}), CATALOG, "hgx-b200", **one)  # type: ignore[arg-type]
    est = estimate_inference(
        r1({"layout": EP8, "max_sequences_per_accelerator": 512}),
        CATALOG,
        "hgx-b200",
        **one,  # type: ignore[arg-type]
    )
    for e in (uncapped, est):
        assert e.feasible and e.instance_accelerators == 8 and e.tensor_parallel == 1
        assert e.expert_parallel == 8 and e.max_batch_hbm == pytest.approx(hbm, rel=1e-12)
    assert est.max_batch == 4096 and est.max_batch_engine == 4096
    load = model_load(R1, "fp4", "fp8", 804, 3736, 1)
    terms = step_terms(B200, load, lay, 4096, False)  # type: ignore[arg-type]
    assert est.step_time_s == pytest.approx(terms.step_s, rel=1e-12)
    assert est.tokens_per_s_per_instance == pytest.approx(4096 / terms.step_s, rel=1e-12)
    kv_held = 4096 * (804 + 3736) * R1.kv_elements_per_token * 1.0
    assert kv_held < lay.free_bytes  # type: ignore[attr-defined]
    # KV read per chip per step at mean context (804 + 3,736 / 2) tokens, over 8 chips
    kv_read = 4096 * (804 + 3736 / 2) * R1.kv_elements_per_token / 8
    assert est.step_terms_s["memory"] > 0 and terms.kv_read_bytes == pytest.approx(kv_read)
    assert uncapped.max_batch == math.floor(hbm) and uncapped.max_batch_engine is None
    assert uncapped.tokens_per_s_per_instance > est.tokens_per_s_per_instance  # type: ignore[operator]
    assert any("engine cap 512/accelerator x 8 = 4,096) = 4096" in x for x in est.derivation)


def test_a_cap_above_hbm_changes_nothing() -> None:
    hbm, _ = r1_hbm_batch()
    none = estimate_inference(r1({"layout": EP8}), CATALOG, "hgx-b200", max_units_per_instance=1)
    loose = estimate_inference(
        r1({"layout": EP8, "max_sequences_per_accelerator": 10_000}),
        CATALOG,
        "hgx-b200",
        max_units_per_instance=1,
    )
    assert none.max_batch == loose.max_batch == math.floor(hbm)
    assert loose.tokens_per_s_per_system == none.tokens_per_s_per_system
    assert loose.max_batch_engine == 80_000


def test_per_instance_cap_takes_the_smaller() -> None:
    est = estimate_inference(
        r1({"layout": EP8, "max_sequences": 1000, "max_sequences_per_accelerator": 512}),
        CATALOG,
        "hgx-b200",
        max_units_per_instance=1,
    )
    assert est.max_batch == 1000
    assert any(
        "engine cap min(max_sequences 1,000, 512/accelerator x 8)" in x for x in est.derivation
    )


def test_without_a_layout_the_per_accelerator_cap_scales_with_the_chosen_instance() -> None:
    est = estimate_inference(
        r1({"max_sequences_per_accelerator": 64}), CATALOG, "gb200-nvl72", max_units_per_instance=1
    )
    assert est.feasible and est.instance_accelerators is not None
    cap = 64 * est.instance_accelerators
    assert est.max_batch_engine == cap
    assert est.max_batch == min(math.floor(est.max_batch_hbm or 0), cap)


def test_the_tpot_budget_and_the_cap_each_bound_an_interactive_batch_and_the_queue() -> None:
    """Llama 3.1 70B FP8 on 8xB200 at 76 tok/s/user with a p99 TTFT of 2 s: the TPOT budget
    holds the batch below HBM's. A cap above that batch changes nothing; a cap below it is the
    batch, and the M/D/c decode slots the server utilisation is computed for are the capped
    batch's."""
    base = dict(
        kind="inference",
        model="llama-3.1-70b",
        precision="fp8",
        kv_precision="fp8",
        requests_per_day="1M",
        prompt_tokens=922,
        output_tokens=922,
        tokens_per_s_per_user=76,
        prefill="aggregated",
        ttft_p99="2 s",
    )
    plain = estimate_inference(InferenceSpec.model_validate(base), CATALOG, "hgx-b200")
    assert plain.feasible and plain.max_batch is not None and plain.instance_accelerators
    a, batch = plain.instance_accelerators, plain.max_batch
    assert batch < math.floor(plain.max_batch_hbm or 0)  # the TPOT budget binds
    assert plain.tensor_parallel == a and plain.pipeline_parallel == 1
    pin = {"tp": a}  # the chooser's layout, pinned: a per-instance cap applies to it
    above = -(-(batch + 1) // a)  # a per-accelerator cap whose instance cap exceeds the batch
    loose = estimate_inference(
        InferenceSpec.model_validate(
            {**base, "engine": {"layout": pin, "max_sequences_per_accelerator": above}}
        ),
        CATALOG,
        "hgx-b200",
    )
    assert loose.max_batch == batch
    assert loose.tokens_per_s_per_system == pytest.approx(plain.tokens_per_s_per_system)
    tight = estimate_inference(
        InferenceSpec.model_validate(
            {**base, "engine": {"layout": pin, "max_sequences": batch // 2}}
        ),
        CATALOG,
        "hgx-b200",
    )
    assert tight.max_batch == batch // 2
    assert tight.tpot_s is not None and plain.tpot_s is not None and tight.tpot_s < plain.tpot_s
    prefill_s = 922 / (tight.prefill_tokens_per_s_per_instance or 0.0)
    queue = server_load(batch // 2, 2.0, prefill_s, 922, tight.tpot_s)
    assert tight.server_utilisation == pytest.approx(queue.utilisation, rel=1e-12)


def test_a_pinned_layout_that_cannot_hold_the_model_is_infeasible_with_the_reason() -> None:
    spec = InferenceSpec.model_validate(
        {**R1_RUN, "precision": "fp8", "engine": {"layout": {"tp": 1}}}
    )
    est = estimate_inference(spec, CATALOG, "hgx-b200", max_units_per_instance=1)
    assert not est.feasible and "engine layout TP1" in est.reason


def test_the_rl_generator_takes_the_per_accelerator_cap_too() -> None:
    """vLLM TP2 instances of Llama 3.1 8B on 8xH100: 256 rollouts an instance; 16 a GPU caps
    the batch at 32 an instance (2 chips), as max_sequences 32 does."""
    assert H100 is not None
    llama = CATALOG.models["llama-3.1-8b"]
    args = (llama, H100, "bf16", 127, 1019, 32, 3969, 2048.0, 16.0, True, 4, (2, 1, 1), None)
    per_acc = generation_point(*args, None, 16)
    per_instance = generation_point(*args, 32, None)
    assert per_acc.batch == per_instance.batch == 32
    assert per_acc.rate.per_unit_s == pytest.approx(per_instance.rate.per_unit_s, rel=1e-12)
    assert generation_point(*args, None, None).batch == 256


@pytest.mark.parametrize("target", [None, 30.0])
def test_skipping_bounded_layouts_gives_the_same_capped_point(
    monkeypatch: pytest.MonkeyPatch, target: float | None
) -> None:
    """With a cap, every layout's bound (at min(HBM, cap)) still covers its evaluated rate, and
    decode_point with bounded layouts skipped is the one that evaluates every layout."""
    import planner.demand.inference as inference
    from planner.demand.inference import layouts
    from planner.demand.serving_physics import StepPhysics

    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    load = model_load(R1, "fp4", "fp8", 1000, 1000, 1)
    for lay in layouts(R1, hw, load, 1):
        cap = 64.0 * lay.accelerators
        physics = StepPhysics(hw, load, lay)
        point = inference._evaluate(hw, load, lay, target, False, physics, cap)[0]
        if point is not None:
            assert point.batch is not None and point.batch <= cap
            bound = inference._per_unit_bound(physics, load, lay, target, False, cap)
            assert point.tokens_per_s_per_unit <= bound  # type: ignore[operator]
    args = (R1, hw, "fp4", "fp8", 1000, 1000, 1, target, 1)
    caps = dict(max_sequences_per_accelerator=64)
    monkeypatch.setattr(inference, "VECTORISED", False)  # the scalar search's skips
    with_skips = inference.decode_point.uncached(*args, **caps)
    monkeypatch.setattr(inference, "SKIP_BOUNDED", False)
    every = inference.decode_point.uncached(*args, **caps)
    assert with_skips == every and every.max_batch_engine is not None
