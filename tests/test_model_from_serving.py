"""Serving sized by a pretraining run (`model_from`): each candidate c's prefill@c is tied to its
decode@c like a plain tier's prefill to its decode (Role.prefill_of), so the `colocate` and
`aggregate` rows, the KV flows and the verify rules hold for the candidate the plan serves, and
are 0 = 0 for the others (sizetie gives them no units).

Fixtures (tests/test_lp.py helpers, electricity 0, amortised capex, one year): a sizing
pretraining with two candidates on the iso-loss curve of Llama 3.1 70B at 300B tokens (10 and
20 tokens/param), served at 150 tokens/s per user, which no HGX H100 layout reaches for either
candidate but GB200 NVL72 racks do; HGX H100s owned (free) where noted. Optima are computed
here from the rates the LP is fed (planner.demands), whole racks at capex_per_unit each."""

from __future__ import annotations

import dataclasses
import math
from copy import copy
from pathlib import Path
from typing import Any

import pytest
from test_lp import REL, by_name, capex_per_unit, ceil, fleet, site, write_scenario

import planner
from planner.demand.types import WorkloadDemand
from planner.kinds.pretrain import sizing_candidates
from planner.plan import Plan
from planner.verify import check_plan

OWNED_H100 = 40
H100, GB200 = "hgx-h100", "gb200-nvl72"


def workloads(requests: str, tokens_per_s: float, **tier: Any) -> dict[str, Any]:
    return {
        "pre": {
            "kind": "pretrain",
            "target": {"like": "llama-3.1-70b", "tokens": "300B"},
            "candidates": [10, 20],
            "deadline": "365 days",
            "goodput": 0.9,
            "global_batch_tokens": "16M",
        },
        "chat": {
            "kind": "inference",
            "model_from": "pre",
            "requests_per_day": requests,
            "prompt_tokens": 1000,
            "output_tokens": 500,
            "tokens_per_s_per_user": tokens_per_s,
            **tier,
        },
    }


def two_sites(tmp_path: Path, *, cost: float = 0.01, **tier: Any) -> planner.Scenario:
    """Site a owns 40 HGX H100 (free), which can prefill but not decode at 150 tokens/s per
    user; site b may buy GB200 NVL72 racks; a 5 ms, 10 Tbps link joins them, priced per TB."""
    sites = {
        "a": site({H100: {"max_units": OWNED_H100, "owned": OWNED_H100}}),
        "b": site({GB200: {"max_units": 50}}),
    }
    links = [
        {"a": "a", "b": "b", "capacity": "10 Tbps", "latency": "5 ms", "cost_usd_per_tb": cost}
    ]
    name = f"mf-{len(tier)}-{cost}"
    path = write_scenario(tmp_path, sites, workloads("70M", 150, **tier), links=links, name=name)
    return planner.load_scenario(path)


def units(demand: WorkloadDemand, role: str, system: str) -> float:
    """Units of `system` busy all of the window doing all of `role`'s work (inf: cannot)."""
    r = next(x for x in demand.roles if x.name == role)
    rate = r.rates[system].per_unit_s
    return r.amount / (rate * demand.window_s) if rate > 0 else math.inf


def labels(sc: planner.Scenario) -> list[str]:
    cands, _ = sizing_candidates("pre", sc.data.workloads["pre"], sc.catalog)
    return [c.label for c in cands]


def chosen(plan: Plan) -> str:
    (picked,) = [r.candidate for r in plan.sizing or [] if r.chosen]
    return picked


def serving_rows(plan: Plan, site_: str | None = None) -> list[Any]:
    return [
        a
        for a in plan.allocations
        if a.workload == "chat" and a.units > 1e-9 and site_ in (None, a.datacenter)
    ]


def test_model_from_prefill_stays_at_the_site_of_its_decode(tmp_path: Path) -> None:
    """Before the fix the plan prefilled on a's free H100s for decode on b's racks (3 racks,
    $2.1M, the serving row claiming "co-located"); the colocate rows of decode@c/prefill@c now
    keep both at b: ceil(decode + prefill racks) of the candidate chosen."""
    sc = two_sites(tmp_path)
    chat = by_name(sc)["chat"]
    pre = by_name(sc)["pre"]
    capex = capex_per_unit(sc, GB200)
    together, apart = {}, {}
    for c in labels(sc):
        dec, pre_g = units(chat, f"decode@{c}", GB200), units(chat, f"prefill@{c}", GB200)
        assert units(chat, f"decode@{c}", H100) == math.inf  # the case we meant: a cannot decode
        pre_h = units(chat, f"prefill@{c}", H100)
        train_h = units(pre, f"pretrain@{c}", H100)
        assert pre_h + train_h <= OWNED_H100  # a could prefill it all and pretrain too
        together[c] = ceil(dec + pre_g) * capex
        apart[c] = ceil(dec) * capex  # prefill free at a, decode at b (what the fix forbids)
    best = min(together, key=together.__getitem__)
    assert apart[best] < together[best]  # the rows bind on this case
    for solver in ("highs", "cbc"):
        plan = planner.solve(sc, solver=solver)
        assert chosen(plan) == best == "20tpp"
        assert math.isclose(plan.total_cost_usd, together[best], rel_tol=REL)
        assert fleet(plan)[("b", GB200)] == ceil(together[best] / capex)
        assert serving_rows(plan, "a") == []  # nothing of the tier at a
        assert {a.role for a in serving_rows(plan)} == {f"decode@{best}", f"prefill@{best}"}
        (row,) = plan.serving
        assert row.prefill == "co-located with its decode" and row.kv_shares == {}
        ratio = units(chat, f"prefill@{best}", GB200) / units(chat, f"decode@{best}", GB200)
        assert math.isclose(row.prefill_to_decode_units, ratio, rel_tol=1e-6)
        assert "colocated" in plan.checks


