#!/usr/bin/env bash
# Snapshots at scale: a table of N rows (default 1,000,000) read by the initial snapshot
# (`source.snapshot: initial_only`, which ends `run` when done) and by an incremental snapshot
# (`pgreflex snapshot start` against a running `run`), each into a file sink. Prints rows per
# second (reading and journaling, from the STARTED to the COMPLETED notification; for the initial
# snapshot also until the sink has every row and run has ended) and peak RSS for both, and their ratio to the reference in the same run: psql's \copy
# of the same table to /dev/null (how fast PostgreSQL hands the rows to any client).
#   Benchmarks/snapshot-scale.sh [N] [CHUNK]      (CONFIGURATION=debug measures the debug build)
N=${1:-1000000}
CHUNK=${2:-1024}
source "$(dirname "$0")/bench-cluster.sh"
psql "$CONN" -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE big (id bigint PRIMARY KEY, customer_id int, amount numeric(12,2), status text, note text, created_at timestamptz);
INSERT INTO big SELECT g, g % 9973, (g % 100000) / 100.0, (ARRAY['new','paid','sent'])[1 + g % 3], 'order note ' || g, now() - g * interval '1 second'
  FROM generate_series(1, $N) g;
VACUUM ANALYZE big;
CREATE PUBLICATION snap_pub FOR TABLE big;
SQL

for kind in initial incremental; do
  mkdir -p "$DIR/$kind"
  cat > "$DIR/$kind/run.yaml" <<YAML
source:
  dsn: "$CONN"
  slot: snap_$kind
  publication: snap_pub
  tables: [public.big]
  create_slot: true
  heartbeat_interval_ms: 0
  snapshot: $([ "$kind" = initial ] && echo initial_only || echo never)
  snapshot_chunk_size: $CHUNK
journal: { directory: ./journal }
sink: { file: { path: ./events.jsonl } }
YAML
done

python3 - "$PGREFLEX" "$DIR" "$CONN" "$N" "$CHUNK" <<'PY'
import json, os, re, signal, subprocess, sys, time
exe, base, conn, n, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

def peak(command):
    # A fresh Python per command: RUSAGE_CHILDREN reports the largest child so far.
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, "
             "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    return int(subprocess.run([sys.executable, "-c", probe] + command, check=True, capture_output=True, text=True).stdout) * 1024

start = time.monotonic()
subprocess.run(["psql", conn, "-X", "-q", "-c", r"\copy big TO '/dev/null'"], check=True)
copy_rate = n / (time.monotonic() - start)

def span(log):
    # Seconds from the snapshot's STARTED to its COMPLETED log line: the reading and journaling.
    import datetime
    times = {}
    for line in open(log):
        entry = json.loads(line)
        if entry.get("snapshot.notification") in ("STARTED", "COMPLETED"):
            times[entry["snapshot.notification"]] = datetime.datetime.fromisoformat(entry["ts"].replace("Z", "+00:00"))
    return (times["COMPLETED"] - times["STARTED"]).total_seconds()

# The initial snapshot: run reads the table in the slot's exported snapshot, journals it,
# delivers it to the sink and ends.
initial = os.path.join(base, "initial")
start = time.monotonic()
initial_log = os.path.join(initial, "run.log")
initial_peak = peak(["sh", "-c", f'exec "$0" run --config "$1" 2>"$2"', exe, os.path.join(initial, "run.yaml"), initial_log])
initial_end_to_end = n / (time.monotonic() - start)
initial_rate = n / span(initial_log)
lines = sum(1 for _ in open(os.path.join(initial, "events.jsonl")))
assert lines == n, f"initial snapshot delivered {lines} of {n} rows"

# An incremental snapshot against a running run: chunks between watermarks.
incremental = os.path.join(base, "incremental")
log = open(os.path.join(incremental, "run.log"), "w")
run = subprocess.Popen([exe, "run", "--config", os.path.join(incremental, "run.yaml")], stdout=subprocess.DEVNULL, stderr=log)
time.sleep(2)
subprocess.run([exe, "snapshot", "start", "--config", os.path.join(incremental, "run.yaml"), "--tables", "public.big",
                "--chunk-size", str(chunk)], check=True, stdout=subprocess.DEVNULL)
start = time.monotonic()
hwm = 0
while True:
    status = subprocess.run([exe, "snapshot", "status", "--config", os.path.join(incremental, "run.yaml"), "--format", "json"],
                            check=True, capture_output=True, text=True).stdout
    with open(f"/proc/{run.pid}/status") as f:
        hwm = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) * 1024
    if json.loads(status.splitlines()[-1])["state"] == "completed":
        break
    time.sleep(0.2)
run.send_signal(signal.SIGTERM)
run.wait()
incremental_rate = n / span(os.path.join(incremental, "run.log"))

print(json.dumps({
    "rows": n, "chunk_size": chunk,
    "copy_rows_per_s": round(copy_rate),
    "initial_rows_per_s": round(initial_rate), "initial_ratio_to_copy": round(initial_rate / copy_rate, 3),
    "initial_delivered_to_sink_rows_per_s": round(initial_end_to_end),
    "initial_peak_rss_mib": round(initial_peak / 2**20, 1),
    "incremental_rows_per_s": round(incremental_rate), "incremental_ratio_to_copy": round(incremental_rate / copy_rate, 3),
    "incremental_peak_rss_mib": round(hwm / 2**20, 1),
}))
PY
