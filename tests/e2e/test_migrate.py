"""`ipfs-s3 migrate` from the legacy store (VersityGW) into a gateway bucket, through the real
gateway: a tree of 2,000 objects with odd names, empty and multipart-sized ones, killed half way
and resumed, verified byte for byte; incremental runs; writes and deletes through the gateway
that the migration leaves alone; a dry run."""

import concurrent.futures
import hashlib
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from s3http import assert_s3_error, wait_until

ODD = [
    "sp ace.txt", "ünïcødé/ß.bin", "plus+sign", "percent%20literal", "quote'\"", "semi;colon&amp",
    "tilde~", "deep/a/b/c/d/e.txt", "(parens) [brackets] {braces}", "emoji😀", "star*", "hash#",
]
EMPTY = ["empty", "dir/empty-too"]
MULTIPART = ["big/one.bin", "big/two.bin"]
TOTAL = 2000


def host_bin(stack) -> Path:
    return Path(stack.env["IPFS_S3_RUN_DIR"]) / "bin" / "ipfs-s3"


def host_config(stack) -> Path:
    return Path(stack.env["IPFS_S3_RUN_DIR"]) / "host" / "ipfs-s3.toml"


def migrate_cmd(stack, source, target, journal, *extra):
    return [
        str(host_bin(stack)), "--config", str(host_config(stack)), "migrate", "--from", source, "--to", target,
        "--journal", str(journal), "--endpoint", stack.endpoint, *extra,
    ]


def migrate(stack, source, target, journal, *extra, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPFS_S3_")}
    proc = subprocess.run(migrate_cmd(stack, source, target, journal, *extra), env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, f"migrate exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def report_count(out: str, name: str) -> int:
    line = next(line for line in out.splitlines() if line.strip().startswith(name))
    return int(line.split()[1])


def content(key: str) -> bytes:
    if key in EMPTY:
        return b""
    return f"{key}\n".encode() * (1 + len(key) % 7)


@pytest.fixture(scope="module")
def tree(direct):
    """A legacy bucket holding TOTAL objects; returns (bucket, {key: bytes})."""
    bucket = f"src-{uuid.uuid4().hex[:12]}"
    direct.create_bucket(Bucket=bucket)
    keys = ODD + EMPTY + [f"many/{i:04d}.txt" for i in range(TOTAL - len(ODD) - len(EMPTY) - len(MULTIPART))]
    objects = {k: content(k) for k in keys}

    def put(key):
        direct.put_object(Bucket=bucket, Key=key, Body=objects[key], ContentType="text/x-migrated", Metadata={"origin": "legacy"})

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, keys))
    part = os.urandom(5 * 1024 * 1024)
    for key in MULTIPART:
        up = direct.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/x-big")
        etags = [direct.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=part + key.encode() * n)["ETag"] for n in (1, 2)]
        direct.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=up["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags)]},
        )
        objects[key] = part + key.encode() + part + key.encode() * 2
    assert len(objects) == TOTAL
    return bucket, objects


def gateway_keys(s3, bucket):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def same_bytes(s3, bucket, objects, keys):
    def check(key):
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return key if hashlib.md5(got).digest() != hashlib.md5(objects[key]).digest() else None

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        return [k for k in pool.map(check, keys) if k]


def test_a_migration_killed_half_way_resumes_and_copies_every_object_once(stack, s3, direct, tree, tmp_path):
    source, objects = tree
    target = f"e2e-migrated-{uuid.uuid4().hex[:10]}"
    journal = tmp_path / "journal.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPFS_S3_")}
    proc = subprocess.Popen(migrate_cmd(stack, source, target, journal, "--jobs", "4"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: (journal.exists() and journal.read_text().count("\n") > 400, None), 300, "400 objects journaled")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finished = sum(1 for line in journal.read_text().splitlines() if line.strip())
    assert 400 <= finished < TOTAL, finished
    # What is visible is whole: every key listed holds the source's bytes.
    visible = gateway_keys(s3, target)
    assert finished <= len(visible) < TOTAL, (finished, len(visible))
    assert same_bytes(s3, target, objects, visible) == [], "a half-copied object is visible"
    # A key not copied yet, written through the gateway meanwhile: the migration leaves it.
    not_yet = sorted(set(objects) - set(visible))[0]
    s3.put_object(Bucket=target, Key=not_yet, Body=b"written through the gateway")

    out = migrate(stack, source, target, journal, "--jobs", "8").stdout
    assert report_count(out, "failed") == 0, out
    assert report_count(out, "skipped") == 1 and not_yet in out, out
    copied = report_count(out, "copied")
    assert copied + report_count(out, "unchanged") + 1 == TOTAL, out
    assert copied <= TOTAL - finished, f"copied again what was finished: {out}"
    # Every object, byte for byte, with its stored headers.
    assert sorted(gateway_keys(s3, target)) == sorted(objects)
    wrong = same_bytes(s3, target, objects, [k for k in objects if k != not_yet])
    assert wrong == [], wrong
    assert s3.get_object(Bucket=target, Key=not_yet)["Body"].read() == b"written through the gateway"
    head = s3.head_object(Bucket=target, Key="ünïcødé/ß.bin")
    assert head["ContentType"] == "text/x-migrated" and head["Metadata"] == {"origin": "legacy"}, head
    assert "x-ipfs-cid" in head["ResponseMetadata"]["HTTPHeaders"], "the copy is in IPFS"
    assert s3.head_object(Bucket=target, Key="big/two.bin")["ContentType"] == "application/x-big"


def test_incremental_runs_copy_only_what_changed_and_never_bring_back_deletes(stack, s3, direct, tmp_path):
    source = f"src-{uuid.uuid4().hex[:12]}"
    direct.create_bucket(Bucket=source)
    for key in ["a", "b", "c", "skip/me"]:
        direct.put_object(Bucket=source, Key=key, Body=key.encode())
    target = f"e2e-migrated-{uuid.uuid4().hex[:10]}"
    journal = tmp_path / "j.jsonl"
    out = migrate(stack, source, target, journal, "--prefix", "skip/", "--dry-run").stdout
    assert "would copy 1 objects" in out, out
    assert_s3_error(lambda: s3.head_bucket(Bucket=target), None, 404)
    out = migrate(stack, source, target, journal).stdout
    assert report_count(out, "copied") == 4, out
    s3.delete_object(Bucket=target, Key="b")
    direct.put_object(Bucket=source, Key="a", Body=b"changed at the source")
    direct.put_object(Bucket=source, Key="d", Body=b"new at the source")
    out = migrate(stack, source, target, journal).stdout
    assert (report_count(out, "copied"), report_count(out, "unchanged")) == (2, 3), out
    assert s3.get_object(Bucket=target, Key="a")["Body"].read() == b"changed at the source"
    assert s3.get_object(Bucket=target, Key="d")["Body"].read() == b"new at the source"
    assert_s3_error(lambda: s3.head_object(Bucket=target, Key="b"), None, 404)
    # A source that does not exist: nothing copied, a non-zero exit.
    proc = migrate(stack, f"src-missing-{uuid.uuid4().hex[:8]}", target, tmp_path / "x.jsonl", check=False)
    assert proc.returncode != 0 and "NoSuchBucket" in proc.stderr, (proc.stdout, proc.stderr)
