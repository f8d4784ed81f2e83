"""Checksums of multipart objects and copies, through Envoy with boto3: FULL_OBJECT CRCs combined
from the parts' CRCs (checked against AWS's own CRC library, awscrt, over the whole bytes),
COMPOSITE checksums, S3's rules on checksum types and algorithms, the final checksum checked at
Complete, S3's default CRC64NVME for uploads that name none, and checksums kept or computed by
CopyObject and UploadPartCopy."""

import base64
import hashlib
import os
import zlib

import pytest
from awscrt import checksums as crt

from conftest import client_config
from s3http import assert_s3_error

MiB = 1024 * 1024
PARTS = [os.urandom(5 * MiB), os.urandom(1000)]


def b64(n: int, size: int) -> str:
    return base64.b64encode(n.to_bytes(size, "big")).decode()


def crc(algorithm: str, data: bytes) -> str:
    """The CRC S3 computes, by zlib (CRC32) and by AWS's CRT library (CRC32C, CRC64NVME)."""
    return {
        "CRC32": lambda: b64(zlib.crc32(data), 4),
        "CRC32C": lambda: b64(crt.crc32c(data), 4),
        "CRC64NVME": lambda: b64(crt.crc64nvme(data), 8),
    }[algorithm]()


def sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def put_parts(s3, bucket, key, upload_id, parts, algorithm=None):
    done = []
    for n, body in enumerate(parts, start=1):
        extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        out = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=body, **extra)
        entry = {"PartNumber": n, "ETag": out["ETag"]}
        if algorithm:
            entry[f"Checksum{algorithm}"] = out[f"Checksum{algorithm}"]
        done.append(entry)
    return done


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_full_object_crcs_are_combined_from_the_parts(s3, bucket, algorithm):
    whole = crc(algorithm, b"".join(PARTS))
    created = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm, ChecksumType="FULL_OBJECT")
    assert (created.get("ChecksumAlgorithm"), created.get("ChecksumType")) == (algorithm, "FULL_OBJECT"), created
    done = put_parts(s3, bucket, "k", created["UploadId"], PARTS, algorithm)
    assert [d[f"Checksum{algorithm}"] for d in done] == [crc(algorithm, p) for p in PARTS]
    out = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=created["UploadId"], MultipartUpload={"Parts": done}, **{f"Checksum{algorithm}": whole}
    )
    assert (out.get(f"Checksum{algorithm}"), out.get("ChecksumType")) == (whole, "FULL_OBJECT"), out
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert (head.get(f"Checksum{algorithm}"), head.get("ChecksumType")) == (whole, "FULL_OBJECT"), head
    # A part read in checksum mode answers that part's checksum.
    part = s3.get_object(Bucket=bucket, Key="k", PartNumber=2, ChecksumMode="ENABLED")
    assert part["Body"].read() == PARTS[1]
    assert (part.get(f"Checksum{algorithm}"), part.get("ChecksumType")) == (crc(algorithm, PARTS[1]), "FULL_OBJECT"), part
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["Checksum", "ObjectParts"])
    assert attrs["Checksum"][f"Checksum{algorithm}"] == whole, attrs
    assert [p.get(f"Checksum{algorithm}") for p in attrs["ObjectParts"]["Parts"]] == [crc(algorithm, p) for p in PARTS]


def test_a_wrong_final_checksum_is_bad_digest_and_completes_nothing(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")["UploadId"]
    done = put_parts(s3, bucket, "k", up, PARTS, "CRC32")
    assert_s3_error(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": done}, ChecksumCRC32=crc("CRC32", b"other")
        ),
        "BadDigest", 400,
    )
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="k"), None, 404)
    # The upload is still there, and completes with the right value.
    assert len(s3.list_parts(Bucket=bucket, Key="k", UploadId=up)["Parts"]) == 2
    out = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": done}, ChecksumCRC32=crc("CRC32", b"".join(PARTS))
    )
    assert out["ChecksumType"] == "FULL_OBJECT"


