"""The committed table of Lambda operations against the botocore installed with the tests."""

from __future__ import annotations

import re
import subprocess
import sys

from faas.gateway.lambda_operations import OPERATIONS
from tests.helpers.lambda_model import ROOT, TABLE_PATH, botocore_operations, render_table


def test_every_committed_operation_is_as_the_installed_botocore_models_it() -> None:
    modelled = botocore_operations()
    # A newer botocore may add operations (regenerate to name them); it must not move ours.
    assert {"Invoke", "CreateFunction", "PublishVersion", "ListLayers"} <= modelled.keys()
    drifted = {
        name: {"committed": (method, request_uri), "botocore": modelled[name]}
        for name, method, request_uri in OPERATIONS
        if name in modelled and modelled[name] != (method, request_uri)
    }
    assert drifted == {}, "regenerate with: python -m tests.helpers.lambda_model"


def test_the_table_is_as_the_generator_writes_it() -> None:
    committed = TABLE_PATH.read_text()
    version = re.search(r"Generated from botocore (\S+) ", committed)
    assert version is not None
    names = [name for name, _, _ in OPERATIONS]
    assert len(names) == len(set(names))
    table = {name: (method, request_uri) for name, method, request_uri in OPERATIONS}
    assert render_table(table, version.group(1)) == committed


def test_the_server_never_imports_botocore() -> None:
    probe = "import sys, faas.server; print('botocore' in sys.modules)"
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert completed.stdout.strip() == "False"
