"""The gateway with the embedded metadata store: a stack of its own with no Redis at all
(`IPFS_S3_METADATA_STORE=embedded`), on the `embedded` profile with ports shifted by 3000
(`IPFS_S3_E2E_EMBEDDED_PROFILE` and `IPFS_S3_E2E_EMBEDDED_PORT_OFFSET` change them). The module
starts that stack and stops it at the end (left running with `IPFS_S3_E2E_KEEP_STACK=1`).
"""

import hashlib
import json
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import REPO, client_config, component_pid, load_stack, stack_cmd, stack_up_or_fail
from test_ipfs import http, wait_pinned

PROFILE = os.environ.get("IPFS_S3_E2E_EMBEDDED_PROFILE", "embedded")
PORT_OFFSET = os.environ.get("IPFS_S3_E2E_EMBEDDED_PORT_OFFSET", "3000")
RUN = REPO / ".run" / PROFILE
# Settings of the caller's environment that may pass to this stack; every other IPFS_S3_* (ports,
# offsets, the other stack's profile and store) would make it collide with another stack.
PASSED = {"IPFS_S3_HOST_BIN", "IPFS_S3_FILTER_WASM_SRC", "IPFS_S3_START_TIMEOUT", "IPFS_S3_STOP_TIMEOUT", "IPFS_S3_LOG"}


def stack_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPFS_S3_") or k in PASSED}
    env.update(IPFS_S3_PROFILE=PROFILE, IPFS_S3_PORT_OFFSET=PORT_OFFSET, IPFS_S3_METADATA_STORE="embedded")
    return env


@pytest.fixture(scope="module")
def estack(aws_isolation):
    stack_up_or_fail(stack_env())
    yield load_stack(RUN)
    if os.environ.get("IPFS_S3_E2E_KEEP_STACK") != "1":
        down = stack_cmd("down", stack_env())
        assert down.returncode == 0, down.stdout + down.stderr


@pytest.fixture(scope="module")
def es3(estack):
    return boto3.session.Session().client(
        "s3",
        endpoint_url=estack.endpoint,
        region_name=estack.region,
        aws_access_key_id=estack.access_key,
        aws_secret_access_key=estack.secret_key,
        config=client_config(),
    )


@pytest.fixture
def ebucket(es3):
    name = f"e2e-embedded-{uuid.uuid4().hex[:10]}"
    es3.create_bucket(Bucket=name)
    yield name
    for obj in es3.list_objects_v2(Bucket=name).get("Contents", []):
        es3.delete_object(Bucket=name, Key=obj["Key"])
    es3.delete_bucket(Bucket=name)


def listed(s3, bucket, **kwargs):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, **kwargs).get("Contents", [])]


def restart_host(estack, verb):
    """Stops the host service alone (`stop`: TERM as a service manager would, `kill`: KILL as a
    crash would), waiting until it has exited, and starts it again."""
    done = stack_cmd(f"{verb} host", stack_env())
    assert done.returncode == 0, done.stdout + done.stderr
    up = stack_up_or_fail(stack_env())
    assert "starting host" in up.stdout and "starting envoy" not in up.stdout, up.stdout
    status, _ = http(f"{estack.admin_url}/health")
    assert status == 200


def test_runs_without_redis(estack):
    status, body = http(f"{estack.admin_url}/health")
    assert status == 200, body[:1000]
    doc = json.loads(body)
    assert doc["status"] == "healthy", doc
    assert doc["metadata_store"] == "embedded", doc
    assert doc["metadata"]["status"] == "healthy", doc
    assert estack.env["IPFS_S3_METADATA_STORE"] == "embedded"
    assert os.path.isfile(estack.env["IPFS_S3_EMBEDDED_PATH"]), estack.env["IPFS_S3_EMBEDDED_PATH"]
    assert component_pid(RUN, "redis") is None
    status_out = stack_cmd("status", stack_env()).stdout
    assert any(line.startswith("redis") and "not used" in line for line in status_out.splitlines()), status_out
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", estack.port("REDIS"))) != 0, "nothing listens on the profile's Redis port"


