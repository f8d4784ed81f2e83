"""Authentication: SigV4 header auth and presigned URLs, on the filter's path (object GET/HEAD)
and the host's (list, PUT); internal headers and the internal API are out of clients' reach."""

import datetime
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from s3http import object_url, s3_error, send, sign, wait_until, xml_error_code

SECRET = b"top secret content"
UNKNOWN_ACCESS_KEY = "AKIAE2EUNKNOWNKEY000"

# name -> (method, key or query below the bucket (None: the service root), body). Object GET/HEAD
# are answered by the filter, the others by the host.
OPERATIONS = {
    "get-object": ("GET", "secret.txt", b""),
    "head-object": ("HEAD", "secret.txt", b""),
    "list-objects": ("GET", "?list-type=2", b""),
    "put-object": ("PUT", "uploaded.txt", b"should never be stored"),
    "list-buckets": ("GET", None, b""),
}


@pytest.fixture
def target(s3, bucket):
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=SECRET)
    s3.put_object(Bucket=bucket, Key="other.txt", Body=b"other content")
    return bucket


def op_url(stack, bucket, op):
    method, rest, body = OPERATIONS[op]
    if rest is None:
        return method, f"{stack.endpoint}/", body
    if rest.startswith("?"):
        return method, f"{stack.endpoint}/{bucket}{rest}", body
    return method, object_url(stack.endpoint, bucket, rest), body


def urlopen(url, method="GET", data=None):
    """Plain urllib: (status, body), without raising for 4xx/5xx."""
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_correctly_signed_raw_request_is_accepted(stack, target, op):
    # Proves the raw signer is right, so the rejections below are about the credentials.
    method, url, body = op_url(stack, target, op)
    resp = send(method, url, sign(method, url, stack.access_key, stack.secret_key, stack.region, body=body), body)
    assert resp.status == 200, str(resp)
    if op == "get-object":
        assert resp.body == SECRET


@pytest.mark.parametrize("op", list(OPERATIONS))
@pytest.mark.parametrize(
    "fault,code",
    [
        ("anonymous", "AccessDenied"),
        ("unknown-access-key", "InvalidAccessKeyId"),
        ("wrong-secret", "SignatureDoesNotMatch"),
    ],
)
def test_bad_credentials_are_rejected(s3, stack, target, op, fault, code):
    method, url, body = op_url(stack, target, op)
    if fault == "anonymous":
        headers = {}
    elif fault == "unknown-access-key":
        headers = sign(method, url, UNKNOWN_ACCESS_KEY, stack.secret_key, stack.region, body=body)
    else:
        headers = sign(method, url, stack.access_key, stack.secret_key + "x", stack.region, body=body)
    resp = send(method, url, headers, body)
    assert resp.status == 403, str(resp)
    assert SECRET not in resp.body, str(resp)
    if method != "HEAD":
        assert resp.error_code == code, str(resp)
    if op == "put-object":
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=target).get("Contents", [])]
        assert "uploaded.txt" not in keys, keys


@pytest.mark.parametrize("op", ["get-object", "list-objects"])
def test_request_signed_for_something_else_is_rejected(stack, target, op):
    method, url, body = op_url(stack, target, op)
    headers = sign(method, url, stack.access_key, stack.secret_key, stack.region)
    if op == "get-object":
        tampered = url.replace("/secret.txt", "/other.txt")
    else:
        tampered = url + "&prefix=o"
    resp = send(method, tampered, headers)
    assert (resp.status, resp.error_code) == (403, "SignatureDoesNotMatch"), str(resp)


@pytest.mark.parametrize("op", ["get-object", "list-objects"])
def test_request_signed_an_hour_ago_is_too_skewed(stack, target, op):
    method, url, body = op_url(stack, target, op)
    an_hour_ago = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(hours=1)
    headers = sign(method, url, stack.access_key, stack.secret_key, stack.region, at=an_hour_ago)
    resp = send(method, url, headers)
    assert (resp.status, resp.error_code) == (403, "RequestTimeTooSkewed"), str(resp)


def test_presigned_get_works_with_plain_urllib(s3, target):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": target, "Key": "secret.txt"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in url, url
    status, body = urlopen(url)
    assert (status, body) == (200, SECRET), (status, body[:500])


def test_presigned_get_with_tampered_signature_is_rejected(s3, target):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": target, "Key": "secret.txt"}, ExpiresIn=300)

    def flip(m):
        sig = m.group(1)
        return "X-Amz-Signature=" + sig[:-1] + ("0" if sig[-1] != "0" else "1")

    tampered = re.sub(r"X-Amz-Signature=([0-9a-f]+)", flip, url)
    assert tampered != url
    status, body = urlopen(tampered)
    assert (status, xml_error_code(body)) == (403, "SignatureDoesNotMatch"), (status, body[:500])


def test_presigned_get_for_another_key_is_rejected(s3, target):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": target, "Key": "secret.txt"}, ExpiresIn=300)
    tampered = url.replace("/secret.txt?", "/other.txt?")
    assert tampered != url
    status, body = urlopen(tampered)
    assert status == 403, (status, body[:500])
    assert xml_error_code(body) == "SignatureDoesNotMatch", body[:500]


def test_expired_presigned_get_is_access_denied(s3, target):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": target, "Key": "secret.txt"}, ExpiresIn=1)

    def expired():
        status, body = urlopen(url)
        assert status in (200, 403), (status, body[:500])
        return status == 403, (status, body[:500])

    status, body = wait_until(expired, 20, "the presigned URL to expire")
    assert xml_error_code(body) == "AccessDenied", body


