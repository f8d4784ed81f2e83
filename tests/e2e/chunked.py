"""Streaming uploads (`Content-Encoding: aws-chunked`) as the AWS SDKs send them over HTTPS, built
by hand because botocore only streams over HTTPS and the stack speaks HTTP: the seed request is
signed by botocore's own signer with the streaming payload marker, the chunk and trailer signatures
follow AWS's specification
(<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html>,
<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html>)."""

import base64
import hashlib
import hmac
import zlib

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from s3http import send

UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


class _FixedPayloadAuth(S3SigV4Auth):
    """botocore's S3 signer with the payload hash replaced by a streaming marker."""

    def __init__(self, credentials, region, marker):
        super().__init__(credentials, "s3", region)
        self.marker = marker

    def payload(self, request):
        return self.marker


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _signing_key(secret: str, date: str, region: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, "s3")
    return _hmac(k, "aws4_request")


def put(url: str, access_key: str, secret_key: str, region: str, data: bytes, mode: str,
        trailer: tuple[str, str] | None = None, headers: dict | None = None,
        chunk_size: int = 64 * 1024, tamper_chunk: bool = False):
    """PUTs `data` as an aws-chunked body in `mode`, with `trailer` (name, value) after the last
    chunk when the mode has one. `tamper_chunk` flips a byte of the first chunk after signing."""
    chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    head = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
        **(headers or {}),
    }
    if trailer:
        head["X-Amz-Trailer"] = trailer[0]
    req = AWSRequest(method="PUT", url=url, headers=head, data=b"")
    _FixedPayloadAuth(Credentials(access_key, secret_key), region, mode).add_auth(req)
    signed_headers = dict(req.headers.items())
    amz_date = signed_headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    key = _signing_key(secret_key, amz_date[:8], region)
    prev = signed_headers["Authorization"].rsplit("Signature=", 1)[1]

    body = b""
    for i, chunk in enumerate(chunks):
        if mode == UNSIGNED_TRAILER:
            body += f"{len(chunk):x}\r\n".encode()
        else:
            to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, EMPTY_SHA256,
                                 hashlib.sha256(chunk).hexdigest()])
            prev = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
            body += f"{len(chunk):x};chunk-signature={prev}\r\n".encode()
        if tamper_chunk and i == 0 and chunk:
            chunk = bytes([chunk[0] ^ 1]) + chunk[1:]
        body += chunk
        if chunk:
            body += b"\r\n"
    if trailer and mode != SIGNED:
        name, value = trailer
        body += f"{name}:{value}\r\n".encode()
        if mode == SIGNED_TRAILER:
            canonical = f"{name}:{value}\n"
            to_sign = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, prev,
                                 hashlib.sha256(canonical.encode()).hexdigest()])
            sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
            body += f"x-amz-trailer-signature:{sig}\r\n".encode()
    body += b"\r\n"
    return send("PUT", url, signed_headers, body)
