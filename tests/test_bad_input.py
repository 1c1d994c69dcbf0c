"""Malformed input: every case exits 1 with `file:line: path.to.field: message`, no traceback.

Each case starts from a small valid scenario (and topology / catalog overlay) written here, breaks
one thing, and marks the line a user has to edit with a trailing `# <-` comment; the expected line
number is computed from that marker, so the cases stay right when the base texts change.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import cli
from fleetcore.errors import ConfigError

MARK = "# <-"

SCENARIO = textwrap.dedent(
    """\
    description: "tiny scenario for bad-input tests"
    topology: topo.yaml
    economics:
      horizon: 365 days
      pricing: amortised
    workloads:
      chat:
        kind: inference
        model: llama-3.1-8b
        precision: fp8
        requests_per_day: 1M
        prompt_tokens: 1000
        output_tokens: 500
        tokens_per_s_per_user: 30
      rl:
        kind: rl
        policy: llama-3.1-8b
        problems: 10K
        samples_per_problem: 4
        prompt_tokens: 500
        completion_tokens: 1000
        kept_fraction: 0.5
        samples_per_update: 1K
        deadline: 30 days
        goodput: 0.9
    overrides:
      rental:
        economics: {pricing: rental}
    """
)

TOPOLOGY = textwrap.dedent(
    """\
    name: tiny
    description: "two sites"
    source: "illustrative; bad-input tests"
    datacenters:
      dc-a:
        power_cap: 20 MW
        pue: 1.2
        electricity_usd_per_kwh: 0.07
        systems:
          hgx-h100: {max_units: 200}
        cpu_servers: {system: cpu-server, max_units: 100}
      dc-b:
        power_cap: 20 MW
        pue: 1.2
        electricity_usd_per_kwh: 0.07
        systems:
          hgx-h100: {max_units: 200}
    links:
      - {a: dc-a, b: dc-b, capacity: 1.6 Tbps, latency: 10 ms, cost_usd_per_tb: 1.0}
    """
)

CATALOG = textwrap.dedent(
    """\
    systems:
      hgx-h100:
        capex_usd: 250000
    """
)


# A catalog overlay adding a model with banded (sliding-window) attention layers.
SWA_MODEL = """\
models:
  tiny-swa:
    description: "a tiny model with banded layers"
    params: 1B
    layers: 4
    hidden: 512
    heads: 8
    kv_heads: 2
    sliding_window: {window}
    source: "a test model"
