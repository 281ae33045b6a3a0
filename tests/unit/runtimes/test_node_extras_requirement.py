"""The tests of the official Node runtime client and the Node SDK skip where they are not
installed, and fail instead where the environment requires them (as CI does): a client that
failed to install never passes for a green run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.node_runtime import RIC_REQUIRED, require_node_extra


def test_a_missing_extra_skips_the_test_and_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(
        pytest.skip.Exception, match=r"aws-lambda-ric is not installed at .*make node-extras"
    ):
        require_node_extra(tmp_path / "index.mjs", "aws-lambda-ric", environ={})


@pytest.mark.parametrize("unset", ["", "0"])
def test_a_requirement_switched_off_still_skips(tmp_path: Path, unset: str) -> None:
    with pytest.raises(pytest.skip.Exception):
        require_node_extra(tmp_path / "index.mjs", "aws-lambda-ric", environ={RIC_REQUIRED: unset})


def test_a_missing_extra_fails_the_test_where_it_is_required(tmp_path: Path) -> None:
    with pytest.raises(
        pytest.fail.Exception, match=f"{RIC_REQUIRED} is set, so this needs aws-lambda-ric"
    ):
        require_node_extra(tmp_path / "index.mjs", "aws-lambda-ric", environ={RIC_REQUIRED: "1"})


def test_an_installed_extra_is_given_back(tmp_path: Path) -> None:
    entry = tmp_path / "index.mjs"
    entry.write_text("")
    assert require_node_extra(entry, "aws-lambda-ric", environ={RIC_REQUIRED: "1"}) == entry
