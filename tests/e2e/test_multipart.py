"""Multipart uploads through Envoy: parts joined into one IPFS file (served whole by Kubo's gateway,
ranges across part boundaries), the multipart ETag, partNumber reads, the S3 errors, list paging,
UploadPartCopy, the release of parts on abort, complete and delete, and real clients' managed
multipart uploads (boto3 upload_file, aws s3 cp)."""

import base64
import hashlib
import json
import os

import boto3.s3.transfer
import pytest

from s3http import assert_s3_error, wait_until
from test_copy import kubo_recursive_pins, unpinned_in_cluster
from test_ipfs import PIN_DEADLINE_S, cluster_status, head_cid, http, peer_statuses, wait_pinned

MiB = 1024 * 1024


def multipart_etag(parts) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def upload(s3, bucket, key, parts, **create):
    """Uploads `parts` as one multipart upload and completes it; returns the Complete answer."""
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    done = []
    for n, body in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=n, Body=body)["ETag"]
        assert etag == f'"{hashlib.md5(body).hexdigest()}"', (n, etag)
        done.append({"PartNumber": n, "ETag": etag})
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": done})


def raw_cid(stack, data: bytes) -> str:
    """The CID the gateway gives `data` added on its own (CIDv1, raw leaves), computed by Kubo
    without storing anything."""
    boundary = "mpu-boundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    import urllib.request

    req = urllib.request.Request(
        f"{stack.kubo_api_url}/api/v0/add?only-hash=true&cid-version=1&raw-leaves=true&quieter=true",
        data=body, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **stack.kubo_auth},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read().decode().strip().splitlines()[-1])["Hash"]


def pinned_in_cluster(stack, cid):
    def probe():
        status, doc = cluster_status(stack, cid)
        return status == 200 and "pinned" in peer_statuses(doc), (status, doc)

    return probe


@pytest.fixture(scope="module")
def three_parts():
    return [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1 * MiB)]


def test_three_parts_are_one_file_in_ipfs(s3, stack, bucket, three_parts):
    data = b"".join(three_parts)
    done = upload(
        s3, bucket, "big ä.bin", three_parts, ContentType="application/x-parts", Metadata={"kind": "mpu"},
        ContentDisposition="attachment",
    )
    assert done["ETag"] == multipart_etag(three_parts), done
    head = s3.head_object(Bucket=bucket, Key="big ä.bin")
    assert head["ContentLength"] == len(data) and head["ETag"] == done["ETag"], head
    assert head["ContentType"] == "application/x-parts" and head["Metadata"] == {"kind": "mpu"}, head
    assert head["ContentDisposition"] == "attachment", head
    assert s3.get_object(Bucket=bucket, Key="big ä.bin")["Body"].read() == data

    cid = head_cid(s3, bucket, "big ä.bin")
    assert cid.startswith("bafy"), f"a dag-pb CIDv1 joins the parts: {cid}"
    status, body = http(f"{stack.gateway_url}/ipfs/{cid}")
    assert status == 200 and body == data, f"Kubo's gateway serves {len(body)} bytes for {cid}"

    # Ranges across the part boundaries (5 MiB and 10 MiB), through Envoy and from Kubo directly.
    import urllib.request

    for first, last in [(5 * MiB - 10, 5 * MiB + 9), (5 * MiB - 1, 10 * MiB), (0, len(data) - 1), (10 * MiB - 3, len(data) - 1)]:
        got = s3.get_object(Bucket=bucket, Key="big ä.bin", Range=f"bytes={first}-{last}")
        assert got["ContentRange"] == f"bytes {first}-{last}/{len(data)}", got["ContentRange"]
        assert got["Body"].read() == data[first:last + 1], (first, last)
        req = urllib.request.Request(f"{stack.gateway_url}/ipfs/{cid}", headers={"Range": f"bytes={first}-{last}"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert resp.status == 206 and resp.read() == data[first:last + 1], (first, last)


def test_part_numbers_read_the_parts(s3, bucket, three_parts):
    upload(s3, bucket, "parts", three_parts)
    head = s3.head_object(Bucket=bucket, Key="parts", PartNumber=2)
    assert head["PartsCount"] == 3 and head["ContentLength"] == 5 * MiB, head
    got = s3.get_object(Bucket=bucket, Key="parts", PartNumber=3)
    assert got["PartsCount"] == 3, got
    assert got["ContentRange"] == f"bytes {10 * MiB}-{11 * MiB - 1}/{11 * MiB}", got["ContentRange"]
    assert got["Body"].read() == three_parts[2]
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key="parts", PartNumber=4), "InvalidPart", 400)
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key="parts", PartNumber=10001), "InvalidArgument", 400)


