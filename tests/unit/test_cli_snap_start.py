"""`faas deploy --snap-start`: the Lambda fields the flag sends."""

from __future__ import annotations

from faas.cli.deploy import ConfigOptions


def test_snap_start_is_sent_as_lambdas_apply_on() -> None:
    fields = ConfigOptions(handler="app.handler", snap_start=True).to_lambda()

    assert fields == {"Handler": "app.handler", "SnapStart": {"ApplyOn": "PublishedVersions"}}


def test_without_the_flag_snap_start_is_left_as_it_is() -> None:
    assert "SnapStart" not in ConfigOptions(handler="app.handler").to_lambda()
