"""Documentation stays in step with the code: the generated blocks (constraint families and
verification rules in docs/lp.md, the plan JSON keys in the README, the scenario reference, the
command-line reference docs/cli.md; regenerate with `python -m planner.docgen`), and what the
hand-written text states that a test can check cheaply: every `planner` command line parses,
every option named exists and every option is named, every output key and column is described,
the figures quoted for the shipped plans are the golden plans', code pointers resolve."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import click
import pytest

from planner.docgen import BLOCKS, render
from planner.kinds import KINDS
from planner.lp.model import families_in_order
from planner.plan import TABLES, Plan

ROOT = Path(__file__).resolve().parent.parent


def _golden_plan(name: str) -> dict[str, Any]:
    """A golden plan's JSON (tests/golden/NAME.json), the plan the code makes today."""
    import json

    path = ROOT / "tests" / "golden" / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("path", sorted(BLOCKS), ids=lambda p: p.name)
def test_generated_blocks_are_current(path: Path) -> None:
    assert path.read_text(encoding="utf-8") == render(path), "run: python -m planner.docgen"


def test_lp_doc_names_every_registered_family_exactly() -> None:
    text = (ROOT / "docs" / "lp.md").read_text(encoding="utf-8")
    named = re.findall(r"^- `([a-z_]+):[a-z_:\[\]0-9]+`", text, flags=re.MULTILINE)
    assert named == [f.name for f in families_in_order(list(KINDS))]


def _bare_plan() -> Plan:
    """A plan with every always-present key and no row."""
    return Plan.from_dict(
        {
            "status": "optimal",
            "scenario": "x",
            "total_cost_usd": 0.0,
            "lower_bound_usd": 0.0,
            "lp_relaxation_usd": 0.0,
            "gap": 0.0,
            "left_out": [],
            "solver": {
                "name": "highs",
                "method": "choose",
                "mip_gap_target": 0.01,
                "variables": 0,
                "constraints": 0,
                "proof": "mip",
            },
            **{name: [] for name in TABLES},
        }
    )


def test_readme_plan_keys_are_the_json_keys() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- plan-keys:begin -->")[1].split("<!-- plan-keys:end -->")[0]
    keys = re.findall(r"^\| `([a-z_]+)` \|", block, flags=re.MULTILINE)
    assert sorted(keys) == sorted(_bare_plan().to_dict())


def test_readme_names_every_key_a_plan_json_may_add() -> None:
    """The keys present only for some plans (--value-limits, model sizing, solver notes,
    training jobs, a discount rate, after_horizon ends) are each described in README's "Plan JSON" section."""
    import dataclasses

    bare = _bare_plan()
    full = dataclasses.replace(
        bare,
        limit_values=[],
        sizing=[],
        solver_notes=["a note"],
        pretrain_jobs=[],
        rl_jobs=[],
        present_value=[],
        economics={"after_horizon": "ends"},
    )
    optional = set(full.to_dict()) - set(bare.to_dict())
    assert {"limit_values", "sizing", "solver_notes", "present_value", "after_horizon"} <= optional
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Plan JSON", 1)[1].split("\n### ", 1)[0]
    assert sorted(k for k in optional if f"`{k}`" not in section) == []


