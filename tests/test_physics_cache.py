"""The serving physics memoised per process (planner/demand/memo.py): a warm cache gives exactly
what a cold computation gives, its key holds every input (a spec or catalog differing in any one
of them is computed afresh), and what a sweep usually sweeps (requests_per_day) is never cached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tiny_site import write_site

import planner
from hardware.catalog import load_catalog
from planner.demand import estimate_inference
from planner.demand.common import hardware
from planner.demand.inference import (
    clear_physics_caches,
    decode_point,
    inference_rates,
    inference_rates_on,
    prefill_rate,
)
from planner.kinds.inference import InferenceSpec
from planner.sweeps import run_point

CATALOG = load_catalog()


def spec(**kw: object) -> InferenceSpec:
    data: dict[str, Any] = dict(
        kind="inference",
        model="llama-3.1-70b",
        precision="fp8",
        requests_per_day="1M",
        prompt_tokens=1000,
        output_tokens=500,
        tokens_per_s_per_user=30,
    )
    data.update(kw)
    return InferenceSpec.model_validate(data)


# (system, spec fields): dense and MoE (DP attention, EP over units), latency and throughput
# modes, p99 TTFT (server utilisation), aggregated prefill, speculative decoding, votes, a prefix
# cache, a KV precision of its own, and one that cannot meet its target.
CASES: list[tuple[str, dict[str, object]]] = [
    ("hgx-h100", {}),
    ("hgx-h100", {"ttft_p99": "1 s"}),
    ("hgx-h100", {"mode": "offline", "tokens_per_s_per_user": None}),
    ("hgx-h100", {"model": "llama-3.1-405b", "kv_precision": "bf16", "votes": 4}),
    ("hgx-b200", {"prefill": "aggregated", "prompt_cache_hit": 0.5}),
    ("gb200-nvl72", {"model": "deepseek-v3"}),
    ("gb200-nvl72", {"model": "deepseek-v3", "ttft_p99": "2 s"}),
    (
        "gb200-nvl72",
        {
            "model": "deepseek-v3",
            "draft_tokens": 1,
            "draft_acceptance": 0.85,
            "prefill": "aggregated",
        },
    ),
    ("hgx-h100", {"model": "deepseek-v3"}),  # spans units: EP over scale-out
    ("hgx-h100", {"tokens_per_s_per_user": 2000}),  # unreachable: infeasible, explained
    ("cpu-server", {}),
]


@pytest.mark.parametrize(("system", "fields"), CASES)
def test_warm_cache_gives_the_cold_result(system: str, fields: dict[str, object]) -> None:
    s = spec(**fields)
    clear_physics_caches()
    cold = estimate_inference(s, CATALOG, system)
    cold_rates = inference_rates(s, CATALOG, system)
    hits = decode_point.cache_info().hits
    rate_hits = inference_rates_on.cache_info().hits
    warm = estimate_inference(s, CATALOG, system)
    assert warm == cold  # every field: layout, batch, step terms, rates, derivation text
    assert inference_rates(s, CATALOG, system) == cold_rates
    if system != "cpu-server":  # served from the caches
        assert decode_point.cache_info().hits > hits
        assert inference_rates_on.cache_info().hits > rate_hits


def test_memoised_entry_points_equal_the_uncached_functions() -> None:
    # The same content under new objects (a copied model entry) hits the same entries.
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    arch = CATALOG.models["deepseek-v3"]
    args = (hw, "fp8", "fp8", 1000.0, 775.0, 2, 30.0, 4, None, True, 1, 0.85, 0.2)
    clear_physics_caches()
    first = decode_point(arch, *args)
    again = decode_point(arch.model_copy(), *args)
    assert first == again == decode_point.uncached(arch, *args)
    again.alternatives.append("changed by a caller")  # a caller's copy, not the cache's
    assert decode_point(arch, *args) == first
    # Each (context, mean context) differs from the one before in one input and rates otherwise
    # (a longer context needs another layout for its KV).
    previous = None
    for context, mean in ((1000, 500), (1000, 250), (1_000_000, 250)):
        rate = prefill_rate(arch, hw, "fp8", "fp8", context, mean)
        assert rate == prefill_rate.uncached(arch, hw, "fp8", "fp8", context, mean)
        assert rate != previous
        previous = rate


# Each changes one input the cached physics reads; the warm result must be the cold one and
# differ from the base's (else the test could not see a key missing that input).
VARIANTS: list[dict[str, object]] = [
    {"output_tokens": 800},
    {"prompt_tokens": 2000},
    {"tokens_per_s_per_user": 50},
    {"ttft_p99": "1 s"},
    {"ttft_p99": "0.5 s"},
    {"votes": 2},
    {"draft_tokens": 2, "draft_acceptance": 0.8},
    {"draft_tokens": 2, "draft_acceptance": 0.6},
    {"draft_tokens": 1, "draft_acceptance": 0.8},
    {"prompt_cache_hit": 0.5, "prefill": "aggregated"},
    {"prefill": "aggregated"},
    {"precision": "bf16"},
    {"kv_precision": "bf16"},  # the base stores KV at its weights' fp8
    {"mode": "offline", "tokens_per_s_per_user": None},
    {"mode": "offline"},  # the target given but not applied: the mode alone
]


@pytest.mark.parametrize("fields", VARIANTS)
def test_cache_key_holds_every_spec_input(fields: dict[str, object]) -> None:
    base, variant = spec(), spec(**fields)
    clear_physics_caches()
    cold = estimate_inference(variant, CATALOG, "hgx-h100")
    cold_rates = inference_rates(variant, CATALOG, "hgx-h100")
    clear_physics_caches()
    base_est = estimate_inference(base, CATALOG, "hgx-h100")
    base_rates = inference_rates(base, CATALOG, "hgx-h100")
    # More entries to collide with: every other variant (some differ from another in one input
    # only: the two draft acceptances, aggregated prefill with and without a prompt cache).
    for neighbour in (spec(**f) for f in VARIANTS if f is not fields):
        estimate_inference(neighbour, CATALOG, "hgx-h100")
        inference_rates(neighbour, CATALOG, "hgx-h100")
    warm = estimate_inference(variant, CATALOG, "hgx-h100")
    assert warm == cold
    assert warm != base_est
    warm_rates = inference_rates(variant, CATALOG, "hgx-h100")
    assert warm_rates == cold_rates
    assert warm_rates != base_rates


def test_cache_key_holds_the_catalog_figures_and_overrides(tmp_path: Path) -> None:
    s = spec(ttft_p99="1 s")
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        "accelerators:\n  h100-sxm:\n    serving:\n      hbm_bandwidth_utilisation: 0.5\n"
        "      runtime_reserve: 16 GB\n",
        encoding="utf-8",
    )
    slower = load_catalog([overlay])
    calls: list[tuple[Any, dict[str, Any]]] = [
        (slower, {}),
        (CATALOG, {"hbm_usable_fraction": 0.8}),
        (CATALOG, {"max_units_per_instance": 1}),
        (CATALOG, {"pricing": "amortised"}),
    ]
    colds = []
    for catalog, kw in calls:
        clear_physics_caches()
        colds.append(estimate_inference(s, catalog, "hgx-h100", **kw))
    clear_physics_caches()
    base = estimate_inference(s, CATALOG, "hgx-h100")
    for (catalog, kw), cold in zip(calls, colds, strict=True):
        warm = estimate_inference(s, catalog, "hgx-h100", **kw)
        assert warm == cold
        assert warm != base


def test_requests_per_day_is_applied_after_the_cache() -> None:
    # Units for the demand scale with requests/day; the rates (and the p99-TTFT utilisation:
    # what the target allows, whatever the arrival rate) do not.
    clear_physics_caches()
    one = estimate_inference(spec(ttft_p99="1 s"), CATALOG, "hgx-h100")
    three = estimate_inference(spec(ttft_p99="1 s", requests_per_day="3M"), CATALOG, "hgx-h100")
    assert one.units_for_demand is not None and three.units_for_demand is not None
    assert three.units_for_demand == pytest.approx(3 * one.units_for_demand, rel=1e-12)
    assert three.tokens_per_s_per_system == one.tokens_per_s_per_system
    assert three.server_utilisation == one.server_utilisation
    # The rates' cache leaves the demand out of its key: the same entry, and the cold rates.
    peak = spec(ttft_p99="1 s", requests_per_day="3M", peak_to_average=2)
    warm = inference_rates(peak, CATALOG, "hgx-h100")
    assert warm == inference_rates(spec(ttft_p99="1 s"), CATALOG, "hgx-h100")
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    assert warm == inference_rates_on.uncached(
        peak, CATALOG.models["llama-3.1-70b"], hw, "hgx-h100"
    )


def _task(path: Path, sets: tuple[str, ...]) -> dict[str, Any]:
    return {
        "scenario_path": str(path),
        "overrides": (),
        "sets": sets,
        "options": {"relax": False, "solver": None, "time_limit_s": None, "mip_gap": None},
        "cache_dir": None,
        "keep_plan": True,
    }


def test_a_sweep_over_cached_inputs_gives_each_points_cold_plan(tmp_path: Path) -> None:
    path = write_site(tmp_path)
    grid = {
        "workloads.chat.output_tokens": [500, 2000],
        "workloads.chat.ttft_p99": ["1 s", "0.3 s"],
        "workloads.chat.requests_per_day": ["1M", "2M"],
    }
    sw = planner.sweep(str(path), grid, jobs=1, keep_plans=True)  # one process: a warm cache
    assert [p["status"] for p in sw.points] == ["optimal"] * 8
    for point in sw.points:
        sets = tuple(f"{axis}={point[axis]}" for axis in grid)
        clear_physics_caches()
        cold = run_point(_task(path, sets))
        assert cold["plan"] == sw.plans[point["point"]]
    demand = {
        (p["workloads.chat.output_tokens"], p["workloads.chat.ttft_p99"]): p["total_cost_usd"]
        for p in sw.points
        if p["workloads.chat.requests_per_day"] == "1M"
    }
    assert len(set(demand.values())) == 4  # each cached input changes the plan
