"""How well access counting batches under load, on a running stack: prints figures, asserts nothing.

    make up && .venv/bin/python tests/bench/access_batching.py [--profile dev] [--n 2000] [--keys 50] [--threads 8]

Sends `n` GETs spread over `keys` objects from `threads` client threads through Envoy, waits until
the access statistics hold all of them, and reports, from the host's own metrics, how many report
calls the filter made (`ipfs_access_batches_total{source="filter"}`) and how many GETs each carried
(`ipfs_access_gets_total`), i.e. store writes per GET. Each report is one store round trip.
"""

import argparse
import concurrent.futures
import os
import re
import sys
import time
import urllib.request
import uuid

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gateway import stack_env  # noqa: E402


def metric(admin_url, name, source):
    text = urllib.request.urlopen(f"{admin_url}/metrics", timeout=10).read().decode()
    m = re.search(rf'^{name}{{source="{source}"}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=os.environ.get("IPFS_S3_PROFILE", "dev"))
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--keys", type=int, default=50)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    env = stack_env(args.profile)
    admin = env["IPFS_S3_ADMIN_URL"]

    def client():
        return boto3.client(
            "s3",
            endpoint_url=env["IPFS_S3_ENDPOINT"],
            aws_access_key_id=env["IPFS_S3_ACCESS_KEY"],
            aws_secret_access_key=env["IPFS_S3_SECRET_KEY"],
            region_name=env["IPFS_S3_REGION"],
            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
                          max_pool_connections=args.threads),
        )

    s3 = client()
    bucket = f"bench-access-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    keys = [f"k{i}" for i in range(args.keys)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x" * 1024)

    batches0 = metric(admin, "ipfs_access_batches_total", "filter")
    gets0 = metric(admin, "ipfs_access_gets_total", "filter")
    clients = [client() for _ in range(args.threads)]

    def work(t):
        c = clients[t]
        for i in range(t, args.n, args.threads):
            c.get_object(Bucket=bucket, Key=keys[i % len(keys)])["Body"].read()

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(work, range(args.threads)))
    elapsed = time.perf_counter() - t0

    deadline = time.monotonic() + 60
    while metric(admin, "ipfs_access_gets_total", "filter") - gets0 < args.n and time.monotonic() < deadline:
        time.sleep(0.2)
    batches = metric(admin, "ipfs_access_batches_total", "filter") - batches0
    gets = metric(admin, "ipfs_access_gets_total", "filter") - gets0
    total = sum(int(s3.head_object(Bucket=bucket, Key=k)["ResponseMetadata"]["HTTPHeaders"].get("x-ipfs-access-count", 0))
                for k in keys)

    print(f"GETs sent                 {args.n} over {args.keys} keys, {args.threads} threads, "
          f"{elapsed:.1f} s ({args.n / elapsed:.0f} GET/s)")
    print(f"GETs reported by filter   {gets:.0f}")
    print(f"report calls (batches)    {batches:.0f}")
    if batches:
        print(f"GETs per report           {gets / batches:.1f}")
        print(f"store writes per GET      {batches / gets:.4f}")
    print(f"sum of X-IPFS-Access-Count {total} (lags by the resolve caches' TTL)")

    for k in keys:
        s3.delete_object(Bucket=bucket, Key=k)
    s3.delete_bucket(Bucket=bucket)


if __name__ == "__main__":
    main()
