"""What keeps the stack's secrets and services to itself, and what a public endpoint must withstand:
Envoy's admin interface only on a private Unix socket, no secret on any process's command line or
in the logs, Redis / Kubo RPC / the cluster API refusing requests without the stack's credentials,
client-sent x-envoy-* control headers without effect, Envoy's limits answered with S3 XML, a host
outage answered with a retryable S3 503, and a 1 GiB upload streaming through all of it."""

import hashlib
import json
import os
import socket
import stat
import subprocess
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from http.client import HTTPConnection
from pathlib import Path

import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from chunked import _FixedPayloadAuth
from conftest import PROFILE, REPO, component_pid as recorded_pid, stack_cmd_ok, stack_state
from s3http import basic_auth, object_url, send, sign, strip_ns, xml_error_code
from test_caches import wait_healthy
from test_ipfs import http

RUN = REPO / ".run" / PROFILE
DEV_SECRET_KEY = "ipfs-s3-secret"  # the development default, shared by every stack that keeps it
COMPONENTS = ("redis", "kubo", "relay", "cluster", "host", "envoy")


def auth_password(secret: str) -> str:
    """The password of a `basic:USER:PASSWORD` secret."""
    return secret.split(":", 2)[2]


def stack_secrets(stack) -> dict:
    """Every secret of the stack that exists only in this stack (name -> value), with the
    Authorization header values that carry the Kubo and cluster passwords."""
    out = {"internal token": stack.env["IPFS_S3_INTERNAL_TOKEN"], "redis password": stack.redis_password}
    for name, var in (("kubo host", "IPFS_S3_KUBO_API_AUTH"), ("kubo admin", "IPFS_S3_KUBO_ADMIN_AUTH"),
                      ("cluster", "IPFS_S3_CLUSTER_API_AUTH")):
        out[f"{name} password"] = auth_password(stack.env[var])
        out[f"{name} header"] = basic_auth(stack.env[var])["Authorization"].split(" ", 1)[1]
    assert all(len(v) >= 16 for v in out.values()), "a generated credential is shorter than expected"
    if stack.secret_key != DEV_SECRET_KEY:
        out["secret key"] = stack.secret_key
    return out


def component_pid(name: str) -> int:
    pid = recorded_pid(RUN, name)
    assert pid, f"{name} does not run"
    return pid


def cmdlines():
    """(pid, command line bytes) of every process that can be read now."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    yield int(entry.name), f.read()
            except OSError:
                continue  # gone meanwhile


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def of_this_stack(pid: int, cmd: bytes) -> bool:
    """A process of this stack: one of its daemons (their command lines name the run dir), or
    anything the suite started (scripts/stack.sh, the stack tool and the commands it runs)."""
    if str(RUN).encode() in cmd:
        return True
    me = os.getpid()
    for _ in range(64):
        pid = parent_of(pid)
        if pid == me:
            return True
        if pid <= 1:
            return False
    return False


def leaks_in_cmdlines(secrets: dict, shared: dict | None = None) -> list:
    """(pid, secret name, command line) of every process whose command line holds one of
    `secrets`, or one of `shared` (secrets other stacks may have too) in a process of this stack."""
    found = []
    for pid, cmd in cmdlines():
        found += [(pid, name, cmd[:120]) for name, value in secrets.items() if value.encode() in cmd]
        if shared and any(value.encode() in cmd for value in shared.values()) and of_this_stack(pid, cmd):
            found += [(pid, name, cmd[:120]) for name, value in shared.items() if value.encode() in cmd]
    return found


def shared_secrets(stack) -> dict:
    """The S3 secret key when it is the development default (then checked in this stack only)."""
    return {"secret key": stack.secret_key} if stack.secret_key == DEV_SECRET_KEY else {}


def listening_tcp_ports(pid: int) -> set:
    """The TCP ports process `pid` listens on (its socket inodes matched in /proc/net/tcp*)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def signed(stack, method, url, body=b"", unsigned_headers=None, timeout=60):
    """A SigV4-signed request; `unsigned_headers` are added after signing (as a client or proxy
    could: SigV4 covers only the headers it lists)."""
    headers = sign(method, url, stack.access_key, stack.secret_key, stack.region, body=body)
    headers.update(unsigned_headers or {})
    return send(method, url, headers, body, timeout=timeout)


