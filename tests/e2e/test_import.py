"""Importing content that is already in IPFS: content added straight to Kubo (default and other
chunkers, raw leaves, CIDv0 and v1) becomes an S3 object by a PUT with a signed
`x-ipfs-import-cid` header and no body, or by `ipfs-s3 import`, and reads back through the gateway
byte for byte, with an MD5 ETag, pinned by the cluster."""

import hashlib
import json
import os
import subprocess
import urllib.request

import pytest

from s3http import assert_s3_error, wait_until
from test_ipfs import cluster_status, peer_statuses, with_headers


def kubo_add(stack, data: bytes, **params) -> str:
    """Adds `data` to the stack's Kubo node (not through the gateway); returns the root CID."""
    boundary = "import-boundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    query = "&".join(f"{k.replace('_', '-')}={v}" for k, v in {"quieter": "true", **params}.items())
    req = urllib.request.Request(
        f"{stack.kubo_api_url}/api/v0/add?{query}", data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **stack.kubo_auth},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read().decode().strip().splitlines()[-1])["Hash"]


def importer(make_s3, cid):
    return with_headers(make_s3, {"x-ipfs-import-cid": cid})


@pytest.mark.parametrize(
    "size,params",
    [
        (300 * 1024, {}),  # Kubo's defaults: CIDv0, 256 KiB chunks, two leaves
        (1 << 20, {"chunker": "size-65536", "raw_leaves": "true", "cid_version": "1"}),
        (200 * 1024, {"chunker": "rabin-4096-16384-65536"}),
        (1000, {"cid_version": "1"}),  # one raw block
    ],
    ids=["default", "size-64k-raw", "rabin", "raw-block"],
)
def test_content_added_to_kubo_is_imported_and_read_back(s3, make_s3, stack, bucket, size, params):
    data = os.urandom(size)
    cid = kubo_add(stack, data, **params)
    put = importer(make_s3, cid).put_object(Bucket=bucket, Key="photos/in.jpg")
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="photos/in.jpg")
    assert got["Body"].read() == data
    assert got["ContentLength"] == size and got["ContentType"] == "image/jpeg", "sniffed from the name"
    v1 = got["ResponseMetadata"]["HTTPHeaders"]["x-ipfs-cid"]
    assert v1.startswith("baf") and (v1 == cid or cid.startswith("Qm")), (v1, cid)
    ranged = s3.get_object(Bucket=bucket, Key="photos/in.jpg", Range="bytes=100-199")
    assert ranged["Body"].read() == data[100:200]

    def pinned():
        status, doc = cluster_status(stack, v1)
        return status == 200 and "pinned" in peer_statuses(doc), (status, doc)

    wait_until(pinned, 60, f"{v1} pinned by the cluster")


def test_an_import_shares_content_with_other_keys(s3, make_s3, stack, bucket):
    data = os.urandom(4096)
    s3.put_object(Bucket=bucket, Key="uploaded", Body=data, ContentType="text/x-a")
    cid = s3.head_object(Bucket=bucket, Key="uploaded")["ResponseMetadata"]["HTTPHeaders"]["x-ipfs-cid"]
    importer(make_s3, cid).put_object(Bucket=bucket, Key="imported", ContentType="text/x-b")
    s3.delete_object(Bucket=bucket, Key="uploaded")
    got = s3.get_object(Bucket=bucket, Key="imported")
    assert got["Body"].read() == data and got["ContentType"] == "text/x-b"
    status, doc = cluster_status(stack, cid)
    assert status == 200 and "pinned" in peer_statuses(doc), "still referenced: not unpinned"


def test_bad_imports_are_clear_errors_and_change_nothing(s3, make_s3, stack, bucket):
    directory = kubo_add(stack, b"inside", wrap_with_directory="true")
    assert_s3_error(lambda: importer(make_s3, directory).put_object(Bucket=bucket, Key="d"), "InvalidArgument", 400)
    assert_s3_error(lambda: importer(make_s3, "not-a-cid").put_object(Bucket=bucket, Key="d"), "InvalidArgument", 400)
    file_cid = kubo_add(stack, b"x" * 10, cid_version="1")
    assert_s3_error(
        lambda: importer(make_s3, file_cid).put_object(Bucket=bucket, Key="d", Body=b"a body too"), "InvalidRequest", 400,
    )
    # A CID that no node can provide: CIDNotFound once the import deadline passes (in the
    # default compatibility mode, ServiceUnavailable with the IPFS code beside it).
    nowhere = kubo_add(stack, os.urandom(64), cid_version="1", only_hash="true")
    assert_s3_error(
        lambda: importer(make_s3, nowhere).put_object(Bucket=bucket, Key="d"), "ServiceUnavailable", 503, ipfs_code="CIDNotFound",
    )
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="d"), None, 404)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_the_import_command_maps_one_key_or_a_file_of_them(s3, stack, bucket, tmp_path):
    from test_migrate import host_bin, host_config

    blobs = {f"k{i}.txt": os.urandom(2000 + i) for i in range(3)}
    cids = {k: kubo_add(stack, v) for k, v in blobs.items()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPFS_S3_")}
    base = [str(host_bin(stack)), "--config", str(host_config(stack)), "import", "--endpoint", stack.endpoint, "--bucket", bucket]
    one = subprocess.run([*base, "--key", "k0.txt", "--cid", cids["k0.txt"]], env=env, capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stdout + one.stderr
    batch = tmp_path / "batch.txt"
    batch.write_text("# key cid\n" + "".join(f"{k} {cids[k]}\n" for k in ("k1.txt", "k2.txt")) + "bad.txt not-a-cid\n")
    many = subprocess.run([*base, "--file", str(batch)], env=env, capture_output=True, text=True, timeout=120)
    assert many.returncode == 1, "one line failed: " + many.stdout + many.stderr
    assert "imported 2 of 3 objects" in many.stdout and "bad.txt <- not-a-cid  FAILED" in many.stdout, many.stdout
    for k, v in blobs.items():
        got = s3.get_object(Bucket=bucket, Key=k)
        assert got["Body"].read() == v and got["ContentType"] == "text/plain"
