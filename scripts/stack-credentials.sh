# Sourced by scripts/stack.sh: the credentials of a stack and the helpers that use them.
#
# Redis, Kubo's RPC API and the IPFS Cluster REST API of a stack all require credentials,
# generated once per profile (random, one file each, mode 0600 in the 0700 directory
# <run dir>/secrets/) and applied to every peer on every start:
#   redis-password     Redis `requirepass` (in a config file of its own, never on a command line)
#   kubo-api-auth      Kubo `API.Authorizations` user `ipfs-s3`: only the RPC paths the host calls
#   kubo-admin-auth    Kubo user `admin`: all of /api/v0 (the cluster peers, through the RPC
#                      relay, and operators)
#   cluster-api-auth   the cluster REST API's `basic_auth_credentials`
# The Kubo and cluster files hold Kubo's AuthSecret form (`basic:USER:PASSWORD`), which is also
# what the host's `*_auth` settings take.
#
# No secret is ever an argument of a command (where `ps` and /proc/<pid>/cmdline show it to every
# local user): curl reads its Authorization header from a pipe, redis-cli takes REDISCLI_AUTH
# from its environment, jq reads $ENV, and daemons read files.

SECRETS="$RUN/secrets"
REDIS_PASSWORD_FILE="$SECRETS/redis-password"
REDIS_AUTH_CONF="$SECRETS/redis.conf"
KUBO_API_AUTH_FILE="$SECRETS/kubo-api-auth"
KUBO_ADMIN_AUTH_FILE="$SECRETS/kubo-admin-auth"
CLUSTER_API_AUTH_FILE="$SECRETS/cluster-api-auth"

# The Kubo RPC paths the host's client uses (host/src/ipfs/kubo.rs); Kubo answers 403 to any other
# path with the host's credentials (`version` is always allowed).
KUBO_HOST_PATHS='["/api/v0/add", "/api/v0/cat", "/api/v0/block/put", "/api/v0/files/stat"]'

# secret_file FILE TEXT: writes TEXT to FILE (0600) unless FILE already holds a secret.
secret_file() {
  [ -s "$1" ] && return 0
  (umask 077 && printf '%s' "$2" >"$1.tmp" && mv -f "$1.tmp" "$1")
}

prepare_credentials() {
  mkdir -p "$SECRETS"
  chmod 700 "$SECRETS"
  secret_file "$REDIS_PASSWORD_FILE" "$(random_hex)"
  secret_file "$KUBO_API_AUTH_FILE" "basic:ipfs-s3:$(random_hex)"
  secret_file "$KUBO_ADMIN_AUTH_FILE" "basic:admin:$(random_hex)"
  secret_file "$CLUSTER_API_AUTH_FILE" "basic:ipfs-s3:$(random_hex)"
  IPFS_S3_REDIS_PASSWORD="$(cat "$REDIS_PASSWORD_FILE")"
  IPFS_S3_KUBO_API_AUTH="$(cat "$KUBO_API_AUTH_FILE")"
  IPFS_S3_KUBO_ADMIN_AUTH="$(cat "$KUBO_ADMIN_AUTH_FILE")"
  IPFS_S3_CLUSTER_API_AUTH="$(cat "$CLUSTER_API_AUTH_FILE")"
  # Redis reads its password from a config file given before the other options.
  (umask 077 && printf 'requirepass %s\n' "$IPFS_S3_REDIS_PASSWORD" >"$REDIS_AUTH_CONF.tmp" &&
    mv -f "$REDIS_AUTH_CONF.tmp" "$REDIS_AUTH_CONF")
}

# auth_value AUTH_SECRET: the `Authorization` value of a `basic:USER:PASSWORD` secret (Kubo's
# ConvertAuthSecret; the cluster takes the same basic credentials). base64 reads it from a pipe.
auth_value() { printf 'Basic %s' "$(printf '%s' "${1#basic:}" | base64 -w0)"; }

auth_header() { printf 'Authorization: %s' "$(auth_value "$1")"; }

# curl_auth AUTH_SECRET CURL_ARGS...: curl with the header read from a pipe (printf is a builtin,
# so the secret never becomes an argument of any process).
curl_auth() {
  local secret="$1"; shift
  curl -H @<(auth_header "$secret") "$@"
}

redis_cli() { REDISCLI_AUTH="$IPFS_S3_REDIS_PASSWORD" redis-cli "$@"; }

# with_credentials_env CMD...: runs CMD (jq) with the credentials in its environment only, for
# the jq expressions below, which read them from $ENV.
with_credentials_env() {
  STACK_KUBO_HOST_AUTH="$IPFS_S3_KUBO_API_AUTH" STACK_KUBO_ADMIN_AUTH="$IPFS_S3_KUBO_ADMIN_AUTH" \
    STACK_CLUSTER_AUTH="${IPFS_S3_CLUSTER_API_AUTH#basic:}" "$@"
}

# jq: the `API.Authorizations` of every Kubo node of the stack.
# shellcheck disable=SC2016  # $ENV is jq's
KUBO_AUTHORIZATIONS_JQ='({"ipfs-s3": {AuthSecret: $ENV.STACK_KUBO_HOST_AUTH, AllowedPaths: '"$KUBO_HOST_PATHS"'},
  "admin": {AuthSecret: $ENV.STACK_KUBO_ADMIN_AUTH, AllowedPaths: ["/api/v0"]}})'

# jq: the cluster REST API's `basic_auth_credentials` (user -> password).
# shellcheck disable=SC2016
CLUSTER_BASIC_AUTH_JQ='(($ENV.STACK_CLUSTER_AUTH | index(":")) as $i |
  {($ENV.STACK_CLUSTER_AUTH[:$i]): $ENV.STACK_CLUSTER_AUTH[$i + 1:]})'