def test_complete_errors_change_nothing(s3, bucket):
    key = "errors"
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    small = [os.urandom(1 * MiB), os.urandom(1 * MiB)]
    etags = [s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=n, Body=b)["ETag"] for n, b in enumerate(small, 1)]

    def complete(parts):
        return lambda: s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": parts})

    p1, p2 = {"PartNumber": 1, "ETag": etags[0]}, {"PartNumber": 2, "ETag": etags[1]}
    assert_s3_error(complete([p1, p2]), "EntityTooSmall", 400)
    assert_s3_error(complete([p2, p1]), "InvalidPartOrder", 400)
    assert_s3_error(complete([p1, {"PartNumber": 3, "ETag": etags[0]}]), "InvalidPart", 400)
    assert_s3_error(complete([{"PartNumber": 1, "ETag": etags[1]}]), "InvalidPart", 400)
    for n in (0, 10001):
        assert_s3_error(
            lambda: s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=n, Body=b"x"), "InvalidArgument", 400,
        )
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key=key), None, 404)
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key=key, UploadId=up)["Parts"]] == [1, 2]

    # The last part alone may be small.
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": [p2]})
    assert done["ETag"] == multipart_etag([small[1]])
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == small[1]

    bogus = "0" * 32
    for call in [
        lambda: s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=b"x"),
        lambda: s3.list_parts(Bucket=bucket, Key=key, UploadId=bogus),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=bogus),
        lambda: s3.list_parts(Bucket=bucket, Key="other-key", UploadId=up),
        lambda: s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": [p1]}),
    ]:
        assert_s3_error(call, "NoSuchUpload", 404)
    # The same Complete again (a retry of a lost answer) is answered as the first time, as S3 does.
    again = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": [p2]})
    assert (again["ETag"], again["Key"]) == (done["ETag"], key)
    assert again["Location"].startswith("http://") and again["Location"].endswith(f"/{bucket}/{key}"), again


def test_list_parts_and_uploads_page(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="a")["UploadId"]
    for n in (1, 2, 3):
        s3.upload_part(Bucket=bucket, Key="a", UploadId=up, PartNumber=n, Body=b"p" * n)
    first = s3.list_parts(Bucket=bucket, Key="a", UploadId=up, MaxParts=2)
    assert [(p["PartNumber"], p["Size"]) for p in first["Parts"]] == [(1, 1), (2, 2)], first
    assert first["IsTruncated"] and first["NextPartNumberMarker"] == 2, first
    rest = s3.list_parts(Bucket=bucket, Key="a", UploadId=up, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3] and not rest["IsTruncated"], rest
    assert rest["Parts"][0]["ETag"] == f'"{hashlib.md5(b"ppp").hexdigest()}"'

    ids = {up}
    ids.add(s3.create_multipart_upload(Bucket=bucket, Key="a")["UploadId"])
    ids.add(s3.create_multipart_upload(Bucket=bucket, Key="dir/b")["UploadId"])
    seen, kwargs = [], {}
    while True:
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, **kwargs)
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        assert len(page.get("Uploads", [])) <= 2
        if not page["IsTruncated"]:
            break
        kwargs = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
    assert sorted(i for _, i in seen) == sorted(ids) and len(seen) == 3, seen
    assert [k for k, _ in seen] == ["a", "a", "dir/b"], seen
    rolled = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled.get("CommonPrefixes", [])] == ["dir/"], rolled
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket, Prefix="dir/")["Uploads"]] == ["dir/b"]
    for k, i in seen:
        s3.abort_multipart_upload(Bucket=bucket, Key=k, UploadId=i)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads"), "aborted uploads are gone"


