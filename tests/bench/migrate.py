"""Migration benchmark on a running stack with a local legacy store: prints figures, asserts nothing.

    IPFS_S3_LEGACY=local IPFS_S3_BUCKET_MODES='bench-legacy-*=legacy' make up
    .venv/bin/python tests/bench/migrate.py [--profile dev] [--small 500] [--large 4] [--jobs 8]

On the same data in the legacy store (VersityGW): `ipfs-s3 migrate` against `rclone copy` into
the gateway (objects/s for 4 KiB objects, MiB/s for 64 MiB ones), then GET throughput of a bucket in
`legacy` mode through the gateway against the same objects straight from the legacy store.
"""

import argparse
import concurrent.futures
import os
import subprocess
import tempfile
import time
import uuid

import boto3
import requests
from botocore.config import Config

from gateway import ROOT, stack_env

SMALL, LARGE = 4 * 1024, 64 * 1024 * 1024


def client(endpoint, region, ak, sk):
    cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4", max_pool_connections=32)
    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=region,
                                          aws_access_key_id=ak, aws_secret_access_key=sk, config=cfg)


def fill(s3, bucket, small, large):
    s3.create_bucket(Bucket=bucket)
    blob = os.urandom(LARGE)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"small/{i:05d}", Body=os.urandom(SMALL)), range(small)))
    for i in range(large):
        s3.put_object(Bucket=bucket, Key=f"large/{i:02d}", Body=blob[i:] + blob[:i])


def timed(cmd, env):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return took


def rclone_env(env):
    """rclone remotes `legacy:` and `gateway:` by environment (no config file, no secret on a command line)."""
    # Nothing of the machine's AWS_* settings (a CA bundle, profiles) may change what rclone does.
    out = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for name, (url, ak, sk) in {
        "LEGACY": (env["IPFS_S3_LEGACY_URL"], env["IPFS_S3_LEGACY_ACCESS_KEY"], env["IPFS_S3_LEGACY_SECRET_KEY"]),
        "GATEWAY": (env["IPFS_S3_ENDPOINT"], env["IPFS_S3_ACCESS_KEY"], env["IPFS_S3_SECRET_KEY"]),
    }.items():
        out.update({
            f"RCLONE_CONFIG_{name}_TYPE": "s3", f"RCLONE_CONFIG_{name}_PROVIDER": "Other",
            f"RCLONE_CONFIG_{name}_ENDPOINT": url, f"RCLONE_CONFIG_{name}_ACCESS_KEY_ID": ak,
            f"RCLONE_CONFIG_{name}_SECRET_ACCESS_KEY": sk, f"RCLONE_CONFIG_{name}_REGION": env["IPFS_S3_REGION"],
            f"RCLONE_CONFIG_{name}_FORCE_PATH_STYLE": "true",
        })
    return out


