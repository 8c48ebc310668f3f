# Sourced by the benchmark scripts, first: builds pgreflex (CONFIGURATION, default release), or
# takes PGREFLEX_BIN instead (an A/B against another build); makes a temp directory and starts a
# throwaway cluster in it with the shared bench scripts (../shared/bench, or BENCH_DIR). Sets
# BENCH, DIR, PGREFLEX and CONN. On exit it runs `bench_cleanup` if the script defined one, then
# removes the cluster and the directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BENCH=${BENCH_DIR:-../shared/bench}
DIR=$(mktemp -d /tmp/pgreflex-bench-XXXXXX)
chmod 755 "$DIR"  # the postgres OS user reads files the scripts leave here (\copy, configs)
on_exit() {
  if declare -F bench_cleanup >/dev/null; then bench_cleanup || true; fi
  "$BENCH/pg-down.sh" "$DIR" --rm >/dev/null 2>&1 || true
}
trap on_exit EXIT

if [ -n "${PGREFLEX_BIN:-}" ]; then
  PGREFLEX=$PGREFLEX_BIN
else
  CONFIGURATION=${CONFIGURATION:-release}
  swift build -c "$CONFIGURATION" --product pgreflex >&2
  PGREFLEX=$(swift build -c "$CONFIGURATION" --show-bin-path)/pgreflex
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CONN=$("$BENCH/pg-up.sh" "$DIR" "$PORT" 2>/dev/null)
