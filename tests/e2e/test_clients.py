"""Real S3 clients over a tree of a few hundred files with awkward names: the aws CLI (`s3 sync` up,
down, again, and with `--delete`), rclone (`sync` + `check`, both ways) and s3cmd (`put`/`get`
recursive). Every download is compared with the original byte for byte.

The names cover what clients encode differently: spaces, `+`, `&`, `?`, `#`, `%`, `=`, other
punctuation, Unicode in NFC and NFD (combining characters) side by side, emoji, dot files, deep
directories, a key at S3's 1024-byte limit, names of 220 bytes, and empty files. Two random files of
9 and 17 MiB are above each client's multipart threshold (the aws CLI's default 8 MiB; s3cmd's
chunk and rclone's cutoff set to 5 and 8 MiB here), so every client also uploads in parts; their
ETags say so.
"""

import hashlib
import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import clean_aws_env

# The tree is uploaded to the root of a bucket, so these relative paths are the S3 keys.
ODD_NAMES = [
    "space name.txt",
    " leading space.txt",
    "trailing space .txt",
    "plus+sign.txt",
    "a+b c+d.txt",
    "amp&ersand.txt",
    "question?mark.txt",
    "hash#tag.txt",
    "percent%.txt",
    "percent%20literal.txt",
    "%41%42 looks encoded.txt",
    "%2F not a slash.txt",
    "equals=sign&x=y.txt",
    "semi;colon,comma.txt",
    "at@dollar$excl!.txt",
    "paren(1) bracket[2] brace{3}.txt",
    "quote'single.txt",
    'quote"double.txt',
    "tilde~caret^backtick`.txt",
    "pipe|star*.txt",
    "less<greater>.txt",
    "colon:name.txt",
    ".hidden",
    "dir.with.dots/..double-dot-start",
    "ünïcödé.txt",
    "日本語のファイル名.txt",
    "файл с пробелом.txt",
    "emoji 🎉🚀 party.txt",
    "nfc-\u00e9cole.txt",
    "nfd-e\u0301cole.txt",
    "same-\u00e9.txt",
    "same-e\u0301.txt",
    "zero\u200bwidth.txt",
    "ü/ö/ä/nested ümlauts.txt",
    "special dirs/a&b/c=d/e+f/#/?/file.txt",
    "/".join(f"d{i}" for i in range(1, 31)) + "/deep.txt",
    # Long names, short of the file system's 255 bytes by what clients add to a name while
    # downloading it (the aws CLI a `.XXXXXXXX` suffix, rclone `.partial` and a hash).
    "x" * 216 + ".txt",
    "é" * 108 + ".txt",
]
EMPTY_NAMES = ["empty.txt", "empty dir name/empty", "empties/🎉", "empties/a+b"]
MiB = 1024 * 1024
BIG_FILES = {"big/random 9 MiB.bin": 9 * MiB, "big/vidéo+17 MiB.mp4": 17 * MiB}
# The aws CLI's own multipart defaults (the suite's fixture raises the threshold for other tests).
AWS_CLI_DEFAULTS = {"multipart_threshold": "8MB", "multipart_chunksize": "8MB"}


def long_key() -> str:
    """A relative path whose UTF-8 key is exactly 1024 bytes (S3's limit), in 200-byte directory
    names (file systems allow 255 bytes a name)."""
    parts = ["long"]
    while sum(len(p) + 1 for p in parts) + 200 < 1024:
        parts.append("L" * 199)
    used = sum(len(p) + 1 for p in parts)
    parts.append("f" * (1024 - used))
    key = "/".join(parts)
    assert len(key.encode()) == 1024, len(key.encode())
    return key


def build_tree(root: Path, seed: int, count: int = 300) -> dict[str, bytes]:
    """Writes the tree under `root` with mtimes an hour old (so that a later sync has no reason to
    upload again) and returns {key: content}."""
    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    for i, name in enumerate(ODD_NAMES + [long_key()]):
        files[name] = f"{i}: {name}\n".encode() * rng.randint(1, 50)
    for name in EMPTY_NAMES:
        files[name] = b""
    for name, size in BIG_FILES.items():
        files[name] = rng.randbytes(size)
    dirs = ["", "docs/", "docs/2024/", "media/photos/", "media/vidéos/", "src/a b/", "src/a+b/", "data/x=1/y=2/"]
    while len(files) < count:
        n = len(files)
        name = f"{rng.choice(dirs)}file-{n:04d}{rng.choice(['.txt', '.bin', '', '.tar.gz', ' copy.txt'])}"
        files[name] = rng.randbytes(rng.choice([0, 1, 17, 1000, 4096, 65536, rng.randint(1, 200_000)]))
    an_hour_ago = time.time() - 3600
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (an_hour_ago, an_hour_ago))
    return files


