"""Bucket operations: create (name rules, already owned), list, head, delete (empty, not empty,
missing), and NoSuchBucket on object operations."""

import pytest

from conftest import create_bucket, empty_and_delete_bucket, unique_bucket_name
from s3http import assert_s3_error, object_url, send, sign


@pytest.fixture
def fresh_name(s3):
    """A bucket name nobody has used; whatever the test creates under it is removed afterwards."""
    name = unique_bucket_name("b")
    yield name
    empty_and_delete_bucket(s3, name)


def bucket_names(s3):
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_create_list_head_delete(s3, stack, fresh_name):
    resp = create_bucket(s3, stack, fresh_name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200, resp
    assert fresh_name in bucket_names(s3)
    head = s3.head_bucket(Bucket=fresh_name)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200, head
    deleted = s3.delete_bucket(Bucket=fresh_name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204, deleted
    assert fresh_name not in bucket_names(s3)
    assert_s3_error(lambda: s3.head_bucket(Bucket=fresh_name), None, 404)


def test_list_buckets_has_creation_dates(s3, bucket):
    entry = [b for b in s3.list_buckets()["Buckets"] if b["Name"] == bucket]
    assert len(entry) == 1, entry
    assert entry[0].get("CreationDate") is not None, entry


@pytest.mark.parametrize("name", ["Bad_Name", "ab", "-leading-hyphen", "192.168.5.4"])
def test_invalid_bucket_names_are_refused(s3, stack, name):
    assert_s3_error(lambda: create_bucket(s3, stack, name), "InvalidBucketName", 400)
    assert name not in bucket_names(s3)


def test_creating_an_owned_bucket_again(s3, stack, bucket):
    s3.put_object(Bucket=bucket, Key="survivor", Body=b"still here")
    if stack.region == "us-east-1":
        # us-east-1 answers 200 to the owner re-creating its bucket; other regions refuse.
        resp = create_bucket(s3, stack, bucket)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200, resp
    else:
        assert_s3_error(lambda: create_bucket(s3, stack, bucket), "BucketAlreadyOwnedByYou", 409)
    # The bucket and its content are untouched.
    assert bucket_names(s3).count(bucket) == 1
    assert s3.get_object(Bucket=bucket, Key="survivor")["Body"].read() == b"still here"


def test_delete_non_empty_bucket_is_bucket_not_empty(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keeps-it", Body=b"x")
    assert_s3_error(lambda: s3.delete_bucket(Bucket=bucket), "BucketNotEmpty", 409)
    assert s3.get_object(Bucket=bucket, Key="keeps-it")["Body"].read() == b"x"
    s3.delete_object(Bucket=bucket, Key="keeps-it")
    deleted = s3.delete_bucket(Bucket=bucket)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204, deleted


def test_head_and_delete_of_missing_bucket(s3, fresh_name):
    assert_s3_error(lambda: s3.head_bucket(Bucket=fresh_name), None, 404)
    assert_s3_error(lambda: s3.delete_bucket(Bucket=fresh_name), "NoSuchBucket", 404)


def test_object_operations_on_missing_bucket_are_no_such_bucket(s3, stack, fresh_name):
    assert_s3_error(lambda: s3.get_object(Bucket=fresh_name, Key="k"), "NoSuchBucket", 404)
    assert_s3_error(lambda: s3.put_object(Bucket=fresh_name, Key="k", Body=b"x"), "NoSuchBucket", 404)
    assert_s3_error(lambda: s3.list_objects_v2(Bucket=fresh_name), "NoSuchBucket", 404)
    assert_s3_error(lambda: s3.head_object(Bucket=fresh_name, Key="k"), None, 404)
    assert_s3_error(lambda: s3.delete_object(Bucket=fresh_name, Key="k"), "NoSuchBucket", 404)
    # The PUT did not create the bucket on the way.
    assert fresh_name not in bucket_names(s3)
    # GET on the filter's path answers with an S3 XML error too.
    url = object_url(stack.endpoint, fresh_name, "k")
    resp = send("GET", url, sign("GET", url, stack.access_key, stack.secret_key, stack.region))
    assert (resp.status, resp.error_code) == (404, "NoSuchBucket"), str(resp)


def test_deleted_bucket_forgets_its_objects(s3, stack, fresh_name):
    create_bucket(s3, stack, fresh_name)
    s3.put_object(Bucket=fresh_name, Key="k", Body=b"first life")
    s3.get_object(Bucket=fresh_name, Key="k")["Body"].read()
    s3.delete_object(Bucket=fresh_name, Key="k")
    s3.delete_bucket(Bucket=fresh_name)
    create_bucket(s3, stack, fresh_name)
    assert s3.list_objects_v2(Bucket=fresh_name).get("KeyCount") == 0
    assert_s3_error(lambda: s3.get_object(Bucket=fresh_name, Key="k"), "NoSuchKey", 404)
