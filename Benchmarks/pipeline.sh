#!/usr/bin/env bash
# The whole pipeline against the walsender: pg_recvlogical (the reference), `pgreflex tail`,
# `pgreflex run` with a noop agent, `pgreflex run` with a file agent, and the Python peer
# (psycopg2 + pypgoutput, installed into a venv here) each drain a copy of one slot, for the bench
# scenarios a (inserts, 100 per transaction), b (updates, 100 per transaction) and e (mixed
# changes on three tables, 10 per transaction), pinned as bench-env.sh sets up. `run` here is
# everything a deployment does: decode, envelope, privacy (no protected column), the durable
# journal with its fsyncs and checkpoints, the route and its state store, the agent.
# Prints per scenario each consumer's changes/s, its ratio to pg_recvlogical and to the Python
# peer, and its client CPU per change.
#   Benchmarks/pipeline.sh [ROUNDS] [N]        (default 1 round of 3 runs, N = 1,000,000)
#   SCENARIOS=a,b,e  PGREFLEX_BIN=path (skip the build, measure that binary)
SCENARIOS=${SCENARIOS:-a,b,e}
source "$(dirname "$0")/bench-env.sh" "${1:-1}" "${2:-1000000}"

python3 -m venv "$DIR/venv" >&2
"$DIR/venv/bin/pip" install -q psycopg2-binary pypgoutput >&2
export PY="$DIR/venv/bin/python"

# One directory and configuration per cloned slot: its own journal, state store and output.
cat > "$DIR/consumer.sh" <<SH
#!/bin/sh
# consumer.sh noop|file CONN SLOT END
set -e
d="$DIR/\$3"
mkdir -p "\$d"
case "\$1" in
  noop) agent="noop: {}" ;;
  file) agent="file: { path: \$d/events.jsonl }" ;;
esac
cat > "\$d/run.yaml" <<YAML
source: { dsn: "\$2", slot: \$3, publication: bench_pub, heartbeat_interval_ms: 0 }
journal: { directory: \$d/journal }
schemas: { directory: \$d/Schemas }
state: { directory: \$d/state }
agents: { bench_agent: { \$agent } }
routes:
  everything: { tables: [public.orders, public.support_tickets, public.inventory], agent: bench_agent }
YAML
exec $PGREFLEX run --config "\$d/run.yaml" --end-lsn "\$4" --log-level warning
SH
chmod +x "$DIR/consumer.sh"

TAIL="cmd:sh -c 'exec $PGREFLEX tail --dsn \"{conn}\" --slot {slot} --publication {pub} --end-lsn {end} --log-level warning > /dev/null'"
for _ in $(seq "$ROUNDS"); do
  for scenario in ${SCENARIOS//,/ }; do
    for consumer in recv-pgoutput "$TAIL" "cmd:$DIR/consumer.sh noop \"{conn}\" {slot} {end}" \
                    "cmd:$DIR/consumer.sh file \"{conn}\" {slot} {end}" py-pypgoutput; do
      bench_consumer "$scenario" "$consumer"
    done
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def name(c):
    if c.startswith("cmd:") and " tail " in c: return "pgreflex tail"
    if "consumer.sh noop" in c: return "pgreflex run (noop agent)"
    if "consumer.sh file" in c: return "pgreflex run (file agent)"
    return {"recv-pgoutput": "pg_recvlogical", "py-pypgoutput": "python peer"}.get(c, c)
for scenario in dict.fromkeys(r["scenario"] for r in rows):
    mine = [r for r in rows if r["scenario"] == scenario]
    n = mine[0]["n"]
    by = {}
    for r in mine: by.setdefault(name(r["consumer"]), []).append(r)
    ref = statistics.median(r["changes_per_s"] for r in by["pg_recvlogical"])
    peer = statistics.median(r["changes_per_s"] for r in by["python peer"])
    print(f"scenario {scenario} ({n} changes)")
    print(f"  {'consumer':28} {'changes/s':>10} {'× recvlogical':>14} {'× python':>9} {'client µs/change':>17}")
    for consumer, rs in by.items():
        rate = statistics.median(r["changes_per_s"] for r in rs)
        cpu = statistics.median(r["client_cpu_s"] for r in rs) / n * 1e6
        print(f"  {consumer:28} {rate:>10,} {rate / ref:>14.3f} {rate / peer:>9.2f} {cpu:>17.2f}")
PY
