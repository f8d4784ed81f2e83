"""Replication and faults against a real 3-peer IPFS Cluster: three Kubo nodes, three cluster
peers, Redis, the host and Envoy, started by this module on its own profile (`cluster`, ports
shifted by 20000 unless IPFS_S3_E2E_CLUSTER_PROFILE / IPFS_S3_E2E_CLUSTER_OFFSET say otherwise;
with IPFS_S3_E2E_CLUSTER_PORTS=env the stack's port variables come from the environment instead)
and removed afterwards (`IPFS_S3_E2E_KEEP_STACK=1` keeps it).

What is checked is what the cluster itself says: the peer map of `GET /pins/<cid>`, the pin's
replication bounds in `GET /allocations/<cid>`, each peer's Kubo pin list, and the host's
`/health` and `/metrics`. Faults are real: peers' processes are killed with SIGKILL
(`scripts/stack.sh kill <component>`) and started again with `scripts/stack.sh up`; so are the host
and Redis while pins are queued.
"""

import json
import os
import time
import uuid

import boto3
import pytest

from conftest import (OWN_STACK_PASSED, REPO, Stack, client_config, create_bucket, empty_and_delete_bucket, load_stack, stack_cmd,
                      stack_up_or_fail)
from s3http import assert_s3_error, wait_until
from test_ipfs import http, ipfs_headers, metric_samples

PROFILE = os.environ.get("IPFS_S3_E2E_CLUSTER_PROFILE", "cluster")
OFFSET = os.environ.get("IPFS_S3_E2E_CLUSTER_OFFSET", "20000")
PEERS = 3
RUN = REPO / ".run" / PROFILE
KEEP = os.environ.get("IPFS_S3_E2E_KEEP_STACK") == "1"
# Long enough for a pin to replicate to three local peers on a loaded machine; the host's own
# pin timeout is lowered so that a pin stuck on a dead peer is retried within the test.
PIN_DEADLINE_S = 90
HOST_PIN_TIMEOUT_S = "8"
# A fast replica manager, so the hot/cold test sees it act within seconds: an object is hot after
# some 50 GETs within a few seconds (no other test here comes near), cold again a few half-lives
# later, and a hot object's pin gets every peer.
REPLICA_SETTINGS = {
    "IPFS_S3_ACCESS_FLUSH_MS": "200",
    "IPFS_S3_REPLICA_INTERVAL_MS": "500",
    "IPFS_S3_REPLICA_HALF_LIFE_MS": "5000",
    "IPFS_S3_REPLICA_HOT_THRESHOLD": "50",
    "IPFS_S3_REPLICA_COLD_THRESHOLD": "5",
    "IPFS_S3_HOT_REPLICATION_FACTOR": str(PEERS),
}




def cluster_env() -> dict:
    ports_from_env = os.environ.get("IPFS_S3_E2E_CLUSTER_PORTS") == "env"
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("IPFS_S3_") or k in OWN_STACK_PASSED or (ports_from_env and (k.endswith("_PORT") or k == "IPFS_S3_PEER_PORT_STRIDE"))
    }
    env.update(
        IPFS_S3_PROFILE=PROFILE,
        IPFS_S3_PORT_OFFSET=OFFSET,
        IPFS_S3_CLUSTER_PEERS=str(PEERS),
        IPFS_S3_PIN_TIMEOUT_SECS=HOST_PIN_TIMEOUT_S,
        **REPLICA_SETTINGS,
    )
    return env


