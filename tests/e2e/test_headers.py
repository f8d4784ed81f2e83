"""Object headers: Cache-Control, Content-Disposition, Content-Encoding, Content-Language and
Expires stored by PutObject and returned by GET and HEAD, and GetObject's `response-*` overrides
(signed requests and presigned URLs), on both read paths: the filter serving from the IPFS gateway,
and the host (reads with `partNumber=1` go to the host)."""

import pytest

import chunked
from s3http import object_url, send

# How a read reaches each path: the filter serves plain reads, the host those with a part number.
PATHS = {"filter": {}, "host": {"PartNumber": 1}}

STORED = {
    "CacheControl": "max-age=3600, must-revalidate",
    "ContentDisposition": 'attachment; filename="report.pdf"',
    "ContentEncoding": "gzip",
    "ContentLanguage": "de-CH",
    "ContentType": "application/pdf",
}
EXPIRES = "Thu, 01 Dec 2050 16:00:00 GMT"
WIRE = {
    "cache-control": STORED["CacheControl"],
    "content-disposition": STORED["ContentDisposition"],
    "content-encoding": "gzip",
    "content-language": "de-CH",
    "content-type": "application/pdf",
    "expires": EXPIRES,
}


@pytest.fixture
def stored(s3, bucket):
    s3.put_object(Bucket=bucket, Key="doc", Body=b"%PDF-1.7 not really", Expires=EXPIRES, **STORED)
    return bucket, "doc"


def wire_headers(resp) -> dict:
    return resp["ResponseMetadata"]["HTTPHeaders"]


@pytest.mark.parametrize("path", PATHS)
def test_stored_headers_come_back_on_get_and_head(s3, stored, path):
    bucket, key = stored
    for resp in (
        s3.head_object(Bucket=bucket, Key=key, **PATHS[path]),
        s3.get_object(Bucket=bucket, Key=key, **PATHS[path]),
    ):
        got = wire_headers(resp)
        for name, value in WIRE.items():
            assert got.get(name) == value, f"{path}: {name}: {got}"
    assert resp["Body"].read() == b"%PDF-1.7 not really"


@pytest.mark.parametrize("path", PATHS)
def test_objects_without_headers_get_none_of_them(s3, bucket, path):
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    got = wire_headers(s3.head_object(Bucket=bucket, Key="plain", **PATHS[path]))
    for name in ("cache-control", "content-disposition", "content-encoding", "content-language", "expires"):
        assert name not in got, f"{path}: {name}: {got}"
    assert got["content-type"] == "binary/octet-stream"


OVERRIDES = {
    "ResponseContentType": "text/plain; charset=utf-8",
    "ResponseContentLanguage": "fr",
    "ResponseCacheControl": "no-store",
    "ResponseContentDisposition": "inline",
    "ResponseContentEncoding": "identity",
    "ResponseExpires": "Wed, 21 Oct 2037 07:28:00 GMT",
}
OVERRIDDEN = {
    "content-type": "text/plain; charset=utf-8",
    "content-language": "fr",
    "cache-control": "no-store",
    "content-disposition": "inline",
    "content-encoding": "identity",
    "expires": "Wed, 21 Oct 2037 07:28:00 GMT",
}


@pytest.mark.parametrize("path", PATHS)
def test_response_overrides_replace_stored_headers(s3, stored, path):
    bucket, key = stored
    resp = s3.get_object(Bucket=bucket, Key=key, **OVERRIDES, **PATHS[path])
    got = wire_headers(resp)
    for name, value in OVERRIDDEN.items():
        assert got.get(name) == value, f"{path}: {name}: {got}"
    assert resp["Body"].read() == b"%PDF-1.7 not really"
    # For that response only: the next read sees the stored headers again.
    again = wire_headers(s3.head_object(Bucket=bucket, Key=key, **PATHS[path]))
    assert again["content-type"] == "application/pdf" and again["cache-control"] == WIRE["cache-control"]


@pytest.mark.parametrize("path", PATHS)
def test_presigned_get_with_overrides(s3, stored, path):
    bucket, key = stored
    params = {"Bucket": bucket, "Key": key, **OVERRIDES, **PATHS[path]}
    url = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=300)
    resp = send("GET", url)
    assert resp.status == 200, str(resp)
    for name, value in OVERRIDDEN.items():
        assert resp.header(name) == value, f"{path}: {name}: {resp}"
    assert resp.body == b"%PDF-1.7 not really"


def test_aws_chunked_is_not_stored_as_content_encoding(s3, stack, bucket):
    """A body sent `aws-chunked` keeps only its real codings (S3 strips `aws-chunked`)."""
    url = object_url(stack.endpoint, bucket, "chunked")
    data = b"compressed bytes"
    creds = (stack.access_key, stack.secret_key, stack.region)
    trailer = ("x-amz-checksum-crc32", chunked.crc32_b64(data))
    resp = chunked.put(url, *creds, data, chunked.UNSIGNED_TRAILER, trailer,
                       headers={"Content-Encoding": "aws-chunked,gzip"})
    assert resp.status == 200, str(resp)
    for path in PATHS:
        got = wire_headers(s3.get_object(Bucket=bucket, Key="chunked", **PATHS[path]))
        assert got.get("content-encoding") == "gzip", f"{path}: {got}"
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == data
    resp = chunked.put(url, *creds, data, chunked.UNSIGNED_TRAILER, trailer)
    assert resp.status == 200, str(resp)
    for path in PATHS:
        got = wire_headers(s3.head_object(Bucket=bucket, Key="chunked", **PATHS[path]))
        assert "content-encoding" not in got, f"{path}: {got}"
