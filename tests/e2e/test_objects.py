"""Object round trips: PUT, GET, HEAD, DELETE, metadata, Content-MD5, large bodies, special keys,
read-after-write."""

import datetime
import hashlib
import os

import pytest

from s3http import assert_s3_error, md5_b64, object_url, quoted_md5, send, sign


def headers_of(resp) -> dict:
    return resp["ResponseMetadata"]["HTTPHeaders"]


def test_put_get_head_delete_round_trip(s3, bucket):
    key = "dir/round-trip.bin"
    data = os.urandom(100_000) + b"tail"
    put = s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/x-e2e-test")
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200, put
    assert put.get("ETag") == quoted_md5(data), put

    head = s3.head_object(Bucket=bucket, Key=key)
    assert head.get("ContentLength") == len(data), head
    assert head.get("ETag") == quoted_md5(data), head
    assert head.get("ContentType") == "application/x-e2e-test", head
    assert "last-modified" in headers_of(head), head
    age = datetime.datetime.now(datetime.timezone.utc) - head["LastModified"]
    assert datetime.timedelta(minutes=-5) < age < datetime.timedelta(minutes=5), head

    get = s3.get_object(Bucket=bucket, Key=key)
    body = get["Body"].read()
    assert body == data, f"GET returned {len(body)} bytes, expected {len(data)}: {get}"
    assert get.get("ContentLength") == len(data), get
    assert get.get("ETag") == quoted_md5(data), get
    assert get.get("ContentType") == "application/x-e2e-test", get
    assert get.get("LastModified") == head.get("LastModified"), (get, head)

    deleted = s3.delete_object(Bucket=bucket, Key=key)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204, deleted
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key=key), "NoSuchKey", 404)


def test_delete_of_a_key_that_never_existed_is_204(s3, bucket):
    resp = s3.delete_object(Bucket=bucket, Key="never/existed")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204, resp


def test_content_type_defaults_to_binary_octet_stream(s3, stack, bucket):
    # A raw signed PUT, so that no client library adds a Content-Type of its own.
    url = object_url(stack.endpoint, bucket, "no-type")
    headers = sign("PUT", url, stack.access_key, stack.secret_key, stack.region, body=b"abc")
    resp = send("PUT", url, headers, b"abc")
    assert resp.status == 200, str(resp)
    head = s3.head_object(Bucket=bucket, Key="no-type")
    assert head.get("ContentType") == "binary/octet-stream", head


def test_empty_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put.get("ETag") == quoted_md5(b""), put
    head = s3.head_object(Bucket=bucket, Key="empty")
    assert head.get("ContentLength") == 0, head
    get = s3.get_object(Bucket=bucket, Key="empty")
    assert get["Body"].read() == b"", get
    assert get.get("ETag") == quoted_md5(b""), get


def test_user_metadata_round_trip(s3, bucket):
    meta = {"colour": "blue", "x-y": "z"}
    s3.put_object(Bucket=bucket, Key="meta", Body=b"m", Metadata=meta)
    head = s3.head_object(Bucket=bucket, Key="meta")
    assert head.get("Metadata") == meta, head
    get = s3.get_object(Bucket=bucket, Key="meta")
    get["Body"].read()
    assert get.get("Metadata") == meta, get


def test_twenty_mib_single_put_round_trip(s3, bucket):
    data = os.urandom(20 * 1024 * 1024)
    put = s3.put_object(Bucket=bucket, Key="big.bin", Body=data)
    assert put.get("ETag") == quoted_md5(data), put
    get = s3.get_object(Bucket=bucket, Key="big.bin")
    assert get.get("ContentLength") == len(data), get
    digest = hashlib.sha256()
    for chunk in get["Body"].iter_chunks(1024 * 1024):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest(), "20 MiB object read back differs"


@pytest.mark.parametrize(
    "key",
    [
        "with space.txt",
        "plus+sign.txt",
        "ünïcödé/ключ/鍵.txt",
        "query?and&amp=1.txt",
        "100%.txt",
        "tilde~star*quote'.txt",
    ],
)
def test_special_characters_in_keys(s3, bucket, key):
    data = key.encode() * 3
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head.get("ContentLength") == len(data), head
    get = s3.get_object(Bucket=bucket, Key=key)
    assert get["Body"].read() == data, get
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert listed == [key], listed


