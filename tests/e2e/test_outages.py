"""Dependency outages on the real stack: with Kubo, Redis or the host stopped, every kind of request
answers at once with an S3 error document carrying the seed's code where one applies
(`IPFSNodeUnavailable` when IPFS is down) and `503` with `Retry-After`, never a 400, a hang, a
reset or a bare 500. Nothing half-written stays behind (no object, no multipart part, no lost
delete), and once the dependency is back the same requests succeed. With the cluster stopped,
writes are still accepted (their pins wait in the durable queue) and everything else works."""

import os

import pytest

from conftest import stack_cmd_ok
from s3http import s3_error
from test_caches import wait_healthy

BIG = 300 * 1024  # over the host cache's small-object size: read from the IPFS gateway


class Requests:
    """One of each kind of request against `bucket`, prepared so that each can be repeated."""

    def __init__(self, s3, bucket):
        self.s3, self.bucket = s3, bucket
        s3.put_object(Bucket=bucket, Key="cold-big", Body=os.urandom(BIG))
        s3.put_object(Bucket=bucket, Key="doomed", Body=b"delete me")
        self.upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
        self.small, self.large = os.urandom(4096), os.urandom(24 << 20)

    def kinds(self):
        s3, b = self.s3, self.bucket
        return {
            "small put": lambda: s3.put_object(Bucket=b, Key="small", Body=self.small),
            "large put": lambda: s3.put_object(Bucket=b, Key="large", Body=self.large),
            "part": lambda: s3.upload_part(Bucket=b, Key="mp", UploadId=self.upload, PartNumber=1, Body=self.small),
            "get (filter)": lambda: s3.get_object(Bucket=b, Key="cold-big")["Body"].read(),
            "get (host)": lambda: s3.get_object(Bucket=b, Key="cold-big", PartNumber=1)["Body"].read(),
            "list": lambda: s3.list_objects_v2(Bucket=b),
            "delete": lambda: s3.delete_object(Bucket=b, Key="doomed"),
        }

    def nothing_half_written(self, failed):
        s3, b = self.s3, self.bucket
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", [])}
        if "small put" in failed:
            assert "small" not in keys
        if "large put" in failed:
            assert "large" not in keys
        if "part" in failed:
            assert s3.list_parts(Bucket=b, Key="mp", UploadId=self.upload).get("Parts", []) == []
        if "delete" in failed:
            assert "doomed" in keys, "a refused delete removed the key"


def outage_answer(call):
    err = s3_error(call)
    meta = err["ResponseMetadata"]
    return meta["HTTPStatusCode"], err.get("Error", {}).get("Code"), meta["HTTPHeaders"].get("retry-after")


# What each kind answers while the dependency is down: a code, or None for "succeeds".
EXPECTED = {
    "kubo": {
        "small put": "IPFSNodeUnavailable",
        "large put": "IPFSNodeUnavailable",
        "part": "IPFSNodeUnavailable",
        "get (filter)": "IPFSNodeUnavailable",
        "get (host)": "IPFSNodeUnavailable",
        "list": None,
        "delete": None,
    },
    "redis": {kind: "ServiceUnavailable" for kind in
              ["small put", "large put", "part", "get (filter)", "get (host)", "list", "delete"]},
    "host": {kind: "ServiceUnavailable" for kind in
             ["small put", "large put", "part", "get (filter)", "get (host)", "list", "delete"]},
    "cluster": {kind: None for kind in
                ["small put", "large put", "part", "get (filter)", "get (host)", "list", "delete"]},
}


@pytest.mark.parametrize("dependency", list(EXPECTED))
def test_outage_answers_and_recovery(s3, stack, bucket, dependency):
    reqs = Requests(s3, bucket)
    failed, seen = [], {}
    stack_cmd_ok(f"stop {dependency}")
    try:
        for kind, call in reqs.kinds().items():
            expected = EXPECTED[dependency][kind]
            if expected is None:
                call()
                seen[kind] = "ok"
                continue
            status, code, retry_after = outage_answer(call)
            seen[kind] = (status, code, retry_after)
            failed.append(kind)
            assert (status, code) == (503, expected), f"{dependency} down, {kind}: {seen}"
            assert retry_after and retry_after.isdigit(), f"{dependency} down, {kind}: no Retry-After: {seen}"
    finally:
        stack_cmd_ok("up")
        wait_healthy(stack)
    reqs.nothing_half_written(failed)
    # Back: every request that failed succeeds as it is.
    for kind in failed:
        reqs.kinds()[kind]()
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == reqs.small
    assert s3.get_object(Bucket=bucket, Key="large")["Body"].read() == reqs.large
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="mp", UploadId=reqs.upload)["Parts"]] == [1]
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=reqs.upload)
