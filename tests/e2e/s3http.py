"""Raw HTTP for the end-to-end tests: the requests an SDK would never send (unsigned, badly signed,
tampered, carrying internal headers), SigV4 signing with botocore's own signer, the S3 XML error
body, HTTP over a Unix socket (Envoy's admin interface), the stack's service credentials as
headers, and polling with a deadline."""

import datetime
import hashlib
import base64
import http.client
import socket
import time
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from unittest import mock

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str):
        return self.headers.get(name)

    @property
    def error_code(self):
        return xml_error_code(self.body)

    def __str__(self):
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"HTTP {self.status}\n{head}\n\n{self.body[:3000].decode('utf-8', 'replace')}"


def xml_error_code(body: bytes):
    """The `<Code>` of an S3 XML error document, or None when the body is not one."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    if strip_ns(root.tag) != "Error":
        return None
    for child in root:
        if strip_ns(child.tag) == "Code":
            return child.text
    return None


def strip_ns(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def send(method: str, url: str, headers=None, body: bytes = b"", timeout: float = 60.0) -> Response:
    """Sends exactly the given request line and headers (plus Host and Content-Length)."""
    parts = urllib.parse.urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    merged = {"host": ("Host", parts.netloc)}
    for k, v in (headers or {}).items():
        merged[k.lower()] = (k, v)
    if body or method in ("PUT", "POST"):
        merged.setdefault("content-length", ("Content-Length", str(len(body))))
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for k, v in merged.values():
            conn.putheader(k, v)
        conn.endheaders(body or None)
        resp = conn.getresponse()
        return Response(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (Envoy's admin interface is one)."""

    def __init__(self, path: str, timeout: float = 10.0):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def unix_get(socket_path: str, target: str, method: str = "GET", timeout: float = 10.0) -> tuple[int, bytes]:
    """(status, body) of one request to the HTTP server on a Unix socket."""
    conn = UnixHTTPConnection(socket_path, timeout)
    try:
        conn.request(method, target)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def basic_auth(auth_secret: str) -> dict:
    """The Authorization header of a `basic:USER:PASSWORD` secret (Kubo's AuthSecret form, which
    the stack also uses for the cluster API)."""
    kind, _, user_password = auth_secret.partition(":")
    assert kind == "basic" and ":" in user_password, "expected basic:USER:PASSWORD"
    return {"Authorization": "Basic " + base64.b64encode(user_password.encode()).decode()}


def sign(method: str, url: str, access_key: str, secret_key: str, region: str,
         headers=None, body: bytes = b"", at: datetime.datetime | None = None) -> dict:
    """Headers of `method url` signed with SigV4 (header auth, signed payload) by botocore.

    `at` signs as if the clock said so (for skew tests)."""
    req = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=body)
    signer = S3SigV4Auth(Credentials(access_key, secret_key), "s3", region)
    if at is None:
        signer.add_auth(req)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=at):
            signer.add_auth(req)
    return dict(req.headers.items())


def object_url(endpoint: str, bucket: str, key: str = "") -> str:
    """Path-style URL of a bucket or object, the key percent-encoded the way SDKs do."""
    url = f"{endpoint}/{bucket}"
    if key:
        url += "/" + urllib.parse.quote(key, safe="/~")
    return url


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def quoted_md5(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def wait_until(probe, timeout: float, what: str, interval: float = 0.25):
    """Calls `probe()` until it returns a truthy value and returns that value; fails with the last
    value seen when `timeout` seconds pass first. `probe` may raise AssertionError to stop early."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        ok, last = probe()
        if ok:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last}")
        time.sleep(interval)


def s3_error(call):
    """Runs a boto3 call that must fail and returns its error response."""
    from botocore.exceptions import ClientError

    try:
        result = call()
    except ClientError as e:
        return e.response
    if isinstance(result, dict) and "Body" in result:
        result = dict(result, Body=result["Body"].read()[:200])
    raise AssertionError(f"expected an S3 error, the call succeeded: {result}")


def assert_s3_error(call, code, status, ipfs_code=None):
    """The boto3 call fails with this S3 error code and HTTP status (code None: status only,
    for HEAD, whose error has no body). With ipfs_code, the answer also names that IPFS
    condition in its X-IPFS-Error-Code header (the gateway's compatibility mode reports IPFS
    conditions with the S3 code SDKs handle and the IPFS code beside it)."""
    err = s3_error(call)
    got = (err.get("Error", {}).get("Code"), err["ResponseMetadata"]["HTTPStatusCode"])
    if code is None:
        assert got[1] == status, f"expected HTTP {status}, got {got}: {err}"
    else:
        assert got == (code, status), f"expected {code} {status}, got {got}: {err}"
    if ipfs_code is not None:
        header = err["ResponseMetadata"]["HTTPHeaders"].get("x-ipfs-error-code")
        assert header == ipfs_code, f"expected X-IPFS-Error-Code {ipfs_code}, got {header}: {err}"
    return err
