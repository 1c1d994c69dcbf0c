"""RL: per-role work recomputed by hand for a small spec; coupling; FLOP balance."""

from __future__ import annotations

import pytest

from hardware.catalog import load_catalog
from planner.demand import estimate_rl
from planner.kinds import check_workload_refs, demand_for
from planner.kinds.rl import RLSpec

CATALOG = load_catalog()
DAY = 86400.0

P, C, N, F = 1000, 4000, 8, 0.25
PROBLEMS, EPOCHS = 1000, 2


def spec(**kw: object) -> RLSpec:
    data = dict(
        kind="rl",
        policy="llama-3.1-8b",
        problems=PROBLEMS,
        samples_per_problem=N,
        prompt_tokens=P,
        completion_tokens=C,
        kept_fraction=F,
        epochs=EPOCHS,
        samples_per_update=1024,
        deadline="10 days",
        goodput=0.9,
        reward_models=[
            {"name": "orm", "model": "llama-3.1-8b", "kind": "outcome", "passes_per_sample": 2},
            {"name": "prm", "model": "llama-3.1-70b", "kind": "process", "steps_per_sample": 10},
            {
                "name": "prm1",
                "model": "llama-3.1-8b",
                "kind": "process",
                "steps_per_sample": 10,
                "per_step_passes": False,
            },
        ],
        reference={"model": "llama-3.1-8b"},
        critic={"model": "llama-3.1-70b"},
        verifiers=[
            {"name": "code", "core_seconds_per_sample": 3.0, "applies_to": 0.5},
            {"name": "math", "core_seconds_per_sample": 0.2, "applies_to": 1.0},
        ],
    )
    data.update(kw)
    return RLSpec.model_validate(data)


V = 128256  # Llama 3.1 vocabulary (untied input embedding and output head, V x hidden each)


def fwd(n_active: float, layers: int, hidden: int, ctx: float) -> float:
    # every active parameter a multiply-add but the input embedding's (a row lookup); the output
    # head computes every token's logits; heads x head_dim = hidden
    return 2 * (n_active - V * hidden) + 4 * layers * hidden * ctx


def prefill(n_active: float, layers: int, hidden: int, ctx: float, prompt: float) -> float:
    # a prompt token: the output head runs for the prompt's last position only
    return 2 * (n_active - 2 * V * hidden) + 2 * V * hidden / prompt + 4 * layers * hidden * ctx


def test_per_role_amounts_by_hand() -> None:
    samples = PROBLEMS * N * EPOCHS
    d = demand_for("rl", spec(), CATALOG, ["hgx-h100", "cpu-server"], 365 * DAY)
    roles = {r.name: r for r in d.roles}
    expected = {
        "generate": C,
        "generate_prefill": P / N,
        "reward:orm": 2 * (P + C),
        "reward:prm": 10 * P + C * 11 / 2,
        "reward:prm1": P + C,
        "reference": F * (P + C),
        "policy_logprobs": F * (P + C),  # the policy's old log-probabilities (default on)
        "train": 6 * 8e9 * F * (P + C) + 6 * 70e9 * F * (P + C),
    }
    assert set(roles) == set(expected)
    for name, per_sample in expected.items():
        assert roles[name].per_sample == pytest.approx(per_sample, rel=1e-12), name
        assert roles[name].amount == pytest.approx(per_sample * samples, rel=1e-12), name
    assert roles["train"].work_unit == "FLOP" and roles["train"].placement == "trainer"
    assert all(r.placement == "with_generation" for n, r in roles.items() if n != "train")
    assert all(r.rates["cpu-server"].per_unit_s == 0 for r in d.roles)
    assert all(r.rates["hgx-h100"].per_unit_s > 0 for r in d.roles)
    assert d.window_s == 10 * DAY
    rl = d.rl
    assert rl is not None
    assert rl.samples == samples
    assert rl.kept_fraction == F
    assert rl.verifier_core_s_per_sample == pytest.approx(3.0 * 0.5 + 0.2)
    assert rl.trajectory_bytes_per_kept_sample == (P + C) * (4 + 4)
    assert rl.weight_bytes_per_update == 8e9 * 2
    assert rl.updates == pytest.approx(samples / 1024)


def test_policy_logprobs_can_be_left_to_the_rollout_engine() -> None:
    # policy_logprobs: false (the rollout engine's log-probabilities used, AReaL-style) drops
    # the role and nothing else.
    on = {r.name: r for r in demand_for("rl", spec(), CATALOG, ["hgx-h100"], 365 * DAY).roles}
    off = demand_for("rl", spec(policy_logprobs=False), CATALOG, ["hgx-h100"], 365 * DAY)
    assert set(on) - {r.name for r in off.roles} == {"policy_logprobs"}
    for r in off.roles:
        assert r.amount == on[r.name].amount


