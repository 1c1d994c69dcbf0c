"""An analyst's hand checks of printed figures (session 27, qa27): every line of a derivation must
recompute to the number printed beside it from the numbers it names."""

from __future__ import annotations

import math
import re

import pytest

import planner
from hardware.catalog import load_catalog
from planner.demand import estimate_inference, estimate_kv
from planner.kinds.inference import InferenceSpec
from planner.kinds.pretrain import PretrainSpec

CATALOG = load_catalog()
GB = 1e9


def _line(lines: list[str], start: str) -> str:
    return next(line for line in lines if line.startswith(start))


def test_banded_max_tokens_line_recomputes_by_its_own_formula() -> None:
    # gpt-oss-120b, FP8 KV (1,024 B a layer-token), 18 of 36 layers banded at 128 tokens: the
    # printed line must be the inverse of the banded kv cache line. Before, it read "free / (batch
    # x kv bytes/token)", which by hand gives 517.6 GB / (64 x 36,864 B) = 219,390, half the
    # 438,647 printed.
    est = estimate_kv(CATALOG, "gpt-oss-120b", 64, 8192, "fp8", "fp4", "hgx-h100")
    assert est.free_bytes is not None and est.max_tokens_per_sequence is not None
    line = _line(est.derivation, "max tokens/sequence")
    assert "banded" in line and "1,024 B a layer-token" in line
    by_hand = (est.free_bytes / (64 * 1024) - 18 * 128) / 18
    assert est.max_tokens_per_sequence == pytest.approx(by_hand, rel=1e-12)
    assert line.endswith(f"= {by_hand:,.0f}")


def test_kv_says_when_the_fitting_sequence_outruns_the_models_context() -> None:
    # Llama 3.1 405B FP8 on 8 B200: 891 GB free hold 863,211 tokens a sequence at batch 4, past
    # its 131,072-token context: the figure alone reads as a usable context.
    far = estimate_kv(CATALOG, "llama-3.1-405b", 4, 128_000, "fp8", "fp8", "hgx-b200")
    assert far.max_tokens_per_sequence is not None and far.max_tokens_per_sequence > 131_072
    assert any("beyond the model's context of 131,072" in n for n in far.notes)
    near = estimate_kv(CATALOG, "llama-3.1-70b", 64, 8192, "fp8", "fp8", "hgx-h100")
    assert near.max_tokens_per_sequence is not None and near.max_tokens_per_sequence < 131_072
    assert not any("context" in n for n in near.notes)
    asked = estimate_kv(CATALOG, "llama-3.1-8b", 1, 1_000_000)
    assert any("1,000,000 tokens/sequence is beyond" in n for n in asked.notes)


def _spec(**kw: object) -> InferenceSpec:
    data: dict[str, object] = dict(
        kind="inference",
        requests_per_day="1M",
        mode="offline",
        prefill="aggregated",
    )
    data.update(kw)
    return InferenceSpec.model_validate(data)


def test_batch_line_prints_the_hbm_bound_as_the_whole_sequences_taken() -> None:
    # 405B FP8 on one HGX B200, 120,000-token prompts: 880 GB free / (122,000 x 258,048 B) =
    # 27.95 sequences; the batch is 27. Before, the line read "min(HBM 28, ...) = 27".
    spec = _spec(
        model="llama-3.1-405b",
        precision="fp8",
        kv_precision="fp8",
        prompt_tokens=120_000,
        output_tokens=2000,
    )
    est = estimate_inference(spec, CATALOG, "hgx-b200", max_units_per_instance=1)
    assert est.max_batch_hbm is not None and est.max_batch == 27
    assert est.max_batch_hbm == pytest.approx(880e9 / (122_000 * 258_048), rel=1e-9)
    line = _line(est.derivation, "batch = min(")
    hbm = int(re.search(r"min\(HBM (\d+),", line).group(1))  # type: ignore[union-attr]
    assert hbm == math.floor(est.max_batch_hbm) == est.max_batch
    assert "= 27.95" in _line(est.derivation, "weights stored")