def test_checksum_types_and_algorithms_follow_s3s_rules(s3, bucket):
    for algorithm, kind in [("SHA1", "FULL_OBJECT"), ("SHA256", "FULL_OBJECT"), ("CRC64NVME", "COMPOSITE")]:
        assert_s3_error(
            lambda: s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm, ChecksumType=kind),
            "InvalidRequest", 400,
        )
    assert_s3_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumType="COMPOSITE"), "InvalidRequest", 400)
    # Without a type, CRC64NVME is full-object and the others composite.
    assert s3.create_multipart_upload(Bucket=bucket, Key="n", ChecksumAlgorithm="CRC64NVME")["ChecksumType"] == "FULL_OBJECT"
    created = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")
    assert created["ChecksumType"] == "COMPOSITE"
    up = created["UploadId"]
    # A part may not bring another algorithm than the upload's.
    assert_s3_error(
        lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=b"x", ChecksumAlgorithm="CRC32"),
        "InvalidRequest", 400,
    )
    done = put_parts(s3, bucket, "k", up, PARTS, "SHA256")
    bare = [{"PartNumber": d["PartNumber"], "ETag": d["ETag"]} for d in done]
    # A composite upload lists each part's checksum; the type named at Complete must be the upload's.
    for parts, extra in [(bare, {}), (done, {"ChecksumType": "FULL_OBJECT"})]:
        assert_s3_error(
            lambda: s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": parts}, **extra),
            "InvalidRequest", 400,
        )
    composite = sha256(b"".join(hashlib.sha256(p).digest() for p in PARTS)) + "-2"
    out = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": done}, ChecksumType="COMPOSITE", ChecksumSHA256=composite
    )
    assert (out["ChecksumSHA256"], out["ChecksumType"]) == (composite, "COMPOSITE"), out
    part = s3.head_object(Bucket=bucket, Key="k", PartNumber=1, ChecksumMode="ENABLED")
    assert (part.get("ChecksumSHA256"), part.get("ChecksumType")) == (sha256(PARTS[0]), "COMPOSITE"), part


def test_an_upload_that_names_no_algorithm_gets_s3s_default_crc64nvme(make_s3, bucket):
    s3 = make_s3(config=client_config(request_checksum_calculation="when_required"))
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    done = put_parts(s3, bucket, "k", up, PARTS)
    out = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": done})
    whole = crc("CRC64NVME", b"".join(PARTS))
    assert (out.get("ChecksumCRC64NVME"), out.get("ChecksumType")) == (whole, "FULL_OBJECT"), out
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC64NVME") == whole, head


def test_copy_keeps_the_source_checksum_or_computes_the_one_named(s3, bucket):
    data = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="src", Body=data, ChecksumAlgorithm="SHA256")
    src = {"Bucket": bucket, "Key": "src"}
    kept = s3.copy_object(Bucket=bucket, Key="kept", CopySource=src)
    assert kept["CopyObjectResult"].get("ChecksumSHA256") == sha256(data), kept
    named = s3.copy_object(Bucket=bucket, Key="named", CopySource=src, ChecksumAlgorithm="CRC32C")
    assert named["CopyObjectResult"].get("ChecksumCRC32C") == crc("CRC32C", data), named
    head = s3.head_object(Bucket=bucket, Key="named", ChecksumMode="ENABLED")
    assert (head.get("ChecksumCRC32C"), head.get("ChecksumType"), head.get("ChecksumSHA256")) == (crc("CRC32C", data), "FULL_OBJECT", None)
    # The same content either way: the copy is a new mapping to the source's CID.
    cids = {s3.head_object(Bucket=bucket, Key=k)["ResponseMetadata"]["HTTPHeaders"]["x-ipfs-cid"] for k in ["src", "kept", "named"]}
    assert len(cids) == 1, cids
    assert_s3_error(lambda: s3.copy_object(Bucket=bucket, Key="bad", CopySource=src, ChecksumAlgorithm="MD4"), "InvalidRequest", 400)


def test_upload_part_copy_gets_the_uploads_checksum(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=PARTS[0])
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")["UploadId"]
    src = {"Bucket": bucket, "Key": "src"}
    whole = s3.upload_part_copy(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, CopySource=src)["CopyPartResult"]
    ranged = s3.upload_part_copy(
        Bucket=bucket, Key="k", UploadId=up, PartNumber=2, CopySource=src, CopySourceRange="bytes=10-1009"
    )["CopyPartResult"]
    assert whole.get("ChecksumCRC32") == crc("CRC32", PARTS[0]), whole
    assert ranged.get("ChecksumCRC32") == crc("CRC32", PARTS[0][10:1010]), ranged
    done = [
        {"PartNumber": 1, "ETag": whole["ETag"], "ChecksumCRC32": whole["ChecksumCRC32"]},
        {"PartNumber": 2, "ETag": ranged["ETag"], "ChecksumCRC32": ranged["ChecksumCRC32"]},
    ]
    out = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": done})
    assert out.get("ChecksumCRC32") == crc("CRC32", PARTS[0] + PARTS[0][10:1010]), out
