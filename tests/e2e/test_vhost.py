"""Virtual-hosted-style addressing (`Host: <bucket>.<domain>`, the stack's IPFS_S3_DOMAIN) next to
path style: boto3 with `addressing_style: virtual` writes, lists, reads (on the filter path and the
host path) and deletes, and the same objects read back path style; presigned URLs work in both
styles. `*.localhost` names are resolved to loopback inside these tests (a custom resolver), as
they would be by a DNS entry for the domain."""

import socket

import boto3
import pytest
from botocore.config import Config

from conftest import client_config, unique_bucket_name
from s3http import send

PATHS = {"filter": {}, "host": {"PartNumber": 1}}


@pytest.fixture
def domain(stack):
    d = stack.env.get("IPFS_S3_DOMAIN")
    assert d, "the stack has no IPFS_S3_DOMAIN"
    return d


@pytest.fixture
def resolve_domain(monkeypatch, domain):
    """Resolves `<anything>.<domain>` and `<domain>` to 127.0.0.1."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and (host == domain or host.endswith("." + domain)):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def filter_lookups(stack) -> int:
    """How many reads the filter has resolved (cache hits + misses), from Envoy's stats: it
    grows only when the filter, not the host, serves a read."""
    status, body = stack.envoy_admin("/stats?filter=ipfs_s3_filter_l1_")
    assert status == 200, (status, body[:300])
    lines = body.decode().splitlines()
    return sum(int(line.rsplit(":", 1)[1]) for line in lines if line.strip())


@pytest.fixture
def vs3(stack, domain, resolve_domain):
    return boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://{domain}:{stack.port('ENVOY')}",
        region_name=stack.region,
        aws_access_key_id=stack.access_key,
        aws_secret_access_key=stack.secret_key,
        config=client_config().merge(Config(s3={"addressing_style": "virtual"})),
    )


def test_virtual_hosted_requests_see_the_same_objects_as_path_style(s3, vs3, stack):
    name = unique_bucket_name("vhost")
    vs3.create_bucket(Bucket=name)
    try:
        assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        keys = ["plain.txt", "dir/sub/a b+c.txt", "ünï/cødé ✓", "trailing/"]
        for i, key in enumerate(keys):
            vs3.put_object(Bucket=name, Key=key, Body=f"body {i}".encode(), CacheControl="no-cache")
        listed = [o["Key"] for o in vs3.list_objects_v2(Bucket=name)["Contents"]]
        assert sorted(listed) == sorted(keys)
        for i, key in enumerate(keys):
            for path, extra in PATHS.items():
                before = filter_lookups(stack)
                got = vs3.get_object(Bucket=name, Key=key, **extra)
                assert got["Body"].read() == f"body {i}".encode(), f"{path} {key}"
                assert got["CacheControl"] == "no-cache", f"{path} {key}"
                served_by_filter = filter_lookups(stack) > before
                assert served_by_filter == (path == "filter"), f"{path} {key}"
            # The path-style view is the same.
            assert s3.get_object(Bucket=name, Key=key)["Body"].read() == f"body {i}".encode()
        # A path-style write is seen virtual-hosted at once (the filter's cache is keyed alike).
        s3.put_object(Bucket=name, Key="plain.txt", Body=b"rewritten")
        assert vs3.get_object(Bucket=name, Key="plain.txt")["Body"].read() == b"rewritten"
        vs3.delete_object(Bucket=name, Key="plain.txt")
        err = pytest.raises(Exception, s3.head_object, Bucket=name, Key="plain.txt")
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    finally:
        for key in [o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]:
            s3.delete_object(Bucket=name, Key=key)
        s3.delete_bucket(Bucket=name)


def test_virtual_hosted_presigned_urls(vs3, s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared file.txt", Body=b"shared")
    url = vs3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared file.txt"},
                                     ExpiresIn=300)
    assert url.startswith(f"http://{bucket}."), url
    resp = send("GET", url)
    assert (resp.status, resp.body) == (200, b"shared"), str(resp)
    put_url = vs3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=300)
    resp = send("PUT", put_url, body=b"uploaded")
    assert resp.status == 200, str(resp)
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded"
    # Signed for one bucket's host, replayed against another's: refused.
    other = url.replace(f"http://{bucket}.", f"http://x{bucket}.", 1)
    assert send("GET", other).status == 403


def test_the_domain_itself_is_path_style(stack, domain, resolve_domain, bucket, s3):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    ps3 = boto3.session.Session().client(
        "s3", endpoint_url=f"http://{domain}:{stack.port('ENVOY')}", region_name=stack.region,
        aws_access_key_id=stack.access_key, aws_secret_access_key=stack.secret_key, config=client_config())
    assert ps3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    assert ps3.get_object(Bucket=bucket, Key="k", PartNumber=1)["Body"].read() == b"v"
