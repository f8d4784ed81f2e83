"""Runs the core subset of ceph/s3-tests against the gateway and compares the outcome with the
failures the project knows of.

The suite is not part of the project: it is read from S3_TESTS_DIR (default: `s3-tests` in
`../shared/conformance` next to the checkout). Without it, this prints where it looked and exits 0.

The run starts the `conformance` stack profile (its own ports and data), makes two accounts through
the admin API (the suite's `main` and `alt` users; `tenant` and the IAM users reuse them, the tests
that need them are outside the subset), writes the suite's configuration, runs pytest with the
marker and name expressions kept here (markers.txt, names.txt), then stops the stack.

It fails when a test fails (or is skipped) that expected-failures.txt does not list, and when a
listed test passes (so that the list stays the truth). Each line of that file is
`test_name  reason`.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROFILE = "conformance"
RUN = REPO / ".run" / PROFILE
DEFAULT_SUITE = REPO.parent / "shared" / "conformance" / "s3-tests"


def stack(verb: str) -> None:
    env = {**os.environ, "IPFS_S3_PROFILE": PROFILE}
    subprocess.run([str(REPO / "scripts" / "stack.sh"), verb], cwd=REPO, env=env, check=True)


def make_account(env: dict, name: str) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{env['IPFS_S3_ADMIN_PORT']}/_admin/v1/accounts",
        method="POST",
        data=json.dumps({"name": name, "role": "user"}).encode(),
        headers={"x-ipfs-s3-internal-token": env["IPFS_S3_INTERNAL_TOKEN"], "content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def user(section: str, account: dict, email: str, extra: str = "") -> str:
    key = account["access_key"]
    return (
        f"[{section}]\ndisplay_name = {key}\nuser_id = {key}\nemail = {email}\n"
        f"access_key = {key}\nsecret_key = {account['secret_key']}\n{extra}"
    )


def write_conf(env: dict, main: dict, alt: dict, path: Path) -> None:
    endpoint = env["IPFS_S3_ENDPOINT"].rstrip("/").removeprefix("http://")
    host, port = endpoint.rsplit(":", 1)
    parts = [
        f"[DEFAULT]\nhost = {host}\nport = {port}\nis_secure = False\nssl_verify = False\n",
        "[fixtures]\nbucket prefix = s3t-{random}-\niam name prefix = s3-tests-\niam path prefix = /s3-tests/\n",
        user("s3 main", main, "main@example.com", "api_name = \n"),
        user("s3 alt", alt, "alt@example.com"),
        user("s3 tenant", alt, "tenant@example.com", "tenant = testx\n"),
        user("iam", main, "main@example.com"),
        user("iam root", main, "main@example.com"),
        user("iam alt root", alt, "alt@example.com"),
    ]
    path.write_text("\n".join(parts))
    path.chmod(0o600)


def expected_failures() -> dict[str, str]:
    listed = {}
    for line in (HERE / "expected-failures.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            listed[name] = reason.strip()
    return listed


def outcomes(junit: Path) -> dict[str, str]:
    result = {}
    for case in ET.parse(junit).iter("testcase"):
        tags = {child.tag for child in case}
        result[case.get("name")] = (
            "failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags else "passed"
        )
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep-stack", action="store_true", help="leave the conformance stack running afterwards")
    ap.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --), e.g. -- -k test_multipart")
    args = ap.parse_args()

    suite = Path(os.environ.get("S3_TESTS_DIR") or DEFAULT_SUITE)
    if not (suite / "s3tests" / "functional" / "test_s3.py").is_file():
        print(f"conformance: ceph/s3-tests not found in {suite} (set S3_TESTS_DIR); nothing run")
        return 0

    # The suite writes caches and bytecode beside itself: run a copy.
    copy = RUN / "s3-tests"
    shutil.rmtree(copy, ignore_errors=True)
    RUN.mkdir(parents=True, exist_ok=True)
    shutil.copytree(suite, copy)
    for p in [copy, *copy.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)

    stack("up")
    try:
        env = json.loads((RUN / "stack.json").read_text())["env"]
        run_id = uuid.uuid4().hex[:8]
        main_user = make_account(env, f"s3tests-main-{run_id}")
        alt_user = make_account(env, f"s3tests-alt-{run_id}")
        conf, junit = RUN / "s3tests.conf", RUN / "s3tests-junit.xml"
        write_conf(env, main_user, alt_user, conf)
        cmd = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "s3tests/functional/test_s3.py",
            "-m", (HERE / "markers.txt").read_text().strip(),
            "-k", (HERE / "names.txt").read_text().strip(),
            f"--junitxml={junit}", "-rf", *args.pytest_args,
        ]
        subprocess.run(cmd, cwd=copy, env={**os.environ, "S3TEST_CONF": str(conf)})
    finally:
        if not args.keep_stack:
            stack("down")

    seen = outcomes(junit)
    listed = expected_failures()
    passed = sorted(n for n, o in seen.items() if o == "passed")
    # A test the suite skips did not pass either: it must be listed with the reason too.
    not_passed = sorted(n for n, o in seen.items() if o != "passed")
    unexpected = [n for n in not_passed if n not in listed]
    stale = [n for n in passed if n in listed]
    print(f"\nconformance: {len(passed)} of {len(seen)} s3-tests passed, {len(not_passed)} did not "
          f"({len(not_passed) - len(unexpected)} of them listed in expected-failures.txt)")
    for name in unexpected:
        print(f"  {seen[name].upper()}, not listed: {name}")
    for name in stale:
        print(f"  passes but is listed as failing (remove it from expected-failures.txt): {name}")
    return 1 if unexpected or stale or not seen else 0


if __name__ == "__main__":
    sys.exit(main())
