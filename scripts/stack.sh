#!/usr/bin/env bash
# Run the ipfs-s3 stack on this machine: Redis, Kubo + IPFS Cluster peers (one by default), the
# host service and Envoy with the filter, all on loopback.
#
#   scripts/stack.sh up       start every component that is not already running, wait until each
#                             answers, print the endpoint and write <run dir>/stack.env
#   scripts/stack.sh down     stop what `up` started (data is kept)
#   scripts/stack.sh stop C   stop one component C (redis|kubo|relay|cluster|host|envoy); `up` restarts it
#   scripts/stack.sh status   one line per component
#   scripts/stack.sh env      print <run dir>/stack.env (shell-sourceable KEY=VALUE)
#   scripts/stack.sh clean    down, then remove the run dir (all data of the profile)
#
# IPFS_S3_PROFILE selects an independent stack (default `dev`); its state lives in
# .run/<profile>/. The `test` profile uses the dev ports + 10000 so both can run at once;
# every port, the credentials and the timeouts can be overridden by environment variables
# (listed in the configuration section below).
#
# IPFS_S3_METADATA_STORE=embedded runs the stack without Redis: the host keeps its metadata and
# pin queue in a database file under the run dir (IPFS_S3_EMBEDDED_PATH). Give the same setting
# to every command of a profile; the two stores do not share data.
#
# IPFS_S3_CLUSTER_PEERS=N (1..8, default 1) runs N IPFS Cluster peers, each with its own Kubo
# (own repo, API, gateway and swarm ports), joined into one cluster (CRDT consensus, shared
# secret, every peer bootstrapping to the others); peer i's ports are peer 0's plus
# i * IPFS_S3_PEER_PORT_STRIDE (default 100). The host talks to peer 0. The count is fixed when a
# profile is first started: changing it needs `clean`.
#
# Nothing but the S3 endpoint is open without credentials: Redis, Kubo's RPC API and the cluster's
# REST API require the stack's own generated credentials (scripts/stack-credentials.sh), the
# cluster reaches Kubo through a private relay (scripts/stack-relay.sh), and Envoy's admin
# interface is a Unix socket only the stack's user can open. No secret is put on a command line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_BIN="$ROOT/.tools/bin"
VENV="$ROOT/.venv"

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------

IPFS_S3_PROFILE="${IPFS_S3_PROFILE:-dev}"
[[ "$IPFS_S3_PROFILE" =~ ^[A-Za-z0-9_-]+$ ]] || { echo "invalid IPFS_S3_PROFILE: $IPFS_S3_PROFILE" >&2; exit 2; }
RUN="$ROOT/.run/$IPFS_S3_PROFILE"
LOGS="$RUN/logs"

# `test` is shifted by 10000 so that a dev stack and the test suite's stack do not collide, and
# `embedded` (the suite's stack without Redis) by 3000: every port of these stacks stays below
# Linux's ephemeral range (32768 and up), where an outgoing connection can take a port just
# before a daemon binds it.
case "$IPFS_S3_PROFILE" in
  test) default_offset=10000 ;;
  embedded) default_offset=3000 ;;
  *)    default_offset=0 ;;
esac
IPFS_S3_PORT_OFFSET="${IPFS_S3_PORT_OFFSET:-$default_offset}"

: "${IPFS_S3_ENVOY_PORT:=$((9000 + IPFS_S3_PORT_OFFSET))}"          # the S3 endpoint
: "${IPFS_S3_ADMIN_PORT:=$((9100 + IPFS_S3_PORT_OFFSET))}"          # host: /health, /metrics, internal API
: "${IPFS_S3_HOST_PORT:=$((9101 + IPFS_S3_PORT_OFFSET))}"           # host S3 API (only Envoy talks to it)
: "${IPFS_S3_REDIS_PORT:=$((6390 + IPFS_S3_PORT_OFFSET))}"
: "${IPFS_S3_KUBO_API_PORT:=$((5001 + IPFS_S3_PORT_OFFSET))}"
: "${IPFS_S3_GATEWAY_PORT:=$((8080 + IPFS_S3_PORT_OFFSET))}"
: "${IPFS_S3_KUBO_SWARM_PORT:=$((4001 + IPFS_S3_PORT_OFFSET))}"
: "${IPFS_S3_CLUSTER_API_PORT:=$((9094 + IPFS_S3_PORT_OFFSET))}"
: "${IPFS_S3_CLUSTER_SWARM_PORT:=$((9096 + IPFS_S3_PORT_OFFSET))}"
: "${IPFS_S3_CLUSTER_PEERS:=1}"
: "${IPFS_S3_PEER_PORT_STRIDE:=100}"
[[ "$IPFS_S3_CLUSTER_PEERS" =~ ^[1-8]$ ]] || { echo "IPFS_S3_CLUSTER_PEERS must be 1..8, got: $IPFS_S3_CLUSTER_PEERS" >&2; exit 2; }
[[ "$IPFS_S3_PEER_PORT_STRIDE" =~ ^[1-9][0-9]*$ ]] || { echo "invalid IPFS_S3_PEER_PORT_STRIDE: $IPFS_S3_PEER_PORT_STRIDE" >&2; exit 2; }

DEFAULT_ACCESS_KEY="ipfs-s3-admin"
DEFAULT_SECRET_KEY="ipfs-s3-secret"
: "${IPFS_S3_ACCESS_KEY:=$DEFAULT_ACCESS_KEY}"
: "${IPFS_S3_SECRET_KEY:=$DEFAULT_SECRET_KEY}"
: "${IPFS_S3_REGION:=us-east-1}"
# Virtual-hosted-style requests (`Host: <bucket>.$IPFS_S3_DOMAIN`) are recognised by the filter and
# the host alike; set it empty for path style only.
: "${IPFS_S3_DOMAIN=s3.localhost}"
: "${IPFS_S3_LOG:=info}"
: "${IPFS_S3_CACHE_TTL_MS:=1000}"
# Where the host keeps metadata and the pin queue: `redis` (started here) or `embedded` (no Redis).
: "${IPFS_S3_METADATA_STORE:=redis}"
case "$IPFS_S3_METADATA_STORE" in
  redis|embedded) ;;
  *) echo "invalid IPFS_S3_METADATA_STORE: $IPFS_S3_METADATA_STORE (redis or embedded)" >&2; exit 2 ;;
