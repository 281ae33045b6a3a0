"""The bill's other lines through a real server: ephemeral storage above 512 MB, provisioned
concurrency (allocation and duration, never free), and a bill grouped by a function tag;
tags themselves through boto3 and the CLI."""

from __future__ import annotations

import csv
import io
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from faas.config import BillingSettings
from tests.helpers.server import FaasServer, make_zip

HELLO = """
def handler(event, context):
    return "ok"
"""
PRICES = BillingSettings().prices()
MB_MS_PER_GB_S = Decimal(1024 * 1000)


@pytest.fixture
def server(tmp_path: Path) -> Any:
    # Records reach the database only when something asks for them (a bill, a tag change):
    # the tests see what each of those waits for, not the ingester's timing.
    env = {"FAAS_BILLING_FREE_TIER": "false", "FAAS_STORE_INGEST_INTERVAL_S": "60"}
    started = FaasServer.start(tmp_path / "data", env=env)
    yield started
    started.stop()


def records(server: FaasServer, name: str) -> list[dict[str, Any]]:
    with server.urlopen(f"{server.url}/faas/v1/invocations?function={name}&limit=1000") as r:
        return list(json.load(r)["Invocations"])


def bill(server: FaasServer, *args: str) -> dict[str, Any]:
    completed = server.cli("bill", "--format", "json", *args)
    assert completed.returncode == 0, completed.stderr
    return dict(json.loads(completed.stdout))


def lines(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["FunctionName"]: line for line in document["Functions"]}


def wait_ready(api: Any, name: str) -> None:
    deadline = time.monotonic() + 30
    while (
        api.get_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST")["Status"]
        != "READY"
    ):
        assert time.monotonic() < deadline, "provisioned concurrency never became ready"
        time.sleep(0.1)


def test_storage_above_512_mb_is_billed_per_gb_second(server: FaasServer) -> None:
    server.deploy("scratch", {"app.py": HELLO}, EphemeralStorage={"Size": 2560})
    server.deploy("plain", {"app.py": HELLO})
    for _ in range(3):
        server.invoke("scratch")
        server.invoke("plain")
    found = records(server, "scratch")
    assert {r["EphemeralStorageSize"] for r in found} == {2560}
    storage = Decimal(sum(r["BilledDurationMs"] for r in found) * (2560 - 512)) / MB_MS_PER_GB_S
    by_name = lines(bill(server))
    assert Decimal(by_name["scratch"]["EphemeralStorageGBSeconds"]) == storage
    cost = (storage * PRICES.per_ephemeral_gb_second).quantize(Decimal("0.0000000001"))
    assert Decimal(by_name["scratch"]["EphemeralStorageCost"]) == cost
    assert Decimal(by_name["plain"]["EphemeralStorageGBSeconds"]) == 0
    assert "STORAGE COST" in server.cli("bill").stdout


def test_provisioned_concurrency_bills_its_allocation_and_duration_without_free_tier(
    tmp_path: Path,
) -> None:
    server = FaasServer.start(tmp_path / "data")  # the free tier is on
    try:
        api = server.client()
        server.deploy("warm", {"app.py": HELLO}, MemorySize=256)
        api.put_provisioned_concurrency_config(
            FunctionName="warm", Qualifier="$LATEST", ProvisionedConcurrentExecutions=2
        )
        wait_ready(api, "warm")
        for _ in range(3):
            server.invoke("warm")
        found = records(server, "warm")
        assert [r["Provisioned"] for r in found] == [True, True, True]
        line = lines(bill(server))["warm"]
        # Less than 5 minutes allocated: one 5-minute increment, 2 workers x 0.25 GB.
        assert Decimal(line["ProvisionedConcurrencyGBSeconds"]) == Decimal(300 * 2 * 256) / 1024
        duration = Decimal(sum(r["BilledDurationMs"] for r in found) * 256) / MB_MS_PER_GB_S
        assert Decimal(line["ProvisionedDurationGBSeconds"]) == duration
        assert Decimal(line["GBSeconds"]) == 0  # nothing on demand
        # The free tier covers the requests, not provisioned concurrency.
        expected = (
            Decimal(150) * PRICES.per_provisioned_gb_second
            + duration * PRICES.per_provisioned_duration_gb_second
        )
        assert Decimal(line["ProvisionedConcurrencyCost"]) == expected.quantize(
            Decimal("0.0000000001")
        )
        assert Decimal(line["RequestCost"]) == 0
        api.delete_provisioned_concurrency_config(FunctionName="warm", Qualifier="$LATEST")
        server.invoke("warm")
        after = lines(bill(server))["warm"]
        assert after["ProvisionedConcurrencyGBSeconds"] == line["ProvisionedConcurrencyGBSeconds"]
        assert Decimal(after["GBSeconds"]) > 0  # the last one ran on demand
    finally:
        server.stop()


