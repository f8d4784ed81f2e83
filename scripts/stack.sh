#!/usr/bin/env bash
# Run the ipfs-s3 stack on this machine: a thin wrapper of the stack tool (stack/, binary
# ipfs-s3-stack), so that `scripts/stack.sh up|down|status|env|clean|start|stop|kill` keeps
# working. `scripts/stack.sh --help` (or `<command> --help`) describes every command and setting.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOL="$ROOT/target/release/ipfs-s3-stack"

# Built with the host by scripts/setup.sh build; built here when missing (e.g. `make down` in a
# checkout that was never built).
if [ ! -x "$TOOL" ]; then
  cargo build --quiet --release -p ipfs-s3-stack --manifest-path "$ROOT/Cargo.toml" >&2
fi
exec "$TOOL" --root "$ROOT" "$@"