def test_content_md5_correct_is_accepted(s3, bucket):
    data = b"checked content"
    resp = s3.put_object(Bucket=bucket, Key="md5", Body=data, ContentMD5=md5_b64(data))
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200, resp
    assert s3.get_object(Bucket=bucket, Key="md5")["Body"].read() == data


def test_content_md5_wrong_is_bad_digest_and_stores_nothing(s3, bucket):
    data = b"the body that was sent"
    assert_s3_error(
        lambda: s3.put_object(Bucket=bucket, Key="bad-md5", Body=data, ContentMD5=md5_b64(b"other")),
        "BadDigest", 400,
    )
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="bad-md5"), None, 404)
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert listed == [], listed


def test_content_md5_wrong_leaves_the_previous_version(s3, bucket):
    old = b"old content that must survive"
    s3.put_object(Bucket=bucket, Key="keep", Body=old)
    new = b"new content with a wrong digest"
    assert_s3_error(
        lambda: s3.put_object(Bucket=bucket, Key="keep", Body=new, ContentMD5=md5_b64(b"other")),
        "BadDigest", 400,
    )
    get = s3.get_object(Bucket=bucket, Key="keep")
    assert get["Body"].read() == old, get
    assert get.get("ETag") == quoted_md5(old), get


def test_read_after_overwrite_returns_new_content(s3, bucket):
    v1, v2 = b"version one", b"version two is longer"
    s3.put_object(Bucket=bucket, Key="rw", Body=v1)
    # Read twice so that any resolve cache in front of the gateway holds version one.
    for _ in range(2):
        assert s3.get_object(Bucket=bucket, Key="rw")["Body"].read() == v1
    s3.put_object(Bucket=bucket, Key="rw", Body=v2)
    get = s3.get_object(Bucket=bucket, Key="rw")
    assert get["Body"].read() == v2, get
    assert get.get("ETag") == quoted_md5(v2), get
    head = s3.head_object(Bucket=bucket, Key="rw")
    assert (head.get("ContentLength"), head.get("ETag")) == (len(v2), quoted_md5(v2)), head


def test_read_after_delete_is_404(s3, bucket):
    s3.put_object(Bucket=bucket, Key="gone", Body=b"soon gone")
    for _ in range(2):
        assert s3.get_object(Bucket=bucket, Key="gone")["Body"].read() == b"soon gone"
    s3.head_object(Bucket=bucket, Key="gone")
    s3.delete_object(Bucket=bucket, Key="gone")
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key="gone"), "NoSuchKey", 404)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="gone"), None, 404)


def test_missing_key_is_no_such_key(s3, stack, bucket):
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key="missing"), "NoSuchKey", 404)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="missing"), None, 404)
    # The body is an S3 XML error document.
    url = object_url(stack.endpoint, bucket, "missing")
    resp = send("GET", url, sign("GET", url, stack.access_key, stack.secret_key, stack.region))
    assert (resp.status, resp.error_code) == (404, "NoSuchKey"), str(resp)


def test_user_metadata_over_2_kib_is_metadata_too_large(s3, bucket):
    assert_s3_error(
        lambda: s3.put_object(Bucket=bucket, Key="fat", Body=b"x", Metadata={"big": "v" * 2100}),
        "MetadataTooLarge",
        400,
    )
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="fat"), None, 404)


def test_part_numbers_and_version_ids_of_a_single_part_unversioned_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="one", Body=b"whole object")
    assert s3.get_object(Bucket=bucket, Key="one", PartNumber=1)["Body"].read() == b"whole object"
    assert s3.get_object(Bucket=bucket, Key="one", VersionId="null")["Body"].read() == b"whole object"
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key="one", PartNumber=2), "InvalidPart", 400)
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key="one", VersionId="zzz"), "InvalidArgument", 400)
