# Sourced by scripts/stack.sh: the `relay` component, through which the IPFS Cluster peers reach
# their Kubo node's RPC API.
#
# Every Kubo RPC listener of the stack requires credentials (API.Authorizations apply to all of a
# node's API addresses alike), but IPFS Cluster 1.1.6's connector (ipfshttp) sends none: it only
# knows a node_multiaddress, TCP or Unix socket. So each peer's connector talks to a Unix socket
# of its own, <run dir>/sockets/kubo-rpc-<i>.sock (mode 0600 in a 0700 directory: only the
# stack's user can connect), where a small Envoy adds the `admin` Kubo credentials and forwards to
# that peer's Kubo. The relay has no admin interface and no TCP listener.

RELAY_DIR="$RUN/relay"
RELAY_CONFIG="$RELAY_DIR/relay.json"

relay_socket() { printf '%s/kubo-rpc-%s.sock' "$SOCKETS" "$1"; }

# One listener and one upstream per peer. No timeouts of its own: the cluster's connector bounds
# its calls, and a pin streams progress for as long as it takes.
render_relay_config() {
  local i listeners="[]" clusters="[]" auth
  mkdir -p "$RELAY_DIR"
  auth="$(auth_value "$IPFS_S3_KUBO_ADMIN_AUTH")"
  for ((i = 0; i < IPFS_S3_CLUSTER_PEERS; i++)); do
    listeners="$(STACK_RELAY_AUTH="$auth" jq -c --arg i "$i" --arg path "$(relay_socket "$i")" '. + [{
      name: "kubo_rpc_\($i)",
      address: {pipe: {path: $path, mode: 384}},
      filter_chains: [{filters: [{
        name: "envoy.filters.network.http_connection_manager",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          stat_prefix: "kubo_rpc_\($i)",
          stream_idle_timeout: "0s",
          route_config: {virtual_hosts: [{name: "kubo", domains: ["*"], routes: [{
            match: {prefix: "/"},
            route: {cluster: "kubo_rpc_\($i)", timeout: "0s"},
            request_headers_to_add: [{
              header: {key: "authorization", value: $ENV.STACK_RELAY_AUTH},
              append_action: "OVERWRITE_IF_EXISTS_OR_ADD"}]}]}]},
          http_filters: [{name: "envoy.filters.http.router", typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]}]' \
      <<<"$listeners")"
    clusters="$(jq -c --arg i "$i" --argjson port "$(peer_port "$IPFS_S3_KUBO_API_PORT" "$i")" '. + [{
      name: "kubo_rpc_\($i)", type: "STATIC", connect_timeout: "2s",
      load_assignment: {cluster_name: "kubo_rpc_\($i)", endpoints: [{lb_endpoints: [{endpoint: {address: {
        socket_address: {address: "127.0.0.1", port_value: $port}}}}]}]}}]' <<<"$clusters")"
  done
  (umask 077 && jq -n --argjson l "$listeners" --argjson c "$clusters" \
    '{static_resources: {listeners: $l, clusters: $c}}' >"$RELAY_CONFIG.tmp")
  mv -f "$RELAY_CONFIG.tmp" "$RELAY_CONFIG"
}

start_relay() {
  [ -x "$(envoy_bin)" ] || die "envoy is not installed in the virtualenv (run scripts/setup.sh)"
  render_relay_config
  local out
  if ! out="$("$(envoy_bin)" --mode validate -c "$RELAY_CONFIG" --log-level warn 2>&1)"; then
    printf '%s\n' "$out" | tail -n 30 >&2
    die "Envoy rejected the relay config (${RELAY_CONFIG#"$ROOT"/})"
  fi
  # No hot restart: nothing to share with another instance, and no shared memory to collide on.
  start_detached relay "$(envoy_bin)" -c "$RELAY_CONFIG" --disable-hot-restart --concurrency 1 --log-level warn
}

# Ready when every peer's socket reaches its Kubo with the relay's credentials.
ready_relay() {
  local i
  for ((i = 0; i < IPFS_S3_CLUSTER_PEERS; i++)); do
    curl -sf -o /dev/null --max-time 2 --unix-socket "$(relay_socket "$i")" -X POST http://kubo/api/v0/id || return 1
  done
}
