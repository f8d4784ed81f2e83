"""Server-side encryption through Envoy, with boto3 and the aws CLI: SSE-S3
(`x-amz-server-side-encryption: AES256`), the design's `X-IPFS-Encryption` with `X-IPFS-Key-ID`,
SSE-C, and a bucket's default encryption. What lands in IPFS is ciphertext: the CID read straight
from the Kubo gateway holds no plaintext; reads through the gateway (the filter leaves encrypted
objects to the host) return the plaintext, whole and in ranges across segment boundaries. What
cannot encrypt yet (UploadPartCopy of encrypted objects, SSE-KMS) is refused and stores nothing."""

import base64
import hashlib
import os
import re
import subprocess
from pathlib import Path

from conftest import REPO

from s3http import assert_s3_error, object_url, send, sign
from test_ipfs import http

SEGMENT = 64 * 1024
TAG = 16
MARKER = b"the plaintext marker 0123456789 "


def sealed_len(n: int) -> int:
    return n + max(1, -(-n // SEGMENT)) * TAG


def plaintext(n: int) -> bytes:
    """`n` bytes full of a recognisable marker (so that any of it leaking into IPFS is found)."""
    return (MARKER * (n // len(MARKER) + 1))[:n]


def stored_in_ipfs(stack, cid) -> bytes:
    status, body = http(f"{stack.gateway_url}/ipfs/{cid}")
    assert status == 200, (status, body[:200])
    return body


def head_headers(s3, bucket, key, **kw) -> dict:
    return s3.head_object(Bucket=bucket, Key=key, **kw)["ResponseMetadata"]["HTTPHeaders"]


def test_sse_s3_stores_ciphertext_and_reads_back_whole_and_in_ranges(s3, stack, bucket):
    body = plaintext(3 * SEGMENT + 1234)
    put = s3.put_object(Bucket=bucket, Key="sse", Body=body, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"', "the ETag is the plaintext's MD5"
    h = head_headers(s3, bucket, "sse")
    assert (h["x-amz-server-side-encryption"], int(h["content-length"])) == ("AES256", len(body))

    stored = stored_in_ipfs(stack, h["x-ipfs-cid"])
    assert len(stored) == sealed_len(len(body))
    assert MARKER[:16] not in stored

    got = s3.get_object(Bucket=bucket, Key="sse")
    assert got["Body"].read() == body and got["ServerSideEncryption"] == "AES256"
    for first, last in [(0, 0), (SEGMENT - 5, SEGMENT + 5), (SEGMENT, 2 * SEGMENT - 1), (10, 3 * SEGMENT + 1000),
                        (len(body) - 1, len(body) - 1)]:
        part = s3.get_object(Bucket=bucket, Key="sse", Range=f"bytes={first}-{last}")
        assert part["Body"].read() == body[first:last + 1], (first, last)
        assert part["ContentRange"] == f"bytes {first}-{last}/{len(body)}"
    assert s3.get_object(Bucket=bucket, Key="sse", Range="bytes=-100")["Body"].read() == body[-100:]
    # A presigned URL reads it through the filter too (which leaves it to the host).
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "sse"}, ExpiresIn=300)
    assert send("GET", url).body == body
    # A copy shares the ciphertext and stays readable; a copy to another key id re-encrypts.
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "sse"})
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == body
    assert head_headers(s3, bucket, "copy")["x-ipfs-cid"] == h["x-ipfs-cid"]
    k2 = stack.env["IPFS_S3_ENCRYPTION_KEY_IDS"].split(",")[1]
    url = object_url(stack.endpoint, bucket, "rekeyed")
    extra = {"x-amz-copy-source": f"/{bucket}/sse", "x-ipfs-encryption": "AES256", "x-ipfs-key-id": k2}
    resp = send("PUT", url, sign("PUT", url, stack.access_key, stack.secret_key, stack.region, headers=extra))
    assert resp.status == 200, str(resp)
    rekeyed = s3.get_object(Bucket=bucket, Key="rekeyed")
    assert rekeyed["Body"].read() == body
    assert rekeyed["ResponseMetadata"]["HTTPHeaders"]["x-ipfs-key-id"] == k2
    assert rekeyed["ResponseMetadata"]["HTTPHeaders"]["x-ipfs-cid"] != h["x-ipfs-cid"], "sealed again, under k2"
    # A plaintext object copied with SSE-S3 is encrypted.
    s3.put_object(Bucket=bucket, Key="plain", Body=body)
    s3.copy_object(Bucket=bucket, Key="plain-sealed", CopySource={"Bucket": bucket, "Key": "plain"}, ServerSideEncryption="AES256")
    assert MARKER[:16] not in stored_in_ipfs(stack, head_headers(s3, bucket, "plain-sealed")["x-ipfs-cid"])


def test_x_ipfs_encryption_names_its_key_and_an_unknown_key_is_refused(s3, stack, bucket):
    url = object_url(stack.endpoint, bucket, "seed")
    body = plaintext(5000)
    key_ids = stack.env["IPFS_S3_ENCRYPTION_KEY_IDS"].split(",")
    headers = {"x-ipfs-encryption": "AES256", "x-ipfs-key-id": key_ids[1]}
    resp = send("PUT", url, sign("PUT", url, stack.access_key, stack.secret_key, stack.region, headers=headers, body=body), body)
    assert resp.status == 200, str(resp)
    assert (resp.header("x-ipfs-encryption"), resp.header("x-ipfs-key-id")) == ("AES256", key_ids[1])
    got = s3.get_object(Bucket=bucket, Key="seed")
    assert got["Body"].read() == body
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-ipfs-key-id"] == key_ids[1]
    assert MARKER[:16] not in stored_in_ipfs(stack, got["ResponseMetadata"]["HTTPHeaders"]["x-ipfs-cid"])

    headers = {"x-ipfs-encryption": "AES256", "x-ipfs-key-id": "no-such-key"}
    url = object_url(stack.endpoint, bucket, "refused")
    resp = send("PUT", url, sign("PUT", url, stack.access_key, stack.secret_key, stack.region, headers=headers, body=body), body)
    assert (resp.status, resp.error_code) == (400, "InvalidArgument"), str(resp)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="refused"), None, 404)


