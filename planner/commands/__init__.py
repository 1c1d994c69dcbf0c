"""CLI command groups, one module each; `register` adds them to the top-level group."""

from __future__ import annotations

import importlib

import click

# Each module defines `command`: a click command or group. Listed here so the CLI's shape is in
# one place.
MODULES = [
    "hardware",
    "topology",
    "estimate",
    "plan",
    "validate",
    "compare",
    "sweep",
    "schema",
    "init",
    "sensitivity",
]


def register(group: click.Group) -> None:
    for name in MODULES:
        try:
            module = importlib.import_module(f"planner.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"planner.commands.{name}":
                continue  # not written yet
            raise
        group.add_command(module.command)
