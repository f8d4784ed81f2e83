"""Benchmark of a running stack through Envoy, with boto3: prints figures, asserts nothing.

    make up && .venv/bin/python tests/bench/gateway.py [--profile dev] [--n 300] [--no-compare]

Measures small-object PUT latency (host write path: Kubo add + Redis), GET latency of one hot key
(filter L1 hit, bytes from the host's object cache), GET latency with the filter cache defeated (a
fresh key per request: a resolve callout to the host each time), HEAD latency, the cache hit ratios
the host and Envoy report for that repeated-read workload, the throughput of a 20 MiB PUT and
GET, and of a 64 MiB PUT and GET plain and with SSE-S3, with the ratio of their times. Unless --no-compare, it then restarts the host with the object cache off
(IPFS_S3_SMALL_OBJECT_MAX_BYTES=0, so small objects stream from the Kubo gateway like large ones),
measures the hot GET again, and restarts the host as it was.
"""

import argparse
import http.client
import os
import re
import socket
import statistics
import subprocess
import time
import urllib.request
import uuid

import boto3
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stack_env(profile):
    env = {}
    with open(os.path.join(ROOT, ".run", profile, "stack.env")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v.strip("'\"")
    return env


def timed(fn, n):
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return samples


def report(name, samples):
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    print(f"{name:<34} n={len(samples):<5} p50={p(0.5):7.2f} ms  p90={p(0.9):7.2f} ms  "
          f"p99={p(0.99):7.2f} ms  mean={statistics.mean(samples):7.2f} ms")


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket: Envoy's admin interface is one."""

    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def fetch(url):
    """The body of `url`, or of `unix:<socket path>:<target>` (Envoy's admin interface)."""
    if not url.startswith("unix:"):
        return urllib.request.urlopen(url, timeout=10).read()
    path, target = url[len("unix:"):].rsplit(":", 1)
    conn = UnixHTTPConnection(path)
    try:
        conn.request("GET", target)
        return conn.getresponse().read()
    finally:
        conn.close()


def scrape(url):
    """Prometheus text -> {sample with labels: value}."""
    out = {}
    for line in fetch(url).decode().splitlines():
        m = re.match(r"^(\S+?)(\{.*\})?\s+(\S+)$", line)
        if m and not line.startswith("#"):
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def ratio_report(before_host, after_host, before_envoy, after_envoy):
    d = lambda a, b, k: b.get(k, 0.0) - a.get(k, 0.0)
    for cache in ("object_memory", "object_redis", "resolve"):
        hits = d(before_host, after_host, f'ipfs_cache_lookups_total{{cache="{cache}",result="hit"}}')
        misses = d(before_host, after_host, f'ipfs_cache_lookups_total{{cache="{cache}",result="miss"}}')
        if hits + misses:
            print(f"  hit ratio {cache:<22} {hits / (hits + misses):6.3f}  ({hits:.0f} hits, {misses:.0f} misses)")
    hits = d(before_envoy, after_envoy, "ipfs_s3_filter_l1_hits{}")
    misses = d(before_envoy, after_envoy, "ipfs_s3_filter_l1_misses{}")
    if hits + misses:
        print(f"  hit ratio {'filter L1 (Envoy)':<22} {hits / (hits + misses):6.3f}  ({hits:.0f} hits, {misses:.0f} misses)")


def restart_host(profile, extra_env):
    env = dict(os.environ, IPFS_S3_PROFILE=profile, **extra_env)
    for verb in ("stop host", "up"):
        subprocess.run([os.path.join(ROOT, "scripts", "stack.sh"), *verb.split()], env=env, check=True,
                       stdout=subprocess.DEVNULL)


def put_get(s3, bucket, key, body, **put_args):
    """Seconds of one PUT and one GET of `body` (checked to come back the same)."""
    t0 = time.perf_counter()
    s3.put_object(Bucket=bucket, Key=key, Body=body, **put_args)
    put_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    get_s = time.perf_counter() - t0
    assert got == body, f"{key} came back different"
    return put_s, get_s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=os.environ.get("IPFS_S3_PROFILE", "dev"))
    ap.add_argument("--n", type=int, default=300, help="requests per latency measurement")
    ap.add_argument("--no-compare", action="store_true", help="skip the run with the host object cache off")
    args = ap.parse_args()
    env = stack_env(args.profile)
    s3 = boto3.client(
        "s3",
        endpoint_url=env["IPFS_S3_ENDPOINT"],
        aws_access_key_id=env["IPFS_S3_ACCESS_KEY"],
        aws_secret_access_key=env["IPFS_S3_SECRET_KEY"],
        region_name=env["IPFS_S3_REGION"],
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"total_max_attempts": 1}),
    )
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    small = os.urandom(4096)
    n = args.n
    try:
        report("PUT 4 KiB (new key each)", timed(lambda i: s3.put_object(Bucket=bucket, Key=f"small/{i}", Body=small), n))
        s3.get_object(Bucket=bucket, Key="small/0")["Body"].read()
        metrics_url, envoy_url = env["IPFS_S3_METRICS_URL"], f"unix:{env['IPFS_S3_ENVOY_ADMIN_SOCKET']}:/stats/prometheus"
        host0, envoy0 = scrape(metrics_url), scrape(envoy_url)
        hot = lambda i: s3.get_object(Bucket=bucket, Key="small/0")["Body"].read()
        report("GET 4 KiB hot, host object cache", timed(hot, n))
        ratio_report(host0, scrape(metrics_url), envoy0, scrape(envoy_url))
        report("GET 4 KiB, new key (L1 miss)", timed(lambda i: s3.get_object(Bucket=bucket, Key=f"small/{i}")["Body"].read(), n))
        report("HEAD, same key (L1 hit)", timed(lambda i: s3.head_object(Bucket=bucket, Key="small/0"), n))
        big = os.urandom(20 * 1024 * 1024)
        put_s, get_s = put_get(s3, bucket, "big", big)
        print(f"{'PUT 20 MiB':<34} {put_s:6.2f} s  {20 / put_s:7.1f} MiB/s")
        print(f"{'GET 20 MiB':<34} {get_s:6.2f} s  {20 / get_s:7.1f} MiB/s")
        # 64 MiB plain (GET straight from the IPFS gateway) and SSE-S3 (sealed on the way in,
        # read and opened by the host), in the same run.
        mib = 64
        large = os.urandom(mib * 1024 * 1024)
        plain = put_get(s3, bucket, "large-plain", large)
        sealed = put_get(s3, bucket, "large-sse", large, ServerSideEncryption="AES256")
        for what, (p_s, g_s) in (("plain", plain), ("SSE-S3", sealed)):
            print(f"{f'PUT {mib} MiB {what}':<34} {p_s:6.2f} s  {mib / p_s:7.1f} MiB/s")
            print(f"{f'GET {mib} MiB {what}':<34} {g_s:6.2f} s  {mib / g_s:7.1f} MiB/s")
        print(f"{'encrypted / plain time':<34} PUT {sealed[0] / plain[0]:5.2f}x  GET {sealed[1] / plain[1]:5.2f}x")
        if not args.no_compare:
            restart_host(args.profile, {"IPFS_S3_SMALL_OBJECT_MAX_BYTES": "0"})
            try:
                # Past the filter's TTL, so no cached answer still names the host's cache.
                time.sleep(int(env.get("IPFS_S3_CACHE_TTL_MS", "1000")) / 1000 + 0.5)
                hot(0)
                report("GET 4 KiB hot, IPFS gateway", timed(hot, n))
            finally:
                restart_host(args.profile, {})
    finally:
        for key in [f"small/{i}" for i in range(n)] + ["big", "large-plain", "large-sse"]:
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)


if __name__ == "__main__":
    main()
