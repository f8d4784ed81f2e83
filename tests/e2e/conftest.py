"""Fixtures of the end-to-end suite: the running stack, S3 clients, the aws CLI.

The session starts the real stack once with `IPFS_S3_PROFILE=test scripts/stack.sh up` and stops it
at the end with `down`. What the stack is (its settings, its components and their pids) is read
from the `stack.json` the stack tool writes; faults are injected with `scripts/stack.sh stop|kill
<component>`. With `IPFS_S3_E2E_KEEP_STACK=1` the suite uses a stack that is already
running (it only reads `.run/test/stack.json`) and leaves it running (start it with the settings
of `E2E_STACK_DEFAULTS` below in the environment, as the suite would). `IPFS_S3_E2E_PROFILE` picks
another profile than `test` (so that two suites, or a suite and a hand-run test stack, do not share
one run directory); the stack script's own variables (ports, offsets) pass through unchanged.

Raw HTTP helpers (unsigned, tampered and hand-signed requests) live in `s3http.py`.
"""

import json
import os
import re
import subprocess
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from s3http import basic_auth, unix_get

REPO = Path(__file__).resolve().parents[2]
PROFILE = os.environ.get("IPFS_S3_E2E_PROFILE", "test")
STACK_JSON = REPO / ".run" / PROFILE / "stack.json"
AWS_CLI = REPO / ".venv" / "bin" / "aws"
STACK_TIMEOUT_S = 900


def stack_state(run: Path) -> dict:
    """`stack.json` of the stack whose run dir is `run`, as it is now."""
    return json.loads((run / "stack.json").read_text())


def component_pid(run: Path, name: str) -> int | None:
    """The pid of component `name` of the stack in `run` (None when it does not run)."""
    for c in stack_state(run)["components"]:
        if c["name"] == name:
            return c["pid"]
    raise AssertionError(f"no component {name} in {run / 'stack.json'}")


def load_stack(run: Path) -> "Stack":
    return Stack(stack_state(run)["env"])


@dataclass(frozen=True)
class Stack:
    """What `stack.json` says about the running stack's settings."""

    env: dict

    def _get(self, name: str) -> str:
        value = self.env.get(name)
        assert value, f"{name} missing from {STACK_JSON}: {sorted(self.env)}"
        return value

    def port(self, name: str) -> int:
        return int(self._get(f"IPFS_S3_{name}_PORT"))

    @property
    def endpoint(self) -> str:
        return self._get("IPFS_S3_ENDPOINT").rstrip("/")

    @property
    def access_key(self) -> str:
        return self._get("IPFS_S3_ACCESS_KEY")

    @property
    def secret_key(self) -> str:
        return self._get("IPFS_S3_SECRET_KEY")

    @property
    def region(self) -> str:
        return self._get("IPFS_S3_REGION")

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.port('ADMIN')}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.port('GATEWAY')}"

    @property
    def kubo_api_url(self) -> str:
        return f"http://127.0.0.1:{self.port('KUBO_API')}"

    @property
    def cluster_api_url(self) -> str:
        return f"http://127.0.0.1:{self.port('CLUSTER_API')}"

    # Redis, Kubo's RPC API and the cluster's REST API require the stack's credentials.
    @property
    def kubo_auth(self) -> dict:
        """Authorization header of Kubo's RPC API for every /api/v0 path (every peer's Kubo)."""
        return basic_auth(self._get("IPFS_S3_KUBO_ADMIN_AUTH"))

    @property
    def cluster_auth(self) -> dict:
        """Authorization header of the cluster REST API (every peer's)."""
        return basic_auth(self._get("IPFS_S3_CLUSTER_API_AUTH"))

    @property
    def redis_password(self) -> str:
        return self._get("IPFS_S3_REDIS_PASSWORD")

    @property
    def envoy_admin_socket(self) -> str:
        return self._get("IPFS_S3_ENVOY_ADMIN_SOCKET")

    def envoy_admin(self, target: str) -> tuple[int, bytes]:
        """(status, body) of Envoy's admin interface (a Unix socket) for `target`, e.g. `/stats`."""
        return unix_get(self.envoy_admin_socket, target)


