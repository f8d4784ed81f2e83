"""Range reads: 206 with Content-Range and the exact bytes, open-ended and suffix ranges, clamping,
and 416 InvalidRange past the end."""

import os

import pytest

from s3http import assert_s3_error, object_url, quoted_md5, send, sign

SIZE = 1000


@pytest.fixture
def obj(s3, bucket):
    data = os.urandom(SIZE)
    s3.put_object(Bucket=bucket, Key="ranged.bin", Body=data)
    return bucket, "ranged.bin", data


@pytest.mark.parametrize(
    "header,first,last",
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, SIZE - 1),
        ("bytes=-5", SIZE - 5, SIZE - 1),
        ("bytes=500-500", 500, 500),
        ("bytes=990-5000", 990, SIZE - 1),  # the end is clamped to the object
        ("bytes=-5000", 0, SIZE - 1),  # a suffix longer than the object is the whole object
    ],
)
def test_range(s3, obj, header, first, last):
    bucket, key, data = obj
    resp = s3.get_object(Bucket=bucket, Key=key, Range=header)
    body = resp["Body"].read()
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 206, resp
    assert resp.get("ContentRange") == f"bytes {first}-{last}/{SIZE}", resp
    assert resp.get("ContentLength") == last - first + 1, resp
    assert body == data[first:last + 1], f"{header}: got {len(body)} bytes, wrong content"
    assert resp.get("ETag") == quoted_md5(data), resp


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}"])
def test_range_past_the_end_is_invalid_range(s3, stack, obj, header):
    bucket, key, _ = obj
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key=key, Range=header), "InvalidRange", 416)
    url = object_url(stack.endpoint, bucket, key)
    headers = sign("GET", url, stack.access_key, stack.secret_key, stack.region, headers={"Range": header})
    resp = send("GET", url, headers)
    assert (resp.status, resp.error_code) == (416, "InvalidRange"), str(resp)


def test_range_across_ipfs_chunk_boundaries(s3, bucket):
    # Kubo cuts files into 256 KiB chunks; a range that straddles two chunks and one that lies
    # in the last chunk must come back exact.
    data = os.urandom(3 * 262144 + 12345)
    s3.put_object(Bucket=bucket, Key="chunked.bin", Body=data)
    for first, last in [(262000, 262299), (262144, 524287), (len(data) - 100, len(data) - 1)]:
        resp = s3.get_object(Bucket=bucket, Key="chunked.bin", Range=f"bytes={first}-{last}")
        assert resp.get("ContentRange") == f"bytes {first}-{last}/{len(data)}", resp
        assert resp["Body"].read() == data[first:last + 1], f"bytes {first}-{last} differ"


def test_full_get_without_range_is_200(s3, obj):
    bucket, key, data = obj
    resp = s3.get_object(Bucket=bucket, Key=key)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200, resp
    assert "ContentRange" not in resp, resp
    assert resp["Body"].read() == data
