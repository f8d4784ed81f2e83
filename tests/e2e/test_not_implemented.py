"""Operations the gateway does not implement answer 501 with an S3 XML error `NotImplemented`,
through boto3 and as raw signed requests through Envoy (never a hang, a 404 or an HTML page), and
change nothing. A method S3 has no operation for (PATCH) answers the same way. CORS is not
implemented: a preflight (OPTIONS) gets S3's answers for a bucket without a CORS configuration,
400 BadRequest without an Origin, 403 AccessForbidden with one."""

import pytest

from s3http import assert_s3_error, object_url, send, sign, strip_ns

import xml.etree.ElementTree as ET

TAGS = {"TagSet": [{"Key": "colour", "Value": "blue"}]}
CORS = {"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]}
LIFECYCLE = {"Rules": [{"ID": "r", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}]}

BUCKET_CALLS = {
    "GetBucketTagging": lambda s3, b: s3.get_bucket_tagging(Bucket=b),
    "PutBucketTagging": lambda s3, b: s3.put_bucket_tagging(Bucket=b, Tagging=TAGS),
    # Of the ACLs, only the canned private, public-read and public-read-write are implemented
    # (test_acl.py).
    "PutBucketAcl(authenticated-read)": lambda s3, b: s3.put_bucket_acl(Bucket=b, ACL="authenticated-read"),
    "GetBucketPolicy": lambda s3, b: s3.get_bucket_policy(Bucket=b),
    "PutBucketPolicy": lambda s3, b: s3.put_bucket_policy(Bucket=b, Policy='{"Version":"2012-10-17","Statement":[]}'),
    "GetBucketCors": lambda s3, b: s3.get_bucket_cors(Bucket=b),
    "PutBucketCors": lambda s3, b: s3.put_bucket_cors(Bucket=b, CORSConfiguration=CORS),
    "DeleteBucketCors": lambda s3, b: s3.delete_bucket_cors(Bucket=b),
    "GetBucketLifecycleConfiguration": lambda s3, b: s3.get_bucket_lifecycle_configuration(Bucket=b),
    "PutBucketLifecycleConfiguration": lambda s3, b: s3.put_bucket_lifecycle_configuration(
        Bucket=b, LifecycleConfiguration=LIFECYCLE),
    "PutBucketVersioning": lambda s3, b: s3.put_bucket_versioning(
        Bucket=b, VersioningConfiguration={"Status": "Enabled"}),
    "PutBucketEncryption(aws:kms)": lambda s3, b: s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}),
    "GetBucketWebsite": lambda s3, b: s3.get_bucket_website(Bucket=b),
    "GetBucketLogging": lambda s3, b: s3.get_bucket_logging(Bucket=b),
    "GetBucketNotificationConfiguration": lambda s3, b: s3.get_bucket_notification_configuration(Bucket=b),
    "GetPublicAccessBlock": lambda s3, b: s3.get_public_access_block(Bucket=b),
    "GetBucketOwnershipControls": lambda s3, b: s3.get_bucket_ownership_controls(Bucket=b),
    "GetObjectLockConfiguration": lambda s3, b: s3.get_object_lock_configuration(Bucket=b),
}

OBJECT_CALLS = {
    "GetObjectTagging": lambda s3, b, k: s3.get_object_tagging(Bucket=b, Key=k),
    "PutObjectTagging": lambda s3, b, k: s3.put_object_tagging(Bucket=b, Key=k, Tagging=TAGS),
    "DeleteObjectTagging": lambda s3, b, k: s3.delete_object_tagging(Bucket=b, Key=k),
    "PutObjectAcl(authenticated-read)": lambda s3, b, k: s3.put_object_acl(Bucket=b, Key=k, ACL="authenticated-read"),
    "GetObjectRetention": lambda s3, b, k: s3.get_object_retention(Bucket=b, Key=k),
    "GetObjectLegalHold": lambda s3, b, k: s3.get_object_legal_hold(Bucket=b, Key=k),
    "RestoreObject": lambda s3, b, k: s3.restore_object(Bucket=b, Key=k, RestoreRequest={"Days": 1}),
}