def clean_aws_env(env: dict) -> dict:
    """A copy of `env` with every AWS_* setting removed, so that nothing from the machine's
    environment (profiles, CA bundles, endpoints, checksum modes) changes what the clients send."""
    return {k: v for k, v in env.items() if not k.startswith("AWS_")}


# Settings the suite's own stack runs with (the environment may override them): access counts are
# written often, so tests see them soon; a legacy S3 store (VersityGW) runs beside it, holding the
# buckets whose names start with LEGACY_PREFIX, and those being migrated from it, whose names start
# with MIGRATING_PREFIX.
LEGACY_PREFIX = "e2e-legacy-"
MIGRATING_PREFIX = "e2e-moving-"
E2E_STACK_DEFAULTS = {
    "IPFS_S3_ACCESS_FLUSH_MS": "200",
    # Content no node provides is CIDNotFound after this long (the default is 30 s).
    "IPFS_S3_RETRIEVAL_TIMEOUT_SECS": "3",
    "IPFS_S3_LEGACY": "local",
    "IPFS_S3_BUCKET_MODES": f"{LEGACY_PREFIX}*=legacy,{MIGRATING_PREFIX}*=migrating",
}


# Settings of the caller's environment that may pass to a stack a test module starts on its own
# profile; every other IPFS_S3_* (ports, offsets, other stacks' profiles) would make it collide
# with another stack.
OWN_STACK_PASSED = {"IPFS_S3_HOST_BIN", "IPFS_S3_FILTER_WASM_SRC", "IPFS_S3_START_TIMEOUT", "IPFS_S3_STOP_TIMEOUT", "IPFS_S3_LOG"}


def own_stack_env(**settings) -> dict:
    """The environment of a stack a module runs on its own profile: the caller's, without its
    IPFS_S3_* settings but those of `OWN_STACK_PASSED`, with `settings` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPFS_S3_") or k in OWN_STACK_PASSED}
    env.update(settings)
    return env


def stack_cmd(verb: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs `scripts/stack.sh <verb>` (words: `stop kubo`, `kill host`), by default on the suite's profile with
    the caller's settings over `E2E_STACK_DEFAULTS`."""
    env = env if env is not None else {**E2E_STACK_DEFAULTS, **os.environ, "IPFS_S3_PROFILE": PROFILE}
    return subprocess.run(
        [str(REPO / "scripts" / "stack.sh"), *verb.split()],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=STACK_TIMEOUT_S,
    )


def stack_up_or_fail(env: dict | None = None) -> subprocess.CompletedProcess:
    """`stack.sh up`; when it fails, `down` and fail the tests with what `up` printed."""
    up = stack_cmd("up", env)
    if up.returncode != 0:
        down = stack_cmd("down", env)
        pytest.fail(
            f"scripts/stack.sh up failed (exit {up.returncode})\n--- stdout\n{up.stdout[-4000:]}"
            f"\n--- stderr\n{up.stderr[-4000:]}\n--- down: exit {down.returncode}",
            pytrace=False,
        )
    return up