def test_abort_releases_the_parts(s3, stack, bucket):
    body = os.urandom(300 * 1024)  # unique: nothing else references its CID
    cid = raw_cid(stack, body)
    up = s3.create_multipart_upload(Bucket=bucket, Key="abandoned")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="abandoned", UploadId=up, PartNumber=1, Body=body)
    wait_until(pinned_in_cluster(stack, cid), PIN_DEADLINE_S, f"the part {cid} to be pinned while the upload lives")
    s3.abort_multipart_upload(Bucket=bucket, Key="abandoned", UploadId=up)
    wait_until(unpinned_in_cluster(stack, cid), PIN_DEADLINE_S, f"the cluster to unpin the aborted part {cid}")
    assert cid not in kubo_recursive_pins(stack)
    assert_s3_error(lambda: s3.list_parts(Bucket=bucket, Key="abandoned", UploadId=up), "NoSuchUpload", 404)


def test_parts_released_after_complete_and_root_after_delete(s3, stack, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(100 * 1024)]
    part_cids = [raw_cid(stack, p) for p in parts]
    old = os.urandom(10 * 1024)
    s3.put_object(Bucket=bucket, Key="obj", Body=old)
    old_cid = wait_pinned(s3, bucket, "obj")["x-ipfs-cid"]

    upload(s3, bucket, "obj", parts)  # replaces the PUT like a PUT would
    root = wait_pinned(s3, bucket, "obj")["x-ipfs-cid"]
    assert root not in part_cids and root != old_cid
    for cid in part_cids + [old_cid]:
        wait_until(unpinned_in_cluster(stack, cid), PIN_DEADLINE_S, f"the cluster to drop its own pin of {cid}")
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"".join(parts), "the root's pin keeps the parts"

    s3.delete_object(Bucket=bucket, Key="obj")
    wait_until(unpinned_in_cluster(stack, root), PIN_DEADLINE_S, f"the cluster to unpin {root}")
    pins = kubo_recursive_pins(stack)
    assert all(c not in pins for c in [root, *part_cids]), "Kubo still pins the object or a part"


def test_upload_part_copy_with_and_without_range(s3, stack, bucket):
    src = os.urandom(6 * MiB)
    put = s3.put_object(Bucket=bucket, Key="src", Body=src)
    src_cid = head_cid(s3, bucket, "src")
    up = s3.create_multipart_upload(Bucket=bucket, Key="joined")["UploadId"]
    whole = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up, PartNumber=1, CopySource={"Bucket": bucket, "Key": "src"})
    assert whole["CopyPartResult"]["ETag"] == put["ETag"], whole
    ranged = s3.upload_part_copy(
        Bucket=bucket, Key="joined", UploadId=up, PartNumber=2, CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange="bytes=100-1123",
    )
    assert ranged["CopyPartResult"]["ETag"] == f'"{hashlib.md5(src[100:1124]).hexdigest()}"', ranged
    assert_s3_error(
        lambda: s3.upload_part_copy(
            Bucket=bucket, Key="joined", UploadId=up, PartNumber=3, CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceRange=f"bytes=0-{len(src)}",
        ),
        "InvalidRange", 416,
    )
    parts = [{"PartNumber": 1, "ETag": whole["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": ranged["CopyPartResult"]["ETag"]}]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="joined", UploadId=up, MultipartUpload={"Parts": parts})
    expected = src + src[100:1124]
    assert done["ETag"] == multipart_etag([src, src[100:1124]])
    assert s3.get_object(Bucket=bucket, Key="joined")["Body"].read() == expected
    status, body = http(f"{stack.gateway_url}/ipfs/{head_cid(s3, bucket, 'joined')}")
    assert status == 200 and body == expected
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == src
    assert head_cid(s3, bucket, "src") == src_cid


