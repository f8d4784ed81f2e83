"""Flexible checksums (`x-amz-checksum-*`): verified on upload whether they come as a header
(boto3 and the aws CLI by default over HTTP), as the trailer of an aws-chunked body (the SDKs'
default over HTTPS), or with signed chunks; a mismatch is `400 BadDigest` and stores nothing; the
stored checksum comes back on GET and HEAD with `x-amz-checksum-mode: ENABLED`, on the filter path
and on the host path (`partNumber=1`)."""

import base64
import hashlib
import os
import zlib

import xxhash

import pytest
from botocore.exceptions import ClientError

import chunked
from conftest import client_config
from s3http import assert_s3_error, object_url, send, sign

PATHS = {"filter": {}, "host": {"PartNumber": 1}}


def _crc_reflected(data: bytes, poly: int, bits: int) -> int:
    # Bitwise CRC (the CRCs botocore cannot compute without awscrt); inputs here are small.
    mask = (1 << bits) - 1
    crc = mask
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc ^ mask


def b64(n: int, size: int) -> str:
    return base64.b64encode(n.to_bytes(size, "big")).decode()


def checksum(algorithm: str, data: bytes) -> str:
    return {
        "CRC32": lambda: b64(zlib.crc32(data), 4),
        "CRC32C": lambda: b64(_crc_reflected(data, 0x82F63B78, 32), 4),
        "CRC64NVME": lambda: b64(_crc_reflected(data, 0x9A6C9329AC4BC9B5, 64), 8),
        "SHA1": lambda: base64.b64encode(hashlib.sha1(data).digest()).decode(),
        "SHA256": lambda: base64.b64encode(hashlib.sha256(data).digest()).decode(),
    }[algorithm]()


def test_reference_crcs():
    # The check values of the CRC catalogue, so the expectations below are right.
    assert _crc_reflected(b"123456789", 0x82F63B78, 32) == 0xE3069283
    assert _crc_reflected(b"123456789", 0x9A6C9329AC4BC9B5, 64) == 0xAE8B14860A799888


def returned(resp, algorithm):
    return resp.get(f"Checksum{algorithm}"), resp.get("ChecksumType")


@pytest.mark.parametrize("path", PATHS)
def test_default_boto3_put_is_verified_and_returned(s3, bucket, path):
    data = os.urandom(5000)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data)
    assert put.get("ChecksumCRC32") == checksum("CRC32", data), put
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED", **PATHS[path])
    assert returned(head, "CRC32") == (checksum("CRC32", data), "FULL_OBJECT"), head
    # botocore validates the body against the returned checksum while reading.
    get = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED", **PATHS[path])
    assert get["Body"].read() == data
    assert returned(get, "CRC32") == (checksum("CRC32", data), "FULL_OBJECT"), get
    # Without the mode, no checksum.
    plain = s3.head_object(Bucket=bucket, Key="k", **PATHS[path])
    assert "ChecksumCRC32" not in plain and "ChecksumType" not in plain, plain


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_each_algorithm_is_stored_and_returned_on_both_paths(s3, bucket, algorithm):
    data = os.urandom(3000)
    value = checksum(algorithm, data)
    s3.put_object(Bucket=bucket, Key="k", Body=data, **{f"Checksum{algorithm}": value})
    for path, extra in PATHS.items():
        head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED", **extra)
        assert returned(head, algorithm) == (value, "FULL_OBJECT"), f"{path}: {head}"
        others = [k for k in head if k.startswith("Checksum") and k not in (f"Checksum{algorithm}", "ChecksumType")]
        assert not others, f"{path}: {head}"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_a_wrong_checksum_is_bad_digest_and_stores_nothing(s3, bucket, algorithm):
    s3.put_object(Bucket=bucket, Key="kept", Body=b"old")
    wrong = checksum(algorithm, b"something else")
    for key in ("kept", "new"):
        err = assert_s3_error(
            lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"payload", **{f"Checksum{algorithm}": wrong}),
            "BadDigest", 400)
        assert algorithm in err["Error"]["Message"], err
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"old"
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="new"), None, 404)