@pytest.mark.parametrize("op", sorted(BUCKET_CALLS))
def test_bucket_operation_is_not_implemented(s3, bucket, op):
    err = assert_s3_error(lambda: BUCKET_CALLS[op](s3, bucket), "NotImplemented", 501)
    assert err["ResponseMetadata"]["HTTPHeaders"].get("content-type") == "application/xml", err
    # The bucket is still there and still empty.
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


@pytest.mark.parametrize("op", sorted(OBJECT_CALLS))
def test_object_operation_is_not_implemented(s3, bucket, op):
    s3.put_object(Bucket=bucket, Key="k", Body=b"unchanged")
    assert_s3_error(lambda: OBJECT_CALLS[op](s3, bucket, "k"), "NotImplemented", 501)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"unchanged"


def assert_not_implemented(resp):
    assert resp.status == 501, str(resp)
    assert resp.header("content-type") == "application/xml", str(resp)
    root = ET.fromstring(resp.body)
    assert strip_ns(root.tag) == "Error", str(resp)
    assert resp.error_code == "NotImplemented", str(resp)


RAW = [
    ("GET", "", "tagging", b""),
    ("PUT", "", "tagging", b"<Tagging><TagSet/></Tagging>"),
    ("DELETE", "", "cors", b""),
    ("GET", "", "replication", b""),
    ("GET", "", "analytics&id=a", b""),
    ("GET", "", "inventory&id=i", b""),
    ("GET", "", "accelerate", b""),
    ("GET", "", "requestPayment", b""),
    ("GET", "k", "tagging", b""),
    ("GET", "k", "torrent", b""),
    ("PUT", "k", "retention", b"<Retention/>"),
]


@pytest.mark.parametrize("method,key,query,body", RAW, ids=[f"{m} {k or 'bucket'}?{q}" for m, k, q, _ in RAW])
def test_raw_signed_requests_through_envoy(s3, stack, bucket, method, key, query, body):
    s3.put_object(Bucket=bucket, Key="k", Body=b"unchanged")
    url = f"{object_url(stack.endpoint, bucket, key)}?{query}"
    resp = send(method, url, sign(method, url, stack.access_key, stack.secret_key, stack.region, body=body), body=body)
    assert_not_implemented(resp)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"unchanged"


@pytest.mark.parametrize("where", ["root", "bucket", "object"])
def test_methods_without_an_operation(s3, stack, bucket, where):
    s3.put_object(Bucket=bucket, Key="k", Body=b"unchanged")
    url = {"root": f"{stack.endpoint}/", "bucket": object_url(stack.endpoint, bucket),
           "object": object_url(stack.endpoint, bucket, "k")}[where]
    assert_not_implemented(send("PATCH", url, {}))
    assert_not_implemented(send("PATCH", url, sign("PATCH", url, stack.access_key, stack.secret_key, stack.region)))
    preflight = {"Origin": "https://example.com", "Access-Control-Request-Method": "GET"}
    for headers, expected in [({}, (400, "BadRequest")), (preflight, (403, "AccessForbidden"))]:
        resp = send("OPTIONS", url, headers)
        assert (resp.status, resp.error_code) == expected, str(resp)
        signed = sign("OPTIONS", url, stack.access_key, stack.secret_key, stack.region)
        resp = send("OPTIONS", url, {**signed, **headers})
        assert (resp.status, resp.error_code) == expected, str(resp)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"unchanged"


def test_unimplemented_operation_still_needs_a_signature(stack, bucket):
    # The operation is known; who may call it is checked before whether it is implemented.
    resp = send("GET", f"{object_url(stack.endpoint, bucket)}?tagging")
    assert (resp.status, resp.error_code) == (403, "AccessDenied"), str(resp)
