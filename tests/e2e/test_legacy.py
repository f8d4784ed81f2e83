"""Buckets in `legacy` mode, through Envoy, against a real S3 server (VersityGW, started by the
stack as its legacy store): every request the client signed for the gateway is answered by the
legacy store, re-signed by Envoy with the legacy store's credentials; the bytes land there and
nowhere in IPFS. The suite's stack holds every bucket named `LEGACY_PREFIX…` in the legacy store."""

import hashlib
import os
import uuid

import pytest
import requests

from conftest import LEGACY_PREFIX, STACK_JSON, component_pid, create_bucket, empty_and_delete_bucket, stack_cmd_ok
from s3http import assert_s3_error, object_url, send, sign, xml_error_code
import chunked
from test_accounts import accounts  # noqa: F401 (a fixture)


@pytest.fixture
def legacy_bucket(s3, stack, request):
    """A fresh bucket in the legacy store, made through the gateway."""
    name = f"{LEGACY_PREFIX}{uuid.uuid4().hex[:12]}"
    create_bucket(s3, stack, name)
    yield name
    empty_and_delete_bucket(s3, name)


def test_objects_are_written_to_and_read_from_the_legacy_store(s3, direct, legacy_bucket):
    data = os.urandom(300 * 1024)
    put = s3.put_object(
        Bucket=legacy_bucket, Key="dir/a b+c.bin", Body=data, ContentType="application/x-test",
        Metadata={"colour": "blue"},
    )
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"', put
    # The legacy store holds it, with its metadata: the gateway did not keep a copy.
    there = direct.get_object(Bucket=legacy_bucket, Key="dir/a b+c.bin")
    assert there["Body"].read() == data
    assert there["ContentType"] == "application/x-test" and there["Metadata"] == {"colour": "blue"}, there
    got = s3.get_object(Bucket=legacy_bucket, Key="dir/a b+c.bin")
    assert got["Body"].read() == data
    headers = got["ResponseMetadata"]["HTTPHeaders"]
    assert "x-ipfs-cid" not in headers, "a legacy object has no CID"
    head = s3.head_object(Bucket=legacy_bucket, Key="dir/a b+c.bin")
    assert head["ContentLength"] == len(data) and head["Metadata"] == {"colour": "blue"}, head
    ranged = s3.get_object(Bucket=legacy_bucket, Key="dir/a b+c.bin", Range="bytes=100-199")
    assert ranged["Body"].read() == data[100:200] and ranged["ContentRange"] == f"bytes 100-199/{len(data)}"
    # Written straight to the legacy store: readable through the gateway as well.
    direct.put_object(Bucket=legacy_bucket, Key="straight", Body=b"from the store")
    assert s3.get_object(Bucket=legacy_bucket, Key="straight")["Body"].read() == b"from the store"
    s3.delete_object(Bucket=legacy_bucket, Key="straight")
    assert_s3_error(lambda: direct.head_object(Bucket=legacy_bucket, Key="straight"), None, 404)
    assert_s3_error(lambda: s3.get_object(Bucket=legacy_bucket, Key="missing"), "NoSuchKey", 404)


def test_list_buckets_shows_both_kinds(s3, make_s3, direct, legacy_bucket, bucket, accounts):  # noqa: F811
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert legacy_bucket in names and bucket in names, names
    assert names == sorted(names), names
    # A bucket of the legacy store whose name is not in legacy mode stays out of the list.
    other = f"not-legacy-{uuid.uuid4().hex[:8]}"
    direct.create_bucket(Bucket=other)
    try:
        assert other not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        direct.delete_bucket(Bucket=other)
    # Paged, the legacy bucket is listed once.
    pages, token = [], None
    while True:
        kwargs = {"MaxBuckets": 1, **({"ContinuationToken": token} if token else {})}
        page = s3.list_buckets(**kwargs)
        pages += [b["Name"] for b in page["Buckets"]]
        token = page.get("ContinuationToken")
        if not token:
            break
    assert pages == names, (pages, names)
    # Another account sees only its own buckets: none of the legacy store's.
    user = accounts()
    assert [b["Name"] for b in make_s3(user["access_key"], user["secret_key"]).list_buckets()["Buckets"]] == []


def test_listings_copies_and_bulk_deletes(s3, direct, legacy_bucket):
    keys = ["a/1", "a/2", "b/1", "top"]
    for k in keys:
        s3.put_object(Bucket=legacy_bucket, Key=k, Body=k.encode())
    page = s3.list_objects_v2(Bucket=legacy_bucket, Delimiter="/")
    assert [c["Prefix"] for c in page["CommonPrefixes"]] == ["a/", "b/"], page
    assert [o["Key"] for o in page["Contents"]] == ["top"], page
    assert [o["Key"] for o in s3.list_objects(Bucket=legacy_bucket, Prefix="a/")["Contents"]] == ["a/1", "a/2"]
    s3.copy_object(Bucket=legacy_bucket, Key="copied", CopySource={"Bucket": legacy_bucket, "Key": "a/1"})
    assert direct.get_object(Bucket=legacy_bucket, Key="copied")["Body"].read() == b"a/1"
    out = s3.delete_objects(Bucket=legacy_bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in out["Deleted"]) == sorted(keys), out
    assert [o["Key"] for o in direct.list_objects_v2(Bucket=legacy_bucket)["Contents"]] == ["copied"]


