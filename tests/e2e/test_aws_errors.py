"""AWS's answers, down to the code and the message, for what clients get wrong — checked through
Envoy (the filter) and on the host's S3 port directly (the host), which must agree:
authentication (AuthorizationHeaderMalformed, AuthorizationQueryParametersError, InvalidToken,
expiry edges), the code table's messages, bucket creation and listing arguments."""

import urllib.parse
import xml.etree.ElementTree as ET

import boto3
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from conftest import create_bucket
from s3http import assert_s3_error, object_url, send, sign

WAYS = ["envoy", "host"]


def via(stack, way, url, headers=None):
    """`url` (made for the Envoy endpoint) sent the chosen way, with the endpoint's Host."""
    headers = dict(headers or {})
    if way == "envoy":
        return url, headers
    parts = urllib.parse.urlsplit(url)
    host_port = urllib.parse.urlsplit(stack.env["IPFS_S3_HOST_URL"]).netloc
    return urllib.parse.urlunsplit(parts._replace(netloc=host_port)), {**headers, "Host": parts.netloc}


def v4_client(stack, **kwargs):
    return boto3.session.Session().client(
        "s3", endpoint_url=stack.endpoint, aws_access_key_id=stack.access_key, aws_secret_access_key=stack.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        **{"region_name": stack.region, **kwargs},
    )


def with_param(url, name, value):
    """`url` with query parameter `name` set to `value` (removed when None)."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != name]
    if value is not None:
        query.append((name, value))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, quote_via=urllib.parse.quote)))


def message(resp):
    """The error document's <Message>, unescaped."""
    found = ET.fromstring(resp.body).find("Message") if resp.body else None
    return found.text if found is not None else None


@pytest.mark.parametrize("way", WAYS)
def test_malformed_authorization_headers(stack, bucket, way):
    url = object_url(stack.endpoint, bucket, "k")
    good = sign("GET", url, stack.access_key, stack.secret_key, stack.region)
    auth = good["Authorization"]
    cases = {
        "no Signature": auth.rsplit(",", 1)[0],
        "a scope without its terminator": auth.replace("/s3/aws4_request", "/s3"),
        "another service": auth.replace("/s3/aws4_request", "/ec2/aws4_request"),
        "another region": auth.replace(f"/{stack.region}/", "/eu-west-1/"),
    }
    for what, bad in cases.items():
        target, headers = via(stack, way, url, {**good, "Authorization": bad})
        resp = send("GET", target, headers)
        assert (resp.status, resp.error_code) == (400, "AuthorizationHeaderMalformed"), (what, str(resp))
        assert message(resp).startswith("The authorization header is malformed;"), (what, message(resp))
    target, headers = via(stack, way, url, {**good, "Authorization": cases["another region"]})
    assert message(send("GET", target, headers)) == (
        f"The authorization header is malformed; the region 'eu-west-1' is wrong; expecting '{stack.region}'")


