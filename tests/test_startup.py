"""Start-up: the CLI imports only the command it runs, and heavy libraries only where used.

Each case runs the CLI in a fresh interpreter and reads `sys.modules` after it: time is not
asserted (bench/bench_startup.py prints it), only which modules a command loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from planner.commands import COMMANDS, load_command

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, sys
import cli
code = cli.main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""
HEAVY = ["pulp", "highspy", "numpy", "pandas", "matplotlib", "networkx", "ray", "scipy"]


def loaded(*args: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, out.stderr
    return set(result["modules"])


def commands_in(modules: set[str]) -> set[str]:
    return {m.split(".")[2] for m in modules if m.startswith("planner.commands.")}


def test_help_imports_no_command_and_no_heavy_library() -> None:
    modules = loaded("--help")
    assert commands_in(modules) == set()
    assert [
        m for m in HEAVY + ["pydantic", "planner.api", "planner.scenario"] if m in modules
    ] == []


def test_validate_imports_its_command_only_and_no_plotting_tables_graphs_or_ray() -> None:
    modules = loaded("validate", str(ROOT / "planner/scenarios/frontier-lab.yaml"))
    assert commands_in(modules) == {"validate", "options"}
    assert [m for m in ["pandas", "matplotlib", "networkx", "ray", "scipy"] if m in modules] == []


def test_plan_imports_its_command_only_and_no_plotting_tables_graphs_or_ray() -> None:
    modules = loaded("plan", "--quiet")
    assert commands_in(modules) == {"plan", "options"}
    assert "highspy" in modules  # it solves
    # scipy: only a p99 TPOT with a prompt-length spread needs it (planner/demand/tpot_tail.py)
    assert [m for m in ["pandas", "matplotlib", "networkx", "ray", "scipy"] if m in modules] == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_listed_summary_is_the_first_paragraph_of_the_commands_help(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    assert COMMANDS[name] == click.utils.make_default_short_help(command.help or "", 10**6)


def test_help_lists_what_click_would_list_from_the_commands_themselves() -> None:
    import cli

    eager = click.Group(
        "planner",
        params=cli.planner.params,
        help=cli.planner.help,
        context_settings=cli.planner.context_settings,
    )
    for name in COMMANDS:
        eager.add_command(load_command(name), name)
    # One fixed width for both: an earlier test in the same process may leave a terminal width
    # behind (COLUMNS, click's cached formatter settings).
    lazy_help = cli.planner.get_help(
        click.Context(cli.planner, info_name="planner", terminal_width=100, max_content_width=100)
    )
    eager_help = eager.get_help(
        click.Context(eager, info_name="planner", terminal_width=100, max_content_width=100)
    )
    # The commands section is what laziness could change (the options above it are the group's
    # own; their column width has differed after other tests ran in the same process).
    assert lazy_help.split("Commands:")[1] == eager_help.split("Commands:")[1]
    assert all(f"\n  {name} " in lazy_help for name in COMMANDS)


def test_unknown_command_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    import cli

    assert cli.main(["plna"]) == 1
    assert "No such command 'plna'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "module",
    [
        "planner.lp.model",
        "planner.lp.constraints",
        "planner.kinds",
        "planner.demand.types",
        "planner.demand.inference",
        "planner.scenario",
        "planner.verify",
        "planner.sweeps",
    ],
)
def test_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    # The package __init__s import lazily; no import order may be needed to break a cycle.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", f"import {module}"], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
