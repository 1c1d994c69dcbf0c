"""`--executor auto` (the default): Ray only for a cluster (an address given and Ray installed),
else local processes; the sweep says which ran and why."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from tiny_site import write_site

import planner
from cli import main
from planner.sweeps import choose_executor

AXIS = "workloads.chat.requests_per_day"


def test_auto_without_an_address_runs_local_processes(monkeypatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    executor, why = choose_executor("auto", 2, None)
    assert executor == "process"
    assert "2 local worker processes" in why and "no cluster address" in why


def test_auto_with_an_address_runs_on_ray_when_installed(monkeypatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    installed = importlib.util.find_spec("ray") is not None
    executor, why = choose_executor("auto", 1, None)
    assert executor == ("ray" if installed else "process")
    assert "10.0.0.1:6379" in why
    # An explicit address wins over the environment's.
    assert "10.0.0.2:6379" in choose_executor("auto", 1, "10.0.0.2:6379")[1]


def test_auto_with_an_address_but_no_ray_says_so(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    executor, why = choose_executor("auto", 1, "10.0.0.1:6379")
    assert executor == "process"
    assert "Ray is not installed" in why


def test_asked_for_is_what_runs() -> None:
    assert choose_executor("process", 3, "10.0.0.1:6379")[0] == "process"
    assert choose_executor("ray", 1, None)[0] == "ray"


def test_the_sweep_reports_its_executor(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    path = write_site(tmp_path)
    result = planner.sweep(path, {AXIS: ["1M", "2M"]})
    assert result.executor.startswith("process: 1 local worker process;")
    code = main(["sweep", str(path), "--set", f"{AXIS}=1M,2M"])
    assert code == 0
    assert "executor: process: 1 local worker process; Ray not used" in capsys.readouterr().err


def test_an_unknown_executor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(planner.ConfigError, match="use auto, process or ray"):
        planner.sweep(write_site(tmp_path), {AXIS: ["1M"]}, executor="dask")