def test_forward_backward_ratio_and_shares() -> None:
    s = spec()
    est = estimate_rl(s, CATALOG)
    samples = PROBLEMS * N * EPOCHS
    l8 = (8e9, 32, 4096)
    l70 = (70e9, 80, 8192)
    token_flops = (
        C * fwd(*l8, P + C / 2)
        + P / N * prefill(*l8, P / 2, P)  # generation's prefill: the head for the last token
        + 2 * (P + C) * fwd(*l8, (P + C) / 2)
        + (10 * P + C * 5.5) * fwd(*l70, (P + C) / 2)
        + (P + C) * fwd(*l8, (P + C) / 2)
        + F * (P + C) * fwd(*l8, (P + C) / 2)
        + F * (P + C) * fwd(*l8, (P + C) / 2)  # policy_logprobs: the policy (8B) again
    )
    train = 6 * (8e9 + 70e9) * F * (P + C)
    forward = (token_flops + train / 3) * samples
    backward = train * 2 / 3 * samples
    assert est.forward_flops == pytest.approx(forward, rel=1e-9)
    assert est.backward_flops == pytest.approx(backward, rel=1e-9)
    assert est.forward_backward_flop_ratio == pytest.approx(forward / backward, rel=1e-9)
    assert sum(est.role_flop_shares.values()) == pytest.approx(1.0)
    assert est.role_flop_shares["train"] == pytest.approx(train * samples / (forward + backward))
    assert est.verifier_core_seconds == pytest.approx(1.7 * samples)


def test_generation_rate_throughput_vs_latency_mode() -> None:
    fast = demand_for("a", spec(), CATALOG, ["hgx-h100"], DAY)
    slow = demand_for(
        "b", spec(generation_tokens_per_s_per_sequence=200), CATALOG, ["hgx-h100"], DAY
    )
    r_fast = fast.roles[0].rates["hgx-h100"]
    r_slow = slow.roles[0].rates["hgx-h100"]
    assert r_fast.per_unit_s > r_slow.per_unit_s > 0


def test_process_rm_needs_steps_and_refs_checked() -> None:
    with pytest.raises(ValueError):
        spec(reward_models=[{"name": "p", "model": "llama-3.1-8b", "kind": "process"}])
    bad = spec(
        reward_models=[{"name": "o", "model": "nope", "kind": "outcome"}], critic={"model": "nada"}
    )
    problems = check_workload_refs("rl", bad, CATALOG)
    assert [loc for loc, _ in problems] == [("reward_models", 0, "model"), ("critic", "model")]
    assert "unknown model 'nope'" in problems[0][1]


def test_estimate_with_a_system_rates_the_roles_as_the_plan_does() -> None:
    """`estimate rl --system` rated the roles on the fewest units holding the training state
    (rl-verifiers' generation on trn2-server: 256K samples on one 48-chip instance); the plan
    rates them on the run its work sizes, with the refit/offload share of the window. The
    estimate now gives the plan's rates, role by role."""
    import planner
    from planner.kinds.rl import RLSpec

    sc = planner.load_scenario("rl-verifiers")
    spec = sc.data.workloads["rl-code"]
    assert isinstance(spec, RLSpec)
    (work,) = [d for d in planner.demands(sc) if d.name == "rl-code"]
    est = estimate_rl(spec, sc.catalog, "trn2-server")
    for role in work.roles:
        rated = next(r for r in est.roles if r.name == role.name)
        assert rated.rate_per_unit_s == pytest.approx(role.rates["trn2-server"].per_unit_s)
    gen = next(r for r in est.roles if r.name == "generate")
    # 1,344 before session s32 pergemm refitted the training fractions (the run's chips follow
    # its trainer's rate)
    assert gen.rate_reason is not None and "(1,328 accelerators)" in gen.rate_reason


def test_estimate_colocated_line_is_the_update_the_rates_charge() -> None:
    """qa28: `estimate rl --system` printed the colocated update over the fewest whole units
    holding the training state (rl-verifiers on trn2-server: 16 chips, offload 37 s, 47.3 s an
    update) beside role rates cut by the plan's update over the run's 1,344 chips (21.4 s):
    6,250 updates x 47.3 s over 90 days is 3.8% of the window, the rows said 1.7%. The line
    now gives the plan's update, and its share recomputes to the rows' factor."""
    import re

    import planner
    from planner.kinds.rl import RLSpec

    sc = planner.load_scenario("rl-verifiers")
    spec = sc.data.workloads["rl-code"]
    assert isinstance(spec, RLSpec)
    (work,) = [d for d in planner.demands(sc) if d.name == "rl-code"]
    assert work.rl is not None
    charged_s = work.rl.colocated_update_s_by_system["trn2-server"]
    est = estimate_rl(spec, sc.catalog, "trn2-server")
    co = est.colocated_update
    assert co is not None
    assert co.total_s == pytest.approx(charged_s, rel=1e-12)
    assert co.accelerators == 1328  # 1,344 before session s32 pergemm
    # by hand: 70e9 x 4 B over m = 13 chips + 70e9 x 12 B over 1,328, both ways at the host link
    per_acc = 70e9 * 4 / co.model_parallel + 70e9 * 12 / 1328
    assert co.offload_bytes_per_accelerator == pytest.approx(per_acc, rel=1e-12)
    line = next(x for x in est.derivation if x.startswith("colocated update on trn2-server"))
    share = est.updates * co.total_s / (spec.deadline_s - spec.start_s)
    assert f"= {share:.1%} of the window" in line
    gen = next(r for r in est.roles if r.name == "generate")
    assert gen.rate_reason is not None
    printed = re.search(r"x (\d\.\d+): ([\d.]+)% of the window", gen.rate_reason)
    assert printed is not None
    assert float(printed.group(1)) == pytest.approx(1 - share, abs=1e-4)
