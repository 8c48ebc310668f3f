#!/usr/bin/env bash
# pgreflex run (decode, envelope, durable journal, file sink, checkpoints) vs pg_recvlogical on
# the same WAL (scenario a: N inserts, 100 rows per transaction), set up as
# tail-vs-recvlogical.sh is. Prints one JSON line per median and then the pgreflex/pg_recvlogical
# ratio of each round.
#   Benchmarks/run-vs-recvlogical.sh [ROUNDS] [N]
source "$(dirname "$0")/bench-env.sh"
# One configuration per cloned slot: its own journal and sink file under the bench directory.
RUN_CMD="cmd:sh -c 'mkdir -p $DIR/{slot} && printf \"source:\\n  dsn: \\\"{conn}\\\"\\n  slot: {slot}\\n  publication: {pub}\\n  heartbeat_interval_ms: 0\\njournal:\\n  directory: $DIR/{slot}/journal\\nsink:\\n  file:\\n    path: $DIR/{slot}/events.jsonl\\nschemas:\\n  directory: $DIR/{slot}/Schemas\\n\" > $DIR/{slot}/run.yaml && exec $PGREFLEX run --config $DIR/{slot}/run.yaml --end-lsn {end} --log-level warning'"
for _ in $(seq "$ROUNDS"); do
  bench_consumer a recv-pgoutput
  bench_consumer a "$RUN_CMD"
done
summarize_against_recvlogical
