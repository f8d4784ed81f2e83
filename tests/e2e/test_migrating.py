"""Buckets in `migrating` mode, through Envoy, against the real legacy store (VersityGW): a key IPFS
lacks is read from the legacy store and kept in IPFS in the same pass, so its next read comes from
IPFS with the same bytes and headers; writes go to IPFS; a key deleted through the gateway never
comes back; listings show every key once. The suite's stack migrates every bucket named
`MIGRATING_PREFIX…`; each test makes it in both stores."""

import hashlib
import os
import uuid

import pytest

from conftest import MIGRATING_PREFIX, create_bucket, empty_and_delete_bucket, stack_cmd_ok
from s3http import assert_s3_error


@pytest.fixture
def moving(s3, direct, stack):
    """A bucket of the legacy store that the gateway is migrating (made in both)."""
    name = f"{MIGRATING_PREFIX}{uuid.uuid4().hex[:12]}"
    direct.create_bucket(Bucket=name)
    create_bucket(s3, stack, name)
    yield name
    empty_and_delete_bucket(s3, name)
    for page in direct.get_paginator("list_objects_v2").paginate(Bucket=name):
        for o in page.get("Contents", []):
            direct.delete_object(Bucket=name, Key=o["Key"])
    direct.delete_bucket(Bucket=name)


def cid_of(answer) -> str | None:
    return answer["ResponseMetadata"]["HTTPHeaders"].get("x-ipfs-cid")


def described(answer) -> tuple:
    """What a GET or HEAD says of an object, but where its bytes came from."""
    return (
        answer["ContentLength"], answer["ETag"], answer["LastModified"], answer["ContentType"],
        answer["Metadata"], answer.get("CacheControl"), answer.get("ContentDisposition"),
    )


