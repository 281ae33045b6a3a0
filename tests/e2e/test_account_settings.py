"""GetAccountSettings through boto3 and the AWS CLI: limits from the configuration, usage
from the functions."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.server import FaasServer, aws_cli_for

HELLO = "def handler(event, context):\n    return 1\n"


def test_limits_and_usage(tmp_path: Path) -> None:
    server = FaasServer.start(
        tmp_path / "data",
        env={"FAAS_CONCURRENCY_ACCOUNT_LIMIT": "300", "FAAS_CONCURRENCY_UNRESERVED_MINIMUM": "50"},
    )
    try:
        api = server.client()
        empty = api.get_account_settings()
        assert empty["AccountUsage"] == {"TotalCodeSize": 0, "FunctionCount": 0}
        assert empty["AccountLimit"]["ConcurrentExecutions"] == 300
        assert empty["AccountLimit"]["UnreservedConcurrentExecutions"] == 300
        assert empty["AccountLimit"]["CodeSizeZipped"] == 50 * 1024 * 1024
        assert empty["AccountLimit"]["CodeSizeUnzipped"] == 250 * 1024 * 1024
        first = server.deploy("one", {"app.py": HELLO})
        second = server.deploy("two", {"app.py": HELLO})
        api.put_function_concurrency(FunctionName="two", ReservedConcurrentExecutions=20)
        used = api.get_account_settings()
        assert used["AccountUsage"] == {
            "TotalCodeSize": first["CodeSize"] + second["CodeSize"],
            "FunctionCount": 2,
        }
        assert used["AccountLimit"]["UnreservedConcurrentExecutions"] == 280
        completed = aws_cli_for(server.data_dir, server.url).run("get-account-settings")
        assert completed.returncode == 0, completed.stderr
        assert json.loads(completed.stdout)["AccountUsage"]["FunctionCount"] == 2
    finally:
        server.stop()
