"""Conditional requests as S3 answers them: If-Match, If-None-Match, If-Modified-Since and
If-Unmodified-Since on GET and HEAD (304 Not Modified, 412 PreconditionFailed, with S3's
precedence), alike on the filter path and on the host path (`partNumber=1`); and conditional
writes: `If-None-Match: *` creates only (atomically: of racing creates exactly one wins) and
`If-Match: <etag>` replaces only that version (404 NoSuchKey when there is none)."""

import datetime
import email.utils
import threading

import pytest

from s3http import assert_s3_error, object_url, quoted_md5, send, sign

PATHS = {"filter": {}, "host": {"PartNumber": 1}}
DATA = b"conditional body"


@pytest.fixture
def obj(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="c", Body=DATA)
    last_modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    return bucket, "c", put["ETag"], last_modified


def http_date(t: datetime.datetime) -> str:
    return email.utils.format_datetime(t.astimezone(datetime.timezone.utc), usegmt=True)


def cases(etag, lm):
    before, after = lm - datetime.timedelta(seconds=10), lm + datetime.timedelta(seconds=10)
    return [
        # (headers, expected status)
        ({"If-Match": etag}, 200),
        ({"If-Match": '"0123"'}, 412),
        ({"If-Match": "*"}, 200),
        ({"If-None-Match": etag}, 304),
        ({"If-None-Match": '"0123"'}, 200),
        ({"If-Modified-Since": http_date(before)}, 200),
        ({"If-Modified-Since": http_date(after)}, 304),
        ({"If-Unmodified-Since": http_date(after)}, 200),
        ({"If-Unmodified-Since": http_date(before)}, 412),
        # S3's precedence: If-Match true + If-Unmodified-Since false -> 200.
        ({"If-Match": etag, "If-Unmodified-Since": http_date(before)}, 200),
        # If-None-Match false + If-Modified-Since true -> 304.
        ({"If-None-Match": etag, "If-Modified-Since": http_date(before)}, 304),
        # If-None-Match true decides over If-Modified-Since false -> 200.
        ({"If-None-Match": '"0123"', "If-Modified-Since": http_date(after)}, 200),
        # 412 before 304.
        ({"If-Match": '"0123"', "If-None-Match": etag}, 412),
    ]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_read_conditions(stack, obj, path, method):
    bucket, key, etag, lm = obj
    url = object_url(stack.endpoint, bucket, key) + ("?partNumber=1" if path == "host" else "")
    for headers, status in cases(etag, lm):
        signed = sign(method, url, stack.access_key, stack.secret_key, stack.region, headers=headers)
        resp = send(method, url, signed)
        assert resp.status == status, f"{path} {method} {headers}: {resp}"
        if status == 200 and method == "GET":
            assert resp.body == DATA
        if status == 304:
            assert resp.body == b"" and resp.header("etag") == etag, f"{path} {headers}: {resp}"
        if status == 412 and method == "GET":
            assert resp.error_code == "PreconditionFailed", f"{path} {headers}: {resp}"


@pytest.mark.parametrize("path", PATHS)
def test_boto3_conditions(s3, obj, path):
    bucket, key, etag, lm = obj
    assert s3.get_object(Bucket=bucket, Key=key, IfMatch=etag, **PATHS[path])["Body"].read() == DATA
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key=key, IfMatch='"nope"', **PATHS[path]),
                    "PreconditionFailed", 412)
    assert_s3_error(lambda: s3.get_object(Bucket=bucket, Key=key, IfNoneMatch=etag, **PATHS[path]), None, 304)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key=key, IfUnmodifiedSince=lm - datetime.timedelta(days=1),
                                           **PATHS[path]), None, 412)


@pytest.mark.parametrize("path", PATHS)
def test_if_range(stack, obj, path):
    bucket, key, etag, lm = obj
    url = object_url(stack.endpoint, bucket, key) + ("?partNumber=1" if path == "host" else "")
    for if_range, ranged in ((etag, True), ('"stale"', False), (http_date(lm), True),
                             (http_date(lm - datetime.timedelta(seconds=10)), False)):
        headers = {"Range": "bytes=0-3", "If-Range": if_range}
        signed = sign("GET", url, stack.access_key, stack.secret_key, stack.region, headers=headers)
        resp = send("GET", url, signed)
        want = (206, DATA[:4]) if ranged else (200, DATA)
        assert (resp.status, resp.body) == want, f"{path} If-Range {if_range}: {resp}"


def test_put_if_none_match_creates_only(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    assert_s3_error(lambda: s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*"),
                    "PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"
    # After a delete the key may be created again.
    s3.delete_object(Bucket=bucket, Key="once")
    s3.put_object(Bucket=bucket, Key="once", Body=b"third", IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"third"


def test_racing_conditional_creates_have_one_winner(make_s3, bucket):
    clients = [make_s3() for _ in range(8)]
    outcomes = [None] * len(clients)

    def create(i):
        try:
            clients[i].put_object(Bucket=bucket, Key="race", Body=f"writer {i}".encode(), IfNoneMatch="*")
            outcomes[i] = 200
        except Exception as e:  # noqa: BLE001 - the status is what is compared
            outcomes[i] = e.response["ResponseMetadata"]["HTTPStatusCode"]

    threads = [threading.Thread(target=create, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [200] + [412] * (len(clients) - 1), outcomes
    winner = outcomes.index(200)
    assert clients[0].get_object(Bucket=bucket, Key="race")["Body"].read() == f"writer {winner}".encode()


def test_put_if_match_replaces_only_that_version(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="v", Body=b"one")["ETag"]
    assert_s3_error(lambda: s3.put_object(Bucket=bucket, Key="v", Body=b"two", IfMatch='"0000"'),
                    "PreconditionFailed", 412)
    second = s3.put_object(Bucket=bucket, Key="v", Body=b"two", IfMatch=first)["ETag"]
    assert second == quoted_md5(b"two")
    assert_s3_error(lambda: s3.put_object(Bucket=bucket, Key="v", Body=b"three", IfMatch=first),
                    "PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="v")["Body"].read() == b"two"
    assert_s3_error(lambda: s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=first), "NoSuchKey", 404)
    assert_s3_error(lambda: s3.head_object(Bucket=bucket, Key="absent"), None, 404)


def test_put_if_none_match_other_than_star_is_not_implemented(stack, bucket):
    url = object_url(stack.endpoint, bucket, "k")
    signed = sign("PUT", url, stack.access_key, stack.secret_key, stack.region,
                  headers={"If-None-Match": '"abc"'}, body=b"x")
    resp = send("PUT", url, signed, b"x")
    assert (resp.status, resp.error_code) == (501, "NotImplemented"), str(resp)
