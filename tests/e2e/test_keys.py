"""Object keys are any UTF-8 up to 1024 bytes: spaces, `+`, `&`, `?`, `#`, `%`, `=`, quotes,
unicode, repeated and trailing `/`. Written with boto3 and the aws CLI, each reads back the same on
the filter path, the host path (`partNumber=1`), by presigned URL, and in listings; 1025 bytes is
`KeyTooLongError`."""

import pytest

from s3http import assert_s3_error, send

PATHS = {"filter": {}, "host": {"PartNumber": 1}}

KEYS = [
    "with space",
    "plus+sign",
    "amp&ersand",
    "question?mark",
    "hash#tag",
    "percent%20literal",
    "percent%",
    "equals=and;semi,comma",
    "quote'double\"",
    "tilde~star*paren()",
    "ünïcødé/日本語/🎉",
    "trailing/",
    "dir//double//slash",
    "/leading",
    " leading-and-trailing-space ",
    "back\\slash",
    "k" * 1024,
    "é" * 512,  # 1024 bytes of two-byte characters
]


@pytest.mark.parametrize("key", KEYS, ids=lambda k: k[:24])
def test_key_round_trips_on_every_path(s3, bucket, key):
    body = key.encode()[:100] + b"!"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    for path, extra in PATHS.items():
        got = s3.get_object(Bucket=bucket, Key=key, **extra)
        assert got["Body"].read() == body, f"{path}: {key!r}"
        assert s3.head_object(Bucket=bucket, Key=key, **extra)["ContentLength"] == len(body), f"{path}: {key!r}"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    resp = send("GET", url)
    assert (resp.status, resp.body) == (200, body), f"presigned {key!r}: {resp}"
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key=key), None, 404)


def test_keys_differing_only_in_encoding_are_distinct(s3, bucket):
    pairs = {"a b": b"space", "a+b": b"plus", "a%20b": b"percent"}
    for key, body in pairs.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    for key, body in pairs.items():
        for path, extra in PATHS.items():
            assert s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read() == body, f"{path}: {key!r}"


def test_keys_through_the_aws_cli(aws, s3, bucket, tmp_path):
    src = tmp_path / "f.txt"
    src.write_bytes(b"cli")
    for key in ["cli dir/ä & b+c.txt", "cli#?%.txt"]:
        aws("s3", "cp", str(src), f"s3://{bucket}/{key}")
        for path, extra in PATHS.items():
            assert s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read() == b"cli", f"{path}: {key!r}"


@pytest.mark.parametrize("key", ["k" * 1025, "é" * 512 + "k"])
def test_a_key_over_1024_bytes_is_too_long(s3, bucket, key):
    assert_s3_error(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"x"), "KeyTooLongError", 400)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
