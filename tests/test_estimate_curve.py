"""`planner estimate curve`: throughput and $/M tokens against tokens/s per user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cli


def test_curve_json_falls_with_interactivity(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        [
            "estimate",
            "curve",
            "--model",
            "llama-3.1-70b",
            "--system",
            "hgx-b200",
            "--system",
            "hgx-h100",
            "--interactivity",
            "20,60,100,1000",
            "--json",
        ]
    )
    assert code == 0
    points = json.loads(capsys.readouterr().out)
    assert {p["system"] for p in points} == {"hgx-b200", "hgx-h100"}
    for system in ("hgx-b200", "hgx-h100"):
        mine = [p for p in points if p["system"] == system]
        feasible = [p for p in mine if p["feasible"]]
        rates = [p["output_tokens_per_s_per_accelerator"] for p in feasible]
        costs = [p["usd_per_million_tokens"] for p in feasible]
        assert rates == sorted(rates, reverse=True) and len(rates) >= 2
        assert costs == sorted(costs)
        # 1,000 tok/s/user is below every layout's latency floor: said so, not a number.
        last = mine[-1]
        assert not last["feasible"] and "unreachable" in last["layout"]


def test_curve_table_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "curve.png"
    code = cli.main(
        [
            "estimate",
            "curve",
            "--model",
            "llama-3.1-70b",
            "--system",
            "gb200-nvl72",
            "--interactivity",
            "30,60",
            "--plot",
            str(png),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "tok/s/GPU" in out and "gb200-nvl72" in out and png.exists()


def test_curve_bad_interactivity_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        [
            "estimate",
            "curve",
            "--model",
            "llama-3.1-70b",
            "--system",
            "hgx-h100",
            "--interactivity",
            "fast",
        ]
    )
    assert code == 1 and "--interactivity" in capsys.readouterr().err
