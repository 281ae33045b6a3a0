"""examples/thumbnail end to end: Pillow vendored next to app.py (copied from the test
extras, never fetched here), deployed with the CLI with both buckets mounted, real JPEGs
dropped into `photos`, thumbnails checked in `thumbs`."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import PIL
import pytest
from PIL import Image

from tests.helpers.server import FaasServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "thumbnail"
FAST = {
    "FAAS_QUEUE_POLL_INTERVAL_S": "0.1",
    "FAAS_FILEWATCH_QUIET_PERIOD_MS": "100",
    "FAAS_FILEWATCH_RESCAN_INTERVAL_S": "0",
}


def vendored_function(build: Path) -> Path:
    """app.py plus the installed Pillow (its package and bundled libraries), as
    `pip install --target` would lay them out."""
    build.mkdir()
    shutil.copy(EXAMPLE / "app.py", build / "app.py")
    site = Path(PIL.__file__).resolve().parents[1]
    shutil.copytree(site / "PIL", build / "PIL", ignore=shutil.ignore_patterns("__pycache__"))
    for libraries in site.glob("pillow*.libs"):
        shutil.copytree(libraries, build / libraries.name)
    return build


def test_photos_dropped_into_a_bucket_get_thumbnails(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("writable buckets are given to the functions' group only as root")
    photos, thumbs = tmp_path / "photos", tmp_path / "thumbs"
    photos.mkdir()
    thumbs.mkdir()
    server = FaasServer.start(tmp_path / "data", env=FAST)
    try:
        for args in (("photos", str(photos)), ("thumbs", str(thumbs), "--writable")):
            assert server.cli("bucket", "add", *args).returncode == 0
        code = str(vendored_function(tmp_path / "build"))
        deployed = server.cli(
            "deploy", code, "--name", "thumbnail", "--handler", "app.handler", "--memory", "256",
            "--mount", "photos:/mnt/photos", "--mount", "thumbs:/mnt/thumbs",
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stderr
        added = server.cli("trigger", "add", "thumbnail", "--bucket", "photos", "--suffix", ".jpg")
        assert added.returncode == 0, added.stderr
        sizes = {
            "wide photo.jpg": (800, 400),
            "tall.jpg": (300, 900),
            "album/square.jpg": (512, 512),
        }
        (photos / "album").mkdir()
        for key, size in sizes.items():
            Image.new("RGB", size, (200, 30, 90)).save(photos / key, "JPEG")
        (photos / "notes.txt").write_text("not a photo")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all((thumbs / k).exists() for k in sizes):
            time.sleep(0.2)
        for key, (width, height) in sizes.items():
            with Image.open(thumbs / key) as thumbnail:
                assert thumbnail.format == "JPEG"
                scale = 128 / max(width, height)
                assert thumbnail.size == (round(width * scale), round(height * scale))
        assert sorted(p.name for p in thumbs.iterdir()) == ["album", "tall.jpg", "wide photo.jpg"]
        with server.urlopen(f"{server.url}/faas/v1/invocations?function=thumbnail") as response:
            found = json.load(response)["Invocations"]
        assert [r["Status"] for r in found] == ["Success"] * 3
    finally:
        server.stop()