def envoy_counter(stack, name: str) -> int:
    status, body = stack.envoy_admin(f"/stats?filter=^{name}$")
    assert status == 200, (status, body[:300])
    values = [int(line.rsplit(":", 1)[1]) for line in body.decode().splitlines() if line.startswith(name + ":")]
    assert len(values) == 1, body[:500]
    return values[0]


def assert_s3_xml_error(resp, status, code):
    assert resp.status == status, str(resp)
    assert resp.header("content-type") == "application/xml", str(resp)
    assert resp.error_code == code, str(resp)


# --- Envoy's admin interface ----------------------------------------------------------------


def test_envoy_admin_is_a_private_unix_socket(stack):
    path = Path(stack.envoy_admin_socket)
    st = path.stat()
    assert stat.S_ISSOCK(st.st_mode), path
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid(), oct(st.st_mode)
    parent = path.parent.stat()
    assert stat.S_IMODE(parent.st_mode) == 0o700 and parent.st_uid == os.getuid(), oct(parent.st_mode)
    assert path.parent.resolve().is_relative_to(RUN.resolve()), path
    assert stack.envoy_admin("/ready") == (200, b"LIVE\n")
    # Envoy listens on the S3 port and on nothing else over TCP.
    assert listening_tcp_ports(component_pid("envoy")) == {stack.port("ENVOY")}
    assert "IPFS_S3_ENVOY_ADMIN_PORT" not in stack.env and "IPFS_S3_ENVOY_ADMIN_URL" not in stack.env


def test_config_dump_and_quit_are_not_reachable_over_tcp(stack):
    secrets = {"secret key": stack.secret_key, "internal token": stack.env["IPFS_S3_INTERNAL_TOKEN"]}
    for method, target in (("GET", "/config_dump"), ("GET", "/config_dump?include_eds"), ("POST", "/quitquitquit"),
                           ("GET", "/stats")):
        resp = send(method, f"{stack.endpoint}{target}")
        # The S3 listener treats these as S3 requests (unsigned: refused), never as admin calls.
        assert resp.status >= 400 and resp.error_code, (target, str(resp))
        for name, value in secrets.items():
            assert value.encode() not in resp.body, (target, name)
    assert stack.envoy_admin("/ready") == (200, b"LIVE\n"), "Envoy stopped"
    # The admin socket does hold them: it is the owner's alone (previous test).
    status, dump = stack.envoy_admin("/config_dump")
    assert status == 200 and stack.env["IPFS_S3_INTERNAL_TOKEN"].encode() in dump


# --- Secrets: command lines and logs --------------------------------------------------------


def test_no_process_has_a_stack_secret_on_its_command_line(stack):
    # This stack's own credentials exist nowhere else: every process on the machine is checked.
    # The S3 secret key may be the development default other stacks share: checked in this
    # stack's processes (all of which run, and are recognised as its own).
    pids = {c["name"]: c["pid"] for c in stack_state(RUN)["components"]}
    for name in COMPONENTS:
        if pids.get(name):
            pid = pids[name]
            assert of_this_stack(pid, Path(f"/proc/{pid}/cmdline").read_bytes()), name
    assert leaks_in_cmdlines(stack_secrets(stack), shared_secrets(stack)) == []


def test_restarts_put_no_secret_on_any_command_line_even_briefly(stack):
    """Restarting the host and Envoy renders their configuration and starts them; every process
    seen meanwhile (sampled continuously) is checked."""
    secrets, shared = stack_secrets(stack), shared_secrets(stack)
    seen, done = [], threading.Event()

    def watch():
        while not done.is_set():
            seen.extend(leaks_in_cmdlines(secrets, shared))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        stack_cmd_ok("stop envoy")
        stack_cmd_ok("stop host")
        stack_cmd_ok("up")
    finally:
        done.set()
        watcher.join(timeout=30)
    wait_healthy(stack)
    assert seen == []