class Cluster:
    """The 3-peer stack: its settings, per-peer URLs, and its processes."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.stride = int(stack.env["IPFS_S3_PEER_PORT_STRIDE"])

    def peer_url(self, port_name: str, i: int) -> str:
        return f"http://127.0.0.1:{self.stack.port(port_name) + self.stride * i}"

    def pins(self, cid, peer=0):
        """(HTTP status, body) of peer `peer`'s GET /pins/<cid>."""
        status, body = http(f"{self.peer_url('CLUSTER_API', peer)}/pins/{cid}", headers=self.stack.cluster_auth)
        return status, json.loads(body) if status == 200 else body[:500]

    def pinned_peers(self, cid) -> int:
        status, doc = self.pins(cid)
        if status != 200:
            return 0
        return sum(1 for p in (doc.get("peer_map") or {}).values() if p.get("status") == "pinned")

    def allocation(self, cid) -> dict:
        status, body = http(f"{self.peer_url('CLUSTER_API', 0)}/allocations/{cid}", headers=self.stack.cluster_auth)
        assert status == 200, (status, body[:500])
        return json.loads(body)

    def kubo_pins(self, cid, peer) -> bool:
        status, body = http(f"{self.peer_url('KUBO_API', peer)}/api/v0/pin/ls?arg={cid}&type=recursive", method="POST",
                            headers=self.stack.kubo_auth)
        return status == 200 and cid in body.decode()

    def health(self) -> dict:
        status, body = http(f"{self.stack.admin_url}/health")
        assert status in (200, 503), (status, body[:500])
        return json.loads(body)

    def metrics(self) -> dict:
        status, body = http(f"{self.stack.admin_url}/metrics")
        assert status == 200, (status, body[:500])
        return metric_samples(body.decode())

    def kill(self, component):
        """SIGKILL one component of the stack and wait for it to die (`stack.sh kill`)."""
        done = stack_cmd(f"kill {component}", cluster_env())
        assert done.returncode == 0, done.stdout + done.stderr

    def up(self):
        stack_up_or_fail(cluster_env())


# A fresh 3-peer stack for every test: after a peer has been killed and restarted, IPFS Cluster
# 1.1.6 was seen to leave new pins allocated but unpinned on the restarted peers for minutes, so
# one fault test's aftermath would decide the next test's outcome.
@pytest.fixture
def cluster(aws_isolation):
    stack_up_or_fail(cluster_env())
    stack = load_stack(RUN)
    yield Cluster(stack)
    if not KEEP:
        clean = stack_cmd("clean", cluster_env())
        assert clean.returncode == 0, clean.stdout + clean.stderr


@pytest.fixture
def s3c(cluster):
    st = cluster.stack
    return boto3.session.Session().client(
        "s3", endpoint_url=st.endpoint, region_name=st.region,
        aws_access_key_id=st.access_key, aws_secret_access_key=st.secret_key, config=client_config(),
    )


@pytest.fixture
def cbucket(s3c, cluster, request):
    name = f"e2e-cluster-{request.node.name[5:25].replace('_', '-').strip('-')}-{uuid.uuid4().hex[:8]}"
    create_bucket(s3c, cluster.stack, name)
    yield name
    empty_and_delete_bucket(s3c, name)


def put(s3c, bucket, key, body, factor=None, priority=None):
    headers = {}
    if factor is not None:
        headers["X-IPFS-Replication-Factor"] = str(factor)
    if priority is not None:
        headers["X-IPFS-Pin-Priority"] = priority

    def add(request, **_):
        for name, value in headers.items():
            request.headers[name] = value

    s3c.meta.events.register_first("before-sign.s3.PutObject", add)
    try:
        return s3c.put_object(Bucket=bucket, Key=key, Body=body)
    finally:
        s3c.meta.events.unregister("before-sign.s3.PutObject", add)


def head(s3c, bucket, key) -> dict:
    return ipfs_headers(s3c.head_object(Bucket=bucket, Key=key))


def wait_replicas(s3c, bucket, key, count, deadline=PIN_DEADLINE_S) -> dict:
    """Polls HEAD until the object reads `pinned` with X-IPFS-Replication-Count == count."""
    def probe():
        h = head(s3c, bucket, key)
        return h.get("x-ipfs-pin-status") == "pinned" and h.get("x-ipfs-replication-count") == str(count), h

    return wait_until(probe, deadline, f"{bucket}/{key} pinned on {count} peer(s)")


def peer_named(report, suffix):
    for p in report["peers"]:
        if p["name"].endswith(suffix):
            return p
    raise AssertionError(f"no peer named *{suffix} in {report['peers']}")


def test_three_peers_form_one_healthy_cluster(cluster):
    report = cluster.health()
    assert report["status"] == "healthy", report
    assert report["cluster_peers_total"] == PEERS and report["cluster_peers_available"] == PEERS, report
    assert [p["status"] for p in report["peers"]] == ["healthy"] * PEERS, report["peers"]
    assert "cluster_split" not in report, report
    m = cluster.metrics()
    assert m["ipfs_cluster_nodes_available"] == [("", float(PEERS))], m["ipfs_cluster_nodes_available"]
    assert m["ipfs_cluster_nodes_total"] == [("", float(PEERS))]
    assert m["ipfs_cluster_split"] == [("", 0.0)]


