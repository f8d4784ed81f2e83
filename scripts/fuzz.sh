#!/usr/bin/env bash
# Fuzzing of every parser that sees client bytes (the libFuzzer targets in fuzz/fuzz_targets/).
#
#   scripts/fuzz.sh [run|smoke|replay|build|list] [TARGET...]
#     run     (default) replay the regression inputs, then fuzz each target for FUZZ_SECONDS
#     smoke   the same for FUZZ_SMOKE_SECONDS per target (what `make test` runs)
#     replay  only run the regression and seed inputs (fuzz/regressions/, fuzz/seeds/) once each
#     build   only build the targets
#     list    print the target names
#   No TARGET means all of them.
#
# Environment:
#   FUZZ_SECONDS        seconds per target of `run` (default 300)
#   FUZZ_SMOKE_SECONDS  seconds per target of `smoke` (default 30)
#   FUZZ_JOBS           targets fuzzed at once (default: one per core)
#   FUZZ_TOOLCHAIN      rustup toolchain that builds the targets (default nightly)
#   FUZZ_SANITIZER      cargo fuzz sanitizer (default none: the project's code is safe Rust, so
#                       `address` would watch only the dependencies' unsafe code, at a fraction
#                       of the rate; debug assertions and overflow checks stay on either way)
#   FUZZ_WORK           corpus, crash artifacts and logs (default fuzz/work, not committed; the
#                       corpus grows across runs so later runs start where earlier ones ended)
#
# Each target runs as one libFuzzer job on one worker (one core). A table of executions,
# executions per second and crashes per target is printed at the end; the exit status is
# non-zero when a target crashed or a regression input failed. A crash is kept as
# $FUZZ_WORK/artifacts/<target>/crash-…; once fixed, copy it to fuzz/regressions/<target>/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_DIR="$ROOT/fuzz"
TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly}"
SANITIZER="${FUZZ_SANITIZER:-none}"
WORK="${FUZZ_WORK:-$FUZZ_DIR/work}"
BIN_DIR="$FUZZ_DIR/target/x86_64-unknown-linux-gnu/release"

log() { printf '[fuzz] %s\n' "$*"; }
die() { printf '[fuzz] ERROR: %s\n' "$*" >&2; exit 1; }

all_targets() {
  sed -n 's/^name = "\(.*\)"$/\1/p' "$FUZZ_DIR/Cargo.toml" | grep -v '^ipfs-s3-fuzz$'
}

build() {
  command -v cargo-fuzz >/dev/null 2>&1 || die "cargo-fuzz is missing (scripts/setup.sh deps installs it)"
  local t0=$SECONDS
  log "cargo +$TOOLCHAIN fuzz build --sanitizer $SANITIZER"
  (cd "$FUZZ_DIR" && cargo "+$TOOLCHAIN" fuzz build --sanitizer "$SANITIZER")
  log "build took $((SECONDS - t0))s"
}

# The committed inputs of a target: its regressions (each a crash once) and its seeds.
inputs_of() {
  local t="$1" d
  for d in "$FUZZ_DIR/regressions/$t" "$FUZZ_DIR/seeds/$t"; do
    [ -d "$d" ] && find "$d" -type f | sort
  done
  return 0
}

# Runs every committed input once; prints "<count>" and fails on the first that crashes.
replay() {
  local t="$1" files
  mapfile -t files < <(inputs_of "$t")
  if [ "${#files[@]}" -eq 0 ]; then
    echo 0
    return 0
  fi
  if ! "$BIN_DIR/$t" "${files[@]}" >"$WORK/logs/$t.replay.log" 2>&1; then
    printf '[fuzz] %s: a committed input fails, see %s\n' "$t" "$WORK/logs/$t.replay.log" >&2
    grep -m1 -A6 'panicked' "$WORK/logs/$t.replay.log" >&2 || true
    return 1
  fi
  echo "${#files[@]}"
}

