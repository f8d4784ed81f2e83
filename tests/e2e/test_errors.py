"""The design's IPFS error surface on the real stack: each IPFS code caused where it applies, the
error document in both forms (S3 XML, and the design's JSON for `Accept: application/json`) from
both paths (the filter, answering a read it streams from the IPFS gateway; the host), and both
settings of `compatibility_mode` and `legacy_headers`.

Content no node provides is made for real: objects are written and pinned, then the cluster
unpins them and their root blocks are removed from Kubo, so their records remain and their
content is nowhere (`CIDNotFound` once the read deadline, `IPFS_S3_RETRIEVAL_TIMEOUT_SECS`,
passes). The other settings of the modes are had by starting the host and Envoy again with
`IPFS_S3_COMPATIBILITY_MODE=false IPFS_S3_LEGACY_HEADERS=false`; the defaults are restored after.
"""

import base64
import hashlib
import json
import os
import xml.etree.ElementTree as ET

import pytest

from conftest import E2E_STACK_DEFAULTS, PROFILE, REPO, create_bucket, empty_and_delete_bucket, stack_cmd, stack_cmd_ok
from s3http import object_url, send, sign, strip_ns, wait_until
from test_caches import wait_healthy, wait_pinned
from test_ipfs import http

BIG = 300 * 1024  # read by the filter from the IPFS gateway
SMALL = 1000  # read by the filter from the host's object cache
LOGS = REPO / ".run" / PROFILE / "logs"
PLAIN_MODE = {"IPFS_S3_COMPATIBILITY_MODE": "false", "IPFS_S3_LEGACY_HEADERS": "false"}


def signed(stack, method, bucket, key="", headers=None, body=b"", json_form=False, query=""):
    """A request signed as an SDK signs it, sent as is; `json_form` asks for the JSON error form."""
    url = object_url(stack.endpoint, bucket, key) + (f"?{query}" if query else "")
    extra = dict(headers or {})
    if json_form:
        extra["Accept"] = "application/json"
    return send(method, url, sign(method, url, stack.access_key, stack.secret_key, stack.region, extra, body), body)


def error_of(resp, json_form):
    """The error document's fields as a dict (the XML elements, or the JSON `error` object)."""
    if json_form:
        assert resp.header("content-type").startswith("application/json"), str(resp)
        return json.loads(resp.body)["error"]
    assert resp.header("content-type").startswith("application/xml"), str(resp)
    root = ET.fromstring(resp.body)
    assert strip_ns(root.tag) == "Error", str(resp)
    return {strip_ns(e.tag): e.text for e in root}


def check_error(resp, json_form, *, status, code, ipfs_code=None, cid=None, key=None, legacy=True):
    """The answer is this error, in the form asked, with what the document and headers must carry
    (the JSON form names the object `bucket/key`, as the design's example does)."""
    assert resp.status == status, str(resp)
    doc = error_of(resp, json_form)
    code_field = "code" if json_form else "Code"
    assert doc[code_field] == code, doc
    assert resp.header("x-ipfs-error-code") == ipfs_code, str(resp)
    if ipfs_code and ipfs_code != code:
        # Compatibility mode: the IPFS code rides along in the document too.
        assert doc["ipfs_code" if json_form else "IPFSErrorCode"] == ipfs_code, doc
    if cid:
        assert doc["cid" if json_form else "CID"] == cid, doc
    if key and json_form:
        assert doc["s3_key"].split("/", 1)[1] == key, doc
    elif key:
        assert doc["Key"] == key, doc
    request_id = doc["request_id" if json_form else "RequestId"]
    assert request_id, doc
    if status == 503:
        retry = resp.header("retry-after")
        assert retry and retry.isdigit(), str(resp)
        if json_form:
            assert doc["retry_after"] == int(retry), doc
        else:
            assert doc["RetryAfter"] == retry, doc
    if json_form:
        assert doc["message"] and doc["timestamp"].endswith("Z"), doc
    if legacy:
        assert resp.header("x-amz-request-id") == request_id, str(resp)
        assert resp.header("x-amz-id-2") == base64.b64encode(hashlib.sha256(request_id.encode()).digest()).decode(), str(resp)
    else:
        assert resp.header("x-amz-request-id") is None and resp.header("x-amz-id-2") is None, str(resp)
    return request_id


