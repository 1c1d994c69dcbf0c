"""Generated documentation: the constraint families in docs/lp.md, the plan JSON keys in the
README, the scenario file reference (docs/scenario-reference.md) and the command-line reference
(docs/cli.md) are made from the code (the family registry, the plan's row types, the pydantic
models, the click commands), between marker comments. `python -m planner.docgen` rewrites them;
tests/test_docs.py fails when they differ."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import click

from planner.authoring import reference_markdown
from planner.kinds import KINDS
from planner.lp import constraints as _constraints  # noqa: F401  (registers the families)
from planner.lp.model import families_in_order
from planner.plan import plan_keys_markdown
from planner.verify import RULES

ROOT = Path(__file__).resolve().parent.parent


def families_markdown() -> str:
    """One entry per registered constraint family, in build order: label, formula, and what
    the report and diagnosis know of it."""
    out = []
    for fam in families_in_order(list(KINDS)):
        notes = []
        if fam.resource:
            notes.append("resource (reported when binding)")
        if fam.price_unit:
            notes.append(f"shadow price in `{fam.price_unit}`")
        if fam.slack_unit:
            notes.append(f"phase-1 slack in {fam.slack_unit}")
        if fam.kind:
            notes.append(f"{fam.kind} only: planner/kinds/{fam.kind}.py")
        formula = inspect.cleandoc(fam.formula).replace("\n", "\n  ")
        tail = f" _({'; '.join(notes)})_" if notes else ""
        out.append(f"- `{fam.name}:{fam.entity}`{tail}\n  ```\n  {formula}\n  ```")
    return "\n".join(out)


def rules_markdown() -> str:
    """One entry per verification rule: its name and the formula it recomputes."""
    return "\n".join(f"- `{r.name}`: {r.formula}" for r in RULES.values())


# docs/cli.md is rendered at this width whatever the terminal, so the file does not depend on
# the machine that regenerates it.
CLI_WIDTH = 100


def command_contexts() -> Iterator[click.Context]:
    """A click context for `planner` and for every command and subcommand under it, in the
    order `planner --help` lists them (each command imported, unlike the lazy CLI)."""
    from cli import planner
    from planner.commands import load_command

    settings = {**planner.context_settings, "max_content_width": CLI_WIDTH}
    root = click.Context(planner, info_name="planner", terminal_width=CLI_WIDTH, **settings)
    yield root

    def walk(command: click.Command, name: str, parent: click.Context) -> Iterator[click.Context]:
        ctx = click.Context(command, info_name=name, parent=parent)
        yield ctx
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                found = command.get_command(ctx, sub)
                assert found is not None
                yield from walk(found, sub, ctx)

    for name in planner.list_commands(root):
        yield from walk(load_command(name), name, root)


def cli_markdown() -> str:
    """Every command's `--help`, as the terminal prints it at CLI_WIDTH columns."""
    out = []
    for ctx in command_contexts():
        out.append(f"## `{ctx.command_path}`\n\n```\n{ctx.command.get_help(ctx)}\n```")
    return "\n\n".join(out)


BLOCKS = {
    ROOT / "docs" / "lp.md": {"families": families_markdown, "rules": rules_markdown},
    ROOT / "README.md": {"plan-keys": plan_keys_markdown},
    ROOT / "docs" / "scenario-reference.md": {"scenario-fields": reference_markdown},
    ROOT / "docs" / "cli.md": {"cli": cli_markdown},
}


def render(path: Path) -> str:
    """The file's text with every generated block made anew."""
    text = path.read_text(encoding="utf-8")
    for name, make in BLOCKS[path].items():
        begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
        found = re.search(re.escape(begin) + ".*?" + re.escape(end), text, flags=re.DOTALL)
        if found is None:
            raise ValueError(f"{path}: no {begin.strip()} ... {end} markers")
        text = text[: found.start()] + begin + make() + "\n" + end + text[found.end() :]
    return text


if __name__ == "__main__":
    for file in BLOCKS:
        file.write_text(render(file), encoding="utf-8")
        print(f"updated {file.relative_to(ROOT)}")
