"""CopyObject through Envoy: a copy is a new mapping to the source's CID (no bytes move), the
metadata directive, copy-source conditions, encoded keys, and reference counting of shared CIDs."""

import datetime
import os

from conftest import create_bucket, empty_and_delete_bucket, unique_bucket_name
from s3http import assert_s3_error, wait_until
from test_ipfs import PIN_DEADLINE_S, cluster_status, head_cid, http, peer_statuses, wait_pinned


def test_copy_keeps_content_metadata_and_cid(s3, bucket):
    data = os.urandom(70 * 1024)
    put = s3.put_object(Bucket=bucket, Key="src", Body=data, ContentType="text/x-src", Metadata={"colour": "blue"})
    out = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    result = out["CopyObjectResult"]
    assert result["ETag"] == put["ETag"], out
    assert isinstance(result["LastModified"], datetime.datetime), out
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["ContentType"] == "text/x-src" and head["Metadata"] == {"colour": "blue"}, head
    assert head["ETag"] == put["ETag"]
    assert head_cid(s3, bucket, "dst") == head_cid(s3, bucket, "src"), "a copy is the same CID"
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == data


def test_replace_takes_metadata_from_the_request(s3, bucket):
    s3.put_object(
        Bucket=bucket, Key="src", Body=b"abc", ContentType="text/plain", Metadata={"old": "1"}, CacheControl="max-age=1",
    )
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "src"})
    assert s3.head_object(Bucket=bucket, Key="kept")["CacheControl"] == "max-age=1", "COPY keeps the stored headers"
    s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, MetadataDirective="REPLACE",
        ContentType="application/x-new", Metadata={"new": "2"}, CacheControl="no-cache", ContentLanguage="de",
    )
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["ContentType"] == "application/x-new" and head["Metadata"] == {"new": "2"}, head
    assert head["CacheControl"] == "no-cache" and head["ContentLanguage"] == "de", head
    src = s3.head_object(Bucket=bucket, Key="src")
    assert src["Metadata"] == {"old": "1"} and src["CacheControl"] == "max-age=1", "the source is untouched"


def test_copy_onto_itself_needs_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"same", Metadata={"v": "1"})
    assert_s3_error(
        lambda: s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"}),
        "InvalidRequest", 400,
    )
    assert s3.head_object(Bucket=bucket, Key="self")["Metadata"] == {"v": "1"}
    s3.copy_object(
        Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"}, MetadataDirective="REPLACE",
        Metadata={"v": "2"},
    )
    assert s3.head_object(Bucket=bucket, Key="self")["Metadata"] == {"v": "2"}
    assert s3.get_object(Bucket=bucket, Key="self")["Body"].read() == b"same"


def test_encoded_keys_other_bucket_and_null_version(s3, stack, bucket):
    other = unique_bucket_name("copy-target")
    create_bucket(s3, stack, other)
    try:
        for i, key in enumerate(["dir/ä ö+x y.txt", "a+b c", "percent%20not-decoded", "日本/語"]):
            body = f"content {i}".encode()
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            s3.copy_object(Bucket=other, Key=key, CopySource={"Bucket": bucket, "Key": key})
            assert s3.get_object(Bucket=other, Key=key)["Body"].read() == body, key
        s3.copy_object(Bucket=other, Key="versioned", CopySource={"Bucket": bucket, "Key": "a+b c", "VersionId": "null"})
        assert s3.get_object(Bucket=other, Key="versioned")["Body"].read() == b"content 1"
        assert_s3_error(
            lambda: s3.copy_object(Bucket=other, Key="v2", CopySource={"Bucket": bucket, "Key": "a+b c", "VersionId": "v2"}),
            "InvalidArgument", 400,
        )
    finally:
        empty_and_delete_bucket(s3, other)


