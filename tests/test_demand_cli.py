"""`planner estimate ...` through cli.main: exit codes and documented JSON keys."""

from __future__ import annotations

import json

import pytest

from cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_kv_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "estimate",
        "kv",
        "--model",
        "llama-3.1-405b",
        "--tokens",
        "39K",
        "--batch",
        "32",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["kv_bytes_per_token"] == 516_096
    assert data["kv_cache_bytes"] == 32 * 39_000 * 516_096


def test_inference_json_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "estimate",
        "inference",
        "--model",
        "llama-3.1-405b",
        "--system",
        "hgx-h100",
        "--precision",
        "fp8",
        "--output-tokens",
        "7661",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    for key in (
        "max_batch",
        "tokens_per_s_per_system",
        "usd_per_million_tokens",
        "ttft_s",
        "feasible",
        "instance_accelerators",
        "step_time_s",
    ):
        assert key in data
    code, out, _ = run(
        capsys,
        "estimate",
        "inference",
        "--model",
        "llama-3.1-405b",
        "--system",
        "hgx-h100",
        "--max-units-per-instance",
        "1",
    )
    assert code == 2  # infeasible, as a plan's exit code says
    assert "fp8" in out and "2 units" in out


def test_inference_engine_cap_flags(capsys: pytest.CaptureFixture[str]) -> None:
    """--max-sequences-per-accelerator 16 on Llama 3.1 8B FP8, offline, one 8xH100: the cap is
    16 x the chosen instance's accelerators, and the batch is at most it (HBM holds far more)."""
    args = ["estimate", "inference", "--model", "llama-3.1-8b", "--system", "hgx-h100"]
    args += ["--precision", "fp8", "--mode", "offline", "--max-units-per-instance", "1"]
    code, out, _ = run(capsys, *args, "--max-sequences-per-accelerator", "16", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["max_batch_engine"] == 16 * data["instance_accelerators"]
    assert data["max_batch"] == data["max_batch_engine"] < data["max_batch_hbm"]
    code, out, _ = run(capsys, *args, "--max-sequences", "40")
    assert code == 0 and "engine cap 40" in out


def test_pretrain_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "estimate",
        "pretrain",
        "--model",
        "gpt-3-175b",
        "--system",
        "hgx-h100",
        "--tokens",
        "300B",
        "--goodput",
        "0.9",
        "--deadline",
        "30 days",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    for key in ("flops", "days", "accelerator_hours", "cost_usd"):
        assert key in data
    assert data["days"] <= 30


def test_rl_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "estimate",
        "rl",
        "--policy",
        "llama-3.1-8b",
        "--problems",
        "10K",
        "--samples-per-problem",
        "4",
        "--reward-model",
        "orm=llama-3.1-8b",
        "--reward-model",
        "prm=llama-3.1-8b:process:5",
        "--reference",
        "llama-3.1-8b",
        "--verifier",
        "code=2@0.5",
        "--system",
        "hgx-h100",
        "--json",
    )
    assert code == 0, out
    data = json.loads(out)
    assert {
        "roles",
        "verifier_core_seconds",
        "forward_backward_flop_ratio",
        "role_flop_shares",
    } <= set(data)
    names = [r["name"] for r in data["roles"]]
    assert names == [
        "generate",
        "generate_prefill",
        "reward:orm",
        "reward:prm",
        "reference",
        "policy_logprobs",
        "train",
    ]
    assert {"name", "work_unit", "per_sample", "amount"} <= set(data["roles"][0])
    assert data["verifier_core_seconds"] == pytest.approx(40_000 * 1.0)


