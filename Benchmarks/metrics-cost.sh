#!/usr/bin/env bash
# What serving metrics costs per change: `pgreflex run` (journal, a route, a noop agent) with a
# `server:` section (metrics counted and served on /metrics) against the same run without one,
# on copies of the same slot (N inserts, 100 rows per transaction), pinned as in
# tail-vs-recvlogical.sh. Prints each median and the ratios of the runs.
#   Benchmarks/metrics-cost.sh [ROUNDS] [N]      (default 1 round of 3 runs each, N = 1,000,000)
source "$(dirname "$0")/bench-env.sh" "${1:-1}" "${2:-1000000}"
cat > "$DIR/consumer.sh" <<SH
#!/bin/sh
# consumer.sh plain|served CONN SLOT END
set -e
d="$DIR/\$3"
mkdir -p "\$d"
server=""
[ "\$1" = served ] && server="server: { host: 127.0.0.1, port: \$((20000 + \$\$ % 20000)) }"
cat > "\$d/run.yaml" <<YAML
source: { dsn: "\$2", slot: \$3, publication: bench_pub, heartbeat_interval_ms: 0 }
journal: { directory: \$d/journal }
schemas: { directory: \$d/Schemas }
state: { directory: \$d/state }
agents: { bench_agent: { noop: {} } }
\$server
routes:
  everything: { tables: [public.orders], agent: bench_agent }
YAML
exec $PGREFLEX run --config "\$d/run.yaml" --end-lsn "\$4" --log-level warning
SH
chmod +x "$DIR/consumer.sh"
for _ in $(seq "$ROUNDS"); do
  bench_consumer a "cmd:$DIR/consumer.sh plain \"{conn}\" {slot} {end}"
  bench_consumer a "cmd:$DIR/consumer.sh served \"{conn}\" {slot} {end}"
done
summarize_cost "consumer.sh served" served
