"""Presigned URLs from boto3's generate_presigned_url, used by a plain HTTP client: PUT and GET
work until they expire, an expired one is 403 AccessDenied, and any change to a signed part (the
signature, the key, the expiry, a response-* override) is refused with 403 and changes nothing."""

import datetime
import urllib.parse
from unittest import mock

import pytest

from s3http import assert_s3_error, send

PATHS = {"filter": {}, "host": {"PartNumber": 1}}


def presign(s3, op, bucket, key, expires=300, at=None, **params):
    kwargs = {"Params": {"Bucket": bucket, "Key": key, **params}, "ExpiresIn": expires}
    if at is None:
        return s3.generate_presigned_url(op, **kwargs)
    # Both of botocore's signers read the clock: its own, and AWS's CRT when awscrt is installed.
    at = at if at.tzinfo else at.replace(tzinfo=datetime.timezone.utc)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at), \
            mock.patch("botocore.crt.auth.get_current_datetime", return_value=at):
        return s3.generate_presigned_url(op, **kwargs)


def replace_param(url, name, value):
    parts = urllib.parse.urlsplit(url)
    query = [(k, value if k == name else v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, quote_via=urllib.parse.quote)))


def test_presigned_put_then_get(s3, bucket):
    url = presign(s3, "put_object", bucket, "up load.bin")
    resp = send("PUT", url, body=b"presigned bytes")
    assert resp.status == 200, str(resp)
    assert resp.header("etag"), str(resp)
    for path, extra in PATHS.items():
        get = presign(s3, "get_object", bucket, "up load.bin", **extra)
        resp = send("GET", get)
        assert (resp.status, resp.body) == (200, b"presigned bytes"), f"{path}: {resp}"


def test_expired_presigned_urls_are_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    two_hours_ago = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(hours=2)
    put = presign(s3, "put_object", bucket, "k", expires=60, at=two_hours_ago)
    resp = send("PUT", put, body=b"new")
    assert (resp.status, resp.error_code) == (403, "AccessDenied"), str(resp)
    for path, extra in PATHS.items():
        get = presign(s3, "get_object", bucket, "k", expires=60, at=two_hours_ago, **extra)
        resp = send("GET", get)
        assert (resp.status, resp.error_code) == (403, "AccessDenied"), f"{path}: {resp}"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"


@pytest.mark.parametrize("tamper", ["signature", "key", "expires", "override"])
def test_tampered_presigned_urls_are_refused(s3, bucket, tamper):
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    put = presign(s3, "put_object", bucket, "k")
    get = presign(s3, "get_object", bucket, "k", ResponseContentType="text/plain")
    if tamper == "signature":
        sig = urllib.parse.parse_qs(urllib.parse.urlsplit(put).query)["X-Amz-Signature"][0]
        flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
        put, get = replace_param(put, "X-Amz-Signature", flipped), replace_param(get, "X-Amz-Signature", flipped)
    elif tamper == "key":
        put, get = put.replace("/k?", "/other?", 1), get.replace("/k?", "/other?", 1)
    elif tamper == "expires":
        put, get = replace_param(put, "X-Amz-Expires", "604800"), replace_param(get, "X-Amz-Expires", "604800")
    else:
        get = replace_param(get, "response-content-type", "text/html")
    if tamper != "override":
        resp = send("PUT", put, body=b"new")
        assert resp.status == 403, f"PUT {tamper}: {resp}"
    resp = send("GET", get)
    assert resp.status == 403 and resp.body != b"old", f"GET {tamper}: {resp}"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="other"), None, 404)
