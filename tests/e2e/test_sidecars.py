"""The sidecar deployment: three gateway nodes on loopback (`IPFS_S3_TOPOLOGY=sidecars`), each a
host instance and its Envoy sidecar (`envoy/sidecar.yaml`, rendered and validated by the stack
tool) reading from its own Kubo node of a shared 3-peer IPFS Cluster, every node sharing one Redis.
Started once by this module on its own profile (`sidecars`, ports shifted by 13000 unless
IPFS_S3_E2E_SIDECARS_PROFILE / IPFS_S3_E2E_SIDECARS_OFFSET say otherwise) and removed afterwards
(`IPFS_S3_E2E_KEEP_STACK=1` keeps it).

What a client of several nodes must find: a write through one node is read through any other
within the documented staleness bound (`IPFS_S3_CACHE_TTL_MS` + `resolve_cache_ttl_ms`), every node
reports the same pin and replication, access counts from all nodes add up, a multipart upload
whose parts go to different nodes completes, and a node killed mid-traffic (SIGKILL of its host
and its Envoy) leaves the others serving with nothing acknowledged lost: the dead node's pin work
is taken over by the others once its lease (`pin_instance_lease_ms`) runs out. The node kill runs
last.
"""

import hashlib
import json
import os
import signal
import threading
import time
import uuid

import boto3
import pytest
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from conftest import (REPO, client_config, create_bucket, empty_and_delete_bucket, load_stack, own_stack_env, stack_cmd,
                      stack_state, stack_up_or_fail)
from s3http import unix_get, wait_until
from test_ipfs import http, ipfs_headers, metric_samples

PROFILE = os.environ.get("IPFS_S3_E2E_SIDECARS_PROFILE", "sidecars")
OFFSET = os.environ.get("IPFS_S3_E2E_SIDECARS_OFFSET", "13000")
NODES = 3
RUN = REPO / ".run" / PROFILE
KEEP = os.environ.get("IPFS_S3_E2E_KEEP_STACK") == "1"
PIN_DEADLINE_S = 90
CACHE_TTL_MS = 1000
RESOLVE_CACHE_TTL_MS = 1000
# The staleness bound the README documents for a write through another Envoy and host, with room
# for the requests' own time on a loaded 2-core machine.
STALE_BOUND_S = (CACHE_TTL_MS + RESOLVE_CACHE_TTL_MS) / 1000 + 1.5
LEASE_MS = 2000


def sidecars_env() -> dict:
    return own_stack_env(
        IPFS_S3_PROFILE=PROFILE,
        IPFS_S3_PORT_OFFSET=OFFSET,
        IPFS_S3_TOPOLOGY="sidecars",
        IPFS_S3_CLUSTER_PEERS=str(NODES),
        IPFS_S3_CACHE_TTL_MS=str(CACHE_TTL_MS),
        IPFS_S3_RESOLVE_CACHE_TTL_MS=str(RESOLVE_CACHE_TTL_MS),
        IPFS_S3_ACCESS_FLUSH_MS="200",
        IPFS_S3_PIN_INSTANCE_LEASE_MS=str(LEASE_MS),
        IPFS_S3_PIN_TIMEOUT_SECS="8",
    )


class Nodes:
    """The stack and a client per node."""

    def __init__(self):
        self.stack = load_stack(RUN)
        self.nodes = stack_state(RUN)["nodes"]
        st = self.stack
        self.clients = [
            boto3.session.Session().client(
                "s3", endpoint_url=n["endpoint"], region_name=st.region,
                aws_access_key_id=st.access_key, aws_secret_access_key=st.secret_key,
                config=client_config(max_pool_connections=8),
            )
            for n in self.nodes
        ]

    def metrics(self, i) -> dict:
        status, body = http(f"{self.nodes[i]['admin_url']}/metrics")
        assert status == 200, (status, body[:300])
        return metric_samples(body.decode())

    def cluster_pinned(self, cid, i) -> int:
        """Peers holding `cid` pinned, as cluster peer `i` sees it."""
        status, body = http(f"{self.nodes[i]['cluster_api_url']}/pins/{cid}", headers=self.stack.cluster_auth)
        if status != 200:
            return 0
        return sum(1 for p in (json.loads(body).get("peer_map") or {}).values() if p.get("status") == "pinned")


@pytest.fixture(scope="module")
def nodes(aws_isolation):
    stack_up_or_fail(sidecars_env())
    yield Nodes()
    if not KEEP:
        clean = stack_cmd("clean", sidecars_env())
        assert clean.returncode == 0, clean.stdout + clean.stderr


@pytest.fixture
def bucket(nodes):
    name = f"e2e-side-{uuid.uuid4().hex[:12]}"
    create_bucket(nodes.clients[0], nodes.stack, name)
    yield name
    empty_and_delete_bucket(nodes.clients[1], name)


def body_of(s3, bucket, key) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def status_of(call) -> int:
    try:
        call()
        return 200
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]