def stack_cmd_ok(verb: str) -> str:
    """`stack_cmd` that fails the test when the command fails; returns its output. `up` starts only
    what is stopped, so it restores a component a test stopped (`stop kubo`)."""
    done = stack_cmd(verb)
    assert done.returncode == 0, (
        f"scripts/stack.sh {verb} exited {done.returncode}\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.fixture(scope="session")
def aws_isolation(tmp_path_factory):
    """Points boto3 and the aws CLI at empty config/credential files of their own."""
    home = tmp_path_factory.mktemp("aws")
    (home / "config").write_text("")
    (home / "credentials").write_text("")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(clean_aws_env(saved))
    os.environ["AWS_CONFIG_FILE"] = str(home / "config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "credentials")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    yield home
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def stack(aws_isolation):
    keep = os.environ.get("IPFS_S3_E2E_KEEP_STACK") == "1"
    started = False
    if not keep:
        started = True
        stack_up_or_fail()
    if not STACK_JSON.exists():
        pytest.fail(f"{STACK_JSON.relative_to(REPO)} does not exist after `stack.sh up`", pytrace=False)
    yield load_stack(STACK_JSON.parent)
    if started:
        down = stack_cmd("down")
        if down.returncode != 0:
            warnings.warn(f"scripts/stack.sh down failed: {down.stdout[-2000:]}{down.stderr[-2000:]}")


def client_config(**extra) -> Config:
    # No retries: a request that fails must show up as a failure, not be hidden by a second try.
    return Config(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        retries={"total_max_attempts": 1},
        connect_timeout=10,
        read_timeout=120,
        **extra,
    )


@pytest.fixture(scope="session")
def make_s3(stack):
    """Builds a boto3 S3 client for the stack; credentials default to the stack's own."""

    def make(access_key=None, secret_key=None, config=None):
        return boto3.session.Session().client(
            "s3",
            endpoint_url=stack.endpoint,
            region_name=stack.region,
            aws_access_key_id=access_key or stack.access_key,
            aws_secret_access_key=secret_key or stack.secret_key,
            config=config or client_config(),
        )

    return make


@pytest.fixture(scope="session")
def s3(make_s3):
    return make_s3()


@pytest.fixture(scope="session")
def direct(stack):
    """A client of the legacy store itself (VersityGW), with its own credentials, not the gateway's."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=stack.env["IPFS_S3_LEGACY_URL"],
        region_name=stack.env["IPFS_S3_LEGACY_REGION"],
        aws_access_key_id=stack.env["IPFS_S3_LEGACY_ACCESS_KEY"],
        aws_secret_access_key=stack.env["IPFS_S3_LEGACY_SECRET_KEY"],
        config=client_config(max_pool_connections=16),
    )


def create_bucket(s3, stack, name):
    kwargs = {"Bucket": name}
    if stack.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": stack.region}
    return s3.create_bucket(**kwargs)


def empty_and_delete_bucket(s3, name):
    """Best effort: deletes every key, then the bucket. Returns what went wrong, or None."""
    try:
        token = None
        while True:
            kwargs = {"Bucket": name}
            if token:
                kwargs["ContinuationToken"] = token
            page = s3.list_objects_v2(**kwargs)
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=obj["Key"])
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                break
        s3.delete_bucket(Bucket=name)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return None
        return repr(e)
    return None


def unique_bucket_name(hint: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")[:40].strip("-") or "t"
    return f"e2e-{slug}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def bucket(s3, stack, request):
    """A fresh bucket for one test, emptied and deleted afterwards."""
    name = unique_bucket_name(request.node.name)
    create_bucket(s3, stack, name)
    yield name
    problem = empty_and_delete_bucket(s3, name)
    if problem:
        warnings.warn(f"cleaning up bucket {name} failed: {problem}")


class AwsCli:
    """Runs the aws CLI against the stack with its own config file and only the stack's
    credentials in the environment."""

    def __init__(self, stack: Stack, home: Path):
        self.stack = stack
        self.home = home

    def config_file(self, s3_settings: dict) -> Path:
        settings = {
            "addressing_style": "path",
            "signature_version": "s3v4",
            # One PUT per upload unless a test asks for multipart (test_multipart sets its own).
            "multipart_threshold": "64MB",
            **s3_settings,
        }
        body = "[default]\n" f"region = {self.stack.region}\n" "max_attempts = 1\n" "s3 =\n"
        body += "".join(f"    {k} = {v}\n" for k, v in settings.items())
        path = self.home / f"cli-{uuid.uuid4().hex[:8]}.ini"
        path.write_text(body)
        return path

    def env(self, s3_settings: dict) -> dict:
        env = clean_aws_env(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=self.stack.access_key,
            AWS_SECRET_ACCESS_KEY=self.stack.secret_key,
            AWS_DEFAULT_REGION=self.stack.region,
            AWS_CONFIG_FILE=str(self.config_file(s3_settings)),
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
            AWS_PAGER="",
        )
        return env

    def __call__(self, *args, check=True, s3_settings=None, timeout=300, cwd=None):
        cmd = [str(AWS_CLI), "--endpoint-url", self.stack.endpoint, *map(str, args)]
        proc = subprocess.run(
            cmd, env=self.env(s3_settings or {}), capture_output=True, text=True,
            timeout=timeout, cwd=cwd,
        )
        if check:
            assert proc.returncode == 0, (
                f"`aws {' '.join(map(str, args))}` exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
            )
        return proc


@pytest.fixture(scope="session")
def aws(stack, aws_isolation):
    return AwsCli(stack, aws_isolation)