esac
: "${IPFS_S3_EMBEDDED_PATH:=$RUN/metadata/ipfs-s3.redb}"
# The filter's timeout for a resolve callout to the host.
: "${IPFS_S3_RESOLVE_TIMEOUT_MS:=5000}"
# How often the filter (each worker VM) and the host write the GETs they counted to the access
# statistics, and the most objects in one filter report.
: "${IPFS_S3_ACCESS_FLUSH_MS:=1000}"
: "${IPFS_S3_ACCESS_MAX_BATCH:=500}"
# Replica manager settings handed to the host only when set (otherwise the host's defaults, or
# its config file, apply): IPFS_S3_REPLICA_INTERVAL_MS, IPFS_S3_REPLICA_HALF_LIFE_MS,
# IPFS_S3_REPLICA_HOT_THRESHOLD, IPFS_S3_REPLICA_COLD_THRESHOLD, IPFS_S3_HOT_REPLICATION_FACTOR,
# IPFS_S3_REPLICA_MAX_CANDIDATES.
REPLICA_VARS=(IPFS_S3_REPLICA_INTERVAL_MS IPFS_S3_REPLICA_HALF_LIFE_MS IPFS_S3_REPLICA_HOT_THRESHOLD
              IPFS_S3_REPLICA_COLD_THRESHOLD IPFS_S3_HOT_REPLICATION_FACTOR IPFS_S3_REPLICA_MAX_CANDIDATES)
: "${IPFS_S3_ENVOY_TEMPLATE:=$ROOT/envoy/gateway.yaml}"
# Envoy's overload limits: open client connections, and the heap at which it sheds load.
: "${IPFS_S3_ENVOY_MAX_CONNECTIONS:=4096}"
: "${IPFS_S3_ENVOY_MAX_HEAP_BYTES:=1073741824}"
: "${IPFS_S3_START_TIMEOUT:=60}"   # seconds a component may take to answer after start
: "${IPFS_S3_STOP_TIMEOUT:=20}"    # seconds between TERM and KILL

# Optional config file for the host; environment variables still override what it sets.
if [ -z "${IPFS_S3_CONFIG:-}" ] && [ -f "$ROOT/ipfs-s3.toml" ]; then
  IPFS_S3_CONFIG="$ROOT/ipfs-s3.toml"
fi
IPFS_S3_CONFIG="${IPFS_S3_CONFIG:-}"

IPFS_S3_ENDPOINT="http://127.0.0.1:$IPFS_S3_ENVOY_PORT"
IPFS_S3_REDIS_URL="redis://127.0.0.1:$IPFS_S3_REDIS_PORT/"
IPFS_S3_KUBO_API_URL="http://127.0.0.1:$IPFS_S3_KUBO_API_PORT"
IPFS_S3_GATEWAY_URL="http://127.0.0.1:$IPFS_S3_GATEWAY_PORT"
IPFS_S3_CLUSTER_API_URL="http://127.0.0.1:$IPFS_S3_CLUSTER_API_PORT"
IPFS_S3_ADMIN_URL="http://127.0.0.1:$IPFS_S3_ADMIN_PORT"
IPFS_S3_HOST_URL="http://127.0.0.1:$IPFS_S3_HOST_PORT"
IPFS_S3_HEALTH_URL="$IPFS_S3_ADMIN_URL/health"
IPFS_S3_METRICS_URL="$IPFS_S3_ADMIN_URL/metrics"

IPFS_PATH="$RUN/ipfs"
IPFS_CLUSTER_PATH="$RUN/cluster"
TOKEN_FILE="$RUN/internal-token"
# Unix sockets: Envoy's admin interface and the cluster peers' Kubo RPC relay (0700 directory).
SOCKETS="$RUN/sockets"
IPFS_S3_ENVOY_ADMIN_SOCKET="$SOCKETS/envoy-admin.sock"
STACK_ENV="$RUN/stack.env"
ENVOY_DIR="$RUN/envoy"
ENVOY_CONFIG="$ENVOY_DIR/envoy.yaml"
IPFS_S3_FILTER_WASM="$ENVOY_DIR/ipfs_s3_filter.wasm"
HOST_BIN="$RUN/bin/ipfs-s3"
# What `up` runs (copies of) — the release builds unless pointed elsewhere (e.g. a debug build).
BUILT_HOST_BIN="${IPFS_S3_HOST_BIN:-$ROOT/target/release/ipfs-s3}"
BUILT_FILTER_WASM="${IPFS_S3_FILTER_WASM_SRC:-$ROOT/target/wasm32-wasip1/release/ipfs_s3_filter.wasm}"
# Kubo's telemetry plugin would otherwise report to a remote endpoint.
export IPFS_TELEMETRY=off

# Peer i of the cluster: its component names (`kubo`/`cluster` for peer 0, `kubo<i>`/`cluster<i>`
# for the others), data directories and ports.
peer_suffix() { [ "$1" -eq 0 ] || printf '%s' "$1"; }
peer_of() { local i="${1#kubo}"; i="${i#cluster}"; printf '%s' "${i:-0}"; }
peer_port() { printf '%s' "$(($1 + IPFS_S3_PEER_PORT_STRIDE * $2))"; }
ipfs_path() { printf '%s/ipfs%s' "$RUN" "$([ "$1" -eq 0 ] || printf -- '-%s' "$1")"; }
cluster_path() { printf '%s/cluster%s' "$RUN" "$([ "$1" -eq 0 ] || printf -- '-%s' "$1")"; }
kubo_api_url() { printf 'http://127.0.0.1:%s' "$(peer_port "$IPFS_S3_KUBO_API_PORT" "$1")"; }
gateway_url() { printf 'http://127.0.0.1:%s' "$(peer_port "$IPFS_S3_GATEWAY_PORT" "$1")"; }
cluster_api_url() { printf 'http://127.0.0.1:%s' "$(peer_port "$IPFS_S3_CLUSTER_API_PORT" "$1")"; }

# The peer count a profile was created with (recorded by `up`), so that `down`, `status` and
# `clean` handle every peer whatever the caller's environment says.
PEERS_FILE="$RUN/cluster-peers"
recorded_peers() { [ -s "$PEERS_FILE" ] && tr -dc '0-9' <"$PEERS_FILE" || printf '0'; }