def test_every_node_is_a_sidecar_of_its_own_host_and_ipfs_node(nodes):
    assert len(nodes.nodes) == NODES
    ports = set()
    for i, n in enumerate(nodes.nodes):
        status, body = unix_get(n["envoy_admin_socket"], "/ready")
        assert (status, body.strip()) == (200, b"LIVE"), (i, status, body)
        # The rendered sidecar template: an inbound listener on this node's port.
        status, body = unix_get(n["envoy_admin_socket"], "/listeners?format=json")
        assert status == 200 and str(n["endpoint"].rsplit(":", 1)[1]).encode() in body, body[:500]
        status, body = http(f"{n['admin_url']}/health")
        assert status == 200, (i, status, body[:500])
        ports.add(n["endpoint"])
        # The node's host talks to its own Kubo node: its gateway is this node's.
        assert n["gateway_url"] != nodes.nodes[(i + 1) % NODES]["gateway_url"]
    assert len(ports) == NODES
    text = (RUN / "envoy-1" / "envoy.yaml").read_text()
    assert "traffic_direction: INBOUND" in text and "${" not in text.split("\n# The admin", 1)[1]


def test_a_write_through_one_node_is_read_through_the_others_within_the_bound(nodes, bucket):
    a, b, c = nodes.clients
    a.put_object(Bucket=bucket, Key="k", Body=b"version 1")
    # Nothing cached yet anywhere: every node reads it at once.
    assert [body_of(s3, bucket, "k") for s3 in (a, b, c)] == [b"version 1"] * 3

    # B and C now hold the record in their caches; A overwrites.
    a.put_object(Bucket=bucket, Key="k", Body=b"version 2")
    written = time.monotonic()
    assert body_of(a, bucket, "k") == b"version 2", "the writing node is fresh at once"
    for s3, name in ((b, "B"), (c, "C")):
        wait_until(lambda: (body_of(s3, bucket, "k") == b"version 2", None), STALE_BOUND_S, f"node {name} to read version 2")
    took = time.monotonic() - written
    assert took <= STALE_BOUND_S, took

    # A delete through C reaches A and B within the bound too.
    c.delete_object(Bucket=bucket, Key="k")
    assert status_of(lambda: c.head_object(Bucket=bucket, Key="k")) == 404
    for s3, name in ((a, "A"), (b, "B")):
        wait_until(lambda: (status_of(lambda: s3.head_object(Bucket=bucket, Key="k")) == 404, None),
                   STALE_BOUND_S, f"node {name} to see the delete")


def test_pins_and_replication_agree_on_every_node(nodes, bucket):
    a, b, c = nodes.clients

    def add_factor(request, **_):
        request.headers["X-IPFS-Replication-Factor"] = "2"

    b.meta.events.register("before-sign.s3.PutObject", add_factor)
    try:
        b.put_object(Bucket=bucket, Key="r", Body=os.urandom(64 * 1024))
    finally:
        b.meta.events.unregister("before-sign.s3.PutObject", add_factor)

    def pinned_everywhere():
        seen = [ipfs_headers(s3.head_object(Bucket=bucket, Key="r")) for s3 in (a, b, c)]
        views = {(h.get("x-ipfs-cid"), h.get("x-ipfs-pin-status"), h.get("x-ipfs-replication-count")) for h in seen}
        return len(views) == 1 and seen[0].get("x-ipfs-pin-status") == "pinned", seen

    seen = wait_until(pinned_everywhere, PIN_DEADLINE_S, "every node to report the pin")
    cid = seen[0]["x-ipfs-cid"]
    assert seen[0]["x-ipfs-replication-count"] == "2", seen
    assert [nodes.cluster_pinned(cid, i) for i in range(NODES)] == [2] * NODES, "every cluster peer's view"
    for i in range(NODES):
        available = nodes.metrics(i)["ipfs_cluster_nodes_available"]
        assert [v for _, v in available] == [float(NODES)], (i, available)


def test_access_counts_from_every_node_add_up(nodes, bucket):
    clients = nodes.clients
    clients[0].put_object(Bucket=bucket, Key="hot", Body=b"counted from everywhere")
    gets = [2, 3, 4]
    for s3, n in zip(clients, gets):
        for _ in range(n):
            assert body_of(s3, bucket, "hot") == b"counted from everywhere"
    total = sum(gets)

    def counted():
        counts = [int(ipfs_headers(s3.head_object(Bucket=bucket, Key="hot"))["x-ipfs-access-count"]) for s3 in clients]
        return counts == [total] * NODES, counts

    wait_until(counted, 30, f"every node to report {total} GETs")
    batches = [sum(v for _, v in nodes.metrics(i).get("ipfs_access_gets_total", [])) for i in range(NODES)]
    assert all(b >= n for b, n in zip(batches, gets)), ("each node's host took its own node's GETs", batches)


