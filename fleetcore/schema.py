"""The strict base for every config model, and the one identifier type for every name."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

# One identifier type for systems, datacenters, models, workloads and links. Names reach the LP
# as indices, never as PuLP names, so PuLP's character rewriting cannot merge two of them.
Name = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
]

Precision = Literal["fp4", "fp8", "bf16", "fp16", "fp32"]

# Bytes per value for each precision (by definition of the formats).
BYTES_PER_VALUE: dict[str, float] = {"fp4": 0.5, "fp8": 1.0, "bf16": 2.0, "fp16": 2.0, "fp32": 4.0}

Fraction = Annotated[float, Field(gt=0, le=1)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]


def _iso_date(value: object) -> object:
    """YYYY-MM-DD text (quoted in YAML) as a date; YAML's own dates pass through."""
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a date written as YYYY-MM-DD") from None
    return value


# A calendar date written as YYYY-MM-DD.
Date = Annotated[datetime.date, BeforeValidator(_iso_date)]


class Strict(BaseModel):
    """Unknown keys are errors; objects are immutable once validated; YAML keys may be aliases
    of unit-carrying attribute names (`power` in YAML is `power_w` in Python)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )
