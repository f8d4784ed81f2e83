"""Scale-out benchmark: aggregate PUT and GET throughput through one gateway node, then spread
over every node of a sidecar-topology stack, in one run. Prints figures, asserts nothing.

    IPFS_S3_TOPOLOGY=sidecars IPFS_S3_CLUSTER_PEERS=3 make up
    .venv/bin/python tests/bench/nodes.py [--profile dev] [--clients 16] [--seconds 10] [--size 65536]

`make bench-nodes` starts a 3-node stack of its own for it and stops it afterwards. Each client
is a thread with one keep-alive connection per node, sending presigned SigV4 requests (signed in
the thread); with one node every client talks to node 0, with N nodes client `c` talks to node
`c mod N`. GETs read objects written beforehand (each once through every node first, so the
filter and host caches are as warm as the workload makes them). On one machine every node shares
its cores, so the ratio says what the nodes cost each other as much as what they add.
"""

import argparse
import http.client
import json
import os
import random
import threading
import time
import urllib.parse
import uuid

import boto3
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(profile):
    with open(os.path.join(ROOT, ".run", profile, "stack.json")) as f:
        return json.load(f)


def presigner(env, endpoint):
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=env["IPFS_S3_REGION"],
        aws_access_key_id=env["IPFS_S3_ACCESS_KEY"], aws_secret_access_key=env["IPFS_S3_SECRET_KEY"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


class Client(threading.Thread):
    """Sends `op` requests to its node until `deadline`; counts answers and bytes."""

    def __init__(self, signer, endpoint, op, bucket, keys, body, deadline, prefix):
        super().__init__(daemon=True)
        self.signer, self.op, self.bucket, self.keys, self.body = signer, op, bucket, keys, body
        self.deadline, self.prefix = deadline, prefix
        netloc = urllib.parse.urlsplit(endpoint).netloc
        self.conn = http.client.HTTPConnection(netloc, timeout=60)
        self.done = self.bytes = self.errors = 0

    def run(self):
        n = 0
        while time.monotonic() < self.deadline:
            if self.op == "put":
                key, method, params = f"{self.prefix}/{n}", "PUT", "put_object"
            else:
                key, method, params = random.choice(self.keys), "GET", "get_object"
            url = self.signer.generate_presigned_url(params, Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=600)
            parts = urllib.parse.urlsplit(url)
            try:
                self.conn.request(method, f"{parts.path}?{parts.query}", body=self.body if method == "PUT" else None)
                resp = self.conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                self.errors += 1
                self.conn.close()
                continue
            if resp.status == 200:
                self.done += 1
                self.bytes += len(self.body) if method == "PUT" else len(data)
            else:
                self.errors += 1
            n += 1


def run(signers, endpoints, nodes, op, bucket, keys, body, clients, seconds):
    deadline = time.monotonic() + seconds
    threads = [
        Client(signers[c % nodes], endpoints[c % nodes], op, bucket, keys, body, deadline, f"{op}-{nodes}-{c}-{uuid.uuid4().hex[:6]}")
        for c in range(clients)
    ]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    done = sum(t.done for t in threads)
    return done / took, sum(t.bytes for t in threads) / took / 2**20, sum(t.errors for t in threads)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=os.environ.get("IPFS_S3_PROFILE", "dev"))
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients (threads)")
    ap.add_argument("--seconds", type=float, default=10, help="length of each measurement")
    ap.add_argument("--size", type=int, default=64 * 1024, help="object size in bytes")
    ap.add_argument("--objects", type=int, default=200, help="objects the GETs read")
    args = ap.parse_args()

    state = load(args.profile)
    env, nodes = state["env"], state["nodes"]
    if len(nodes) < 2:
        print(f"scale-out: profile {args.profile} runs one gateway node; start it with IPFS_S3_TOPOLOGY=sidecars "
              "IPFS_S3_CLUSTER_PEERS=3 (or run make bench-nodes) to compare 1 and N nodes")
        return
    endpoints = [n["endpoint"] for n in nodes]
    signers = [presigner(env, e) for e in endpoints]
    s3 = signers[0]
    bucket = f"bench-nodes-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(args.size)
    keys = [f"get/{i}" for i in range(args.objects)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=body)
    for signer in signers:
        for k in keys:
            signer.get_object(Bucket=bucket, Key=k)["Body"].read()

    n = len(nodes)
    print(f"{args.clients} clients, {args.size} B objects, {args.seconds:.0f} s per figure, {n} node(s), profile {args.profile}")
    print(f"{'workload':<10} {'1 node':>22} {f'{n} nodes':>22} {'ratio':>7}")
    for op in ("put", "get"):
        one = run(signers, endpoints, 1, op, bucket, keys, body, args.clients, args.seconds)
        many = run(signers, endpoints, n, op, bucket, keys, body, args.clients, args.seconds)
        fmt = lambda r: f"{r[0]:8.0f} ops/s {r[1]:6.1f} MiB/s"
        errors = f"  (errors: {one[2]} / {many[2]})" if one[2] or many[2] else ""
        print(f"{op.upper():<10} {fmt(one):>22} {fmt(many):>22} {many[0] / one[0] if one[0] else 0:7.2f}{errors}")
    print(f"(bucket {bucket} left in place; delete it with the aws CLI when done)")


if __name__ == "__main__":
    main()
