"""Pin queue throughput of a running stack: prints figures, asserts nothing.

    IPFS_S3_CLUSTER_PEERS=3 scripts/stack.sh up
    .venv/bin/python tests/bench/pins.py [--profile dev] [--n 500] [--factor 3] [--clients 16]

PUTs `--n` small objects of distinct content (so `--n` distinct CIDs to pin) through Envoy from
`--clients` threads, then follows the host's `/metrics` until the cluster has confirmed every
pin (`ipfs_pin_operations_total{op="pin",result="ok"}` grew by `--n`) and the queue is empty.
Reports the PUT rate, the pin rate from the first PUT to the last confirmed pin, and the drain
rate of the queue once the PUTs stopped. The host's `pin_workers`, `pin_batch_size` and
`pin_timeout_secs` (environment of `stack.sh up`) are what is being measured.
"""

import argparse
import os
import re
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gateway import stack_env  # noqa: E402


def metrics(admin_url):
    with urllib.request.urlopen(f"{admin_url}/metrics", timeout=10) as r:
        text = r.read().decode()
    ok = sum(float(v) for v in re.findall(r'^ipfs_pin_operations_total\{op="pin",result="ok"\} (\S+)$', text, re.M))
    errors = sum(float(v) for v in re.findall(r'^ipfs_pin_operations_total\{op="pin",result="error"\} (\S+)$', text, re.M))
    depth = sum(float(v) for v in re.findall(r"^ipfs_pin_queue_depth\{[^}]*\} (\S+)$", text, re.M))
    return ok, errors, depth


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=os.environ.get("IPFS_S3_PROFILE", "dev"))
    ap.add_argument("--n", type=int, default=500, help="objects (distinct CIDs) to put and pin")
    ap.add_argument("--size", type=int, default=1024, help="bytes per object")
    ap.add_argument("--factor", type=int, default=None, help="X-IPFS-Replication-Factor (default: none sent)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent PUT clients")
    ap.add_argument("--timeout", type=float, default=600, help="seconds to wait for the pins")
    args = ap.parse_args()
    env = stack_env(args.profile)
    admin = f"http://127.0.0.1:{env['IPFS_S3_ADMIN_PORT']}"
    s3 = boto3.client(
        "s3",
        endpoint_url=env["IPFS_S3_ENDPOINT"],
        aws_access_key_id=env["IPFS_S3_ACCESS_KEY"],
        aws_secret_access_key=env["IPFS_S3_SECRET_KEY"],
        region_name=env.get("IPFS_S3_REGION", "us-east-1"),
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"total_max_attempts": 1}, max_pool_connections=args.clients),
    )
    if args.factor is not None:
        s3.meta.events.register("before-sign.s3.PutObject",
                                lambda request, **_: request.headers.__setitem__("X-IPFS-Replication-Factor", str(args.factor)))
    bucket = f"bench-pins-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    ok0, err0, _ = metrics(admin)
    bodies = [os.urandom(args.size) for _ in range(args.n)]

    t0 = time.monotonic()
    with ThreadPoolExecutor(args.clients) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"obj-{i:05d}", Body=bodies[i]), range(args.n)))
    t_put = time.monotonic()
    ok_at_put, _, depth_at_put = metrics(admin)

    deadline = t_put + args.timeout
    while True:
        ok, errors, depth = metrics(admin)
        if ok - ok0 >= args.n and depth == 0:
            break
        if time.monotonic() > deadline:
            print(f"gave up after {args.timeout:.0f}s: {ok - ok0:.0f} of {args.n} pins confirmed, queue depth {depth:.0f}")
            return
        time.sleep(0.05)
    t_done = time.monotonic()

    peers = env.get("IPFS_S3_CLUSTER_PEERS", "1")
    print(f"stack {args.profile}: {peers} cluster peer(s); {args.n} objects of {args.size} B, "
          f"factor {args.factor if args.factor is not None else 'default'}, {args.clients} PUT clients")
    print(f"  PUT:          {args.n / (t_put - t0):8.1f} objects/s  ({t_put - t0:.2f} s)")
    print(f"  pinned:       {args.n / (t_done - t0):8.1f} pins/s     (first PUT to last confirmed pin: {t_done - t0:.2f} s)")
    left = args.n - (ok_at_put - ok0)
    if left > 0 and t_done > t_put:
        print(f"  queue drain:  {left / (t_done - t_put):8.1f} pins/s     ({left:.0f} pins left when the PUTs ended, "
              f"queue depth then {depth_at_put:.0f}; drained in {t_done - t_put:.2f} s)")
    print(f"  failed pin attempts (retried): {errors - err0:.0f}")
    # Leave nothing behind: the deletes queue the unpins.
    with ThreadPoolExecutor(args.clients) as pool:
        list(pool.map(lambda i: s3.delete_object(Bucket=bucket, Key=f"obj-{i:05d}"), range(args.n)))
    s3.delete_bucket(Bucket=bucket)


if __name__ == "__main__":
    main()
