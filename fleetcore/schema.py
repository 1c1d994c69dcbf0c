"""The strict base for every config model, and the one identifier type for every name."""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

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

# Bounds that keep a figure within what the solver can plan with (issue 16): HiGHS takes 1e20 as
# infinity and its tolerances are 1e-6 to 1e-9 relative, so a unit count past 1e9 or a price
# past 1e12 US$ (times hours and units) no longer yields whole, verifiable numbers. No fleet,
# site or system comes near either.
MAX_UNITS = 10**9
MAX_USD = 1e12


def _at_most(limit: float, what: str) -> AfterValidator:
    def check(value: float) -> float:
        if value > limit:
            raise ValueError(
                f"{value:g} is more {what} than the solver can plan with (at most {limit:g}); "
                "check the figure's unit"
            )
        return value

    return AfterValidator(check)


UnitCount = Annotated[int, Field(ge=0), _at_most(MAX_UNITS, "units")]
Usd = Annotated[float, Field(ge=0), _at_most(MAX_USD, "US$")]


def _iso_date(value: object) -> object:
    """YYYY-MM-DD text (quoted in YAML) as a date; YAML's own dates pass through."""
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError as exc:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
                # Written right but no such day (2026-02-30, 2026-13-01): say which part.
                raise ValueError(f"{value!r} is no calendar date: {exc}") from None
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
