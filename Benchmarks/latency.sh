#!/usr/bin/env bash
# Commit → agent start under a steady offered load: `pgreflex run` (durable journal with fsync,
# a route, a noop agent) follows a table into which a driver commits small transactions at a
# fixed rate (1,000 transactions/s over 8 connections, rows per transaction = rate / 1,000,
# PostgreSQL's own commits synchronous). Each event's commit time is PostgreSQL's commit
# timestamp; the route records commit → agent start for every call (its histogram, 4 % buckets,
# in state/status.json). Prints p50, p95, p99 and the maximum per rate, in milliseconds, and the
# rate the driver really offered.
#   Benchmarks/latency.sh [SECONDS] [RATES]      (default 15 s at each of 1000,10000,50000 changes/s)
#   PGREFLEX_BIN=path (skip the build, measure that binary)
#   STAGES=N (after each rate, `pgreflex event show` on N sampled events: p50 and p99 of each stage,
#   commit → journaled → read → call start, and where the slowest 1 % spent their time)
SECONDS_PER_RATE=${1:-15}
RATES=${2:-1000,10000,50000}
RUN_PID=
bench_cleanup() {
  [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
}
source "$(dirname "$0")/bench-cluster.sh"
python3 -m venv "$DIR/venv" >&2
"$DIR/venv/bin/pip" install -q psycopg2-binary >&2
psql "$CONN" -qX -v ON_ERROR_STOP=1 -c "CREATE TABLE lat (id bigserial PRIMARY KEY, n int, note text)" \
  -c "CREATE PUBLICATION lat_pub FOR TABLE lat"

for rate in ${RATES//,/ }; do
  run="$DIR/rate-$rate"
  mkdir -p "$run"
  cat > "$run/run.yaml" <<YAML
source: { dsn: "$CONN", slot: lat_$rate, publication: lat_pub, create_slot: true }
journal: { directory: $run/journal }
schemas: { directory: $run/Schemas }
state: { directory: $run/state }
agents: { bench_agent: { noop: {} } }
routes:
  everything: { tables: [public.lat], agent: bench_agent }
YAML
  "$PGREFLEX" run --config "$run/run.yaml" --log-level warning 2>"$run/run.log" &
  RUN_PID=$!
  # Ready once the slot is streaming.
  for _ in $(seq 100); do
    [ "$(psql "$CONN" -qXAt -c "SELECT count(*) FROM pg_stat_replication WHERE application_name <> ''")" != 0 ] && break
    sleep 0.1
  done
  "$DIR/venv/bin/python" - "$CONN" "$rate" "$SECONDS_PER_RATE" "$run/state/status.json" <<'PY'
import json, os, psycopg2, queue, sys, threading, time
conn, rate, seconds, status = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
per_txn = max(1, rate // 1000)
txns = int(seconds * rate / per_txn)
interval = per_txn / rate
work = queue.Queue(maxsize=64)
def worker():
    c = psycopg2.connect(conn)
    cur = c.cursor()
    while (item := work.get()) is not None:
        cur.execute("INSERT INTO lat (n, note) SELECT g, 'latency probe' FROM generate_series(1, %s) g", (per_txn,))
        c.commit()
threads = [threading.Thread(target=worker) for _ in range(8)]
for t in threads: t.start()
start = time.perf_counter()
for i in range(txns):
    delay = start + i * interval - time.perf_counter()
    if delay > 0: time.sleep(delay)
    work.put(i)
for _ in threads: work.put(None)
for t in threads: t.join()
offered = txns * per_txn / (time.perf_counter() - start)
# Wait for every event's call (the status file is rewritten each second).
deadline = time.time() + 60
histogram = None
while time.time() < deadline:
    time.sleep(1)
    try:
        histogram = json.load(open(status))["routes"]["everything"]["commitToAgent"]
    except (OSError, ValueError, KeyError):
        continue
    if histogram["total"] >= txns * per_txn: break
counts = {i: c for i, c in histogram["buckets"]}
total = histogram["total"]
def percentile(q):
    rank, seen = max(1, -(-int(q * total * 1000) // 1000)), 0
    for i in sorted(counts):
        seen += counts[i]
        if seen >= rank: return min(int(-(-(1.04 ** i) // 1)), histogram["maximum"])
ms = lambda us: round(us / 1000, 2)
print(json.dumps({"offered_changes_per_s": rate, "achieved_changes_per_s": round(offered), "rows_per_txn": per_txn, "events": total,
                  "p50_ms": ms(percentile(0.5)), "p95_ms": ms(percentile(0.95)), "p99_ms": ms(percentile(0.99)),
                  "max_ms": ms(histogram["maximum"])}))
PY
  kill "$RUN_PID"; wait "$RUN_PID" || true
  RUN_PID=
  if [ -n "${STAGES:-}" ]; then
    python3 - "$PGREFLEX" "$run" "$STAGES" <<'PY'
import json, random, sqlite3, subprocess, sys
exe, run, wanted = sys.argv[1], sys.argv[2], int(sys.argv[3])
# Every event the route called is in its done runs.
ids = []
for (blob,) in sqlite3.connect(run + "/state/state.sqlite").execute("SELECT ids FROM done_runs"):
    ids += blob.decode().split("\n")
random.seed(1)
rows = []
for event in random.sample(ids, min(wanted, len(ids))):
    out = subprocess.run([exe, "event", "show", "--config", run + "/run.yaml", "--id", event, "--format", "json"],
                         capture_output=True, text=True).stdout
    change = json.loads(out.splitlines()[0])
    route = next(r for r in change["routes"] if r["route"] == "everything")["stages"]
    stages = (change["stages"]["commit_to_journaled_ms"], route["journaled_to_read_ms"], route["read_to_call_ms"])
    if None not in stages: rows.append((sum(stages),) + stages)
names = ["commit_to_call", "commit_to_journaled", "journaled_to_read", "read_to_call"]
def pct(q, k):
    values = sorted(row[k] for row in rows)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)
report = {"sampled": len(rows)}
for k, name in enumerate(names):
    report[name + "_p50_ms"], report[name + "_p99_ms"] = pct(0.5, k), pct(0.99, k)
tail = sorted(rows)[int(0.99 * len(rows)):]
for k, name in enumerate(names[1:], 1):
    report["slowest_1pct_" + name + "_mean_ms"] = round(sum(row[k] for row in tail) / max(1, len(tail)), 2)
print(json.dumps(report))
PY
  fi
  psql "$CONN" -qXAt -c "SELECT pg_drop_replication_slot('lat_$rate')" >/dev/null
done
