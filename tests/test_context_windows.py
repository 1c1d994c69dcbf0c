"""Context windows (catalog context_tokens): every model the planner serves or trains with RL
states its window with a source, and an RL sample longer than the window of its policy or of a
reward model that reads it is bad input at the line of the field that makes it long."""

from __future__ import annotations

from pathlib import Path

import pytest

import planner
from hardware.catalog import load_catalog

SHIPPED = Path(planner.__file__).parent / "scenarios" / "rl-verifiers.yaml"
# Models only MLPerf Training's reference runs use (a fixed sequence length in the run); the
# window of a released model is what a serving or RL plan must respect.
TRAINING_ONLY = {"gpt-3-175b", "chinchilla-70b", "gpt-oss-20b-mlperf"}


def test_every_served_model_states_a_sourced_window() -> None:
    catalog = load_catalog()
    for name, model in catalog.models.items():
        if name in TRAINING_ONLY:
            continue
        assert model.context_tokens is not None, name
        source = model.sources["context_tokens"]
        assert "config.json" in source or "model card" in source, name
        # the figure in the source is the catalog's, or the model card's YaRN-extended window
        assert f"{model.context_tokens}" in source.replace(",", ""), name


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        # 1,000 + 130,073 = 131,073 > llama-3.1-70b's 131,072 (and the 8B reward model's)
        (
            ("max_completion_tokens: 16384", "max_completion_tokens: 130073"),
            28,
            "prompt 1,000 + max_completion_tokens 130,073 = 131,073 tokens a sample, past the "
            "policy llama-3.1-70b's context window of 131,072 (catalog context_tokens)",
        ),
        # a Llama 2 7B outcome reward model (4,096) cannot read a 1,000 + 16,384-token sample
        (
            ("{name: orm, model: llama-3.1-8b", "{name: orm, model: llama-2-7b"),
            28,
            "prompt 1,000 + max_completion_tokens 16,384 = 17,384 tokens a sample, past the "
            "reward model orm llama-2-7b's context window of 4,096 (catalog context_tokens)",
        ),
    ],
)
def test_an_rl_sample_past_a_window_is_refused_at_its_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: tuple[str, str],
    line: int,
    message: str,
) -> None:
    from cli import main

    text = SHIPPED.read_text()
    assert edit[0] in text and text.splitlines()[line - 1].strip().startswith(
        "max_completion_tokens"
    )
    path = tmp_path / "rl.yaml"
    path.write_text(text.replace(edit[0], edit[1]))
    assert main(["plan", str(path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{line}: workloads.rl-code.max_completion_tokens: {message}" in err, err


def test_a_sample_of_exactly_the_window_is_accepted(tmp_path: Path) -> None:
    text = SHIPPED.read_text().replace(
        "max_completion_tokens: 16384", "max_completion_tokens: 130072"
    )
    path = tmp_path / "rl.yaml"
    path.write_text(text)
    planner.load_scenario(path)  # 1,000 + 130,072 = 131,072: no problem
