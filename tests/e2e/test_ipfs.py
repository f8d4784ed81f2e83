"""The IPFS side: X-IPFS-CID against Kubo's own gateway, pin status and replication against IPFS
Cluster's own view, the X-IPFS-* request headers, unpinning, and the host's health and metrics."""

import json
import os
import re
import urllib.error
import urllib.request

import pytest
import requests

from s3http import assert_s3_error, wait_until

HELLO_CID = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"  # `printf hello | ipfs add --cid-version 1`
PIN_DEADLINE_S = 60
METRICS = [
    "ipfs_pin_operations_total",
    "ipfs_pin_duration_seconds",
    "ipfs_cache_hit_ratio",
    "ipfs_replication_factor",
    "ipfs_cluster_nodes_available",
]


def http(url, method="GET", timeout=60, headers=None):
    """(status, body) without raising for 4xx/5xx; `headers` carry credentials (`stack.kubo_auth`,
    `stack.cluster_auth`)."""
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def ipfs_headers(resp) -> dict:
    return {k: v for k, v in resp["ResponseMetadata"]["HTTPHeaders"].items() if k.startswith("x-ipfs-")}


def head_cid(s3, bucket, key):
    head = s3.head_object(Bucket=bucket, Key=key)
    cid = ipfs_headers(head).get("x-ipfs-cid")
    assert cid, f"HEAD has no X-IPFS-CID: {head['ResponseMetadata']['HTTPHeaders']}"
    return cid


def cluster_status(stack, cid):
    """(HTTP status, parsed body) of the cluster's GET /pins/<cid>."""
    status, body = http(f"{stack.cluster_api_url}/pins/{cid}", headers=stack.cluster_auth)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body[:500]


def peer_statuses(doc) -> list:
    return [p.get("status") for p in (doc.get("peer_map") or {}).values()] if isinstance(doc, dict) else []


def wait_pinned(s3, bucket, key):
    """Polls HEAD until X-IPFS-Pin-Status is `pinned`; returns the X-IPFS-* headers then."""
    def probe():
        hdrs = ipfs_headers(s3.head_object(Bucket=bucket, Key=key))
        status = hdrs.get("x-ipfs-pin-status")
        assert status in ("pending", "pinned"), f"unexpected pin status: {hdrs}"
        return status == "pinned", hdrs

    return wait_until(probe, PIN_DEADLINE_S, f"{bucket}/{key} to be pinned")


def with_headers(make_s3, headers):
    """A client that adds `headers` to PutObject before signing."""
    client = make_s3()

    def add(request, **_):
        for name, value in headers.items():
            request.headers[name] = value

    client.meta.events.register("before-sign.s3.PutObject", add)
    return client


@pytest.mark.parametrize(
    "data",
    [b"hello", os.urandom(300 * 1024), os.urandom(3 * 1024 * 1024 + 7)],
    ids=["hello", "300KiB", "3MiB"],
)
def test_cid_header_names_the_content_in_kubo(s3, stack, bucket, data):
    s3.put_object(Bucket=bucket, Key="obj", Body=data)
    cid = head_cid(s3, bucket, "obj")
    assert cid.startswith("baf"), f"not a base32 CIDv1: {cid}"
    if data == b"hello":
        assert cid == HELLO_CID, "CIDv1 with raw leaves of 'hello' differs"
    get = s3.get_object(Bucket=bucket, Key="obj")
    assert get["Body"].read() == data
    assert ipfs_headers(get).get("x-ipfs-cid") == cid, ipfs_headers(get)
    status, body = http(f"{stack.gateway_url}/ipfs/{cid}")
    assert status == 200, (status, body[:500])
    assert body == data, f"Kubo serves {len(body)} bytes for {cid}, {len(data)} were put"


def kubo_add_cid(stack, data: bytes) -> str:
    """The CID `ipfs add --cid-version 1` gives `data` on the stack's Kubo (hashing only)."""
    resp = requests.post(
        f"{stack.kubo_api_url}/api/v0/add",
        params={"cid-version": "1", "only-hash": "true", "quieter": "true"},
        files={"file": ("object", data)},
        headers=stack.kubo_auth,
        timeout=60,
    )
    assert resp.status_code == 200, resp.text[:500]
    return json.loads(resp.text.splitlines()[-1])["Hash"]


# A body of at most one chunk (256 KiB) is stored as one raw block, a longer one by `add`: the
# CID is Kubo's on both sides of that line.
@pytest.mark.parametrize("size", [0, 1, 262143, 262144, 262145, 2 * 262144])
def test_cid_is_kubo_add_cid_on_both_sides_of_one_chunk(s3, stack, bucket, size):
    data = os.urandom(size)
    s3.put_object(Bucket=bucket, Key="obj", Body=data)
    assert head_cid(s3, bucket, "obj") == kubo_add_cid(stack, data)
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == data


def test_same_content_same_cid(s3, bucket):
    data = os.urandom(5000)
    s3.put_object(Bucket=bucket, Key="one", Body=data)
    s3.put_object(Bucket=bucket, Key="two", Body=data)
    s3.put_object(Bucket=bucket, Key="three", Body=data + b"!")
    assert head_cid(s3, bucket, "one") == head_cid(s3, bucket, "two")
    assert head_cid(s3, bucket, "one") != head_cid(s3, bucket, "three")


