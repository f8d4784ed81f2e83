"""GetBucketLocation and GetBucketVersioning: what S3 answers for a bucket in the gateway's region
that was never versioned, checked through boto3 and in the raw XML."""

import xml.etree.ElementTree as ET

from conftest import unique_bucket_name
from s3http import assert_s3_error, object_url, send, sign, strip_ns

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def signed_get(stack, url):
    return send("GET", url, sign("GET", url, stack.access_key, stack.secret_key, stack.region))


def test_location_names_the_region_as_s3_does(s3, stack, bucket):
    got = s3.get_bucket_location(Bucket=bucket)
    # us-east-1 is the empty LocationConstraint; every other region is its own name.
    expected = None if stack.region == "us-east-1" else stack.region
    assert got.get("LocationConstraint") == expected, got

    resp = signed_get(stack, object_url(stack.endpoint, bucket) + "?location")
    assert resp.status == 200, str(resp)
    root = ET.fromstring(resp.body)
    assert root.tag == f"{{{S3_NS}}}LocationConstraint", str(resp)
    assert (root.text or "") == (expected or ""), str(resp)
    assert list(root) == [], str(resp)


def test_versioning_of_a_never_versioned_bucket_is_empty(s3, stack, bucket):
    got = s3.get_bucket_versioning(Bucket=bucket)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200, got
    assert "Status" not in got and "MFADelete" not in got, got

    resp = signed_get(stack, object_url(stack.endpoint, bucket) + "?versioning")
    assert resp.status == 200, str(resp)
    root = ET.fromstring(resp.body)
    assert strip_ns(root.tag) == "VersioningConfiguration", str(resp)
    assert list(root) == [], str(resp)


def test_location_and_versioning_of_a_missing_bucket(s3):
    name = unique_bucket_name("missing")
    assert_s3_error(lambda: s3.get_bucket_location(Bucket=name), "NoSuchBucket", 404)
    assert_s3_error(lambda: s3.get_bucket_versioning(Bucket=name), "NoSuchBucket", 404)


def test_location_needs_a_signature(stack, bucket):
    resp = send("GET", object_url(stack.endpoint, bucket) + "?location")
    assert (resp.status, resp.error_code) == (403, "AccessDenied"), str(resp)
