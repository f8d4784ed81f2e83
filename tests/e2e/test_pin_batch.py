"""PinBatch for operators (`ipfs-s3 pin batch|status|rm`, the admin API behind it) on the real
stack: 1,000 CIDs added straight to Kubo (unpinned) are queued in one call, each with its own
priority, and end up pinned by the cluster; the operator's pin outlives an object with the same
content and goes with `pin rm`; a batch with one bad entry queues nothing."""

import json
import os
import time
import urllib.request

from s3http import wait_until
from test_encryption import ipfs_s3_cli
from test_ipfs import http

N = 1000
PRIORITIES = ["high", "normal", "low"]


def kubo_add_many(stack, contents) -> list[str]:
    """Adds every content to Kubo in one call, unpinned, as CIDv1 (raw leaves, like the gateway's
    own writes); returns their CIDs in order."""
    boundary = "pin-batch-boundary"
    body = b"".join(
        (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f{i}\"\r\n"
         "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
        for i, data in enumerate(contents)
    ) + f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(
        f"{stack.kubo_api_url}/api/v0/add?cid-version=1&pin=false", data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **stack.kubo_auth},
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        added = [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]
    by_name = {a["Name"]: a["Hash"] for a in added}
    return [by_name[f"f{i}"] for i in range(len(contents))]


def kubo_pins(stack) -> set[str]:
    status, body = http(f"{stack.kubo_api_url}/api/v0/pin/ls?type=recursive&cid-base=base32", method="POST", headers=stack.kubo_auth)
    assert status == 200, body[:300]
    return set(json.loads(body)["Keys"])


def pin_status(stack, *args) -> dict:
    """CID -> (status, replication count, holder) as `ipfs-s3 pin status` prints them."""
    done = ipfs_s3_cli(stack, "pin", "status", *args)
    assert done.returncode == 0, done.stderr
    out = {}
    for line in done.stdout.splitlines():
        cid, status, count, holder = line.split(" ", 3)
        out[cid] = (status, int(count), holder)
    return out


def test_a_thousand_cids_are_queued_in_one_call_and_pinned(stack, tmp_path):
    cids = kubo_add_many(stack, [f"pin batch {i} {os.urandom(8).hex()}".encode() for i in range(N)])
    assert len(set(cids)) == N and not (set(cids) & kubo_pins(stack)), "fresh, unpinned content"
    batch = tmp_path / "cids.txt"
    batch.write_text("# CID FACTOR PRIORITY\n" + "".join(f"{c} 1 {PRIORITIES[i % 3]}\n" for i, c in enumerate(cids)))

    started = time.monotonic()
    done = ipfs_s3_cli(stack, "pin", "batch", str(batch))
    queued_s = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert f"queued {N} pins ({N} new CIDs)" in done.stdout, done.stdout

    def all_pinned():
        states = pin_status(stack, "--file", str(batch))
        pinned = [c for c, v in states.items() if v == ("pinned", 1, "operator")]
        return set(states) == set(cids) and len(pinned) == N, f"{len(pinned)} of {N} reported pinned"

    wait_until(all_pinned, 300, f"{N} batch pins", interval=1)
    pinned_s = time.monotonic() - started
    print(f"\nPinBatch of {N} CIDs: queued in {queued_s:.2f}s (the command, one admin call), "
          f"all reported pinned after {pinned_s:.1f}s ({N / pinned_s:.0f} pins/s)")
    assert set(cids) <= kubo_pins(stack), "the cluster pinned them on the Kubo node"


def test_the_operator_pin_outlives_an_object_and_goes_with_pin_rm(s3, stack, bucket, tmp_path):
    data = os.urandom(2000)
    cid = kubo_add_many(stack, [data])[0]
    batch = tmp_path / "one.txt"
    batch.write_text(f"{cid}\n")
    assert ipfs_s3_cli(stack, "pin", "batch", str(batch)).returncode == 0
    put = s3.put_object(Bucket=bucket, Key="same", Body=data)
    assert put["ResponseMetadata"]["HTTPHeaders"]["x-ipfs-cid"] == cid, "the gateway writes the same CID"
    wait_until(lambda: (cid in kubo_pins(stack), None), 60, "the pin")
    s3.delete_object(Bucket=bucket, Key="same")
    # The object's deletion queued nothing for this CID (the operator holds it); what is queued
    # after it is a marker whose pin, once done, shows the queue went past.
    marker = s3.put_object(Bucket=bucket, Key="marker", Body=os.urandom(100))["ResponseMetadata"]["HTTPHeaders"]["x-ipfs-cid"]
    wait_until(lambda: (marker in kubo_pins(stack), None), 60, "the marker's pin")
    assert cid in kubo_pins(stack), "deleting the object unpinned the operator's CID"
    assert pin_status(stack, cid)[cid][2] == "operator"

    done = ipfs_s3_cli(stack, "pin", "rm", cid)
    assert done.returncode == 0, done.stderr
    wait_until(lambda: (cid not in kubo_pins(stack), None), 60, "the unpin")
    assert pin_status(stack, cid)[cid][2] == "objects only"
    again = ipfs_s3_cli(stack, "pin", "rm", cid)
    assert again.returncode != 0 and "NoSuchKey" in again.stderr, again.stderr


def test_a_batch_with_one_bad_entry_queues_nothing(stack, tmp_path):
    good = kubo_add_many(stack, [os.urandom(64)])[0]
    for bad_line, says in [("not-a-cid", "not a CID"), (f"{good} 2", "InsufficientReplicas"), (f"{good} 1 urgent", "priority")]:
        batch = tmp_path / "bad.txt"
        batch.write_text(f"{good}\n{bad_line}\n")
        done = ipfs_s3_cli(stack, "pin", "batch", str(batch))
        assert done.returncode != 0 and says in done.stderr, (bad_line, done.stderr)
        assert pin_status(stack, good)[good][2] == "objects only", "a refused batch queued its good entry"
    assert good not in kubo_pins(stack)
