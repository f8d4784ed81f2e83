"""Canned ACLs through Envoy: `private` and `public-read` on buckets and objects, set with
`x-amz-acl` or Put*Acl and shown by Get*Acl with S3's grants (the owner's FULL_CONTROL, and READ
for the AllUsers group when public-read). Other ACLs are NotImplemented (test_not_implemented.py)."""

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def grants(acl):
    return sorted((g["Grantee"].get("URI") or g["Grantee"].get("ID"), g["Permission"]) for g in acl["Grants"])


def test_bucket_acl_round_trip(s3, bucket, stack):
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert grants(acl) == [(stack.access_key, "FULL_CONTROL")], acl
    assert acl["Owner"]["ID"] == stack.access_key
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert grants(s3.get_bucket_acl(Bucket=bucket)) == [(ALL_USERS, "READ"), (stack.access_key, "FULL_CONTROL")]
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert grants(s3.get_bucket_acl(Bucket=bucket)) == [(stack.access_key, "FULL_CONTROL")]


def test_object_acl_from_put_and_put_object_acl(s3, bucket, stack):
    s3.put_object(Bucket=bucket, Key="open", Body=b"x", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="closed", Body=b"y")
    assert (ALL_USERS, "READ") in grants(s3.get_object_acl(Bucket=bucket, Key="open"))
    assert grants(s3.get_object_acl(Bucket=bucket, Key="closed")) == [(stack.access_key, "FULL_CONTROL")]
    s3.put_object_acl(Bucket=bucket, Key="closed", ACL="public-read")
    assert (ALL_USERS, "READ") in grants(s3.get_object_acl(Bucket=bucket, Key="closed"))
    # Changing the ACL changes nothing else.
    assert s3.get_object(Bucket=bucket, Key="closed")["Body"].read() == b"y"
    # A copy does not take its source's ACL.
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "open"})
    assert grants(s3.get_object_acl(Bucket=bucket, Key="copy")) == [(stack.access_key, "FULL_CONTROL")]
