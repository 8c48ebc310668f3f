#!/usr/bin/env bash
# Peak memory of reading a journal of 64 MiB segments, against the segment size: `journal
# inspect` (verifies every record), `replay --dry-run` (reads every record) and a consumer that
# joins late (`start: earliest`, following the whole journal with the tailing reader into its
# file sink) read segments in bounded chunks, so their peak RSS stays far under one segment.
# Builds the journal with `pgreflex run` over scenario a (N inserts, 100 rows per transaction).
#   Benchmarks/journal-read-memory.sh [N]
source "$(dirname "$0")/bench-env.sh" 1 "${1:-1000000}"
mkdir -p "$DIR/run"
cat > "$DIR/run/run.yaml" <<YAML
source: { dsn: "$BENCH_CONN", slot: base_a, publication: bench_pub, heartbeat_interval_ms: 0 }
journal: { directory: ./journal, segment_bytes: 67108864 }
sink: { file: { path: ./events.jsonl } }
YAML
END=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["a"]["end_lsn"])' "$BENCH_STATE")
"$PGREFLEX" run --config "$DIR/run/run.yaml" --end-lsn "$END" --log-level warning
python3 - "$PGREFLEX" "$DIR/run" <<'PY'
import json, os, resource, subprocess, sys
exe, run = sys.argv[1], sys.argv[2]
segments = [os.path.getsize(os.path.join(run, "journal", f)) for f in os.listdir(os.path.join(run, "journal")) if f.endswith(".seg")]
def peak(command):
    # A fresh Python per command: RUSAGE_CHILDREN reports the largest child so far.
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, "
             "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    return int(subprocess.run([sys.executable, "-c", probe] + command, check=True, capture_output=True, text=True).stdout) * 1024
version = peak([exe, "--help"])  # the process's own baseline
inspect = peak([exe, "journal", "inspect", "--directory", os.path.join(run, "journal")])
replay = peak([exe, "replay", "--config", os.path.join(run, "run.yaml"), "--from-lsn", "0/0", "--dry-run"])
# A consumer added later: capture has nothing new (it stops at the end LSN at once), and the new
# consumer reads the whole journal through its tailing reader.
with open(os.path.join(run, "run.yaml")) as f:
    config = f.read()
with open(os.path.join(run, "late.yaml"), "w") as f:
    f.write(config + "consumers:\n  late: { file: { path: ./late.jsonl }, start: earliest }\n")
end = json.load(open(os.environ["BENCH_STATE"]))["a"]["end_lsn"]
late = peak([exe, "run", "--config", os.path.join(run, "late.yaml"), "--end-lsn", end, "--log-level", "error"])
late_lines = sum(1 for _ in open(os.path.join(run, "late.jsonl")))
print(json.dumps({"segments": len(segments), "largest_segment_mib": round(max(segments) / 2**20, 1),
                  "baseline_rss_mib": round(version / 2**20, 1), "inspect_peak_rss_mib": round(inspect / 2**20, 1),
                  "replay_peak_rss_mib": round(replay / 2**20, 1),
                  "replay_peak_over_segment": round(replay / max(segments), 3),
                  "late_consumer_events": late_lines, "late_consumer_peak_rss_mib": round(late / 2**20, 1),
                  "late_consumer_peak_over_segment": round(late / max(segments), 3)}))
PY
