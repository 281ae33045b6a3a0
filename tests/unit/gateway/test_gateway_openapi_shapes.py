"""faas/gateway/openapi_shapes.json is what the installed botocore's Lambda and CloudWatch
Logs models give for the operations the routes serve (regenerate it, never edit it)."""

from __future__ import annotations

from tests.helpers.lambda_schemas import SHAPES_PATH, build_shapes, render, served_operations


def test_the_committed_shapes_are_the_models() -> None:
    assert SHAPES_PATH.read_text() == render(build_shapes(served_operations())), (
        "regenerate with `python -m tests.helpers.lambda_schemas`"
    )