def test_multipart_uploads(s3, direct, legacy_bucket):
    part = os.urandom(5 * 1024 * 1024)
    up = s3.create_multipart_upload(Bucket=legacy_bucket, Key="mp", ContentType="text/x-mp")
    etags = [
        s3.upload_part(Bucket=legacy_bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n, Body=body)["ETag"]
        for n, body in [(1, part), (2, b"tail")]
    ]
    listed = s3.list_parts(Bucket=legacy_bucket, Key="mp", UploadId=up["UploadId"])
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2], listed
    uploads = s3.list_multipart_uploads(Bucket=legacy_bucket)
    assert [u["UploadId"] for u in uploads.get("Uploads", [])] == [up["UploadId"]], uploads
    s3.complete_multipart_upload(
        Bucket=legacy_bucket, Key="mp", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]},
    )
    assert direct.get_object(Bucket=legacy_bucket, Key="mp")["Body"].read() == part + b"tail"
    assert s3.head_object(Bucket=legacy_bucket, Key="mp")["ETag"].endswith('-2"')
    # An aborted upload leaves nothing behind.
    gone = s3.create_multipart_upload(Bucket=legacy_bucket, Key="gone")
    s3.upload_part(Bucket=legacy_bucket, Key="gone", UploadId=gone["UploadId"], PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=legacy_bucket, Key="gone", UploadId=gone["UploadId"])
    assert not direct.list_multipart_uploads(Bucket=legacy_bucket).get("Uploads"), "no upload is left"


def test_presigned_urls(s3, direct, legacy_bucket):
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": legacy_bucket, "Key": "p"}, ExpiresIn=300)
    assert requests.put(put_url, data=b"presigned body", timeout=30).status_code == 200
    assert direct.get_object(Bucket=legacy_bucket, Key="p")["Body"].read() == b"presigned body"
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": legacy_bucket, "Key": "p"}, ExpiresIn=300)
    resp = requests.get(get_url, timeout=30)
    assert (resp.status_code, resp.content) == (200, b"presigned body")
    # Tampered with, it is refused by the gateway (the legacy store never sees it).
    resp = requests.get(get_url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=30)
    assert resp.status_code == 403 and xml_error_code(resp.content) == "SignatureDoesNotMatch", resp.text


def test_only_valid_signatures_of_administrators_reach_the_legacy_store(stack, s3, make_s3, direct, legacy_bucket, accounts):  # noqa: F811
    s3.put_object(Bucket=legacy_bucket, Key="k", Body=b"secret")
    url = object_url(stack.endpoint, legacy_bucket, "k")
    # Anonymous: the legacy store would take Envoy's signature for the gateway's own.
    resp = send("GET", url)
    assert resp.status == 403 and xml_error_code(resp.body) == "AccessDenied", resp
    resp = send("PUT", url, body=b"anonymous")
    assert resp.status == 403 and xml_error_code(resp.body) == "AccessDenied", resp
    # A wrong secret.
    wrong = make_s3(secret_key="not-the-secret")
    assert_s3_error(lambda: wrong.put_object(Bucket=legacy_bucket, Key="k", Body=b"forged"), "SignatureDoesNotMatch", 403)
    # An account that is not an administrator of the gateway.
    user = accounts()
    alice = make_s3(user["access_key"], user["secret_key"])
    assert_s3_error(lambda: alice.get_object(Bucket=legacy_bucket, Key="k"), "AccessDenied", 403)
    assert direct.get_object(Bucket=legacy_bucket, Key="k")["Body"].read() == b"secret", "nothing was overwritten"


def test_a_client_cannot_route_to_the_legacy_store(stack, direct, bucket):
    """An IPFS bucket's request that names the legacy route itself still goes to IPFS."""
    url = object_url(stack.endpoint, bucket, "k")
    headers = sign("PUT", url, stack.access_key, stack.secret_key, stack.region, body=b"mine")
    resp = send("PUT", url, headers={**headers, "x-ipfs-s3-route": "legacy"}, body=b"mine")
    assert resp.status == 200, resp
    assert "x-ipfs-cid" in {k.lower() for k in resp.headers.keys()}, resp.headers
    assert_s3_error(lambda: direct.head_bucket(Bucket=bucket), None, 404)


