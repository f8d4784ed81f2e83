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


def test_fetch_owner(s3, stack, bucket):
    put_keys(s3, bucket, ["a"])
    with_owner = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"][0]
    assert with_owner.get("Owner", {}).get("ID") == stack.access_key, with_owner
    without = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert "Owner" not in without, without


def test_continuation_token_wins_over_start_after(s3, bucket):
    put_keys(s3, bucket, ["a", "b", "c", "d"])
    first = s3.list_objects_v2(Bucket=bucket, MaxKeys=1, StartAfter="a")
    assert contents(first) == ["b"], first
    second = s3.list_objects_v2(Bucket=bucket, MaxKeys=10, StartAfter="a",
                                ContinuationToken=first["NextContinuationToken"])
    assert contents(second) == ["c", "d"], second
    assert second.get("StartAfter") == "a", second


def test_bad_continuation_token(s3, bucket):
    from s3http import assert_s3_error
    assert_s3_error(lambda: s3.list_objects_v2(Bucket=bucket, ContinuationToken="not a token!"), "InvalidArgument", 400)


# ListObjects (v1): what rclone and s3cmd list with.

def test_v1_lists_with_owner(s3, stack, bucket):
    put_keys(s3, bucket, reversed(TREE))
    page = s3.list_objects(Bucket=bucket)
    assert contents(page) == sorted(TREE), page
    assert page.get("IsTruncated") is False, page
    assert "NextMarker" not in page, page
    for obj in page["Contents"]:
        assert obj.get("Size") == len(f"body of {obj['Key']}"), obj
        assert obj.get("Owner", {}).get("ID") == stack.access_key, obj


def test_v1_marker_paging_without_delimiter(s3, bucket):
    keys = [f"key-{i:03d}" for i in range(25)]
    put_keys(s3, bucket, keys)
    seen, marker = [], ""
    for _ in range(10):
        page = s3.list_objects(Bucket=bucket, MaxKeys=10, Marker=marker)
        assert page.get("Marker") == marker, page
        # Without a delimiter S3 sends no NextMarker: the client resumes after the last key.
        assert "NextMarker" not in page, page
        seen += contents(page)
        if not page.get("IsTruncated"):
            break
        marker = contents(page)[-1]
    assert seen == keys, seen


def test_v1_next_marker_with_delimiter(s3, bucket):
    keys = [f"dir{i}/x" for i in range(5)] + [f"file{i}" for i in range(5)] + ["dir0/y/z"]
    put_keys(s3, bucket, keys)
    seen, marker = [], ""
    for _ in range(10):
        page = s3.list_objects(Bucket=bucket, MaxKeys=3, Delimiter="/", Marker=marker)
        items = prefixes(page) + contents(page)
        assert len(items) <= 3, page
        seen += items
        if not page.get("IsTruncated"):
            assert "NextMarker" not in page, page
            break
        marker = page.get("NextMarker")
        assert marker == max(items), page
    assert sorted(seen) == [f"dir{i}/" for i in range(5)] + [f"file{i}" for i in range(5)], seen
    assert len(seen) == len(set(seen)), seen


def test_v1_prefix_and_delimiter(s3, bucket):
    put_keys(s3, bucket, TREE)
    page = s3.list_objects(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert contents(page) == ["a/1", "a/2"], page
    assert prefixes(page) == ["a/sub/"], page
    assert page.get("Prefix") == "a/" and page.get("Delimiter") == "/", page


def test_v1_odd_keys_and_url_encoding(s3, stack, bucket):
    put_keys(s3, bucket, ODD_KEYS)
    assert contents(s3.list_objects(Bucket=bucket)) == sorted(ODD_KEYS)
    root = raw_list_v1(stack, bucket, **{"encoding-type": "url", "marker": "a b.txt"})
    keys = [el.text for el in root.iter() if strip_ns(el.tag) == "Key"]
    assert [urllib.parse.unquote(k) for k in keys] == sorted(ODD_KEYS)[1:], keys
    assert all(" " not in k and "+" not in k for k in keys), keys
    marker = [el.text for el in root if strip_ns(el.tag) == "Marker"]
    assert marker == ["a%20b.txt"], marker


def test_v1_missing_bucket(s3):
    from conftest import unique_bucket_name
    from s3http import assert_s3_error
    assert_s3_error(lambda: s3.list_objects(Bucket=unique_bucket_name("none")), "NoSuchBucket", 404)


def raw_list_v1(stack, bucket, **params) -> ET.Element:
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    url = f"{object_url(stack.endpoint, bucket)}?{query}"
    resp = send("GET", url, sign("GET", url, stack.access_key, stack.secret_key, stack.region))
    assert resp.status == 200, str(resp)
    root = ET.fromstring(resp.body)
    assert strip_ns(root.tag) == "ListBucketResult", str(resp)
    return root


# ListObjectVersions of a bucket that was never versioned: one `null` version per key.

def test_versions_are_null_and_latest(s3, stack, bucket):
    put_keys(s3, bucket, TREE)
    page = s3.list_object_versions(Bucket=bucket)
    versions = page.get("Versions", [])
    assert [v["Key"] for v in versions] == sorted(TREE), page
    for v in versions:
        assert v.get("VersionId") == "null" and v.get("IsLatest") is True, v
        body = f"body of {v['Key']}".encode()
        assert v.get("Size") == len(body) and v.get("ETag") == quoted_md5(body), v
        assert v.get("Owner", {}).get("ID") == stack.access_key, v
    assert "DeleteMarkers" not in page, page
    assert page.get("IsTruncated") is False, page


def test_versions_paging_with_markers(s3, bucket):
    keys = [f"v{i:02d}" for i in range(7)]
    put_keys(s3, bucket, keys)
    seen, kwargs = [], {}
    for _ in range(10):
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=3, **kwargs)
        seen += [v["Key"] for v in page.get("Versions", [])]
        if not page.get("IsTruncated"):
            break
        assert page.get("NextVersionIdMarker") == "null", page
        kwargs = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert seen == keys, seen
    # A key marker alone resumes after that key as well.
    page = s3.list_object_versions(Bucket=bucket, KeyMarker="v03")
    assert [v["Key"] for v in page["Versions"]] == keys[4:], page


def test_versions_delimiter(s3, bucket):
    put_keys(s3, bucket, TREE)
    page = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [v["Key"] for v in page.get("Versions", [])] == ["c", "d.txt"], page
    assert prefixes(page) == ["a/", "b/"], page
    seen, kwargs = [], {}
    for _ in range(10):
        page = s3.list_object_versions(Bucket=bucket, Delimiter="/", MaxKeys=1, **kwargs)
        seen += prefixes(page) + [v["Key"] for v in page.get("Versions", [])]
        if not page.get("IsTruncated"):
            break
        kwargs = {"KeyMarker": page["NextKeyMarker"]}
    assert seen == ["a/", "b/", "c", "d.txt"], seen


def test_versions_bad_markers(s3, bucket):
    from s3http import assert_s3_error
    assert_s3_error(lambda: s3.list_object_versions(Bucket=bucket, VersionIdMarker="null"), "InvalidArgument", 400)
    assert_s3_error(lambda: s3.list_object_versions(Bucket=bucket, KeyMarker="a", VersionIdMarker="3HL4kq"),
                    "InvalidArgument", 400)