# -- command lines in the docs: each one parses with the CLI as it is ---------------------------
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Flags of other tools that the docs quote (the runs the planner's figures were checked on).
OTHER_TOOLS_FLAGS = {
    "--setperfdeterminism": "rocm-smi (MLPerf submitters' pinned GPU clocks)",
    "--enable-bucketing": "NxD Inference / vLLM Neuron",
    "--context-encoding-buckets": "NxD Inference / vLLM Neuron",
    "--max-context-length": "NxD Inference / vLLM Neuron",
    "--overlap-moe-expert-parallel-comm": "Megatron-LM",
}


def _command_lines(text: str) -> list[tuple[int, str, bool]]:
    """(line, command, in a code block) for every `planner ...` command: lines of code blocks
    (joined over `\\` continuations) and inline code spans in prose (which may only name a
    command: `planner estimate inference`)."""
    found = []
    for block in re.finditer(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M):
        first = text[: block.start()].count("\n") + 2
        lines = block.group(1).split("\n")
        i = 0
        while i < len(lines):
            start, line = i, lines[i]
            indent = len(line) - len(line.lstrip())
            while i + 1 < len(lines) and (
                line.rstrip().endswith("\\")
                # a usage line wrapped without `\\`: the next line indented further
                or (
                    re.match(r"\s*planner\s", lines[start])
                    and len(lines[i + 1]) - len(lines[i + 1].lstrip()) > indent
                    and not re.match(r"\s*(planner\s|#)", lines[i + 1])
                )
            ):
                i += 1
                line = line.rstrip().removesuffix("\\") + " " + lines[i]
            if re.match(r"\s*planner\s", line):
                found.append((first + start, line.strip(), True))
            i += 1
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    for span in re.finditer(r"`(planner [^`]*)`", prose):
        line = text[: text.find(span.group(0))].count("\n") + 1
        found.append((line, " ".join(span.group(1).split()), False))
    return found


def _words(line: str) -> list[str]:
    """The command's words, up to a comment, a pipe, a redirection or a second command."""
    import shlex

    words = []
    for word in shlex.split(line, comments=True):
        if word in {"|", ">", "&&", ";"}:
            break
        words.append(word)
    return words


def _options(ctx: click.Context) -> set[str]:
    """The command's option names, --help included."""
    params = ctx.command.get_params(ctx)
    return {o for p in params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}


@functools.cache
def _contexts_by_path() -> dict[tuple[str, ...], click.Context]:
    from planner.docgen import command_contexts

    return {tuple(ctx.command_path.split()[1:]): ctx for ctx in command_contexts()}


def _resolve(words: list[str]) -> tuple[list[click.Context], list[str]]:
    """The commands a synopsis names (`hardware list|show NAME` names two) and the words after."""
    by_path = _contexts_by_path()
    paths: list[tuple[str, ...]] = [()]
    rest = words[1:]
    while rest and not rest[0].startswith("-"):
        longer = [p + (alt,) for p in paths for alt in rest[0].split("|") if p + (alt,) in by_path]
        if not longer:
            break
        paths, rest = longer, rest[1:]
    return [by_path[p] for p in paths], rest


def _is_synopsis(words: list[str]) -> bool:
    """A usage line (`[--opt X]`, `a|b`, `...`, upper-case placeholders such as `NAME` or
    `F.png`) rather than a command to run."""
    return any(
        re.search(r"[\[|]|\.\.\.", w) or re.fullmatch(r"[A-Z][A-Z0-9_]*(\.[a-z]+)?", w)
        for w in words
    )


DOC_COMMANDS = [
    (path.name, line, command, runs)
    for path in DOC_FILES
    for line, command, runs in _command_lines(path.read_text(encoding="utf-8"))
]


def test_docs_quote_planner_commands() -> None:
    assert len(DOC_COMMANDS) > 50


@pytest.mark.parametrize(("name", "line", "command", "runs"), DOC_COMMANDS)
def test_documented_command_uses_only_options_its_command_has(
    name: str, line: int, command: str, runs: bool
) -> None:
    from cli import planner

    words = _words(command)
    contexts, rest = _resolve(words)
    given = {w.strip("[]").split("=")[0] for w in rest if w.strip("[]").startswith("-")}
    given = {g for g in given if re.fullmatch(r"--?[a-zA-Z][a-z0-9-]*", g)}
    known = set().union(*(_options(c) for c in contexts))
    assert given <= known, f"{name}: {command!r}: no such option {sorted(given - known)}"
    if not runs or _is_synopsis(words):
        return
    # A command to run: click parses it as the CLI would (types, choices, required options;
    # --version prints and exits 0 while parsing).
    try:
        ctx = planner.make_context("planner", words[1:])
        group: click.Command = planner
        args = [*ctx._protected_args, *ctx.args]
        while isinstance(group, click.Group) and args:
            sub_name, sub, args = group.resolve_command(ctx, args)
            assert sub is not None and sub_name is not None
            ctx = sub.make_context(sub_name, args, parent=ctx)
            group, args = sub, [*ctx._protected_args, *ctx.args]
    except click.exceptions.Exit as done:
        assert done.exit_code == 0


def test_every_option_the_docs_name_exists() -> None:
    """A `--flag` anywhere in README.md or docs/ is an option of a planner command, of a bench/
    script, or of another tool the docs say they quote."""
    from planner.docgen import command_contexts

    ours = set().union(*(_options(ctx) for ctx in command_contexts()))
    bench = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "bench").glob("*.py"))
    missing = []
    for path in DOC_FILES:
        for flag in sorted(
            set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", path.read_text(encoding="utf-8")))
        ):
            if flag not in ours and f'"{flag}"' not in bench and flag not in OTHER_TOOLS_FLAGS:
                missing.append(f"{path.name}: {flag}")
    assert missing == []