def test_boto3_managed_upload_of_20_mib(s3, bucket, tmp_path):
    data = os.urandom(20 * MiB)
    path = tmp_path / "twenty.bin"
    path.write_bytes(data)
    config = boto3.s3.transfer.TransferConfig()  # defaults: 8 MiB threshold and chunks
    s3.upload_file(str(path), bucket, "managed.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="managed.bin")
    assert head["ETag"] == multipart_etag([data[:8 * MiB], data[8 * MiB:16 * MiB], data[16 * MiB:]]), head
    assert s3.get_object(Bucket=bucket, Key="managed.bin")["Body"].read() == data
    out = tmp_path / "back.bin"
    s3.download_file(bucket, "managed.bin", str(out))
    assert out.read_bytes() == data


def test_aws_cli_multipart_cp_of_20_mib(s3, aws, bucket, tmp_path):
    data = os.urandom(20 * MiB)
    path = tmp_path / "cli.bin"
    path.write_bytes(data)
    settings = {"multipart_threshold": "8MB", "multipart_chunksize": "8MB"}
    aws("s3", "cp", str(path), f"s3://{bucket}/cli.bin", s3_settings=settings)
    head = s3.head_object(Bucket=bucket, Key="cli.bin")
    assert head["ETag"].endswith('-3"'), f"the aws CLI did not upload in parts: {head['ETag']}"
    back = tmp_path / "cli-back.bin"
    aws("s3", "cp", f"s3://{bucket}/cli.bin", str(back), s3_settings=settings)
    assert back.read_bytes() == data


def test_part_checksums_are_verified_kept_and_composed(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(1000)]
    sha = [hashlib.sha256(p).digest() for p in parts]
    up = s3.create_multipart_upload(Bucket=bucket, Key="summed", ChecksumAlgorithm="SHA256")["UploadId"]
    done = []
    for n, (body, digest) in enumerate(zip(parts, sha), start=1):
        out = s3.upload_part(Bucket=bucket, Key="summed", UploadId=up, PartNumber=n, Body=body, ChecksumAlgorithm="SHA256")
        assert out["ChecksumSHA256"] == base64.b64encode(digest).decode(), out
        done.append({"PartNumber": n, "ETag": out["ETag"], "ChecksumSHA256": out["ChecksumSHA256"]})
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    assert_s3_error(
        lambda: s3.upload_part(Bucket=bucket, Key="summed", UploadId=up, PartNumber=3, Body=b"data", ChecksumSHA256=wrong),
        "BadDigest", 400,
    )
    listed = s3.list_parts(Bucket=bucket, Key="summed", UploadId=up)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2], "the refused part was not recorded"
    assert [p.get("ChecksumSHA256") for p in listed] == [d["ChecksumSHA256"] for d in done]
    bad = [done[0], dict(done[1], ChecksumSHA256=wrong)]
    assert_s3_error(
        lambda: s3.complete_multipart_upload(Bucket=bucket, Key="summed", UploadId=up, MultipartUpload={"Parts": bad}),
        "InvalidPart", 400,
    )
    out = s3.complete_multipart_upload(Bucket=bucket, Key="summed", UploadId=up, MultipartUpload={"Parts": done})
    composite = base64.b64encode(hashlib.sha256(b"".join(sha)).digest()).decode() + "-2"
    assert out.get("ChecksumSHA256") == composite, out
    head = s3.head_object(Bucket=bucket, Key="summed", ChecksumMode="ENABLED")
    assert head.get("ChecksumSHA256") == composite, head
    assert s3.get_object(Bucket=bucket, Key="summed")["Body"].read() == b"".join(parts)