def test_logs_hold_no_secret(stack):
    secrets = {**stack_secrets(stack), "secret key": stack.secret_key}
    logs = sorted((RUN / "logs").glob("*.log"))
    assert RUN / "logs" / "host.log" in logs and RUN / "logs" / "envoy.log" in logs, logs
    for log in logs:
        text = log.read_bytes()
        for name, value in secrets.items():
            assert value.encode() not in text, f"{name} in {log.name}"
    # The host logs where its Redis is, without a password in it.
    if stack.env.get("IPFS_S3_METADATA_STORE", "redis") == "redis":
        assert b"metadata store: redis" in (RUN / "logs" / "host.log").read_bytes()


def test_check_config_masks_every_secret(stack):
    secrets = {"secret key": "s3-secret-for-check-config", **stack_secrets(stack),
               "url password": "password-in-the-redis-url"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPFS_S3_")}
    env.update(
        IPFS_S3_SECRET_KEY=secrets["secret key"],
        IPFS_S3_INTERNAL_TOKEN=secrets["internal token"],
        IPFS_S3_REDIS_URL=f"redis://:{secrets['url password']}@127.0.0.1:{stack.port('REDIS')}/",
        IPFS_S3_REDIS_PASSWORD_FILE=str(RUN / "secrets" / "redis-password"),
        IPFS_S3_KUBO_API_AUTH_FILE=str(RUN / "secrets" / "kubo-api-auth"),
        IPFS_S3_CLUSTER_API_AUTH=stack.env["IPFS_S3_CLUSTER_API_AUTH"],
    )
    done = subprocess.run([str(RUN / "bin" / "ipfs-s3"), "check-config"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "redis_password_file" in done.stdout and "***" in done.stdout, done.stdout
    for name, value in secrets.items():
        assert value not in done.stdout + done.stderr, name


# --- Redis, Kubo RPC, the cluster API: credentials required ---------------------------------


def redis_exchange(port: int, *commands: bytes) -> list:
    """Sends inline commands on one connection; returns the first line of each reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        f = sock.makefile("rb")
        replies = []
        for cmd in commands:
            sock.sendall(cmd + b"\r\n")
            replies.append(f.readline().rstrip(b"\r\n"))
        return replies


def test_redis_refuses_commands_without_the_password(stack):
    if stack.env.get("IPFS_S3_METADATA_STORE", "redis") != "redis":
        assert refused(stack.port("REDIS")), "no Redis runs with the embedded store"
        return
    noauth, keys = redis_exchange(stack.port("REDIS"), b"PING", b"KEYS *")
    assert noauth.startswith(b"-NOAUTH") and keys.startswith(b"-NOAUTH"), (noauth, keys)
    wrong, after = redis_exchange(stack.port("REDIS"), b"AUTH not-the-password", b"PING")
    assert wrong.startswith(b"-WRONGPASS") and after.startswith(b"-NOAUTH"), (wrong, after)
    ok, pong = redis_exchange(stack.port("REDIS"), b"AUTH " + stack.redis_password.encode(), b"PING")
    assert (ok, pong) == (b"+OK", b"+PONG")


def test_kubo_rpc_refuses_requests_without_credentials(stack):
    url = f"{stack.kubo_api_url}/api/v0/id"
    assert http(url, method="POST")[0] == 403
    assert http(url, method="POST", headers=basic_auth("basic:admin:guess"))[0] == 403
    assert http(f"{stack.kubo_api_url}/api/v0/version", method="POST")[0] == 403
    status, body = http(url, method="POST", headers=stack.kubo_auth)
    assert status == 200 and b'"ID"' in body, (status, body[:300])
    # The host's own credentials reach only the calls it makes: not Kubo's config or keys.
    host = basic_auth(stack.env["IPFS_S3_KUBO_API_AUTH"])
    assert http(f"{stack.kubo_api_url}/api/v0/version", method="POST", headers=host)[0] == 200
    for path in ("config/show", "key/list", "pin/ls", "id"):
        assert http(f"{stack.kubo_api_url}/api/v0/{path}", method="POST", headers=host)[0] == 403, path


def test_cluster_api_refuses_requests_without_basic_auth(stack):
    for path in ("/id", "/peers", "/pins"):
        assert http(f"{stack.cluster_api_url}{path}")[0] == 401, path
        assert http(f"{stack.cluster_api_url}{path}", headers=basic_auth("basic:ipfs-s3:guess"))[0] == 401, path
    status, body = http(f"{stack.cluster_api_url}/id", headers=stack.cluster_auth)
    assert status == 200 and b'"id"' in body, (status, body[:300])
    # The cluster's IPFS proxy (a way into Kubo's RPC) and pinning-service API are not started.
    assert listening_tcp_ports(component_pid("cluster")) == {stack.port("CLUSTER_API"), stack.port("CLUSTER_SWARM")}


def test_the_cluster_reaches_kubo_only_through_private_sockets(stack):
    relay = RUN / "sockets" / "kubo-rpc-0.sock"
    assert stat.S_IMODE(relay.stat().st_mode) == 0o600 and stat.S_ISSOCK(relay.stat().st_mode)
    assert listening_tcp_ports(component_pid("relay")) == set()
    # The peer is connected to its Kubo through it.
    status, body = http(f"{stack.cluster_api_url}/id", headers=stack.cluster_auth)
    assert status == 200, (status, body[:500])
    ipfs = json.loads(body)["ipfs"]
    assert ipfs.get("id") and not ipfs.get("error"), ipfs
    cfg = json.loads((RUN / "cluster" / "service.json").read_text())
    assert cfg["ipfs_connector"]["ipfshttp"]["node_multiaddress"] == f"/unix{relay}"
    assert "ipfsproxy" not in cfg["api"] and "pinsvcapi" not in cfg["api"], sorted(cfg["api"])


# --- Envoy: client control headers, limits, local replies -----------------------------------


def test_client_cannot_shorten_envoys_timeouts(stack, bucket):
    url = object_url(stack.endpoint, bucket, "timeout")
    body = os.urandom(300_000)
    resp = signed(stack, "PUT", url, body, {"x-envoy-upstream-rq-timeout-ms": "1",
                                           "x-envoy-upstream-rq-per-try-timeout-ms": "1",
                                           "x-envoy-expected-rq-timeout-ms": "1"})
    assert resp.status == 200, str(resp)
    got = signed(stack, "GET", url)
    assert got.status == 200 and got.body == body, str(got)[:500]


def test_client_cannot_make_envoy_retry(stack, bucket):
    """A 404 from the host is retried three times if Envoy honours these headers; it does not."""
    retries0 = envoy_counter(stack, "cluster.host_s3.upstream_rq_retry")
    total0 = envoy_counter(stack, "cluster.host_s3.upstream_rq_total")
    resp = signed(stack, "GET", f"{stack.endpoint}/{bucket}-missing", unsigned_headers={
        "x-envoy-retry-on": "retriable-status-codes,5xx,reset,connect-failure",
        "x-envoy-retriable-status-codes": "404",
        "x-envoy-max-retries": "3",
    })
    assert (resp.status, resp.error_code) == (404, "NoSuchBucket"), str(resp)
    assert envoy_counter(stack, "cluster.host_s3.upstream_rq_retry") == retries0
    assert envoy_counter(stack, "cluster.host_s3.upstream_rq_total") == total0 + 1


@pytest.mark.parametrize("headers", [{"x-big": "a" * 20_000}, {f"x-h{i}": "v" for i in range(150)}],
                         ids=["20 KiB header", "150 headers"])
def test_oversized_headers_get_an_s3_400(stack, bucket, headers):
    resp = send("GET", object_url(stack.endpoint, bucket, "k"), headers)
    assert_s3_xml_error(resp, 400, "RequestHeaderSectionTooLarge")


def test_large_but_legal_headers_pass(s3, bucket):
    """What S3 allows fits: a 1024-byte key copied to a 1024-byte key with 2 KiB of metadata."""
    key = "k" * 1024
    metadata = {f"m{i}": "v" * 90 for i in range(20)}
    s3.put_object(Bucket=bucket, Key=key, Body=b"x", Metadata=metadata)
    s3.copy_object(Bucket=bucket, Key=key[:-1] + "c", CopySource={"Bucket": bucket, "Key": key},
                   MetadataDirective="REPLACE", Metadata=metadata)
    assert s3.head_object(Bucket=bucket, Key=key[:-1] + "c")["Metadata"] == metadata


def test_requests_that_are_not_http_get_s3_xml(stack):
    host, port = urllib.parse.urlsplit(stack.endpoint).netloc.split(":")
    for head, status, code in ((b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "InvalidRequest"),
                               (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n", 400, "InvalidRequest"),
                               (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "NotImplemented")):
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(head)
            data = b""
            while b"</Error>" not in data and (chunk := sock.recv(65536)):
                data += chunk
        head_part, _, body = data.partition(b"\r\n\r\n")
        assert head_part.startswith(f"HTTP/1.1 {status}".encode()), data[:300]
        assert b"content-type: application/xml" in head_part.lower(), data[:300]
        assert xml_error_code(body) == code, data[:500]


def test_host_outage_is_a_retryable_s3_503(stack, bucket):
    put_url = object_url(stack.endpoint, bucket, "during-outage")
    list_url = f"{stack.endpoint}/{bucket}?list-type=2"
    stack_cmd_ok("stop host")
    try:
        for method, url, body in (("PUT", put_url, b"written while the host is down"), ("GET", list_url, b"")):
            resp = signed(stack, method, url, body)
            assert_s3_xml_error(resp, 503, "ServiceUnavailable")
            assert (resp.header("retry-after") or "").isdigit(), str(resp)
            # The request id in the body is the one in the header, as on S3.
            fields = {strip_ns(e.tag): e.text for e in ET.fromstring(resp.body)}
            assert fields["RequestId"] and fields["RequestId"] == resp.header("x-amz-request-id"), str(resp)
    finally:
        stack_cmd_ok("up")
    wait_healthy(stack)
    resp = signed(stack, "PUT", put_url, b"written after the host is back")
    assert resp.status == 200, str(resp)
    resp = signed(stack, "GET", list_url)
    assert resp.status == 200 and b"<Key>during-outage</Key>" in resp.body, str(resp)


# --- Big transfers are still streamed -------------------------------------------------------


def test_a_1_gib_put_and_get_stream_through_envoy(stack, bucket):
    """One PUT of 1 GiB (not multipart), streamed with an unsigned payload, and its GET: the
    limits above (header timeout, overload heap, requests per connection) leave them alone."""
    size, block = 1 << 30, os.urandom(1 << 20)
    url = object_url(stack.endpoint, bucket, "one-gib")
    req = AWSRequest(method="PUT", url=url, headers={"Content-Length": str(size)}, data=b"")
    _FixedPayloadAuth(Credentials(stack.access_key, stack.secret_key), stack.region, "UNSIGNED-PAYLOAD").add_auth(req)
    headers = dict(req.headers.items())
    parts = urllib.parse.urlsplit(url)
    md5 = hashlib.md5()
    conn = HTTPConnection(parts.hostname, parts.port, timeout=300)
    try:
        conn.putrequest("PUT", parts.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", parts.netloc)
        for k, v in headers.items():
            if k.lower() != "host":
                conn.putheader(k, v)
        conn.endheaders()
        for _ in range(size // len(block)):
            conn.send(block)
            md5.update(block)
        resp = conn.getresponse()
        answer = resp.read()
        assert resp.status == 200, (resp.status, answer[:500])
        assert resp.getheader("etag") == f'"{md5.hexdigest()}"'
    finally:
        conn.close()

    headers = sign("GET", url, stack.access_key, stack.secret_key, stack.region)
    conn = HTTPConnection(parts.hostname, parts.port, timeout=300)
    try:
        conn.request("GET", parts.path, headers=headers)
        resp = conn.getresponse()
        assert resp.status == 200 and int(resp.getheader("content-length")) == size
        got, n = hashlib.md5(), 0
        while chunk := resp.read(1 << 20):
            got.update(chunk)
            n += len(chunk)
        assert (n, got.hexdigest()) == (size, md5.hexdigest())
    finally:
        conn.close()