def test_malformed_or_multiple_checksums_are_invalid_request(s3, stack, bucket):
    url = object_url(stack.endpoint, bucket, "k")
    for headers in (
        {"x-amz-checksum-crc32": "not base64!"},
        {"x-amz-checksum-crc32": checksum("SHA1", b"x")},  # a SHA-1 where a CRC32 belongs
        {"x-amz-checksum-crc32": checksum("CRC32", b"x"), "x-amz-checksum-sha1": checksum("SHA1", b"x")},
    ):
        signed = sign("PUT", url, stack.access_key, stack.secret_key, stack.region, headers=headers, body=b"x")
        resp = send("PUT", url, signed, b"x")
        assert (resp.status, resp.error_code) == (400, "InvalidRequest"), f"{headers}: {resp}"
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="k"), None, 404)


def test_uploads_without_a_checksum_get_crc64nvme(make_s3, bucket):
    s3 = make_s3(config=client_config(request_checksum_calculation="when_required"))
    data = os.urandom(1000)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data)
    assert put.get("ChecksumCRC64NVME") == checksum("CRC64NVME", data), put
    for path, extra in PATHS.items():
        head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED", **extra)
        assert returned(head, "CRC64NVME") == (checksum("CRC64NVME", data), "FULL_OBJECT"), f"{path}: {head}"


def test_a_range_gets_no_checksum(s3, bucket):
    data = os.urandom(1000)
    s3.put_object(Bucket=bucket, Key="k", Body=data)
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED", Range="bytes=0-9")
    assert got["Body"].read() == data[:10]
    assert "ChecksumCRC32" not in got, got


@pytest.mark.parametrize("mode", [chunked.UNSIGNED_TRAILER, chunked.SIGNED_TRAILER])
def test_streaming_trailer_checksum(s3, stack, bucket, mode):
    data = os.urandom(200_000)  # several chunks
    url = object_url(stack.endpoint, bucket, "streamed")
    creds = (stack.access_key, stack.secret_key, stack.region)
    for algorithm in ("CRC32", "SHA256", "CRC64NVME"):
        trailer = (f"x-amz-checksum-{algorithm.lower()}", checksum(algorithm, data))
        resp = chunked.put(url, *creds, data, mode, trailer)
        assert resp.status == 200, f"{algorithm}: {resp}"
        for path, extra in PATHS.items():
            head = s3.head_object(Bucket=bucket, Key="streamed", ChecksumMode="ENABLED", **extra)
            assert returned(head, algorithm) == (trailer[1], "FULL_OBJECT"), f"{path}: {head}"
        assert s3.get_object(Bucket=bucket, Key="streamed")["Body"].read() == data

    wrong = ("x-amz-checksum-crc32", checksum("CRC32", b"other"))
    resp = chunked.put(object_url(stack.endpoint, bucket, "bad"), *creds, data, mode, wrong)
    assert (resp.status, resp.error_code) == (400, "BadDigest"), str(resp)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="bad"), None, 404)


def test_signed_chunks_without_trailer(s3, stack, bucket):
    data = os.urandom(150_000)
    url = object_url(stack.endpoint, bucket, "signed")
    creds = (stack.access_key, stack.secret_key, stack.region)
    resp = chunked.put(url, *creds, data, chunked.SIGNED,
                       headers={"x-amz-checksum-sha1": checksum("SHA1", data)})
    assert resp.status == 200, str(resp)
    assert s3.get_object(Bucket=bucket, Key="signed")["Body"].read() == data
    head = s3.head_object(Bucket=bucket, Key="signed", ChecksumMode="ENABLED")
    assert returned(head, "SHA1") == (checksum("SHA1", data), "FULL_OBJECT"), head
    # A chunk changed after signing is refused and stores nothing.
    resp = chunked.put(object_url(stack.endpoint, bucket, "tampered"), *creds, data, chunked.SIGNED,
                       tamper_chunk=True)
    assert (resp.status, resp.error_code) == (403, "SignatureDoesNotMatch"), str(resp)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="tampered"), None, 404)


def test_a_body_that_does_not_match_its_signed_hash_is_refused(s3, stack, bucket):
    url = object_url(stack.endpoint, bucket, "k")
    signed = sign("PUT", url, stack.access_key, stack.secret_key, stack.region, body=b"signed body")
    resp = send("PUT", url, signed, b"signed bodY")
    assert (resp.status, resp.error_code) == (400, "XAmzContentSHA256Mismatch"), str(resp)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="k"), None, 404)


