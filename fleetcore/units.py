"""Physical quantities at the YAML edge: '700 W', '80 GB', '3.35 TB/s', '400 Gbps', '90 days'.

Inside the planner everything is SI (W, bytes, bytes/s, FLOP/s, s). A dimensional YAML field
must carry a unit: a bare number for a power is an error, not a guess at watts. Counts (tokens,
parameters, problems) accept plain numbers or SI suffixes ('405B', '15T', '10M').

Money is not a unit here: money fields name their currency in the key (`capex_usd`).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

# Dimension -> {unit spelling: factor to the SI base of that dimension}.
# Decimal prefixes for bytes and bits (GB = 1e9 B), binary ones spelled with 'i' (GiB = 2**30 B).
_BYTE_PREFIX = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_BIN_PREFIX = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}

UNITS: dict[str, dict[str, float]] = {
    "power": {"W": 1.0, "kW": 1e3, "MW": 1e6, "GW": 1e9},
    "bytes": {
        **{f"{p}B": f for p, f in _BYTE_PREFIX.items()},
        **{f"{p}B": f for p, f in _BIN_PREFIX.items()},
    },
    # Stored in bytes/s. Bit rates (Gbps, Gb/s) are divided by 8.
    "bandwidth": {
        **{f"{p}B/s": f for p, f in _BYTE_PREFIX.items()},
        **{f"{p}B/s": f for p, f in _BIN_PREFIX.items()},
        **{f"{p}bps": f / 8 for p, f in _BYTE_PREFIX.items()},
        **{f"{p}b/s": f / 8 for p, f in _BYTE_PREFIX.items()},
    },
    "flops": {f"{p}FLOPS": f for p, f in _BYTE_PREFIX.items()},
    "time": {
        "s": 1.0,
        "ms": 1e-3,
        "us": 1e-6,
        "min": 60.0,
        "h": 3600.0,
        "hour": 3600.0,
        "hours": 3600.0,
        "d": 86400.0,
        "day": 86400.0,
        "days": 86400.0,
        "week": 7 * 86400.0,
        "weeks": 7 * 86400.0,
        # A planning year is 365 days (8,760 h), the convention of capex amortisation tables.
        "year": 365 * 86400.0,
        "years": 365 * 86400.0,
        # A planning month and quarter are a twelfth and a quarter of that year.
        "month": 365 / 12 * 86400.0,
        "months": 365 / 12 * 86400.0,
        "quarter": 365 / 4 * 86400.0,
        "quarters": 365 / 4 * 86400.0,
    },
}

EXAMPLES = {
    "power": "'700 W' or '132 kW'",
    "bytes": "'80 GB' or '96 GiB'",
    "bandwidth": "'3.35 TB/s' or '400 Gbps'",
    "flops": "'989 TFLOPS'",
    "time": "'90 days' or '10 ms'",
}

# Numbers: decimal digits with an optional sign, fraction and exponent; ',' or '_' only between
# groups of three digits ('1,000,000', '1_000'); no leading zero ('0500' is not 500). The same
# rules as plain numbers in YAML files (fleetcore.yamlio.plain_scalar).
# ASCII digits only ([0-9], not \d, which also matches other scripts' digits).
_INT = r"(?:0|[1-9][0-9]{0,2}(?:,[0-9]{3})+|[1-9][0-9]{0,2}(?:_[0-9]{3})+|[1-9][0-9]*)"
_NUMBER = rf"[-+]?(?:{_INT}(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_QUANTITY_RE = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z/]+)\s*$")
_COUNT_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}
_COUNT_RE = re.compile(rf"^\s*({_NUMBER})\s*([KMBGTP]?)\s*$")


def _to_float(text: str, factor: float = 1.0, written: str | None = None) -> float:
    value = float(text.replace(",", "").replace("_", "")) * factor
    if not math.isfinite(value):
        raise ValueError(f"{written or text!r} is too large to be a number")
    return value


def _hint(value: str) -> str:
    """Why a text that looks like a number is not one by the rules above."""
    if "," in value:
        return (
            " (',' only separates groups of three digits, as in 1,000,000; the decimal mark is '.')"
        )
    if "_" in value:
        return " ('_' only separates groups of three digits, as in 1_000_000)"
    if re.match(r"\s*[-+]?0\d", value):
        return " (a number does not start with 0)"
    return ""


def parse_quantity(value: Any, dimension: str) -> float:
    """Parse '700 W' (dimension 'power') into 700.0 in the SI base unit of that dimension.

    Raises ValueError with a message a user can act on: missing unit, unknown unit, or a unit of
    another dimension.
    """
    units = UNITS[dimension]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a {dimension} with a unit, e.g. {EXAMPLES[dimension]}")
    if isinstance(value, (int, float)):
        raise ValueError(
            f"missing unit: write the {dimension} with its unit, e.g. {EXAMPLES[dimension]}"
        )
    match = _QUANTITY_RE.match(value)
    if not match:
        raise ValueError(
            f"cannot read {value!r} as a {dimension}{_hint(value)}: write a number and a unit, "
            f"e.g. {EXAMPLES[dimension]}"
        )
    number, unit = match.groups()
    if unit not in units:
        other = [dim for dim, table in UNITS.items() if unit in table]
        hint = f" ({unit!r} is a {other[0]} unit)" if other else ""
        raise ValueError(f"unknown {dimension} unit {unit!r}{hint}; use one of {', '.join(units)}")
    return _to_float(number, units[unit], value)


def parse_count(value: Any) -> float:
    """Parse a count: 405e9, '405B', '15T', '10M', '1,000'. B means billion (1e9)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value}")
        return float(value)
    if isinstance(value, str):
        match = _COUNT_RE.match(value)
        if match:
            number, suffix = match.groups()
            return _to_float(number, _COUNT_SUFFIX[suffix], value)
        raise ValueError(
            f"cannot read {value!r} as a number{_hint(value)} (e.g. 405e9, '405B', '15T', '10M')"
        )
    raise ValueError(f"cannot read {value!r} as a number (e.g. 405e9, '405B', '15T', '10M')")


def _quantity_validator(dimension: str) -> BeforeValidator:
    return BeforeValidator(lambda v: parse_quantity(v, dimension))


# Pydantic field types: the attribute holds SI floats, YAML holds strings with units.
Power = Annotated[float, _quantity_validator("power")]
Bytes = Annotated[float, _quantity_validator("bytes")]
Bandwidth = Annotated[float, _quantity_validator("bandwidth")]
Flops = Annotated[float, _quantity_validator("flops")]
Duration = Annotated[float, _quantity_validator("time")]
Count = Annotated[float, BeforeValidator(parse_count)]


def format_si(value: float, unit: str, digits: int = 3) -> str:
    """Format with a decimal SI prefix: format_si(1.2e6, 'W') -> '1.2 MW'."""
    for prefix, factor in (
        ("E", 1e18),
        ("P", 1e15),
        ("T", 1e12),
        ("G", 1e9),
        ("M", 1e6),
        ("k", 1e3),
    ):
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}"