def test_readme_synopsis_names_every_option_of_every_command() -> None:
    """README's "Commands" block lists each command with all its options (the estimate
    subcommands' many model inputs are in docs/cli.md, which it points to)."""
    from planner.docgen import command_contexts

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Commands\n\n```\n", 1)[1].split("```", 1)[0]
    assert "docs/cli.md" in text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    named: dict[str, set[str]] = {}
    for _, command, _ in _command_lines(f"```\n{block}```\n"):
        contexts, rest = _resolve(_words(command))
        for ctx in contexts:
            named.setdefault(ctx.command_path, set()).update(w.strip("[]") for w in rest)
    missing = []
    for ctx in command_contexts():
        if isinstance(ctx.command, click.Group) or ctx.command_path.startswith("planner estimate"):
            continue
        for param in ctx.command.get_params(ctx):
            opts = [*param.opts, *param.secondary_opts]
            documented = set(opts) & named.get(ctx.command_path, set())
            if isinstance(param, click.Option) and "--help" not in opts and not documented:
                missing.append(f"{ctx.command_path} {opts[0]}")
    assert missing == []


def test_readme_scenario_example_uses_only_keys_and_values_the_schema_accepts() -> None:
    """README's scenario example elides some required fields (`...`), but every key and value it
    does write is one a scenario file may hold."""
    import jsonschema
    import yaml

    from planner.authoring import schemas

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    [example] = re.findall(r"^```yaml\n(.*?)^```", text, flags=re.S | re.M)
    data = yaml.safe_load(example)
    schema = schemas()["scenario"]
    spec = {"pretrain": "PretrainSpec", "inference": "InferenceSpec", "rl": "RLSpec"}
    errors = []
    for name, workload in data.pop("workloads").items():
        workload.pop("...", None)
        checker = jsonschema.Draft202012Validator(
            {"$ref": f"#/$defs/{spec[workload['kind']]}", "$defs": schema["$defs"]}
        )
        errors += [
            f"workloads.{name}: {e.message}"
            for e in checker.iter_errors(workload)
            if e.validator != "required"
        ]
    data["workloads"] = {"checked-above": {"kind": "inference"}}
    errors += [
        e.message
        for e in jsonschema.Draft202012Validator(schema).iter_errors(data)
        if list(e.path)[:1] != ["workloads"]
    ]
    assert errors == []


def test_readme_exit_code_130_is_what_an_interrupt_returns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import cli
    from planner.commands import validate

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(validate, "load_from_options", interrupted)
    assert "| 130 | interrupted (Ctrl-C): prints `aborted` |" in (ROOT / "README.md").read_text(
        encoding="utf-8"
    )
    assert cli.main(["validate", "frontier-lab"]) == 130
    assert capsys.readouterr().err.strip().endswith("aborted")


def test_every_command_help_has_examples_as_readme_says() -> None:
    """README: "Every command has `--help` with examples" (each example line is then checked
    by the command-line test above, through docs/cli.md)."""
    from planner.docgen import command_contexts

    assert "Every command has `--help` with examples" in (ROOT / "README.md").read_text(
        encoding="utf-8"
    )
    bare = [c.command_path for c in command_contexts() if "Example" not in c.command.get_help(c)]
    assert bare == []


def test_readme_names_every_compare_and_sweep_output() -> None:
    """The keys of `planner compare --json` columns and the columns of sweep.csv are each named
    in their README section (a discounted plan's two more included)."""
    import dataclasses

    from planner.comparison import plan_metrics
    from planner.rows import PresentValueRow
    from planner.sweeps import point_outputs

    weight = PresentValueRow(0, 0.0, 1.0, 0.1, 0.5, 0.95, 1.0, 0.95)
    discounted = dataclasses.replace(_bare_plan(), present_value=[weight])
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    sections = {
        "## Compare topologies": set(plan_metrics(discounted)),
        "## Sweeps and what-ifs": set(point_outputs(discounted)),
    }
    assert {"discount_rate", "nominal_cost_usd"} <= sections["## Sweeps and what-ifs"]
    missing = []
    for heading, keys in sections.items():
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        missing += [f"{heading}: {k}" for k in sorted(keys) if f"`{k}`" not in section]
    assert missing == []