def test_sse_c_needs_the_customer_key_on_every_read(s3, stack, bucket):
    key, other = os.urandom(32), os.urandom(32)
    body = plaintext(2 * SEGMENT + 7)
    put = s3.put_object(Bucket=bucket, Key="c", Body=body, SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    assert put["SSECustomerAlgorithm"] == "AES256"
    assert put["SSECustomerKeyMD5"] == base64.b64encode(hashlib.md5(key).digest()).decode()
    with_key = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
    assert s3.get_object(Bucket=bucket, Key="c", **with_key)["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="c", Range="bytes=65530-65550", **with_key)["Body"].read() == body[65530:65551]
    assert head_headers(s3, bucket, "c", **with_key)["content-length"] == str(len(body))
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key="c"), "InvalidRequest", 400)
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=other),
                    "AccessDenied", 403)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="c"), None, 400)
    cid = head_headers(s3, bucket, "c", **with_key)["x-ipfs-cid"]
    assert MARKER[:16] not in stored_in_ipfs(stack, cid)
    # A plaintext object read with a customer key: refused, as on S3.
    s3.put_object(Bucket=bucket, Key="plain", Body=b"p")
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key="plain", **with_key), "InvalidRequest", 400)
    # A copy of it needs its key (and stores nothing without); with it, the copy is sealed again.
    assert_s3_error(lambda: s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "c"}),
                    "InvalidRequest", 400)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="c2"), None, 404)
    s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "c"}, CopySourceSSECustomerAlgorithm="AES256",
                   CopySourceSSECustomerKey=key, ServerSideEncryption="AES256")
    h2 = head_headers(s3, bucket, "c2")
    assert h2["x-amz-server-side-encryption"] == "AES256" and h2["x-ipfs-cid"] != cid
    assert s3.get_object(Bucket=bucket, Key="c2")["Body"].read() == body


