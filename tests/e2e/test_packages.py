"""The README's way to ship third-party packages: `pip install --target` into the code
directory, then `faas deploy` of that directory."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

from tests.helpers.server import FaasServer

APP = """
import tinydep

def handler(event, context):
    return {"answer": tinydep.answer(), "from": tinydep.__file__}
"""


def build_wheel(directory: Path) -> Path:
    """A minimal pure-Python wheel, so pip installs it without any index or network."""
    wheel = directory / "tinydep-1.0-py3-none-any.whl"
    files = {
        "tinydep/__init__.py": "def answer():\n    return 42\n",
        "tinydep-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n",
        "tinydep-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        archive.writestr(
            "tinydep-1.0.dist-info/RECORD",
            "".join(f"{name},,\n" for name in files) + "tinydep-1.0.dist-info/RECORD,,\n",
        )
    return wheel


def test_a_package_installed_with_pip_target_is_importable_by_the_function(
    server: FaasServer, tmp_path: Path
) -> None:
    code = tmp_path / "hello"
    code.mkdir()
    (code / "app.py").write_text(APP)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--target",
            str(code),
            str(build_wheel(tmp_path)),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    name = f"packages-{uuid.uuid4().hex[:8]}"

    deployed = server.cli("deploy", str(code), "--name", name, "--handler", "app.handler")
    invoked = server.cli("invoke", name)

    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stderr == ""
    assert invoked.returncode == 0, invoked.stderr
    result = json.loads(invoked.stdout)
    assert result["answer"] == 42
    # Loaded from the code directory (/var/task when the host gives workers a mount namespace).
    assert result["from"].endswith("/tinydep/__init__.py")
    assert "site-packages" not in result["from"]
