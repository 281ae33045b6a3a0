"""The README's tutorial, run as written against a real server.

The shell blocks of the "Tutorial" section, then those of "Buckets and triggers", run in
order in one bash, in a scratch directory that plays the checkout: the server's data
directory is its `.faas`, as `make serve` makes it. Only what cannot run in a test is
changed: the port (a free one instead of 8080, and FAAS_URL for the CLI), the server start
(`make serve` and activating the virtualenv: the server is already running and the test's
Python is on PATH), `pip install boto3` (a test dependency already), and the AWS CLI line
when the AWS CLI is not installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers.server import FaasServer, aws_cli, clean_env

README = Path(__file__).resolve().parents[2] / "README.md"
SKIPPED_LINES = ("make serve", "source .venv/bin/activate", "pip install boto3")


def section_blocks(text: str, title: str) -> list[str]:
    section = text[text.index(f"## {title}") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def tutorial_script(port: int) -> str:
    text = README.read_text()
    blocks = [*section_blocks(text, "Tutorial"), *section_blocks(text, "Buckets and triggers")]
    lines = []
    for block in blocks:
        for line in block.splitlines():
            if line.strip().startswith(SKIPPED_LINES):
                continue
            if line.startswith("aws ") and aws_cli() is None:
                continue
            lines.append(line.replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
    return "\n".join(["set -euo pipefail", *lines, ""])


def test_the_readme_tutorial_runs_as_written(tmp_path: Path) -> None:
    server = FaasServer.start(tmp_path / ".faas")
    port = int(server.url.rsplit(":", 1)[1])
    script = tmp_path / "tutorial.sh"
    script.write_text(tutorial_script(port))
    bin_dir = Path(sys.executable).parent
    env = clean_env({"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAAS_URL": server.url})
    try:
        completed = subprocess.run(
            ["bash", str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    finally:
        server.stop()
    output = completed.stdout
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert '{"hello": "faas", "calls": 1}' in output
    assert '{"hello": "again", "calls": 2}' in output
    assert '{"hello": "curl", "calls": 3}' in output  # curl --aws-sigv4
    assert """b'{"hello": "boto3", "calls": 4}'""" in output  # boto3 with the credentials file
    assert "deleted hello" in output
    assert "REPORT RequestId:" in completed.stderr  # --tail
    # Buckets: the file dropped into the bucket ran hello once, asynchronously.
    # (records of the tutorial's first hello, deleted since, are listed below it)
    records = output[output.rindex("REQUEST ID") :].splitlines()
    assert records[1].endswith("async #1"), records
