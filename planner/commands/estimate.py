"""`planner estimate`: the analytic models alone (KV cache, serving, pretraining, RL work).

JSON output (--json) uses SI units and these stable keys (plus the rest of each result):
  kv:        kv_bytes_per_token, kv_cache_bytes, weight_bytes [, hbm_usable_bytes, free_bytes,
             fits, max_tokens_per_sequence with --system]
  inference: feasible, reason, max_batch, max_batch_hbm, max_batch_latency, step_time_s,
             tpot_s, step_terms_s, tokens_per_s_per_system, prefill_tokens_per_s_per_system,
             ttft_s, server_utilisation, output_tokens_per_s_per_accelerator,
             unit_usd_per_hour, usd_per_million_tokens, usd_per_million_decode_tokens,
             instance_accelerators,
             tensor_parallel, pipeline_parallel, expert_parallel, instances_per_unit,
             fits_one_unit, notes
  curve:     [{system, tokens_per_s_per_user, feasible, output_tokens_per_s_per_accelerator,
             usd_per_million_tokens, layout}]
  pretrain:  flops, days, time_s, accelerator_hours, energy_j, unit_usd_per_hour, cost_usd,
             units, feasible
  rl:        roles [{name, work_unit, per_sample, amount, ...}], verifier_core_seconds,
             forward_backward_flop_ratio, role_flop_shares, samples, updates
Non-finite numbers (an infeasible run's time) are written as null. An infeasible inference or
pretrain estimate is printed and then exits 2, as `planner plan` on an infeasible scenario.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

import click
from pydantic import BaseModel, ValidationError

from fleetcore.errors import ConfigError, InfeasibleError, Problem
from fleetcore.tables import usd
from fleetcore.units import format_si, parse_count
from hardware.catalog import Catalog, load_catalog
from planner.commands.options import catalog_option, json_option, png_path
from planner.demand import estimate_inference, estimate_kv, estimate_pretrain, estimate_rl, scaling
from planner.demand.common import (
    DEFAULT_COST_OF_CAPITAL,
    DEFAULT_ELECTRICITY_USD_PER_KWH,
    DEFAULT_FACILITY_USD_PER_KW_MONTH,
    DEFAULT_PUE,
    SECONDS_PER_DAY,
    pue_text,
)
from planner.demand.inference import MAX_UNITS_PER_INSTANCE, InferenceEstimate, inference_rates
from planner.kinds.inference import InferenceSpec
from planner.kinds.pretrain import PretrainSpec
from planner.kinds.rl import RLSpec

CMDLINE = "<command line>"
PRECISIONS = click.Choice(["fp4", "fp8", "bf16", "fp16", "fp32"])

# --pricing of the commands without the pricing options: amortised at their defaults.
AMORTISED_AT_DEFAULTS = (
    "rental_usd_per_hour, or a bought unit as a plan charges it at the defaults of `estimate "
    "inference --pricing amortised` (no cost of capital or facility charge, "
    f"${DEFAULT_ELECTRICITY_USD_PER_KWH:g}/kWh, PUE {DEFAULT_PUE:g}: IT power only, not a site's)."
)

pricing_options = [
    click.option(
        "--pricing",
        type=click.Choice(["rental", "amortised"]),
        default="rental",
        show_default=True,
        help="rental_usd_per_hour, or what a plan charges a bought unit: capital recovery, "
        "network/storage share, maintenance, facility and energy at PUE.",
    ),
    click.option(
        "--electricity-usd-per-kwh",
        type=float,
        default=DEFAULT_ELECTRICITY_USD_PER_KWH,
        show_default=True,
        help="For --pricing amortised (default: EIA 2023 US industrial average).",
    ),
    click.option(
        "--pue",
        type=float,
        default=DEFAULT_PUE,
        show_default=True,
        help="For --pricing amortised: power usage effectiveness, as a topology site's pue "
        "(default: IT power only, not a site's; the shipped topologies take 1.15-1.3).",
    ),
    click.option(
        "--cost-of-capital",
        type=float,
        default=DEFAULT_COST_OF_CAPITAL,
        show_default=True,
        help="For --pricing amortised: yearly rate capex is recovered at, as a scenario's "
        "economics.cost_of_capital (default: a scenario's, straight-line capex / lifetime).",
    ),
    click.option(
        "--facility-usd-per-kw-month",
        type=float,
        default=DEFAULT_FACILITY_USD_PER_KW_MONTH,
        show_default=True,
        help="For --pricing amortised: a site's facility cost per kW of unit power, as a "
        "topology's facility_usd_per_kw_month (default: not charged, as a site without it).",
    ),
]


def _apply(options: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    def wrap(f: Any) -> Any:
        for opt in reversed(options):
            f = opt(f)
        return f

    return wrap


def _problem(option: str, message: str) -> ConfigError:
    return ConfigError([Problem(file=CMDLINE, line=None, path=option, message=message)])


def _model(catalog: Catalog, name: str, option: str = "--model") -> str:
    if name not in catalog.models:
        raise _problem(
            option, f"unknown model {name!r}; known: {', '.join(sorted(catalog.models))}"
        )
    return name


def _system(catalog: Catalog, name: str) -> str:
    if name not in catalog.systems:
        raise _problem(
            "--system", f"unknown system {name!r}; known: {', '.join(sorted(catalog.systems))}"
        )
    return name


def _count(value: str, option: str) -> float:
    try:
        return parse_count(value)
    except ValueError as exc:
        raise _problem(option, str(exc)) from None


# Numbers given on the command line are checked before any model runs: finite, within their
# range, and at most MAX_INPUT, far beyond any real fleet (15T tokens is 1.5e13) but small
# enough that the products of several inputs stay finite (1e308 tokens used to overflow).
MAX_INPUT = 1e18
# Bounds of the pricing options, as for a topology's datacenters.
PUE_RANGE = (1.0, 3.0)
# Instance sizes up to this many units are each tried (work grows with the square of it).
MAX_UNITS_PER_INSTANCE_LIMIT = 256

Check = tuple[str, float | int | None, float | None, bool]  # option, value, low, low open


def _check_numbers(*checks: Check, high: dict[str, float] | None = None) -> None:
    """ConfigError naming every option whose value is not finite, below its low bound (or at
    it, when open) or above MAX_INPUT (or its bound in `high`)."""
    problems = []
    for option, value, low, low_open in checks:
        if value is None:
            continue
        top = (high or {}).get(option, MAX_INPUT)
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        if isinstance(value, float) and not math.isfinite(value):
            message = f"must be a finite number, got {shown}"
        elif low is not None and (value <= low if low_open else value < low):
            message = f"must be {'greater than' if low_open else 'at least'} {low:g}, got {shown}"
        elif value > top:
            message = f"must be at most {top:g}, got {shown if len(shown) < 40 else 'more'}"
        else:
            continue
        problems.append(Problem(CMDLINE, None, option, message))
    if problems:
        raise ConfigError(problems)


def _number(text: str) -> float | None:
    """A number inside a compound option (--verifier NAME=CORE_S) for _check_numbers; None
    when it is not one (the spec then says what is wrong)."""
    try:
        return float(text)
    except ValueError:
        return None


def _check_pricing(
    pue: float,
    electricity_usd_per_kwh: float,
    cost_of_capital: float,
    facility_usd_per_kw_month: float,
) -> list[Check]:
    return [
        ("--pue", pue, PUE_RANGE[0], False),
        ("--electricity-usd-per-kwh", electricity_usd_per_kwh, 0.0, False),
        ("--cost-of-capital", cost_of_capital, 0.0, False),
        ("--facility-usd-per-kw-month", facility_usd_per_kw_month, 0.0, False),
    ]


def _checked_count(value: str | None, option: str, low_open: bool = True) -> Check:
    """A count option (e.g. '15T') as a Check: parsed now so that its size is checked."""
    return (option, None if value is None else _count(value, option), 0.0, low_open)


def _spec(model: type[BaseModel], data: dict[str, Any], options: dict[str, str]) -> Any:
    """Validate a spec built from options; errors name the option, not the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            field = str(err["loc"][0]) if err["loc"] else ""
            option = options.get(field, "--" + field.replace("_", "-")) if field else ""
            if field == "layout" and len(err["loc"]) > 1:
                # name the --layout key the user wrote (etp=, ecf=, ...), not just the option
                sub = str(err["loc"][1])
                option += " " + next((k for k, v in _LAYOUT_KEYS.items() if v == sub), sub)
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(Problem(CMDLINE, None, option, msg))
        raise ConfigError(problems) from None


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _emit(result: Any, as_json: bool, rows: list[tuple[str, str]]) -> None:
    if as_json:
        click.echo(json.dumps(_jsonable(result), indent=2))
        return
    width = max(len(k) for k, _ in rows)
    for key, val in rows:
        click.echo(f"{key:<{width}}  {val}")
    notes = getattr(result, "notes", [])
    for note in notes:
        click.echo(f"note: {note}")
    click.echo("\nderivation:")
    for line in result.derivation:
        click.echo(f"  {line}")