def test_every_peer_requires_the_stack_credentials(cluster):
    """Each peer's Kubo RPC and cluster REST API refuse requests without the stack's credentials
    and take them; each peer reaches its own Kubo through the relay (its IPFS id is its Kubo's)."""
    for peer in range(PEERS):
        kubo, api = cluster.peer_url("KUBO_API", peer), cluster.peer_url("CLUSTER_API", peer)
        assert http(f"{kubo}/api/v0/id", method="POST")[0] == 403, peer
        status, body = http(f"{kubo}/api/v0/id", method="POST", headers=cluster.stack.kubo_auth)
        assert status == 200, (peer, status, body[:300])
        kubo_id = json.loads(body)["ID"]
        assert http(f"{api}/id")[0] == 401, peer
        status, body = http(f"{api}/id", headers=cluster.stack.cluster_auth)
        assert status == 200, (peer, status, body[:300])
        assert json.loads(body)["ipfs"]["id"] == kubo_id, (peer, body[:500])


def test_replication_factors_1_and_3_in_the_cluster_peer_map(s3c, cluster, cbucket):
    one, three, default = os.urandom(30_000), os.urandom(30_000), os.urandom(30_000)
    put(s3c, cbucket, "one", one, factor=1)
    put(s3c, cbucket, "three", three, factor=3, priority="high")
    put(s3c, cbucket, "default", default)
    for key, factor in [("one", 1), ("three", 3), ("default", 3)]:
        cid = wait_replicas(s3c, cbucket, key, factor)["x-ipfs-cid"]
        status, doc = cluster.pins(cid)
        statuses = sorted(p["status"] for p in doc["peer_map"].values())
        assert statuses == sorted(["pinned"] * factor + ["remote"] * (PEERS - factor)), (key, doc)
        alloc = cluster.allocation(cid)
        assert (alloc["replication_factor_min"], alloc["replication_factor_max"]) == (factor, factor), alloc
        assert len(alloc["allocations"]) == factor, alloc
        holders = [i for i in range(PEERS) if cluster.kubo_pins(cid, i)]
        assert len(holders) == factor, f"{key}: Kubo nodes {holders} hold {cid} pinned"
        # Any peer's gateway serves the bytes (blocks move between the peers' Kubo nodes).
        status, body = http(f"{cluster.peer_url('GATEWAY', 2)}/ipfs/{cid}")
        assert status == 200 and body == {"one": one, "three": three, "default": default}[key]

    assert_s3_error(lambda: put(s3c, cbucket, "four", b"x", factor=PEERS + 1), "InvalidArgument", 400, ipfs_code="InsufficientReplicas")
    assert_s3_error(lambda: s3c.head_object(Bucket=cbucket, Key="four"), None, 404)


def test_a_hot_object_gains_replicas_and_loses_them_when_cold(s3c, cluster, cbucket):
    hot_threshold = int(REPLICA_SETTINGS["IPFS_S3_REPLICA_HOT_THRESHOLD"])
    client_factor = 2
    put(s3c, cbucket, "hot", os.urandom(20_000), factor=client_factor)
    cid = wait_replicas(s3c, cbucket, "hot", client_factor)["x-ipfs-cid"]
    start = time.monotonic()

    def observe(label):
        alloc = cluster.allocation(cid)
        return (round(time.monotonic() - start, 1), label, alloc["replication_factor_max"], cluster.pinned_peers(cid))

    timeline = [observe("put")]
    assert timeline[0][2:] == (client_factor, client_factor), timeline
    # Twice the threshold: the heat stays above it even if the GETs take a few seconds.
    n = 2 * hot_threshold
    for _ in range(n):
        s3c.get_object(Bucket=cbucket, Key="hot")["Body"].read()
    timeline.append(observe(f"{n} GETs"))

    def reaches(factor, label):
        def probe():
            row = observe(label)
            if timeline[-1][2:] != row[2:]:
                timeline.append(row)
            assert row[2] >= client_factor, f"below the client's factor: {timeline}"
            return row[2] == factor and row[3] == factor, timeline

        wait_until(probe, PIN_DEADLINE_S, f"{cid}: replication_factor_max and peers pinned {factor} ({label})")

    # Hot: every peer holds it.
    reaches(PEERS, "hot")
    # No more reads: the heat decays below the cold threshold and the pin goes back to the
    # client's factor, not below.
    reaches(client_factor, "cold")
    decisions = dict(cluster.metrics()["ipfs_replica_decisions_total"])
    assert decisions['{direction="up"}'] >= 1 and decisions['{direction="down"}'] >= 1, decisions
    print(f"\nreplica timeline of {cid} (seconds, event, replication_factor_max, peers pinned):")
    for row in timeline:
        print("  ", row)