def test_a_legacy_key_is_read_from_the_store_once_then_from_ipfs(s3, direct, moving):
    data = os.urandom(700 * 1024)
    direct.put_object(
        Bucket=moving, Key="dir/a b.bin", Body=data, ContentType="application/x-old",
        Metadata={"colour": "blue"}, CacheControl="max-age=60", ContentDisposition="attachment",
    )
    first = s3.get_object(Bucket=moving, Key="dir/a b.bin")
    assert first["Body"].read() == data
    assert cid_of(first) is None, "the first read comes from the legacy store"
    assert first["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    # The whole body read, the object is in IPFS: the next read says so, with the same headers.
    second = s3.get_object(Bucket=moving, Key="dir/a b.bin")
    assert second["Body"].read() == data
    assert (cid_of(second) or "").startswith("baf"), second["ResponseMetadata"]["HTTPHeaders"]
    assert described(second) == described(first)
    head = s3.head_object(Bucket=moving, Key="dir/a b.bin")
    assert cid_of(head) == cid_of(second) and described(head) == described(first)
    # Served from IPFS now: gone from the legacy store, it is still there.
    direct.delete_object(Bucket=moving, Key="dir/a b.bin")
    assert s3.get_object(Bucket=moving, Key="dir/a b.bin")["Body"].read() == data


def test_a_multipart_legacy_object_keeps_its_etag(s3, direct, moving):
    parts = [os.urandom(5 << 20), os.urandom(1000)]
    up = direct.create_multipart_upload(Bucket=moving, Key="mp", ContentType="video/x-test")
    done = [
        {"PartNumber": n, "ETag": direct.upload_part(Bucket=moving, Key="mp", UploadId=up["UploadId"], PartNumber=n, Body=p)["ETag"]}
        for n, p in enumerate(parts, 1)
    ]
    direct.complete_multipart_upload(Bucket=moving, Key="mp", UploadId=up["UploadId"], MultipartUpload={"Parts": done})
    legacy_etag = direct.head_object(Bucket=moving, Key="mp")["ETag"]
    assert legacy_etag.endswith('-2"'), legacy_etag
    first = s3.get_object(Bucket=moving, Key="mp")
    assert first["Body"].read() == b"".join(parts) and first["ETag"] == legacy_etag
    second = s3.get_object(Bucket=moving, Key="mp")
    assert second["Body"].read() == b"".join(parts)
    assert cid_of(second) and second["ETag"] == legacy_etag and second["ContentType"] == "video/x-test"


def test_heads_ranges_and_conditions_answer_the_same_before_and_after(s3, direct, moving):
    data = os.urandom(64 * 1024)
    direct.put_object(Bucket=moving, Key="k", Body=data, ContentType="text/x-k")
    etag = direct.head_object(Bucket=moving, Key="k")["ETag"]

    def answers():
        head = s3.head_object(Bucket=moving, Key="k")
        ranged = s3.get_object(Bucket=moving, Key="k", Range="bytes=10-19")
        body = ranged["Body"].read()
        not_modified = assert_s3_error(lambda: s3.get_object(Bucket=moving, Key="k", IfNoneMatch=etag), None, 304)
        assert_s3_error(lambda: s3.get_object(Bucket=moving, Key="k", IfMatch='"0000"'), "PreconditionFailed", 412)
        assert_s3_error(lambda: s3.head_object(Bucket=moving, Key="k", IfMatch='"0000"'), None, 412)
        assert_s3_error(lambda: s3.get_object(Bucket=moving, Key="k", Range="bytes=70000-"), "InvalidRange", 416)
        return (
            described(head), body, ranged["ContentRange"], ranged["ContentLength"],
            not_modified["ResponseMetadata"]["HTTPHeaders"].get("etag"),
        ), cid_of(head)

    before, cid = answers()
    assert cid is None, "HEAD, ranges and refused conditions keep nothing"
    assert before[1] == data[10:20] and before[2] == f"bytes 10-19/{len(data)}"
    # A conditional GET that holds reads the whole object: kept.
    assert s3.get_object(Bucket=moving, Key="k", IfMatch=etag)["Body"].read() == data
    after, cid = answers()
    assert cid, "the whole GET kept it"
    assert after == before


def test_writes_go_to_ipfs_and_deleted_keys_never_come_back(s3, direct, moving):
    for k in ("over", "gone", "gone-too", "kept"):
        direct.put_object(Bucket=moving, Key=k, Body=f"old {k}".encode())
    # An overwrite is the gateway's; the legacy store keeps its old copy.
    s3.put_object(Bucket=moving, Key="over", Body=b"new")
    got = s3.get_object(Bucket=moving, Key="over")
    assert got["Body"].read() == b"new" and cid_of(got)
    assert direct.get_object(Bucket=moving, Key="over")["Body"].read() == b"old over"
    # Deleted through the gateway, never read back from the legacy store (which still has them).
    s3.delete_object(Bucket=moving, Key="gone")
    deleted = s3.delete_objects(Bucket=moving, Delete={"Objects": [{"Key": "gone-too"}]})
    assert [d["Key"] for d in deleted.get("Deleted", [])] == ["gone-too"], deleted
    for k in ("gone", "gone-too"):
        assert_s3_error(lambda: s3.get_object(Bucket=moving, Key=k), "NoSuchKey", 404)
        assert_s3_error(lambda: s3.head_object(Bucket=moving, Key=k), None, 404)
        assert direct.get_object(Bucket=moving, Key=k)["Body"].read() == f"old {k}".encode()
    # A key migrated and then deleted does not come back either; a new PUT brings it back.
    assert s3.get_object(Bucket=moving, Key="kept")["Body"].read() == b"old kept"
    s3.delete_object(Bucket=moving, Key="kept")
    assert_s3_error(lambda: s3.get_object(Bucket=moving, Key="kept"), "NoSuchKey", 404)
    s3.put_object(Bucket=moving, Key="gone", Body=b"again")
    assert s3.get_object(Bucket=moving, Key="gone")["Body"].read() == b"again"
    assert_s3_error(lambda: s3.get_object(Bucket=moving, Key="never"), "NoSuchKey", 404)


def test_a_listing_shows_every_key_once_with_the_gateways_version(s3, direct, moving):
    for k in ("a/1", "a/2", "b", "c", "e"):
        direct.put_object(Bucket=moving, Key=k, Body=b"legacy")
    s3.put_object(Bucket=moving, Key="b", Body=b"the gateway's")
    s3.put_object(Bucket=moving, Key="d", Body=b"new")
    s3.delete_object(Bucket=moving, Key="c")
    s3.get_object(Bucket=moving, Key="e")["Body"].read()  # migrated: listed once still
    listed = s3.list_objects_v2(Bucket=moving)["Contents"]
    assert [o["Key"] for o in listed] == ["a/1", "a/2", "b", "d", "e"], listed
    sizes = {o["Key"]: o["Size"] for o in listed}
    assert sizes == {"a/1": 6, "a/2": 6, "b": len(b"the gateway's"), "d": 3, "e": 6}, sizes
    rolled = s3.list_objects_v2(Bucket=moving, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/"]
    assert [o["Key"] for o in rolled["Contents"]] == ["b", "d", "e"]
    # Page by page, the same keys.
    keys, token = [], None
    while True:
        page = s3.list_objects_v2(Bucket=moving, MaxKeys=2, **({"ContinuationToken": token} if token else {}))
        keys += [o["Key"] for o in page.get("Contents", [])]
        token = page.get("NextContinuationToken")
        if not page["IsTruncated"]:
            break
    assert keys == ["a/1", "a/2", "b", "d", "e"]
    assert [o["Key"] for o in s3.list_objects(Bucket=moving, Prefix="a/")["Contents"]] == ["a/1", "a/2"]


def test_the_legacy_store_down_is_a_503_for_what_needs_it(s3, direct, moving):
    direct.put_object(Bucket=moving, Key="old", Body=b"old")
    s3.put_object(Bucket=moving, Key="new", Body=b"new")
    stack_cmd_ok("stop legacy")
    try:
        err = assert_s3_error(lambda: s3.get_object(Bucket=moving, Key="old"), "ServiceUnavailable", 503)
        assert err["ResponseMetadata"]["HTTPHeaders"].get("retry-after", "").isdigit(), err
        assert_s3_error(lambda: s3.list_objects_v2(Bucket=moving), "ServiceUnavailable", 503)
        # What IPFS has is served without it.
        assert s3.get_object(Bucket=moving, Key="new")["Body"].read() == b"new"
        s3.put_object(Bucket=moving, Key="newer", Body=b"newer")
    finally:
        stack_cmd_ok("start legacy")
    assert s3.get_object(Bucket=moving, Key="old")["Body"].read() == b"old"


def test_a_bulk_migration_of_a_migrating_bucket_leaves_deleted_keys_deleted(stack, s3, direct, moving, tmp_path):
    from test_migrate import migrate

    for k in ("a", "b", "c"):
        direct.put_object(Bucket=moving, Key=k, Body=f"legacy {k}".encode())
    s3.delete_object(Bucket=moving, Key="b")  # never copied, deleted through the gateway
    s3.put_object(Bucket=moving, Key="c", Body=b"the gateway's")
    migrate(stack, moving, moving, tmp_path / "journal.jsonl")
    assert s3.get_object(Bucket=moving, Key="a")["Body"].read() == b"legacy a"
    assert_s3_error(lambda: s3.get_object(Bucket=moving, Key="b"), "NoSuchKey", 404)
    assert s3.get_object(Bucket=moving, Key="c")["Body"].read() == b"the gateway's"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=moving)["Contents"]] == ["a", "c"]


def test_a_bucket_switched_to_ipfs_after_its_migration_no_longer_reads_the_legacy_store(stack, s3, direct, moving, tmp_path):
    from test_migrate import migrate

    for k in ("a", "b"):
        direct.put_object(Bucket=moving, Key=k, Body=f"legacy {k}".encode())
    out = migrate(stack, moving, moving, tmp_path / "journal.jsonl", "--switch").stdout
    assert f"bucket {moving} switched to ipfs mode" in out, out
    # Written to the legacy store after the switch: not the gateway's business any more.
    direct.put_object(Bucket=moving, Key="late", Body=b"late")
    assert_s3_error(lambda: s3.get_object(Bucket=moving, Key="late"), "NoSuchKey", 404)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=moving)["Contents"]] == ["a", "b"]
    got = s3.get_object(Bucket=moving, Key="a")
    assert got["Body"].read() == b"legacy a" and cid_of(got)