def test_put_get_list_delete(es3, ebucket):
    objects = {"a/1.txt": b"one", "a/2.txt": b"two" * 1000, "b/\u00e4\u00f6\u00fc \U0001F600.txt": b"unicode"}
    for key, body in objects.items():
        es3.put_object(Bucket=ebucket, Key=key, Body=body, ContentType="text/plain")
    for key, body in objects.items():
        got = es3.get_object(Bucket=ebucket, Key=key)
        assert got["Body"].read() == body
        assert got["ContentType"] == "text/plain"
    assert listed(es3, ebucket) == sorted(objects, key=lambda k: k.encode())
    assert listed(es3, ebucket, Prefix="a/", StartAfter="a/1.txt") == ["a/2.txt"]
    page = es3.list_objects_v2(Bucket=ebucket, Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/", "b/"]
    wait_pinned(es3, ebucket, "a/1.txt")

    es3.delete_object(Bucket=ebucket, Key="a/1.txt")
    assert listed(es3, ebucket) == sorted(set(objects) - {"a/1.txt"}, key=lambda k: k.encode())
    with pytest.raises(ClientError) as e:
        es3.get_object(Bucket=ebucket, Key="a/1.txt")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        es3.delete_bucket(Bucket=ebucket)
    assert e.value.response["Error"]["Code"] == "BucketNotEmpty"


@pytest.mark.parametrize("verb", ["stop", "kill"], ids=["restart", "crash"])
def test_data_survives_a_host_restart(estack, es3, ebucket, verb):
    body = os.urandom(64 * 1024)
    es3.put_object(Bucket=ebucket, Key="kept/big.bin", Body=body)
    es3.put_object(Bucket=ebucket, Key="kept/small.txt", Body=b"small", Metadata={"colour": "blue"})
    es3.put_object(Bucket=ebucket, Key="gone.txt", Body=b"gone")
    es3.delete_object(Bucket=ebucket, Key="gone.txt")
    cid = es3.head_object(Bucket=ebucket, Key="kept/big.bin")["ResponseMetadata"]["HTTPHeaders"]["x-ipfs-cid"]

    restart_host(estack, verb)

    assert ebucket in [b["Name"] for b in es3.list_buckets()["Buckets"]]
    assert listed(es3, ebucket) == ["kept/big.bin", "kept/small.txt"]
    assert es3.get_object(Bucket=ebucket, Key="kept/big.bin")["Body"].read() == body
    head = es3.head_object(Bucket=ebucket, Key="kept/small.txt")
    assert head["Metadata"] == {"colour": "blue"}
    assert head["ContentLength"] == 5
    hdrs = wait_pinned(es3, ebucket, "kept/big.bin")
    assert hdrs["x-ipfs-cid"] == cid
    # The restarted host keeps writing and deleting.
    es3.put_object(Bucket=ebucket, Key="after.txt", Body=b"after")
    assert es3.get_object(Bucket=ebucket, Key="after.txt")["Body"].read() == b"after"
    es3.delete_object(Bucket=ebucket, Key="kept/small.txt")
    assert listed(es3, ebucket) == ["after.txt", "kept/big.bin"]


def test_concurrent_puts_acknowledged_before_a_crash_are_all_kept(estack, es3, ebucket):
    """Concurrent writes share one commit to disk; each is answered only once that commit is on
    disk, so every PUT acknowledged before a KILL is there after the restart."""
    bodies = {f"burst/{i:03}": os.urandom(100 + i) for i in range(96)}
    with ThreadPoolExecutor(max_workers=16) as pool:
        etags = dict(zip(bodies, pool.map(lambda k: es3.put_object(Bucket=ebucket, Key=k, Body=bodies[k])["ETag"], bodies)))

    restart_host(estack, "kill")

    listed_after = {o["Key"]: o["ETag"] for o in es3.list_objects_v2(Bucket=ebucket, Prefix="burst/")["Contents"]}
    assert listed_after == etags
    assert all(e == f'"{hashlib.md5(bodies[k]).hexdigest()}"' for k, e in etags.items())
    assert es3.get_object(Bucket=ebucket, Key="burst/095")["Body"].read() == bodies["burst/095"]