def test_dedup_across_keys_keeps_content_pinned_until_the_last_key_goes(s3c, cluster, cbucket):
    data = os.urandom(50_000)
    keys = ["a", "b/c", "d"]
    for k in keys:
        put(s3c, cbucket, k, data, factor=2)
    cid = wait_replicas(s3c, cbucket, "a", 2)["x-ipfs-cid"]
    assert all(head(s3c, cbucket, k)["x-ipfs-cid"] == cid for k in keys)

    def unpins():
        return sum(v for labels, v in cluster.metrics()["ipfs_pin_operations_total"] if 'op="unpin"' in labels)

    before = unpins()
    s3c.delete_object(Bucket=cbucket, Key="a")
    s3c.delete_object(Bucket=cbucket, Key="b/c")
    # A barrier: a later pin of the same priority is claimed after anything the deletes queued.
    put(s3c, cbucket, "marker", os.urandom(1000), factor=1)
    wait_replicas(s3c, cbucket, "marker", 1)
    assert unpins() == before, "deleting keys that do not hold the last reference sent an unpin"
    assert cluster.pinned_peers(cid) == 2, cluster.pins(cid)
    assert s3c.get_object(Bucket=cbucket, Key="d")["Body"].read() == data

    s3c.delete_object(Bucket=cbucket, Key="d")

    def gone():
        status, doc = cluster.pins(cid)
        return status == 404 or cluster.pinned_peers(cid) == 0, (status, doc)

    wait_until(gone, PIN_DEADLINE_S, f"the cluster to unpin {cid}")
    wait_until(lambda: (unpins() == before + 1, unpins()), 10, "one unpin to be counted")


def test_a_killed_peer_shows_in_health_and_pin_status_and_recovers(s3c, cluster, cbucket):
    put(s3c, cbucket, "before", os.urandom(20_000), factor=3)
    cid = wait_replicas(s3c, cbucket, "before", 3)["x-ipfs-cid"]

    cluster.kill("cluster2")
    cluster.kill("kubo2")

    def peer2_down():
        r = cluster.health()
        p = peer_named(r, "-2")
        return r["status"] == "degraded" and p["status"] == "unhealthy" and r["cluster_peers_available"] == PEERS - 1, r

    report = wait_until(peer2_down, 30, "peer 2 to show as unhealthy in /health")
    assert "unreachable" in peer_named(report, "-2")["reason"], report
    assert report["cluster"]["status"] == "degraded", report
    wait_until(lambda: (cluster.metrics()["ipfs_cluster_nodes_available"] == [("", 2.0)], None), 30,
               "ipfs_cluster_nodes_available to drop to 2")
    # The pin status follows the cluster's peer map: two peers still hold it.
    wait_replicas(s3c, cbucket, "before", 2, deadline=30)

    # A factor-3 PUT while a peer is down is accepted (the peer exists) but cannot complete: the
    # cluster refuses the allocation or the pin times out, and the pin status says which.
    put(s3c, cbucket, "during", os.urandom(20_000), factor=3)
    during = head(s3c, cbucket, "during")
    assert during["x-ipfs-pin-status"] == "pending", during

    def failing():
        h = head(s3c, cbucket, "during")
        return h.get("x-ipfs-pin-error") in ("PinTimeout", "InsufficientReplicas") and h.get("x-ipfs-replication-count") != "3", h

    wait_until(failing, 45, "the pin of `during` to report why it cannot complete")

    cluster.up()
    wait_until(lambda: (cluster.health()["status"] == "healthy", cluster.health()), 60, "/health to be healthy again")
    wait_replicas(s3c, cbucket, "before", 3, deadline=60)
    # Retried from the queue until the peer was back.
    done = wait_replicas(s3c, cbucket, "during", 3)
    wait_until(lambda: ("x-ipfs-pin-error" not in head(s3c, cbucket, "during"), head(s3c, cbucket, "during")), 30,
               "the pin error to clear once the pin succeeded")
    assert done["x-ipfs-cid"].startswith("baf")

    # An IPFS node alone going down is named as such.
    cluster.kill("kubo1")

    def kubo1_down():
        r = cluster.health()
        p = peer_named(r, "-1")
        return p["status"] == "unhealthy" and "IPFS node" in p["reason"], r

    wait_until(kubo1_down, 30, "peer 1's dead Kubo to show in /health")
    cluster.up()
    wait_until(lambda: (cluster.health()["status"] == "healthy", cluster.health()), 60, "/health to be healthy again")


