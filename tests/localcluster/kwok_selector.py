"""kwok's stage selector, as kwok v0.8.0 evaluates it (pkg/utils/expression/selector.go and query.go): each
matchExpression's key is a jq query run on the object; its non-null results are matched by the operator. A query
that fails counts as no result. Kept beside the tests: the product hands the stages to kwok itself."""

from __future__ import annotations

import jq


def _results(query: str, obj: dict) -> list:
    try:
        return [value for value in jq.compile(query).input_value(obj).all() if value is not None]
    except ValueError:
        return []


def _as_text(value: object) -> str | None:
    # kwok compares strings and booleans (strconv.FormatBool); JSON numbers decode to float64 and never match.
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else None


def requirement_matches(expression: dict, obj: dict) -> bool:
    found = _results(expression["key"], obj)
    operator, values = expression["operator"], expression.get("values") or []
    if operator == "In":
        return any(_as_text(value) in values for value in found)
    if operator == "NotIn":
        return not any(_as_text(value) in values for value in found)
    if operator == "Exists":
        return bool(found)
    if operator == "DoesNotExist":
        return not found
    raise ValueError(f"operator {operator!r} is not one kwok supports")


def plays(stage: dict, obj: dict) -> bool:
    """The stage applies to this object: the same kind, and every matchExpression holds."""
    spec = stage["spec"]
    if spec["resourceRef"]["kind"] != obj["kind"]:
        return False
    return all(requirement_matches(expression, obj) for expression in spec["selector"]["matchExpressions"])
