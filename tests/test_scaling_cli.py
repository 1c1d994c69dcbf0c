"""`planner estimate scaling` through cli.main: the numbers recomputed from the loss model and
the planner's own prices, bad input as `<command line>: option: message` and exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main
from hardware.catalog import load_catalog
from planner.demand import scaling


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_flops_only_table_recomputes_from_the_law(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "estimate", "scaling", "--flops", "5.76e23", "--served-tokens", "1e13",
        "--prompt-tokens", "1000", "--output-tokens", "1000", "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    law = scaling.scaling_law(load_catalog())
    n, d = scaling.compute_optimal(law, 5.76e23)
    assert data["budget"]["params"] == pytest.approx(n, rel=1e-12)
    assert data["target_loss"] == pytest.approx(scaling.loss(law, n, d), rel=1e-12)
    # the budget's optimum is the curve's least-FLOP point
    assert data["compute_optimal"]["params"] == pytest.approx(n, rel=1e-9)
    for row in data["rows"]:
        assert row["pretrain_flops"] == pytest.approx(6 * row["params"] * row["tokens"], rel=1e-12)
        # 2·N per prompt and output token: 1e13 output tokens with 1000/1000 prompt/output
        assert row["serve_flops"] == pytest.approx(2 * row["params"] * 2e13, rel=1e-12)
        assert scaling.loss(law, row["params"], row["tokens"]) == pytest.approx(
            data["target_loss"], rel=1e-9
        )
    ratios = [r["tokens_per_param"] for r in data["rows"]]
    assert ratios == sorted(ratios) and ratios[0] == pytest.approx(10.0)
    assert ratios[-1] == pytest.approx(10_000.0)
    best = min(data["rows"], key=lambda r: r["pretrain_flops"] + r["serve_flops"])
    assert data["cheapest_tokens_per_param"] == best["tokens_per_param"]


def test_zero_serving_is_cheapest_at_the_chinchilla_point(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "estimate", "scaling", "--like", "llama-3.1-70b", "--tokens",
                       "1.4T", "--json")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["cheapest_tokens_per_param"] == pytest.approx(
        data["compute_optimal"]["tokens_per_param"], rel=1e-12
    )
    assert 15 < data["cheapest_tokens_per_param"] < 25


def test_priced_split_on_a_system(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """$ = 6ND x $/FLOP + served tokens x $/token from the planner's own rates; a frontier
    serving volume moves the cheapest point far past Chinchilla; the plot is written."""
    png = tmp_path / "s.png"
    code, out, err = run(
        capsys, "estimate", "scaling", "--like", "llama-3.1-70b", "--tokens", "15T",
        "--served-tokens", "1e15", "--system", "gb200-nvl72", "--ratios", "20,200,2000",
        "--plot", str(png), "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    catalog = load_catalog()
    law = scaling.scaling_law(catalog)
    cands, models = scaling.candidates(
        law, data["target_loss"], [2000.0], catalog, "llama-3.1-70b", "scaling"
    )
    prices = scaling.price_on_system(
        cands[0], scaling.with_models(catalog, models), "gb200-nvl72", pricing="rental",
        precision="fp8", prompt_tokens=1000, output_tokens=1000, tokens_per_s_per_user=30.0,
    )  # fmt: skip
    row = next(r for r in data["rows"] if r["tokens_per_param"] == pytest.approx(2000.0))
    assert prices.usd_per_train_flop is not None and prices.usd_per_output_token is not None
    assert row["pretrain_cost_usd"] == pytest.approx(
        prices.usd_per_train_flop * row["pretrain_flops"], rel=1e-9
    )
    assert row["serve_cost_usd"] == pytest.approx(prices.usd_per_output_token * 1e15, rel=1e-9)
    assert data["cheapest_tokens_per_param"] >= 200
    assert png.stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--loss", "1.5"], "--loss"),  # below E = 1.8172
        (["--like", "llama-3.1-70b"], "--loss"),  # no --tokens
        (["--like", "nope", "--tokens", "1T"], "--like"),
        (["--flops", "1e25", "--law", "nope"], "--law"),
        (["--flops", "1e25", "--ratios", "10,x"], "--ratios"),
        (["--flops", "-1"], "--flops"),
        ([], "--loss"),
    ],
)
def test_bad_input_exits_1_naming_the_option(
    capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    code, _, err = run(capsys, "estimate", "scaling", *args)
    assert code == 1
    assert "Traceback" not in err
    assert f"<command line>: {option}:" in err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "estimate", "scaling", "--help")
    assert code == 0 and "Examples:" in out and "planner estimate scaling" in out