@pytest.mark.parametrize(
    "args",
    [
        ["estimate", "kv", "--model", "nope", "--tokens", "1", "--batch", "1"],
        ["estimate", "inference", "--model", "nope", "--system", "hgx-h100"],
        ["estimate", "inference", "--model", "llama-3.1-8b", "--system", "nope"],
        [
            "estimate",
            "pretrain",
            "--model",
            "nope",
            "--system",
            "hgx-h100",
            "--tokens",
            "1T",
            "--goodput",
            "0.9",
        ],
        [
            "estimate",
            "pretrain",
            "--model",
            "llama-3.1-8b",
            "--system",
            "hgx-h100",
            "--tokens",
            "1T",
            "--goodput",
            "0.9",
            "--deadline",
            "90",
        ],
        ["estimate", "rl", "--policy", "nope", "--problems", "1K", "--samples-per-problem", "4"],
        ["estimate", "inference", "--model", "llama-3.1-8b", "--system", "hgx-h100"]
        + ["--max-sequences-per-accelerator", "0"],
        ["estimate", "inference", "--model", "llama-3.1-8b", "--system", "hgx-h100"]
        + ["--max-sequences", "-3"],
    ],
)
def test_bad_input_exits_1_without_traceback(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, _, err = run(capsys, *args)
    assert code == 1
    assert "Traceback" not in err
    assert "<command line>" in err


def test_every_subcommand_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    for sub in ("kv", "inference", "pretrain", "rl"):
        code, out, _ = run(capsys, "estimate", sub, "--help")
        assert code == 0 and "Examples:" in out and "planner estimate " + sub in out


@pytest.mark.parametrize("prefill", ["disaggregated", "aggregated"])
def test_inference_table_states_the_plans_own_prefill_rate(
    capsys: pytest.CaptureFixture[str], prefill: str
) -> None:
    """Disaggregated, a plan rates prefill on its own smallest instance (inference_rates), not
    on the decode layout the table's prefill figure uses: the table says so with the plan's
    figure; aggregated, the two are one figure and no such line is printed."""
    from hardware.catalog import load_catalog
    from planner.demand.inference import inference_rates
    from planner.kinds.inference import InferenceSpec

    args = ["--model", "llama-3.1-70b", "--system", "hgx-h100", "--precision", "fp8"]
    code, out, _ = run(capsys, "estimate", "inference", *args, "--prefill", prefill)
    assert code == 0
    spec = InferenceSpec.model_validate(
        {"kind": "inference", "model": "llama-3.1-70b", "precision": "fp8", "prefill": prefill}
        | {"requests_per_day": "1M", "prompt_tokens": 1000, "output_tokens": 1000}
        | {"tokens_per_s_per_user": 30}
    )
    plan_rate = inference_rates(spec, load_catalog(), "hgx-h100")[1].per_unit_s
    lines = [line for line in out.splitlines() if line.startswith("  in a plan (own instances)")]
    if prefill == "aggregated":
        assert lines == []
    else:
        (line,) = lines
        assert line.split()[5] == f"{plan_rate:.4g}"


def test_estimates_print_their_inputs_and_no_placeholder_junk(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`estimate kv --tokens 5.5` printed "batch 3 x 6 tokens" beside the 5.5-token cache; an
    infeasible `estimate pretrain` printed "deadline needs None", "- MWh" and "$-"."""
    code, out, _ = run(
        capsys, "estimate", "kv", "--model", "llama-3.1-405b", "--tokens", "5.5", "--batch", "3"
    )
    assert code == 0
    assert "(batch 3 x 5.5 tokens)" in out
    assert f"{3 * 5.5 * 516_096 / 1e6:.3f} MB" in out
    code, out, _ = run(
        capsys,
        "estimate",
        "pretrain",
        "--model",
        "llama-3.1-405b",
        "--system",
        "cpu-server",
        "--tokens",
        "15T",
    )
    assert code == 2 and "feasible            False: CPU-only system" in out
    pairs = [line.split(None, 1) for line in out.splitlines() if line[:1].isalpha()]
    rows = {p[0]: p[1] for p in pairs if len(p) == 2}
    for junk in ("None", "- MWh", "$-"):
        assert junk not in out
    assert rows["units"].strip() == "-" and rows["energy"].strip() == "-"
    code, out, _ = run(
        capsys,
        "estimate",
        "pretrain",
        "--model",
        "llama-3.1-405b",
        "--system",
        "gb200-nvl72",
        "--tokens",
        "15T",
    )
    cost = next(line for line in out.splitlines() if line.startswith("cost (rental)"))
    assert code == 0 and cost.split()[-1].endswith("M") and "e+" not in cost  # $89.96M


def test_kv_with_a_system_names_the_serving_models_hbm_sums(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`estimate kv` frees params x bytes out of HBM x hbm_usable_fraction: 405B in FP8 on
    hgx-h100 leaves 171 GB; `estimate inference` and plans store Meta's 496 GB FP8 checkpoint in
    8 x (80 - 8 GB reserve), 80 GB free. The note gives the serving figures, recomputed here."""
    code, out, _ = run(
        capsys,
        "estimate",
        "kv",
        "--model",
        "llama-3.1-405b",
        "--tokens",
        "2000",
        "--batch",
        "32",
        "--precision",
        "fp8",
        "--kv-precision",
        "fp8",
        "--system",
        "hgx-h100",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["free_bytes"] == pytest.approx(8 * 80e9 * 0.9 - 405e9)
    free_serving = 8 * (80e9 - 8e9) - 496e9
    (note,) = data["notes"]
    assert f"{free_serving / 1e9:,.1f} GB free" in note
    assert f"{free_serving / 32 / 258_048:,.0f} tokens/sequence at batch 32" in note
    assert "checkpoint, 496.0 GB" in note


def test_scaling_states_the_prompt_tokens_its_serve_flops_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """ "served: 1e+15 output tokens" beside a serve FLOP of 4·N·1e15: the prompts (1,000 per
    1,000 output by default) were counted but not said; the line now gives the tokens the 2·N
    multiplies, and each row's serve FLOP recomputes from it."""
    code, out, _ = run(
        capsys,
        "estimate",
        "scaling",
        "--like",
        "llama-3.1-70b",
        "--tokens",
        "15T",
        "--served-tokens",
        "1e15",
        "--prompt-tokens",
        "3000",
    )
    assert code == 0
    assert "3,000 prompt tokens per 1,000 output" in out
    assert "(serve FLOP = 2 x N x 4e+15 tokens)" in out
    header = next(i for i, line in enumerate(out.splitlines()) if line.split()[:1] == ["tok/param"])
    first = out.splitlines()[header + 1].split()
    params, serve = float(first[1]), float(first[4])
    assert serve == pytest.approx(2 * params * 4e15, rel=1e-3)


def test_an_infeasible_estimate_exits_2_as_an_infeasible_plan_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`estimate inference|pretrain` printed "feasible False" and exited 0 while `planner plan`
    exits 2 on an infeasible scenario: now the estimate is printed (table or JSON) and the exit
    code is 2 with its reason on stderr; a feasible one still exits 0."""
    bf16_405b = ["--model", "llama-3.1-405b", "--system", "hgx-h100"]
    code, out, err = run(
        capsys, "estimate", "inference", *bf16_405b, "--max-units-per-instance", "1"
    )
    assert code == 2 and "feasible" in out and "False: bf16 weights 810.0 GB" in out
    assert err.startswith("error: infeasible: bf16 weights 810.0 GB")
    code, out, err = run(
        capsys, "estimate", "inference", *bf16_405b, "--max-units-per-instance", "1", "--json"
    )
    assert code == 2 and json.loads(out)["feasible"] is False
    code, out, err = run(
        capsys, "estimate", "pretrain", *bf16_405b, "--tokens", "1T", "--units", "1", "--json"
    )
    data = json.loads(out)
    assert code == 2 and data["feasible"] is False
    assert err == f"error: infeasible: {data['reason']}\n"
    code, out, err = run(capsys, "estimate", "pretrain", *bf16_405b, "--tokens", "1T")
    assert code == 0 and err == "" and "True: ok" in out


def test_rl_max_completion_tokens_reproduces_the_scenarios_generation_rate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """qa28: rl-verifiers caps responses at 16,384 tokens, so each update waits for its longest
    (the drain); `estimate rl` had no option for the cap and printed generate at 1.515e4
    tokens/s a trn2-server where the plan rates it 1.133e4. With --max-completion-tokens the
    estimate is the scenario's rate; a cap below the mean is refused on the command line."""
    import planner

    sc = planner.load_scenario("rl-verifiers")
    (work,) = [d for d in planner.demands(sc) if d.name == "rl-code"]
    (gen,) = [r for r in work.roles if r.name == "generate"]
    args = [
        "estimate",
        "rl",
        "--policy",
        "llama-3.1-70b",
        "--problems",
        "100M",
        "--samples-per-problem",
        "16",
        "--prompt-tokens",
        "1000",
        "--completion-tokens",
        "4000",
        "--kept-fraction",
        "0.1",
        "--samples-per-update",
        "256K",
        "--deadline",
        "90 days",
        "--goodput",
        "0.9",
        "--reward-model",
        "orm=llama-3.1-8b",
        "--verifier",
        "code-sandbox=120@0.6",
        "--verifier",
        "math-checker=0.5@0.4",
        "--system",
        "trn2-server",
        "--json",
    ]
    code, out, _ = run(capsys, *args, "--max-completion-tokens", "16384")
    assert code == 0, out
    rate = next(r for r in json.loads(out)["roles"] if r["name"] == "generate")
    assert rate["rate_per_unit_s"] == pytest.approx(gen.rates["trn2-server"].per_unit_s)
    assert "drain to the longest response (16,383 tokens)" in rate["rate_reason"]
    code, out, _ = run(capsys, *args)
    uncapped = next(r for r in json.loads(out)["roles"] if r["name"] == "generate")
    assert uncapped["rate_per_unit_s"] > 1.3 * rate["rate_per_unit_s"]
    code, _, err = run(capsys, *args, "--max-completion-tokens", "1000")
    assert code == 1 and "max_completion_tokens (1000) is below" in err
