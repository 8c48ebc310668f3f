#!/usr/bin/env bash
# pgreflex tail vs pg_recvlogical on the same WAL (1M inserts, 100 rows per transaction).
# Uses the shared bench scripts (../shared/bench): every consumer drains a copy of one base
# slot, so both decode identical WAL. The postmaster (and so each walsender) is pinned to
# CPU 0 and the consumer to CPU 1, as the bench README advises. Prints one JSON line per
# median and then the pgreflex/pg_recvlogical ratio of each round.
#   Benchmarks/tail-vs-recvlogical.sh [ROUNDS] [N]
source "$(dirname "$0")/bench-env.sh"
for _ in $(seq "$ROUNDS"); do
  bench_consumer a recv-pgoutput
  # > /dev/null inside the command: bench.py would otherwise pipe stdout through Python,
  # while pg_recvlogical writes to -f /dev/null.
  bench_consumer a "cmd:sh -c 'exec $PGREFLEX tail --dsn \"{conn}\" --slot {slot} --publication {pub} --end-lsn {end} --log-level warning > /dev/null'"
done
summarize_against_recvlogical
