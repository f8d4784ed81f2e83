"""Accounts through Envoy, with boto3: accounts made through the admin API work at once (the
filter learns their keys from the host), a disabled one is refused within seconds and works
again once enabled, buckets belong to their creator (isolation on the filter's read path and the
host's operations alike), public-read objects read anonymously, and the IPFS permissions
(allow_pin, allow_unpin, max_replicas) refuse what they forbid before anything is stored."""

import json
import urllib.error
import urllib.request
import uuid

import pytest

from conftest import create_bucket, empty_and_delete_bucket, unique_bucket_name
from s3http import assert_s3_error, object_url, send, sign, wait_until

# The filter keeps what the host said about a key for 2 s, the host its accounts for its own
# cache TTL: a change shows within a few seconds.
TAKES_EFFECT_S = 15


def admin_api(stack, method, path="", body=None):
    url = f"{stack.admin_url}/_admin/v1/accounts{path}"
    data = json.dumps(body).encode() if body is not None else None
    headers = {"x-ipfs-s3-internal-token": stack.env["IPFS_S3_INTERNAL_TOKEN"], "content-type": "application/json"}
    req = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture
def accounts(stack):
    """Makes accounts (role, permissions) and removes them afterwards."""
    made = []

    def make(role="user", **permissions):
        body = {"name": f"e2e-{uuid.uuid4().hex[:10]}", "role": role}
        if permissions:
            body["permissions"] = {"allow_pin": True, "allow_unpin": True, **permissions}
        status, account = admin_api(stack, "POST", body=body)
        assert status in (200, 201), (status, account)
        made.append(account["access_key"])
        return account

    yield make
    for key in made:
        admin_api(stack, "DELETE", f"/{key}")


@pytest.fixture
def owned(s3):
    """Buckets made by other accounts, emptied and deleted by the admin afterwards."""
    names = []
    yield names
    for name in names:
        empty_and_delete_bucket(s3, name)


def client(make_s3, account):
    return make_s3(account["access_key"], account["secret_key"])


def error_code(call):
    try:
        call()
    except Exception as e:  # botocore's ClientError
        return getattr(e, "response", {}).get("Error", {}).get("Code")
    return None


def test_an_account_works_at_once_and_stops_within_seconds_when_disabled(make_s3, stack, accounts, owned, request):
    alice = accounts()
    s3a = client(make_s3, alice)
    name = unique_bucket_name(request.node.name)
    create_bucket(s3a, stack, name)
    owned.append(name)
    s3a.put_object(Bucket=name, Key="k", Body=b"alice's")
    assert s3a.get_object(Bucket=name, Key="k")["Body"].read() == b"alice's"
    url = s3a.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "k"}, ExpiresIn=300)
    assert send("GET", url).body == b"alice's"
    assert [b["Name"] for b in s3a.list_buckets()["Buckets"]] == [name], "ListBuckets lists one's own"

    assert admin_api(stack, "PATCH", f"/{alice['access_key']}", {"enabled": False})[0] == 200
    get = lambda: s3a.get_object(Bucket=name, Key="k")  # noqa: E731
    wait_until(lambda: ((c := error_code(get)) == "InvalidAccessKeyId", c), TAKES_EFFECT_S, "the disabled key to be refused")
    assert error_code(lambda: s3a.put_object(Bucket=name, Key="k2", Body=b"x")) == "InvalidAccessKeyId"
    assert send("GET", url).status == 403

    assert admin_api(stack, "PATCH", f"/{alice['access_key']}", {"enabled": True})[0] == 200
    wait_until(lambda: ((c := error_code(get)) is None, c), TAKES_EFFECT_S, "the enabled key to work again")


