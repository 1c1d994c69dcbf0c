"""Plain-text tables for the CLI (no dependency: a few lines of alignment)."""

from __future__ import annotations

import re
from typing import Any

# Terminal width every table is fitted to: the widest text column is cut (with "...") so that
# lines stay within it; the full figures are in the JSON.
WIDTH = 100


def is_figure(text: str) -> bool:
    """True for a number already formatted for people ($1.2M, 45%, 1,234, 2.5 MW, -)."""
    return bool(_FIGURE.match(text))


# A formatted figure: $1.23M, 45%, 1,234, 2.5 MW, -0.3, "-" for none.
_FIGURE = re.compile(r"^-$|^[-+]?\$?[\d.,]+(e[-+]?\d+)?\s?(%|[kMBG]|[A-Za-z/]{1,6})?$")


def table(
    headers: list[str], rows: list[list[Any]], indent: str = "  ", width: int | None = None
) -> str:
    """Aligned plain-text table: numeric columns (numbers, or figures already formatted as
    $1.2M, 45%, 2.50) right-aligned, text left-aligned. With `width` (e.g. WIDTH), the widest
    free-text column is cut so the lines fit in that many characters."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    numeric = [
        bool(rows)
        and all(
            isinstance(r[i], (int, float)) or r[i] is None or is_figure(str(c[i]))
            for r, c in zip(rows, cells, strict=True)
        )
        for i in range(len(headers))
    ]
    # Only free text is cut (a column wider than 24 characters, not the first: names stay
    # whole), widest first, each down to 20 characters at the least.
    cut: set[int] = set()
    while width is not None:
        over = len(indent) + sum(widths) + 2 * (len(widths) - 1) - width
        text_cols = [i for i in range(1, len(headers)) if not numeric[i] and widths[i] > 24]
        if over <= 0 or not text_cols:
            break
        widest = max(text_cols, key=lambda i: widths[i])
        widths[widest] = max(len(headers[widest]), widths[widest] - over, 20)
        cut.add(widest)
    cells = [
        [
            (c[: w - 3] + "..." if len(c) > w and j in cut else c)
            for j, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        for row in cells
    ]

    def fmt(row: list[str]) -> str:
        parts = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(row, widths, numeric, strict=True)
        ]
        return (indent + "  ".join(parts)).rstrip()

    lines = [fmt(headers), indent + "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def usd(value: float) -> str:
    """US$ with a friendly scale: $1.234B, $12.35M, $1,234."""
    if abs(value) >= 1e9:
        return f"${value / 1e9:,.3f}B"
    if abs(value) >= 1e6:
        return f"${value / 1e6:,.2f}M"
    return f"${value:,.0f}"
