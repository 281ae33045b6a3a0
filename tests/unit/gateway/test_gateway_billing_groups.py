"""A bill grouped by a tag: each function's use split by the values it had."""

from __future__ import annotations

from decimal import Decimal

from faas.billing import Usage
from faas.gateway.billing_api import usage_by_tag


def test_invocations_go_to_their_tag_and_the_rest_untagged_or_to_the_current_value() -> None:
    functions = {
        "api": Usage(requests=5, billed_ms=50, gb_seconds=Decimal(5)),
        "worker": Usage(
            requests=2,
            billed_ms=20,
            gb_seconds=Decimal(2),
            provisioned_gb_seconds=Decimal(300),
        ),
        "loose": Usage(requests=1, billed_ms=10, gb_seconds=Decimal(1)),
    }
    tagged = {
        ("api", "red"): Usage(requests=3, billed_ms=30, gb_seconds=Decimal(3)),
        ("api", "blue"): Usage(requests=2, billed_ms=20, gb_seconds=Decimal(2)),
        ("worker", "blue"): Usage(requests=1, billed_ms=10, gb_seconds=Decimal(1)),
    }
    groups = usage_by_tag(functions, tagged, {"worker": "blue"})
    assert groups == {
        "red": Usage(requests=3, billed_ms=30, gb_seconds=Decimal(3)),
        "blue": Usage(
            requests=3,
            billed_ms=30,
            gb_seconds=Decimal(3),
            provisioned_gb_seconds=Decimal(300),
        ),
        # worker's invocation from before it was tagged, and the untagged function.
        None: Usage(requests=2, billed_ms=20, gb_seconds=Decimal(2)),
    }
    assert sum(groups.values(), Usage()) == sum(functions.values(), Usage())