def read_tree(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `root`."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for f in filenames:
            p = Path(dirpath) / f
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def digests(files: dict[str, bytes]) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}


def assert_same_tree(got: dict[str, str], expected: dict[str, str]):
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    differ = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
    assert not (missing or extra or differ), f"missing {missing[:10]}, extra {extra[:10]}, differ {differ[:10]}"


def assert_uploaded_in_parts(s3, bucket):
    """The big files went up as multipart uploads: S3 ETags of those end in `-<part count>`."""
    for name in BIG_FILES:
        etag = s3.head_object(Bucket=bucket, Key=name)["ETag"].strip('"')
        assert "-" in etag, f"{name} was not uploaded in parts (ETag {etag})"


def all_keys(s3, bucket) -> list[str]:
    keys, token = [], None
    while True:
        kwargs = {"Bucket": bucket, **({"ContinuationToken": token} if token else {})}
        page = s3.list_objects_v2(**kwargs)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return keys
        token = page["NextContinuationToken"]


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    files = build_tree(root, seed=42)
    return root, files


def test_tree_is_what_it_claims(tree):
    root, files = tree
    assert len(files) >= 300
    assert_same_tree(read_tree(root), digests(files))
    assert max(len(k.encode()) for k in files) == 1024
    # NFC and NFD spellings are distinct files, and distinct keys.
    assert "same-\u00e9.txt" in files and "same-e\u0301.txt" in files
    assert all(len(files[name]) == size for name, size in BIG_FILES.items())


# ------------------------------------------------------------------------------------------------
# aws CLI


def test_aws_s3_sync_up_down_again_and_delete(s3, aws, bucket, tree, tmp_path):
    root, files = tree
    aws("s3", "sync", root, f"s3://{bucket}", timeout=900, s3_settings=AWS_CLI_DEFAULTS)
    assert sorted(all_keys(s3, bucket)) == sorted(files)
    assert_uploaded_in_parts(s3, bucket)

    down = tmp_path / "down"
    aws("s3", "sync", f"s3://{bucket}", down, timeout=900, s3_settings=AWS_CLI_DEFAULTS)
    assert_same_tree(read_tree(down), digests(files))

    # Nothing changed: sizes and times agree with the listing, so nothing is uploaded.
    again = aws("s3", "sync", root, f"s3://{bucket}", timeout=900, s3_settings=AWS_CLI_DEFAULTS)
    assert again.stdout.strip() == "", again.stdout[:3000]

    # Local deletions (odd names among them) are deleted from the bucket by --delete.
    gone = ["plus+sign.txt", "question?mark.txt", "nfd-e\u0301cole.txt", "empties/🎉", "ü/ö/ä/nested ümlauts.txt",
            sorted(k for k in files if k.startswith("docs/"))[0]]
    for name in gone:
        (root / name).unlink()
    out = aws("s3", "sync", "--delete", root, f"s3://{bucket}", timeout=900).stdout
    assert out.count("delete:") == len(gone), out
    remaining = {k: v for k, v in files.items() if k not in gone}
    assert sorted(all_keys(s3, bucket)) == sorted(remaining)
    # The NFC twin of a deleted NFD name is still there.
    assert s3.get_object(Bucket=bucket, Key="nfc-\u00e9cole.txt")["Body"].read() == files["nfc-\u00e9cole.txt"]


# ------------------------------------------------------------------------------------------------
# rclone


