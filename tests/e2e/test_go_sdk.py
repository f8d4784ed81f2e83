"""The AWS SDK for Go v2 through Envoy, with its defaults (tests/sdk/go): a second real client,
so that the gateway answers what another SDK sends by default — its checksums (CRC32 by default,
CRC32C, CRC64NVME, SHA1, SHA256) and aws-chunked uploads, its multipart upload manager, its typed
errors, GetObjectAttributes, ListBuckets paging, a scope for another region.

`go test` builds the tests; the module's dependencies come from the Go module proxy (go.sum pins
them), the Go toolchain is the machine's."""

import os
import shutil
import subprocess

import pytest

from conftest import REPO, clean_aws_env

GO_TESTS = REPO / "tests" / "sdk" / "go"


def test_go_sdk_v2_with_its_defaults(stack, bucket, tmp_path):
    go = shutil.which("go")
    assert go, "the Go toolchain is needed (tests/sdk/go)"
    env = {
        **clean_aws_env(os.environ),
        "IPFS_S3_ENDPOINT": stack.endpoint,
        "IPFS_S3_REGION": stack.region,
        "IPFS_S3_ACCESS_KEY": stack.access_key,
        "IPFS_S3_SECRET_KEY": stack.secret_key,
        "IPFS_S3_GO_BUCKET": bucket,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "GOFLAGS": "-mod=readonly",
    }
    done = subprocess.run([go, "test", "-count=1", "-v", "./..."], cwd=GO_TESTS, env=env,
                          capture_output=True, text=True, timeout=900)
    report = done.stdout[-6000:] + done.stderr[-3000:]
    assert done.returncode == 0, report
    for name in ["TestPutWithEveryChecksumTheSDKSends", "TestMultipartThroughTheUploadManager",
                 "TestListingPagesAndErrorsAreTyped", "TestAScopeForAnotherRegionIsAuthorizationHeaderMalformed"]:
        assert f"--- PASS: {name}" in done.stdout, report