def test_aws_cli_upload_checksum_round_trips(aws, bucket, tmp_path):
    data = os.urandom(300_000)
    src = tmp_path / "up.bin"
    src.write_bytes(data)
    aws("s3", "cp", str(src), f"s3://{bucket}/cli.bin")
    out = aws("s3api", "head-object", "--bucket", bucket, "--key", "cli.bin", "--checksum-mode", "ENABLED")
    assert checksum("CRC32", data) in out.stdout, out.stdout


def test_a_tampered_chunk_of_a_part_is_refused_like_one_of_a_put(s3, stack, bucket):
    """UploadPart goes through the same upload pipeline as PutObject: a chunk changed after
    signing is 403 SignatureDoesNotMatch there too, and no part is recorded."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    url = f"{object_url(stack.endpoint, bucket, 'mp')}?partNumber=1&uploadId={upload}"
    creds = (stack.access_key, stack.secret_key, stack.region)
    resp = chunked.put(url, *creds, os.urandom(150_000), chunked.SIGNED, tamper_chunk=True)
    assert (resp.status, resp.error_code) == (403, "SignatureDoesNotMatch"), str(resp)
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload).get("Parts", []) == []
    data = os.urandom(150_000)
    resp = chunked.put(url, *creds, data, chunked.SIGNED)
    assert resp.status == 200, str(resp)
    assert [p["Size"] for p in s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]] == [len(data)]
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)


# The newer algorithms, with reference values from hashlib and the xxhash package.
NEWER = {
    "sha512": lambda d: hashlib.sha512(d).digest(),
    "md5": lambda d: hashlib.md5(d).digest(),
    "xxhash64": lambda d: xxhash.xxh64(d).digest(),
    "xxhash3": lambda d: xxhash.xxh3_64(d).digest(),
    "xxhash128": lambda d: xxhash.xxh3_128(d).digest(),
}


@pytest.mark.parametrize("name", list(NEWER))
def test_the_newer_algorithms_are_verified_stored_and_returned(s3, stack, bucket, name):
    body = os.urandom(70_000)
    value = base64.b64encode(NEWER[name](body)).decode()
    url = object_url(stack.endpoint, bucket, name)
    headers = {f"x-amz-checksum-{name}": value, "x-amz-sdk-checksum-algorithm": name.upper()}
    resp = send("PUT", url, sign("PUT", url, stack.access_key, stack.secret_key, stack.region, headers=headers, body=body), body)
    assert resp.status == 200 and resp.header(f"x-amz-checksum-{name}") == value, str(resp)
    for method in ("HEAD", "GET"):
        asked = {"x-amz-checksum-mode": "ENABLED"}
        resp = send(method, url, sign(method, url, stack.access_key, stack.secret_key, stack.region, headers=asked))
        assert resp.header(f"x-amz-checksum-{name}") == value, (method, str(resp))
        assert resp.header("x-amz-checksum-type") == "FULL_OBJECT", (method, str(resp))
    # A wrong value is BadDigest, and nothing is stored.
    wrong = base64.b64encode(NEWER[name](body + b"!")).decode()
    headers = {f"x-amz-checksum-{name}": wrong}
    other = object_url(stack.endpoint, bucket, f"{name}-wrong")
    resp = send("PUT", other, sign("PUT", other, stack.access_key, stack.secret_key, stack.region, headers=headers, body=body), body)
    assert (resp.status, resp.error_code) == (400, "BadDigest"), str(resp)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key=f"{name}-wrong"), None, 404)


def test_concurrent_large_puts_each_get_the_md5_of_their_own_bytes(s3, bucket):
    # Bodies of 1 MiB and more are hashed together on the MD5 thread, each in a SIMD lane: the
    # ETag of every one must still be its own MD5, at sizes on and off the 64-byte block and the
    # hand-over batch, and a wrong Content-MD5 must still be refused.
    from concurrent.futures import ThreadPoolExecutor

    sizes = [1 << 20, (1 << 20) + 1, (3 << 20) - 63, 5 << 20, (8 << 20) + 4097, 17 << 20]
    bodies = {f"lanes/{n}": os.urandom(n) for n in sizes}

    def put(key):
        return key, s3.put_object(Bucket=bucket, Key=key, Body=bodies[key])["ETag"].strip('"')

    with ThreadPoolExecutor(len(bodies)) as pool:
        etags = dict(pool.map(put, bodies))
    assert etags == {k: hashlib.md5(b).hexdigest() for k, b in bodies.items()}
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="lanes/wrong", Body=bodies["lanes/5242880"], ContentMD5=wrong)
    assert e.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="lanes/wrong")