class Rclone:
    def __init__(self, stack, home: Path):
        self.home = home
        self.env = clean_aws_env(os.environ)
        self.env.update({
            "RCLONE_CONFIG": str(home / "rclone.conf"),
            "RCLONE_CONFIG_GW_TYPE": "s3",
            "RCLONE_CONFIG_GW_PROVIDER": "Other",
            "RCLONE_CONFIG_GW_ENDPOINT": stack.endpoint,
            "RCLONE_CONFIG_GW_ACCESS_KEY_ID": stack.access_key,
            "RCLONE_CONFIG_GW_SECRET_ACCESS_KEY": stack.secret_key,
            "RCLONE_CONFIG_GW_REGION": stack.region,
            "RCLONE_CONFIG_GW_FORCE_PATH_STYLE": "true",
            # Files above 8 MiB go up in 5 MiB parts (rclone's default cutoff is 200 MiB).
            "RCLONE_CONFIG_GW_UPLOAD_CUTOFF": "8Mi",
            "RCLONE_CONFIG_GW_CHUNK_SIZE": "5Mi",
        })

    def __call__(self, *args, check=True, timeout=900):
        # rclone matches names after Unicode normalisation unless told not to: the tree's NFC and
        # NFD twins would be one file to it.
        proc = subprocess.run(["rclone", "--no-unicode-normalization", *map(str, args)], env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=self.home)
        if check:
            assert proc.returncode == 0, (
                f"`rclone {' '.join(map(str, args))}` exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
        return proc


@pytest.fixture
def rclone(stack, tmp_path):
    home = tmp_path / "rclone-home"
    home.mkdir()
    (home / "rclone.conf").write_text("")
    return Rclone(stack, home)


def test_rclone_sync_check_and_back(s3, rclone, bucket, tree, tmp_path):
    root, files = tree
    rclone("sync", root, f"gw:{bucket}")
    assert sorted(all_keys(s3, bucket)) == sorted(files)
    assert_uploaded_in_parts(s3, bucket)
    # check compares sizes and MD5 hashes (the ETags) of every file, both ways.
    rclone("check", root, f"gw:{bucket}")

    down = tmp_path / "down"
    rclone("copy", f"gw:{bucket}", down)
    assert_same_tree(read_tree(down), digests(files))

    # A second sync has nothing to transfer.
    again = rclone("sync", root, f"gw:{bucket}", "-v")
    assert "Transferred:              0 / 0" in again.stderr or "There was nothing to transfer" in again.stderr, \
        again.stderr[-3000:]

    gone = ["amp&ersand.txt", "hash#tag.txt", "same-e\u0301.txt", "empty.txt"]
    for name in gone:
        (root / name).unlink()
    rclone("sync", root, f"gw:{bucket}")
    rclone("check", root, f"gw:{bucket}")
    assert sorted(all_keys(s3, bucket)) == sorted(k for k in files if k not in gone)


# ------------------------------------------------------------------------------------------------
# s3cmd


@pytest.fixture
def s3cmd(stack, tmp_path):
    host = stack.endpoint.split("://", 1)[1]
    cfg = tmp_path / "s3cmd.cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {stack.access_key}\n"
        f"secret_key = {stack.secret_key}\n"
        f"host_base = {host}\n"
        # No %(bucket)s: path-style addressing.
        f"host_bucket = {host}\n"
        f"bucket_location = {stack.region}\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "check_ssl_certificate = False\n"
        "multipart_chunk_size_mb = 5\n"
    )
    env = clean_aws_env(os.environ)

    def run(*args, check=True, timeout=900):
        proc = subprocess.run(["s3cmd", "-c", str(cfg), *map(str, args)], env=env, capture_output=True,
                              text=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, (
                f"`s3cmd {' '.join(map(str, args))}` exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
        return proc

    return run


def test_s3cmd_put_get_ls_del(s3, s3cmd, bucket, tree, tmp_path):
    root, files = tree
    # A trailing slash on the source uploads its content, not the directory itself.
    s3cmd("put", "--recursive", f"{root}/", f"s3://{bucket}/")
    assert sorted(all_keys(s3, bucket)) == sorted(files)
    assert_uploaded_in_parts(s3, bucket)

    down = tmp_path / "down"
    down.mkdir()
    s3cmd("get", "--recursive", f"s3://{bucket}/", f"{down}/")
    assert_same_tree(read_tree(down), digests(files))

    listing = s3cmd("ls", "--recursive", f"s3://{bucket}/").stdout
    assert len([line for line in listing.splitlines() if f"s3://{bucket}/" in line]) == len(files), listing[-3000:]
    info = s3cmd("info", f"s3://{bucket}").stdout
    assert "Location:" in info, info

    s3cmd("del", f"s3://{bucket}/percent%.txt", f"s3://{bucket}/space name.txt")
    assert sorted(all_keys(s3, bucket)) == sorted(k for k in files if k not in ("percent%.txt", "space name.txt"))