"""


def edit(text: str, old: str, new: str) -> str:
    """Replace exactly one occurrence of `old` (a whole-line fragment) in a base text."""
    assert text.count(old) == 1, f"{old!r} must occur once in the base text"
    return text.replace(old, new)


def marked_line(text: str) -> int:
    """1-based number of the line carrying the `# <-` marker."""
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if MARK in line]
    assert len(lines) == 1, "mark exactly one line"
    return lines[0]


@dataclass
class Case:
    id: str
    # File name -> text; missing files are filled with the base texts.
    files: dict[str, str] = field(default_factory=dict)
    # The file the error must name, the field path, and the message fragment.
    file: str = "scenario.yaml"
    path: str = ""
    message: str = ""
    args: tuple[str, ...] = ()
    # Expected line: None = from the marker in `file`; 0 = no line (command-line input).
    line: int | None = None
    # Remove these base files (e.g. the scenario itself for "missing file").
    absent: tuple[str, ...] = ()
    # Also check other problems reported in the same run: (file, marker text, path).
    more: tuple[tuple[str, str, str], ...] = ()


def sc(old: str, new: str) -> dict[str, str]:
    return {"scenario.yaml": edit(SCENARIO, old, new)}


def topo(old: str, new: str) -> dict[str, str]:
    return {"topo.yaml": edit(TOPOLOGY, old, new)}


WITH_CATALOG = edit(
    SCENARIO, "topology: topo.yaml\n", "topology: topo.yaml\ncatalog: [prices.yaml]\n"
)


def cat(old: str, new: str) -> dict[str, str]:
    return {"scenario.yaml": WITH_CATALOG, "prices.yaml": edit(CATALOG, old, new)}


def two_problem_lines() -> str:
    text = edit(SCENARIO, 'description: "tiny', 'descripton: "tiny')
    text = edit(text, "    output_tokens: 500", "    output_tokens: lots")
    return edit(text, "  pricing: amortised", "  pricing: amortized")


CASES = [
    Case(
        "solver-bound-unknown",
        sc("overrides:\n", f"solver:\n  bound: exact  {MARK}\noverrides:\n"),
        path="solver.bound",
        message="'auto' or 'full'",
    ),
    Case(
        "solver-reproducible-not-boolean",
        sc("overrides:\n", f"solver:\n  reproducible: sometimes  {MARK}\noverrides:\n"),
        path="solver.reproducible",
        message="valid boolean",
    ),
    Case(
        "headroom-unknown-domain",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    headroom: {{k: 1, domain: row}}  {MARK}\n",
        ),
        path="workloads.chat.headroom.domain",
        message="'rack' or 'site'",
    ),
    Case(
        "sandbox-memory-without-unit",
        sc(
            "    goodput: 0.9\n",
            "    goodput: 0.9\n    verifiers:\n"
            f"      - {{name: box, core_seconds_per_sample: 1, applies_to: 1, "
            f"memory_per_sandbox: 32}}  {MARK}\n",
        ),
        path="workloads.rl.verifiers[0].memory_per_sandbox",
        message="unit",
    ),
    Case(
        "engine-cap-zero",
        sc(
            "    tokens_per_s_per_user: 30\n",
            "    tokens_per_s_per_user: 30\n    engine:\n"
            f"      max_sequences_per_accelerator: 0  {MARK}\n",
        ),
        path="workloads.chat.engine.max_sequences_per_accelerator",
        message="greater than 0",
    ),
    Case(
        "engine-cap-negative",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    engine:\n      max_sequences: -512  {MARK}\n",
        ),
        path="workloads.chat.engine.max_sequences",
        message="greater than 0",
    ),
    Case(
        "engine-cap-not-a-number",
        sc(
            "    tokens_per_s_per_user: 30\n",
            "    tokens_per_s_per_user: 30\n    engine:\n"
            f"      max_sequences_per_accelerator: lots  {MARK}\n",
        ),
        path="workloads.chat.engine.max_sequences_per_accelerator",
        message="expected a whole number, got the text 'lots'",
    ),
    Case(
        "engine-cap-fractional",
        sc(
            "    tokens_per_s_per_user: 30\n",
            "    tokens_per_s_per_user: 30\n    engine:\n"
            f"      max_sequences_per_accelerator: 2.5  {MARK}\n",
        ),
        path="workloads.chat.engine.max_sequences_per_accelerator",
        message="expected a whole number, got 2.5",
    ),
    Case(
        "engine-unknown-field",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    engine:\n      max_batch_size: 512  {MARK}\n",
        ),
        path="workloads.chat.engine.max_batch_size",
        message="unknown field",
    ),
    Case(
        "engine-cuda-graph-sizes-empty",
        sc(
            "    tokens_per_s_per_user: 30\n",
            "    tokens_per_s_per_user: 30\n    engine:\n"
            f"      cuda_graph_batch_sizes: []  {MARK}\n",
        ),
        path="workloads.chat.engine.cuda_graph_batch_sizes",
        message="at least 1 item",
    ),
    Case(
        "engine-cuda-graph-size-zero",
        sc(
            "    tokens_per_s_per_user: 30\n",
            "    tokens_per_s_per_user: 30\n    engine:\n"
            f"      cuda_graph_batch_sizes: [64, 0, 128]  {MARK}\n",
        ),
        path="workloads.chat.engine.cuda_graph_batch_sizes[1]",
        message="greater than 0",
    ),
    Case(
        "engine-max-num-tokens-zero",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    engine:\n      max_num_tokens: 0  {MARK}\n",
        ),
        path="workloads.chat.engine.max_num_tokens",
        message="greater than 0",
    ),
    Case(
        "engine-max-num-tokens-text",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    engine:\n      max_num_tokens: lots  {MARK}\n",
        ),
        path="workloads.chat.engine.max_num_tokens",
        message="expected a whole number, got the text 'lots'",
    ),
    Case(
        "engine-max-num-tokens-fraction",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    engine:\n      max_num_tokens: 1536.5  {MARK}\n",
        ),
        path="workloads.chat.engine.max_num_tokens",
        message="whole number",
    ),
    Case(
        "engine-tensorrt-llm-version-not-a-release",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    engine:\n      tensorrt_llm_version: v1.2-mlpinf  {MARK}\n",
        ),
        path="workloads.chat.engine.tensorrt_llm_version",
        message="'v1.2-mlpinf' is not a TensorRT-LLM release: major.minor[.patch][rcN]",
    ),
    Case(
        # YAML reads 1.10 as the number 1.1: a release must be quoted, and the message says so
        "engine-tensorrt-llm-version-unquoted",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    engine:\n      tensorrt_llm_version: 1.10  {MARK}\n",
        ),
        path="workloads.chat.engine.tensorrt_llm_version",
        message="write the release quoted ('1.1', '1.3.0rc10')",
    ),
    Case(
        "rl-generator-tensorrt-llm-version",
        sc(
            "    goodput: 0.9\n",
            f"    goodput: 0.9\n    generator:  {MARK}\n      tensorrt_llm_version: '1.2'\n",
        ),
        path="workloads.rl.generator",
        message="tensorrt_llm_version is not used for RL rollouts",
    ),
    Case(
        "rl-generator-max-num-tokens",
        sc(
            "    goodput: 0.9\n",
            f"    goodput: 0.9\n    generator:  {MARK}\n      max_num_tokens: 2048\n",
        ),
        path="workloads.rl.generator",
        message="max_num_tokens is not used for RL rollouts",
    ),
    Case(
        "rl-generator-cuda-graph-sizes",
        sc(
            "    goodput: 0.9\n",
            f"    goodput: 0.9\n    generator:  {MARK}\n      cuda_graph_batch_sizes: [128, 256]\n",
        ),
        path="workloads.rl.generator",
        message="cuda_graph_batch_sizes is not used for RL rollouts",
    ),
    Case(
        "engine-ep-not-a-multiple-of-tp",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    engine:\n      layout: {{tp: 4, ep: 6}}  {MARK}\n",
        ),
        path="workloads.chat.engine.layout",
        message="must be a multiple of tp",
    ),
    Case(
        "engine-layout-cannot-hold-the-model",
        sc(
            "    tokens_per_s_per_user: 30\n",
            "    tokens_per_s_per_user: 30\n    engine:\n"
            f"      layout: {{tp: 1}}  {MARK}\n      memory_utilization: 0.05\n",
        ),
        path="workloads.chat.engine.layout",
        message="engine tp 1 x pp 1 x ep 1 (1 accelerators an instance) cannot hold llama-3.1-8b",
    ),
    Case(
        "rl-generator-cannot-hold-the-policy",
        sc(
            "    goodput: 0.9\n",
            "    goodput: 0.9\n    generator:\n"
            f"      layout: {{tp: 1}}  {MARK}\n      memory_utilization: 0.15\n",
        ),
        path="workloads.rl.generator.layout",
        message="cannot hold llama-3.1-8b on any system of the scenario",
    ),
    Case(
        "rl-generator-ep-not-a-multiple-of-tp",
        sc(
            "    goodput: 0.9\n",
            f"    goodput: 0.9\n    generator:\n      layout: {{tp: 4, ep: 6}}  {MARK}\n",
        ),
        path="workloads.rl.generator.layout",
        message="must be a multiple of tp",
    ),
    Case(
        "rl-trainer-tp-comm-overlap-without-tp",
        sc(
            "    goodput: 0.9\n",
            "    goodput: 0.9\n    trainer:\n"
            f"      layout: {{tp: 1, pp: 2, tp_comm_overlap: true}}  {MARK}\n",
        ),
        path="workloads.rl.trainer.layout",
        message="tp_comm_overlap needs tp > 1",
    ),
    Case(
        "pretrain-tp-comm-overlap-without-tp",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: llama-3.1-8b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout: {{tp: 1, dp: 8, tp_comm_overlap: true}}  {MARK}\n",
        ),
        path="workloads.pre.layout",
        message="tp_comm_overlap needs tp > 1",
    ),
    Case(
        "pretrain-ep-comm-overlap-without-ep",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: llama-3.1-8b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout: {{tp: 8, dp: 8, ep_comm_overlap: true}}  {MARK}\n",
        ),
        path="workloads.pre.layout",
        message="ep_comm_overlap needs ep > 1",
    ),
    Case(
        "pretrain-expert-capacity-factor-below-one",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: qwen3-30b-a3b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout: {{tp: 1, dp: 8, ep: 8, expert_capacity_factor: 0.5}}  {MARK}\n",
        ),
        path="workloads.pre.layout",
        message="expert_capacity_factor must be 0 (off) or at least 1",
    ),
    Case(
        "pretrain-ep-wider-than-the-data-parallel-ranks",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: qwen3-30b-a3b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout: {{tp: 1, dp: 8, ep: 16}}  {MARK}\n",
        ),
        path="workloads.pre.layout",
        message="ep 16 must divide tp x dp x cp = 8",
    ),
    Case(
        "pretrain-expert-tp-not-dividing-tp",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: qwen3-30b-a3b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout: {{tp: 4, dp: 8, ep: 8, expert_tp: 3}}  {MARK}\n",
        ),
        path="workloads.pre.layout",
        message="expert_tp 3 must divide tp 4",
    ),
    Case(
        "pretrain-expert-tp-above-tp",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: qwen3-30b-a3b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout: {{tp: 2, dp: 8, ep: 8, expert_tp: 4}}  {MARK}\n",
        ),
        path="workloads.pre.layout",
        message="expert_tp 4 must divide tp 2",
    ),
    Case(
        "pretrain-expert-tp-times-ep-wider-than-the-stage",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: qwen3-30b-a3b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout: {{tp: 4, dp: 2, ep: 8, expert_tp: 2}}  {MARK}\n",
        ),
        path="workloads.pre.layout",
        message="expert_tp x ep = 16 must divide tp x dp x cp = 8",
    ),
    Case(
        "pretrain-recompute-module-unknown",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: qwen3-30b-a3b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            "    layout:\n      tp: 2\n"
            f"      recompute_modules: [core_attn, attention]  {MARK}\n",
        ),
        path="workloads.pre.layout.recompute_modules[1]",
        message="Input should be 'core_attn', 'mlp', 'moe'",
    ),
    Case(
        "pretrain-recompute-module-twice",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: qwen3-30b-a3b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout: {{tp: 2, recompute_modules: [moe, moe]}}  {MARK}\n",
        ),
        path="workloads.pre.layout",
        message="names a module twice",
    ),
    Case(
        "pretrain-fsdp-ep-overlap-interleaved",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: qwen3-30b-a3b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            "    layout: {tp: 1, pp: 2, vp: 2, dp: 8, ep: 8, fsdp: 8, "
            f"ep_comm_overlap: true}}  {MARK}\n",
        ),
        path="workloads.pre.layout",
        message="ep_comm_overlap with fsdp cannot run interleaved",
    ),
    Case(
        "pretrain-recompute-moe-with-ep-overlap",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: qwen3-30b-a3b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            "    layout: {tp: 1, dp: 8, ep: 8, ep_comm_overlap: true, "
            f"recompute_modules: [moe]}}  {MARK}\n",
        ),
        path="workloads.pre.layout",
        message="recompute_modules moe cannot run with ep_comm_overlap",
    ),
    Case(
        "pretrain-expert-tp-negative",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: qwen3-30b-a3b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout:\n      tp: 2\n      expert_tp: -1  {MARK}\n",
        ),
        path="workloads.pre.layout.expert_tp",
        message="greater than or equal to 0",
    ),
    Case(
        "pretrain-expert-tp-not-a-number",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: qwen3-30b-a3b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout:\n      tp: 2\n      expert_tp: half  {MARK}\n",
        ),
        path="workloads.pre.layout.expert_tp",
        message="expected a whole number",
    ),
    Case(
        "pretrain-expert-capacity-factor-not-a-number",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: qwen3-30b-a3b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout:\n      ep: 8\n      expert_capacity_factor: oversized  {MARK}\n",
        ),
        path="workloads.pre.layout.expert_capacity_factor",
        message="number",
    ),
    Case(
        "pretrain-ep-comm-overlap-not-a-boolean",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: llama-3.1-8b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout:\n      ep: 8\n      ep_comm_overlap: dualpipe  {MARK}\n",
        ),
        path="workloads.pre.layout.ep_comm_overlap",
        message="boolean",
    ),
    Case(
        "pretrain-tp-comm-overlap-not-a-boolean",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: llama-3.1-8b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout:\n      tp: 8\n      tp_comm_overlap: userbuffers  {MARK}\n",
        ),
        path="workloads.pre.layout.tp_comm_overlap",
        message="boolean",
    ),
    Case(
        "pretrain-embedding-loss-split-without-pp",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: llama-3.1-8b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout: {{tp: 8, dp: 8, embedding_loss_in_pp_split: true}}  {MARK}\n",
        ),
        path="workloads.pre.layout",
        message="embedding_loss_in_pp_split needs pp > 1",
    ),
    Case(
        "pretrain-embedding-loss-split-not-a-boolean",
        sc(
            "workloads:\n",
            "workloads:\n  pre:\n    kind: pretrain\n    model: llama-3.1-8b\n"
            "    tokens: 1T\n    deadline: 90 days\n    global_batch_tokens: 4M\n"
            f"    layout:\n      pp: 4\n      embedding_loss_in_pp_split: asym  {MARK}\n",
        ),
        path="workloads.pre.layout.embedding_loss_in_pp_split",
        message="boolean",
    ),
    Case(
        "rl-generator-unknown-field",
        sc(
            "    goodput: 0.9\n",
            f"    goodput: 0.9\n    generator:\n      tensor_parallel_size: 2  {MARK}\n",
        ),
        path="workloads.rl.generator.tensor_parallel_size",
        message="unknown field",
    ),
    Case(
        "rl-generator-memory-share-above-one",
        sc(
            "    goodput: 0.9\n",
            f"    goodput: 0.9\n    generator:\n      memory_utilization: 1.2  {MARK}\n",
        ),
        path="workloads.rl.generator.memory_utilization",
        message="less than or equal to 1",
    ),
    Case(
        "kv-across-sites-with-aggregated-prefill",
        {
            "scenario.yaml": edit(
                edit(SCENARIO, "  chat:\n", f"  chat:  {MARK}\n"),
                "    tokens_per_s_per_user: 30\n",
                "    tokens_per_s_per_user: 30\n    prefill: aggregated\n"
                "    disaggregate_across_sites: true\n",
            )
        },
        path="workloads.chat",
        message="disaggregate_across_sites needs prefill: disaggregated",
    ),
    Case(
        "tpot-percentile-out-of-range",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    tpot_percentile: p100  {MARK}\n",
        ),
        path="workloads.chat.tpot_percentile",
        message="'p100' is not a TPOT percentile: give mean, or p50 to p99.9",
    ),
    Case(
        "prompt-tokens-stdev-negative",
        sc(
            "    tokens_per_s_per_user: 30\n",
            "    tokens_per_s_per_user: 30\n    prefill: aggregated\n    tpot_percentile: p99\n"
            f"    prompt_tokens_stdev: -5  {MARK}\n",
        ),
        path="workloads.chat.prompt_tokens_stdev",
        message="greater than 0",
    ),
    Case(
        "prompt-tokens-stdev-without-percentile",
        {
            "scenario.yaml": edit(
                edit(SCENARIO, "  chat:\n", f"  chat:  {MARK}\n"),
                "    tokens_per_s_per_user: 30\n",
                "    tokens_per_s_per_user: 30\n    prompt_tokens_stdev: 100\n",
            )
        },
        path="workloads.chat",
        message="prompt_tokens_stdev sets the spread of the prompt stalls in a TPOT percentile",
    ),
    Case(
        "output-tokens-percentiles-bad-key",
        sc(
            "    tokens_per_s_per_user: 30\n",
            "    tokens_per_s_per_user: 30\n    prefill: aggregated\n    tpot_percentile: p99\n"
            f"    output_tokens_percentiles: {{p1: 20, q50: 400}}  {MARK}\n",
        ),
        path="workloads.chat.output_tokens_percentiles",
        message="'q50' is not a percentile of output lengths: give p0 (the shortest) to p100",
    ),
    Case(
        "output-tokens-percentiles-falling",
        sc(
            "    tokens_per_s_per_user: 30\n",
            "    tokens_per_s_per_user: 30\n    prefill: aggregated\n    tpot_percentile: p99\n"
            f"    output_tokens_percentiles: {{p50: 400, p10: 600}}  {MARK}\n",
        ),
        path="workloads.chat.output_tokens_percentiles",
        message="output tokens must not fall as the percentile rises: p10 600 > p50 400",
    ),
    Case(
        "output-tokens-percentiles-below-one-token",
        sc(
            "    tokens_per_s_per_user: 30\n",
            "    tokens_per_s_per_user: 30\n    prefill: aggregated\n    tpot_percentile: p99\n"
            "    output_tokens_percentiles:\n"
            f"      p1: 0.5  {MARK}\n"
            "      p50: 400\n",
        ),
        path="workloads.chat.output_tokens_percentiles.p1",
        message="greater than or equal to 1",
    ),
    Case(
        "output-tokens-percentiles-without-percentile",
        {
            "scenario.yaml": edit(
                edit(SCENARIO, "  chat:\n", f"  chat:  {MARK}\n"),
                "    tokens_per_s_per_user: 30\n",
                "    tokens_per_s_per_user: 30\n    prefill: aggregated\n"
                "    output_tokens_percentiles: {p1: 20, p50: 400}\n",
            )
        },
        path="workloads.chat",
        message="output_tokens_percentiles sets the output lengths of a TPOT percentile's tail",
    ),
    Case(
        "prefill-buckets-unsorted",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    prefill_buckets_tokens: [4096, 2048]  {MARK}\n",
        ),
        path="workloads.chat.prefill_buckets_tokens",
        message="buckets must be strictly ascending, e.g. [2048, 4096, 8192]; got [4096, 2048]",
    ),
    Case(
        "prefill-buckets-negative",
        sc(
            "    tokens_per_s_per_user: 30\n",
            "    tokens_per_s_per_user: 30\n    prefill_buckets_tokens:\n      - 2048\n"
            f"      - -4096  {MARK}\n",
        ),
        path="workloads.chat.prefill_buckets_tokens[1]",
        message="greater than 0",
    ),
    Case(
        "prefill-buckets-not-whole",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    prefill_buckets_tokens: [2048.5]  {MARK}\n",
        ),
        path="workloads.chat.prefill_buckets_tokens[0]",
        message="whole number",
    ),
    Case(
        "prefill-buckets-empty",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    prefill_buckets_tokens: []  {MARK}\n",
        ),
        path="workloads.chat.prefill_buckets_tokens",
        message="give at least one bucket",
    ),
    Case(
        "prefill-buckets-with-prompt-cache",
        {
            "scenario.yaml": edit(
                edit(SCENARIO, "  chat:\n", f"  chat:  {MARK}\n"),
                "    tokens_per_s_per_user: 30\n",
                "    tokens_per_s_per_user: 30\n    prefill_buckets_tokens: [2048]\n"
                "    prompt_cache_hit: 0.5\n",
            )
        },
        path="workloads.chat",
        message="prefill_buckets_tokens with prompt_cache_hit is not modelled",
    ),
    Case(
        "tpot-percentile-bare-number",
        sc(
            "    tokens_per_s_per_user: 30\n",
            f"    tokens_per_s_per_user: 30\n    tpot_percentile: '99'  {MARK}\n",
        ),
        path="workloads.chat.tpot_percentile",
        message="'99' is not a TPOT percentile",
    ),
    Case(
        "chunked-context-off-with-disaggregated-prefill",
        {
            "scenario.yaml": edit(
                edit(SCENARIO, "  chat:\n", f"  chat:  {MARK}\n"),
                "    tokens_per_s_per_user: 30\n",
                "    tokens_per_s_per_user: 30\n    chunked_context: false\n",
            )
        },
        path="workloads.chat",
        message="chunked_context: false is for prefill: aggregated",
    ),
    Case(
        "typo-top-level-key",
        sc('description: "tiny scenario for bad-input tests"', f'descripton: "tiny"  {MARK}'),
        path="descripton",
        message="unknown field",
    ),
    Case(
        "typo-workload-key",
        sc("    output_tokens: 500", f"    output_tokenz: 500  {MARK}"),
        path="workloads.chat.output_tokenz",
        message="unknown field",
    ),
    Case(
        "string-where-number",
        sc("    output_tokens: 500", f"    output_tokens: lots  {MARK}"),
        path="workloads.chat.output_tokens",
        message="expected a whole number, got the text 'lots'",
    ),
    Case(
        "boolean-where-number",
        sc("    output_tokens: 500", f"    output_tokens: true  {MARK}"),
        path="workloads.chat.output_tokens",
        message="expected a whole number, got true",
    ),
    Case(
        "boolean-where-zero-allowed",
        {
            "topo.yaml": edit(
                TOPOLOGY,
                "{max_units: 200}\nlinks",
                f"{{max_units: 200, owned: false}}  {MARK}\nlinks",
            )
        },
        file="topo.yaml",
        path="datacenters.dc-b.systems.hgx-h100.owned",
        message="expected a whole number, got false",
    ),
    Case(
        "quoted-number",
        sc("    tokens_per_s_per_user: 30", f"    tokens_per_s_per_user: '30'  {MARK}"),
        path="workloads.chat.tokens_per_s_per_user",
        message="expected a number, got the text '30'",
    ),
    Case(
        "infinite-duration",
        sc("  horizon: 365 days", f"  horizon: 1e999 days  {MARK}"),
        path="economics.horizon",
        message="too large",
    ),
    Case(
        "string-where-count",
        sc("    requests_per_day: 1M", f"    requests_per_day: many  {MARK}"),
        path="workloads.chat.requests_per_day",
        message="cannot read 'many' as a number",
    ),
    Case(
        "null-where-number",
        sc("    output_tokens: 500", f"    output_tokens:  {MARK}"),
        path="workloads.chat.output_tokens",
        message="expected a whole number, got an empty value",
    ),
    Case(
        "negative-number",
        sc("    requests_per_day: 1M", f"    requests_per_day: -5  {MARK}"),
        path="workloads.chat.requests_per_day",
        message="greater than 0",
    ),
    Case(
        "zero-where-positive",
        sc("    output_tokens: 500", f"    output_tokens: 0  {MARK}"),
        path="workloads.chat.output_tokens",
        message="greater than 0",
    ),
    Case(
        "missing-required-field",
        {
            "scenario.yaml": edit(
                edit(SCENARIO, "    output_tokens: 500\n", ""), "  chat:", f"  chat:  {MARK}"
            )
        },
        path="workloads.chat.output_tokens",
        message="missing",
    ),
    Case(
        "missing-top-level-section",
        {
            "scenario.yaml": edit(
                edit(SCENARIO, "economics:\n  horizon: 365 days\n  pricing: amortised\n", ""),
                'description: "tiny scenario for bad-input tests"',
                f'description: "tiny"  {MARK}',
            )
        },
        path="economics",
        message="missing",
    ),
    Case(
        "unknown-workload-kind",
        sc("    kind: inference", f"    kind: inferense  {MARK}"),
        path="workloads.chat.kind",
        message="'inferense'",
    ),
    Case(
        "missing-workload-kind",
        {
            "scenario.yaml": edit(
                edit(SCENARIO, "    kind: inference\n", ""), "  chat:", f"  chat:  {MARK}"
            )
        },
        path="workloads.chat.kind",
        message="missing",
    ),
    Case(
        "bad-workload-name",
        sc("  chat:", f"  my chat:  {MARK}"),
        path="workloads.my chat",
        message="name",
    ),
    Case(
        "bad-precision",
        sc("    precision: fp8", f"    precision: fp6  {MARK}"),
        path="workloads.chat.precision",
        message="fp8",
    ),
    Case(
        "unknown-model",
        sc("    model: llama-3.1-8b", f"    model: llama-9b  {MARK}"),
        path="workloads.chat.model",
        message="unknown model 'llama-9b'",
    ),
    Case(
        "unknown-rl-policy",
        sc("    policy: llama-3.1-8b", f"    policy: llama-9b  {MARK}"),
        path="workloads.rl.policy",
        message="unknown model 'llama-9b'",
    ),
    Case(
        "kept-fraction-above-one",
        sc("    kept_fraction: 0.5", f"    kept_fraction: 1.5  {MARK}"),
        path="workloads.rl.kept_fraction",
        message="less than or equal to 1",
    ),
    Case(
        "wrong-dimension-unit-deadline",
        sc("    deadline: 30 days", f"    deadline: 80 GB  {MARK}"),
        path="workloads.rl.deadline",
        message="'GB' is a bytes unit",
    ),
    Case(
        "bare-number-horizon",
        sc("  horizon: 365 days", f"  horizon: 365  {MARK}"),
        path="economics.horizon",
        message="missing unit",
    ),
    Case(
        "unknown-pricing",
        sc("  pricing: amortised", f"  pricing: amortized  {MARK}"),
        path="economics.pricing",
        message="'amortised'",
    ),
    Case(
        "unknown-topology-preset",
        sc("topology: topo.yaml", f"topology: multi-dcc  {MARK}"),
        path="topology",
        message="neither a topology preset nor a file",
    ),
    Case(
        "missing-topology-file",
        sc("topology: topo.yaml", f"topology: sites.yaml  {MARK}"),
        path="topology",
        message="not found",
    ),
    Case(
        "topology-unknown-system",
        topo(
            "      hgx-h100: {max_units: 200}\n    cpu_servers",
            f"      hgx-h999: {{max_units: 200}}  {MARK}\n    cpu_servers",
        ),
        file="topo.yaml",
        path="datacenters.dc-a.systems.hgx-h999",
        message="unknown system 'hgx-h999'",
    ),
    Case(
        "topology-cpu-server-unknown",
        topo(
            "    cpu_servers: {system: cpu-server, max_units: 100}",
            f"    cpu_servers: {{system: cpu-srv, max_units: 100}}  {MARK}",
        ),
        file="topo.yaml",
        path="datacenters.dc-a.cpu_servers.system",
        message="unknown system 'cpu-srv'",
    ),
    Case(
        "link-to-unknown-datacenter",
        {
            "topo.yaml": edit(TOPOLOGY, "  - {a: dc-a, b: dc-b,", "  - {a: dc-a, b: dc-c,").replace(
                "cost_usd_per_tb: 1.0}", f"cost_usd_per_tb: 1.0}}  {MARK}"
            )
        },
        file="topo.yaml",
        path="links[0].b",
        message="unknown datacenter 'dc-c'",
    ),
    Case(
        "self-link",
        topo("  - {a: dc-a, b: dc-b,", "  - {a: dc-a, b: dc-a,"),
        file="topo.yaml",
        path="links[0].b",
        message="both ends are 'dc-a'",
        line=len(TOPOLOGY.splitlines()),  # the link is the last line
    ),
    Case(
        "duplicate-link",
        {
            "topo.yaml": TOPOLOGY
            + f"  - {{a: dc-b, b: dc-a, capacity: 1 Tbps, latency: 5 ms, cost_usd_per_tb: 1}}  {MARK}\n"
        },
        file="topo.yaml",
        path="links[1]",
        message="second link between",
    ),
    Case(
        "negative-power-cap",
        topo("  dc-a:\n    power_cap: 20 MW", f"  dc-a:\n    power_cap: -20 MW  {MARK}"),
        file="topo.yaml",
        path="datacenters.dc-a.power_cap",
        message="greater than 0",
    ),
    Case(
        "negative-power-cap-in-topology-changes",
        sc(
            "economics:\n",
            f"topology_changes:\n  datacenters:\n    dc-b:\n      power_cap: -5 MW  {MARK}\neconomics:\n",
        ),
        path="topology_changes.datacenters.dc-b.power_cap",
        message="greater than 0",
    ),
    Case(
        "typo-in-topology-changes",
        sc(
            "economics:\n",
            f"topology_changes:\n  datacenters:\n    dc-b:\n      power_capp: 5 MW  {MARK}\neconomics:\n",
        ),
        path="topology_changes.datacenters.dc-b.power_capp",
        message="unknown field",
    ),
    Case(
        "power-without-unit",
        topo("  dc-a:\n    power_cap: 20 MW", f"  dc-a:\n    power_cap: 100  {MARK}"),
        file="topo.yaml",
        path="datacenters.dc-a.power_cap",
        message="missing unit",
    ),
    Case(
        "bad-unit-power",
        topo("  dc-b:\n    power_cap: 20 MW", f"  dc-b:\n    power_cap: 100 kg  {MARK}"),
        file="topo.yaml",
        path="datacenters.dc-b.power_cap",
        message="unknown power unit 'kg'",
    ),
    Case(
        "owned-above-max",
        {
            "topo.yaml": edit(
                TOPOLOGY,
                "      hgx-h100: {max_units: 200}\nlinks",
                f"      hgx-h100: {{max_units: 200, owned: 300}}  {MARK}\nlinks",
            )
        },
        file="topo.yaml",
        path="datacenters.dc-b.systems.hgx-h100",
        message="cannot exceed max_units",
    ),
    Case(
        "yaml-syntax-error",
        sc("    output_tokens: 500", f"    output_tokens: 500: 3  {MARK}"),
        message="YAML syntax error",
    ),
    Case(
        "yaml-unclosed-bracket",
        sc("    economics: {pricing: rental}", f"    economics: {{pricing: rental  {MARK}"),
        # PyYAML notices at the end of the file; the message names the line the bracket opened.
        message="YAML syntax error: expected ',' or '}}', but got '<stream end>' "
        "(while parsing a flow mapping from line {mark})",
        line=len(SCENARIO.splitlines()) + 1,
    ),
    Case(
        "yaml-tab-indent",
        sc("    output_tokens: 500", f"\toutput_tokens: 500  {MARK}"),
        message="YAML syntax error: found character '\\t' that cannot start any token (indent with spaces",
    ),
    Case(
        "topology-changes-unknown-system",
        sc(
            "economics:\n",
            f"topology_changes:\n  datacenters:\n    dc-b:\n      systems:\n        hgx-h999: {{max_units: 1}}  {MARK}\neconomics:\n",
        ),
        path="topology_changes.datacenters.dc-b.systems.hgx-h999",
        message="unknown system 'hgx-h999'",
    ),
    Case(
        "topology-option-unknown-preset",
        file="<--topology>",
        args=("--topology", "nonesuch"),
        path="topology",
        message="neither a topology preset nor a file",
        line=0,
    ),
    Case("empty-file", {"scenario.yaml": ""}, message="empty", line=1),
    Case("comments-only-file", {"scenario.yaml": "# nothing yet\n"}, message="empty", line=1),
    Case(
        "duplicate-key",
        sc("    output_tokens: 500\n", f"    output_tokens: 500\n    output_tokens: 600  {MARK}\n"),
        path="workloads.chat.output_tokens",
        message="duplicate key",
    ),
    Case(
        "top-level-list",
        {"scenario.yaml": "- topology: multi-dc\n- workloads: {}\n"},
        message="expected a mapping",
        line=1,
    ),
    Case(
        "workloads-is-a-list",
        {
            "scenario.yaml": SCENARIO.split("workloads:")[0]
            + f"workloads: [chat]  {MARK}\noverrides:"
            + SCENARIO.split("overrides:")[1]
        },
        path="workloads",
        message="expected a mapping (`key: value` lines), got a list",
    ),
    # qa27b: a user's hand-written slips, each with the suggestion a reader would make.
    Case(
        "site-typo-in-topology-changes",
        sc(
            "overrides:\n",
            f"topology_changes:\n  datacenters:\n    dc-aa:  {MARK}\n      power_cap: 5 MW\noverrides:\n",
        ),
        path="topology_changes.datacenters.dc-aa",
        message="'dc-aa' is not a datacenter of topology 'topo.yaml' (its datacenters: dc-a, dc-b),"
        " so this adds a new one, which needs electricity_usd_per_kwh, pue; did you mean 'dc-a'",
    ),
    Case(
        "kind-typo",
        sc("    kind: inference\n", f"    kind: inferance  {MARK}\n"),
        path="workloads.chat.kind",
        message="did you mean 'inference'?",
    ),
    Case(
        "precision-upper-case",
        sc("    precision: fp8\n", f"    precision: FP8  {MARK}\n"),
        path="workloads.chat.precision",
        message="got 'FP8'; did you mean 'fp8'?",
    ),
    Case(
        "pricing-us-spelling",
        sc("  pricing: amortised\n", f"  pricing: amortized  {MARK}\n"),
        path="economics.pricing",
        message="got 'amortized'; did you mean 'amortised'?",
    ),
    Case(
        "rate-as-percent",
        sc("  pricing: amortised\n", f"  pricing: amortised\n  cost_of_capital: 150%  {MARK}\n"),
        path="economics.cost_of_capital",
        message="got the text '150%': write a share as a fraction (1.5)",
    ),
    Case(
        "negative-demand-says-its-value",
        sc("    requests_per_day: 1M\n", f"    requests_per_day: -1M  {MARK}\n"),
        path="workloads.chat.requests_per_day",
        message="greater than 0, got -1M",
    ),
    Case(
        "no-such-day",
        sc("  pricing: amortised\n", f"  pricing: amortised\n  start_date: 2026-02-30  {MARK}\n"),
        path="economics.start_date",
        message="'2026-02-30' is no calendar date: day is out of range for month",
    ),
    Case(
        "economics-as-text",
        sc(
            "economics:\n  horizon: 365 days\n  pricing: amortised\n",
            f"economics: 365 days  {MARK}\n",
        ),
        path="economics",
        message="expected a mapping (`key: value` lines), got the text '365 days'",
    ),
    Case("missing-file", absent=("scenario.yaml",), message="file not found", line=0),
    Case(
        "unknown-override-name",
        sc("overrides:", f"overrides:  {MARK}"),
        args=("--scenario", "rentl"),
        path="overrides",
        message="no override named 'rentl'",
    ),
    Case(
        "bad-value-inside-override",
        sc(
            "    economics: {pricing: rental}",
            f"    workloads:\n      chat:\n        output_tokens: -1  {MARK}",
        ),
        args=("--scenario", "rental"),
        path="workloads.chat.output_tokens",
        message="greater than 0",
    ),
    Case(
        "typo-inside-override",
        sc("    economics: {pricing: rental}", f"    economics:\n      pricingg: rental  {MARK}"),
        args=("--scenario", "rental"),
        path="economics.pricingg",
        message="unknown field",
    ),
    Case(
        "set-without-equals",
        file="<--set workloads.chat.output_tokens>",
        args=("--set", "workloads.chat.output_tokens"),
        message="expected path.to.field=value",
        line=0,
    ),
    Case(
        "set-unknown-field",
        file="<--set workloads.chat.output_tokenz=5>",
        args=("--set", "workloads.chat.output_tokenz=5"),
        path="workloads.chat.output_tokenz",
        message="unknown field",
        line=0,
    ),
    Case(
        "set-bad-value",
        file="<--set economics.horizon=80 GB>",
        args=("--set", "economics.horizon=80 GB"),
        path="economics.horizon",
        message="'GB' is a bytes unit",
        line=0,
    ),
    Case(
        "set-unreadable-yaml",
        file="<--set economics.horizon=[1>",
        args=("--set", "economics.horizon=[1"),
        path="economics.horizon",
        message="cannot read the value as YAML: expected ',' or ']', but got '<stream end>'",
        line=0,
    ),
    Case(
        "set-into-topology-changes",
        file="<--set topology_changes.datacenters.dc-b.power_cap=5 kg>",
        args=("--set", "topology_changes.datacenters.dc-b.power_cap=5 kg"),
        path="topology_changes.datacenters.dc-b.power_cap",
        message="unknown power unit 'kg'",
        line=0,
    ),
    Case(
        "catalog-overlay-typo",
        cat("    capex_usd: 250000", f"    capex_usdd: 250000  {MARK}"),
        file="prices.yaml",
        path="systems.hgx-h100.capex_usdd",
        message="unknown field",
    ),
    Case(
        "catalog-overlay-unknown-accelerator",
        cat("    capex_usd: 250000", f"    accelerator: h999  {MARK}"),
        file="prices.yaml",
        path="systems.hgx-h100.accelerator",
        message="unknown accelerator 'h999'",
    ),
    Case(
        "catalog-overlay-bad-unit",
        cat("    capex_usd: 250000", f"    power: 10 kWh  {MARK}"),
        file="prices.yaml",
        path="systems.hgx-h100.power",
        message="unknown power unit",
    ),
    Case(
        "catalog-model-vocab-zero",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG + f"models:\n  llama-3.1-8b:\n    vocab: 0  {MARK}\n",
        },
        file="prices.yaml",
        path="models.llama-3.1-8b.vocab",
        message="greater than 0",
    ),
    Case(
        "catalog-model-vocab-beyond-active",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG + f"models:\n  llama-3.1-8b:  {MARK}\n    vocab: 10000000\n",
        },
        file="prices.yaml",
        path="models.llama-3.1-8b",
        message="must be fewer than the active parameters",
    ),
    Case(
        "catalog-sustained-clock-fraction-zero",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG
            + f"accelerators:\n  mi350x:\n    sustained_clock_fraction: 0  {MARK}\n",
        },
        file="prices.yaml",
        path="accelerators.mi350x.sustained_clock_fraction",
        message="greater than 0",
    ),
    Case(
        "catalog-sustained-clock-fraction-above-one",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG
            + f"accelerators:\n  h100-sxm:\n    sustained_clock_fraction: 1.2  {MARK}\n",
        },
        file="prices.yaml",
        path="accelerators.h100-sxm.sustained_clock_fraction",
        message="less than or equal to 1",
    ),
    Case(
        "catalog-rl-refit-bandwidth-zero",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG
            + f"accelerators:\n  h100-sxm:\n    rl:\n      refit_bandwidth: 0 GB/s  {MARK}\n",
        },
        file="prices.yaml",
        path="accelerators.h100-sxm.rl.refit_bandwidth",
        message="greater than 0",
    ),
    Case(
        "catalog-rl-sync-overhead-negative",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG
            + f"accelerators:\n  h100-sxm:\n    rl:\n      sync_overhead: -1 s  {MARK}\n",
        },
        file="prices.yaml",
        path="accelerators.h100-sxm.rl.sync_overhead",
        message="greater than or equal to 0",
    ),
    Case(
        "catalog-sustained-clock-fraction-not-a-number",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG
            + f"accelerators:\n  mi350x:\n    sustained_clock_fraction: high  {MARK}\n",
        },
        file="prices.yaml",
        path="accelerators.mi350x.sustained_clock_fraction",
        message="expected a number, got the text 'high'",
    ),
    Case(
        "catalog-gemm-half-width-negative-in-mapping",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG
            + "accelerators:\n  h100-sxm:\n    training:\n"
            + f"      gemm_half_width: {{bf16: 140, fp16: 140, fp8: -5}}  {MARK}\n",
        },
        file="prices.yaml",
        path="accelerators.h100-sxm.training.gemm_half_width.fp8",
        message="greater than 0",
    ),
    Case(
        "catalog-gemm-half-width-zero",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG
            + f"accelerators:\n  h100-sxm:\n    training:\n      gemm_half_width: 0  {MARK}\n",
        },
        file="prices.yaml",
        path="accelerators.h100-sxm.training.gemm_half_width",
        message="greater than 0",
    ),
    Case(
        "catalog-gemm-half-width-missing-a-precision",
        {
            "scenario.yaml": WITH_CATALOG,
            # trainium2 ships one number: a mapping replaces it and must cover bf16, fp16, fp8
            "prices.yaml": CATALOG
            + "accelerators:\n  trainium2:\n    training:\n"
            + f"      gemm_half_width: {{bf16: 140}}  {MARK}\n",
        },
        file="prices.yaml",
        path="accelerators.trainium2.training.gemm_half_width",
        message="no value for fp16, fp8 (a precision of gemm_efficiency)",
    ),
    Case(
        "catalog-gemm-half-width-not-a-number",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG
            + "accelerators:\n  h100-sxm:\n    training:\n"
            + f"      gemm_half_width: {{fp8: wide}}  {MARK}\n",
        },
        file="prices.yaml",
        path="accelerators.h100-sxm.training.gemm_half_width.fp8",
        message="expected a number, got the text 'wide'",
    ),
    Case(
        "catalog-expert-gemm-fraction-above-one",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG
            + "accelerators:\n  h100-sxm:\n    training:\n"
            + f"      expert_gemm_fraction: {{fp8: 1.5}}  {MARK}\n",
        },
        file="prices.yaml",
        path="accelerators.h100-sxm.training.expert_gemm_fraction.fp8",
        message="less than or equal to 1",
    ),
    Case(
        "catalog-expert-gemm-fraction-at-an-untrained-precision",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG
            + "accelerators:\n  h100-sxm:\n    training:\n"
            + f"      expert_gemm_fraction: {{fp8: 0.35, fp4: 0.5}}  {MARK}\n",
        },
        file="prices.yaml",
        path="accelerators.h100-sxm.training.expert_gemm_fraction",
        message="fp4 is not a precision of gemm_efficiency (bf16, fp16, fp8)",
    ),
    Case(
        "catalog-model-mtp-without-vocab",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG + f"models:\n  gpt-3-175b:  {MARK}\n    mtp_layers: 1\n",
        },
        file="prices.yaml",
        path="models.gpt-3-175b",
        message="mtp_layers needs vocab",
    ),
    Case(
        "missing-catalog-file",
        {
            "scenario.yaml": edit(
                SCENARIO,
                "topology: topo.yaml\n",
                f"topology: topo.yaml\ncatalog: [nope.yaml]  {MARK}\n",
            )
        },
        path="catalog[0]",
        message="not found",
    ),
    Case(
        "catalog-model-every-layer-banded",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG + SWA_MODEL.format(window=f"{{tokens: 128, layers: 4}}  {MARK}"),
        },
        file="prices.yaml",
        path="models.tiny-swa.sliding_window",
        message="sliding_window.layers (4) must be fewer than the model's layers (4)",
    ),
    Case(
        "catalog-model-window-of-no-tokens",
        {
            "scenario.yaml": WITH_CATALOG,
            "prices.yaml": CATALOG
            + SWA_MODEL.format(window=f"\n      tokens: 0  {MARK}\n      layers: 2"),
        },
        file="prices.yaml",
        path="models.tiny-swa.sliding_window.tokens",
        message="greater than 0",
    ),
    Case(
        "several-problems-together",
        {"scenario.yaml": two_problem_lines()},
        path="descripton",
        message="unknown field",
        line=1,
        more=(
            ("scenario.yaml", "    output_tokens: lots", "workloads.chat.output_tokens"),
            ("scenario.yaml", "  pricing: amortized", "economics.pricing"),
        ),
    ),
]


def write_case(tmp_path: Path, case: Case) -> Path:
    files = {"scenario.yaml": SCENARIO, "topo.yaml": TOPOLOGY, **case.files}
    for name, text in files.items():
        if name not in case.absent:
            (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path / "scenario.yaml"


def expected_line(tmp_path: Path, case: Case) -> int | None:
    if case.line == 0:
        return None
    if case.line is not None:
        return case.line
    return marked_line((tmp_path / case.file).read_text(encoding="utf-8"))


def assert_reported(err: str, file: str, line: int | None, path: str, message: str) -> None:
    where = re.escape(file) + (f":{line}:" if line is not None else r"(:\d+)?:")
    field = f" {re.escape(path)}:" if path else ""
    pattern = rf"(^|[/\\]){where}{field} .*{re.escape(message)}"
    assert re.search(pattern, err, re.MULTILINE), f"expected {pattern!r} in:\n{err}"


def test_base_scenario_is_valid(tmp_path: Path, capsys) -> None:
    path = write_case(tmp_path, Case("base"))
    assert cli.main(["validate", str(path)]) == 0, capsys.readouterr().err
    (tmp_path / "scenario.yaml").write_text(WITH_CATALOG, encoding="utf-8")
    (tmp_path / "prices.yaml").write_text(CATALOG, encoding="utf-8")
    assert cli.main(["validate", str(path), "--scenario", "rental"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_reported_with_file_line_and_field(tmp_path: Path, capsys, case: Case) -> None:
    path = write_case(tmp_path, case)
    code = cli.main(["validate", str(path), *case.args])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "Traceback" not in out + err
    assert "in the input." in err
    text = (tmp_path / "scenario.yaml").read_text(encoding="utf-8") if path.exists() else ""
    message = case.message.format(mark=marked_line(text) if MARK in text else None)
    assert_reported(err, case.file, expected_line(tmp_path, case), case.path, message)
    for file, text, field_path in case.more:
        lines = (tmp_path / file).read_text(encoding="utf-8").splitlines()
        line = next(i + 1 for i, ln in enumerate(lines) if ln.startswith(text))
        assert_reported(err, file, line, field_path, "")


def test_several_problems_are_reported_on_distinct_lines(tmp_path: Path, capsys) -> None:
    path = write_case(tmp_path, Case("several", {"scenario.yaml": two_problem_lines()}))
    assert cli.main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    lines = set(re.findall(r"scenario\.yaml:(\d+):", err))
    assert len(lines) >= 3, err
    assert "3 problems in the input" in err


def test_plan_on_bad_file_exits_1_without_traceback(tmp_path: Path, capsys) -> None:
    case = CASES[[c.id for c in CASES].index("string-where-number")]
    path = write_case(tmp_path, case)
    assert cli.main(["plan", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert_reported(err, "scenario.yaml", expected_line(tmp_path, case), case.path, case.message)


def test_debug_raises_for_a_traceback(tmp_path: Path) -> None:
    case = CASES[[c.id for c in CASES].index("unknown-model")]
    path = write_case(tmp_path, case)
    with pytest.raises(ConfigError) as exc:
        cli.main(["--debug", "validate", str(path)])
    assert "workloads.chat.model" in str(exc.value)


def test_a_user_accelerator_without_the_sync_figures_names_them(tmp_path: Path, capsys) -> None:
    """A user catalog's own accelerator written before rlsync (an rl: block without
    refit_bandwidth and sync_overhead, e.g. h100-sxm's block copied) is told which two fields its
    rl: block lacks, with the file and line (review20b: no default, the figures are per part)."""
    lines = (Path(__file__).parents[1] / "hardware/data/accelerators.yaml").read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("  h100-sxm:"))
    end = next(i for i in range(start + 1, len(lines)) if re.match(r"  \S", lines[i]))
    block = [
        ln for ln in lines[start:end] if "refit_bandwidth" not in ln and "sync_overhead" not in ln
    ]
    block[0] = "  my-h100:"
    catalog = "accelerators:\n" + "\n".join(block) + "\n"
    path = write_case(
        tmp_path, Case("old-rl", {"scenario.yaml": WITH_CATALOG, "prices.yaml": catalog})
    )
    assert cli.main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    line = next(i + 1 for i, ln in enumerate(catalog.splitlines()) if ln == "    rl:")
    for name in ("refit_bandwidth", "sync_overhead"):
        assert_reported(err, "prices.yaml", line, f"accelerators.my-h100.rl.{name}", "missing")


def test_api_scenario_argument_is_a_path_or_name_else_a_config_error() -> None:
    """planner.solve takes a scenario's name as load_scenario does (it was an AttributeError
    traceback); a loaded Scenario given to compare or sweep, or a grid that is not a mapping, is a
    ConfigError naming the call and the argument (they were "file not found" of the Scenario's
    repr, every sweep point failing, and a ValueError)."""
    import planner

    plan = planner.solve("rl-verifiers")
    assert plan.total_cost_usd == pytest.approx(
        planner.solve(planner.load_scenario("rl-verifiers")).total_cost_usd
    )
    # typed Any: the calls below pass what their signatures do not take, on purpose
    sc: Any = planner.load_scenario("rl-verifiers")
    three: Any = 3
    text: Any = "abc"
    cases = [
        (lambda: planner.solve(three), "<planner.solve>: scenario: "),
        (lambda: planner.compare(sc, ["nvl72-campus"]), "<planner.compare>: scenario: "),
        (
            lambda: planner.sweep(sc, {"economics.pricing": ["rental"]}),
            "<planner.sweep>: scenario: ",
        ),
        (lambda: planner.sweep("rl-verifiers", text), "<planner.sweep>: grid: "),
        # a bare string where a list belongs was iterated letter by letter (overrides 'r',
        # 'e', ..., topologies 'n', 'v', ...)
        (lambda: planner.compare("rl-verifiers", text), "<planner.compare>: topologies: "),
        (lambda: planner.sweep("rl-verifiers", None, text), "<planner.sweep>: scenarios: "),
        (
            lambda: planner.load_scenario("rl-verifiers", scenarios=text),
            "<planner.load_scenario>: scenarios: ",
        ),
        (
            lambda: planner.load_scenario("rl-verifiers", sets=text),
            "<planner.load_scenario>: sets: ",
        ),
        (lambda: sc.override(text), "<Scenario.override>: values: "),
        (lambda: sc.override(None, text), "<Scenario.override>: scenarios: "),
    ]
    for call, where in cases:
        with pytest.raises(planner.ConfigError) as err:
            call()
        assert str(err.value).startswith(where), str(err.value)


def test_a_horizon_past_a_century_echoes_the_years_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The limit divided by 365.25-day years while "1 year" reads as 365 days: 1000 years was
    told "999 years is longer than the planner plans"."""
    assert cli.main(["validate", "frontier-lab", "--set", "economics.horizon=1000 years"]) == 1
    err = capsys.readouterr().err
    assert "economics.horizon: 1,000 years is longer than the planner plans" in err, err
    assert cli.main(["validate", "frontier-lab", "--set", "economics.horizon=100 years"]) == 0
