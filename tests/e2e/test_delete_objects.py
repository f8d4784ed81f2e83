"""DeleteObjects: per-key results, keys that do not exist reported deleted, quiet mode, the
1000-key limit, the required integrity header, keys that need XML escaping, and the version id
`null` (the only one objects here have)."""

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from conftest import unique_bucket_name
from s3http import assert_s3_error, md5_b64, object_url, send, sign, strip_ns


def put_keys(s3, bucket, keys):
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=f"body of {k}".encode())


def listed(s3, bucket):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def delete_xml(keys, quiet=False):
    objs = "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
    q = "<Quiet>true</Quiet>" if quiet else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><Delete>{q}{objs}</Delete>'.encode()


def raw_delete(stack, bucket, body, headers=None):
    url = object_url(stack.endpoint, bucket) + "?delete"
    return send("POST", url, sign("POST", url, stack.access_key, stack.secret_key, stack.region,
                                  headers=headers or {}, body=body), body=body)


def test_deletes_existing_and_reports_missing_keys_deleted(s3, bucket):
    put_keys(s3, bucket, ["a", "b", "dir/c", "keep"])
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a"}, {"Key": "b"}, {"Key": "dir/c"}, {"Key": "never-existed"},
    ]})
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200, resp
    assert sorted(d["Key"] for d in resp.get("Deleted", [])) == ["a", "b", "dir/c", "never-existed"], resp
    assert resp.get("Errors", []) == [], resp
    assert listed(s3, bucket) == ["keep"]
    for k in ["a", "b", "dir/c"]:
        assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key=k), "NoSuchKey", 404)
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"body of keep"


def test_a_key_read_just_before_is_gone_right_after(s3, bucket):
    # The read puts the mapping in the caches on the way (filter and host); the delete must
    # drop it from both.
    put_keys(s3, bucket, ["hot"])
    assert s3.get_object(Bucket=bucket, Key="hot")["Body"].read() == b"body of hot"
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "hot"}]})
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key="hot"), "NoSuchKey", 404)


def test_quiet_mode_reports_errors_only(s3, bucket):
    put_keys(s3, bucket, ["q1", "q2", "versioned"])
    resp = s3.delete_objects(Bucket=bucket, Delete={"Quiet": True, "Objects": [
        {"Key": "q1"}, {"Key": "q2"}, {"Key": "versioned", "VersionId": "3HL4kqtJlcpXroDTDmJ"},
    ]})
    assert resp.get("Deleted", []) == [], resp
    errors = resp.get("Errors", [])
    assert [(e["Key"], e["Code"]) for e in errors] == [("versioned", "InvalidArgument")], resp
    # The refused key is untouched.
    assert listed(s3, bucket) == ["versioned"]


def test_the_null_version_is_the_object(s3, bucket):
    put_keys(s3, bucket, ["n"])
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "n", "VersionId": "null"}]})
    assert [(d["Key"], d.get("VersionId")) for d in resp.get("Deleted", [])] == [("n", "null")], resp
    assert listed(s3, bucket) == []


def test_keys_that_need_escaping(s3, bucket):
    keys = ["a&b<c>.txt", "ünïcödé/файл 1+1=2?.txt", "q'uote\"s", "emoji-🎉"]
    put_keys(s3, bucket, keys)
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in resp.get("Deleted", [])) == sorted(keys), resp
    assert listed(s3, bucket) == []


def test_more_than_1000_keys_is_malformed_and_deletes_nothing(s3, bucket):
    put_keys(s3, bucket, ["k0"])
    objects = [{"Key": f"k{i}"} for i in range(1001)]
    assert_s3_error(lambda: s3.delete_objects(Bucket=bucket, Delete={"Objects": objects}), "MalformedXML", 400)
    assert listed(s3, bucket) == ["k0"]


def test_exactly_1000_keys(s3, stack, bucket):
    put_keys(s3, bucket, ["k0", "k999"])
    body = delete_xml([f"k{i}" for i in range(1000)], quiet=True)
    resp = raw_delete(stack, bucket, body, {"Content-MD5": md5_b64(body)})
    assert resp.status == 200, str(resp)
    root = ET.fromstring(resp.body)
    assert strip_ns(root.tag) == "DeleteResult", str(resp)
    assert list(root) == [], str(resp)
    assert listed(s3, bucket) == []


def test_an_integrity_header_is_required(s3, stack, bucket):
    put_keys(s3, bucket, ["guarded"])
    body = delete_xml(["guarded"])
    resp = raw_delete(stack, bucket, body)
    assert (resp.status, resp.error_code) == (400, "InvalidRequest"), str(resp)
    assert listed(s3, bucket) == ["guarded"]
    # With Content-MD5 (what rclone and s3cmd send) it goes through.
    resp = raw_delete(stack, bucket, body, {"Content-MD5": md5_b64(body)})
    assert resp.status == 200, str(resp)
    assert listed(s3, bucket) == []


def test_malformed_body_changes_nothing(s3, stack, bucket):
    put_keys(s3, bucket, ["solid"])
    body = b"<Delete><Object><Key>solid</Key></Object>"
    resp = raw_delete(stack, bucket, body, {"Content-MD5": md5_b64(body)})
    assert (resp.status, resp.error_code) == (400, "MalformedXML"), str(resp)
    assert listed(s3, bucket) == ["solid"]


def test_missing_bucket(s3):
    name = unique_bucket_name("missing")
    assert_s3_error(lambda: s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "k"}]}), "NoSuchBucket", 404)
