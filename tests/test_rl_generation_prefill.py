"""RL generation's prefill (generate_prefill, P / n prompt tokens a sample) runs in the generation
engine, in the steps it decodes in (vLLM in the NeMo-RL recipes): it is rated on the generation
layout (planner/demand/rl.py generation_prefill_rate) and placed on the pools that generate, in
the same shares of the run's work (the shared `aggregate` rows, as an aggregated serving tier's
prefill; the verify rule `colocated`)."""

from __future__ import annotations

import dataclasses
from copy import copy
from pathlib import Path

import pytest
from test_lp import rl_workload, site, write_scenario

import planner
from hardware.catalog import load_catalog
from planner.calibration.rl import points
from planner.demand.common import hardware
from planner.demand.rl import rl_rates
from planner.demand.serving_physics import figures
from planner.demand.types import WorkloadDemand
from planner.plan import Plan
from planner.rows import AllocationRow
from planner.verify import check_plan

CATALOG = load_catalog()
POINTS = {p.id: p for p in points()}
H100, GB200 = "hgx-h100", "gb200-nvl72"


def test_llama_generation_prefill_is_rated_on_the_recipes_tp1_engine() -> None:
    """Llama 3.1 8B on 16 H100s, vLLM TP1 (8 instances a server): a prompt token at mean context
    P/2 costs F = 2 (N − 2 V h) + 2 V h / P + 4 heads layers head_dim P/2 FLOPs on one GPU at
    peak x the BF16 utilisation (no GEMM for the input embedding, V h = vocab x hidden; the
    output head for the prompt's last token only); no all-reduce at TP1."""
    p = POINTS["nemo-rl-0.5-h100-llama3.1-8b-16gpu"]
    rate = rl_rates(p.spec(), CATALOG, H100, accelerators=p.gpus)["generate_prefill"]
    hw = hardware(CATALOG, H100)
    assert hw is not None
    arch = CATALOG.models["llama-3.1-8b"]
    emb = 128256 * 4096
    flops = (
        2 * (arch.active - 2 * emb)
        + 2 * emb / 127
        + 4 * arch.heads * arch.layers * arch.head_dim * 127 / 2
    )
    per_gpu = hw.accelerator.peak_flops["bf16"] * figures(hw).compute_utilisation["bf16"]
    assert rate.per_unit_s == pytest.approx(8 * per_gpu / flops, rel=1e-9)
    assert rate.reason.startswith("on the generation layout TP1")


def test_deepseek_generation_prefill_pays_the_tp32_all_reduces_across_servers() -> None:
    """DeepSeek-V3 on 256 H100s, vLLM TP32 with TP-sharded experts (ep 1) spanning 4 HGX
    servers (1/4 instance a server): per prompt token F / (32 GPUs x peak x u) + n all-reduces
    of hidden x 2 B, n = layers + dense layers + MoE layers (the experts' outputs reduced too),
    in two levels: 2(8-1)/8 of the bytes within each server at the NVLink rate, 2(4-1)/4 x 1/8
    of them across the 4 servers over each GPU's NIC, link utilisation on both. F = 2 (N_active
    − 2 V h) + 2 V h / P (the input embedding a lookup, the output head for the prompt's last
    token) + attention at MLA's prefill dims, 2 heads layers (192 + 128) P/2."""
    p = POINTS["nemo-rl-0.5-h100-deepseek-v3-256gpu"]
    rate = rl_rates(p.spec(), CATALOG, H100, accelerators=p.gpus)["generate_prefill"]
    hw = hardware(CATALOG, H100)
    assert hw is not None
    arch = CATALOG.models["deepseek-v3"]
    assert arch.moe is not None
    s = figures(hw)
    emb = 129280 * 7168
    flops = (
        2 * (arch.active - 2 * emb)
        + 2 * emb / p.prompt_tokens
        + 2 * arch.heads * arch.layers * (192 + 128) * p.prompt_tokens / 2
    )
    compute = flops / (32 * hw.accelerator.peak_flops["bf16"] * s.compute_utilisation["bf16"])
    n = arch.layers + arch.moe.dense_layers + arch.moe_layers
    nbytes = arch.hidden * 2
    up = hw.accelerator.scale_up_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    out = hw.accelerator.scale_out_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    allreduce = n * (2 * 7 / 8 * nbytes / up + 2 * 3 / 4 * nbytes / 8 / out)
    assert rate.per_unit_s == pytest.approx(0.25 / (compute + allreduce), rel=1e-9)
    assert "two levels" in rate.reason
    # the NIC's share is most of the all-reduce time, and the all-reduces the most of the token
    assert n * 2 * 3 / 4 * nbytes / 8 / out > 0.5 * allreduce and allreduce > compute