def get_throughput(s3, bucket, keys, seconds=8.0, workers=16):
    """GETs of presigned URLs of `keys` (round robin) by `workers` threads for `seconds`: (ops/s, MiB/s)."""
    urls = [s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": k}, ExpiresIn=600) for k in keys]
    deadline = time.perf_counter() + seconds

    def worker(w):
        session, n, got, i = requests.Session(), 0, 0, w
        while time.perf_counter() < deadline:
            with session.get(urls[i % len(urls)], stream=True, timeout=120) as r:
                r.raise_for_status()
                for chunk in r.iter_content(1 << 20):
                    got += len(chunk)
            n, i = n + 1, i + 1
        return n, got

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(worker, range(workers)))
    took = time.perf_counter() - t0
    return sum(n for n, _ in results) / took, sum(b for _, b in results) / took / 1048576


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=os.environ.get("IPFS_S3_PROFILE", "dev"))
    ap.add_argument("--small", type=int, default=500)
    ap.add_argument("--large", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=8)
    args = ap.parse_args()
    env = stack_env(args.profile)
    if "IPFS_S3_LEGACY_URL" not in env:
        raise SystemExit("the stack runs no legacy store: start it with IPFS_S3_LEGACY=local IPFS_S3_BUCKET_MODES='bench-legacy-*=legacy'")
    region = env["IPFS_S3_REGION"]
    legacy = client(env["IPFS_S3_LEGACY_URL"], region, env["IPFS_S3_LEGACY_ACCESS_KEY"], env["IPFS_S3_LEGACY_SECRET_KEY"])
    gateway = client(env["IPFS_S3_ENDPOINT"], region, env["IPFS_S3_ACCESS_KEY"], env["IPFS_S3_SECRET_KEY"])
    tag = uuid.uuid4().hex[:8]
    source = f"bench-src-{tag}"
    print(f"filling legacy bucket {source}: {args.small} x 4 KiB, {args.large} x 64 MiB")
    fill(legacy, source, args.small, args.large)

    run = os.path.join(env["IPFS_S3_RUN_DIR"])
    host = [os.path.join(run, "bin", "ipfs-s3"), "--config", os.path.join(run, "host", "ipfs-s3.toml")]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IPFS_S3_")}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for what, prefix, count, size in [("4 KiB objects", "small/", args.small, SMALL), ("64 MiB objects", "large/", args.large, LARGE)]:
            target = f"bench-mig-{tag}-{prefix.strip('/')}"
            t_migrate = timed(host + ["migrate", "--from", source, "--to", target, "--prefix", prefix, "--jobs", str(args.jobs),
                                      "--journal", os.path.join(tmp, f"{target}.jsonl"), "--endpoint", env["IPFS_S3_ENDPOINT"]], clean)
            rtarget = f"bench-rcl-{tag}-{prefix.strip('/')}"
            gateway.create_bucket(Bucket=rtarget)
            t_rclone = timed(["rclone", "copy", f"legacy:{source}/{prefix}", f"gateway:{rtarget}/{prefix}",
                              "--transfers", str(args.jobs), "--checkers", str(args.jobs), "--s3-upload-cutoff", "5G"], rclone_env(env))
            unit = (lambda t: f"{count / t:8.1f} objects/s") if size == SMALL else (lambda t: f"{count * size / t / 1048576:8.1f} MiB/s")
            rows.append((f"copy {what}", f"ipfs-s3 migrate {unit(t_migrate)}", f"rclone copy {unit(t_rclone)}", t_rclone / t_migrate))

        # GETs of a legacy bucket through the gateway, against the same objects straight from the store.
        lb = f"bench-legacy-{tag}"
        gateway.create_bucket(Bucket=lb)
        blob = os.urandom(LARGE)
        gateway.put_object(Bucket=lb, Key="large", Body=blob)
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: gateway.put_object(Bucket=lb, Key=f"small/{i:04d}", Body=os.urandom(SMALL)), range(200)))
        small_keys = [f"small/{i:04d}" for i in range(200)]
        g_ops, _ = get_throughput(gateway, lb, small_keys)
        d_ops, _ = get_throughput(legacy, lb, small_keys)
        rows.append(("GET 4 KiB (legacy bucket)", f"through the gateway {g_ops:8.1f} ops/s", f"straight {d_ops:8.1f} ops/s", g_ops / d_ops))
        _, g_mib = get_throughput(gateway, lb, ["large"], workers=4)
        _, d_mib = get_throughput(legacy, lb, ["large"], workers=4)
        rows.append(("GET 64 MiB (legacy bucket)", f"through the gateway {g_mib:8.1f} MiB/s", f"straight {d_mib:8.1f} MiB/s", g_mib / d_mib))

    print()
    print(f"{'workload':<28} {'ipfs-s3':<38} {'reference':<34} ratio")
    for name, ours, ref, ratio in rows:
        print(f"{name:<28} {ours:<38} {ref:<34} {ratio:5.2f}")


if __name__ == "__main__":
    main()
