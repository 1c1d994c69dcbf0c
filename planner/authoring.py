"""Help for writing scenario files: the JSON Schema of scenario, topology and catalog files
(`planner schema`, made from the pydantic models that validate them) and a commented starter
scenario (`planner init`).

The models hold SI floats but YAML holds quantities with units ('90 days', '132 kW') and counts
with SI suffixes ('15T'): the schema says so. A quantity field is a string with a number and a
unit (a bare number is an error, as in the loader); a count is a number or such a string. The
loader's checks stay the authority (cross references, unit dimensions); the schema gives editors
completion, field descriptions and early errors.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from fleetcore import units

QUANTITY_PATTERN = r"^\s*[-+]?(\d[\d,_]*\.?\d*|\.\d+)([eE][-+]?\d+)?\s*[A-Za-z/]+\s*$"
COUNT_PATTERN = r"^\s*[-+]?(\d[\d,_]*\.?\d*|\.\d+)([eE][-+]?\d+)?\s*[KMBGTP]?\s*$"


class UnitAwareSchema(GenerateJsonSchema):
    """JSON Schema of what the YAML holds: unit-carrying fields as strings with their unit."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        func = schema["function"]["function"]
        if func is units.parse_count:
            return {
                "anyOf": [
                    {"type": "number"},
                    {"type": "string", "pattern": COUNT_PATTERN},
                ],
                "description": "a count: a number or an SI suffix (K, M, B, T): 405B, 15T, 10M",
            }
        dimension = _dimension_of(func)
        if dimension is not None:
            return {
                "type": "string",
                "pattern": QUANTITY_PATTERN,
                "description": _quantity_description(dimension),
            }
        return super().function_before_schema(schema)


def _quantity_description(dimension: str) -> str:
    return f"a {dimension} with its unit, e.g. {units.EXAMPLES[dimension]}"


# The SI base unit each dimension's floats are held in ('s', 'W', ...), by its description.
_BASE_UNIT_BY_DESCRIPTION = {
    _quantity_description(dim): next(u for u, factor in table.items() if factor == 1.0)
    for dim, table in units.UNITS.items()
}


def _with_unit(prop: dict[str, Any], value: Any) -> Any:
    """A default as the YAML must write it: the model's SI float 60.0 of a time is '60 s' (a
    bare 60.0 there is an error, so an editor must not offer it)."""
    unit = _BASE_UNIT_BY_DESCRIPTION.get(prop.get("description", ""))
    if unit is None or prop.get("pattern") != QUANTITY_PATTERN:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g} {unit}"
    return value


def _defaults_with_units(schema: dict[str, Any]) -> None:
    """Rewrite every default of a quantity field, and of the quantity keys of a default that is
    a whole sub-model (Scenario.solver's), with its unit, in place."""
    defs = schema.get("$defs", {})

    def properties_of(prop: dict[str, Any]) -> dict[str, Any]:
        refs = [prop, *prop.get("allOf", []), *prop.get("anyOf", [])]
        for ref in refs:
            if "$ref" in ref:
                found: dict[str, Any] = defs[ref["$ref"].rsplit("/", 1)[-1]].get("properties", {})
                return found
        return {}

    def fix(model: dict[str, Any]) -> None:
        for prop in model.get("properties", {}).values():
            if "default" not in prop:
                continue
            prop["default"] = _with_unit(prop, prop["default"])
            if isinstance(prop["default"], dict):
                inner = properties_of(prop)
                prop["default"] = {
                    key: _with_unit(inner.get(key, {}), value)
                    for key, value in prop["default"].items()
                }

    fix(schema)
    for model in defs.values():
        fix(model)


def _dimension_of(func: Any) -> str | None:
    """The dimension a fleetcore.units quantity validator checks ('time', 'power', ...)."""
    for cell in getattr(func, "__closure__", None) or ():
        value = cell.cell_contents
        if isinstance(value, str) and value in units.UNITS:
            return value
    return None


