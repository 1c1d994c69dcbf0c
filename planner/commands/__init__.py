"""CLI command groups, one module each, loaded only when invoked (`LazyGroup`).

`planner plan` imports planner/commands/plan.py and nothing of the other commands; `planner
--help` imports none of them: it lists the one-line summaries below (tests/test_startup.py checks
that each is the first paragraph of its command's help, so they cannot drift).
"""

from __future__ import annotations

import importlib

import click

# Each module defines `command`: a click command or group, listed here (name -> first paragraph
# of its help) so the CLI's shape is in one place.
COMMANDS: dict[str, str] = {
    "hardware": "Browse the hardware catalog: accelerators, CPUs, systems, model architectures.",
    "topology": "Inspect cluster topologies: shipped presets or your own YAML files.",
    "estimate": "The analytic models alone: KV cache, serving batch and $/M tokens, training "
    "days, RL work.",
    "plan": "Plan the cheapest fleet and placement for SCENARIO_FILE (default: the shipped "
    "frontier-3y scenario: a frontier lab's next three years in quarters on the multi-dc "
    "topology).",
    "validate": "Validate SCENARIO_FILE: every problem is listed as file:line: field: message, "
    "and the exit code is 1 if there is any.",
    "compare": "Solve SCENARIO_FILE's workloads (default: the shipped single-year frontier-lab scenario,"
    " which runs on any topology) on each --topology and show them side by side: total cost "
    "and cost per workload, $ per million output tokens of each inference tier (the tier's "
    "cost / decode tokens served x 1e6), units, accelerators, CPU cores and cores per "
    "accelerator (CPU-only servers included), power, days to finish each pretraining at its "
    "allocated rate, binding constraints and shadow prices.",
    "sweep": "Solve the grid of what-ifs over SCENARIO_FILE (default: the shipped frontier-3y "
    "scenario): every combination of the --set values and --scenario overrides.",
    "schema": "Print the JSON Schema (draft 2020-12) of KIND files (default: scenario), made from "
    "the models that validate them.",
    "init": "Write a commented starter scenario to FILE (default scenario.yaml): pretraining and a "
    "chat tier on the shipped multi-dc topology, with a rental what-if.",
    "sensitivity": 'Re-solve SCENARIO_FILE (default: frontier-3y) with each catalog figure marked "estimate"'
    " at the low and the high end of its range (catalog `ranges:`), print a tornado table "
    "sorted by swing, and name the estimates that flip the choice of system or site, with the"
    " break-even value found by bisection.",
}


def load_command(name: str) -> click.Command:
    """The `command` of planner/commands/<name>.py (imported now)."""
    module = importlib.import_module(f"planner.commands.{name}")
    command: click.Command = module.command
    return command


class LazyGroup(click.Group):
    """A click group whose subcommands (COMMANDS) are imported when invoked, not at start-up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(load_command(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from COMMANDS' summaries, truncated as click truncates a command's
        own help, without importing any command."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in COMMANDS:
                rows.append((name, click.utils.make_default_short_help(COMMANDS[name], limit)))
            elif not self.commands[name].hidden:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