@pytest.mark.parametrize("way", WAYS)
def test_presigned_parameters_and_expiry_edges(s3, stack, bucket, way):
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    c = v4_client(stack)

    def get(url):
        target, headers = via(stack, way, url)
        return send("GET", target, headers)

    week = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=604_800)
    assert get(week).status == 200, "exactly seven days is the longest allowed"
    for expires, text in [("604801", "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
                          ("-1", "X-Amz-Expires must be non-negative"), ("soon", "X-Amz-Expires should be a number")]:
        resp = get(with_param(week, "X-Amz-Expires", expires))
        assert (resp.status, resp.error_code, message(resp)) == (400, "AuthorizationQueryParametersError", text), str(resp)
    resp = get(with_param(week, "X-Amz-SignedHeaders", None))
    assert (resp.status, resp.error_code) == (400, "AuthorizationQueryParametersError"), str(resp)
    resp = get(with_param(week, "X-Amz-Algorithm", "AWS4-HMAC-SHA512"))
    assert (resp.status, resp.error_code) == (400, "AuthorizationQueryParametersError"), str(resp)
    # Zero seconds of validity: expired at once. (botocore's own signer: with awscrt installed,
    # boto3 presigns with AWS's CRT, which refuses to sign 0.)
    zero = AWSRequest(method="GET", url=object_url(stack.endpoint, bucket, "k"))
    S3SigV4QueryAuth(Credentials(stack.access_key, stack.secret_key), "s3", stack.region, expires=0).add_auth(zero)
    zero = zero.url
    resp = get(zero)
    assert (resp.status, resp.error_code, message(resp)) == (403, "AccessDenied", "Request has expired"), str(resp)
    # The scope's date must be X-Amz-Date's.
    credential = urllib.parse.parse_qs(urllib.parse.urlsplit(week).query)["X-Amz-Credential"][0]
    other_day = credential.replace(credential.split("/")[1], "20200101")
    resp = get(with_param(week, "X-Amz-Credential", other_day))
    assert (resp.status, resp.error_code) == (400, "AuthorizationQueryParametersError"), str(resp)
    assert message(resp).startswith('Invalid credential date "20200101"'), message(resp)


def sign_with_payload_hash(method, url, stack, payload_hash):
    """SigV4 headers whose signed `x-amz-content-sha256` is `payload_hash`, whatever it is."""

    class Signer(S3SigV4Auth):
        def payload(self, request):
            return payload_hash

        def _modify_request_before_signing(self, request):
            super()._modify_request_before_signing(request)
            request.headers.replace_header("X-Amz-Content-SHA256", payload_hash)

    req = AWSRequest(method=method, url=url, data=b"")
    Signer(Credentials(stack.access_key, stack.secret_key), "s3", stack.region).add_auth(req)
    return dict(req.headers.items())


@pytest.mark.parametrize("way", WAYS)
def test_tokens_and_payload_hashes(stack, bucket, way):
    url = object_url(stack.endpoint, bucket, "k")
    signed = sign("GET", url, stack.access_key, stack.secret_key, stack.region, headers={"x-amz-security-token": "FwoG..."})
    target, headers = via(stack, way, url, signed)
    resp = send("GET", target, headers)
    assert (resp.status, resp.error_code) == (400, "InvalidToken"), str(resp)
    signed = sign_with_payload_hash("PUT", url, stack, "not-a-hash")
    target, headers = via(stack, way, url, signed)
    resp = send("PUT", target, headers, body=b"x")
    assert (resp.status, resp.error_code) == (400, "InvalidArgument"), str(resp)
    assert message(resp).startswith("x-amz-content-sha256 must be UNSIGNED-PAYLOAD"), message(resp)


def test_messages_are_aws_words(s3, stack, bucket):
    missing = f"{bucket}-missing"
    assert_s3_error(lambda: s3.list_objects_v2(Bucket=missing), "NoSuchBucket", 404)
    resp = send("GET", object_url(stack.endpoint, missing), sign("GET", object_url(stack.endpoint, missing),
                                                                  stack.access_key, stack.secret_key, stack.region))
    assert message(resp) == "The specified bucket does not exist", str(resp)
    url = object_url(stack.endpoint, bucket, "k") + "?uploadId=nope"
    resp = send("GET", url, sign("GET", url, stack.access_key, stack.secret_key, stack.region))
    assert (resp.error_code, message(resp)) == ("NoSuchUpload", "The specified multipart upload does not exist. The upload ID "
                                                "may be invalid, or the upload may have been aborted or completed."), str(resp)


def test_bucket_arguments(s3, stack, request):
    name = f"e2e-loc-{abs(hash(request.node.name)) % 10**8}"
    for constraint, code in [("eu-west-1", "IllegalLocationConstraintException"), ("us-east-1", "InvalidLocationConstraint"),
                             ("moon-base", "InvalidLocationConstraint")]:
        assert_s3_error(lambda: s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": constraint}),
                        code, 400)
    for bad in ("0", "10001", "many"):
        url = f"{stack.endpoint}/?max-buckets={bad}"
        resp = send("GET", url, sign("GET", url, stack.access_key, stack.secret_key, stack.region))
        assert (resp.status, resp.error_code) == (400, "InvalidArgument"), (bad, str(resp))
    names = [f"{name}-{i}" for i in range(3)]
    for n in names:
        create_bucket(s3, stack, n)
    try:
        first = s3.list_buckets(MaxBuckets=2, Prefix=name)
        assert [b["Name"] for b in first["Buckets"]] == names[:2] and first["Prefix"] == name, first
        rest = s3.list_buckets(MaxBuckets=2, Prefix=name, ContinuationToken=first["ContinuationToken"])
        assert [b["Name"] for b in rest["Buckets"]] == names[2:] and "ContinuationToken" not in rest, rest
    finally:
        for n in names:
            s3.delete_bucket(Bucket=n)


def test_website_redirect_location_is_kept_and_checked(s3, bucket):
    s3.put_object(Bucket=bucket, Key="page", Body=b"<html/>", WebsiteRedirectLocation="/elsewhere.html")
    assert s3.head_object(Bucket=bucket, Key="page")["WebsiteRedirectLocation"] == "/elsewhere.html"
    assert s3.get_object(Bucket=bucket, Key="page")["WebsiteRedirectLocation"] == "/elsewhere.html"
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", WebsiteRedirectLocation="https://example.com/x")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"x")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.head_object(Bucket=bucket, Key="mp")["WebsiteRedirectLocation"] == "https://example.com/x"
    assert_s3_error(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", WebsiteRedirectLocation="example.com"),
                    "InvalidArgument", 400)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="bad"), None, 404)
