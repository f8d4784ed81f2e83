"""Access statistics, end to end: X-IPFS-Access-Count and X-IPFS-Last-Access on both read paths
(the filter's, and the host's for `partNumber` reads), what counts (GETs with content; not HEAD,
not 304), and statistics going away with the key. (The replica manager needs several cluster peers
to raise a factor: its hot/cold test is in test_cluster.py.)

Counts reach the headers after the filter's (or host's) flush and the resolve caches' TTL, so every
check polls with a deadline. The suite's stack writes counts often (`E2E_STACK_DEFAULTS` in
conftest.py).
"""

import email.utils

from botocore.exceptions import ClientError

from s3http import wait_until
from test_ipfs import ipfs_headers

COUNT_DEADLINE_S = 30


def access_of(resp) -> tuple:
    h = ipfs_headers(resp)
    count = h.get("x-ipfs-access-count")
    assert count is not None and count.isdigit(), f"no X-IPFS-Access-Count: {h}"
    return int(count), h.get("x-ipfs-last-access")


def wait_count(probe_head, expected, what):
    """Polls HEAD (which does not count) until the access count is at least `expected`; returns
    (count, last access) then."""
    def probe():
        count, last = access_of(probe_head())
        return count >= expected, (count, last)

    return wait_until(probe, COUNT_DEADLINE_S, f"{what}: access count {expected}")


def get_body(s3, bucket, key, **kw):
    resp = s3.get_object(Bucket=bucket, Key=key, **kw)
    resp["Body"].read()
    return resp


def test_gets_count_exactly_and_head_and_304_do_not(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello access")
    head = s3.head_object(Bucket=bucket, Key="k")
    assert access_of(head) == (0, None), ipfs_headers(head)
    etag = head["ETag"]

    # Requests that must not count, sent first on the same connection (the same Envoy worker).
    for _ in range(5):
        s3.head_object(Bucket=bucket, Key="k")
    try:
        s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=etag)
        raise AssertionError("If-None-Match with the current ETag must answer 304")
    except ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    # Four full GETs and one range GET.
    for _ in range(4):
        assert get_body(s3, bucket, "k")["Body"] is not None
    assert get_body(s3, bucket, "k", Range="bytes=0-4")["ResponseMetadata"]["HTTPStatusCode"] == 206

    count, last = wait_count(lambda: s3.head_object(Bucket=bucket, Key="k"), 5, "filter path")
    assert count == 5, f"HEAD or 304 counted: {count}"
    # Both headers on GET and HEAD; Last-Access is an HTTP date, not before the upload.
    for resp in (s3.head_object(Bucket=bucket, Key="k"), get_body(s3, bucket, "k")):
        c, last = access_of(resp)
        assert c >= 5 and last, ipfs_headers(resp)
        accessed = email.utils.parsedate_to_datetime(last)
        assert accessed >= head["LastModified"].replace(microsecond=0), (last, head["LastModified"])
    # The GET just made counts too.
    count, _ = wait_count(lambda: s3.head_object(Bucket=bucket, Key="k"), 6, "filter path")
    assert count == 6


def test_host_path_reads_count_and_carry_the_headers(s3, bucket):
    s3.put_object(Bucket=bucket, Key="parts", Body=b"served by the host")
    # `partNumber` reads are served by the host, not the filter.
    head = lambda: s3.head_object(Bucket=bucket, Key="parts", PartNumber=1)
    assert access_of(head())[0] == 0
    for _ in range(3):
        resp = get_body(s3, bucket, "parts", PartNumber=1)
        access_of(resp)
    count, last = wait_count(head, 3, "host path")
    assert count == 3 and last, (count, last)
    resp = get_body(s3, bucket, "parts", PartNumber=1)
    c, last = access_of(resp)
    assert c >= 3 and last, ipfs_headers(resp)
    # Both paths see the same statistics.
    count, _ = wait_count(lambda: s3.head_object(Bucket=bucket, Key="parts"), 4, "both paths")
    assert count == 4


def test_a_deleted_and_recreated_key_starts_from_zero(s3, bucket):
    s3.put_object(Bucket=bucket, Key="again", Body=b"same bytes")
    for _ in range(3):
        get_body(s3, bucket, "again")
    wait_count(lambda: s3.head_object(Bucket=bucket, Key="again"), 3, "before the delete")
    s3.delete_object(Bucket=bucket, Key="again")
    s3.put_object(Bucket=bucket, Key="again", Body=b"same bytes")
    assert access_of(s3.head_object(Bucket=bucket, Key="again")) == (0, None)
    assert access_of(s3.head_object(Bucket=bucket, Key="again", PartNumber=1)) == (0, None)
    get_body(s3, bucket, "again")
    count, _ = wait_count(lambda: s3.head_object(Bucket=bucket, Key="again"), 1, "after re-creating")
    assert count == 1
