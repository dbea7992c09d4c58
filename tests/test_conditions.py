"""Form conditions hold alike in the browser (static/itpm-forms.js) and on the server (jsonschema).

Thousands of generated conditions and records are evaluated by both; any
disagreement fails. Conditions and records draw from one small pool of values,
so that tests meet values they hold and fail for: equal to a bound, just over
it, a string of the bound's length, a number where text is tested.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from typing import Any

import pytest

from itpm.config import ROOT
from itpm.records.forms import holds

FIELDS = ["priority", "cost", "note"]
POOL: list[Any] = ["P1", "P2", "ab", "", "中文", "a", "😀x", -2, -1, 0, 1, 2, -1.5, 0.5, 2.0, True, False]
NODE_SCRIPT = """
require(process.argv[1]);
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(cases.map(([c, v]) => globalThis.itpmConditions.holds(c, v))));
"""


def field_test(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    if depth < 2 and rng.random() < 0.2:
        return {"not": field_test(rng, depth + 1)}
    test: dict[str, Any] = {}
    for _ in range(rng.choice([1, 1, 2])):
        keyword = rng.choice(
            [
                "const",
                "enum",
                "minimum",
                "maximum",
                "exclusiveMinimum",
                "exclusiveMaximum",
                "minLength",
                "maxLength",
            ]
        )
        if keyword == "const":
            test[keyword] = rng.choice(POOL)
        elif keyword == "enum":
            test[keyword] = rng.sample(POOL, rng.randint(1, 3))
        elif keyword in ("minLength", "maxLength"):
            test[keyword] = rng.randint(0, 2)
        else:
            test[keyword] = rng.choice([-2, -1, 0, 1, 2, 0.5])
    return test


def condition(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    roll = rng.random()
    if depth < 3 and roll < 0.3:
        key = rng.choice(["allOf", "anyOf"])
        return {key: [condition(rng, depth + 1) for _ in range(rng.randint(1, 3))]}
    if depth < 3 and roll < 0.4:
        return {"not": condition(rng, depth + 1)}
    result: dict[str, Any] = {}
    if rng.random() < 0.9:
        result["properties"] = {f: field_test(rng) for f in rng.sample(FIELDS, rng.randint(1, 2))}
    if rng.random() < 0.4:
        result["required"] = rng.sample(FIELDS, rng.randint(1, 2))
    return result


def record(rng: random.Random) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in FIELDS:
        roll = rng.random()
        if roll < 0.7:
            values[field] = rng.choice(POOL)
        elif roll < 0.8:
            values[field] = None
        elif roll < 0.85:
            values[field] = rng.sample(["a", "b"], rng.randint(0, 2))
    return values


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js runs the browser's evaluator")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_browser_and_server_agree_on_every_condition(seed: int) -> None:
    rng = random.Random(seed)
    cases = [(condition(rng), record(rng)) for _ in range(3000)]
    script = ROOT / "platform" / "itpm" / "static" / "itpm-forms.js"
    result = subprocess.run(
        ["node", "-e", NODE_SCRIPT, str(script)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    browser = json.loads(result.stdout)
    server = [holds(c, v) for c, v in cases]
    assert 0.2 < sum(server) / len(server) < 0.8, "the cases should both hold and fail often"
    disagreements = [(c, v, s) for (c, v), s, b in zip(cases, server, browser, strict=True) if s != b]
    assert disagreements[:5] == []


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        (
            {"properties": {"priority": {"enum": ["P1", "P2"]}}, "required": ["priority"]},
            {"priority": "P1"},
            True,
        ),
        (
            {"properties": {"priority": {"enum": ["P1", "P2"]}}, "required": ["priority"]},
            {"priority": "P3"},
            False,
        ),
        (
            {"properties": {"priority": {"enum": ["P1", "P2"]}}, "required": ["priority"]},
            {"priority": ""},
            False,
        ),
        ({"properties": {"priority": {"enum": ["P1", "P2"]}}}, {}, True),
        ({"properties": {"cost": {"minimum": 100000}}, "required": ["cost"]}, {"cost": 250000}, True),
        (
            {
                "anyOf": [
                    {"required": ["note"]},
                    {"properties": {"flag": {"const": True}}, "required": ["flag"]},
                ]
            },
            {"flag": False},
            False,
        ),
        ({"not": {"required": ["note"]}}, {"note": None}, True),
    ],
)
def test_conditions_on_the_server(condition: dict[str, Any], values: dict[str, Any], expected: bool) -> None:
    assert holds(condition, values) is expected


def schema_condition(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    """Conditions with the keywords a record schema's `if` may use besides the form's."""
    roll = rng.random()
    if depth < 2 and roll < 0.25:
        key = rng.choice(["allOf", "anyOf", "oneOf"])
        return {key: [schema_condition(rng, depth + 1) for _ in range(rng.randint(1, 3))]}
    if depth < 2 and roll < 0.35:
        return {"not": schema_condition(rng, depth + 1)}
    tests: dict[str, Any] = {}
    for name in rng.sample([*FIELDS, "tags", "place"], rng.randint(1, 2)):
        keyword = rng.choice(["type", "pattern", "minItems", "items", "contains", "nested", "const"])
        if keyword == "type":
            tests[name] = {"type": rng.choice(["string", "number", "integer", "boolean", "array", "object"])}
        elif keyword == "pattern":
            tests[name] = {"pattern": rng.choice(["^P[12]$", "a", "^$", "[0-9]"])}
        elif keyword == "minItems":
            tests[name] = {"minItems": rng.randint(0, 2)}
        elif keyword in ("items", "contains"):
            tests[name] = {keyword: {"const": rng.choice(["a", "b", 1])}}
        elif keyword == "nested":
            tests[name] = {"properties": {"city": {"enum": ["Shanghai", "Berlin"]}}, "required": ["city"]}
        else:
            tests[name] = {"const": rng.choice(POOL)}
    result: dict[str, Any] = {"properties": tests}
    if rng.random() < 0.3:
        result["required"] = rng.sample([*FIELDS, "tags", "place"], 1)
    return result


def nested_record(rng: random.Random) -> dict[str, Any]:
    values = record(rng)
    if rng.random() < 0.7:
        values["tags"] = rng.sample(["a", "b", 1, "P1"], rng.randint(0, 3))
    if rng.random() < 0.7:
        values["place"] = rng.choice(
            [{"city": "Shanghai"}, {"city": "Paris"}, {}, {"street": "x"}, "Shanghai"]
        )
    return values


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js runs the browser's evaluator")
@pytest.mark.parametrize("seed", [1, 2])
def test_browser_and_server_agree_on_schema_conditions(seed: int) -> None:
    """The keywords a record schema's if/then and dependentSchemas may use (types, patterns, oneOf,
    lists and nested objects) hold alike in the browser and on the server."""
    rng = random.Random(seed)
    cases = [(schema_condition(rng), nested_record(rng)) for _ in range(2000)]
    script = ROOT / "platform" / "itpm" / "static" / "itpm-forms.js"
    result = subprocess.run(
        ["node", "-e", NODE_SCRIPT, str(script)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    browser = json.loads(result.stdout)
    server = [holds(c, v) for c, v in cases]
    assert 0.2 < sum(server) / len(server) < 0.8, "the cases should both hold and fail often"
    disagreements = [(c, v, s) for (c, v), s, b in zip(cases, server, browser, strict=True) if s != b]
    assert disagreements[:5] == []