# Start order; `down` goes in reverse and stops every one of them that runs.
components() {
  local n="$1" with_redis="$2" i
  [ "$with_redis" = no ] || printf '%s\n' redis
  for ((i = 0; i < n; i++)); do printf 'kubo%s\n' "$(peer_suffix "$i")"; done
  printf '%s\n' relay
  for ((i = 0; i < n; i++)); do printf 'cluster%s\n' "$(peer_suffix "$i")"; done
  printf '%s\n' host envoy
}
mapfile -t ALL_COMPONENTS < <(components "$IPFS_S3_CLUSTER_PEERS" yes)
if [ "$IPFS_S3_METADATA_STORE" = embedded ]; then
  mapfile -t COMPONENTS < <(components "$IPFS_S3_CLUSTER_PEERS" no)
else
  COMPONENTS=("${ALL_COMPONENTS[@]}")
fi

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

say()  { printf '[stack:%s] %s\n' "$IPFS_S3_PROFILE" "$*"; }
die()  { printf '[stack:%s] ERROR: %s\n' "$IPFS_S3_PROFILE" "$*" >&2; exit 1; }

pidfile() { printf '%s/%s.pid' "$RUN" "$1"; }
logfile() { printf '%s/%s.log' "$LOGS" "$1"; }

read_pid() {
  local f
  f="$(pidfile "$1")"
  [ -s "$f" ] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$f")"
  [ -n "$pid" ] || return 1
  printf '%s' "$pid"
}

# What a component's command line must contain, so that a pidfile left behind (and a pid
# reused by an unrelated process since) never makes us skip a start or kill a stranger.
# Each pattern includes this profile's run dir, so profiles never match each other's processes.
cmdline_marker() {
  case "$1" in
    redis)   printf 'redis-server %s' "$RUN/redis" ;;   # via --proc-title-template
    kubo*)    printf -- '--repo-dir %s daemon' "$(ipfs_path "$(peer_of "$1")")" ;;
    cluster*) printf -- '--config %s daemon' "$(cluster_path "$(peer_of "$1")")" ;;
    relay)   printf -- '-c %s' "$RELAY_CONFIG" ;;
    host)    printf '%s serve' "$HOST_BIN" ;;
    envoy)   printf -- '-c %s' "$ENVOY_CONFIG" ;;
  esac
}

# Alive and not a zombie: a daemon that exited stays a zombie until its new parent (init, or
# whatever reaps orphans on this machine) collects it, which can take seconds.
pid_running() {
  local state
  state="$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != "Z" ] && [ "$state" != "X" ]
}

process_exists() {
  local pid
  pid="$(read_pid "$1")" && pid_running "$pid"
}

cmdline_of() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null; }

# Prints the pid of the component's live process, or fails.
live_pid() {
  local pid cmd marker
  pid="$(read_pid "$1")" || return 1
  pid_running "$pid" || return 1
  cmd="$(cmdline_of "$pid")" || return 1
  marker="$(cmdline_marker "$1")"
  case "$cmd" in
    *"$marker"*) printf '%s' "$pid" ;;
    *) return 1 ;;
  esac
}

port_in_use() {
  # A successful connect means someone listens; a closed port fails immediately.
  timeout 2 bash -c ": >/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

ensure_ports_free() {
  local name="$1" port; shift
  for port in "$@"; do
    if port_in_use "$port"; then
      die "$name: port $port is already in use by another process (set the matching IPFS_S3_*_PORT, or stop that process)"
    fi
  done
}

show_log_tail() {
  local log
  log="$(logfile "$1")"
  if [ -f "$log" ]; then
    printf -- '----- last 30 lines of %s -----\n' "${log#"$ROOT"/}" >&2
    tail -n 30 "$log" >&2
    printf -- '-----\n' >&2
  fi
}

# Start a long-lived process detached from this script: in its own session (no terminal, not
# in our process group), and re-parented to init before it starts. The second point matters for
# Envoy, which terminates itself when its parent process exits: started as our direct child it
# would die as soon as this script returns. So a throw-away shell forks the real process and
# exits; the child waits until it has been re-parented, writes its pid (the daemon's pid, since
# it then exec's) and exec's the daemon with its output appended to the component's log.
start_detached() {
  local name="$1"; shift
  local pf log
  pf="$(pidfile "$name")"
  log="$(logfile "$name")"
  rm -f "$pf"
  printf '\n===== %s start %s =====\n' "$name" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log"
  # shellcheck disable=SC2016  # expanded by the inner shells
  setsid bash -c '
    pf="$1"; shift
    parent=$$
    (
      while [ "$(cut -d" " -f4 "/proc/$BASHPID/stat")" = "$parent" ]; do sleep 0.01; done
      echo "$BASHPID" >"$pf"
      exec "$@"
    ) &
  ' start-detached "$pf" "$@" >>"$log" 2>&1 </dev/null 9>&-
}

# Peer components take their index as argument.
start_component() {
  case "$1" in
    kubo*|cluster*) "start_${1%%[0-9]*}" "$(peer_of "$1")" ;;
    *) "start_$1" ;;
  esac
}

ready_component() {
  case "$1" in
    kubo*|cluster*) "ready_${1%%[0-9]*}" "$(peer_of "$1")" ;;
    *) "ready_$1" ;;
  esac
}

# Poll the component's readiness check until it succeeds. Fails early when the component's
# process dies, and after IPFS_S3_START_TIMEOUT seconds.
wait_ready() {
  local name="$1" started=$SECONDS
  local deadline=$((SECONDS + IPFS_S3_START_TIMEOUT))
  while :; do
    if ready_component "$name"; then
      say "$name ready ($((SECONDS - started))s)"
      return 0
    fi
    # (not live_pid: between writing the pidfile and exec the command line is the shell's). The
    # pidfile is looked at first: Redis writes its own after forking, and a pidfile that appears
    # between the two checks must not make a starting daemon look dead.
    if [ -s "$(pidfile "$name")" ] && ! process_exists "$name"; then
      say "$name exited during start-up"
      show_log_tail "$name"
      stop_component "$name" quiet
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "$name did not answer within ${IPFS_S3_START_TIMEOUT}s"
      show_log_tail "$name"
      stop_component "$name" quiet
      exit 1
    fi
    sleep 0.1
  done
}

# One up/down/clean at a time per profile: two concurrent `up`s would both find a component
# stopped and start it twice. fd 9 holds the lock; every daemon is started with fd 9 closed, or
# it would keep the lock after this script exits.
lock_profile() {
  mkdir -p "$RUN"
  exec 9>"$RUN/.stack.lock"
  if ! flock -w "$((IPFS_S3_START_TIMEOUT * 5))" 9; then
    die "another scripts/stack.sh is still working on profile $IPFS_S3_PROFILE"
  fi
}

