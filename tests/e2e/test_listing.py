"""ListObjectsV2: prefix, delimiter, paging with continuation tokens, start-after, and keys that
need encoding (with and without `encoding-type=url`)."""

import urllib.parse
import xml.etree.ElementTree as ET

from s3http import object_url, quoted_md5, send, sign, strip_ns


def put_keys(s3, bucket, keys):
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=f"body of {k}".encode())


def contents(page):
    return [o["Key"] for o in page.get("Contents", [])]


def prefixes(page):
    return [p["Prefix"] for p in page.get("CommonPrefixes", [])]


TREE = ["a/1", "a/2", "a/sub/3", "b/1", "c", "d.txt"]


def test_list_all_with_sizes_and_etags(s3, bucket):
    put_keys(s3, bucket, reversed(TREE))
    page = s3.list_objects_v2(Bucket=bucket)
    assert contents(page) == sorted(TREE), page
    assert page.get("KeyCount") == len(TREE), page
    assert page.get("IsTruncated") is False, page
    for obj in page["Contents"]:
        body = f"body of {obj['Key']}".encode()
        assert obj.get("Size") == len(body), obj
        assert obj.get("ETag") == quoted_md5(body), obj
        assert obj.get("LastModified") is not None, obj


def test_prefix(s3, bucket):
    put_keys(s3, bucket, TREE)
    page = s3.list_objects_v2(Bucket=bucket, Prefix="a/")
    assert contents(page) == ["a/1", "a/2", "a/sub/3"], page
    assert page.get("Prefix") == "a/", page
    assert contents(s3.list_objects_v2(Bucket=bucket, Prefix="zzz")) == []


def test_delimiter_rolls_up_common_prefixes(s3, bucket):
    put_keys(s3, bucket, TREE)
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert contents(top) == ["c", "d.txt"], top
    assert prefixes(top) == ["a/", "b/"], top
    assert top.get("KeyCount") == 4, top
    inner = s3.list_objects_v2(Bucket=bucket, Delimiter="/", Prefix="a/")
    assert contents(inner) == ["a/1", "a/2"], inner
    assert prefixes(inner) == ["a/sub/"], inner


def test_paging_with_max_keys_and_continuation_token(s3, bucket):
    keys = [f"key-{i:03d}" for i in range(25)]
    put_keys(s3, bucket, keys)
    seen, sizes, token = [], [], None
    for _ in range(10):
        kwargs = {"Bucket": bucket, "MaxKeys": 10}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        seen += contents(page)
        sizes.append(page.get("KeyCount"))
        if not page.get("IsTruncated"):
            assert "NextContinuationToken" not in page, page
            break
        token = page.get("NextContinuationToken")
        assert token, f"truncated page without NextContinuationToken: {page}"
    assert seen == keys, seen
    assert sizes == [10, 10, 5], sizes


def test_paging_with_delimiter_counts_prefixes(s3, bucket):
    keys = [f"dir{i}/x" for i in range(5)] + [f"file{i}" for i in range(5)]
    put_keys(s3, bucket, keys)
    seen, token = [], None
    for _ in range(10):
        kwargs = {"Bucket": bucket, "MaxKeys": 3, "Delimiter": "/"}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        assert len(contents(page)) + len(prefixes(page)) <= 3, page
        seen += prefixes(page) + contents(page)
        if not page.get("IsTruncated"):
            break
        token = page.get("NextContinuationToken")
        assert token, f"truncated page without NextContinuationToken: {page}"
    assert sorted(seen) == [f"dir{i}/" for i in range(5)] + [f"file{i}" for i in range(5)], seen
    assert len(seen) == len(set(seen)), seen


def test_start_after(s3, bucket):
    put_keys(s3, bucket, TREE)
    page = s3.list_objects_v2(Bucket=bucket, StartAfter="a/sub/3")
    assert contents(page) == ["b/1", "c", "d.txt"], page


ODD_KEYS = ["a b.txt", "a+b.txt", "ünïcödé/файл.txt", "x&y<z>.txt", "percent%41.txt", "tab\there"]


def test_odd_keys_round_trip_through_boto3_listing(s3, bucket):
    # boto3 asks for encoding-type=url on its own and decodes the answer.
    put_keys(s3, bucket, ODD_KEYS)
    assert contents(s3.list_objects_v2(Bucket=bucket)) == sorted(ODD_KEYS)
    page = s3.list_objects_v2(Bucket=bucket, Prefix="ünïcödé/")
    assert contents(page) == ["ünïcödé/файл.txt"], page
    page = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert prefixes(page) == ["ünïcödé/"], page


def test_encoding_type_url_encodes_keys(s3, bucket):
    put_keys(s3, bucket, ODD_KEYS)
    # Asked for explicitly, botocore leaves the keys as the server sent them.
    page = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert page.get("EncodingType") == "url", page
    raw = contents(page)
    assert sorted(urllib.parse.unquote_plus(k) for k in raw) == sorted(ODD_KEYS), raw
    plus = [k for k in raw if urllib.parse.unquote_plus(k) == "a+b.txt"]
    assert plus and "+" not in plus[0], f"'+' must be percent-encoded: {raw}"


def raw_list(stack, bucket, **params) -> ET.Element:
    query = urllib.parse.urlencode({"list-type": "2", **params}, quote_via=urllib.parse.quote)
    url = f"{object_url(stack.endpoint, bucket)}?{query}"
    resp = send("GET", url, sign("GET", url, stack.access_key, stack.secret_key, stack.region))
    assert resp.status == 200, str(resp)
    return ET.fromstring(resp.body)


def test_without_encoding_type_keys_come_back_verbatim(s3, stack, bucket):
    put_keys(s3, bucket, ODD_KEYS)
    root = raw_list(stack, bucket)
    assert strip_ns(root.tag) == "ListBucketResult", root.tag
    keys = [el.text for el in root.iter() if strip_ns(el.tag) == "Key"]
    assert keys == sorted(ODD_KEYS), keys
    assert not [el for el in root if strip_ns(el.tag) == "EncodingType"]


def test_max_keys_zero_returns_no_keys(s3, stack, bucket):
    put_keys(s3, bucket, ["a", "b"])
    root = raw_list(stack, bucket, **{"max-keys": "0"})
    keys = [el.text for el in root.iter() if strip_ns(el.tag) == "Key"]
    assert keys == [], keys