# Prints "<executions> <exec/s> <crashes>" of one run.
fuzz_one() {
  local t="$1" seconds="$2" run_dir="$WORK/run/$t" seeds=()
  mkdir -p "$WORK/corpus/$t" "$WORK/artifacts/$t" "$run_dir"
  local d
  for d in "$FUZZ_DIR/regressions/$t" "$FUZZ_DIR/seeds/$t"; do
    [ -d "$d" ] && seeds+=("$d")
  done
  local before after
  before=$(find "$WORK/artifacts/$t" -type f | wc -l)
  # -jobs=1 -workers=1: one fuzzing process, its output in fuzz-0.log of the run folder (the
  # parent repeats it when the job ends). New corpus units go to the first folder only.
  (cd "$run_dir" && rm -f fuzz-*.log && "$BIN_DIR/$t" -jobs=1 -workers=1 -max_total_time="$seconds" \
    -print_final_stats=1 -artifact_prefix="$WORK/artifacts/$t/" "$WORK/corpus/$t" "${seeds[@]}") \
    >"$WORK/logs/$t.log" 2>&1 || true
  after=$(find "$WORK/artifacts/$t" -type f | wc -l)
  local execs rate
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/logs/$t.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$WORK/logs/$t.log" | tail -1)
  echo "${execs:-0} ${rate:-0} $((after - before))"
}

# one_target TARGET SECONDS: replays its committed inputs, then fuzzes it for SECONDS (0: not at
# all); prints its row of the report, and fails when an input failed or a crash was found.
one_target() {
  local t="$1" seconds="$2" n execs rate crashes
  if ! n=$(replay "$t"); then
    printf '%-18s %8s %14s %10s %8s\n' "$t" "-" "-" "-" "REPLAY FAILED"
    return 1
  fi
  if [ "$seconds" -eq 0 ]; then
    printf '%-18s %8s %14s %10s %8s\n' "$t" "$n" "-" "-" "ok"
    return 0
  fi
  log "$t: $n committed inputs pass; fuzzing for ${seconds}s" >&2
  read -r execs rate crashes < <(fuzz_one "$t" "$seconds")
  printf '%-18s %8s %14s %10s %8s\n' "$t" "$n" "$execs" "$rate" "$crashes"
  if [ "$crashes" -ne 0 ]; then
    grep -m1 -A8 'panicked' "$WORK/logs/$t.log" >&2 || true
    log "$t: crash input in $WORK/artifacts/$t/ (log: $WORK/logs/$t.log)" >&2
    return 1
  fi
}

main() {
  local cmd="${1:-run}"
  case "$cmd" in
    -h|--help|help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; return 0 ;;
    list) all_targets; return 0 ;;
    run|smoke|replay|build) shift || true ;;
    *) cmd=run ;;
  esac
  local targets=("$@") t
  [ "${#targets[@]}" -gt 0 ] || mapfile -t targets < <(all_targets)
  for t in "${targets[@]}"; do
    all_targets | grep -qx "$t" || die "no such target: $t (scripts/fuzz.sh list)"
  done
  build
  [ "$cmd" = build ] && return 0
  mkdir -p "$WORK/logs"

  local seconds=0
  case "$cmd" in
    run) seconds="${FUZZ_SECONDS:-300}" ;;
    smoke) seconds="${FUZZ_SMOKE_SECONDS:-30}" ;;
  esac
  local failed=0 t0=$SECONDS jobs="${FUZZ_JOBS:-$(nproc)}" running=0
  rm -rf "$WORK/rows" && mkdir -p "$WORK/rows"
  # The targets are independent: FUZZ_JOBS of them (default: one per core) at a time.
  for t in "${targets[@]}"; do
    one_target "$t" "$seconds" > "$WORK/rows/$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
      wait -n || failed=1
      running=$((running - 1))
    fi
  done
  while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
  done
  local rows=()
  for t in "${targets[@]}"; do rows+=("$(cat "$WORK/rows/$t")"); done

  printf '\n%-18s %8s %14s %10s %8s\n' target replayed executions "exec/s" crashes
  printf '%s\n' "${rows[@]}"
  log "$cmd of ${#targets[@]} targets took $((SECONDS - t0))s"
  return "$failed"
}

main "$@"
