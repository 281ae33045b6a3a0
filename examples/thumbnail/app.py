"""Make a thumbnail of every .jpg that lands in bucket `photos`, into bucket `thumbs`.

The function is an ordinary Lambda S3 handler: it reads the object named by each record and
writes the thumbnail under the same key. On faas both buckets are directories mounted into
the function (FileSystemConfigs): photos read-only at /mnt/photos, thumbs writable at
/mnt/thumbs. Pillow ships inside the zip (see README.md).
"""

from __future__ import annotations

import os
import urllib.parse

from PIL import Image

PHOTOS = os.environ.get("PHOTOS_DIR", "/mnt/photos")
THUMBS = os.environ.get("THUMBS_DIR", "/mnt/thumbs")
SIZE = (128, 128)


def handler(event, context):
    made = []
    for record in event.get("Records", []):
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        # Keys arrive URL-encoded, as S3 sends them ("my photo.jpg" -> "my+photo.jpg").
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        target = os.path.join(THUMBS, key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with Image.open(os.path.join(PHOTOS, key)) as image:
            image.thumbnail(SIZE)
            # Written under a temporary name first: a reader of `thumbs` never sees half a file.
            partial = target + ".part"
            image.convert("RGB").save(partial, "JPEG", quality=85)
            os.replace(partial, target)
            made.append({"key": key, "size": list(image.size)})
    print(f"made {len(made)} thumbnail(s)")
    return made