def test_model_from_prefill_at_another_site_pays_for_the_chosen_models_kv(tmp_path: Path) -> None:
    """With disaggregate_across_sites the candidate's prefill may run on a's free H100s for
    decode at b, its KV cache (of that candidate's model) priced on the link: over R racks at b
    (decode there, the racks' spare prefilling), the share x = (decode + prefill - R) / prefill
    of the prompts is prefilled at a, at R x capex + x x kv_bytes / 1e12 x $/TB; the share key
    names the candidate's decode role (the tier has one prefill pair per candidate)."""
    cost_per_tb = 0.01
    sc = two_sites(tmp_path, cost=cost_per_tb, disaggregate_across_sites=True)
    chat = by_name(sc)["chat"]
    capex = capex_per_unit(sc, GB200)
    _, models = sizing_candidates("pre", sc.data.workloads["pre"], sc.catalog)
    spec = sc.data.workloads["chat"]
    window = chat.window_s
    expected: dict[str, tuple[float, float]] = {}
    kv = {}
    for c in labels(sc):
        arch = models[f"pre-{c}"]
        per_token = 2 * arch.layers * arch.head_dim * arch.kv_heads * 2  # K and V, bf16
        kv[c] = spec.requests_per_day * window / 86400 * spec.prompt_tokens * per_token
        dec, pf = units(chat, f"decode@{c}", GB200), units(chat, f"prefill@{c}", GB200)
        assert units(chat, f"prefill@{c}", H100) <= OWNED_H100 - 2  # a prefills all (+ pretrain)
        expected[c] = min(
            (racks * capex + x * kv[c] / 1e12 * cost_per_tb, x)
            for racks in range(ceil(dec), ceil(dec + pf) + 1)
            for x in [max(0.0, (dec + pf - racks) / pf)]
        )
    best = min(expected, key=expected.__getitem__)
    cost, x = expected[best]
    assert 0 < x < 1  # some prompts cross, the racks' spare prefills the rest
    for solver in ("highs", "cbc"):
        plan = planner.solve(sc, solver=solver)
        assert chosen(plan) == best
        assert math.isclose(plan.total_cost_usd, cost, rel_tol=REL)
        (row,) = plan.serving
        assert row.kv_shares == pytest.approx({f"decode@{best}:a->b/p0": x}, rel=1e-6)
        flow = x * kv[best] / window
        assert math.isclose(row.kv_flows_bytes_per_s["a->b"], flow, rel_tol=1e-6)
        (link,) = plan.links
        assert math.isclose(link.traffic_bytes_per_s, flow, rel_tol=1e-6)
        assert row.prefill == "at other sites for some requests"
        assert {"colocated", "kv_hop", "kv_peak", "link_capacity"} <= set(plan.checks)


def one_site_two_systems(tmp_path: Path) -> planner.Scenario:
    """One site with 40 owned HGX H100 (free) and GB200 racks to buy; 310M requests/day at 60
    tokens/s per user, which both systems reach; prefill: aggregated."""
    systems = {H100: {"max_units": OWNED_H100, "owned": OWNED_H100}, GB200: {"max_units": 50}}
    tier = workloads("310M", 60, prefill="aggregated")
    return planner.load_scenario(write_scenario(tmp_path, {"a": site(systems)}, tier, name="agg"))


def pool_shares(plan: Plan, demand: WorkloadDemand) -> dict[tuple[str, str], float]:
    """(role, system) -> share of the role's work done on that pool."""
    amount = {r.name: r.amount for r in demand.roles}
    out: dict[tuple[str, str], float] = {}
    for a in serving_rows(plan):
        out[(a.role, a.system)] = out.get((a.role, a.system), 0.0) + a.work_done / amount[a.role]
    return out