def kubo_post(stack, path):
    status, body = http(f"{stack.kubo_api_url}/api/v0/{path}", method="POST", headers=stack.kubo_auth, timeout=120)
    assert status == 200, (path, status, body[:500])
    return body


def make_unprovidable(s3, stack, bucket, key, data):
    """Writes `key`, waits for its pin, then removes its content from IPFS: unpinned by the cluster,
    its root block removed from Kubo (only that block, so no other test's content goes). Its record
    stays. Returns its CID."""
    put = s3.put_object(Bucket=bucket, Key=key, Body=data)
    cid = put["ResponseMetadata"]["HTTPHeaders"]["x-ipfs-cid"]
    wait_pinned(stack, put)
    status, body = http(f"{stack.cluster_api_url}/pins/{cid}", method="DELETE", headers=stack.cluster_auth)
    assert status in (200, 202), (status, body[:500])

    def unpinned():
        body = kubo_post(stack, "pin/ls?type=recursive")
        return cid not in body.decode(), body[:300]

    wait_until(unpinned, 60, f"{cid} to leave Kubo's pins")
    kubo_post(stack, f"block/rm?arg={cid}")
    # Kubo itself no longer has the root block, without asking the network.
    status, _ = http(f"{stack.kubo_api_url}/api/v0/block/stat?arg={cid}&offline=true", method="POST", headers=stack.kubo_auth)
    assert status != 200, f"{cid} still in Kubo's blockstore after block/rm"
    return cid


@pytest.fixture(scope="module")
def gone(s3, stack):
    """A bucket with two objects whose content no node provides: `big` (read from the IPFS gateway)
    and `small` (read through the host's object cache)."""
    name = f"e2e-errors-{os.urandom(4).hex()}"
    create_bucket(s3, stack, name)
    cids = {
        "big": make_unprovidable(s3, stack, name, "big", os.urandom(BIG)),
        "small": make_unprovidable(s3, stack, name, "small", os.urandom(SMALL)),
    }
    yield name, cids
    empty_and_delete_bucket(s3, name)


def restart_gateway(env_extra):
    """Starts the host and Envoy again with these settings over the suite's."""
    env = {**E2E_STACK_DEFAULTS, **os.environ, "IPFS_S3_PROFILE": PROFILE, **env_extra}
    for verb in ("stop envoy", "stop host", "start host", "start envoy"):
        done = stack_cmd(verb, env)
        assert done.returncode == 0, f"{verb}: {done.stdout[-2000:]}{done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def plain_mode(stack):
    """The gateway with compatibility_mode and legacy_headers off, for this module's tests."""
    restart_gateway(PLAIN_MODE)
    wait_healthy(stack)
    yield
    restart_gateway({})
    wait_healthy(stack)


# Who answers a read of content no node provides: the filter, streaming from the IPFS gateway
# (a large object) or reading through the host's object cache (a small one), and the host's own
# S3 listener (a GET by part number).
PATHS = {
    "filter-gateway": ("big", "", "envoy.log"),
    "filter-object-cache": ("small", "", "envoy.log"),
    "host": ("big", "partNumber=1", "host.log"),
}
FORMS = {"xml": False, "json": True}


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("path", list(PATHS))
def test_content_no_node_provides_is_service_unavailable_with_cid_not_found(stack, gone, path, form):
    bucket, cids = gone
    key, query, log = PATHS[path]
    resp = signed(stack, "GET", bucket, key, json_form=FORMS[form], query=query)
    request_id = check_error(resp, FORMS[form], status=503, code="ServiceUnavailable", ipfs_code="CIDNotFound", cid=cids[key], key=key)
    # The log of the part that answered names the request by the same id.
    assert request_id in (LOGS / log).read_text(errors="replace"), f"request id {request_id} not in {log}"


