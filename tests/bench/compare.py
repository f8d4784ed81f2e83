"""The gateway beside its own ceilings, in one run: prints figures, asserts nothing about speed.

    IPFS_S3_LEGACY=local make up
    .venv/bin/python tests/bench/compare.py [--profile dev] [--clients 16] [--seconds 10]

`make bench-compare` starts a stack of its own for it (with VersityGW as the legacy store) and
stops it afterwards. The load tool is wrk, the same for every target: `--clients` connections,
each on a thread of its own, sending presigned SigV4 requests to the S3 endpoints and plain ones
to Kubo. For each workload, in turn (with the CPU time Envoy, the host and Kubo spent per request):

  PUT 64 MiB / 4 KiB   the gateway | Kubo `add` of the same bytes with the host's parameters
                       (cid-version=1, raw-leaves, no pin) | every other S3 endpoint
  GET 64 MiB / 4 KiB   the gateway | the Kubo gateway by CID | every other S3 endpoint

PUTs run a fixed number of requests per connection (each connection stops after its share, so
none is cut off half way); GETs run for `--seconds` and count the bytes read. Before them, one
1 GiB PUT and GET through the gateway while the host's and Envoy's resident memory is sampled. The
table of ratios comes last.

Other S3 endpoints come from the environment (secrets are never on a command line):
BENCH_COMPARE_S3_URL, BENCH_COMPARE_S3_ACCESS_KEY, BENCH_COMPARE_S3_SECRET_KEY,
BENCH_COMPARE_S3_REGION (default us-east-1), BENCH_COMPARE_S3_NAME; and the stack's legacy store
when it runs one. Kubo's API credentials go to wrk in its script file, never as an argument.
"""

import argparse
import base64
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

import boto3
from botocore.config import Config

from gateway import ROOT, stack_env

MIB = 1024 * 1024
SIZES = {"64 MiB": 64 * MIB, "4 KiB": 4096}
# Requests per connection of a PUT run.
PUT_SHARE = {"64 MiB": 4, "4 KiB": 250}

