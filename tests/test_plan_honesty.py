"""Costs and limits the plan must not hide (issue 12): weight pushes as bursts, not averages."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from test_lp import by_name, rl_workload, site, write_scenario

import planner
from planner.api import demands
from planner.verify import check_plan


def _two_sites(tmp_path: Path, capacity: str) -> planner.Scenario:
    """Site a: 60 H100 servers, free power; site b: 400, power at $0.50/kWh. The RL run needs
    more than 60 servers, so it spills to b when it can."""
    path = write_scenario(
        tmp_path,
        {
            "a": site({"hgx-h100": {"max_units": 60}}),
            "b": site({"hgx-h100": {"max_units": 400}}, price=0.5),
        },
        # 250K samples an update: an update every ~108 s, so each server's weight sync
        # (pool_sync_s, 0.32 s an update since rlsync, ~10 s with rlstep's fixed part; both pools
        # wait) idles it ~0.3% of the window, and a 1 Gbps push (128 s) is still over the interval
        {"rl": rl_workload("llama-3.1-8b", "250M", samples_per_update="250K")},
        links=[
            {"a": "a", "b": "b", "capacity": capacity, "latency": "5 ms", "cost_usd_per_tb": 0.0}
        ],
        name=capacity.replace(" ", ""),
    )
    return planner.load_scenario(path)


def test_a_weight_push_too_slow_for_the_update_interval_keeps_generation_at_the_trainer(
    tmp_path: Path,
) -> None:
    """16 GB of BF16 8B weights per update, an update every window / updates seconds (allowed
    staleness: one update). Over 400 Gbps a push takes 16e9 / 50e9 + 5 ms = 0.325 s: generation
    may spill to b. Over 1 Gbps it takes 128 s, far over the interval: the trainer and all
    generation share one site, and the plan costs more (power at b)."""
    wide = _two_sites(tmp_path, "400 Gbps")
    demand = by_name(wide)["rl"]
    assert demand.rl is not None
    interval = demand.window_s / demand.rl.updates
    plan = planner.solve(wide)
    (row,) = plan.rl
    # Site a is full either way (60 servers): which site trains is the LP's choice at the
    # margin; the push goes from the trainer's site to the other.
    assert set(row.samples_by_site) == {"a", "b"} and row.trainer_site in ("a", "b")
    other = "b" if row.trainer_site == "a" else "a"
    assert math.isclose(row.weight_push_s_by_site[other], 16e9 / 50e9 + 0.005, rel_tol=1e-9)
    assert math.isclose(row.push_budget_s, interval, rel_tol=1e-9)

    thin = _two_sites(tmp_path, "1 Gbps")
    assert interval < 16e9 / (1e9 / 8)
    slow = planner.solve(thin)
    (row,) = slow.rl
    assert list(row.samples_by_site) == [row.trainer_site] and row.weight_push_s_by_site == {}
    assert slow.total_cost_usd > plan.total_cost_usd


def test_the_weight_push_rule_catches_a_staleness_the_plan_cannot_meet(tmp_path: Path) -> None:
    """The wide-link plan checked against a run that allows only 0.1% of an update interval of
    staleness (0.108 s): the push to the other site (0.325 s) is over it, and only the weight_push rule
    says so."""
    sc = _two_sites(tmp_path, "400 Gbps")
    plan = planner.solve(sc)
    trainer = plan.rl[0].trainer_site
    other = "b" if trainer == "a" else "a"
    demands = [
        dataclasses.replace(d, rl=dataclasses.replace(d.rl, max_staleness_updates=0.001))
        if d.rl is not None
        else d
        for d in planner.demands(sc)
    ]
    found = {name: msgs for name, msgs in check_plan(plan, sc, demands).items() if msgs}
    assert list(found) == ["weight_push"] and f"{trainer} -> {other}" in found["weight_push"][0]


def test_serving_prefill_runs_where_its_decode_runs() -> None:
    """In the default plan (chat served from two sites in its first period), every site serves
    the same share of a tier's prefill as of its decode, recomputed from the allocations: no KV
    cache crosses between sites unpriced."""
    sc = planner.load_scenario("planner/scenarios/frontier-lab.yaml")
    plan = planner.solve(sc)
    demands = {d.name: d for d in planner.demands(sc)}
    shares: dict[tuple[str, str, int, str], float] = {}
    for a in plan.allocations:
        demand = demands[a.workload]
        if not demand.steady_load:
            continue
        role = next(r for r in demand.roles if r.name == a.role)
        need = role.amount * demand.load_between(a.period_start_s, a.period_end_s)
        key = (a.workload, a.datacenter, a.period, a.role)
        shares[key] = shares.get(key, 0.0) + a.work_done / need
    sites = {(w, d, p) for w, d, p, _ in shares}
    assert len({(w, p) for w, d, p in sites if w == "chat" and p == 0}) == 1
    assert len({d for w, d, p in sites if w == "chat" and p == 0}) == 2
    for w, d, p in sites:
        dec, pre = shares.get((w, d, p, "decode"), 0.0), shares.get((w, d, p, "prefill"), 0.0)
        assert math.isclose(dec, pre, rel_tol=1e-6, abs_tol=1e-9), (w, d, p, dec, pre)


def test_a_tier_that_must_survive_a_site_loss_holds_its_load_at_each_site(tmp_path: Path) -> None:
    """Two identical sites: N+1 across sites means either site alone serves the whole load, so
    each holds ceil(need) servers: twice the capex of the unconstrained plan."""
    from test_lp import capex_per_unit, ceil, inference, total_need

    sites = {
        "a": site({"hgx-h100": {"max_units": 100}}),
        "b": site({"hgx-h100": {"max_units": 100}}),
    }
    plain = planner.load_scenario(write_scenario(tmp_path, sites, {"chat": inference("20M")}))
    need = ceil(total_need(by_name(plain)["chat"], "hgx-h100"))
    assert math.isclose(
        planner.solve(plain).total_cost_usd, need * capex_per_unit(plain, "hgx-h100"), rel_tol=1e-9
    )
    safe_path = write_scenario(
        tmp_path, sites, {"chat": inference("20M", survive_site_loss=True)}, name="safe"
    )
    safe = planner.load_scenario(safe_path)
    plan = planner.solve(safe)
    units = {(f.datacenter, f.system): f.units for f in plan.fleet}
    assert units == {("a", "hgx-h100"): need, ("b", "hgx-h100"): need}
    assert math.isclose(
        plan.total_cost_usd, 2 * need * capex_per_unit(safe, "hgx-h100"), rel_tol=1e-9
    )
    # The rule recomputes it: the plain plan does not survive losing a site.
    found = check_plan(planner.solve(plain), safe, planner.demands(safe))
    assert found["site_loss"] and all(not v for k, v in found.items() if k != "site_loss")


def test_one_site_cannot_survive_its_own_loss(tmp_path: Path) -> None:
    from test_lp import inference

    from fleetcore.errors import InfeasibleError

    path = write_scenario(
        tmp_path,
        {"a": site({"hgx-h100": {"max_units": 100}})},
        {"chat": inference("20M", survive_site_loss=True)},
    )
    try:
        planner.solve(planner.load_scenario(path))
    except InfeasibleError as err:
        assert any("without a" in line for line in err.diagnosis)
    else:
        raise AssertionError("a single site cannot survive its own loss")


def test_moe_serving_rates_say_what_their_calibration_leaves_open(tmp_path: Path) -> None:
    """An MoE model's serving rates rest on the 2025 per-routed-token fit; the engine and its
    release move them 1.5-3x either way (MLPerf v6.0 vs v5.1, NeMo-RL's vLLM runs): a plan
    serving MoE models says so once, naming every MoE tier; dense tiers are not named."""
    import textwrap

    from tiny_site import TOPOLOGY, write_site

    tier = textwrap.dedent(
        """\
          {name}:
            kind: inference
            model: {model}
            precision: fp8
            requests_per_day: 100K
            prompt_tokens: 1000
            output_tokens: 500
            tokens_per_s_per_user: 30
        """
    )
    head = "topology: topo.yaml\neconomics: {horizon: 365 days, pricing: amortised}\nworkloads:\n"
    tiers = [("chat", "llama-3.1-8b"), ("moe-a", "qwen3-30b-a3b"), ("moe-b", "qwen3-30b-a3b")]
    body = "".join(textwrap.indent(tier.format(name=n, model=m), "  ") for n, m in tiers)
    topology = TOPOLOGY.replace("hgx-h100: {max_units: 4}", "hgx-h100: {max_units: 40}")
    plan = planner.solve(planner.load_scenario(write_site(tmp_path, head + body, topology)))
    lines = [x for x in plan.left_out if x.startswith("MoE serving")]
    assert lines == [lines[0]] and "(moe-a (qwen3-30b-a3b), moe-b (qwen3-30b-a3b))" in lines[0]
    assert "chat" not in lines[0] and "2025 software is assumed" in lines[0] and "v6.1" in lines[0]
    assert "engine.tensorrt_llm_version" in lines[0]  # how to select the measured 2026 module
    dense = planner.solve(
        planner.load_scenario(
            write_site(
                tmp_path,
                head + textwrap.indent(tier.format(name="chat", model="llama-3.1-8b"), "  "),
                topology,
            )
        )
    )
    assert not any(x.startswith("MoE serving") for x in dense.left_out)


def test_training_on_an_estimated_efficiency_says_so(tmp_path: Path) -> None:
    """A pretraining run on Trainium2 (its training gemm_efficiency an estimate in the catalog)
    gets a Left out line naming the run and the system; on H100 in BF16 (fitted to the Llama 3
    paper's MFU) it does not. The caveat follows the system the plan uses, not the candidates."""
    job = {
        "kind": "pretrain",
        "model": "llama-3.1-8b",
        "tokens": "20B",
        "deadline": "30 days",
        "global_batch_tokens": "4M",
    }

    def plan_on(system: str) -> list[str]:
        path = write_scenario(
            tmp_path, {"a": site({system: {"max_units": 64}})}, {"pre": job}, name=system
        )
        return planner.solve(planner.load_scenario(path)).left_out

    stated = [x for x in plan_on("trn2-server") if x.startswith("training rates of")]
    # Since session s22 Trainium2's BF16 fraction is fitted (AXLearn's two runs), so no
    # estimate line; its training calibration_limit stays (one framework's runs, FP8 an
    # estimate: tests/test_training_limits.py)
    assert len(stated) == 1 and "pre on trn2-server" in stated[0]
    assert "estimated gemm_efficiency" not in stated[0]
    assert "fitted on the only published Trainium2 training runs" in stated[0]
    assert not any(x.startswith("training rates of") for x in plan_on("hgx-h100"))
    # In FP8 (still an estimate on Trainium2) the estimate line comes back beside the limit.
    job["precision"] = "fp8"
    fp8 = [x for x in plan_on("trn2-server") if x.startswith("training rates of")]
    assert len(fp8) == 2 and "estimated gemm_efficiency" in fp8[0]


def test_moe_training_says_what_mlperf_v6_measured(tmp_path: Path) -> None:
    """Pretraining an MoE model: the step model misses a per-step cost MLPerf Training v6.0's MoE
    runs pay (DeepSeek-V3 at scale, gpt-oss-20b): a plan training one says so, naming the run
    and its model; a dense run does not get the line."""
    from planner.demand.common import MOE_TRAINING_CAVEAT, MOE_UNFITTED_EXPERT_GEMM_CAVEATS

    def plan_with(model: str) -> list[str]:
        job = {
            "kind": "pretrain",
            "model": model,
            "tokens": "20B",
            "deadline": "30 days",
            "global_batch_tokens": "4M",
        }
        path = write_scenario(
            tmp_path, {"a": site({"hgx-h100": {"max_units": 64}})}, {"pre": job}, name=model
        )
        return planner.solve(planner.load_scenario(path)).left_out

    head = MOE_TRAINING_CAVEAT.split("{}")[0]
    moe = [x for x in plan_with("qwen3-30b-a3b") if x.startswith(head)]
    # BF16 on H100 also gets the unfitted expert-GEMM line (session 33, test_review33.py)
    h100_bf16 = MOE_UNFITTED_EXPERT_GEMM_CAVEATS[("h100-sxm", "bf16")]
    assert sorted(moe) == sorted(
        [
            MOE_TRAINING_CAVEAT.format("pre (qwen3-30b-a3b)"),
            h100_bf16.format("pre (qwen3-30b-a3b) on hgx-h100"),
        ]
    )
    moe = [x for x in moe if x != h100_bf16.format("pre (qwen3-30b-a3b) on hgx-h100")]
    assert "1.25-1.70x" in moe[0] and "mlperf60-" in moe[0]
    assert not any(x.startswith(head) for x in plan_with("llama-3.1-8b"))


def test_rl_on_an_moe_policy_states_the_moe_caveats(tmp_path: Path) -> None:
    """An RL run whose policy is MoE trains it (the update's passes) and generates with it: its
    demand carries both MoE caveats (training, generation); a dense policy's neither."""
    from planner.demand.common import MOE_TRAINING_CAVEAT
    from planner.kinds.rl import MOE_GENERATION_CAVEAT

    def texts(policy: str) -> set[str]:
        path = write_scenario(
            tmp_path,
            {"a": site({"hgx-h100": {"max_units": 64}})},
            {"rl": rl_workload(policy, "10K")},
            name=policy,
        )
        (demand,) = demands(planner.load_scenario(path))
        return {c.text for c in demand.caveats}

    assert {MOE_TRAINING_CAVEAT, MOE_GENERATION_CAVEAT} <= texts("qwen3-30b-a3b")
    assert not {MOE_TRAINING_CAVEAT, MOE_GENERATION_CAVEAT} & texts("llama-3.1-8b")


def test_serving_on_an_estimated_compute_utilisation_says_so(tmp_path: Path) -> None:
    """A BF16 tier on GB200 (serving compute_utilisation.bf16 an estimate: B200's, not fitted)
    gets a Left out line naming the tier and the system; an FP8 tier there (B200's fit) does
    not."""
    from test_lp import inference

    def plan_at(precision: str) -> list[str]:
        path = write_scenario(
            tmp_path,
            {"a": site({"gb200-nvl72": {"max_units": 8}})},
            {"chat": inference("1M", precision=precision)},
            name=precision,
        )
        return planner.solve(planner.load_scenario(path)).left_out

    lines = [x for x in plan_at("bf16") if x.startswith("serving rates of")]
    assert len(lines) == 1 and "chat on gb200-nvl72" in lines[0]
    assert not any(x.startswith("serving rates of") for x in plan_at("fp8"))


def test_moe_training_caveat_figures_are_the_rows() -> None:
    """The MoE training caveat's figures are the calibration rows' (planner / published): the
    MLPerf v6.0 DeepSeek-V3 GB200 runs at 2,048-8,192 GPUs, the 256-512 GPU runs (GB200 and
    GB300), and Megatron-Bridge's expert-TP-1 runs on H100 and B200, each range rounded to the nearest
    0.05x or percent."""
    from hardware.catalog import load_catalog
    from planner.calibration import training
    from planner.demand.common import MOE_TRAINING_CAVEAT

    catalog = load_catalog()
    runs = {r["id"]: r for r in training.runs()}

    def ratio(rid: str) -> float:
        r = runs[rid]
        return training.predict(r, catalog) / r["published"]

    big = [ratio(f"mlperf60-deepseek-v3-gb200-{n}gpu-step") for n in (2048, 4096, 8192)]
    assert f"{round(min(big) * 20) / 20:.2f}-{round(max(big) * 20) / 20:.2f}x" in (
        MOE_TRAINING_CAVEAT
    )
    small = [
        ratio(f"mlperf60-deepseek-v3-{s}-{n}gpu-step")
        for s in ("gb200", "gb300")
        for n in (256, 512)
    ]
    assert f"within {round((min(small) - 1) * 100):d}% to +{round((max(small) - 1) * 100):d}%" in (
        MOE_TRAINING_CAVEAT
    )
    # the Megatron-Bridge DeepSeek-V3 rows at expert TP 1 (H100 TP2 ETP1, B200 TP1): H100's in
    # band since session s31 moe's grouped expert GEMMs' fraction (it was 1.45x); B200's in band
    # since session s34 fit (1.19x before, quoted 1.20x: its last stage's two BF16 output heads
    # 37.8 ms at 0.58 -> 45.6 ms, x 0.58/0.48, its micro-batch 75.6 -> 83.3 ms): +7.9%, so the
    # caveat states both in band and no longer quotes a B200 shortfall
    mb_rows = (
        "mbridge2509-deepseek-v3-fp8-h100-1024gpu",
        "mbridge2602-deepseek-v3-mxfp8-b200-256gpu",
    )
    assert all(runs[rid]["layout"].get("expert_tp", 1) == 1 for rid in mb_rows)
    h100, b200 = (ratio(rid) for rid in mb_rows)
    for rid, rate in zip(mb_rows, (h100, b200), strict=True):
        assert training.within(runs[rid], rate * runs[rid]["published"]), rid
        assert not runs[rid].get("known_miss"), rid
    assert f"in band (B200 +{round((b200 - 1) * 100):d}%, H100 with" in MOE_TRAINING_CAVEAT
