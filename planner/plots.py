"""Matplotlib, headless, imported only when a plot is asked for (it is slow to import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: str | Path) -> Path:
    """Write a figure as PNG without a timestamp or version in its metadata (same input, same
    bytes), and free it."""
    from fleetcore.outfile import atomic  # whole or not at all

    out = Path(path)
    fig.tight_layout()
    try:
        with atomic(out, binary=True) as file:
            fig.savefig(file, format="png", dpi=100, metadata={"Software": None})
    finally:
        pyplot().close(fig)
    return out