def model_schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    schema = model.model_json_schema(
        by_alias=True, mode="validation", schema_generator=UnitAwareSchema
    )
    _defaults_with_units(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = title
    return schema


def schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of each kind of input file, by kind."""
    from hardware.schema import CatalogData
    from planner.scenario import ScenarioData
    from topologies.schema import TopologyData

    return {
        "scenario": model_schema(ScenarioData, "fleet-planner scenario file"),
        "topology": model_schema(TopologyData, "fleet-planner topology file"),
        "catalog": model_schema(CatalogData, "fleet-planner catalog file"),
    }


def schema_json(kind: str) -> str:
    return json.dumps(schemas()[kind], indent=2, sort_keys=True)


STARTER = """\
# A fleet-planner scenario: `planner plan {name}` plans it, `planner validate {name}` checks it.
# Every physical quantity carries its unit ('90 days', '150 MW'); counts take SI suffixes
# (405B, 15T, 10M). Unknown keys are errors. JSON Schema for editors: `planner schema`.

description: A starter scenario - pretraining, then serving, on one shipped topology

# A shipped topology preset (planner topology list) or a topology YAML path, relative to this
# file. topology_changes: partial topology YAML merged over it.
topology: multi-dc
# topology_changes:
#   datacenters: {{dc-east: {{power_cap: 150 MW}}}}

economics:
  horizon: 365 days        # the planning horizon
  pricing: amortised       # amortised (buy) | rental (hourly) | mixed (the cheaper, per pool)
  # cost_of_capital: 0.08  # yearly; capex is recovered as an annuity over each lifetime
  # period: 90 days        # let the fleet change every period (orders, lead times, rentals)
  # after_horizon: ends    # the need ends with the horizon: whole capex and contract terms
  # resale_fraction: 0.3   # with ends: x capex x life left / lifetime, resold at the end

workloads:
  # Pretraining: model from the catalog (planner hardware list), tokens, a deadline from the
  # start of the horizon.
  pretrain:
    kind: pretrain
    model: llama-3.1-70b
    tokens: 2T
    global_batch_tokens: 4M   # tokens per optimizer step
    deadline: 60 days
  # Serving: requests a day with their prompt and output lengths and a per-user speed.
  chat:
    kind: inference
    model: llama-3.1-70b
    precision: fp8
    requests_per_day: 10M
    prompt_tokens: 1000
    output_tokens: 500
    tokens_per_s_per_user: 30

# Named what-ifs: planner plan {name} --scenario rental
overrides:
  rental: {{economics: {{pricing: rental}}}}
"""


def starter_scenario(name: str) -> str:
    return STARTER.format(name=name)


# -- the reference doc (docs/scenario-reference.md, generated by python -m planner.docgen) ----
def _type_text(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "anyOf" in prop or "oneOf" in prop:
        parts = [_type_text(p) for p in prop.get("anyOf", prop.get("oneOf", []))]
        return " or ".join(dict.fromkeys(p for p in parts if p))
    kind = prop.get("type", "")
    if kind == "string" and prop.get("pattern") == QUANTITY_PATTERN:
        return "quantity with unit"
    if kind == "string" and prop.get("pattern") == COUNT_PATTERN:
        return "count (SI suffix)"
    if kind == "array":
        return f"list of {_type_text(prop.get('items', {})) or 'values'}"
    if kind == "object":
        values = prop.get("additionalProperties")
        patterns = list((prop.get("patternProperties") or {}).values())
        if patterns:
            values = patterns[0]
        if isinstance(values, dict) and values:
            return f"mapping name -> {_type_text(values)}"
        return "mapping"
    if kind == "null":
        return ""
    return str(kind)


def _bounds(prop: dict[str, Any]) -> str:
    marks = {"exclusiveMinimum": "> ", "minimum": ">= ", "exclusiveMaximum": "< ", "maximum": "<= "}
    found = [f"{sign}{prop[k]}" for k, sign in marks.items() if k in prop]
    for sub in prop.get("anyOf", []):
        found += [f"{sign}{sub[k]}" for k, sign in marks.items() if k in sub]
    return ", ".join(found)


def _model_table(name: str, model: dict[str, Any]) -> str:
    lines = [f"### {name}", ""]
    if model.get("description"):
        lines += [" ".join(str(model["description"]).split()), ""]
    required = set(model.get("required", []))
    lines += ["| key | type | required | default | range / unit |", "|---|---|---|---|---|"]
    for key, prop in model.get("properties", {}).items():
        default = json.dumps(prop["default"]) if "default" in prop else ""
        unit = _bounds(prop)
        described = prop.get("description") or next(
            (p.get("description") for p in prop.get("anyOf", []) if p.get("description")), ""
        )
        if described and ("unit" in described or "count" in described):
            unit = ", ".join(x for x in (unit, described) if x)
        lines.append(
            f"| `{key}` | {_type_text(prop)} | {'yes' if key in required else ''} | "
            f"{default.replace('|', '/')} | {unit} |"
        )
    return "\n".join(lines)


def reference_markdown() -> str:
    """Every model of the scenario file: its keys, types, defaults, ranges and units."""
    schema = schemas()["scenario"]
    out = [_model_table("Scenario", schema)]
    for name, model in sorted(schema.get("$defs", {}).items()):
        out.append(_model_table(name, model))
    return "\n\n".join(out)