def _pretrain_feasible(est: Any, deadline_s: float) -> str:
    """The pretrain estimate's feasible row: "feasible" means the run can be laid out and run
    at all (the model state fits the units); a run that misses its deadline says so here too,
    or "True: ok" read as the deadline met (qa28)."""
    text = f"{est.feasible}: {est.reason}"
    if est.feasible and not est.meets_deadline and math.isfinite(est.time_s):
        text += (
            f" (it can be laid out and run), but the deadline is missed: "
            f"{est.time_s / SECONDS_PER_DAY:,.2f} days against {deadline_s / SECONDS_PER_DAY:g}"
        )
    return text


def _exit_if_infeasible(feasible: bool, reason: str) -> None:
    """Exit code 2 (InfeasibleError) after printing an infeasible estimate, as `planner plan`
    exits on an infeasible scenario (README, Exit codes): a script need not parse "feasible
    False"."""
    if not feasible:
        raise InfeasibleError(f"infeasible: {reason}")


def _usd_per_h(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"${value:,.2f}/h"


def _with_unit(value: float, unit: str) -> str:
    """`value unit`, or "-" where there is no figure (an infeasible estimate's inf)."""
    return f"{_fmt(value)} {unit}" if math.isfinite(value) else "-"


def _usd(value: float) -> str:
    """$92.81M, not $9.281e+07; "-" where there is no figure."""
    return usd(value) if math.isfinite(value) else "-"


def _fmt(value: float | None, unit: str = "", digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format_si(value, unit, digits) if unit else f"{value:,.{digits}g}"


@click.group("estimate")
def command() -> None:
    """The analytic models alone: KV cache, serving batch and $/M tokens, training days, RL work.

    \b
    Examples:
      planner estimate kv --model llama-3.1-405b --tokens 39000 --batch 32
      planner estimate inference --model llama-3.1-405b --system hgx-h100 --precision fp8
      planner estimate pretrain --model llama-3.1-405b --system hgx-h100 --tokens 15T
      planner estimate rl --policy llama-3.1-70b --problems 1M --samples-per-problem 16
    """


@command.command("kv")
@click.option("--model", required=True, help="Catalog model name.")
@click.option("--tokens", required=True, help="Tokens per sequence (e.g. 39000 or 39K).")
@click.option("--batch", type=click.IntRange(min=1), required=True, help="Sequences.")
@click.option("--kv-precision", type=PRECISIONS, default="bf16", show_default=True)
@click.option("--precision", type=PRECISIONS, default="bf16", show_default=True, help="Weights.")
@click.option("--system", default=None, help="Compare with one unit's HBM (catalog system name).")
@click.option(
    "--hbm-usable-fraction",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Override the system's hbm_usable_fraction.",
)
@catalog_option
@json_option
def kv(
    model: str,
    tokens: str,
    batch: int,
    kv_precision: str,
    precision: str,
    system: str | None,
    hbm_usable_fraction: float | None,
    catalog_files: tuple[str, ...],
    as_json: bool,
) -> None:
    """KV-cache bytes of a batch: batch x tokens x kv_bytes_per_token.

    With --system: the HBM left after the weights and the tokens per sequence that fit.

    \b
    Examples:
      planner estimate kv --model llama-3.1-405b --tokens 39000 --batch 32
      planner estimate kv --model llama-3.1-405b --tokens 16K --batch 32 \\
          --precision fp8 --system hgx-h100 --hbm-usable-fraction 1.0
      planner estimate kv --model deepseek-v3 --tokens 128K --batch 8 --json
    """
    _check_numbers(
        _checked_count(tokens, "--tokens"),
        ("--batch", batch, 1, False),
        ("--hbm-usable-fraction", hbm_usable_fraction, 0.0, True),
    )
    catalog = load_catalog(catalog_files)
    _model(catalog, model)
    if system is not None:
        _system(catalog, system)
    est = estimate_kv(
        catalog,
        model,
        batch,
        _count(tokens, "--tokens"),
        kv_precision,
        precision,
        system,
        hbm_usable_fraction,
    )
    rows = [
        ("model", f"{model} (kv {kv_precision}, weights {precision})"),
        ("kv bytes/token", f"{est.kv_bytes_per_token:,.0f} B"),
        (
            "kv cache",
            f"{_fmt(est.kv_cache_bytes, 'B')} (batch {batch} x {est.tokens:,.10g} tokens)",
        ),
        ("weights", _fmt(est.weight_bytes, "B")),
    ]
    if system is not None:
        rows += [
            ("usable HBM", _fmt(est.hbm_usable_bytes, "B")),
            ("fits", str(est.fits)),
            ("max tokens/sequence", _fmt(est.max_tokens_per_sequence)),
        ]
    _emit(est, as_json, rows)


@command.command("inference")
@click.option("--model", required=True, help="Catalog model name.")
@click.option("--system", required=True, help="Catalog system name.")
@click.option("--precision", type=PRECISIONS, default="bf16", show_default=True, help="Weights.")
@click.option(
    "--kv-precision", type=PRECISIONS, default=None, help="KV cache [default: --precision]."
)
@click.option("--prompt-tokens", type=int, default=1000, show_default=True)
@click.option("--output-tokens", type=int, default=1000, show_default=True)
@click.option(
    "--tokens-per-s-per-user",
    type=float,
    default=30.0,
    show_default=True,
    help="Interactivity target: decode tokens/s each user sees.",
)
@click.option(
    "--votes",
    type=int,
    default=1,
    show_default=True,
    help="Self-consistency: decode streams sharing one prompt.",
)
@click.option(
    "--requests-per-day",
    default="1M",
    show_default=True,
    help="For the units needed (units_for_demand).",
)
@click.option("--peak-to-average", type=float, default=1.0, show_default=True)
@click.option(
    "--mode",
    type=click.Choice(["interactive", "offline"]),
    default="interactive",
    show_default=True,
    help="offline: no latency target, batches limited by HBM only.",
)
@click.option(
    "--prefill",
    type=click.Choice(["disaggregated", "aggregated"]),
    default="disaggregated",
    show_default=True,
    help="Prompts on their own instances, or chunked into the decode steps (longer TPOT).",
)
@click.option(
    "--tpot-percentile",
    default="mean",
    show_default=True,
    help="What --tokens-per-s-per-user bounds: the mean TPOT, or a percentile over requests "
    "(p50 to p99.9; MLPerf Server: p99). With --prefill aggregated, prompt stalls make the tail.",
)
@click.option(
    "--ttft-p99",
    default=None,
    help="p99 time to first token with Poisson arrivals, e.g. '2 s' (server mode).",
)
@click.option(
    "--hbm-usable-fraction",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Use this share of HBM for weights + KV instead of hbm - runtime_reserve.",
)
@click.option(
    "--max-units-per-instance",
    type=click.IntRange(min=1),
    default=MAX_UNITS_PER_INSTANCE,
    show_default=True,
    help="Largest number of units one model replica may span.",
)
@click.option(
    "--max-sequences",
    type=int,
    default=None,
    help="The engine's cap on the sequences one instance decodes at once (vLLM max_num_seqs); "
    "default: no cap.",
)
@click.option(
    "--max-sequences-per-accelerator",
    type=int,
    default=None,
    help="The engine's cap per accelerator of an instance (MLPerf gpu_batch_size, TensorRT-LLM "
    "max_batch_size per attention-DP rank); default: no cap.",
)
@_apply(pricing_options)
@catalog_option
@json_option
def inference(
    model: str,
    system: str,
    precision: str,
    kv_precision: str | None,
    prompt_tokens: int,
    output_tokens: int,
    tokens_per_s_per_user: float,
    votes: int,
    requests_per_day: str,
    peak_to_average: float,
    mode: str,
    prefill: str,
    tpot_percentile: str,
    ttft_p99: str | None,
    hbm_usable_fraction: float | None,
    max_units_per_instance: int,
    max_sequences: int | None,
    max_sequences_per_accelerator: int | None,
    pricing: str,
    electricity_usd_per_kwh: float,
    pue: float,
    cost_of_capital: float,
    facility_usd_per_kw_month: float,
    catalog_files: tuple[str, ...],
    as_json: bool,
) -> None:
    """Serving on one system: instance, max batch, step time, tokens/s, TTFT, $/M tokens.

    \b
    Examples:
      planner estimate inference --model llama-3.1-405b --system hgx-h100 \\
          --precision fp8 --kv-precision bf16 --output-tokens 7661
      planner estimate inference --model llama-3.1-70b --system gb200-nvl72 --votes 5 --json
      planner estimate inference --model llama-3.1-405b --system hgx-h100 \\
          --max-units-per-instance 1     # BF16 does not fit one server: says what does
      planner estimate inference --model deepseek-r1 --system gb200-nvl72 --precision fp4 \\
          --kv-precision fp8 --mode offline --max-sequences-per-accelerator 512
    """
    _check_numbers(
        ("--prompt-tokens", prompt_tokens, 0, True),
        ("--output-tokens", output_tokens, 0, True),
        ("--tokens-per-s-per-user", tokens_per_s_per_user, 0.0, True),
        ("--votes", votes, 0, True),
        _checked_count(requests_per_day, "--requests-per-day"),
        ("--peak-to-average", peak_to_average, 1.0, False),
        ("--hbm-usable-fraction", hbm_usable_fraction, 0.0, True),
        ("--max-units-per-instance", max_units_per_instance, 1, False),
        ("--max-sequences", max_sequences, 0, True),
        ("--max-sequences-per-accelerator", max_sequences_per_accelerator, 0, True),
        *_check_pricing(pue, electricity_usd_per_kwh, cost_of_capital, facility_usd_per_kw_month),
        high={
            "--pue": PUE_RANGE[1],
            "--cost-of-capital": 1.0,
            "--max-units-per-instance": MAX_UNITS_PER_INSTANCE_LIMIT,
        },
    )
    catalog = load_catalog(catalog_files)
    _model(catalog, model)
    _system(catalog, system)
    spec = _spec(
        InferenceSpec,
        dict(
            model=model,
            precision=precision,
            kv_precision=kv_precision,
            requests_per_day=requests_per_day,
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            tokens_per_s_per_user=None if mode == "offline" else tokens_per_s_per_user,
            votes=votes,
            peak_to_average=peak_to_average,
            mode=mode,
            prefill=prefill,
            ttft_p99=ttft_p99,
            tpot_percentile=tpot_percentile,
            **(
                {}
                if max_sequences is None and max_sequences_per_accelerator is None
                else {
                    "engine": {
                        "max_sequences": max_sequences,
                        "max_sequences_per_accelerator": max_sequences_per_accelerator,
                    }
                }
            ),
        ),
        {"ttft_p99_s": "--ttft-p99", "tpot_percentile": "--tpot-percentile"},
    )
    est = estimate_inference(
        spec,
        catalog,
        system,
        hbm_usable_fraction=hbm_usable_fraction,
        max_units_per_instance=max_units_per_instance,
        pricing=pricing,  # type: ignore[arg-type]
        electricity_usd_per_kwh=electricity_usd_per_kwh,
        pue=pue,
        cost_of_capital=cost_of_capital,
        facility_usd_per_kw_month=facility_usd_per_kw_month,
    )
    rows = [
        ("model / system", f"{model} ({precision}, kv {est.kv_precision}) on {system}"),
        ("feasible", f"{est.feasible}: {est.reason}"),
        ("weights", _fmt(est.weight_bytes, "B")),
        ("kv bytes/token", f"{est.kv_bytes_per_token:,.0f} B"),
        (
            "instance",
            f"{est.instance_accelerators} accelerators (TP{est.tensor_parallel} x "
            f"PP{est.pipeline_parallel}, EP{est.expert_parallel}), {est.instances_per_unit:g} "
            "per unit"
            if est.instance_accelerators and est.tensor_parallel
            else "-",
        ),
        (
            "max batch (HBM, latency)",
            f"{est.max_batch or '-'} ({_fmt(est.max_batch_hbm)}, {_fmt(est.max_batch_latency)})"
            + (
                f"; engine cap {est.max_batch_engine:,.0f}"
                if est.max_batch_engine is not None
                else ""
            ),
        ),
        (
            "step time",
            f"{_fmt(est.step_time_s, 's')}"
            + (f" ({est.bound}-bound, budget {_fmt(est.step_budget_s, 's')})" if est.bound else ""),
        ),
        ("step terms", _step_terms_text(est.step_terms_s, est.step_time_s)),
        (
            "TPOT",
            _fmt(est.tpot_s, "s")
            + (
                f" (mean; {tpot_percentile} over requests "
                f"{_fmt(est.tpot_s + est.step_terms_s['tpot_tail'], 's')})"
                if est.tpot_s is not None and "tpot_tail" in est.step_terms_s
                else ""
            ),
        ),
        ("decode tokens/s per unit", _fmt(est.tokens_per_s_per_system)),
        ("output tok/s per accelerator", _fmt(est.output_tokens_per_s_per_accelerator)),
        ("prefill tokens/s per unit", _fmt(est.prefill_tokens_per_s_per_system)),
        *_plan_prefill_row(spec, catalog, system, est),
        # before session 24 the row said only "TTFT": the mean with a queue, the prompt's
        # prefill alone without one (neither the p99 the target bounds)
        (
            "TTFT (mean, with the queue)"
            if est.server_utilisation is not None
            else "TTFT (prefill alone, no queue)",
            _fmt(est.ttft_s, "s"),
        ),
        (
            "server utilisation",
            f"{est.server_utilisation:.3f}" if est.server_utilisation is not None else "-",
        ),
        (f"unit-hour ({pricing})", _usd_per_h(est.unit_usd_per_hour)),
        (f"$/M output tokens ({pricing})", _fmt(est.usd_per_million_tokens)),
        ("  of which decode", _fmt(est.usd_per_million_decode_tokens)),
        (
            f"units for {spec.requests_per_day:,.0f} requests/day"
            + (f" x {spec.peak_to_average:g} peak" if spec.peak_to_average != 1 else ""),
            _fmt(est.units_for_demand),
        ),
    ]
    _emit(est, as_json, rows)
    _exit_if_infeasible(est.feasible, est.reason)


# Terms of step_terms_s that are not added into the step: the roofline's two sides (compute and
# memory summed over the phases; the step adds each phase's larger), and what TPOT adds to it.
ROOFLINE_SIDES = ("compute", "memory")
TPOT_TERMS = ("prefill_chunk", "tpot_tail")


def _step_terms_text(terms: dict[str, float], step_s: float | None) -> str:
    """The step as the sum it is: roofline (its compute and memory sides) + communication and
    overhead terms = step; then the terms TPOT adds. Before session 24 the row listed compute,
    memory and roofline beside the terms added to the step, which did not sum to it (74.56 ms
    listed for a 33.07 ms step)."""
    if not terms or step_s is None:
        return "-"
    sides = ", ".join(f"{k} {terms[k] * 1e3:.2f}" for k in ROOFLINE_SIDES if k in terms)
    added = [
        f"{k} {v * 1e3:.2f} ms"
        for k, v in terms.items()
        if v > 0 and k not in ROOFLINE_SIDES and k not in TPOT_TERMS
    ]
    if added and sides:
        added[0] += f" ({sides} ms over the phases)"
    text = " + ".join(added) + f" = step {step_s * 1e3:.2f} ms"
    extra = [f"{k} {terms[k] * 1e3:.2f} ms" for k in TPOT_TERMS if terms.get(k, 0.0) > 0]
    return text + (f"; TPOT adds {', '.join(extra)}" if extra else "")


def _plan_prefill_row(
    spec: InferenceSpec, catalog: Catalog, system: str, est: InferenceEstimate
) -> list[tuple[str, str]]:
    """With prefill: disaggregated, the rate a plan's prefill role takes: its own smallest
    instance (inference_rates), not the decode layout the figures above price prefill on
    (docs/models.md); nothing when the two agree within 0.1% or the estimate is infeasible."""
    if (
        spec.prefill != "disaggregated"
        or not est.feasible
        or not est.prefill_tokens_per_s_per_system
    ):
        return []
    plan_rate = inference_rates(spec, catalog, system)[1]
    if abs(plan_rate.per_unit_s / est.prefill_tokens_per_s_per_system - 1) < 1e-3:
        return []
    return [("  in a plan (own instances)", f"{_fmt(plan_rate.per_unit_s)} ({plan_rate.reason})")]


DEFAULT_CURVE = "10,20,30,40,50,60,80,100,125,150,200"


@command.command("curve")
@click.option("--model", required=True, help="Catalog model name.")
@click.option(
    "--system", "systems", multiple=True, required=True, help="Catalog system (repeatable)."
)
@click.option("--precision", type=PRECISIONS, default="fp8", show_default=True, help="Weights.")
@click.option(
    "--kv-precision", type=PRECISIONS, default=None, help="KV cache [default: --precision]."
)
@click.option("--prompt-tokens", type=int, default=1000, show_default=True)
@click.option("--output-tokens", type=int, default=1000, show_default=True)
@click.option(
    "--interactivity",
    default=DEFAULT_CURVE,
    show_default=True,
    help="Comma-separated tokens/s/user targets.",
)
@click.option(
    "--prefill",
    type=click.Choice(["disaggregated", "aggregated"]),
    default="disaggregated",
    show_default=True,
    help="Prompts on their own instances, or chunked into the decode steps.",
)
@click.option(
    "--plot",
    "plot_path",
    default=None,
    help="Also save the curve as a PNG here.",
    callback=png_path,
)
@click.option(
    "--pricing",
    type=click.Choice(["rental", "amortised"]),
    default="rental",
    show_default=True,
    help=AMORTISED_AT_DEFAULTS,
)
@catalog_option
@json_option
def curve(
    model: str,
    systems: tuple[str, ...],
    precision: str,
    kv_precision: str | None,
    prompt_tokens: int,
    output_tokens: int,
    interactivity: str,
    prefill: str,
    plot_path: str | None,
    pricing: str,
    catalog_files: tuple[str, ...],
    as_json: bool,
) -> None:
    """Throughput per accelerator and $/M output tokens against tokens/s per user.

    Each point re-chooses the serving layout that maximises throughput at its interactivity;
    throughput counts output tokens and includes each request's prefill share.

    \b
    Examples:
      planner estimate curve --model llama-3.1-70b --system hgx-b200 --system hgx-h100
      planner estimate curve --model deepseek-r1 --precision fp4 --kv-precision fp8 \\
          --system gb200-nvl72 --system hgx-b200 --interactivity 25,50,75,100,125 --json
    """
    from planner.demand.inference import interactivity_curve

    catalog = load_catalog(catalog_files)
    _model(catalog, model)
    for s in systems:
        _system(catalog, s)
    try:
        targets = [float(x) for x in interactivity.split(",") if x.strip()]
    except ValueError:
        raise _problem(
            "--interactivity", f"{interactivity!r}: give numbers, e.g. 10,30,100"
        ) from None
    if not targets or min(targets) <= 0:
        raise _problem("--interactivity", "give positive tokens/s/user targets")
    spec = _spec(
        InferenceSpec,
        dict(
            model=model,
            precision=precision,
            kv_precision=kv_precision,
            requests_per_day="1M",
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            tokens_per_s_per_user=targets[0],
            prefill=prefill,
        ),
        {},
    )
    points = interactivity_curve(spec, catalog, list(systems), targets, pricing)  # type: ignore[arg-type]
    if as_json:
        click.echo(json.dumps(_jsonable(points), indent=2))
    else:
        click.echo(
            f"{model} ({precision}, kv {spec.kv}), {prompt_tokens} in / {output_tokens} out, "
            f"{prefill} prefill, {pricing} prices; output tok/s per accelerator (prefill included)"
        )
        if pricing == "amortised":
            click.echo(f"amortised energy at {pue_text(DEFAULT_PUE, option=False)}")
        click.echo(f"{'system':<14} {'tok/s/user':>10} {'tok/s/GPU':>10} {'$/M tok':>9}  layout")
        for p in points:
            if p.feasible:
                click.echo(
                    f"{p.system:<14} {p.tokens_per_s_per_user:>10g} "
                    f"{p.output_tokens_per_s_per_accelerator:>10,.0f} "
                    f"{p.usd_per_million_tokens:>9.3f}  {p.layout}"
                )
            else:
                click.echo(
                    f"{p.system:<14} {p.tokens_per_s_per_user:>10g} {'-':>10} {'-':>9}  "
                    f"{p.layout[:100]}"
                )
    if plot_path:
        from planner.plots import pyplot, save_png

        plt = pyplot()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        for s in systems:
            mine = [p for p in points if p.system == s and p.feasible]
            xs = [p.tokens_per_s_per_user for p in mine]
            ax1.plot(xs, [p.output_tokens_per_s_per_accelerator for p in mine], marker="o", label=s)
            ax2.plot(xs, [p.usd_per_million_tokens for p in mine], marker="o", label=s)
        ax1.set_xlabel("tokens/s per user")
        ax1.set_ylabel("output tokens/s per accelerator")
        ax2.set_xlabel("tokens/s per user")
        ax2.set_ylabel(f"$ per million output tokens ({pricing})")
        ax2.set_yscale("log")
        for ax in (ax1, ax2):
            ax.grid(True, alpha=0.3)
            ax.legend()
        fig.suptitle(f"{model} {precision}, {prompt_tokens}/{output_tokens} tokens")
        click.echo(f"plot: {save_png(fig, plot_path)}", err=as_json)


@command.command("pretrain")
@click.option("--model", required=True, help="Catalog model name.")
@click.option("--system", required=True, help="Catalog system name.")
@click.option("--tokens", default=None, help="Training tokens D (e.g. 15T).")
@click.option(
    "--tokens-per-param",
    type=float,
    default=None,
    help="D = this x params instead of --tokens (Chinchilla ~20).",
)
@click.option("--precision", type=PRECISIONS, default="bf16", show_default=True)
@click.option("--deadline", default="90 days", show_default=True, help="With a unit: '90 days'.")
@click.option(
    "--goodput",
    type=float,
    default=None,
    help="Share of wall time doing useful steps [default: derived from failure physics].",
)
@click.option(
    "--layout",
    "layout_text",
    default=None,
    help="Pin the parallel layout, e.g. tp=8,pp=16,dp=64,vp=8,mb=1 [default: fastest that fits].",
)
@click.option(
    "--units",
    type=click.IntRange(min=1),
    default=None,
    help="Units of --system [default: fewest meeting the deadline].",
)
@click.option(
    "--include-attention/--no-attention",
    default=True,
    show_default=True,
    help="Count attention FLOPs in the work (the step time always includes them).",
)
@click.option("--sequence-length", type=int, default=8192, show_default=True)
@click.option(
    "--bytes-per-param",
    type=float,
    default=16.0,
    show_default=True,
    help="Model state: 16 = mixed-precision Adam.",
)
@click.option(
    "--global-batch-tokens",
    default="16M",
    show_default=True,
    help="Tokens per optimizer step (Llama 3 405B: 16M).",
)
@click.option("--gradient-precision", type=PRECISIONS, default="bf16", show_default=True)
@click.option("--hbm-usable-fraction", type=click.FloatRange(0, 1, min_open=True), default=None)
@_apply(pricing_options)
@catalog_option
@json_option
def pretrain(
    model: str,
    system: str,
    tokens: str | None,
    tokens_per_param: float | None,
    precision: str,
    deadline: str,
    goodput: float | None,
    layout_text: str | None,
    units: int | None,
    include_attention: bool,
    sequence_length: int,
    bytes_per_param: float,
    global_batch_tokens: str,
    gradient_precision: str,
    hbm_usable_fraction: float | None,
    pricing: str,
    electricity_usd_per_kwh: float,
    pue: float,
    cost_of_capital: float,
    facility_usd_per_kw_month: float,
    catalog_files: tuple[str, ...],
    as_json: bool,
) -> None:
    """Pretraining: 6·N·D FLOPs, days, accelerator-hours, energy, cost, memory layout.

    \b
    Examples:
      planner estimate pretrain --model llama-3.1-405b --system hgx-h100 \\
          --tokens 15T --deadline "90 days"
      planner estimate pretrain --model llama-3.1-405b --system hgx-h100 --tokens 15T \\
          --layout tp=8,pp=16,dp=128,vp=8 --units 2048
      planner estimate pretrain --model chinchilla-70b --system gb200-nvl72 \\
          --tokens-per-param 20 --goodput 0.9 --units 10 --pricing amortised --json
    """
    _check_numbers(
        _checked_count(tokens, "--tokens"),
        ("--tokens-per-param", tokens_per_param, 0.0, True),
        ("--goodput", goodput, 0.0, True),
        ("--units", units, 1, False),
        ("--sequence-length", sequence_length, 0, True),
        ("--bytes-per-param", bytes_per_param, 0.0, True),
        _checked_count(global_batch_tokens, "--global-batch-tokens"),
        ("--hbm-usable-fraction", hbm_usable_fraction, 0.0, True),
        *_check_pricing(pue, electricity_usd_per_kwh, cost_of_capital, facility_usd_per_kw_month),
        high={"--pue": PUE_RANGE[1], "--cost-of-capital": 1.0, "--goodput": 1.0},
    )
    catalog = load_catalog(catalog_files)
    _model(catalog, model)
    _system(catalog, system)
    spec = _spec(
        PretrainSpec,
        dict(
            model=model,
            tokens=tokens,
            tokens_per_param=tokens_per_param,
            precision=precision,
            deadline=deadline,
            goodput=goodput,
            include_attention=include_attention,
            sequence_length=sequence_length,
            bytes_per_param=bytes_per_param,
            global_batch_tokens=global_batch_tokens,
            gradient_precision=gradient_precision,
            layout=_layout(layout_text),
        ),
        {"deadline": "--deadline", "": "--tokens", "layout": "--layout"},
    )
    est = estimate_pretrain(
        spec,
        catalog,
        system,
        units,
        pricing=pricing,  # type: ignore[arg-type]
        electricity_usd_per_kwh=electricity_usd_per_kwh,
        pue=pue,
        cost_of_capital=cost_of_capital,
        facility_usd_per_kw_month=facility_usd_per_kw_month,
        hbm_usable_fraction=hbm_usable_fraction,
    )
    rows = [
        ("model / system", f"{model} ({precision}) on {system}"),
        ("feasible", _pretrain_feasible(est, spec.deadline_s)),
        ("tokens", _fmt(est.tokens)),
        ("FLOPs", f"{est.flops:.4g}"),
        ("rate per unit", f"{_fmt(est.rate_flops_per_s_per_unit, 'FLOP/s')} ({est.rate_reason})"),
        (
            "units",
            f"{est.units} (deadline needs {est.units_for_deadline})"
            if est.units_for_deadline is not None
            else f"{est.units} (no job of any size meets the deadline: the fastest job's)"
            if est.units > 0 and math.isfinite(est.time_s)
            else "-",
        ),
        ("days", _fmt(est.days)),
        ("accelerator-hours", _fmt(est.accelerator_hours)),
        ("energy", _with_unit(est.energy_j / 3.6e9, "MWh")),
        (f"unit-hour ({pricing})", _usd_per_h(est.unit_usd_per_hour)),
        (f"cost ({pricing})", _usd(est.cost_usd)),
        ("model state", _fmt(est.model_state_bytes, "B")),
        ("layout", f"{est.layout or '-'} (job of {est.job_accelerators:,} accelerators)"),
        ("MFU", f"{est.mfu:.1%}" if est.mfu is not None else "-"),
        (
            "goodput",
            (f"{est.goodput:.3f} ({'derived' if est.goodput_derived else 'given'})")
            if est.goodput is not None
            else "-",
        ),
        *(("runner-up", r) for r in est.runner_ups),
    ]
    _emit(est, as_json, rows)
    _exit_if_infeasible(est.feasible, est.reason)


_LAYOUT_KEYS = {
    "tp": "tp",
    "pp": "pp",
    "dp": "dp",
    "cp": "cp",
    "ep": "ep",
    "vp": "vp",
    "mb": "micro_batch",
    "tpo": "tp_comm_overlap",
    "epo": "ep_comm_overlap",
    "elp": "embedding_loss_in_pp_split",
    "ecf": "expert_capacity_factor",
    "etp": "expert_tp",
    "rm": "recompute_modules",
    "fsdp": "fsdp",
}


def _layout(text: str | None) -> dict[str, Any] | None:
    """tp=8,pp=16,dp=64,cp=1,vp=8,mb=1[,tpo=1][,epo=1][,elp=1][,ecf=1.5][,etp=1][,fsdp=64]
    [,rm=mla_up_proj+mlp] -> a LayoutSpec dict (rm: the recompute modules, joined by +)."""
    if not text:
        return None
    out: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or key not in _LAYOUT_KEYS:
            raise _problem(
                "--layout", f"{part!r}: write KEY=N with KEY one of {', '.join(_LAYOUT_KEYS)}"
            )
        out[_LAYOUT_KEYS[key]] = value
        if key == "rm":
            out["recompute_modules"] = [m for m in value.split("+") if m]
    return out


def _reward_model(text: str, i: int) -> dict[str, Any]:
    """NAME=MODEL[:outcome|process[:STEPS]]"""
    name, sep, rest = text.partition("=")
    if not sep:
        raise _problem("--reward-model", f"{text!r}: write NAME=MODEL[:outcome|process[:STEPS]]")
    parts = rest.split(":")
    out: dict[str, Any] = {
        "name": name,
        "model": parts[0],
        "kind": parts[1] if len(parts) > 1 else "outcome",
    }
    if len(parts) > 2:
        out["steps_per_sample"] = parts[2]
    return out


def _verifier(text: str) -> dict[str, Any]:
    """NAME=CORE_SECONDS[@APPLIES_TO]"""
    name, sep, rest = text.partition("=")
    if not sep:
        raise _problem("--verifier", f"{text!r}: write NAME=CORE_SECONDS[@APPLIES_TO]")
    core, _, applies = rest.partition("@")
    return {"name": name, "core_seconds_per_sample": core, "applies_to": applies or 1.0}


@command.command("rl")
@click.option("--policy", required=True, help="Catalog model name of the policy.")
@click.option("--system", default=None, help="Also rate each role on this catalog system.")
@click.option("--precision", type=PRECISIONS, default="bf16", show_default=True)
@click.option("--problems", required=True, help="Problems (e.g. 1M).")
@click.option("--samples-per-problem", type=int, required=True)
@click.option("--prompt-tokens", type=int, default=1000, show_default=True)
@click.option("--completion-tokens", type=int, default=8000, show_default=True)
@click.option(
    "--max-completion-tokens",
    type=int,
    default=None,
    help="The length cap: each update waits for its longest response (a scenario's "
    "max_completion_tokens) [default: none].",
)
@click.option("--kept-fraction", type=float, default=0.5, show_default=True)
@click.option("--epochs", type=int, default=1, show_default=True)
@click.option("--samples-per-update", default="8192", show_default=True)
@click.option("--deadline", default="30 days", show_default=True)
@click.option("--goodput", type=float, default=None, help="Trainer goodput [default: derived].")
@click.option(
    "--generation-tokens-per-s",
    type=float,
    default=None,
    help="Per-sequence decode target [default: throughput mode].",
)
@click.option(
    "--reward-model",
    "reward_models",
    multiple=True,
    metavar="NAME=MODEL[:KIND[:STEPS]]",
    help="Repeatable; KIND outcome (default) or process (STEPS required).",
)
@click.option("--reference", default=None, help="Reference model (KL) name.")
@click.option("--critic", default=None, help="Critic model name (PPO).")
@click.option(
    "--policy-logprobs/--no-policy-logprobs",
    default=True,
    show_default=True,
    help="Recompute the policy's old log-probabilities before each update (off: the rollout "
    "engine's are used).",
)
@click.option(
    "--verifier",
    "verifiers",
    multiple=True,
    metavar="NAME=CORE_S[@APPLIES_TO]",
    help="Repeatable CPU verifier, core-seconds per sample, share of samples.",
)
@catalog_option
@json_option
def rl(
    policy: str,
    system: str | None,
    precision: str,
    problems: str,
    samples_per_problem: int,
    prompt_tokens: int,
    completion_tokens: int,
    max_completion_tokens: int | None,
    kept_fraction: float,
    epochs: int,
    samples_per_update: str,
    deadline: str,
    goodput: float | None,
    generation_tokens_per_s: float | None,
    reward_models: tuple[str, ...],
    reference: str | None,
    critic: str | None,
    policy_logprobs: bool,
    verifiers: tuple[str, ...],
    catalog_files: tuple[str, ...],
    as_json: bool,
) -> None:
    """RL post-training work per role (tokens, FLOPs, CPU core-seconds) and FLOP balance.

    \b
    Examples:
      planner estimate rl --policy llama-3.1-70b --problems 1M --samples-per-problem 16 \\
          --reward-model orm=llama-3.1-8b --reward-model prm=llama-3.1-8b:process:20 \\
          --reference llama-3.1-70b --verifier code=2@0.5 --system hgx-h100
      planner estimate rl --policy deepseek-v3 --precision fp8 --problems 100K \\
          --samples-per-problem 8 --json
    """
    _check_numbers(
        _checked_count(problems, "--problems"),
        ("--samples-per-problem", samples_per_problem, 0, True),
        ("--prompt-tokens", prompt_tokens, 0, True),
        ("--completion-tokens", completion_tokens, 0, True),
        ("--max-completion-tokens", max_completion_tokens, 0, True),
        ("--kept-fraction", kept_fraction, 0.0, True),
        ("--epochs", epochs, 0, True),
        _checked_count(samples_per_update, "--samples-per-update"),
        ("--goodput", goodput, 0.0, True),
        ("--generation-tokens-per-s", generation_tokens_per_s, 0.0, True),
        *[
            ("--verifier", _number(v.partition("=")[2].partition("@")[0]), None, False)
            for v in verifiers
        ],
        *[
            ("--reward-model", _number(r.split(":")[2]), None, False)
            for r in reward_models
            if r.count(":") >= 2
        ],
        high={"--kept-fraction": 1.0, "--goodput": 1.0},
    )
    catalog = load_catalog(catalog_files)
    _model(catalog, policy, "--policy")
    rms = [_reward_model(t, i) for i, t in enumerate(reward_models)]
    for rm in rms:
        _model(catalog, rm["model"], "--reward-model")
    for name, opt in ((reference, "--reference"), (critic, "--critic")):
        if name is not None:
            _model(catalog, name, opt)
    if system is not None:
        _system(catalog, system)
    spec = _spec(
        RLSpec,
        dict(
            policy=policy,
            precision=precision,
            problems=problems,
            samples_per_problem=samples_per_problem,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            max_completion_tokens=max_completion_tokens,
            kept_fraction=kept_fraction,
            epochs=epochs,
            samples_per_update=samples_per_update,
            deadline=deadline,
            goodput=goodput,
            generation_tokens_per_s_per_sequence=generation_tokens_per_s,
            reward_models=rms,
            verifiers=[_verifier(v) for v in verifiers],
            reference={"model": reference} if reference else None,
            critic={"model": critic} if critic else None,
            policy_logprobs=policy_logprobs,
        ),
        {
            "deadline": "--deadline",
            "reward_models": "--reward-model",
            "verifiers": "--verifier",
            "generation_tokens_per_s_per_sequence": "--generation-tokens-per-s",
            "max_completion_tokens": "--max-completion-tokens",
        },
    )
    est = estimate_rl(spec, catalog, system)
    rows = [
        ("policy", f"{policy} ({precision})"),
        ("samples (kept)", f"{_fmt(est.samples)} ({_fmt(est.kept_samples)})"),
        ("updates", _fmt(est.updates)),
    ]
    for r in est.roles:
        rate = (
            f"; {_fmt(r.rate_per_unit_s)} {r.work_unit}/s/unit ({r.rate_reason})"
            if r.rate_per_unit_s is not None
            else ""
        )
        rows.append(
            (
                f"  {r.name}",
                f"{_fmt(r.per_sample)} {r.work_unit}/sample, total "
                f"{_fmt(r.amount)}, {r.flop_share:.1%} of FLOPs{rate}",
            )
        )
    rows += [
        ("verifier core-seconds", _fmt(est.verifier_core_seconds)),
        ("trajectory bytes/kept sample", _fmt(est.trajectory_bytes_per_kept_sample, "B")),
        ("weight bytes/update", _fmt(est.weight_bytes_per_update, "B")),
        ("forward:backward FLOPs", f"{est.forward_backward_flop_ratio:.2f}"),
    ]
    _emit(est, as_json, rows)


# -- scaling: which (N, D) reaches a loss, and what training and serving it costs -------------


@command.command("scaling")
@click.option("--loss", "target_loss", type=float, default=None, help="Target loss (nats/token).")
@click.option("--like", default=None, help="Target: the loss of this catalog model ...")
@click.option("--tokens", default=None, help="... trained on this many tokens (e.g. 15T).")
@click.option("--flops", default=None, help="FLOP budget: its compute-optimal point (e.g. 1e25).")
@click.option("--law", default=None, help="Catalog scaling law [default: epoch-2024].")
@click.option(
    "--ratios",
    default=",".join(f"{r:g}" for r in scaling.DEFAULT_RATIOS),
    show_default=True,
    help="Tokens per parameter of the iso-loss table.",
)
@click.option(
    "--served-tokens",
    default="0",
    show_default=True,
    help="Lifetime output tokens served by the model (e.g. 1e15).",
)
@click.option("--system", default=None, help="Price both on this catalog system.")
@click.option("--shape-from", default=None, help="Shape of generated models [default: --like].")
@click.option("--precision", type=PRECISIONS, default="fp8", show_default=True, help="Serving.")
@click.option("--prompt-tokens", type=int, default=1000, show_default=True)
@click.option("--output-tokens", type=int, default=1000, show_default=True)
@click.option("--tokens-per-s-per-user", type=float, default=30.0, show_default=True)
@click.option(
    "--pricing",
    type=click.Choice(["rental", "amortised"]),
    default="rental",
    show_default=True,
    help=AMORTISED_AT_DEFAULTS,
)
@click.option(
    "--plot",
    "plot_path",
    default=None,
    help="Also save cost vs tokens/param here.",
    callback=png_path,
)
@catalog_option
@json_option
def scaling_command(**opts: Any) -> None:
    """Scaling-law economics: the iso-loss curve of a target loss over tokens/param, its
    compute-optimal (Chinchilla) point, the optimum at a FLOP budget, and the split of
    pretraining (6·N·D) vs lifetime serving (2·N per prompt and output token) cost.

    \b
    Examples:
      planner estimate scaling --like llama-3.1-70b --tokens 15T
      planner estimate scaling --flops 1e25 --served-tokens 1e15
      planner estimate scaling --like llama-3.1-70b --tokens 15T --served-tokens 5e15 \\
          --system gb200-nvl72 --plot scaling.png
    """
    catalog = load_catalog(opts["catalog_files"])
    law_name, law, target, origin, budget = _scaling_target(catalog, opts)
    ratios = _ratios(opts["ratios"])
    served = _count(opts["served_tokens"], "--served-tokens")
    _check_numbers(("--served-tokens", served, 0.0, False))
    base = opts["shape_from"] or opts["like"] or "llama-3.1-70b"
    _model(catalog, base, "--shape-from")
    n_opt, d_opt = scaling.compute_optimal_for_loss(law, target)
    opt_ratio = d_opt / n_opt
    grid: list[float | str] = sorted({*ratios, opt_ratio})
    cands, generated = scaling.candidates(law, target, grid, catalog, base, "scaling")
    priced = scaling.with_models(catalog, generated)
    prompt_share = (opts["prompt_tokens"] + opts["output_tokens"]) / opts["output_tokens"]
    rows = [_scaling_row(c, served, prompt_share, priced, opts) for c in cands]
    best = scaling.cheapest(rows)
    result = {
        "law": law_name,
        "constants": {"E": law.E, "A": law.A, "B": law.B, "alpha": law.alpha, "beta": law.beta},
        "law_source": law.source,
        "target_loss": target,
        "target": origin,
        "compute_optimal": {
            "params": n_opt,
            "tokens": d_opt,
            "tokens_per_param": opt_ratio,
            "flops": 6 * n_opt * d_opt,
        },
        "budget": budget,
        "served_output_tokens": served,
        "prompt_tokens": opts["prompt_tokens"],
        "output_tokens": opts["output_tokens"],
        "system": opts["system"],
        "rows": rows,
        "cheapest_tokens_per_param": best.tokens_per_param,
    }
    if opts["as_json"]:
        click.echo(json.dumps(_jsonable(result), indent=2))
    else:
        _print_scaling(result, rows, best, opt_ratio, opts["pricing"] == "amortised")
    if opts["plot_path"]:
        _plot_scaling(rows, best, opt_ratio, opts["plot_path"], opts["as_json"])


def _scaling_target(
    catalog: Catalog, opts: dict[str, Any]
) -> tuple[str, Any, float, str, dict[str, float] | None]:
    """(law name, law, target loss, where it comes from, budget optimum or None)."""
    name = opts["law"] or scaling.DEFAULT_LAW
    try:
        law = scaling.scaling_law(catalog, name)
    except KeyError as exc:
        raise _problem("--law", str(exc).strip("'\"")) from None
    budget = None
    if opts["flops"] is not None:
        flops = _count(opts["flops"], "--flops")
        _check_numbers(("--flops", flops, 0.0, True), high={"--flops": 1e40})
        n, d = scaling.compute_optimal(law, flops)
        budget = {
            "flops": flops,
            "params": n,
            "tokens": d,
            "tokens_per_param": d / n,
            "loss": scaling.loss(law, n, d),
        }
    given = [k for k in ("target_loss", "like") if opts[k] is not None]
    if len(given) > 1 or (opts["like"] is None) != (opts["tokens"] is None):
        raise _problem("--loss", "give --loss, or --like with --tokens (or only --flops)")
    if opts["target_loss"] is not None:
        if opts["target_loss"] <= law.E:
            raise _problem("--loss", f"must be above the law's irreducible loss E = {law.E:g}")
        return name, law, opts["target_loss"], "given", budget
    if opts["like"] is not None:
        _model(catalog, opts["like"], "--like")
        tokens = _count(opts["tokens"], "--tokens")
        _check_numbers(("--tokens", tokens, 0.0, True))
        n = float(catalog.models[opts["like"]].params)
        return (
            name,
            law,
            scaling.loss(law, n, tokens),
            f"{opts['like']} on {tokens:.4g} tokens",
            budget,
        )
    if budget is None:
        raise _problem("--loss", "give --loss, --like with --tokens, or --flops")
    return name, law, budget["loss"], f"compute-optimal at {budget['flops']:.4g} FLOPs", budget


def _ratios(text: str) -> list[float]:
    try:
        ratios = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise _problem("--ratios", f"{text!r}: give numbers, e.g. 10,20,100") from None
    if not ratios or min(ratios) <= 0 or not all(math.isfinite(r) for r in ratios):
        raise _problem("--ratios", "give positive tokens-per-parameter values")
    return ratios


def _scaling_row(
    cand: scaling.Candidate,
    served: float,
    prompt_share: float,
    catalog: Catalog,
    opts: dict[str, Any],
) -> scaling.SplitRow:
    """FLOPs of one candidate (serving: 2·N per prompt and output token), priced on --system."""
    row = scaling.split(cand, served * prompt_share)
    if opts["system"] is None:
        return row
    _system(catalog, opts["system"])
    prices = scaling.price_on_system(
        cand,
        catalog,
        opts["system"],
        pricing=opts["pricing"],
        precision=opts["precision"],
        prompt_tokens=opts["prompt_tokens"],
        output_tokens=opts["output_tokens"],
        tokens_per_s_per_user=opts["tokens_per_s_per_user"],
    )
    if prices.usd_per_train_flop is None or prices.usd_per_output_token is None:
        return row
    return dataclasses.replace(
        row,
        pretrain_cost_usd=prices.usd_per_train_flop * cand.pretrain_flops,
        serve_cost_usd=prices.usd_per_output_token * served,
    )


def _print_scaling(
    result: dict[str, Any],
    rows: list[scaling.SplitRow],
    best: scaling.SplitRow,
    opt: float,
    amortised: bool,
) -> None:
    c = result["constants"]
    click.echo(
        f"scaling law {result['law']}: L = {c['E']:g} + {c['A']:g}/N^{c['alpha']:g} + "
        f"{c['B']:g}/D^{c['beta']:g}\n  ({result['law_source']})"
    )
    click.echo(f"target loss {result['target_loss']:.4f} nats/token ({result['target']})")
    co = result["compute_optimal"]
    click.echo(
        f"compute-optimal on this curve: N = {co['params']:.4g}, D = {co['tokens']:.4g} "
        f"({co['tokens_per_param']:.1f} tokens/param), {co['flops']:.4g} FLOPs"
    )
    if result["budget"] is not None:
        b = result["budget"]
        click.echo(
            f"optimum at {b['flops']:.4g} FLOPs: N = {b['params']:.4g}, D = {b['tokens']:.4g} "
            f"({b['tokens_per_param']:.1f} tokens/param), loss {b['loss']:.4f}"
        )
    priced = result["system"] is not None
    head = f"{'tok/param':>10} {'params':>10} {'tokens':>10} {'train FLOP':>11} {'serve FLOP':>11}"
    head += (
        f" {'train $':>10} {'serve $':>10} {'total $':>10}" if priced else f" {'total FLOP':>11}"
    )
    click.echo(
        f"\nserved: {result['served_output_tokens']:.4g} output tokens, each request's "
        f"{result['prompt_tokens']:,} prompt tokens per {result['output_tokens']:,} output "
        f"with them (serve FLOP = 2 x N x "
        f"{result['served_output_tokens'] * (result['prompt_tokens'] + result['output_tokens']) / result['output_tokens']:.4g} tokens)"
        + (f"; priced on {result['system']}" if priced else " (no --system: FLOPs only)")
    )
    if priced and amortised:
        click.echo(f"amortised energy at {pue_text(DEFAULT_PUE, option=False)}")
    click.echo(head)
    for r in rows:
        line = (
            f"{r.tokens_per_param:>10,.1f} {r.params:>10.4g} {r.tokens:>10.4g} "
            f"{r.pretrain_flops:>11.4g} {r.serve_flops:>11.4g}"
        )
        if priced:
            line += f" {_fmt_usd(r.pretrain_cost_usd)} {_fmt_usd(r.serve_cost_usd)} "
            line += _fmt_usd(r.total_cost_usd)
        else:
            line += f" {r.total_flops:>11.4g}"
        marks = (["Chinchilla"] if r.tokens_per_param == opt else []) + (
            ["cheapest"] if r is best else []
        )
        click.echo(line + ("  " + ", ".join(marks) if marks else ""))
    total = best.total_cost_usd
    if total:
        pre = best.pretrain_cost_usd or 0.0
        click.echo(
            f"cheapest: {best.tokens_per_param:,.1f} tokens/param; pretraining {pre / total:.0%}, "
            f"serving {1 - pre / total:.0%} of ${total:,.4g}"
        )
    else:
        pre_share = best.pretrain_flops / best.total_flops
        click.echo(
            f"cheapest: {best.tokens_per_param:,.1f} tokens/param; pretraining {pre_share:.0%}, "
            f"serving {1 - pre_share:.0%} of {best.total_flops:.4g} FLOPs"
        )


def _fmt_usd(value: float | None) -> str:
    return f"{'-':>10}" if value is None else f"{value:>10.4g}"


def _plot_scaling(
    rows: list[scaling.SplitRow], best: scaling.SplitRow, opt: float, path: str, as_json: bool
) -> None:
    from planner.plots import pyplot, save_png

    priced = [r for r in rows if r.total_cost_usd is not None]
    use_usd = len(priced) == len(rows)

    def total(r: scaling.SplitRow) -> float:
        return r.total_cost_usd if use_usd and r.total_cost_usd is not None else r.total_flops

    def train(r: scaling.SplitRow) -> float:
        return (
            r.pretrain_cost_usd if use_usd and r.pretrain_cost_usd is not None else r.pretrain_flops
        )

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [r.tokens_per_param for r in rows]
    ax.plot(xs, [total(r) for r in rows], marker="o", label="total")
    ax.plot(xs, [train(r) for r in rows], linestyle="--", label="pretraining")
    ax.plot(xs, [total(r) - train(r) for r in rows], linestyle=":", label="lifetime serving")
    chin = next(r for r in rows if r.tokens_per_param == opt)
    ax.scatter(
        [opt], [total(chin)], s=120, marker="s", color="black", zorder=3, label="Chinchilla point"
    )
    ax.scatter(
        [best.tokens_per_param],
        [total(best)],
        s=160,
        marker="*",
        color="red",
        zorder=4,
        label="cheapest",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training tokens per parameter (iso-loss)")
    ax.set_ylabel("US$" if use_usd else "FLOPs")
    ax.grid(True, alpha=0.3)
    ax.legend()
    click.echo(f"plot: {save_png(fig, path)}", err=as_json)