def test_aggregated_model_from_tier_prefills_on_its_decode_pools(tmp_path: Path) -> None:
    """Aggregated prefill: each pool serves the same share s of decode@c and prefill@c. The
    free H100s take s = 40 / (decode + prefill H100 units), the racks the rest: ceil((1 - s) x
    (decode + prefill racks)). Before the fix the plan gave all 40 free H100s to prefill (the
    role with more racks saved per H100 unit) and bought 5 racks; now 6."""
    sc = one_site_two_systems(tmp_path)
    chat = by_name(sc)["chat"]
    pre = by_name(sc)["pre"]
    capex = capex_per_unit(sc, GB200)
    after, before, share = {}, {}, {}
    for c in labels(sc):
        dec = {s: units(chat, f"decode@{c}", s) for s in (H100, GB200)}
        pf = {s: units(chat, f"prefill@{c}", s) for s in (H100, GB200)}
        s = min(1.0, OWNED_H100 / (dec[H100] + pf[H100]))
        racks = (1 - s) * (dec[GB200] + pf[GB200])
        # the pretraining fits in the racks' spare capacity (the H100s are full)
        assert ceil(racks) - racks >= units(pre, f"pretrain@{c}", GB200)
        after[c], share[c] = ceil(racks) * capex, s
        # unconstrained: free H100 units to the role saving the most racks per unit first
        left, saved = float(OWNED_H100), 0.0
        for need in sorted((dec, pf), key=lambda x: x[GB200] / x[H100], reverse=True):
            used = min(left, need[H100])
            saved += used * need[GB200] / need[H100]
            left -= used
        before[c] = ceil(dec[GB200] + pf[GB200] - saved) * capex
    best = min(after, key=after.__getitem__)
    assert before[best] < after[best]  # the aggregate rows bind on this case
    for solver in ("highs", "cbc"):
        plan = planner.solve(sc, solver=solver)
        assert chosen(plan) == best == "20tpp"
        assert math.isclose(plan.total_cost_usd, after[best], rel_tol=REL)
        shares = pool_shares(plan, chat)
        # whole racks leave spare beyond the work: the split between the pools is not unique
        # (and may serve more than the load), but on each pool the two shares are equal, the
        # H100s' at most their 40 units'
        for system in (H100, GB200):
            dec_share = shares[(f"decode@{best}", system)]
            assert shares[(f"prefill@{best}", system)] == pytest.approx(dec_share, rel=1e-6)
        assert shares[(f"decode@{best}", H100)] <= share[best] * (1 + 1e-6)
        assert shares[(f"decode@{best}", GB200)] + shares[(f"decode@{best}", H100)] >= 1 - 1e-6
        assert {a.role for a in serving_rows(plan)} == {f"decode@{best}", f"prefill@{best}"}
        assert plan.serving[0].prefill == "in the decode steps"


def test_colocated_rule_catches_a_model_from_prefill_moved_to_another_site(
    tmp_path: Path,
) -> None:
    """The two-site plan with the chosen candidate's prefill moved to a's owned H100s (its work
    kept, within a's units, b's racks kept): the decode@c and prefill@c shares no longer match
    at either site, and the colocated rule alone fails, naming the candidate's roles."""
    sc = two_sites(tmp_path)
    dem = planner.demands(sc)
    chat = next(d for d in dem if d.name == "chat")
    plan = planner.solve(sc)
    best = chosen(plan)
    rate_h = next(r for r in chat.roles if r.name == f"prefill@{best}").rates[H100].per_unit_s
    moved = []
    for a in plan.allocations:
        if a.workload == "chat" and a.role == f"prefill@{best}":
            a = dataclasses.replace(
                a,
                datacenter="a",
                system=H100,
                units=a.work_done / (rate_h * a.period_s),
                rate_per_unit_s=rate_h,
            )
        moved.append(a)
    broken = copy(plan)
    broken.allocations = moved
    found = {name: msgs for name, msgs in check_plan(broken, sc, dem).items() if msgs}
    # busy_units too: the tampered allocations move busy units the schedule still holds
    assert list(found) == ["busy_units", "colocated"], found
    assert any(
        m.startswith(f"chat at a in period 0: 0.000% of the decode@{best} but 100.000% of the ")
        for m in found["colocated"]
    ), found["colocated"]


def test_model_from_tier_states_the_caveats_of_every_candidate(tmp_path: Path) -> None:
    """A sizing run choosing between an MoE and a dense catalog model: the serving tier sized by
    it carries the MoE serving caveat for the MoE candidate, although the last candidate (whose
    demand the tier's other fields come from) is dense."""
    from planner.kinds.inference import MOE_SERVING_CAVEAT

    wl = workloads("70M", 30)
    wl["pre"]["target"] = {"like": "qwen3-30b-a3b", "tokens": "3T"}
    wl["pre"]["candidates"] = ["qwen3-30b-a3b", "qwen3-32b"]
    sites = {"b": site({GB200: {"max_units": 50}})}
    sc = planner.load_scenario(write_scenario(tmp_path, sites, wl, name="mf-moe"))
    chat = next(d for d in planner.demands(sc) if d.name == "chat")
    moe = [c for c in chat.caveats if c.text == MOE_SERVING_CAVEAT]
    assert [c.label for c in moe] == ["chat (qwen3-30b-a3b)"]
    assert len(set(chat.caveats)) == len(chat.caveats)