def test_a_bucket_default_encrypts_every_new_object(s3, stack, bucket):
    assert_s3_error(lambda: s3.get_bucket_encryption(Bucket=bucket), "ServerSideEncryptionConfigurationNotFoundError", 404)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    body = plaintext(70_000)
    s3.put_object(Bucket=bucket, Key="d", Body=body)
    h = head_headers(s3, bucket, "d")
    assert h["x-amz-server-side-encryption"] == "AES256"
    assert MARKER[:16] not in stored_in_ipfs(stack, h["x-ipfs-cid"])
    assert s3.get_object(Bucket=bucket, Key="d")["Body"].read() == body
    # Multipart uploads into it are encrypted too, part by part.
    parts = [plaintext(5 * 1024 * 1024), plaintext(1000)]
    mp = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert mp["ServerSideEncryption"] == "AES256"
    done = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="mp", UploadId=mp["UploadId"], PartNumber=n,
                                                      Body=p)["ETag"]} for n, p in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=mp["UploadId"], MultipartUpload={"Parts": done})
    h = head_headers(s3, bucket, "mp")
    assert h["x-amz-server-side-encryption"] == "AES256"
    assert MARKER[:16] not in stored_in_ipfs(stack, h["x-ipfs-cid"])
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(parts)
    s3.delete_bucket_encryption(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="after", Body=b"plain again")
    assert "x-amz-server-side-encryption" not in head_headers(s3, bucket, "after")


def test_an_sse_c_multipart_upload_needs_the_key_on_every_part(s3, stack, bucket):
    key = os.urandom(32)
    sse_c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
    mp = s3.create_multipart_upload(Bucket=bucket, Key="mp", **sse_c)
    uid = mp["UploadId"]
    parts = [plaintext(5 * 1024 * 1024), plaintext(3000)]
    assert_s3_error(lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=parts[0]),
                    "InvalidRequest", 400)
    assert_s3_error(lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=parts[0],
                                           SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(32)), "AccessDenied", 403)
    done = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=n, Body=p, **sse_c)["ETag"]}
            for n, p in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": done})
    assert s3.get_object(Bucket=bucket, Key="mp", **sse_c)["Body"].read() == b"".join(parts)
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key="mp"), "InvalidRequest", 400)
    assert MARKER[:16] not in stored_in_ipfs(stack, head_headers(s3, bucket, "mp", **sse_c)["x-ipfs-cid"])