http_ok() { curl -sf -o /dev/null --max-time 2 "$@"; }

random_hex() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

# shellcheck source=scripts/stack-credentials.sh
. "$ROOT/scripts/stack-credentials.sh"
# shellcheck source=scripts/stack-relay.sh
. "$ROOT/scripts/stack-relay.sh"

# ---------------------------------------------------------------------------------------------
# Run dir, secrets, stack.env
# ---------------------------------------------------------------------------------------------

prepare_run_dir() {
  mkdir -p "$RUN" "$LOGS" "$RUN/redis" "$RUN/bin" "$ENVOY_DIR" "$SOCKETS"
  chmod 700 "$RUN" "$SOCKETS"
  # A Unix socket path is limited to 107 bytes.
  [ "${#IPFS_S3_ENVOY_ADMIN_SOCKET}" -le 100 ] || die "run dir path too long for Unix sockets: $SOCKETS"
  prepare_credentials
  if [ -z "${IPFS_S3_INTERNAL_TOKEN:-}" ]; then
    if [ ! -s "$TOKEN_FILE" ]; then
      (umask 077 && random_hex >"$TOKEN_FILE")
    fi
    IPFS_S3_INTERNAL_TOKEN="$(cat "$TOKEN_FILE")"
  fi
}

# Values are quoted only when needed, so that simple KEY=VALUE parsers read them as well as a shell.
env_line() {
  local key="$1" value="$2"
  if [[ "$value" =~ ^[A-Za-z0-9_./:@%+,=-]*$ ]]; then
    printf '%s=%s\n' "$key" "$value"
  else
    printf "%s='%s'\n" "$key" "${value//\'/\'\\\'\'}"
  fi
}

STACK_ENV_KEYS=(
  IPFS_S3_PROFILE IPFS_S3_RUN_DIR
  IPFS_S3_ENDPOINT IPFS_S3_REGION IPFS_S3_DOMAIN IPFS_S3_ACCESS_KEY IPFS_S3_SECRET_KEY IPFS_S3_INTERNAL_TOKEN
  IPFS_S3_REDIS_PASSWORD IPFS_S3_KUBO_API_AUTH IPFS_S3_KUBO_ADMIN_AUTH IPFS_S3_CLUSTER_API_AUTH
  IPFS_S3_ENVOY_PORT IPFS_S3_ADMIN_PORT IPFS_S3_HOST_PORT
  IPFS_S3_REDIS_PORT IPFS_S3_KUBO_API_PORT IPFS_S3_GATEWAY_PORT IPFS_S3_KUBO_SWARM_PORT
  IPFS_S3_CLUSTER_API_PORT IPFS_S3_CLUSTER_SWARM_PORT
  IPFS_S3_REDIS_URL IPFS_S3_KUBO_API_URL IPFS_S3_GATEWAY_URL IPFS_S3_CLUSTER_API_URL
  IPFS_S3_ADMIN_URL IPFS_S3_HEALTH_URL IPFS_S3_METRICS_URL IPFS_S3_HOST_URL IPFS_S3_ENVOY_ADMIN_SOCKET
  IPFS_S3_CACHE_TTL_MS IPFS_PATH IPFS_CLUSTER_PATH IPFS_S3_TOOLS_BIN
  IPFS_S3_METADATA_STORE IPFS_S3_EMBEDDED_PATH
  IPFS_S3_CLUSTER_PEERS IPFS_S3_PEER_PORT_STRIDE
  IPFS_S3_ACCESS_FLUSH_MS IPFS_S3_ACCESS_MAX_BATCH "${REPLICA_VARS[@]}"
)

write_stack_env() {
  local key tmp
  IPFS_S3_RUN_DIR="$RUN"
  IPFS_S3_TOOLS_BIN="$TOOLS_BIN"
  tmp="$STACK_ENV.tmp"
  (
    umask 077   # holds the secret key, the internal token and the services' credentials
    {
      echo "# ipfs-s3 stack, profile $IPFS_S3_PROFILE (written by scripts/stack.sh up)"
      for key in "${STACK_ENV_KEYS[@]}"; do env_line "$key" "${!key:-}"; done
    } >"$tmp"
  )
  mv -f "$tmp" "$STACK_ENV"
}

# ---------------------------------------------------------------------------------------------
# Components: start_<name> starts it (assumes it is not running), ready_<name> is its check.
# ---------------------------------------------------------------------------------------------

## Redis --------------------------------------------------------------------------------------

start_redis() {
  ensure_ports_free redis "$IPFS_S3_REDIS_PORT"
  printf '\n===== redis start %s =====\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$(logfile redis)"
  # Redis daemonizes itself and writes its own pidfile. The process title carries the run dir
  # so that `down` can recognise this instance. Its password comes from the config file.
  if ! redis-server "$REDIS_AUTH_CONF" \
        --port "$IPFS_S3_REDIS_PORT" --bind 127.0.0.1 \
        --dir "$RUN/redis" --appendonly yes \
        --daemonize yes --pidfile "$(pidfile redis)" --logfile "$(logfile redis)" \
        --proc-title-template "{title} $RUN/redis {listen-addr}" 9>&-; then
    show_log_tail redis
    die "redis-server did not start"
  fi
}

