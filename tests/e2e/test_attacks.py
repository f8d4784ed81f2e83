"""Replays of the attacks a security review found, each refused, on both ways in: through Envoy
(the filter checks first) and straight at the host's S3 listener (the host checks again, so a
request that slipped past the filter would still be refused).

- a presigned PUT or UploadPart sent with unsigned x-amz-copy-source (a copy of any object) or
  unsigned X-IPFS-* headers; a header-signed request with an unsigned x-amz-* header added;
- a path-style SigV2 presigned GET replayed against another bucket's virtual host;
- presigned URLs valid for more than a week (SigV4 and SigV2);
- a browser-form POST, answered before its body is sent;
- DeleteObjects whose Content-MD5 does not match its body;
- client headers steering the IPFS gateway (a service-worker registration, a forwarded host);
- PUTs asking for server-side encryption, which must never be stored in plaintext."""

import base64
import hashlib
import os
import socket
import urllib.parse

import boto3
import pytest
from botocore.config import Config

from conftest import client_config, create_bucket, empty_and_delete_bucket, unique_bucket_name
from s3http import md5_b64, s3_error, send, sign

SECRET = b"the secret nobody may copy"
UNSIGNED = "There were headers present in the request which were not signed"
WAYS = ["envoy", "host"]


@pytest.fixture
def private(s3, stack, request):
    """A second bucket holding secret.txt."""
    name = unique_bucket_name("priv-" + request.node.name)
    create_bucket(s3, stack, name)
    s3.put_object(Bucket=name, Key="secret.txt", Body=SECRET)
    yield name
    empty_and_delete_bucket(s3, name)


def via(stack, way, url):
    """`url` (made for the Envoy endpoint) and the headers that send it the chosen way. The Host
    stays the endpoint's, which the signature covers."""
    if way == "envoy":
        return url, {}
    parts = urllib.parse.urlsplit(url)
    host_port = urllib.parse.urlsplit(stack.env["IPFS_S3_HOST_URL"]).netloc
    return urllib.parse.urlunsplit(parts._replace(netloc=host_port)), {"Host": parts.netloc}


def presign(s3, op, expires=300, **params):
    return s3.generate_presigned_url(op, Params=params, ExpiresIn=expires)