def test_a_bill_grouped_by_tag_follows_the_tags_each_invocation_had(server: FaasServer) -> None:
    api = server.client()
    server.deploy("red-api", {"app.py": HELLO}, Tags={"team": "red"})
    server.deploy("blue-api", {"app.py": HELLO}, Tags={"team": "blue", "env": "prod"})
    server.deploy("loose", {"app.py": HELLO})
    for name in ("red-api", "red-api", "blue-api", "loose"):
        server.invoke(name)
    arn = api.get_function(FunctionName="red-api")["Configuration"]["FunctionArn"]
    api.tag_resource(Resource=arn, Tags={"team": "blue"})  # moved to another team
    server.invoke("red-api")

    document = bill(server, "--group-by", "tag:team")
    groups = {group["TagValue"]: group for group in document["Groups"]}
    assert document["GroupBy"] == "tag:team" and "Functions" not in document
    assert {value: group["Requests"] for value, group in groups.items()} == {
        "red": 2,
        "blue": 2,
        None: 1,
    }
    whole = bill(server)
    assert document["Total"] == whole["Total"]
    # Each line is rounded to 10 places on its own: the sums agree to that rounding.
    total = sum(Decimal(group["Total"]) for group in groups.values())
    by_function = sum(Decimal(line["Total"]) for line in whole["Functions"])
    assert abs(total - by_function) <= Decimal("0.0000000001") * 3
    table = server.cli("bill", "--group-by", "tag:team").stdout
    assert table.splitlines()[0].startswith("TEAM") and "(untagged)" in table
    rows = list(
        csv.DictReader(
            io.StringIO(server.cli("bill", "--group-by", "tag:team", "--format", "csv").stdout)
        )
    )
    assert {row["TagValue"] for row in rows} == {"red", "blue", ""}
    bad = server.cli("bill", "--group-by", "team")
    assert bad.returncode != 0 and "tag:KEY" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_tags_through_boto3(server: FaasServer) -> None:
    api = server.client()
    server.deploy("tagged", {"app.py": HELLO}, Tags={"team": "red"})
    arn = api.get_function(FunctionName="tagged")["Configuration"]["FunctionArn"]
    assert api.get_function(FunctionName="tagged")["Tags"] == {"team": "red"}

    api.tag_resource(Resource=arn, Tags={"team": "blue", "cost-center": "4711", "note": ""})
    assert api.list_tags(Resource=arn)["Tags"] == {
        "team": "blue",
        "cost-center": "4711",
        "note": "",
    }
    api.untag_resource(Resource=arn, TagKeys=["note", "absent"])
    assert api.list_tags(Resource=arn)["Tags"] == {"team": "blue", "cost-center": "4711"}

    refused = [
        (arn + ":$LATEST", {"a": "b"}),  # a version: Lambda tags only the function
        (arn, {"aws:owner": "me"}),  # reserved prefix
        (arn, {"k": "x" * 257}),
        (arn, {"bad\nkey": "v"}),
        (arn, {f"k{i}": "v" for i in range(49)}),  # 2 + 49 > 50
    ]
    for resource, tags in refused:
        with pytest.raises(api.exceptions.InvalidParameterValueException):
            api.tag_resource(Resource=resource, Tags=tags)
    assert api.list_tags(Resource=arn)["Tags"] == {"team": "blue", "cost-center": "4711"}
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.list_tags(Resource=arn.replace("tagged", "nobody"))
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.list_tags(Resource=arn.replace(arn.split(":")[4], "999999999999"))
    with pytest.raises(api.exceptions.InvalidParameterValueException):
        api.create_function(
            FunctionName="never",
            Runtime="python3.11",
            Role="arn:aws:iam::123456789012:role/x",
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": HELLO})},
            Tags={"aws:x": "y"},
        )
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.get_function(FunctionName="never")  # refused tags: nothing was created

    server.deploy("tagged", {"app.py": HELLO})  # deleted and created again: no old tags
    assert api.list_tags(Resource=arn)["Tags"] == {}


def test_tags_through_the_cli(server: FaasServer) -> None:
    server.deploy("cli-tagged", {"app.py": HELLO})
    tagged = server.cli("tag", "cli-tagged", "team=red", "tier=gold")
    assert tagged.returncode == 0, tagged.stderr
    listed = server.cli("tags", "cli-tagged")
    assert "team" in listed.stdout and "gold" in listed.stdout
    assert server.cli("untag", "cli-tagged", "tier").returncode == 0
    assert json.loads(server.cli("tags", "--json", "cli-tagged").stdout) == {
        "Tags": {"team": "red"}
    }
    bad = server.cli("tag", "cli-tagged", "novalue")
    assert bad.returncode != 0 and "KEY=VALUE" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