ready_redis() { [ "$(redis_cli -p "$IPFS_S3_REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

## Kubo ---------------------------------------------------------------------------------------

# Kubo's peer ID, read from its repo (needs `ipfs init` done).
kubo_peer_id() { jq -r '.Identity.PeerID' "$(ipfs_path "$1")/config"; }

init_kubo() {
  local i="$1" repo
  repo="$(ipfs_path "$i")"
  [ -f "$repo/config" ] && return 0
  say "kubo$(peer_suffix "$i"): initialising repo"
  # `test` profile: loopback addresses, no bootstrap, no mDNS, AutoConf/AutoTLS off.
  # -e: no help files in a repo meant for data.
  "$TOOLS_BIN/ipfs" --repo-dir "$repo" init --profile=test -e >>"$(logfile "kubo$(peer_suffix "$i")")" 2>&1 ||
    { show_log_tail "kubo$(peer_suffix "$i")"; die "ipfs init failed"; }
}

# The other peers' Kubo nodes, for Peering: Kubo keeps these connections up and re-dials them
# after a restart, so blocks move between the peers' nodes without any routing.
kubo_peering_json() {
  local self="$1" j out="[]"
  for ((j = 0; j < IPFS_S3_CLUSTER_PEERS; j++)); do
    [ "$j" -eq "$self" ] && continue
    out="$(jq -c --arg id "$(kubo_peer_id "$j")" --arg addr "/ip4/127.0.0.1/tcp/$(peer_port "$IPFS_S3_KUBO_SWARM_PORT" "$j")" \
      '. + [{ID: $id, Addrs: [$addr]}]' <<<"$out")"
  done
  printf '%s' "$out"
}

# Loopback only, and nothing that reaches out to the internet: no bootstrap peers, no mDNS, no
# routing (DHT or delegated HTTP routers), no AutoConf fetch, no AutoTLS, no relays/NAT/hole
# punching, no HTTP block retrieval, no DNSLink lookups, no telemetry. `localhost` is removed
# from the public gateways, otherwise a request with `Host: localhost:…` gets a redirect to a
# subdomain gateway instead of the content. The only peers are the stack's other Kubo nodes.
# The RPC API requires the stack's credentials. Applied on every start (cheap) so that changed
# ports take effect. The config holds the node's private key and the credentials: 0600.
configure_kubo() {
  local i="$1" cfg
  cfg="$(ipfs_path "$i")/config"
  (umask 077 && with_credentials_env jq \
    --arg api "$(peer_port "$IPFS_S3_KUBO_API_PORT" "$i")" \
    --arg gw "$(peer_port "$IPFS_S3_GATEWAY_PORT" "$i")" \
    --arg swarm "$(peer_port "$IPFS_S3_KUBO_SWARM_PORT" "$i")" \
    --argjson peering "$(kubo_peering_json "$i")" '
    .Addresses.API = "/ip4/127.0.0.1/tcp/\($api)" |
    .Addresses.Gateway = "/ip4/127.0.0.1/tcp/\($gw)" |
    .Addresses.Swarm = ["/ip4/127.0.0.1/tcp/\($swarm)"] |
    .Addresses.Announce = [] | .Addresses.AppendAnnounce = [] | .Addresses.NoAnnounce = [] |
    .Bootstrap = [] | .Peering.Peers = (if $peering == [] then null else $peering end) |
    .AutoConf.Enabled = false | .AutoTLS.Enabled = false |
    .Routing.Type = "none" | .Routing.DelegatedRouters = [] |
    .DNS.Resolvers = {} | .Ipns.DelegatedPublishers = [] |
    .Discovery.MDNS.Enabled = false |
    .Swarm.DisableNatPortMap = true | .Swarm.EnableHolePunching = false |
    .Swarm.RelayClient.Enabled = false | .Swarm.RelayService.Enabled = false |
    .Swarm.Transports.Network = {"TCP": true, "QUIC": false, "WebTransport": false,
                                 "WebRTCDirect": false, "Websocket": false} |
    .AutoNAT.ServiceMode = "disabled" |
    .HTTPRetrieval.Enabled = false |
    .Plugins.Plugins = ((.Plugins.Plugins // {}) + {"telemetry": {"Config": {"Mode": "off"}}}) |
    .Gateway.NoDNSLink = true |
    .Gateway.PublicGateways = {"localhost": null} |
    .API.Authorizations = '"$KUBO_AUTHORIZATIONS_JQ"'
    ' "$cfg" >"$cfg.tmp")
  mv -f "$cfg.tmp" "$cfg"
}

start_kubo() {
  local i="$1" j
  [ -x "$TOOLS_BIN/ipfs" ] || die "kubo is not installed (run scripts/setup.sh)"
  ensure_ports_free "kubo$(peer_suffix "$i")" "$(peer_port "$IPFS_S3_KUBO_API_PORT" "$i")" \
    "$(peer_port "$IPFS_S3_GATEWAY_PORT" "$i")" "$(peer_port "$IPFS_S3_KUBO_SWARM_PORT" "$i")"
  # Every repo exists before any is configured: each lists the others' peer IDs.
  for ((j = 0; j < IPFS_S3_CLUSTER_PEERS; j++)); do init_kubo "$j"; done
  configure_kubo "$i"
  start_detached "kubo$(peer_suffix "$i")" "$TOOLS_BIN/ipfs" --repo-dir "$(ipfs_path "$i")" daemon
}

ready_kubo() {
  curl_auth "$IPFS_S3_KUBO_ADMIN_AUTH" -sf -o /dev/null --max-time 2 -X POST "$(kubo_api_url "$1")/api/v0/id" &&
    # the empty identity CID: served from the CID itself, never needs the network
    http_ok "$(gateway_url "$1")/ipfs/bafkqaaa"
}

## IPFS Cluster -------------------------------------------------------------------------------

cluster_peer_id() { jq -r '.id' "$(cluster_path "$1")/identity.json"; }
cluster_swarm_addr() {
  printf '/ip4/127.0.0.1/tcp/%s/p2p/%s' "$(peer_port "$IPFS_S3_CLUSTER_SWARM_PORT" "$1")" "$(cluster_peer_id "$1")"
}

init_cluster() {
  local i="$1" dir
  dir="$(cluster_path "$i")"
  [ -f "$dir/service.json" ] && return 0
  say "cluster$(peer_suffix "$i"): initialising peer (crdt consensus$([ "$i" -eq 0 ] && printf ', new secret'))"
  "$TOOLS_BIN/ipfs-cluster-service" --config "$dir" init --consensus crdt >>"$(logfile "cluster$(peer_suffix "$i")")" 2>&1 ||
    { show_log_tail "cluster$(peer_suffix "$i")"; die "ipfs-cluster-service init failed"; }
}

# Peer i on loopback, talking to its own Kubo through the RPC relay's socket (see
# scripts/stack-relay.sh); no mDNS, no libp2p relay. Its REST API requires the stack's
# credentials; the IPFS proxy and pinning-service APIs are not started (nothing here uses them,
# and the proxy would be another way into Kubo's RPC API). Every peer shares peer 0's
# secret and lists the other peers as bootstrap addresses (any one of them restarting finds the
# rest). Peers announce themselves every 2 s and their metrics expire after 6 s, so a peer that
# stops is noticed (and its allocations avoided) within seconds instead of the default half
# minute. Repinning stays off (the default): a pin is not moved because a peer is down.
configure_cluster() {
  local i="$1" j cfg secret peers="[]"
  cfg="$(cluster_path "$i")/service.json"
  for ((j = 0; j < IPFS_S3_CLUSTER_PEERS; j++)); do
    [ "$j" -eq "$i" ] && continue
    peers="$(jq -c --arg a "$(cluster_swarm_addr "$j")" '. + [$a]' <<<"$peers")"
  done
  secret="$(jq -r '.cluster.secret' "$(cluster_path 0)/service.json")"
  (umask 077 && STACK_CLUSTER_SECRET="$secret" with_credentials_env jq \
    --arg name "ipfs-s3-$IPFS_S3_PROFILE$([ "$i" -eq 0 ] || printf -- '-%s' "$i")" \
    --argjson peers "$peers" \
    --arg swarm "$(peer_port "$IPFS_S3_CLUSTER_SWARM_PORT" "$i")" \
    --arg api "$(peer_port "$IPFS_S3_CLUSTER_API_PORT" "$i")" \
    --arg kubo "$(relay_socket "$i")" '
    .cluster.peername = $name |
    .cluster.secret = $ENV.STACK_CLUSTER_SECRET |
    .cluster.listen_multiaddress = ["/ip4/127.0.0.1/tcp/\($swarm)"] |
    .cluster.peer_addresses = $peers |
    .cluster.mdns_interval = "0s" |
    .cluster.enable_relay_hop = false |
    .cluster.monitor_ping_interval = "2s" |
    .cluster.pubsub.heartbeat_interval = "1s" |
    .monitor.pubsubmon.check_interval = "2s" |
    .informer.disk.metric_ttl = "6s" |
    .informer.pinqueue.metric_ttl = "6s" |
    .informer.tags.metric_ttl = "6s" |
    .api.restapi.http_listen_multiaddress = "/ip4/127.0.0.1/tcp/\($api)" |
    .api.restapi.basic_auth_credentials = '"$CLUSTER_BASIC_AUTH_JQ"' |
    del(.api.ipfsproxy, .api.pinsvcapi) |
    .ipfs_connector.ipfshttp.node_multiaddress = "/unix\($kubo)" |
    .ipfs_connector.ipfshttp.connect_swarms_delay = "1s"
    ' "$cfg" >"$cfg.tmp")
  mv -f "$cfg.tmp" "$cfg"   # service.json holds the cluster secret and the API credentials
  chmod 600 "$cfg"
}

start_cluster() {
  local i="$1" j
  [ -x "$TOOLS_BIN/ipfs-cluster-service" ] || die "ipfs-cluster-service is not installed (run scripts/setup.sh)"
  ensure_ports_free "cluster$(peer_suffix "$i")" "$(peer_port "$IPFS_S3_CLUSTER_API_PORT" "$i")" \
    "$(peer_port "$IPFS_S3_CLUSTER_SWARM_PORT" "$i")"
  # Every peer has an identity before any is configured: each lists the others.
  for ((j = 0; j < IPFS_S3_CLUSTER_PEERS; j++)); do init_cluster "$j"; done
  configure_cluster "$i"
  start_detached "cluster$(peer_suffix "$i")" "$TOOLS_BIN/ipfs-cluster-service" --config "$(cluster_path "$i")" daemon
}

# The REST API answers before the peer is fully up; ready means it lists itself, without error,
# connected to its Kubo. Once the last peer is up, peer 0 must list every peer that way: the
# cluster has formed.
ready_cluster() {
  local i="$1" want=1
  curl_auth "$IPFS_S3_CLUSTER_API_AUTH" -sf -o /dev/null --max-time 2 "$(cluster_api_url "$i")/id" || return 1
  curl_auth "$IPFS_S3_CLUSTER_API_AUTH" -sf --max-time 2 "$(cluster_api_url "$i")/peers" 2>/dev/null |
    jq -se '[.[] | select((.error // "") == "" and (.ipfs.id // "") != "")] | length >= 1' >/dev/null 2>&1 || return 1
  [ "$i" -eq $((IPFS_S3_CLUSTER_PEERS - 1)) ] && want="$IPFS_S3_CLUSTER_PEERS"
  [ "$want" -eq 1 ] && return 0
  curl_auth "$IPFS_S3_CLUSTER_API_AUTH" -sf --max-time 2 "$(cluster_api_url 0)/peers" 2>/dev/null |
    jq -se --argjson n "$want" '[.[] | select((.error // "") == "" and (.ipfs.id // "") != "")] | length >= $n' >/dev/null 2>&1
}

## Host service -------------------------------------------------------------------------------

start_host() {
  [ -x "$BUILT_HOST_BIN" ] || die "host binary ${BUILT_HOST_BIN#"$ROOT"/} does not exist (build it: scripts/setup.sh build)"
  ensure_ports_free host "$IPFS_S3_HOST_PORT" "$IPFS_S3_ADMIN_PORT"
  # Run a copy: a rebuild while the stack runs must not change (or fail to replace) the binary
  # of the running process; `down` + `up` picks up the new build.
  cp -f "$BUILT_HOST_BIN" "$HOST_BIN.tmp"
  mv -f "$HOST_BIN.tmp" "$HOST_BIN"
  local args=(serve) var
  if [ -n "$IPFS_S3_CONFIG" ]; then
    [ -f "$IPFS_S3_CONFIG" ] || die "IPFS_S3_CONFIG=$IPFS_S3_CONFIG: no such file"
    args+=(--config "$IPFS_S3_CONFIG")
  fi
  # Settings reach the host through its environment (secrets too, or their files): an argument
  # of `env` or of the host would show them in the process list. NO_COLOR: the output goes to a
  # log file, not a terminal.
  (
    export IPFS_S3_LISTEN="127.0.0.1:$IPFS_S3_HOST_PORT" \
      IPFS_S3_ADMIN_LISTEN="127.0.0.1:$IPFS_S3_ADMIN_PORT" \
      IPFS_S3_METADATA_STORE IPFS_S3_REDIS_URL IPFS_S3_EMBEDDED_PATH \
      IPFS_S3_KUBO_API_URL IPFS_S3_GATEWAY_URL IPFS_S3_CLUSTER_API_URL \
      IPFS_S3_ACCESS_KEY IPFS_S3_SECRET_KEY IPFS_S3_REGION IPFS_S3_DOMAIN IPFS_S3_INTERNAL_TOKEN \
      IPFS_S3_REDIS_PASSWORD_FILE="$REDIS_PASSWORD_FILE" \
      IPFS_S3_KUBO_API_AUTH_FILE="$KUBO_API_AUTH_FILE" \
      IPFS_S3_CLUSTER_API_AUTH_FILE="$CLUSTER_API_AUTH_FILE" \
      IPFS_S3_LOG IPFS_S3_ACCESS_FLUSH_MS NO_COLOR=1
    for var in "${REPLICA_VARS[@]}"; do
      if [ -n "${!var:-}" ]; then export "${var?}"; fi
    done
    start_detached host "$HOST_BIN" "${args[@]}"
  )
}

# Any JSON answer counts: a degraded health report still means the host is serving.
ready_host() {
  curl -s --max-time 2 "$IPFS_S3_HEALTH_URL" 2>/dev/null | jq -e . >/dev/null 2>&1
}

## Envoy --------------------------------------------------------------------------------------

# Only the variables the template uses are substituted, so any other `$…` in it stays literal.
ENVOY_TEMPLATE_VARS='$IPFS_S3_ENVOY_PORT $IPFS_S3_ENVOY_ADMIN_SOCKET $IPFS_S3_HOST_PORT $IPFS_S3_ADMIN_PORT $IPFS_S3_GATEWAY_PORT $IPFS_S3_FILTER_WASM $IPFS_S3_FILTER_CONFIG $IPFS_S3_ENVOY_MAX_CONNECTIONS $IPFS_S3_ENVOY_MAX_HEAP_BYTES'

# The secret key and the token reach jq through its environment, never as arguments.
filter_config_json() {
  STACK_SECRET_KEY="$IPFS_S3_SECRET_KEY" STACK_INTERNAL_TOKEN="$IPFS_S3_INTERNAL_TOKEN" jq -cn \
    --arg access_key "$IPFS_S3_ACCESS_KEY" \
    --arg region "$IPFS_S3_REGION" \
    --arg domain "$IPFS_S3_DOMAIN" \
    --arg authority "127.0.0.1:$IPFS_S3_ADMIN_PORT" \
    --argjson cache_ttl_ms "$IPFS_S3_CACHE_TTL_MS" \
    --argjson resolve_timeout_ms "$IPFS_S3_RESOLVE_TIMEOUT_MS" \
    --argjson access_flush_ms "$IPFS_S3_ACCESS_FLUSH_MS" \
    --argjson access_max_batch "$IPFS_S3_ACCESS_MAX_BATCH" \
    '{access_key: $access_key, secret_key: $ENV.STACK_SECRET_KEY, region: $region, domain: $domain,
      internal_token: $ENV.STACK_INTERNAL_TOKEN,
      host_admin_cluster: "host_admin", host_admin_authority: $authority,
      cache_ttl_ms: $cache_ttl_ms, resolve_timeout_ms: $resolve_timeout_ms,
      access_flush_ms: $access_flush_ms, access_max_batch: $access_max_batch}'
}

envoy_bin() { printf '%s' "$VENV/bin/envoy"; }

# Renders the template into the run dir (it holds credentials: 0600) next to a copy of the wasm,
# so that a rebuild does not change the file a running Envoy loaded.
render_envoy_config() {
  [ -s "$IPFS_S3_ENVOY_TEMPLATE" ] || die "Envoy template ${IPFS_S3_ENVOY_TEMPLATE#"$ROOT"/} is missing or empty"
  [ -f "$BUILT_FILTER_WASM" ] || die "filter ${BUILT_FILTER_WASM#"$ROOT"/} does not exist (build it: scripts/setup.sh build)"
  cp -f "$BUILT_FILTER_WASM" "$IPFS_S3_FILTER_WASM.tmp"
  mv -f "$IPFS_S3_FILTER_WASM.tmp" "$IPFS_S3_FILTER_WASM"
  IPFS_S3_FILTER_CONFIG="$(filter_config_json)"
  # The template holds the JSON in a single-quoted YAML scalar.
  case "$IPFS_S3_FILTER_CONFIG" in
    *"'"*) die "credentials, region and token must not contain a single quote (') for the Envoy config" ;;
  esac
  (
    umask 077
    export IPFS_S3_ENVOY_PORT IPFS_S3_ENVOY_ADMIN_SOCKET IPFS_S3_HOST_PORT IPFS_S3_ADMIN_PORT \
           IPFS_S3_GATEWAY_PORT IPFS_S3_FILTER_WASM IPFS_S3_FILTER_CONFIG \
           IPFS_S3_ENVOY_MAX_CONNECTIONS IPFS_S3_ENVOY_MAX_HEAP_BYTES
    envsubst "$ENVOY_TEMPLATE_VARS" <"$IPFS_S3_ENVOY_TEMPLATE" >"$ENVOY_CONFIG.tmp"
  )
  mv -f "$ENVOY_CONFIG.tmp" "$ENVOY_CONFIG"
}

validate_envoy_config() {
  local out
  if ! out="$("$(envoy_bin)" --mode validate -c "$ENVOY_CONFIG" --log-level warn 2>&1)"; then
    printf '%s\n' "$out" | tail -n 30 >&2
    die "Envoy rejected the rendered config (${ENVOY_CONFIG#"$ROOT"/})"
  fi
}

# Envoy's hot-restart shared memory is keyed by --base-id; the S3 port is unique per running
# stack (two stacks cannot share it), so it makes a base id that never collides.
envoy_base_id() { printf '%s' "$IPFS_S3_ENVOY_PORT"; }

start_envoy() {
  [ -x "$(envoy_bin)" ] || die "envoy is not installed in the virtualenv (run scripts/setup.sh)"
  ensure_ports_free envoy "$IPFS_S3_ENVOY_PORT"
  render_envoy_config
  validate_envoy_config
  start_detached envoy "$(envoy_bin)" -c "$ENVOY_CONFIG" --base-id "$(envoy_base_id)" --log-level info
}

# The admin interface is a Unix socket (mode 0600): other local users can neither read the
# configuration (it holds the credentials) nor stop Envoy.
ready_envoy() {
  [ "$(curl -s --max-time 2 --unix-socket "$IPFS_S3_ENVOY_ADMIN_SOCKET" http://envoy/ready 2>/dev/null)" = "LIVE" ]
}

# ---------------------------------------------------------------------------------------------
# Stopping
# ---------------------------------------------------------------------------------------------

# stop_component NAME [quiet]: TERM the recorded process if it is really ours, KILL it after
# IPFS_S3_STOP_TIMEOUT seconds, remove the pidfile.
stop_component() {
  local name="$1" quiet="${2:-}" pid pf deadline
  pf="$(pidfile "$name")"
  if ! pid="$(live_pid "$name")"; then
    if [ -e "$pf" ]; then
      rm -f "$pf"
      [ -n "$quiet" ] || say "$name: not running (stale pidfile removed)"
    else
      [ -n "$quiet" ] || say "$name: not running"
    fi
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + IPFS_S3_STOP_TIMEOUT))
  while pid_running "$pid"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "$name (pid $pid) ignored TERM for ${IPFS_S3_STOP_TIMEOUT}s; killing"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$pf"
  [ -n "$quiet" ] || say "$name stopped (pid $pid)"
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

component_address() {
  case "$1" in
    redis)   printf '%s' "$IPFS_S3_REDIS_URL" ;;
    kubo*)    printf 'api %s  gateway %s' "$(kubo_api_url "$(peer_of "$1")")" "$(gateway_url "$(peer_of "$1")")" ;;
    cluster*) printf 'api %s' "$(cluster_api_url "$(peer_of "$1")")" ;;
    relay)   printf 'kubo rpc for the cluster  %s' "${SOCKETS#"$ROOT"/}/kubo-rpc-*.sock" ;;
    host)    printf 's3 %s  admin %s' "$IPFS_S3_HOST_URL" "$IPFS_S3_ADMIN_URL" ;;
    envoy)   printf 's3 %s  admin %s' "$IPFS_S3_ENDPOINT" "${IPFS_S3_ENVOY_ADMIN_SOCKET#"$ROOT"/}" ;;
  esac
}

