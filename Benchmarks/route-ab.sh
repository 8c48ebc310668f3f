#!/usr/bin/env bash
# Two builds of pgreflex, run by run: `pgreflex run` with one route (the three bench tables, a
# noop agent) drains copies of scenario a's slot, the builds alternating, two runs each per
# round. Prints each build's client CPU per change (every run, and the median), its changes/s,
# and the second build's CPU as a ratio of the first's.
#   Benchmarks/route-ab.sh BEFORE_BIN AFTER_BIN [ROUNDS] [N]     (default 6 rounds, N = 1,000,000)
#   ROUTE='{ tables: [public.orders], if: "after.total_amount > 0", agent: bench_agent }' to try another route
set -euo pipefail
BEFORE=$1 AFTER=$2
export PGREFLEX_BIN=$BEFORE
SCENARIOS=a
ROUTE=${ROUTE:-"{ tables: [public.orders, public.support_tickets, public.inventory], agent: bench_agent }"}
source "$(dirname "$0")/bench-env.sh" "${3:-6}" "${4:-1000000}"
for side in before after; do
  bin=$BEFORE; [ "$side" = after ] && bin=$AFTER
  cat > "$DIR/consumer-$side.sh" <<SH
#!/bin/sh
set -e
d="$DIR/\$2"
mkdir -p "\$d"
cat > "\$d/run.yaml" <<YAML
source: { dsn: "\$1", slot: \$2, publication: bench_pub, heartbeat_interval_ms: 0 }
journal: { directory: \$d/journal }
schemas: { directory: \$d/Schemas }
state: { directory: \$d/state }
agents: { bench_agent: { noop: {} } }
routes:
  everything: $ROUTE
YAML
exec $bin run --config "\$d/run.yaml" --end-lsn "\$3" --log-level warning
SH
  chmod +x "$DIR/consumer-$side.sh"
done
for _ in $(seq "$ROUNDS"); do
  for side in before after; do
    bench_consumer a "cmd:$DIR/consumer-$side.sh \"{conn}\" {slot} {end}" 2
  done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
medians = {}
for side in ["before", "after"]:
    r = [x for x in rows if f"consumer-{side}.sh" in x["consumer"]]
    cpu = [x["client_cpu_s"] / x["n"] * 1e6 for x in r]
    medians[side] = statistics.median(cpu)
    print(f"{side:6}  client µs/change {round(medians[side], 2)} (runs {[round(c, 2) for c in cpu]}), "
          f"changes/s {round(statistics.median(x['changes_per_s'] for x in r))}")
print(f"after / before client CPU per change: {medians['after'] / medians['before']:.3f}")
PY