def test_aws_chunked_uploads_are_refused_and_store_nothing(stack, direct, legacy_bucket):
    url = object_url(stack.endpoint, legacy_bucket, "chunked")
    resp = chunked.put(url, stack.access_key, stack.secret_key, stack.region, b"x" * 1000, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    assert resp.status == 501 and xml_error_code(resp.body) == "NotImplemented", resp
    assert_s3_error(lambda: direct.head_object(Bucket=legacy_bucket, Key="chunked"), None, 404)


def test_the_aws_cli_on_a_legacy_bucket(aws, direct, tmp_path):
    name = f"{LEGACY_PREFIX}{uuid.uuid4().hex[:12]}"
    aws("s3", "mb", f"s3://{name}")
    try:
        small, large = tmp_path / "small.txt", tmp_path / "large.bin"
        small.write_bytes(b"hello legacy\n")
        large.write_bytes(os.urandom(12 * 1024 * 1024))
        aws("s3", "cp", small, f"s3://{name}/small.txt")
        # Over the threshold: a multipart upload of 8 MiB parts.
        aws("s3", "cp", large, f"s3://{name}/large.bin", s3_settings={"multipart_threshold": "8MB"})
        listing = aws("s3", "ls", f"s3://{name}/").stdout
        assert "small.txt" in listing and "large.bin" in listing, listing
        assert direct.get_object(Bucket=name, Key="large.bin")["Body"].read() == large.read_bytes()
        back = tmp_path / "back.bin"
        aws("s3", "cp", f"s3://{name}/large.bin", back)
        assert back.read_bytes() == large.read_bytes()
        aws("s3", "rm", f"s3://{name}/small.txt")
        aws("s3", "rm", f"s3://{name}/large.bin")
    finally:
        aws("s3", "rb", f"s3://{name}", check=False)
    assert_s3_error(lambda: direct.head_bucket(Bucket=name), None, 404)


def test_the_legacy_store_down_is_a_503_and_leaves_ipfs_buckets_alone(s3, legacy_bucket, bucket):
    s3.put_object(Bucket=legacy_bucket, Key="k", Body=b"legacy")
    stack_cmd_ok("stop legacy")
    try:
        err = assert_s3_error(lambda: s3.get_object(Bucket=legacy_bucket, Key="k"), "ServiceUnavailable", 503)
        assert err["ResponseMetadata"]["HTTPHeaders"].get("retry-after", "").isdigit(), err
        assert_s3_error(lambda: s3.put_object(Bucket=legacy_bucket, Key="n", Body=b"n"), "ServiceUnavailable", 503)
        err = assert_s3_error(lambda: s3.list_buckets(), "ServiceUnavailable", 503)
        assert err["ResponseMetadata"]["HTTPHeaders"].get("retry-after", "").isdigit(), err
        # A bucket in IPFS is untouched by it.
        s3.put_object(Bucket=bucket, Key="k", Body=b"ipfs")
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"ipfs"
    finally:
        stack_cmd_ok("start legacy")
    assert s3.get_object(Bucket=legacy_bucket, Key="k")["Body"].read() == b"legacy"


class _Stream:
    """A file-like body of `size` pseudo-random bytes made as it is read (never held whole),
    hashing what it gave out."""

    def __init__(self, size: int):
        self.left, self.md5, self.block = size, hashlib.md5(), os.urandom(1 << 20)

    def __len__(self):
        return self.left

    def read(self, n: int = -1) -> bytes:
        n = min(self.left if n is None or n < 0 else n, self.left, len(self.block))
        out = self.block[:n]
        self.left -= n
        self.md5.update(out)
        # Each MiB differs from the last, so that no layer can deduplicate them.
        self.block = self.block[1:] + self.block[:1]
        return out


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def test_a_1_gib_object_streams_through_envoy_both_ways(s3, stack, legacy_bucket):
    envoy = component_pid(STACK_JSON.parent, "envoy")
    before = peak_rss_kib(envoy)
    size = 1 << 30
    body = _Stream(size)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": legacy_bucket, "Key": "big"}, ExpiresIn=600)
    resp = requests.put(url, data=body, headers={"Content-Length": str(size)}, timeout=600)
    assert resp.status_code == 200, resp.text
    assert resp.headers["ETag"] == f'"{body.md5.hexdigest()}"', "the legacy store got every byte"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": legacy_bucket, "Key": "big"}, ExpiresIn=600)
    md5, got = hashlib.md5(), 0
    with requests.get(url, stream=True, timeout=600) as resp:
        assert resp.status_code == 200
        for chunk in resp.iter_content(1 << 20):
            md5.update(chunk)
            got += len(chunk)
    assert (got, md5.hexdigest()) == (size, body.md5.hexdigest())
    growth_mib = (peak_rss_kib(envoy) - before) / 1024
    print(f"Envoy peak RSS grew {growth_mib:.1f} MiB over a 1 GiB PUT and GET")
    # Buffering either body would take Envoy's peak up by a gigabyte.
    assert growth_mib < 128, f"Envoy's peak RSS grew {growth_mib:.1f} MiB"