def exists(s3, bucket, key):
    """Asks the store (a listing), not a read the filter may answer from its cache: some requests
    here bypass the filter, which then has no reason to drop what it cached."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
    return any(o["Key"] == key for o in listed)


def assert_unsigned_refused(resp):
    assert (resp.status, resp.error_code) == (403, "AccessDenied"), str(resp)
    assert UNSIGNED.encode() in resp.body, str(resp)


@pytest.mark.parametrize("way", WAYS)
def test_presigned_put_cannot_become_a_copy(s3, stack, bucket, private, way):
    url, headers = via(stack, way, presign(s3, "put_object", Bucket=bucket, Key="slot"))
    resp = send("PUT", url, {**headers, "x-amz-copy-source": f"/{private}/secret.txt"})
    assert_unsigned_refused(resp)
    assert SECRET not in resp.body
    assert not exists(s3, bucket, "slot"), "the refused copy left an object behind"
    # The URL itself still works for what it was made for.
    assert send("PUT", url, headers, body=b"mine").status == 200
    assert s3.get_object(Bucket=bucket, Key="slot")["Body"].read() == b"mine"


@pytest.mark.parametrize("way", WAYS)
def test_presigned_upload_part_cannot_become_a_part_copy(s3, stack, bucket, private, way):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    url = presign(s3, "upload_part", Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1)
    url, headers = via(stack, way, url)
    resp = send("PUT", url, {**headers, "x-amz-copy-source": f"/{private}/secret.txt"})
    assert_unsigned_refused(resp)
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload).get("Parts", []) == []
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    "extra", [{"X-IPFS-Replication-Factor": "3"}, {"X-IPFS-Pin-Priority": "high"}], ids=["factor", "priority"]
)
def test_presigned_put_refuses_unsigned_ipfs_headers(s3, stack, bucket, way, extra):
    url, headers = via(stack, way, presign(s3, "put_object", Bucket=bucket, Key="k"))
    assert_unsigned_refused(send("PUT", url, {**headers, **extra}, body=b"x"))
    assert not exists(s3, bucket, "k")


def add_after_signing(client, event, headers):
    """Adds `headers` to every request of `event` after botocore signed it."""

    def add(request, **_):
        for name, value in headers.items():
            request.headers[name] = value

    client.meta.events.register(f"before-send.s3.{event}", add)
    return client


def test_header_signed_requests_must_cover_every_amz_and_ipfs_header(make_s3, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v1")
    put = add_after_signing(make_s3(), "PutObject", {"x-amz-meta-who": "mallory"})
    err = s3_error(lambda: put.put_object(Bucket=bucket, Key="k", Body=b"v2"))
    assert (err["Error"]["Code"], err["Error"]["Message"]) == ("AccessDenied", UNSIGNED), err
    # The filter's read path too.
    get = add_after_signing(make_s3(), "GetObject", {"X-IPFS-Pin-Priority": "high"})
    err = s3_error(lambda: get.get_object(Bucket=bucket, Key="k"))
    assert err["Error"]["Code"] == "AccessDenied", err
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"


def sigv2_client(stack, addressing):
    return boto3.session.Session().client(
        "s3",
        endpoint_url=stack.endpoint,
        region_name=stack.region,
        aws_access_key_id=stack.access_key,
        aws_secret_access_key=stack.secret_key,
        config=client_config().merge(Config(signature_version="s3", s3={"addressing_style": addressing})),
    )


def test_sigv2_presigned_get_is_bound_to_its_bucket(s3, stack, bucket, private):
    domain = stack.env["IPFS_S3_DOMAIN"]
    s3.put_object(Bucket=bucket, Key="cat.jpg", Body=b"public cat")
    s3.put_object(Bucket=private, Key=f"{bucket}/cat.jpg", Body=SECRET)
    url = sigv2_client(stack, "path").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "cat.jpg"}, ExpiresIn=300
    )
    assert "Signature=" in url and "X-Amz-" not in url, url
    assert send("GET", url).body == b"public cat"
    # The same path and signature, with the Host naming the private bucket.
    replay = send("GET", url, {"Host": f"{private}.{domain}:{stack.port('ENVOY')}"})
    assert (replay.status, replay.error_code) == (403, "SignatureDoesNotMatch"), str(replay)
    assert SECRET not in replay.body
    host_url, _ = via(stack, "host", url)
    replay = send("GET", host_url, {"Host": f"{private}.{domain}:{stack.port('ENVOY')}"})
    assert (replay.status, replay.error_code) == (403, "SignatureDoesNotMatch"), str(replay)


def test_sigv2_presigned_get_works_virtual_hosted(s3, stack, bucket):
    s3.put_object(Bucket=bucket, Key="cat.jpg", Body=b"public cat")
    domain = stack.env["IPFS_S3_DOMAIN"]
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://{domain}:{stack.port('ENVOY')}",
        region_name=stack.region,
        aws_access_key_id=stack.access_key,
        aws_secret_access_key=stack.secret_key,
        config=client_config().merge(Config(signature_version="s3", s3={"addressing_style": "virtual"})),
    )
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "cat.jpg"}, ExpiresIn=300)
    parts = urllib.parse.urlsplit(url)
    assert parts.netloc.startswith(f"{bucket}."), url
    loopback = urllib.parse.urlunsplit(parts._replace(netloc=f"127.0.0.1:{stack.port('ENVOY')}"))
    resp = send("GET", loopback, {"Host": parts.netloc})
    assert (resp.status, resp.body) == (200, b"public cat"), str(resp)


@pytest.mark.parametrize("way", WAYS)
def test_presigned_urls_live_a_week_at_most(s3, stack, bucket, way):
    url, headers = via(stack, way, presign(s3, "put_object", expires=604_801, Bucket=bucket, Key="k"))
    resp = send("PUT", url, headers, body=b"x")
    assert (resp.status, resp.error_code) == (400, "AuthorizationQueryParametersError"), str(resp)
    assert b"X-Amz-Expires must be less than a week (in seconds) that is 604800" in resp.body, str(resp)
    ten_years = sigv2_client(stack, "path").generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=10 * 365 * 86_400
    )
    url, headers = via(stack, way, ten_years)
    resp = send("PUT", url, headers, body=b"x")
    assert (resp.status, resp.error_code) == (403, "AccessDenied"), str(resp)
    assert not exists(s3, bucket, "k")


@pytest.mark.parametrize("way", WAYS)
def test_browser_form_post_is_refused_before_its_body(stack, bucket, way):
    """A form POST announcing 20 MB is answered at once, without one byte of the body sent."""
    url, headers = via(stack, way, f"{stack.endpoint}/{bucket}")
    parts = urllib.parse.urlsplit(url)
    host = headers.get("Host", parts.netloc)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 20000000\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before an answer: {answer!r}"
            answer += chunk
        # Read the rest of a short error document, if any arrives at once.
        sock.settimeout(2)
        try:
            answer += sock.recv(65536)
        except TimeoutError:
            pass
    status_line = answer.split(b"\r\n", 1)[0]
    assert b" 501 " in status_line, answer[:1000]
    assert b"<Code>NotImplemented</Code>" in answer, answer[:1000]


@pytest.mark.parametrize("way", WAYS)
def test_delete_objects_body_must_match_its_content_md5(s3, stack, bucket, way):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"1")
    body = b'<?xml version="1.0" encoding="UTF-8"?><Delete><Object><Key>keep</Key></Object></Delete>'
    other = body.replace(b"keep", b"gone")
    url = f"{stack.endpoint}/{bucket}?delete"
    for integrity in [
        {"Content-MD5": md5_b64(other)},
        {"x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(other).digest()).decode()},
    ]:
        headers = sign("POST", url, stack.access_key, stack.secret_key, stack.region, headers=integrity, body=body)
        target, extra = via(stack, way, url)
        resp = send("POST", target, {**headers, **extra}, body=body)
        assert (resp.status, resp.error_code) == (400, "BadDigest"), f"{integrity}: {resp}"
        assert exists(s3, bucket, "keep"), "a refused DeleteObjects deleted the key"
    # With the right digest the key goes.
    headers = sign("POST", url, stack.access_key, stack.secret_key, stack.region, headers={"Content-MD5": md5_b64(body)}, body=body)
    target, extra = via(stack, way, url)
    resp = send("POST", target, {**headers, **extra}, body=body)
    assert resp.status == 200, str(resp)
    assert not exists(s3, bucket, "keep")


@pytest.mark.parametrize(
    "steer",
    [{"Service-Worker": "script"}, {"X-Forwarded-Host": "localhost", "Forwarded": "host=localhost"}],
    ids=["service-worker", "forwarded-host"],
)
def test_client_headers_do_not_steer_the_ipfs_gateway(make_s3, s3, bucket, steer):
    """Objects over the host cache's size are read from the IPFS gateway. Kubo's gateway refuses
    a request announcing a service-worker registration (400), and with subdomain gateways
    configured it answers a forwarded host with a redirect: none of that may reach it."""
    data = os.urandom(300 * 1024)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    client = add_after_signing(make_s3(), "GetObject", steer)
    got = client.get_object(Bucket=bucket, Key="big")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == data


def encryption_headers():
    key = os.urandom(32)
    return {
        "sse-s3": {"x-amz-server-side-encryption": "AES256"},
        "sse-kms": {"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": "k1"},
        "sse-c": {
            "x-amz-server-side-encryption-customer-algorithm": "AES256",
            "x-amz-server-side-encryption-customer-key": base64.b64encode(key).decode(),
            "x-amz-server-side-encryption-customer-key-MD5": md5_b64(key),
        },
        "ipfs": {"X-IPFS-Encryption": "AES256", "X-IPFS-Key-ID": "k1"},
    }


# PutObject, CopyObject and multipart uploads encrypt (test_encryption.py) except with SSE-KMS,
# which is refused with nothing stored.
REFUSED_ENCRYPTION = [("put", "sse-kms"), ("copy", "sse-kms"), ("create-multipart", "sse-kms")]


@pytest.mark.parametrize("op,kind", REFUSED_ENCRYPTION)
def test_encryption_requests_are_refused_not_stored_in_plaintext(s3, stack, bucket, kind, op):
    s3.put_object(Bucket=bucket, Key="src", Body=b"plain")
    url = f"{stack.endpoint}/{bucket}/dst"
    method, body, extra = "PUT", b"secret bytes", {}
    if op == "copy":
        body, extra = b"", {"x-amz-copy-source": f"/{bucket}/src"}
    elif op == "create-multipart":
        method, body, url = "POST", b"", url + "?uploads"
    headers = sign(method, url, stack.access_key, stack.secret_key, stack.region,
                   headers={**encryption_headers()[kind], **extra}, body=body)
    resp = send(method, url, headers, body=body)
    assert (resp.status, resp.error_code) == (501, "NotImplemented"), str(resp)
    assert not exists(s3, bucket, "dst")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_boto3_sse_kms_put_is_refused(s3, bucket):
    err = s3_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms"))
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("NotImplemented", 501), err
    assert not exists(s3, bucket, "k")