def _scenario_models() -> dict[str, Any]:
    """Every pydantic model a scenario file's validation reaches, by name."""
    import inspect
    import typing

    from pydantic import BaseModel

    from planner.scenario import ScenarioData

    found: dict[str, Any] = {}

    def visit(annotation: object) -> None:
        model: Any = annotation
        if inspect.isclass(model) and issubclass(model, BaseModel) and model.__name__ not in found:
            found[model.__name__] = model
            for field in model.model_fields.values():
                visit(field.annotation)
        for arg in typing.get_args(annotation):
            visit(arg)

    visit(ScenarioData)
    return found


def test_scenario_reference_states_the_rules_of_every_model_with_validators() -> None:
    """A rule a validator checks (not a bound the schema carries) is stated in
    docs/scenario-reference.md, "Rules the tables cannot show", under its model's name."""
    text = (ROOT / "docs" / "scenario-reference.md").read_text(encoding="utf-8")
    section = text.split("## Rules the tables cannot show", 1)[1].split("\n## ", 1)[0]
    models = _scenario_models()
    assert {"InferenceSpec", "PretrainSpec", "RLSpec", "LayoutSpec"} <= set(models)
    checked = sorted(
        name
        for name, model in models.items()
        if model.__pydantic_decorators__.field_validators
        or model.__pydantic_decorators__.model_validators
    )
    assert [name for name in checked if f"- **{name}**" not in section] == []


def test_scenario_reference_rules_name_only_fields_their_model_has() -> None:
    """Each `name` a rule of "Rules the tables cannot show" writes under a model is a key of that
    model (by its YAML name), of a model one of its fields holds, or a value its schema allows
    (`moe`, `mean`) or a percentile key (`p0`): a renamed field leaves no stale rule."""
    import json
    import typing

    from pydantic import BaseModel

    text = (ROOT / "docs" / "scenario-reference.md").read_text(encoding="utf-8")
    section = text.split("## Rules the tables cannot show", 1)[1].split("\n## ", 1)[0]
    models = _scenario_models()

    def keys(model: type[BaseModel]) -> set[str]:
        return {f.alias or name for name, f in model.model_fields.items()}

    def held(annotation: object) -> list[type[BaseModel]]:
        found = [a for a in typing.get_args(annotation) for a in [a, *held(a)]]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.append(annotation)
        return [m for m in found if isinstance(m, type) and issubclass(m, BaseModel)]

    bullets = re.findall(r"^- \*\*(\w+)\*\*: (.*?)(?=^- |\Z)", section, flags=re.S | re.M)
    assert len(bullets) >= 10
    stale = []
    for name, body in bullets:
        model = models[name]
        known = keys(model)
        for field in model.model_fields.values():
            for inner in held(field.annotation):
                known |= keys(inner)
        values = set(re.findall(r'"([a-z][a-z0-9_]*)"', json.dumps(model.model_json_schema())))
        for word in re.findall(r"`([a-z][a-z0-9_]*)(?::[^`]*)?`", body):
            if word not in known | values and not re.fullmatch(r"p\d+", word):
                stale.append(f"{name}: {word}")
    assert stale == []