def test_missing_source_or_bucket(s3, bucket):
    assert_s3_error(lambda: s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "nope"}), "NoSuchKey", 404)
    assert_s3_error(
        lambda: s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": unique_bucket_name("gone"), "Key": "k"}),
        "NoSuchBucket", 404,
    )
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    assert_s3_error(
        lambda: s3.copy_object(Bucket=unique_bucket_name("gone"), Key="d", CopySource={"Bucket": bucket, "Key": "src"}),
        "NoSuchBucket", 404,
    )
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="d"), None, 404)


def test_copy_source_conditions(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="src", Body=b"conditional")
    etag = put["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="src")["LastModified"]
    past, future = modified - datetime.timedelta(days=1), modified + datetime.timedelta(days=1)
    src = {"Bucket": bucket, "Key": "src"}
    refused = [
        {"CopySourceIfMatch": '"0123456789abcdef0123456789abcdef"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfModifiedSince": future},
        {"CopySourceIfUnmodifiedSince": past},
        {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": past},
    ]
    for cond in refused:
        assert_s3_error(lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, **cond), "PreconditionFailed", 412)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="dst"), None, 404)
    accepted = [
        {"CopySourceIfMatch": etag},
        {"CopySourceIfNoneMatch": '"0123456789abcdef0123456789abcdef"'},
        {"CopySourceIfModifiedSince": past},
        {"CopySourceIfUnmodifiedSince": future},
        {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": past},
    ]
    for i, cond in enumerate(accepted):
        s3.copy_object(Bucket=bucket, Key=f"dst{i}", CopySource=src, **cond)
        assert s3.get_object(Bucket=bucket, Key=f"dst{i}")["Body"].read() == b"conditional", cond


def kubo_recursive_pins(stack) -> str:
    status, body = http(f"{stack.kubo_api_url}/api/v0/pin/ls?type=recursive", method="POST", headers=stack.kubo_auth)
    assert status == 200, body[:500]
    return body.decode()


def unpinned_in_cluster(stack, cid):
    """Probe: the cluster no longer pins `cid` and neither does Kubo. The cluster updates its state
    first and its IPFS connector unpins in Kubo a moment later, so both are waited for."""

    def probe():
        status, doc = cluster_status(stack, cid)
        statuses = peer_statuses(doc) if status == 200 else []
        cluster_done = status == 404 or (bool(statuses) and all(s == "unpinned" for s in statuses))
        return cluster_done and cid not in kubo_recursive_pins(stack), (status, doc)

    return probe


def test_the_cid_stays_pinned_until_the_last_copy_goes(s3, stack, bucket):
    data = os.urandom(50 * 1024)  # unique: no other test references this CID
    s3.put_object(Bucket=bucket, Key="original", Body=data)
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "original"})
    cid = wait_pinned(s3, bucket, "original")["x-ipfs-cid"]
    assert wait_pinned(s3, bucket, "copy")["x-ipfs-cid"] == cid

    s3.delete_object(Bucket=bucket, Key="original")
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == data
    status, doc = cluster_status(stack, cid)
    assert status == 200 and "pinned" in peer_statuses(doc), f"unpinned while a copy references it: {doc}"

    s3.delete_object(Bucket=bucket, Key="copy")
    wait_until(unpinned_in_cluster(stack, cid), PIN_DEADLINE_S, f"the cluster to unpin {cid}")
    assert cid not in kubo_recursive_pins(stack), "Kubo still holds the CID pinned"


def test_aws_cli_copies_server_side(s3, aws, bucket):
    s3.put_object(Bucket=bucket, Key="from/a b.txt", Body=b"cli copy")
    aws("s3", "cp", f"s3://{bucket}/from/a b.txt", f"s3://{bucket}/to/a b.txt")
    assert s3.get_object(Bucket=bucket, Key="to/a b.txt")["Body"].read() == b"cli copy"
    assert head_cid(s3, bucket, "to/a b.txt") == head_cid(s3, bucket, "from/a b.txt")