def test_no_generation_engine_no_prefill() -> None:
    """Where the run cannot generate (a per-sequence speed no layout reaches), its prompts have
    no engine to be prefilled in: rate 0 with the reason."""
    spec = POINTS["nemo-rl-0.5-h100-llama3.1-8b-16gpu"].spec()
    spec = spec.model_copy(update={"generator": None, "generation_tokens_per_s_per_sequence": 1e5})
    rates = rl_rates(spec, CATALOG, H100)
    assert not rates["generate"].feasible
    assert rates["generate_prefill"].per_unit_s == 0.0
    assert rates["generate_prefill"].reason.startswith("no generation engine to prefill in: ")


def split_run(tmp_path: Path) -> planner.Scenario:
    """One site: 20 owned HGX H100 servers (free, too few for the whole run) and GB200 NVL72
    racks to buy; Llama 3.1 70B RL, 60M problems x 8 samples at 30 tokens/s a sequence over 10
    days, separate pools. Generation runs on both systems (80M until session 34: once the
    B200-die BF16 fit, 0.58 -> 0.48, and the trainer's job sized at its window need put the
    trainer on 4 racks, their spare time generated every sample)."""
    systems = {H100: {"max_units": 20, "owned": 20}, GB200: {"max_units": 50}}
    rl = rl_workload("llama-3.1-70b", "60M")
    rl["generation_tokens_per_s_per_sequence"] = 30
    return planner.load_scenario(write_scenario(tmp_path, {"a": site(systems)}, {"rl": rl}))


def pool_shares(plan: Plan, sc: planner.Scenario) -> dict[tuple[str, str, str, int], float]:
    """(role, datacenter, system, period) -> share of the role's work done there."""
    (demand,) = [d for d in planner.demands(sc) if d.name == "rl"]
    amount = {r.name: r.amount for r in demand.roles}
    out: dict[tuple[str, str, str, int], float] = {}
    for a in plan.allocations:
        if a.role in ("generate", "generate_prefill") and a.units > 1e-9:
            key = (a.role, a.datacenter, a.system, a.period)
            out[key] = out.get(key, 0.0) + a.work_done / amount[a.role]
    return out


def test_generation_prefill_runs_on_the_generating_pools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the plan generated a third of the samples on the free H100s and prefilled all of
    their prompts on the GB200 racks; now every pool and period prefills the share of the
    prompts it generates. Trading prefill between the pools (each role's work kept) breaks the
    colocated rule alone. The tampered plan is checked against the demands the plan was
    verified with (planner.api's `work`), not the pre-solve ones: where the plan re-rates the
    trainer at the job it is placed on (plan.rl_jobs; at 80M problems, between session 34's
    B200-die BF16 fit and its job sized at the window need: 3 racks rated, 4 placed, 5.87e16 ->
    5.28e16 FLOP/s a rack), the pre-solve demands fail `runnable` on the untouched train rows."""
    import planner.api

    sc = split_run(tmp_path)
    verified: list[list[WorkloadDemand]] = []
    real_verify = planner.api.verify

    def spy(plan: Plan, scenario: planner.Scenario, work: list[WorkloadDemand]) -> list[str]:
        verified.append(work)
        return real_verify(plan, scenario, work)

    monkeypatch.setattr(planner.api, "verify", spy)
    for solver in ("highs", "cbc"):
        plan = planner.solve(sc, solver=solver)
        shares = pool_shares(plan, sc)
        pools = {k[1:] for k in shares}
        assert {s for _, s, _ in pools} == {H100, GB200}  # the case we meant: both generate
        for pool in pools:
            gen = shares.get(("generate", *pool), 0.0)
            assert shares.get(("generate_prefill", *pool), 0.0) == pytest.approx(gen, rel=1e-6)
        assert "colocated" in plan.checks
    # all of the prefill on the H100s (its work kept, within their units): the racks generate
    # without prefilling
    work = verified[-1]  # the cbc plan's
    (demand,) = [d for d in work if d.name == "rl"]
    rate = next(r for r in demand.roles if r.name == "generate_prefill").rates[H100].per_unit_s
    moved: dict[tuple[str, str, int], AllocationRow] = {}
    for a in plan.allocations:
        if a.role == "generate_prefill" and a.system == GB200:
            a = dataclasses.replace(
                a, system=H100, units=a.work_done / (rate * a.period_s), rate_per_unit_s=rate
            )
        key = (a.role, a.system, a.period)
        if key in moved:  # one row per role, pool and period, as the plan has
            prev = moved[key]
            a = dataclasses.replace(
                prev, units=prev.units + a.units, work_done=prev.work_done + a.work_done
            )
        moved[key] = a
    broken = copy(plan)
    broken.allocations = list(moved.values())
    assert not any(check_plan(plan, sc, work).values())
    found = {k: msgs for k, msgs in check_plan(broken, sc, work).items() if msgs}
    # busy_units too: the tampered allocations move busy units the schedule still holds
    assert list(found) == ["busy_units", "colocated"], found
    assert any(
        m.startswith("rl at a/gb200-nvl72 (generation) in period ")
        and "of the generate but 0.000% of the generate_prefill" in m
        for m in found["colocated"]
    ), found["colocated"]
