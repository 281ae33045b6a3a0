"""Lambda's and CloudWatch Logs' wire shapes as OpenAPI 3.0 schemas: the source of
faas/gateway/openapi_shapes.json, which the server reads to describe those operations.

botocore is a test dependency only (like tests/helpers/lambda_model.py). Only the operations
the gateway serves (faas/gateway/openapi_routes.py) and the shapes they reach are kept. After
upgrading botocore, or when a route starts serving another operation, regenerate it with

    python -m tests.helpers.lambda_schemas
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import botocore
from botocore.loaders import Loader

from faas.gateway.openapi_routes import LOGS_OPERATIONS, ROUTE_DOCS

ROOT = Path(__file__).resolve().parents[2]
SHAPES_PATH = ROOT / "faas" / "gateway" / "openapi_shapes.json"
MODELS = {"lambda": ("lambda", "2015-03-31"), "logs": ("logs", "2014-03-28")}
LOCATIONS = {"uri": "path", "querystring": "query", "header": "header"}


class _Converter:
    """botocore shapes -> OpenAPI 3.0 schemas, each named shape once under its model."""

    def __init__(self, service: str, shapes: Mapping[str, Any]) -> None:
        self.service = service
        self.shapes = shapes
        self.schemas: dict[str, Any] = {}

    def ref(self, shape_name: str) -> dict[str, Any]:
        name = f"{self.service}.{shape_name}"
        if name not in self.schemas:
            self.schemas[name] = {}  # a placeholder first: shapes may refer to themselves
            self.schemas[name] = self.schema(self.shapes[shape_name])
        return {"$ref": f"#/components/schemas/{name}"}

    def schema(self, shape: Mapping[str, Any]) -> dict[str, Any]:
        kind = shape["type"]
        if kind == "structure":
            return self.structure(shape, shape["members"])
        if kind == "list":
            return _bounded({"type": "array", "items": self.ref(shape["member"]["shape"])}, shape)
        if kind == "map":
            return {"type": "object", "additionalProperties": self.ref(shape["value"]["shape"])}
        return _scalar(shape)

    def structure(self, shape: Mapping[str, Any], members: Mapping[str, Any]) -> dict[str, Any]:
        required = [name for name in shape.get("required", ()) if name in members]
        found: dict[str, Any] = {
            "type": "object",
            "properties": {name: self.ref(m["shape"]) for name, m in members.items()},
        }
        if required:
            found["required"] = required
        return found


def _scalar(shape: Mapping[str, Any]) -> dict[str, Any]:
    kind = shape["type"]
    if kind == "string":
        found: dict[str, Any] = {"type": "string"}
        if "enum" in shape:
            found["enum"] = list(shape["enum"])
        if _python_pattern(shape.get("pattern")):
            found["pattern"] = shape["pattern"]
        return _bounded(found, shape, "Length")
    if kind in ("integer", "long"):
        return _bounded({"type": "integer"}, shape, "imum", ("min", "max"))
    if kind in ("double", "float"):
        return {"type": "number"}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "blob":
        return {"type": "string", "format": "byte"}
    if kind == "timestamp":
        return {"anyOf": [{"type": "number"}, {"type": "string"}]}
    raise ValueError(f"unexpected shape type {kind}")


def _bounded(
    found: dict[str, Any],
    shape: Mapping[str, Any],
    suffix: str = "Items",
    keys: tuple[str, str] = ("min", "max"),
) -> dict[str, Any]:
    for key in keys:
        if key in shape:
            found[f"{key}{suffix}"] = shape[key]
    return found


def _python_pattern(pattern: str | None) -> bool:
    """botocore's patterns are Java's; kept only where Python (and so the fuzzer) reads them
    the same way (no \\p classes, possessive quantifiers or the like)."""
    if not pattern or "\\p" in pattern or "\\P" in pattern:
        return False
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _operation(converter: _Converter, model: Mapping[str, Any], name: str) -> dict[str, Any]:
    operation = model["operations"][name]
    shapes = model["shapes"]
    entry: dict[str, Any] = {
        "requestUri": operation["http"]["requestUri"],
        "success": operation["http"].get("responseCode", 200),
        "parameters": [],
    }
    if "input" in operation:
        entry.update(_input(converter, shapes[operation["input"]["shape"]]))
    if "output" in operation:
        entry.update(_output(converter, shapes[operation["output"]["shape"]]))
    return entry


def _input(converter: _Converter, shape: Mapping[str, Any]) -> dict[str, Any]:
    members = shape["members"]
    required = set(shape.get("required", ()))
    parameters = []
    for name, member in members.items():
        where = LOCATIONS.get(member.get("location", ""))
        if where is None:
            continue
        parameters.append(
            {
                "name": member.get("locationName", name),
                "in": where,
                "required": where == "path" or name in required,
                "schema": converter.ref(member["shape"]),
            }
        )
    return {"parameters": parameters, "requestBody": _body(converter, shape)}


def _output(converter: _Converter, shape: Mapping[str, Any]) -> dict[str, Any]:
    headers = {
        member["locationName"]: converter.ref(member["shape"])
        for member in shape["members"].values()
        if member.get("location") == "header"
    }
    return {"responseHeaders": headers, "responseBody": _body(converter, shape)}


def _body(converter: _Converter, shape: Mapping[str, Any]) -> dict[str, Any] | None:
    """The body: the payload member (raw bytes, or a structure), else the members that have
    no location, as one object."""
    members = shape["members"]
    payload = shape.get("payload")
    if payload is not None:
        target = converter.shapes[members[payload]["shape"]]
        if target["type"] in ("blob", "string"):
            return {"contentType": "application/octet-stream", "schema": {}}
        return {
            "contentType": "application/json",
            "schema": converter.ref(members[payload]["shape"]),
        }
    body = {name: m for name, m in members.items() if "location" not in m}
    if not body:
        return None
    return {"contentType": "application/json", "schema": converter.structure(shape, body)}


def served_operations() -> dict[str, list[str]]:
    """{service: [operation, ...]} the gateway's routes name."""
    served: dict[str, list[str]] = {"lambda": [], "logs": list(LOGS_OPERATIONS)}
    for doc in ROUTE_DOCS:
        if doc.model is not None and doc.model.startswith("lambda:"):
            served["lambda"].append(doc.model.removeprefix("lambda:"))
    return {service: sorted(set(names)) for service, names in served.items()}


def build_shapes(served: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    loader = Loader()
    operations: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for service, names in served.items():
        model_name, api_version = MODELS[service]
        model = loader.load_service_model(model_name, "service-2", api_version)
        converter = _Converter(service, model["shapes"])
        for name in names:
            operations[f"{service}:{name}"] = _operation(converter, model, name)
        schemas.update(converter.schemas)
    return {
        "source": f"botocore {botocore.__version__}",
        "operations": operations,
        "schemas": dict(sorted(schemas.items())),
    }


def render(shapes: Mapping[str, Any]) -> str:
    return json.dumps(shapes, indent=1, sort_keys=True) + "\n"


def main() -> None:
    SHAPES_PATH.write_text(render(build_shapes(served_operations())))
    print(f"wrote {SHAPES_PATH.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
