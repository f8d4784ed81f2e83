"""The aws CLI against the gateway: mb/rb, cp up and down (single PUT; ranged parallel download),
ls, rm, sync with keys that need encoding, s3api head-object."""

import hashlib
import json
import os
import time

from conftest import empty_and_delete_bucket, unique_bucket_name
from s3http import assert_s3_error, quoted_md5


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def random_file(path, size):
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def test_mb_ls_rb(s3, aws):
    name = unique_bucket_name("cli-mb")
    try:
        out = aws("s3", "mb", f"s3://{name}").stdout
        assert f"make_bucket: {name}" in out, out
        s3.head_bucket(Bucket=name)
        listing = aws("s3", "ls").stdout
        assert any(line.split()[-1:] == [name] for line in listing.splitlines()), listing
        out = aws("s3", "rb", f"s3://{name}").stdout
        assert f"remove_bucket: {name}" in out, out
        assert_s3_error(lambda: s3.head_bucket(Bucket=name), None, 404)
    finally:
        empty_and_delete_bucket(s3, name)


def test_cp_up_and_down(s3, aws, bucket, tmp_path):
    src = tmp_path / "upload.bin"
    data = random_file(src, 5 * 1024 * 1024 + 3)
    aws("s3", "cp", src, f"s3://{bucket}/dir/upload.bin", "--content-type", "application/x-cli", "--metadata", "colour=blue")
    head = s3.head_object(Bucket=bucket, Key="dir/upload.bin")
    assert head.get("ContentLength") == len(data), head
    assert head.get("ETag") == quoted_md5(data), head
    assert head.get("ContentType") == "application/x-cli", head
    assert head.get("Metadata") == {"colour": "blue"}, head

    dst = tmp_path / "download.bin"
    aws("s3", "cp", f"s3://{bucket}/dir/upload.bin", dst)
    assert sha256_file(dst) == hashlib.sha256(data).hexdigest(), "downloaded file differs"


def test_cp_20_mib_single_put_then_ranged_parallel_download(aws, bucket, tmp_path):
    src = tmp_path / "big.bin"
    data = random_file(src, 20 * 1024 * 1024)
    # The default config of the suite keeps this upload to one PUT.
    aws("s3", "cp", src, f"s3://{bucket}/big.bin")
    dst = tmp_path / "big.out"
    # A low threshold makes the CLI download in 5 MiB ranged GETs, in parallel.
    aws("s3", "cp", f"s3://{bucket}/big.bin", dst,
        s3_settings={"multipart_threshold": "5MB", "multipart_chunksize": "5MB"})
    assert sha256_file(dst) == hashlib.sha256(data).hexdigest(), "20 MiB download differs"


def test_ls_head_object_and_rm(s3, aws, bucket, tmp_path):
    src = tmp_path / "f.txt"
    data = random_file(src, 1234)
    for key in ["top.txt", "dir/a.txt", "dir/b c+d.txt"]:
        aws("s3", "cp", src, f"s3://{bucket}/{key}")

    top = aws("s3", "ls", f"s3://{bucket}/").stdout
    lines = [line.split() for line in top.splitlines()]
    assert ["PRE", "dir/"] in lines, top
    assert any(parts[-2:] == ["1234", "top.txt"] for parts in lines), top

    recursive = aws("s3", "ls", "--recursive", f"s3://{bucket}").stdout
    keys = sorted(line.split(None, 3)[3] for line in recursive.splitlines() if line.strip())
    assert keys == ["dir/a.txt", "dir/b c+d.txt", "top.txt"], recursive

    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "dir/b c+d.txt").stdout)
    assert head.get("ContentLength") == len(data), head
    assert head.get("ETag") == quoted_md5(data), head

    out = aws("s3", "rm", f"s3://{bucket}/dir/b c+d.txt").stdout
    assert "delete:" in out, out
    gone = aws("s3api", "head-object", "--bucket", bucket, "--key", "dir/b c+d.txt", check=False)
    assert gone.returncode != 0 and "404" in gone.stderr, (gone.returncode, gone.stdout, gone.stderr)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["dir/a.txt", "top.txt"]


def test_sync_up_and_down_with_keys_that_need_encoding(aws, bucket, tmp_path):
    up = tmp_path / "up"
    names = ["plain.txt", "a+b.txt", "a b.txt", "sub/ünïcödé.txt", "sub/deeper/100%.txt"]
    for i, name in enumerate(names):
        (up / name).parent.mkdir(parents=True, exist_ok=True)
        (up / name).write_bytes(f"{i}: {name}".encode() * 10)
        # Older than any upload, so that the second sync below has no reason to re-upload.
        an_hour_ago = time.time() - 3600
        os.utime(up / name, (an_hour_ago, an_hour_ago))
    aws("s3", "sync", up, f"s3://{bucket}/tree/")

    down = tmp_path / "down"
    aws("s3", "sync", f"s3://{bucket}/tree/", down)
    got = sorted(str(p.relative_to(down)) for p in down.rglob("*") if p.is_file())
    assert got == sorted(names), got
    for name in names:
        assert (down / name).read_bytes() == (up / name).read_bytes(), name

    # A second sync finds nothing to do (sizes and times agree with the listing).
    again = aws("s3", "sync", up, f"s3://{bucket}/tree/").stdout
    assert again.strip() == "", again