# One wrk script for every run: the request, an optional quota per connection, the summary as
# JSON. wrk starts each thread as soon as its script is loaded (a large body takes a while) and
# counts its duration from after the last one: with a quota, every connection instead waits for
# one moment (`go`, ms since the epoch) before its first request and says when it finished, and
# the run's duration is the last finish minus `go`.
WRK_SCRIPT = """
local f = assert(io.open({body_path}, "rb"))
wrk.method = {method}
wrk.body = f:read("*a")
f:close()
{headers}
local quota, go, seen, started = {quota}, {go}, 0, false
if quota > 0 then
  local ffi = require("ffi")
  ffi.cdef("typedef struct {{ long sec; long nsec; }} bench_ts; int clock_gettime(int, bench_ts *);")
  local ts = ffi.new("bench_ts")
  local function now_ms()
    ffi.C.clock_gettime(0, ts)
    return tonumber(ts.sec) * 1000 + tonumber(ts.nsec) / 1e6
  end
  function delay()
    if started then return 0 end
    started = true
    local wait = go - now_ms()
    if wait < 0 then io.stderr:write("LATE\\n") end
    return math.max(0, math.ceil(wait))
  end
  function response(status, headers, body)
    seen = seen + 1
    if seen == quota then
      io.stderr:write(string.format("DONE %.3f\\n", now_ms()))
      wrk.thread:stop()
    end
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {{"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,' ..
    '"socket_errors":%d,"p50_us":%d,"p99_us":%d}}\\n', summary.requests, summary.duration, summary.bytes,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def lua(s):
    return json.dumps(s)  # a JSON string is a valid Lua string literal for what goes in here


class Target:
    """One endpoint of a workload: a URL and how to call it."""

    def __init__(self, name, url, method="GET", body=b"", headers=None):
        self.name, self.url, self.method, self.body, self.headers = name, url, method, body, headers or {}


def cpu_seconds(pid):
    """User + system CPU time of a process so far (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(tmp, target, clients, seconds, quota, pids):
    """One wrk run against `target`: {ops, mib_s, p50_ms, p99_ms, cpu: {process: CPU s per request}}."""
    run = tempfile.mkdtemp(dir=tmp)
    body_path = os.path.join(run, "body")
    with open(body_path, "wb") as f:
        f.write(target.body)
    script = os.path.join(run, "run.lua")
    headers = "\n".join(f"wrk.headers[{lua(k)}] = {lua(v)}" for k, v in target.headers.items())
    fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        # Time enough for every thread to load its copy of the body (wrk loads them one by one).
        go_ms = (time.time() + 2 + clients * len(target.body) / 200e6) * 1000
        f.write(WRK_SCRIPT.format(body_path=lua(body_path), method=lua(target.method), headers=headers,
                                  quota=quota, go=f"{go_ms:.0f}"))
    # With a quota the run ends when every connection has had its share (each says DONE; wrk
    # itself would wait for the whole duration, so it is interrupted, which makes it report).
    finished = []
    duration = f"{600 if quota else seconds}s"
    cmd = ["wrk", "-t", str(clients), "-c", str(clients), "-d", duration, "--timeout", "300s", "-s", script, target.url]
    before = {n: cpu_seconds(p) for n, p in pids.items()}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if quota:
        for line in proc.stderr:
            # wrk goes on without a script it could not load; LATE: `go` came before a thread was ready.
            if not line.startswith("DONE "):
                proc.kill()
                raise SystemExit(f"wrk against {target.name}: {line}{proc.stderr.read()[-2000:]}")
            finished.append(float(line.split()[1]))
            if len(finished) == clients:
                proc.send_signal(signal.SIGINT)
                break
    stdout, stderr = proc.communicate()
    spent = {n: cpu_seconds(p) - before[n] for n, p in pids.items()}
    shutil.rmtree(run)
    m = re.search(r"^WRK (\{.*\})$", stdout, re.M)
    if proc.returncode != 0 or not m:
        raise SystemExit(f"wrk against {target.name} failed:\n{stdout[-2000:]}\n{stderr[-2000:]}")
    r = json.loads(m.group(1))
    if r["status_errors"] or r["socket_errors"] or not r["requests"]:
        raise SystemExit(f"{target.name}: {r['status_errors']} error answers, {r['socket_errors']} socket errors "
                         f"in {r['requests']} requests")
    secs = (max(finished) - go_ms) / 1000 if quota else r["duration_us"] / 1e6
    moved = r["requests"] * len(target.body) if target.method == "PUT" or target.method == "POST" else r["bytes"]
    return {"ops": r["requests"] / secs, "mib_s": moved / secs / MIB,
            "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "cpu": {n: c / r["requests"] for n, c in spent.items()}}


def s3_client(url, region, ak, sk):
    return boto3.session.Session().client(
        "s3", endpoint_url=url, region_name=region, aws_access_key_id=ak, aws_secret_access_key=sk,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


class S3Endpoint:
    """An S3 server under test: a bucket of its own, presigned URLs for one key per workload."""

    def __init__(self, name, client):
        self.name, self.s3 = name, client
        self.bucket = f"bench-compare-{uuid.uuid4().hex[:10]}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.keys = set()

    def presign(self, op, key):
        self.keys.add(key)
        return self.s3.generate_presigned_url(op, Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=3600)

    def put(self, size_name, body):
        return Target(self.name, self.presign("put_object", f"put-{size_name.replace(' ', '')}"), "PUT", body)

    def get(self, size_name, body):
        key = f"get-{size_name.replace(' ', '')}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return Target(self.name, self.presign("get_object", key))

    def close(self):
        for key in self.keys:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        self.s3.delete_bucket(Bucket=self.bucket)


def kubo_auth_header(spec):
    """`basic:user:password` (the stack's form of a Kubo AuthSecret) -> an Authorization value."""
    if spec.startswith("basic:"):
        return "Basic " + base64.b64encode(spec[len("basic:"):].encode()).decode()
    return "Bearer " + spec.removeprefix("bearer:")


def multipart(body):
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="object"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + body + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


ADD_QUERY = "cid-version=1&raw-leaves=true&pin=false&progress=false&quieter=true"


def kubo_add(env, body):
    form, ctype = multipart(body)
    headers = {"Content-Type": ctype, "Authorization": kubo_auth_header(env["IPFS_S3_KUBO_API_AUTH"])}
    return Target("Kubo add", f"{env['IPFS_S3_KUBO_API_URL']}/api/v0/add?{ADD_QUERY}", "POST", form, headers)


def kubo_cid(env, body):
    """The CID Kubo gives `body` with the host's parameters (the object is then in its blockstore)."""
    form, ctype = multipart(body)
    u = urllib.parse.urlsplit(env["IPFS_S3_KUBO_API_URL"])
    conn = http.client.HTTPConnection(u.netloc, timeout=120)
    conn.request("POST", f"/api/v0/add?{ADD_QUERY}", body=form,
                 headers={"Content-Type": ctype, "Authorization": kubo_auth_header(env["IPFS_S3_KUBO_API_AUTH"])})
    resp = conn.getresponse()
    text = resp.read().decode()
    if resp.status != 200:
        raise SystemExit(f"Kubo add: {resp.status} {text}")
    return json.loads(text.strip().splitlines()[-1])["Hash"]


def pidfile_pid(env, name):
    with open(os.path.join(env["IPFS_S3_RUN_DIR"], name)) as f:
        return int(f.read().strip())


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))


class RssWatch:
    """Peak resident memory of some processes over a block, sampled every 20 ms, minus where it began."""

    def __init__(self, pids):
        self.pids = pids
        self.start = {n: rss_kib(p) for n, p in pids.items()}
        self.peak = dict(self.start)
        self.stop = threading.Event()

    def __enter__(self):
        def sample():
            while not self.stop.wait(0.02):
                for n, p in self.pids.items():
                    self.peak[n] = max(self.peak[n], rss_kib(p))
        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def figures(self):
        """{process: (MiB at the start, growth in MiB)}"""
        return {n: (self.start[n] / 1024, (self.peak[n] - self.start[n]) / 1024) for n in self.pids}


def big_transfer(pids, gateway, mib):
    """One PUT and one GET of `mib` MiB of generated bytes, streamed (the client holds 1 MiB)."""
    block = os.urandom(MIB)
    key = "big-transfer"
    out = []
    for op in ("put_object", "get_object"):
        u = urllib.parse.urlsplit(gateway.presign(op, key))
        conn = http.client.HTTPConnection(u.netloc, timeout=300)
        with RssWatch({n: pids[n] for n in ("host", "envoy")}) as watch:
            t0 = time.perf_counter()
            if op == "put_object":
                conn.request("PUT", f"{u.path}?{u.query}", body=(block for _ in range(mib)),
                             headers={"Content-Length": str(mib * MIB)})
                resp = conn.getresponse()
                resp.read()
            else:
                conn.request("GET", f"{u.path}?{u.query}")
                resp = conn.getresponse()
                got = 0
                while chunk := resp.read(MIB):
                    got += len(chunk)
                if got != mib * MIB:
                    raise SystemExit(f"GET of {mib} MiB gave {got} bytes")
            took = time.perf_counter() - t0
        if resp.status != 200:
            raise SystemExit(f"{op} of {mib} MiB: {resp.status}")
        out.append((op, mib / took, watch.figures()))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=os.environ.get("IPFS_S3_PROFILE", "dev"))
    ap.add_argument("--clients", type=int, default=16, help="connections (one per wrk thread)")
    ap.add_argument("--seconds", type=int, default=10, help="length of each GET run")
    ap.add_argument("--big-mib", type=int, default=1024, help="size of the memory check's PUT and GET (0: none)")
    ap.add_argument("--sizes", default=",".join(SIZES), help="object sizes to run, of: " + ", ".join(SIZES))
    ap.add_argument("--ops", default="PUT,GET", help="operations to run, of: PUT, GET")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (make setup installs it)")
    env = stack_env(args.profile)
    gateway = S3Endpoint("ipfs-s3", s3_client(env["IPFS_S3_ENDPOINT"], env["IPFS_S3_REGION"],
                                              env["IPFS_S3_ACCESS_KEY"], env["IPFS_S3_SECRET_KEY"]))
    others = []
    if env.get("IPFS_S3_LEGACY_URL"):
        others.append(S3Endpoint("VersityGW (local disk)", s3_client(
            env["IPFS_S3_LEGACY_URL"], env.get("IPFS_S3_LEGACY_REGION", env["IPFS_S3_REGION"]),
            env["IPFS_S3_LEGACY_ACCESS_KEY"], env["IPFS_S3_LEGACY_SECRET_KEY"])))
    if os.environ.get("BENCH_COMPARE_S3_URL"):
        others.append(S3Endpoint(os.environ.get("BENCH_COMPARE_S3_NAME", os.environ["BENCH_COMPARE_S3_URL"]), s3_client(
            os.environ["BENCH_COMPARE_S3_URL"], os.environ.get("BENCH_COMPARE_S3_REGION", "us-east-1"),
            os.environ["BENCH_COMPARE_S3_ACCESS_KEY"], os.environ["BENCH_COMPARE_S3_SECRET_KEY"])))
    pids = {n: pidfile_pid(env, f"{n}.pid") for n in ("envoy", "host", "kubo", "cluster", "redis")
            if os.path.exists(os.path.join(env["IPFS_S3_RUN_DIR"], f"{n}.pid"))}
    rows = []
    tmp = tempfile.mkdtemp(prefix="bench-compare-")
    print(f"{args.clients} clients (wrk, one connection per thread); PUTs: a fixed count per connection, "
          f"GETs: {args.seconds} s each")
    try:
        # First, while the processes are as small as they start (the runs below grow them).
        for op, mib_s, rss in big_transfer(pids, gateway, args.big_mib) if args.big_mib else []:
            print(f"{op.split('_')[0].upper()} {args.big_mib} MiB through the gateway: {mib_s:7.1f} MiB/s, "
                  + ", ".join(f"{n} RSS {start:.0f} MiB +{g:.1f} MiB" for n, (start, g) in rss.items()))
        ops = args.ops.split(",")
        for size_name in args.sizes.split(","):
            body = os.urandom(SIZES[size_name])
            runs = []
            if "PUT" in ops:
                targets = [gateway.put(size_name, body), kubo_add(env, body)] + [o.put(size_name, body) for o in others]
                runs.append(("PUT", [(t.name, wrk(tmp, t, args.clients, args.seconds, PUT_SHARE[size_name], pids))
                                     for t in targets]))
            if "GET" in ops:
                cid = kubo_cid(env, body)
                targets = [gateway.get(size_name, body), Target("Kubo gateway by CID", f"{env['IPFS_S3_GATEWAY_URL']}/ipfs/{cid}")]
                runs.append(("GET", [(t.name, wrk(tmp, t, args.clients, args.seconds, 0, pids))
                                     for t in targets + [o.get(size_name, body) for o in others]]))
            for op, results in runs:
                for name, r in results:
                    print(f"{op} {size_name:<7} {name:<24} {r['ops']:9.1f} ops/s {r['mib_s']:9.1f} MiB/s  "
                          f"p50 {r['p50_ms']:8.2f} ms  p99 {r['p99_ms']:8.2f} ms  CPU ms/request "
                          + " ".join(f"{n} {c * 1000:.2f}" for n, c in r["cpu"].items()))
                rows.append((f"{op} {size_name}", results))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for e in [gateway] + others:
            e.close()
    print("\nworkload      ipfs-s3            its ceiling                    ratio   " + "   ".join(o.name for o in others))
    for workload, results in rows:
        unit = "mib_s" if "MiB" in workload else "ops"
        label = "MiB/s" if unit == "mib_s" else "ops/s"
        (_, ours), (cname, ceil), rest = results[0], results[1], results[2:]
        line = f"{workload:<13} {ours[unit]:8.1f} {label:<8} {cname:<20} {ceil[unit]:8.1f}  {ours[unit] / ceil[unit]:5.2f}"
        for _, r in rest:
            line += f"   {r[unit]:8.1f} {label}"
        if workload == "GET 4 KiB":
            line += f"   (p99 {ours['p99_ms']:.2f} ms vs {ceil['p99_ms']:.2f} ms)"
        print(line)


if __name__ == "__main__":
    main()