def test_presigned_put_works_with_plain_urllib(s3, target):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": target, "Key": "via-presigned"}, ExpiresIn=300)
    status, body = urlopen(url, method="PUT", data=b"presigned upload")
    assert status == 200, (status, body[:500])
    assert s3.get_object(Bucket=target, Key="via-presigned")["Body"].read() == b"presigned upload"


def object_cid(s3, bucket, key):
    head = s3.head_object(Bucket=bucket, Key=key)
    cid = head["ResponseMetadata"]["HTTPHeaders"].get("x-ipfs-cid")
    assert cid, f"no X-IPFS-CID on HEAD: {head}"
    return cid


@pytest.mark.parametrize("extra", [{}, {"x-ipfs-s3-internal-token": "guess"}])
def test_client_cannot_route_itself_to_the_gateway(s3, stack, target, extra):
    cid = object_cid(s3, target, "secret.txt")
    headers = {"x-ipfs-s3-route": "gateway", **extra}
    resp = send("GET", f"{stack.endpoint}/ipfs/{cid}", headers)
    # An anonymous read of key <cid> in a bucket "ipfs" that does not exist: NoSuchBucket, as S3
    # answers anyone; never the content.
    assert (resp.status, resp.error_code) == (404, "NoSuchBucket"), str(resp)
    assert SECRET not in resp.body, str(resp)
    # The same header on an anonymous object GET changes nothing either.
    resp = send("GET", object_url(stack.endpoint, target, "secret.txt"), headers)
    assert (resp.status, resp.error_code) == (403, "AccessDenied"), str(resp)


def test_signed_request_with_route_header_does_not_reach_the_gateway(s3, stack, target):
    cid = object_cid(s3, target, "secret.txt")
    url = f"{stack.endpoint}/ipfs/{cid}"
    headers = sign("GET", url, stack.access_key, stack.secret_key, stack.region, headers={"x-ipfs-s3-route": "gateway"})
    resp = send("GET", url, headers)
    # Whether the gateway treats it as key <cid> in a bucket "ipfs" that does not exist (404), or
    # strips the internal header before checking the signature (403), it answers with an S3 error
    # and never with the content.
    assert resp.status in (403, 404), str(resp)
    assert SECRET not in resp.body, str(resp)
    assert resp.error_code in ("NoSuchBucket", "AccessDenied", "SignatureDoesNotMatch"), str(resp)


@pytest.mark.parametrize("extra", [{}, {"x-ipfs-s3-internal-token": "guess"}])
def test_internal_resolve_api_is_not_reachable_through_envoy(s3, stack, target, extra):
    cid = object_cid(s3, target, "secret.txt")
    query = urllib.parse.urlencode({"bucket": target, "key": "secret.txt"})
    resp = send("GET", f"{stack.endpoint}/_internal/v1/resolve?{query}", extra)
    assert resp.status == 403, str(resp)
    assert cid.encode() not in resp.body, str(resp)


def test_signed_request_for_the_internal_api_is_not_an_internal_call(s3, stack, target):
    cid = object_cid(s3, target, "secret.txt")
    query = urllib.parse.urlencode({"bucket": target, "key": "secret.txt"})
    url = f"{stack.endpoint}/_internal/v1/resolve?{query}"
    resp = send("GET", url, sign("GET", url, stack.access_key, stack.secret_key, stack.region))
    assert resp.status in (400, 403, 404), str(resp)
    assert cid.encode() not in resp.body, str(resp)


def raw_request(endpoint: str, head: bytes) -> bytes:
    """Sends bytes http.client would refuse to build; returns the status line."""
    import socket
    host, port = urllib.parse.urlsplit(endpoint).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0]


def test_non_utf8_header_values_do_not_break_the_gateway(s3, stack, target):
    # More requests than Envoy has worker threads: each one used to kill its worker's filter VM.
    for _ in range(16):
        line = raw_request(
            stack.endpoint,
            f"GET /{target}/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
            + b"X-Junk: \xff\xfe\x80\r\n\r\n",
        )
        assert line.startswith(b"HTTP/1.1 403"), line
    # The gateway still serves signed requests afterwards, reads and writes alike.
    assert s3.get_object(Bucket=target, Key="secret.txt")["Body"].read() == SECRET
    s3.put_object(Bucket=target, Key="after.txt", Body=b"still writable")
    assert s3.get_object(Bucket=target, Key="after.txt")["Body"].read() == b"still writable"


def test_encoded_slash_write_refreshes_the_filter_cache(s3, stack, target):
    # `/bucket%2Fkey` names bucket/key for the host; the filter must agree and drop its cache.
    assert s3.get_object(Bucket=target, Key="secret.txt")["Body"].read() == SECRET  # now cached
    url = f"{stack.endpoint}/{target}%2Fsecret.txt"
    signed_over = object_url(stack.endpoint, target, "secret.txt")
    headers = sign("DELETE", signed_over, stack.access_key, stack.secret_key, stack.region)
    resp = send("DELETE", url, headers)
    assert resp.status == 204, str(resp)
    err = s3_error(lambda: s3.get_object(Bucket=target, Key="secret.txt"))
    assert err["Error"]["Code"] == "NoSuchKey", err