cmd_up() {
  lock_profile
  prepare_run_dir
  local recorded
  recorded="$(recorded_peers)"
  if [ "$recorded" -ne 0 ] && [ "$recorded" -ne "$IPFS_S3_CLUSTER_PEERS" ]; then
    die "profile $IPFS_S3_PROFILE was created with $recorded cluster peer(s); set IPFS_S3_CLUSTER_PEERS=$recorded, or remove it first (scripts/stack.sh clean)"
  fi
  printf '%s\n' "$IPFS_S3_CLUSTER_PEERS" >"$PEERS_FILE"
  write_stack_env
  local name pid
  for name in "${COMPONENTS[@]}"; do
    if pid="$(live_pid "$name")"; then
      say "$name already running (pid $pid)"
      continue
    fi
    say "starting $name"
    start_component "$name"
    wait_ready "$name"
  done
  print_summary
}

metadata_summary() {
  if [ "$IPFS_S3_METADATA_STORE" = embedded ]; then
    printf 'embedded  %s' "${IPFS_S3_EMBEDDED_PATH#"$ROOT"/}"
  else
    printf 'redis  %s' "$IPFS_S3_REDIS_URL"
  fi
}

print_summary() {
  local secret_shown="$IPFS_S3_SECRET_KEY" secret_example="$IPFS_S3_SECRET_KEY"
  # The defaults are development credentials and are meant to be shown; a real one is not.
  if [ "$IPFS_S3_SECRET_KEY" != "$DEFAULT_SECRET_KEY" ]; then
    secret_shown="(from IPFS_S3_SECRET_KEY)"
    secret_example='"$IPFS_S3_SECRET_KEY"'
  fi
  cat <<EOF

ipfs-s3 stack '$IPFS_S3_PROFILE' is up
  S3 endpoint  $IPFS_S3_ENDPOINT
  region       $IPFS_S3_REGION
  access key   $IPFS_S3_ACCESS_KEY
  secret key   $secret_shown
  metadata     $(metadata_summary)
  health       $IPFS_S3_HEALTH_URL
  metrics      $IPFS_S3_METRICS_URL
  envoy admin  ${IPFS_S3_ENVOY_ADMIN_SOCKET#"$ROOT"/}   (curl --unix-socket … http://envoy/stats)
  env file     ${STACK_ENV#"$ROOT"/}   (scripts/stack.sh env)
  logs         ${LOGS#"$ROOT"/}/
  try:  AWS_ACCESS_KEY_ID=$IPFS_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$secret_example .venv/bin/aws --endpoint-url $IPFS_S3_ENDPOINT --region $IPFS_S3_REGION s3 ls
EOF
}

# Every component of the profile: as many peers as recorded (or asked for, if more).
all_components() {
  local n
  n="$(recorded_peers)"
  [ "$n" -ge "$IPFS_S3_CLUSTER_PEERS" ] || n="$IPFS_S3_CLUSTER_PEERS"
  mapfile -t ALL_COMPONENTS < <(components "$n" yes)
}

cmd_down() {
  local i
  [ -d "$RUN" ] || { say "nothing to stop (no ${RUN#"$ROOT"/})"; return 0; }
  lock_profile
  all_components
  for ((i = ${#ALL_COMPONENTS[@]} - 1; i >= 0; i--)); do
    stop_component "${ALL_COMPONENTS[$i]}"
  done
}

cmd_stop() {
  local name="${1:-}"
  case " ${COMPONENTS[*]} " in
    *" $name "*) ;;
    *) die "stop: name one of: ${COMPONENTS[*]}" ;;
  esac
  [ -d "$RUN" ] || { say "nothing to stop (no ${RUN#"$ROOT"/})"; return 0; }
  lock_profile
  stop_component "$name"
}

cmd_status() {
  local name pid all_up=0
  all_components
  for name in "${ALL_COMPONENTS[@]}"; do
    if pid="$(live_pid "$name")"; then
      printf '%-8s running  pid %-7s %s\n' "$name" "$pid" "$(component_address "$name")"
    elif [ "$name" = redis ] && [[ " ${COMPONENTS[*]} " != *" redis "* ]]; then
      printf '%-8s not used (IPFS_S3_METADATA_STORE=%s)\n' "$name" "$IPFS_S3_METADATA_STORE"
    elif [ -e "$(pidfile "$name")" ]; then
      printf '%-8s DEAD     (stale pidfile; see %s)\n' "$name" "$(logfile "$name" | sed "s|^$ROOT/||")"
      all_up=3
    else
      printf '%-8s stopped\n' "$name"
      all_up=3
    fi
  done
  return "$all_up"
}

cmd_env() {
  [ -f "$STACK_ENV" ] || die "no ${STACK_ENV#"$ROOT"/} yet: run scripts/stack.sh up"
  cat "$STACK_ENV"
}

cmd_clean() {
  cmd_down
  rm -rf "$RUN"
  say "removed ${RUN#"$ROOT"/}"
}

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

main() {
  case "${1:-}" in
    up)     cmd_up ;;
    down)   cmd_down ;;
    stop)   cmd_stop "${2:-}" ;;
    status) cmd_status ;;
    env)    cmd_env ;;
    clean)  cmd_clean ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