def test_readme_shipped_plan_figures_are_the_golden_plans() -> None:
    """The figures README quotes for the shipped scenarios are those of the golden plans
    (tests/golden/, the plans the code makes today): re-capturing the goldens after a change
    that moves them fails here until README says the new figures."""
    plan = _golden_plan

    def musd(value: float) -> str:
        return f"${value / 1e6:,.1f}M"

    def vera_rubin(data: dict[str, Any]) -> str:
        racks = sum(r["bought_units"] for r in data["fleet"] if r["system"] == "vera-rubin-nvl144")
        return f"{racks:,.0f}"

    base, pv, west = (
        plan("frontier-3y"),
        plan("frontier-3y--present_value"),
        plan("frontier-3y--west_stalls"),
    )
    over: dict[str, list[float]] = {}
    for line in plan("frontier-3y--no_new_generation")["infeasible"][1:]:
        found = re.search(r"- (\S+): power .* by ([\d.]+) MW", line)
        if found:
            over.setdefault(found.group(1), []).append(float(found.group(2)))
    lab = plan("frontier-lab")
    [lab_core_price] = [
        p["value_usd"] for p in lab["shadow_prices"] if p["constraint"] == "cpu:dc-east"
    ]
    [rack] = [f for f in lab["fleet"] if f["system"] == "gb200-nvl72"]
    [east] = [p for p in lab["power"] if p["datacenter"] == "dc-east"]
    rack_mw = rack["power_w"] * east["pue"] / 1e6
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = [
        f"(the default plan: {musd(base['total_cost_usd'])}, proven within {base['gap']:.2%})",
        f"+{west['total_cost_usd'] / base['total_cost_usd'] - 1:.1%} on the cost, "
        f"{musd(west['total_cost_usd'])}",
        f"{musd(pv['total_cost_usd'])}, its charges {musd(pv['nominal_cost_usd'])} at face value "
        f"against the default plan's {musd(base['total_cost_usd'])}",
        f"orders\n{vera_rubin(pv)} Vera Rubin racks to the default's {vera_rubin(base)}",
        f"puts dc-west {max(over['dc-west']):g} MW and dc-central "
        f"{min(over['dc-central']):.0f}-{max(over['dc-central']):.0f} MW over",
        f"around ${plan('frontier-lab')['total_cost_usd'] / 1e6:.2f}M",
        f"dc-east's CPU cores bind at the margin (${lab_core_price:.0f} a core)",
        f"the {rack['units']:.0f}-rack NVL72 job draws {rack_mw:.2f} MW ({rack['units']:.0f} x "
        f"{rack['power_w'] / rack['units'] / 1e3:.0f} kW x PUE {east['pue']:g})",
    ]
    flat = " ".join(text.split())
    assert [e for e in expected if " ".join(e.split()) not in flat] == []


def test_cli_reference_shows_every_options_default() -> None:
    """docs/cli.md (README: "Every option of every command, with its default") shows each
    option's default: an option with one is `show_default`, or says it in its help text."""
    from planner.docgen import command_contexts

    silent, checked = [], 0
    for ctx in command_contexts():
        for param in ctx.command.get_params(ctx):
            if not isinstance(param, click.Option) or param.is_flag or "--help" in param.opts:
                continue
            default = param.get_default(ctx, call=False)
            if default in (None, (), "") or type(default).__module__.startswith("click"):
                continue  # no default (click's own "unset" marker)
            checked += 1
            record = param.get_help_record(ctx)
            if record is None or "default" not in record[1]:
                silent.append(f"{ctx.command_path} {param.opts[0]}")
    assert checked > 50
    assert silent == []


def test_code_the_docs_point_to_exists() -> None:
    """Each "`planner/x.py` `name`" in README.md or docs/ names a function, class or constant
    that file defines, the file and name in one code span or two (a renamed function leaves no dangling pointer for a reader to chase)."""
    code_path = r"((?:planner|fleetcore|hardware|topologies|bench|tests)/[\w/]+\.py)"
    pointers = [
        # "`planner/x.py` `name`" or "planner/x.py `name`"
        re.compile(rf"`?{code_path}`?,? `([A-Za-z_][\w.]*)`"),
        # one code span: "`planner/x.py name`"
        re.compile(rf"`{code_path} ([A-Za-z_][\w.]*)[^`\n]*`"),
    ]
    dangling, found = [], 0
    for path in DOC_FILES:
        text_of_doc = path.read_text(encoding="utf-8")
        for match in (m for p in pointers for m in p.finditer(text_of_doc)):
            code, name = ROOT / match.group(1), match.group(2)
            found += 1
            if name.endswith(".py"):  # a list of files: "`a.py`, `b.py`"
                ok = (code.parent / name).exists()
            else:
                base = re.escape(name.split(".")[0])
                text = code.read_text(encoding="utf-8") if code.exists() else ""
                ok = bool(re.search(rf"\b(def|class) {base}\b|^{base}\s*[:=]", text, flags=re.M))
            if not ok:
                dangling.append(f"{path.name}: {match.group(1)} {name}")
    assert found > 10
    assert dangling == []


