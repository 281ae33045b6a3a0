"""Where CreateFunction's and UpdateFunctionCode's zip comes from: `ZipFile` (base64 in the
request), or `S3Bucket` + `S3Key`, read from the faas bucket of that name, as
infrastructure-as-code tools deploy (they upload the zip, then point Lambda at it)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.gateway.codec import zip_from_code
from faas.gateway.services import Services
from faas.registry.bucket_paths import KeyNotReadable, read_key

S3_FIELDS = ("S3Bucket", "S3Key", "S3ObjectVersion")


async def code_zip(
    request: web.Request, services: Services, document: Mapping[str, Any], field: str
) -> bytes:
    """The zip the request gives, from wherever it says; InvalidParameterValue with Lambda's
    wording when it cannot be had."""
    if not any(key in document for key in S3_FIELDS):
        return zip_from_code(document, field)
    if "ZipFile" in document:
        raise InvalidParameterValue(f"{field}: give ZipFile or S3Bucket and S3Key, not both")
    bucket_name, key = document.get("S3Bucket"), document.get("S3Key")
    if not isinstance(bucket_name, str) or not isinstance(key, str) or not bucket_name or not key:
        raise InvalidParameterValue(f"{field}: S3Bucket and S3Key are both required")
    if document.get("S3ObjectVersion") is not None:
        raise InvalidParameterValue(
            f"{field}.S3ObjectVersion: faas buckets keep one version of a file; leave it out"
        )
    services.auth.require(request, "s3:GetObject", f"arn:aws:s3:::{bucket_name}/{key}")
    if services.buckets is None:
        raise _get_object_error("NoSuchBucket", "The specified bucket does not exist")
    try:
        bucket = services.buckets.bucket(bucket_name)
    except ResourceNotFound as exc:
        raise _get_object_error("NoSuchBucket", "The specified bucket does not exist") from exc
    limit = services.limits.max_unzipped_bytes
    try:
        return await asyncio.to_thread(read_key, bucket.path, key, limit)
    except KeyNotReadable as exc:
        raise _get_object_error("NoSuchKey", f"The specified key does not exist ({exc})") from exc


def _get_object_error(code: str, message: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {message}"
    )
