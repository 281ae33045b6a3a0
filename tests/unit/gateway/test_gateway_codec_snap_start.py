"""SnapStart and provisioned concurrency documents at the API edge."""

from __future__ import annotations

from typing import Any

import pytest

from faas.domain import FunctionConfig
from faas.errors import InvalidParameterValue
from faas.gateway.codec import config_change, configuration_document
from faas.gateway.provisioned_api import provisioned_document
from tests.helpers.configs import function_config

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


def config(**changes: Any) -> FunctionConfig:
    return function_config(**changes)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"SnapStart": {"ApplyOn": "PublishedVersions"}}, True),
        ({"SnapStart": {"ApplyOn": "None"}}, False),
        ({"SnapStart": {}}, None),
        ({}, None),
    ],
)
def test_snap_start_apply_on_becomes_on_off_or_unchanged(
    document: dict[str, Any], expected: bool | None
) -> None:
    assert config_change(document).snap_start is expected


@pytest.mark.parametrize(
    "document",
    [
        {"SnapStart": {"ApplyOn": "Always"}},
        {"SnapStart": {"ApplyOn": True}},
        {"SnapStart": "PublishedVersions"},
    ],
)
def test_a_malformed_snap_start_is_refused(document: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameterValue, match="SnapStart"):
        config_change(document)


def test_the_configuration_says_whether_snap_start_is_in_effect() -> None:
    on = configuration_document(config(snap_start=True), ARN)["SnapStart"]
    off = configuration_document(config(), ARN)["SnapStart"]

    assert on == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    assert off == {"ApplyOn": "None", "OptimizationStatus": "Off"}


@pytest.mark.parametrize(
    ("requested", "allocated", "status"),
    [(2, 0, "IN_PROGRESS"), (2, 1, "IN_PROGRESS"), (2, 2, "READY")],
)
def test_provisioned_status_is_ready_once_every_worker_is_up(
    requested: int, allocated: int, status: str
) -> None:
    cfg = config(provisioned_concurrency=requested)

    document = provisioned_document(cfg, requested, allocated)

    assert document == {
        "RequestedProvisionedConcurrentExecutions": requested,
        "AllocatedProvisionedConcurrentExecutions": allocated,
        "AvailableProvisionedConcurrentExecutions": allocated,
        "Status": status,
        "LastModified": cfg.last_modified,
    }
