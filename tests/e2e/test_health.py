"""`/health`: its JSON shape and its status rules, with real components stopped and restarted
(the IPFS node's outage is exercised in test_caches.py, together with the object cache)."""

import json
import urllib.error
import urllib.request

from conftest import stack_cmd_ok
from s3http import wait_until

COMPONENTS = ("metadata", "ipfs", "gateway", "cluster")
STATUSES = {"healthy", "degraded", "unhealthy"}


def health(stack):
    try:
        with urllib.request.urlopen(f"{stack.admin_url}/health", timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def assert_shape(doc):
    assert doc["status"] in STATUSES and isinstance(doc["message"], str) and doc["message"], doc
    assert doc["metadata_store"] in ("redis", "embedded"), doc
    for name in COMPONENTS:
        component = doc[name]
        assert component["status"] in STATUSES and isinstance(component["message"], str), (name, doc)
    assert isinstance(doc["cluster_peers_total"], int) and isinstance(doc["cluster_peers_available"], int), doc
    for peer in doc["peers"]:
        assert peer["status"] in STATUSES and isinstance(peer["reason"], str) and peer["id"], doc


def test_shape_when_everything_answers(stack):
    status, doc = health(stack)
    assert status == 200, doc
    assert_shape(doc)
    assert doc["status"] == "healthy" and doc["message"] == "all components answer", doc
    assert all(doc[name]["status"] == "healthy" for name in COMPONENTS), doc
    assert doc["cluster_peers_available"] == doc["cluster_peers_total"] == len(doc["peers"]) >= 1, doc
    assert all(peer["status"] == "healthy" and peer["reason"] == "" for peer in doc["peers"]), doc


def test_cluster_down_is_degraded_not_unhealthy(stack):
    stack_cmd_ok("stop cluster")
    try:
        status, doc = health(stack)
        assert_shape(doc)
        # Writes still work (pins wait in the queue): 200, degraded, and the reason names the cluster.
        assert status == 200 and doc["status"] == "degraded", (status, doc)
        assert doc["cluster"]["status"] == "degraded", doc
        assert all(doc[name]["status"] == "healthy" for name in ("metadata", "ipfs", "gateway")), doc
        assert doc["message"].startswith("cluster: "), doc
        assert doc["cluster_peers_available"] == 0, doc
    finally:
        stack_cmd_ok("up")

    def healthy_again():
        status, doc = health(stack)
        return status == 200 and doc["status"] == "healthy", doc

    wait_until(healthy_again, 90, "the stack to report healthy again", interval=0.5)