def test_pins_queued_when_the_host_and_redis_are_killed_complete_after_restart(s3c, cluster, cbucket):
    # With peer 0's cluster service down, pins cannot go anywhere: they stay queued (retrying).
    cluster.kill("cluster")
    stalled = {f"stalled-{i}": os.urandom(3000) for i in range(20)}
    for key, body in stalled.items():
        put(s3c, cbucket, key, body, factor=1)

    def queued():
        depth = sum(v for _, v in cluster.metrics()["ipfs_pin_queue_depth"])
        return depth >= 1, depth

    wait_until(queued, 30, "pins to wait in the queue")
    assert all(head(s3c, cbucket, k)["x-ipfs-pin-status"] == "pending" for k in stalled)
    cluster.kill("host")
    cluster.kill("redis")
    cluster.up()

    # And a burst the host is killed in the middle of.
    burst = {f"burst-{i}": os.urandom(3000) for i in range(20)}
    for key, body in burst.items():
        put(s3c, cbucket, key, body, factor=1, priority="low")
    cluster.kill("host")
    cluster.up()

    for key, body in {**stalled, **burst}.items():
        cid = wait_replicas(s3c, cbucket, key, 1)["x-ipfs-cid"]
        assert cluster.pinned_peers(cid) == 1, (key, cluster.pins(cid))
        assert s3c.get_object(Bucket=cbucket, Key=key)["Body"].read() == body


def test_peers_that_disagree_about_the_peer_set_are_a_split_and_waiting_puts_refuse(s3c, cluster, cbucket):
    # Peer 2 restarted to count the peer set by a metric no peer sends: it sees itself alone,
    # while peers 0 and 1, which still hear its pings, see all three. Each answers; they disagree.
    cluster.kill("cluster2")
    started = stack_cmd("start cluster2", {**cluster_env(), "CLUSTER_CRDT_PEERSETMETRIC": "no-such-metric"})
    assert started.returncode == 0, started.stdout + started.stderr

    def split():
        r = cluster.health()
        return "cluster_split" in r and cluster.metrics()["ipfs_cluster_split"] == [("", 1.0)], r

    report = wait_until(split, 60, "the host to see the cluster split")
    assert report["cluster"]["status"] == "degraded", report

    # A PUT that waits for its pin is refused at once, nothing written; one that does not wait is
    # accepted and its pin waits in the queue, saying why.
    waiting = {"X-IPFS-Pin-Wait": "true", "X-IPFS-Replication-Factor": "1"}

    def add(request, **_):
        for name, value in waiting.items():
            request.headers[name] = value

    s3c.meta.events.register_first("before-sign.s3.PutObject", add)
    try:
        assert_s3_error(lambda: s3c.put_object(Bucket=cbucket, Key="waited", Body=b"x"), "ServiceUnavailable", 503,
                        ipfs_code="ClusterSplit")
    finally:
        s3c.meta.events.unregister("before-sign.s3.PutObject", add)
    assert "waited" not in {o["Key"] for o in s3c.list_objects_v2(Bucket=cbucket).get("Contents", [])}
    put(s3c, cbucket, "queued", os.urandom(5000), factor=1)
    wait_until(lambda: (head(s3c, cbucket, "queued").get("x-ipfs-pin-error") == "ClusterSplit", head(s3c, cbucket, "queued")),
               30, "the queued pin to report the split")

    # Peer 2 back as configured: the split ends and the pin goes through.
    cluster.kill("cluster2")
    cluster.up()
    wait_until(lambda: ("cluster_split" not in cluster.health(), cluster.health()), 60, "the split to end")
    wait_replicas(s3c, cbucket, "queued", 1)