def test_buckets_belong_to_their_creator_on_every_read_path(make_s3, s3, stack, accounts, owned, request):
    alice, bob = accounts(), accounts()
    s3a, s3b = client(make_s3, alice), client(make_s3, bob)
    name = unique_bucket_name(request.node.name)
    create_bucket(s3a, stack, name)
    owned.append(name)
    s3a.put_object(Bucket=name, Key="private", Body=b"alice only")
    s3a.put_object(Bucket=name, Key="open", Body=b"for everyone", ACL="public-read")
    # The admin reads it first, so that the filter's cache holds the record when Bob asks.
    assert s3.get_object(Bucket=name, Key="private")["Body"].read() == b"alice only"

    assert_s3_error(lambda: s3b.get_object(Bucket=name, Key="private"), "AccessDenied", 403)
    assert_s3_error(lambda: s3b.head_object(Bucket=name, Key="private"), None, 403)
    assert_s3_error(lambda: s3b.get_object(Bucket=name, Key="missing"), "AccessDenied", 403)
    assert_s3_error(lambda: s3b.list_objects_v2(Bucket=name), "AccessDenied", 403)
    assert_s3_error(lambda: s3b.put_object(Bucket=name, Key="intruder", Body=b"x"), "AccessDenied", 403)
    assert_s3_error(lambda: s3b.delete_object(Bucket=name, Key="private"), "AccessDenied", 403)
    assert_s3_error(lambda: s3b.copy_object(Bucket=name, Key="c", CopySource={"Bucket": name, "Key": "private"}),
                    "AccessDenied", 403)
    assert_s3_error(lambda: create_bucket(s3b, stack, name), "BucketAlreadyExists", 409)
    assert name not in [b["Name"] for b in s3b.list_buckets()["Buckets"]]
    presigned = s3b.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "private"}, ExpiresIn=300)
    resp = send("GET", presigned)
    assert (resp.status, resp.error_code) == (403, "AccessDenied"), str(resp)
    assert b"alice only" not in resp.body

    # public-read: Bob and anyone at all may read it; nothing else opens.
    assert s3b.get_object(Bucket=name, Key="open")["Body"].read() == b"for everyone"
    anonymous = send("GET", object_url(stack.endpoint, name, "open"))
    assert (anonymous.status, anonymous.body) == (200, b"for everyone"), str(anonymous)
    anonymous = send("GET", object_url(stack.endpoint, name, "private"))
    assert (anonymous.status, anonymous.error_code) == (403, "AccessDenied"), str(anonymous)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]
    assert sorted(keys) == ["open", "private"], keys


def test_ipfs_permissions_refuse_what_they_forbid(make_s3, stack, accounts, owned, request):
    no_pin = accounts(allow_pin=False)
    no_unpin = accounts(allow_unpin=False)
    capped = accounts(max_replicas=1)
    for account in (no_pin, no_unpin, capped):
        name = unique_bucket_name(request.node.name)
        create_bucket(client(make_s3, account), stack, name)
        owned.append(name)
        account["bucket"] = name
    s3p, s3u, s3c = (client(make_s3, a) for a in (no_pin, no_unpin, capped))

    assert_s3_error(lambda: s3p.put_object(Bucket=no_pin["bucket"], Key="k", Body=b"x"), "AccessDenied", 403)
    assert "Contents" not in s3p.list_objects_v2(Bucket=no_pin["bucket"]), "nothing stored"

    s3u.put_object(Bucket=no_unpin["bucket"], Key="k", Body=b"kept")
    assert_s3_error(lambda: s3u.delete_object(Bucket=no_unpin["bucket"], Key="k"), "AccessDenied", 403)
    assert_s3_error(lambda: s3u.put_object(Bucket=no_unpin["bucket"], Key="k", Body=b"over"), "AccessDenied", 403)
    assert s3u.get_object(Bucket=no_unpin["bucket"], Key="k")["Body"].read() == b"kept"

    url = object_url(stack.endpoint, capped["bucket"], "k")
    for factor, want in (("2", 400), ("1", 200)):
        headers = sign("PUT", url, capped["access_key"], capped["secret_key"], stack.region,
                       headers={"x-ipfs-replication-factor": factor}, body=b"r")
        resp = send("PUT", url, headers, b"r")
        assert resp.status == want, str(resp)
        if want == 400:
            assert resp.error_code == "InvalidArgument" and b"at most 1 replicas" in resp.body, str(resp)
    assert s3c.get_object(Bucket=capped["bucket"], Key="k")["Body"].read() == b"r"


def test_rclone_as_two_users(stack, accounts, owned, tmp_path, request):
    from test_clients import Rclone

    def rclone_as(account, name):
        home = tmp_path / name
        home.mkdir()
        (home / "rclone.conf").write_text("")
        r = Rclone(stack, home)
        r.env.update(RCLONE_CONFIG_GW_ACCESS_KEY_ID=account["access_key"], RCLONE_CONFIG_GW_SECRET_ACCESS_KEY=account["secret_key"])
        return r

    alice, bob = rclone_as(accounts(), "alice"), rclone_as(accounts(), "bob")
    name = unique_bucket_name(request.node.name)
    alice("mkdir", f"gw:{name}")
    owned.append(name)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"alice's file")
    alice("copy", src, f"gw:{name}")
    assert alice("cat", f"gw:{name}/a.txt").stdout == "alice's file"
    for args in (("lsf", f"gw:{name}"), ("cat", f"gw:{name}/a.txt"), ("copy", src, f"gw:{name}/bob")):
        denied = bob(*args, check=False)
        assert denied.returncode != 0 and "AccessDenied" in denied.stderr, (args, denied.stderr[-2000:])
    assert name not in bob("lsf", "gw:").stdout.split()