def test_every_answer_carries_s3_request_headers(s3, stack, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    for resp in (signed(stack, "GET", bucket, "k"), signed(stack, "PUT", bucket, "k2", body=b"x"), signed(stack, "GET", bucket)):
        assert resp.status == 200, str(resp)
        rid = resp.header("x-amz-request-id")
        assert rid and resp.header("x-amz-id-2") == base64.b64encode(hashlib.sha256(rid.encode()).digest()).decode(), str(resp)
    missing = signed(stack, "GET", bucket, "nope")
    check_error(missing, False, status=404, code="NoSuchKey", key="nope")


@pytest.mark.parametrize("form", list(FORMS))
def test_a_factor_beyond_the_cluster_is_invalid_argument_with_insufficient_replicas(stack, bucket, form):
    resp = signed(stack, "PUT", bucket, "k", {"x-ipfs-replication-factor": "2"}, b"x", json_form=FORMS[form])
    check_error(resp, FORMS[form], status=400, code="InvalidArgument", ipfs_code="InsufficientReplicas", key="k")


def test_a_pin_wait_past_its_deadline_is_slow_down_with_pin_timeout_and_the_object_stays(s3, stack, bucket):
    stack_cmd_ok("stop cluster")
    try:
        resp = signed(stack, "PUT", bucket, "waited", {"x-ipfs-pin-wait": "2"}, b"durable?")
        check_error(resp, False, status=503, code="SlowDown", ipfs_code="PinTimeout", key="waited")
        assert s3.get_object(Bucket=bucket, Key="waited")["Body"].read() == b"durable?", "the object is stored"
    finally:
        stack_cmd_ok("up")
        wait_healthy(stack)
    # With the cluster back, the same PUT answers once its pin is done.
    resp = signed(stack, "PUT", bucket, "waited", {"x-ipfs-pin-wait": "true"}, b"durable?")
    assert resp.status == 200, str(resp)
    assert (resp.header("x-ipfs-pin-status"), resp.header("x-ipfs-replication-count")) == ("pinned", "1"), str(resp)
    bad = signed(stack, "PUT", bucket, "other", {"x-ipfs-pin-wait": "soon"}, b"x")
    check_error(bad, False, status=400, code="InvalidArgument", key="other")
    assert "other" not in {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


# The same with both modes off: the IPFS codes themselves, at the design's statuses, and no
# S3 request headers.


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("path", list(PATHS))
def test_plain_mode_content_no_node_provides_is_cid_not_found(stack, gone, plain_mode, path, form):
    bucket, cids = gone
    key, query, _ = PATHS[path]
    resp = signed(stack, "GET", bucket, key, json_form=FORMS[form], query=query)
    check_error(resp, FORMS[form], status=404, code="CIDNotFound", ipfs_code="CIDNotFound", cid=cids[key], key=key, legacy=False)


@pytest.mark.parametrize("form", list(FORMS))
def test_plain_mode_insufficient_replicas(stack, bucket, plain_mode, form):
    resp = signed(stack, "PUT", bucket, "k", {"x-ipfs-replication-factor": "2"}, b"x", json_form=FORMS[form])
    check_error(resp, FORMS[form], status=400, code="InsufficientReplicas", ipfs_code="InsufficientReplicas", key="k", legacy=False)
    ok = signed(stack, "PUT", bucket, "k", body=b"x")
    assert ok.status == 200 and ok.header("x-amz-request-id") is None, str(ok)


def test_plain_mode_pin_timeout_and_node_unavailable(s3, stack, bucket, plain_mode):
    stack_cmd_ok("stop cluster")
    try:
        resp = signed(stack, "PUT", bucket, "waited", {"x-ipfs-pin-wait": "1"}, b"x", json_form=True)
        check_error(resp, True, status=504, code="PinTimeout", ipfs_code="PinTimeout", key="waited", legacy=False)
    finally:
        stack_cmd_ok("up")
    s3.put_object(Bucket=bucket, Key="cold", Body=os.urandom(SMALL))
    stack_cmd_ok("stop kubo")
    try:
        for json_form in (False, True):
            put = signed(stack, "PUT", bucket, "new", body=b"x", json_form=json_form)
            check_error(put, json_form, status=503, code="IPFSNodeUnavailable", ipfs_code="IPFSNodeUnavailable", key="new", legacy=False)
            get = signed(stack, "GET", bucket, "cold", json_form=json_form)
            check_error(get, json_form, status=503, code="IPFSNodeUnavailable", ipfs_code="IPFSNodeUnavailable", key="cold", legacy=False)
    finally:
        stack_cmd_ok("up")
        wait_healthy(stack)