def test_the_aws_cli_sse_and_sse_c(aws, s3, stack, bucket, tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(plaintext(300_000))
    aws("s3", "cp", src, f"s3://{bucket}/cli-sse", "--sse", "AES256")
    assert head_headers(s3, bucket, "cli-sse")["x-amz-server-side-encryption"] == "AES256"
    key = tmp_path / "key.bin"
    key.write_bytes(os.urandom(32))
    aws("s3", "cp", src, f"s3://{bucket}/cli-sse-c", "--sse-c", "AES256", "--sse-c-key", f"fileb://{key}")
    out = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{bucket}/cli-sse-c", out, "--sse-c", "AES256", "--sse-c-key", f"fileb://{key}")
    assert out.read_bytes() == src.read_bytes()
    # SSE-C above the CLI's multipart threshold too.
    parts = {"multipart_threshold": "5MB", "multipart_chunksize": "5MB"}
    big = tmp_path / "big-c.bin"
    big.write_bytes(plaintext(11 * 1024 * 1024))
    aws("s3", "cp", big, f"s3://{bucket}/cli-mp-c", "--sse-c", "AES256", "--sse-c-key", f"fileb://{key}", s3_settings=parts)
    aws("s3", "cp", f"s3://{bucket}/cli-mp-c", tmp_path / "big-c-back.bin", "--sse-c", "AES256", "--sse-c-key", f"fileb://{key}")
    assert (tmp_path / "big-c-back.bin").read_bytes() == big.read_bytes()
    refused = aws("s3", "cp", f"s3://{bucket}/cli-sse-c", tmp_path / "no.bin", check=False)
    assert refused.returncode != 0 and not (tmp_path / "no.bin").exists()
    # A file above the CLI's multipart threshold: uploaded in encrypted parts.
    big = tmp_path / "big.bin"
    big.write_bytes(plaintext(12 * 1024 * 1024 + 77))
    parts = {"multipart_threshold": "5MB", "multipart_chunksize": "5MB"}
    aws("s3", "cp", big, f"s3://{bucket}/cli-mp", "--sse", "AES256", s3_settings=parts)
    h = head_headers(s3, bucket, "cli-mp")
    assert h["x-amz-server-side-encryption"] == "AES256" and h["etag"].endswith('-3"'), h
    back = tmp_path / "big-back.bin"
    aws("s3", "cp", f"s3://{bucket}/cli-mp", back, s3_settings=parts)
    assert back.read_bytes() == big.read_bytes()


def test_a_100_mib_object_round_trips_encrypted(s3, stack, bucket):
    body = os.urandom(100 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="big", Body=body, ServerSideEncryption="AES256")
    h = head_headers(s3, bucket, "big")
    assert int(h["content-length"]) == len(body)
    digest = hashlib.sha256()
    stream = s3.get_object(Bucket=bucket, Key="big")["Body"]
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(body).hexdigest()
    mid = 50 * 1024 * 1024 + 12345
    assert s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={mid}-{mid + 99999}")["Body"].read() == body[mid:mid + 100000]


def ipfs_s3_cli(stack, *args) -> subprocess.CompletedProcess:
    """The host binary's CLI on the stack's own configuration (the token comes from it)."""
    binary = os.environ.get("IPFS_S3_HOST_BIN", str(REPO / "target" / "release" / "ipfs-s3"))
    config = Path(stack.env["IPFS_S3_RUN_DIR"]) / "host" / "ipfs-s3.toml"
    return subprocess.run([binary, "--config", str(config), *args], capture_output=True, text=True, timeout=120)


def test_key_rotation_rewraps_records_and_leaves_the_content(s3, stack, bucket):
    k1, k2 = stack.env["IPFS_S3_ENCRYPTION_KEY_IDS"].split(",")[:2]
    bodies = {f"r{i}": plaintext(1000 + i) for i in range(5)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="AES256")
    customer = os.urandom(32)
    s3.put_object(Bucket=bucket, Key="customer", Body=b"c", SSECustomerAlgorithm="AES256", SSECustomerKey=customer)
    cids = {k: head_headers(s3, bucket, k)["x-ipfs-cid"] for k in bodies}

    done = ipfs_s3_cli(stack, "keys", "rotate", "--to", k2, "--from", k1, "--page", "2")
    assert done.returncode == 0, done.stderr
    rewrapped = int(re.search(r"(\d+) re-wrapped", done.stdout).group(1))
    assert rewrapped >= len(bodies), done.stdout  # (objects of other tests' buckets may count too)
    for key, body in bodies.items():
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body
        assert got["ResponseMetadata"]["HTTPHeaders"]["x-ipfs-cid"] == cids[key], "the content is not re-uploaded"
    # Nothing is left under k1: a second rotation from it finds nothing to do.
    again = ipfs_s3_cli(stack, "keys", "rotate", "--to", k2, "--from", k1)
    assert again.returncode == 0 and ", 0 re-wrapped" in again.stdout, again.stdout
    assert s3.get_object(Bucket=bucket, Key="customer", SSECustomerAlgorithm="AES256",
                         SSECustomerKey=customer)["Body"].read() == b"c", "SSE-C objects are the customer's"
    refused = ipfs_s3_cli(stack, "keys", "rotate", "--to", "no-such-key")
    assert refused.returncode != 0 and "InvalidArgument" in refused.stderr, refused.stderr


def test_rclone_with_sse_s3(s3, stack, bucket, tmp_path):
    # (rclone's AWS SDK refuses to send SSE-C keys over plain HTTP, which the test stacks serve;
    # SSE-C is tested with boto3 and the aws CLI above.)
    from test_clients import Rclone

    home = tmp_path / "rclone"
    home.mkdir()
    (home / "rclone.conf").write_text("")
    rclone = Rclone(stack, home)
    rclone.env["RCLONE_CONFIG_GW_SERVER_SIDE_ENCRYPTION"] = "AES256"
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(plaintext(200_000))
    rclone("copy", src, f"gw:{bucket}/sse")
    h = head_headers(s3, bucket, "sse/f.bin")
    assert h["x-amz-server-side-encryption"] == "AES256"
    assert MARKER[:16] not in stored_in_ipfs(stack, h["x-ipfs-cid"])
    rclone("check", src, f"gw:{bucket}/sse")
    down = tmp_path / "down"
    rclone("copy", f"gw:{bucket}/sse", down)
    assert (down / "f.bin").read_bytes() == (src / "f.bin").read_bytes()