def test_moe_weights_stored_line_names_its_replicated_dense_part() -> None:
    # DeepSeek-R1 FP8 on HGX H200 as DP8 x TP1 attention, EP8: 790.6 GB stored (671 GB of
    # weights) could not be traced from the line; it now shows routed once + dense x replicas.
    spec = _spec(
        model="deepseek-r1",
        precision="fp8",
        kv_precision="fp8",
        prompt_tokens=1000,
        output_tokens=1000,
        prefill="disaggregated",
    )
    est = estimate_inference(spec, CATALOG, "hgx-h200", max_units_per_instance=1)
    line = _line(est.derivation, "weights stored")
    m = re.search(
        r"weights stored ([\d.,]+) GB \(routed experts ([\d.,]+) GB once \+ dense ([\d.,]+) GB "
        r"x (\d+) attention replicas\)",
        line,
    )
    assert m is not None, line
    stored, routed, dense, replicas = (float(g.replace(",", "")) for g in m.groups())
    assert replicas == 8
    assert routed + dense * replicas == pytest.approx(stored, abs=0.5)
    assert routed + dense == pytest.approx(671.0, abs=0.1)


def test_explain_prices_units_bought_and_left_idle_at_their_busy_energy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """frontier-lab buys 57 GB200 NVL72s for the 90-day pretraining; from day 90 chat leaves the
    owned H100s for them. By hand (catalog and site figures, the plan's own rates): a busy
    GB200 hour adds only its energy above idle, 132 kW x 0.75 x 1.2 x $0.07 = $8.32, chat's
    $/M output tokens on them 8.32/3600 x (1/459,250 + (1000/775)/735,170) x 1e6 = $0.0091
    against $0.0111 on the owned H100s ($0.75 an hour), while the tables price a GB200 at its
    bought $153.08 an hour. Nothing printed said so; the line gives each period's idle units,
    recomputed here from the schedule and allocations."""
    from cli import main

    sc = planner.load_scenario("frontier-lab")
    plan = planner.solve(sc)
    site = sc.topology.site("dc-east")
    spec = sc.catalog.system("gb200-nvl72")
    busy_h = 0.75 * 132 * 1.2 * 0.07
    assert (1 - (spec.idle_power_fraction or 0.0)) * spec.power_w / 1000 * site.pue * (
        site.electricity_usd_per_kwh
    ) == pytest.approx(busy_h, rel=1e-12)
    rows = [r for r in plan.schedule if (r.datacenter, r.system) == ("dc-east", "gb200-nvl72")]
    owned = max(r.owned_units for r in rows)
    busy: dict[float, float] = {}
    for a in plan.allocations:
        if (a.datacenter, a.system) == ("dc-east", "gb200-nvl72"):
            busy[a.period_start_s] = busy.get(a.period_start_s, 0.0) + a.units
    # qa28b: the reasoning tier's N+1 headroom holds one rack unallocated there from day 150
    # (plan.serving spare_units); it is a spare, not idle capacity, and listed apart
    start = {p.period: round(p.start_s / 86400) for p in plan.periods}
    spare = {
        start[int(key.rsplit("/p", 1)[1])]: units
        for row in plan.serving
        for key, units in row.spare_units.items()
        if key.startswith("dc-east/gb200-nvl72/")
    }
    assert spare == {150: 1.0}
    idle = {round(s / 86400): owned - b - spare.get(round(s / 86400), 0.0) for s, b in busy.items()}
    assert idle[0] < 0.5 and idle[90] > 40 and idle[150] > 40  # pretraining fills days 0-90
    assert main(["plan", "frontier-lab", "-q", "--explain"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("Bought and idle:"))
    assert line.startswith(
        f"Bought and idle: dc-east/gb200-nvl72 {owned:,.3g} units bought, idle "
        f"{idle[90]:,.3g} on days 90-150, {idle[150]:,.3g} on days 150-365; headroom spares "
        "(held by a tier's N+k rule, not idle): 1 on days 150-365: work moved onto the idle "
        f"ones pays ${busy_h:,.2f} a busy unit-hour"
    ), line
    assert out.count("Bought and idle:") == 1  # dc-central's H100s are owned, not bought


def test_explain_names_a_pool_of_headroom_spares_alone_as_not_idle() -> None:
    """A bought pool whose only unallocated units are a tier's N+k spares is not "Bought and
    idle": its line says they are held by the headroom rule."""
    from planner.explain import IdleBoughtPool, format_unit_costs

    pool = IdleBoughtPool("dc-east", "gb200-nvl72", 10, [], 8.32, 153.08, [(150.0, 365.0, 1.0)])
    text = format_unit_costs([], idle_bought=[pool])
    assert "Bought and idle" not in text
    assert (
        "Bought and held as headroom spares: dc-east/gb200-nvl72 1 on days 150-365 (a serving "
        "tier's N+k rule holds them unallocated; not idle capacity)"
    ) in text


def test_the_decisions_idle_line_says_when_headroom_spares_are_in_it() -> None:
    """The decision's idle share is the LP's (idle) cost rows, which charge a tier's N+k spares
    no work: frontier-lab's reasoning tier holds a spare rack (plan.serving spare_units), so the
    line says the spares are among the idle units; rl-verifiers has no headroom and does not."""
    from planner.decision import decision, summary_lines

    for name, spares in (("frontier-lab", True), ("rl-verifiers", False)):
        plan = planner.solve(planner.load_scenario(name))
        held = any(v > 0 for row in plan.serving for v in row.spare_units.values())
        assert held is spares
        d = decision(plan)
        assert d.headroom_spares is spares
        text = " ".join(" ".join(summary_lines(d)).split())
        line = text.split("Idle capacity: ", 1)[1]
        assert ("N+k headroom spares among them" in line.split("Mostly idle")[0]) is spares


def _llama_405b_16m(**extra: object) -> PretrainSpec:
    """Llama 3.1 405B, 15.6T tokens in 90 days at goodput 0.9 and a 16M-token batch (the
    qa28 hand checks' run), with `extra` fields (a pinned layout)."""
    return PretrainSpec.model_validate(
        dict(
            kind="pretrain",
            model="llama-3.1-405b",
            tokens="15.6T",
            deadline="90 days",
            goodput=0.9,
            global_batch_tokens="16M",
            **extra,
        )
    )


def test_pretrain_memory_line_recomputes_the_chosen_layouts_memory() -> None:
    # qa28: `estimate pretrain` printed only "72/72 GB" for Llama 3.1 405B on TP8 x PP16 x DP64
    # (v8) H100s, so the 30% recomputation it chose could not be checked. By hand (ZeRO-1, 16
    # B/param, Korthikanti's 34 B per hidden element): a rank holds 405e9/(8 x 16) parameters at
    # 2 + 2 B and 1/64 of their 12 B optimizer state = 13.25 GB; the first stage holds
    # 8 layers x 16 micro-batches x (1 + 15/128) (interleaving) = 143 layer passes of 8,192 x
    # 16,384/8 elements, 34 B kept or 2 B checkpointed; r is the least 5% step that fits 72 GB.
    from planner.demand import estimate_pretrain

    spec = _llama_405b_16m(layout=dict(tp=8, pp=16, dp=64, vp=8))
    est = estimate_pretrain(spec, CATALOG, "hgx-h100", units=1024)
    line = _line([x.strip() for x in est.derivation], "memory per accelerator")
    p_acc = 405e9 / (8 * 16)
    state = p_acc * 4 + p_acc / 64 * 12
    held = 8 * 16 * (1 + 15 / (16 * 8))
    elements = 8192 * 16384 / 8
    usable = 80e9 * 0.9
    full, ckpt = held * elements * 34, held * elements * 2
    need = (full - (usable - state)) / (full - ckpt)
    r = math.ceil(need * 20) / 20
    memory = state + (1 - r) * full + r * ckpt
    assert r == pytest.approx(0.30)
    assert f"training state {state / 1e9:.4g} GB" in line
    assert f"{held:.4g} layer passes in flight x {elements:.4g} elements" in line
    assert "70% x 34 B kept + 30% x 2 B recomputed" in line
    assert f"= {(memory - state) / 1e9:.4g} GB; {memory / 1e9:.4g} of 72 GB usable" in line


def test_pretrain_gradient_steps_say_the_batch_the_layout_runs() -> None:
    # qa28: "810.0 GB per step x 975,000 steps" is D / the asked 16M tokens, but the printed
    # layout rounds the batch up 1.6% to 31 micro-batches x DP64 x 8,192 = 16,252,928 tokens a
    # step: it runs 15.6e12 / 16,252,928 = 959,827 steps. Both counts are said, and which the
    # plan's gradient traffic takes.
    from planner.demand import estimate_pretrain

    spec = _llama_405b_16m(layout=dict(tp=8, pp=16, dp=64, vp=8))
    est = estimate_pretrain(spec, CATALOG, "hgx-h100", units=1024)
    line = _line([x.strip() for x in est.derivation], "gradient sync")
    batch = 31 * 64 * 8192
    assert est.syncs == pytest.approx(15.6e12 / 16e6)
    assert "x 975,000 steps (D / global batch 16,000,000" in line
    assert line.endswith(
        f"batch of {batch:,} tokens (rounded up to whole micro-batches) runs {15.6e12 / batch:,.0f}"
    )


def test_pretrain_default_units_hold_the_layout_the_rate_is_for() -> None:
    # qa28: Llama 3.1 405B on H100, 15.6T tokens in 90 days: the bisection rates a job of 1,553
    # units (12,424 accelerators; layout TP8 x PP8 x DP97 x CP2 on 12,416 of them), and the
    # estimate printed units 1,542 = ceil(FLOPs / (deadline x that job's rate per unit)):
    # 12,336 accelerators, fewer than the layout it printed beside them.
    from planner.demand import estimate_pretrain

    spec = _llama_405b_16m()
    est = estimate_pretrain(spec, CATALOG, "hgx-h100")
    assert est.layout is not None and est.job_accelerators is not None
    tp, pp, dp, cp = (int(x) for x in re.findall(r"(?:TP|PP|DP|CP)(\d+)", est.layout)[:4])
    assert est.units * 8 >= tp * pp * dp * cp
    assert est.units * 8 >= est.job_accelerators
    assert est.units_for_deadline is not None and est.units_for_deadline < est.units
    # the time at those units recomputes, and still meets the deadline
    assert est.days == pytest.approx(
        est.flops / (est.units * est.rate_flops_per_s_per_unit) / 86400
    )
    assert est.meets_deadline


def test_pretrain_pinned_job_is_the_units_and_a_resized_dp_is_noted() -> None:
    # qa28: --layout tp=8,pp=16,dp=64,vp=8 (8,192 H100 = 1,024 units) without --units printed
    # "units 1683, days 89.96" at the 1,024-unit layout's rate per unit, a layout that cannot
    # use the other 659 units; with --units 2048 the DP became 128 without a word.
    from planner.demand import estimate_pretrain

    spec = _llama_405b_16m(layout=dict(tp=8, pp=16, dp=64, vp=8))
    est = estimate_pretrain(spec, CATALOG, "hgx-h100")
    assert est.units == 1024 and est.units_for_deadline == 1683
    assert not est.meets_deadline
    by_hand = est.flops / (1024 * est.rate_flops_per_s_per_unit) / 86400
    # 147.86 days until session 33; pergemm rates each linear at its own GEMM shape: at TP8 and
    # M = 8,192 tokens (W = 140, M_half = 256) QKV (N 2,304, K 16,384), attention out (K 2,048),
    # FFN up (N 13,312, K 16,384) and down (K 6,656), harmonically FLOP-weighted, give shape
    # 0.954 (one K = 16,384/8 gave 0.908); with the BF16 fraction 0.61 -> 0.58 the GEMMs run
    # at 0.58 x 0.954 = 0.5534 of peak (0.61 x 0.908 = 0.5537): 165.62 -> 165.57 tokens/s an
    # accelerator, 147.86 -> 147.91 days, still 1,683 units for the deadline
    shape = _by_hand_405b_tp8_shape()
    assert shape == pytest.approx(0.9542, abs=1e-4)
    step = _line([x.strip() for x in est.derivation], "step:")
    assert f"(shape x{shape:.3g})" in step
    assert est.days == pytest.approx(by_hand) and est.days == pytest.approx(147.91, abs=0.01)
    assert not any("re-sized" in n for n in est.notes)
    wider = estimate_pretrain(spec, CATALOG, "hgx-h100", units=2048)
    assert wider.layout is not None and "DP128" in wider.layout
    assert any("dp 64 is re-sized to DP128" in n for n in wider.notes)


def _by_hand_405b_tp8_shape() -> float:
    """Llama 3.1 405B's dense GEMM shape at TP8, M = 8,192 tokens, H100 BF16 (W = 140, M_half =
    256), by hand from docs/models.md's per-linear formula: each linear's forward, data- and
    weight-gradient GEMMs contract K, N and M in turn, `(X + W)/X` each, weighted by in x out."""
    w, m, m_half, tp = 140.0, 8192.0, 256.0, 8
    # (in, out, split): QKV 16,384 -> (128 + 2 x 8) x 128, attention out, FFN up (gated 2 x
    # 53,248), FFN down
    linears = [(16384, 18432, "column"), (16384, 16384, "row")]
    linears += [(16384, 2 * 53248, "column"), (53248, 16384, "row")]
    flops = time = 0.0
    for i, o, split in linears:
        n, k = (o / tp, i) if split == "column" else (o, i / tp)
        flops += 3.0 * i * o
        time += i * o * ((k + w) / k + (n + w) / n + (m + w) / m)
    return m / (m + m_half) * flops / time


def test_pretrain_time_counts_only_the_jobs_accelerators() -> None:
    # qa28: DeepSeek-V3 pinned TP1 x PP1 x DP2048 x EP64 on GB200 NVL72 holds 29 racks (2,088
    # GPUs) and the time was FLOPs / (29 x rate per unit): 2,088 GPUs at the 2,048's tokens/s
    # each, 20.64 days. By hand: D x FLOP/token / (2,048 x tokens/s each x goodput) = 21.04 days.
    from planner.demand import estimate_pretrain

    spec = PretrainSpec.model_validate(
        dict(
            kind="pretrain",
            model="deepseek-v3",
            precision="fp8",
            tokens="14.8T",
            deadline="90 days",
            goodput=0.9,
            sequence_length=4096,
            global_batch_tokens=62914560,
            layout=dict(tp=1, pp=1, dp=2048, ep=64),
        )
    )
    est = estimate_pretrain(spec, CATALOG, "gb200-nvl72")
    assert est.units == 29 and est.tokens_per_s_per_accelerator is not None
    per_token = est.flops / est.tokens
    by_hand = est.tokens / (2048 * est.tokens_per_s_per_accelerator * 0.9) / 86400
    assert est.flops / per_token == pytest.approx(est.tokens)
    assert est.days == pytest.approx(by_hand, rel=1e-9)
    assert est.days > est.flops / (29 * est.rate_flops_per_s_per_unit) / 86400 * 1.015
    line = _line([x.strip() for x in est.derivation], "time =")
    assert "28.44 units the job's 2,048 accelerators fill" in line


def test_pretrain_no_job_meets_the_deadline_units_are_the_job_not_the_deadlines() -> None:
    # review28: 1e16 tokens of 405B at a 4M-token batch on H100 in 90 days: no job meets it, and
    # the estimate printed "units 3941500 (deadline needs 3941500)" = ceil(FLOPs / (deadline x
    # the job's rate per unit)) beside a time of 36,323 days on the job's 9,766 units, charging
    # energy and cost for 3.9M units over those days ($1.9e14). More units than the job the
    # rate is for run no faster: the units are that job's and a note says the deadline is missed.
    from planner.demand import estimate_pretrain

    spec = PretrainSpec.model_validate(
        dict(
            kind="pretrain",
            model="llama-3.1-405b",
            tokens=1e16,
            deadline="90 days",
            global_batch_tokens="4M",
        )
    )
    est = estimate_pretrain(spec, CATALOG, "hgx-h100")
    assert est.job_accelerators is not None and not est.meets_deadline
    job_units = math.ceil(est.job_accelerators / 8)
    assert est.units == job_units, (est.units, job_units)
    assert est.days == pytest.approx(
        est.flops / (job_units * est.rate_flops_per_s_per_unit) / 86400, rel=1e-3
    )
    assert any("no job meets the 90-day deadline" in n for n in est.notes), est.notes
    # no count of units meets it, so none is printed as the deadline's (it printed "deadline
    # needs 3941500" beside the job's units)
    assert est.units_for_deadline is None


def test_estimate_pretrain_says_no_job_meets_the_deadline_in_its_units_row(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cli import main

    args = ["estimate", "pretrain", "--model", "llama-3.1-405b", "--system", "hgx-h100"]
    args += ["--tokens", "1e16", "--deadline", "90 days", "--global-batch-tokens", "4M"]
    main(args)
    out = capsys.readouterr().out
    row = next(x for x in out.splitlines() if x.strip().startswith("units"))
    assert "no job of any size meets the deadline: the fastest job's" in row, row
    assert "deadline needs" not in out


def test_estimate_pretrain_feasible_row_says_a_missed_deadline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`feasible` means the run can be laid out and run; beside a missed deadline it read
    "True: ok", as if the deadline were met (qa28). The row now says the deadline is missed,
    with the run's days against it (recomputed from the JSON's time); a met one stays "ok"."""
    import json

    from cli import main

    args = ["estimate", "pretrain", "--model", "llama-3.1-405b", "--system", "hgx-h100"]
    args += ["--tokens", "1e16", "--deadline", "90 days", "--global-batch-tokens", "4M"]
    main(args)
    out = capsys.readouterr().out
    row = next(x for x in out.splitlines() if x.strip().startswith("feasible"))
    main([*args, "--json"])
    est = json.loads(capsys.readouterr().out)
    assert est["meets_deadline"] is False
    assert f"deadline is missed: {est['time_s'] / 86400:,.2f} days against 90" in row, row
    main([*args[:-6], "--tokens", "1e12", "--deadline", "90 days", "--global-batch-tokens", "4M"])
    met = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("feasible"))
    assert met.split(None, 1)[1].strip() == "True: ok", met