def test_frontier_3y_comments_quote_the_golden_plans() -> None:
    """The figures the shipped frontier-3y.yaml states in its overrides' comments are those of
    the golden plans, as README's are (they had drifted: +5.4% for west_stalls where the plan
    said +5.2%)."""
    plan = _golden_plan

    def busd(value: float) -> str:
        return f"${value / 1e9:.3f}B"

    base, west = plan("frontier-3y"), plan("frontier-3y--west_stalls")
    pv = plan("frontier-3y--present_value")
    over: dict[str, list[float]] = {}
    for line in plan("frontier-3y--no_new_generation")["infeasible"][1:]:
        found = re.search(r"- (\S+): power .* by ([\d.]+) MW", line)
        if found:
            over.setdefault(found.group(1), []).append(float(found.group(2)))
    third_year = [r["discount_weight"] for r in pv["present_value"] if 2 <= r["mid_years"] < 3]
    first = pv["present_value"][0]["discount_weight"]
    cost, bound = west["total_cost_usd"], west["lower_bound_usd"]
    expected = [
        f"dc-west {max(over['dc-west']):g} MW and dc-central "
        f"{min(over['dc-central']):.0f}-{max(over['dc-central']):.0f} MW over",
        f"+{cost / base['total_cost_usd'] - 1:.1%} on the cost ({busd(cost)} vs "
        f"{busd(base['total_cost_usd'])}), +{bound / base['total_cost_usd'] - 1:.1%} proven "
        f"(its lower bound, {busd(bound)}, over the default plan's cost)",
        f"the third year's weigh {min(third_year):.2f}-{max(third_year):.2f} against the first "
        f"quarter's {first:.2f}",
        f"${pv['total_cost_usd'] / 1e6:,.1f}M in present value; the same charges at face value "
        f"${pv['nominal_cost_usd'] / 1e6:,.1f}M (the default plan: "
        f"${base['total_cost_usd'] / 1e6:,.1f}M",
    ]
    text = (ROOT / "planner" / "scenarios" / "frontier-3y.yaml").read_text(encoding="utf-8")
    flat = " ".join(line.strip().removeprefix("#").strip() for line in text.splitlines())
    flat = " ".join(flat.split())
    assert [e for e in expected if " ".join(e.split()) not in flat] == []


def test_every_topology_and_catalog_key_is_named_in_the_docs() -> None:
    """Each key a topology or catalog file may hold (`planner schema`) is named somewhere in
    README.md or docs/ (the scenario's are in the generated reference): a key added to the
    schema with no word on what it means fails here."""
    from planner.authoring import schemas

    def keys(node: object) -> set[str]:
        if isinstance(node, dict):
            found = set(node.get("properties", {}))
            return found.union(*(keys(v) for v in node.values()))
        if isinstance(node, list):
            return set().union(*(keys(v) for v in node))
        return set()

    docs = "\n".join(path.read_text(encoding="utf-8") for path in DOC_FILES)
    missing = [
        f"{kind}: {key}"
        for kind in ("topology", "catalog")
        for key in sorted(keys(schemas()[kind]))
        if not re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", docs)
    ]
    assert len(keys(schemas()["catalog"])) > 50
    assert missing == []


def test_help_examples_on_my_yaml_hold_for_the_starter_planner_init_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: `planner init my.yaml && planner plan my.yaml`. Every `--help` example on
    `my.yaml` then names only overrides and fields that starter has (`plan my.yaml --scenario
    rental,2x_rollouts` did not: the starter has no `2x_rollouts`): validated with the
    example's --scenario, --set and --topology (other user files set aside)."""
    import shlex

    import cli
    from planner.docgen import command_contexts

    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "my.yaml"]) == 0
    checked, failed = 0, []
    for ctx in command_contexts():
        for line in ctx.command.get_help(ctx).splitlines():
            if not line.strip().startswith("planner ") or " my.yaml" not in line:
                continue
            words = shlex.split(line.strip().removesuffix("\\"), comments=True)
            keep = ["validate", "my.yaml"]
            for i, word in enumerate(words[:-1]):
                value = words[i + 1]
                if word in {"--scenario", "--set"} or (word == "--topology" and "." not in value):
                    # a sweep's axis `path=v1,v2` validates at its first value
                    keep += [word, value.split(",")[0] if word == "--set" else value]
            checked += 1
            if cli.main(keep) != 0:
                failed.append(line.strip())
    assert checked >= 4
    assert failed == []