def test_pin_status_reaches_pinned_and_cluster_agrees(s3, stack, bucket):
    data = os.urandom(64 * 1024)
    s3.put_object(Bucket=bucket, Key="pinned", Body=data)
    hdrs = wait_pinned(s3, bucket, "pinned")
    count = hdrs.get("x-ipfs-replication-count")
    assert count is not None and count.isdigit() and int(count) >= 1, hdrs
    cid = hdrs["x-ipfs-cid"]

    get = s3.get_object(Bucket=bucket, Key="pinned")
    get["Body"].read()
    assert ipfs_headers(get).get("x-ipfs-pin-status") == "pinned", ipfs_headers(get)

    status, doc = cluster_status(stack, cid)
    assert status == 200, (status, doc)
    assert "pinned" in peer_statuses(doc), f"cluster's view of {cid}: {doc}"

    status, body = http(f"{stack.kubo_api_url}/api/v0/pin/ls?arg={cid}&type=recursive", method="POST", headers=stack.kubo_auth)
    assert status == 200 and cid in body.decode(), f"Kubo does not hold {cid} pinned: {status} {body[:500]}"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-IPFS-Replication-Factor": "0"},
        {"X-IPFS-Replication-Factor": "-1"},
        {"X-IPFS-Replication-Factor": "abc"},
        {"X-IPFS-Pin-Priority": "urgent"},
    ],
    ids=["factor-0", "factor-minus-1", "factor-abc", "priority-urgent"],
)
def test_invalid_ipfs_put_headers_are_invalid_argument(s3, make_s3, bucket, headers):
    client = with_headers(make_s3, headers)
    assert_s3_error(lambda: client.put_object(Bucket=bucket, Key="refused", Body=b"x"), "InvalidArgument", 400)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="refused"), None, 404)


def test_valid_replication_factor_and_priority_are_accepted(s3, make_s3, bucket):
    client = with_headers(make_s3, {"X-IPFS-Replication-Factor": "1", "X-IPFS-Pin-Priority": "high"})
    data = os.urandom(2048)
    put = client.put_object(Bucket=bucket, Key="replicated", Body=data)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200, put
    get = s3.get_object(Bucket=bucket, Key="replicated")
    assert get["Body"].read() == data
    assert ipfs_headers(get).get("x-ipfs-cid", "").startswith("baf"), ipfs_headers(get)


def test_a_factor_above_the_cluster_size_is_insufficient_replicas(s3, make_s3, stack, bucket):
    status, body = http(f"{stack.admin_url}/health")
    peers = json.loads(body)["cluster_peers_total"]
    assert peers >= 1, body[:1000]
    client = with_headers(make_s3, {"X-IPFS-Replication-Factor": str(peers + 1)})
    assert_s3_error(lambda: client.put_object(Bucket=bucket, Key="too-many", Body=b"x"), "InvalidArgument", 400, ipfs_code="InsufficientReplicas")
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="too-many"), None, 404)


def test_deleting_the_last_reference_unpins(s3, stack, bucket):
    data = os.urandom(40 * 1024)  # unique content: no other test references this CID
    s3.put_object(Bucket=bucket, Key="first", Body=data)
    s3.put_object(Bucket=bucket, Key="second", Body=data)
    cid = wait_pinned(s3, bucket, "first")["x-ipfs-cid"]
    wait_pinned(s3, bucket, "second")

    s3.delete_object(Bucket=bucket, Key="first")
    assert s3.get_object(Bucket=bucket, Key="second")["Body"].read() == data
    assert ipfs_headers(s3.head_object(Bucket=bucket, Key="second")).get("x-ipfs-pin-status") == "pinned"

    s3.delete_object(Bucket=bucket, Key="second")

    def unpinned():
        status, doc = cluster_status(stack, cid)
        if status == 404:
            return True, (status, doc)
        statuses = peer_statuses(doc)
        return status == 200 and statuses and all(s == "unpinned" for s in statuses), (status, doc)

    wait_until(unpinned, PIN_DEADLINE_S, f"the cluster to unpin {cid}")


def test_health_is_healthy(stack):
    status, body = http(f"{stack.admin_url}/health")
    assert status == 200, (status, body[:1000])
    doc = json.loads(body)
    assert doc.get("status") == "healthy", doc
    assert doc.get("metadata_store") == stack.env.get("IPFS_S3_METADATA_STORE", "redis"), doc
    for component in ("metadata", "ipfs", "gateway", "cluster"):
        assert doc[component]["status"] == "healthy", (component, doc)
    assert doc["cluster_peers_available"] >= 1, doc


def metric_samples(text: str) -> dict:
    """Prometheus text exposition -> {sample name: [(labels, value)]}."""
    samples = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)", line)
        if m and not line.startswith("#"):
            samples.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return samples


def test_metrics_after_a_pinned_put(s3, stack, bucket):
    s3.put_object(Bucket=bucket, Key="metered", Body=os.urandom(1024))
    wait_pinned(s3, bucket, "metered")
    s3.get_object(Bucket=bucket, Key="metered")["Body"].read()

    def fetch():
        status, body = http(f"{stack.admin_url}/metrics")
        assert status == 200, (status, body[:1000])
        return body.decode()

    text = fetch()
    families = set(re.findall(r"^# TYPE (\S+)", text, re.M))
    samples = metric_samples(text)
    present = families | {re.sub(r"_(bucket|sum|count)$", "", n) for n in samples} | set(samples)
    missing = [m for m in METRICS if m not in present]
    assert not missing, f"/metrics lacks {missing}:\n{text[:4000]}"

    pins = sum(v for _, v in samples.get("ipfs_pin_operations_total", []))
    assert pins > 0, f"ipfs_pin_operations_total is {pins} after a pinned PUT:\n{text[:4000]}"

    def nodes_available():
        values = [v for _, v in metric_samples(fetch()).get("ipfs_cluster_nodes_available", [])]
        return bool(values) and max(values) >= 1, values

    wait_until(nodes_available, 30, "ipfs_cluster_nodes_available >= 1")