def test_a_multipart_upload_whose_parts_go_to_different_nodes_completes(nodes, bucket):
    clients = nodes.clients
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024), os.urandom(1234)]
    upload = clients[0].create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etags = []
    for n, data in enumerate(parts, start=1):
        s3 = clients[n % NODES]
        etags.append(s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=n, Body=data)["ETag"])
    listed = clients[2].list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == list(zip([1, 2, 3], etags))
    done = clients[1].complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]},
    )
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    assert done["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'
    whole = b"".join(parts)
    for s3 in clients:
        assert hashlib.sha256(body_of(s3, bucket, "mp")).digest() == hashlib.sha256(whole).digest()


class Traffic(threading.Thread):
    """PUTs small objects through one node until stopped; remembers what was acknowledged."""

    def __init__(self, s3, bucket, node):
        super().__init__(daemon=True)
        self.s3, self.bucket, self.node = s3, bucket, node
        self.acked = {}
        self.failures = []
        self.stop = threading.Event()

    def run(self):
        n = 0
        while not self.stop.is_set():
            key = f"t{self.node}/{n:05d}"
            data = os.urandom(2048 + n)
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
                self.acked[key] = hashlib.md5(data).hexdigest()
            except (ClientError, BotoCoreError, Urllib3Error, OSError) as e:
                self.failures.append((time.monotonic(), key, repr(e)[:200]))
                time.sleep(0.05)  # a dead node refuses at once; do not spin on it
            n += 1


def gauge(samples, name) -> float:
    return sum(v for _, v in samples.get(name, []))


def test_a_node_killed_mid_traffic_leaves_the_others_serving_and_loses_nothing(nodes, bucket):
    clients = nodes.clients
    dead = NODES - 1
    traffic = [Traffic(s3, bucket, i) for i, s3 in enumerate(clients)]
    for t in traffic:
        t.start()
    wait_until(lambda: (all(len(t.acked) >= 20 for t in traffic), [len(t.acked) for t in traffic]), 60,
               "20 PUTs acknowledged by every node")
    # The dying node must die holding pin work: its cluster peer is paused (SIGSTOP), so the
    # calls its host's pin workers make to it hang, with their operations in flight.
    cluster_pid = next(c["pid"] for c in stack_state(RUN)["components"] if c["name"] == f"cluster{dead}")
    os.kill(cluster_pid, signal.SIGSTOP)
    try:
        held = wait_until(lambda: (gauge(nodes.metrics(dead), "ipfs_pin_in_flight") > 0,
                                   gauge(nodes.metrics(dead), "ipfs_pin_in_flight")),
                          30, f"node {dead}'s host to hold pin work in flight")
        taken_before = sum(gauge(nodes.metrics(i), "ipfs_pin_takeovers_total") for i in range(dead))
        for component in (f"host{dead}", f"envoy{dead}"):
            done = stack_cmd(f"kill {component}", sidecars_env())
            assert done.returncode == 0, done.stdout + done.stderr
    finally:
        os.kill(cluster_pid, signal.SIGCONT)
    killed = time.monotonic()
    before = [len(t.acked) for t in traffic]
    wait_until(lambda: (all(len(t.acked) >= before[i] + 20 for i, t in enumerate(traffic[:dead])),
                        [len(t.acked) for t in traffic]), 60, "the other nodes to go on acknowledging PUTs")
    for t in traffic:
        t.stop.set()
    for t in traffic:
        t.join(timeout=60)

    for t in traffic[:dead]:
        assert not t.failures, f"node {t.node} failed while another node died: {t.failures[:3]}"
    assert any(at >= killed for at, _, _ in traffic[dead].failures), "the killed node must have refused requests"

    acked = {k: md5 for t in traffic for k, md5 in t.acked.items()}
    survivors = clients[:dead]
    for n, (key, md5) in enumerate(sorted(acked.items())):
        data = body_of(survivors[n % dead], bucket, key)
        assert hashlib.md5(data).hexdigest() == md5, f"{key} read back different bytes"
    listed = []
    for page in survivors[0].get_paginator("list_objects_v2").paginate(Bucket=bucket):
        listed.extend(o["Key"] for o in page.get("Contents", []))
    assert set(acked) <= set(listed), sorted(set(acked) - set(listed))[:5]

    # The dead node's in-flight pin work is taken over by the others once its lease runs out, and
    # every acknowledged object gets pinned.
    wait_until(lambda: ((n := sum(gauge(nodes.metrics(i), "ipfs_pin_takeovers_total") for i in range(dead)) - taken_before) >= held, n),
               30, f"the surviving hosts to take over the {held:.0f} operations node {dead} held")

    def all_pinned():
        pending = [k for k in sorted(acked)
                   if ipfs_headers(survivors[0].head_object(Bucket=bucket, Key=k)).get("x-ipfs-pin-status") != "pinned"]
        return not pending, pending[:5]

    wait_until(all_pinned, PIN_DEADLINE_S, f"all {len(acked)} acknowledged objects to be pinned")
    stack_up_or_fail(sidecars_env())
    assert body_of(clients[dead], bucket, sorted(acked)[0]), "the node serves again after `up`"
